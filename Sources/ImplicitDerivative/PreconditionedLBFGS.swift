import Atomistics
import Foundation
import LinearAlgebra

/// Relaxation by L-BFGS whose initial inverse Hessian is the preconditioner the solves' `auto`
/// picks — the perfect host crystal's Hessian for a crystal with point defects whose atoms all
/// move, else the exponential one (ASE's `PreconLBFGS`; Packwood et al., J. Chem. Phys. 144,
/// 164109 (2016)) — driving
/// the system one evaluation at a time. The preconditioner resolves the soft long-wavelength
/// modes that take LAMMPS's CG hundreds of iterations in a large or defected cell.
///
/// Coordinates q = (y, e): atoms y in the starting cell's frame and, for `iso`/`aniso` cells, the
/// normal strains e of `CellRelaxation.strainGenerators`; the system sits at r = c + F(y − c),
/// cell F·h₀, F = I + diag(strain), c the cell's centre (as `deform` strains). Then
/// ∂U/∂y = −F f and ∂U/∂F = −W F⁻ᵀ (W = Σ r ⊗ f), so pressure drives e as forces drive y.
/// Convergence is the rule every relaxation shares (`relaxationReport`): largest per-atom force
/// and cell residual |P|·V within `ftol`.
public struct PreconditionedLBFGS: Sendable {
    public var settings: RelaxationSettings
    /// (s, y) pairs kept.
    public var memory = 20
    /// Largest atomic displacement (Å) and largest strain of one step: a line search starts
    /// no farther.
    public var maximumDisplacement = 0.1
    public var maximumStrain = 0.01
    /// Armijo's sufficient-decrease constant (ASE's PreconLBFGS uses 0.23 with a cruder search).
    public static let armijo = 1e-4
    /// Energy differences below this fraction of |E| are round-off: the line search then judges
    /// a step by the directional derivative alone (LAMMPS's CG does the same near convergence).
    public static let energyNoise = 1e-12
    /// A preconditioner built at y is rebuilt once an atom has moved this fraction of r_nn.
    public static let rebuildDistance = 0.25
    /// Iterations without halving the best residual before the relaxation is declared stagnated,
    /// and before its scales are measured afresh (at most `refreshes` times): a relaxation that
    /// starts far from its minimum (a fit's large step in Θ: |P|·V of 300 eV) measures a cell
    /// curvature there 300× below the one near the minimum, and L-BFGS's memory does not recover
    /// the tight end (seen: SW silicon stalling at 1e-7 eV/Å).
    public static let stallIterations = 100
    public static let refreshIterations = 25
    public static let refreshes = 3

    /// What a relaxation measured about its system (preconditioner, scales, held components),
    /// to start a later one that begins near where this one ended: a warm start after a
    /// prediction skips the held-atom detection, the preconditioner's factorization and the scale
    /// probes (2–5 evaluations, and 0.5 s of factorization for 2 000 atoms).
    public var reusing: Reuse?

    public init(settings: RelaxationSettings, reusing: Reuse? = nil) { (self.settings, self.reusing) = (settings, reusing) }

    public func relax(_ system: any ForceProvider, label: String = "relax",
                      progress: (String) -> Void = { _ in }) throws -> RelaxationResult {
        try relaxKeepingScales(system, label: label, progress: progress).result
    }

    /// The relaxation and what it measured, for warm starts near its minimum.
    public func relaxKeepingScales(_ system: any ForceProvider, label: String = "relax",
                                   progress: (String) -> Void = { _ in }) throws -> (result: RelaxationResult, reuse: Reuse) {
        let evaluationsBefore = system.allForceEvaluations
        // Started before the walk's set-up (held atoms, preconditioner, probes: seconds on a large cell).
        let clock = ProgressClock()
        var walk = try Walk(system: system, settings: settings, memory: memory,
                            limits: (maximumDisplacement, maximumStrain), reusing: reusing)
        var (iteration, best, bestIteration) = (0, Double.infinity, 0)
        var (refreshed, lastRefresh) = (0, 0)
        var stop: RelaxationStop = .converged
        while true {
            let residual = walk.point.residual
            if residual <= settings.ftol { stop = .converged; break }
            if residual < 0.5 * best { (best, bestIteration) = (residual, iteration) }
            if iteration >= settings.maxIterations { stop = .iterationLimit; break }
            if iteration - bestIteration >= Self.stallIterations { stop = .stagnated; break }
            if iteration - max(bestIteration, lastRefresh) >= Self.refreshIterations, refreshed < Self.refreshes {
                try walk.refresh()
                (refreshed, lastRefresh) = (refreshed + 1, iteration)
            }
            guard try step(&walk) else { stop = .stagnated; break }
            iteration += 1
            if clock.isDue() {
                progress("  \(label): iteration \(iteration), E = \(walk.point.energy), max|F| = \(walk.point.maxForce)"
                         + (settings.cell == .fixed ? "" : ", cell residual \(walk.point.cellResidual)") + ", \(clock.elapsed) s")
            }
        }
        try walk.settle()
        var result = try system.relaxationReport(settings, steps: iteration)
        result.forceEvaluations = system.allForceEvaluations - evaluationsBefore
        if stop != .converged, !result.converged { result.stop = stop }
        return (result, walk.reuse)
    }

    /// A relaxation's preconditioner and scales, for another relaxation that starts within
    /// `rebuildDistance` of where they were built (same atoms, same cell freedom).
    public struct Reuse: Sendable {
        var preconditioner: RelaxationPreconditioner
        var builtAt: [Double]
        var box: Box
        var mu: Double
        var cellCurvature: [Double]
        var degreesOfFreedom: DegreesOfFreedom
        var cell: CellRelaxation

        func applies(to start: Structure, cell: CellRelaxation) -> Bool {
            guard cell == self.cell, start.positions.count == builtAt.count else { return false }
            let moved = largestAtomNorm(minimumImage(zip(start.positions, builtAt).map { $0 - $1 }, in: box))
            return moved <= PreconditionedLBFGS.rebuildDistance * preconditioner.nearestNeighbourDistance
        }
    }

    /// One accepted step along the L-BFGS direction, with a backtracking line search; false when
    /// neither that direction nor, after forgetting the history, the preconditioned steepest
    /// descent finds a lower point (the floating-point floor, or a stuck minimizer).
    private func step(_ walk: inout Walk) throws -> Bool {
        for attempt in 0..<2 {
            if attempt == 1 {
                guard !walk.history.isEmpty else { return false }
                try walk.refresh()
            }
            var direction = walk.direction()
            var slope = dot(direction, walk.point.gradient)
            if slope >= 0 {
                walk.history.removeAll()
                direction = walk.direction()
                slope = dot(direction, walk.point.gradient)
                guard slope < 0 else { return false }
            }
            direction = walk.limited(direction)
            slope = dot(direction, walk.point.gradient)
            if let trial = try lineSearch(&walk, direction: direction, slope: slope) {
                try walk.accept(trial)
                return true
            }
        }
        return false
    }

    /// Backtracking from the full step: Armijo on the energy, or, where energy differences are
    /// round-off, a directional derivative that has not overshot the line minimum twofold.
    private func lineSearch(_ walk: inout Walk, direction: [Double], slope: Double) throws -> Walk.Point? {
        let start: Walk.Point = walk.point
        let noise = Self.energyNoise * max(abs(start.energy), 1)
        var alpha = 1.0
        for _ in 0..<10 {
            let trial = try walk.evaluate(zip(start.q, direction).map { $0 + alpha * $1 })
            let rise = trial.energy - start.energy
            let trialSlope = dot(trial.gradient, direction)
            if rise <= Self.armijo * alpha * slope, trial.energy.isFinite { return trial }
            if abs(rise) <= noise, trialSlope <= -0.9 * slope { return trial }
            // Next trial: the minimum of the quadratic through E(0), E'(0), E(α), or the secant
            // root of the directional derivative when the energies are round-off; kept in [0.1α, 0.5α].
            let quadratic = abs(rise) > noise
                ? -slope * alpha * alpha / (2 * (rise - slope * alpha))
                : alpha * -slope / (trialSlope - slope)
            alpha = quadratic.isFinite ? min(max(quadratic, 0.1 * alpha), 0.5 * alpha) : 0.5 * alpha
        }
        return nil
    }
}

extension PreconditionedLBFGS {
    /// The state of one relaxation: the system, its coordinates, the preconditioner and history.
    struct Walk {
        struct Point {
            var q: [Double]
            var energy: Double
            var gradient: [Double]
            var maxForce: Double
            var cellResidual: Double
            var residual: Double { max(maxForce, cellResidual) }
        }

        let system: any ForceProvider
        let settings: RelaxationSettings
        let memory: Int
        let limits: (displacement: Double, strain: Double)
        let start: Structure
        var degreesOfFreedom: DegreesOfFreedom
        let center: [Double]
        /// Dimension of y (3N); q has the strains after it.
        let atomComponents: Int
        var preconditioner: RelaxationPreconditioner
        var builtAt: [Double]
        /// Scale of the atom block (P ≈ H/μ) and curvature of each strain, from one probe each.
        var mu = 1.0
        var cellCurvature: [Double] = []
        var history: [(s: [Double], y: [Double], rho: Double)] = []
        var point: Point!
        private var appliedStrain: [Double]

        init(system: any ForceProvider, settings: RelaxationSettings, memory: Int,
             limits: (displacement: Double, strain: Double), reusing: Reuse?) throws {
            (self.system, self.settings, self.memory, self.limits) = (system, settings, memory, limits)
            start = try system.structure()
            let box = start.box
            if settings.cell != .fixed, box.xy != 0 || box.xz != 0 || box.yz != 0 {
                throw InputError.unsupportedSystem("""
                    the precon-lbfgs minimizer relaxes orthogonal cells only; this cell is triclinic (use a LAMMPS \
                    min_style, e.g. cg, for its cell relaxation)
                    """)
            }
            if let report = start.overlapReport() {
                throw InputError.unsupportedSystem("\(report). Overlapping atoms make the energy infinite or meaningless; "
                                                   + "fix the starting structure (a duplicated atom or a wrong coordinate).")
            }
            atomComponents = start.positions.count
            center = (0..<3).map { (box.low[$0] + box.high[$0]) / 2 }
            // An energy evaluation first, as LAMMPS's minimizer makes: ML-IAP's SO3 descriptor
            // crashes (LAMMPS 2025.7.22) when the first run of an instance computes forces only.
            try system.evaluate()
            appliedStrain = [0, 0, 0]
            let q0 = start.positions + [Double](repeating: 0, count: settings.cell.strainGenerators.count)
            if let reusing, reusing.applies(to: start, cell: settings.cell) {
                (degreesOfFreedom, preconditioner, builtAt) = (reusing.degreesOfFreedom, reusing.preconditioner, reusing.builtAt)
                (mu, cellCurvature) = (reusing.mu, reusing.cellCurvature)
                point = try evaluate(q0)
                return
            }
            degreesOfFreedom = try Hessian.detectDegreesOfFreedom(system, at: start)
            preconditioner = try RelaxationPreconditioner(at: start, degreesOfFreedom: degreesOfFreedom, system: system)
            builtAt = start.positions
            try system.restore(start)
            point = try evaluate(q0)
            try estimateScales()
        }

        /// What this walk measured, in the frame of the cell it ends in.
        var reuse: Reuse {
            Reuse(preconditioner: preconditioner, builtAt: builtAt, box: start.box, mu: mu, cellCurvature: cellCurvature,
                  degreesOfFreedom: degreesOfFreedom, cell: settings.cell)
        }

        /// F − I on the diagonal for the strains in q.
        private func strain(_ q: [Double]) -> [Double] {
            let e = Array(q[atomComponents...])
            switch settings.cell {
            case .fixed: return [0, 0, 0]
            case .iso: return [e[0], e[0], e[0]]
            case .aniso: return e
            }
        }

        func positions(_ q: [Double]) -> [Double] {
            let d = strain(q)
            return (0..<atomComponents).map { k -> Double in
                let axis = k % 3
                // y + d(y − c), not c + (1 + d)(y − c): exactly y where the cell does not move.
                return q[k] + d[axis] * (q[k] - center[axis])
            }
        }

        mutating func evaluate(_ q: [Double]) throws -> Point {
            let d = strain(q)
            if d != appliedStrain {
                try system.deform(start.box, by: Voigt.diagonal(d))
                appliedStrain = d
            }
            let cellMoves = settings.cell != .fixed
            // The start's image counts: positions are continued from its wrapped ones.
            let result = try system.evaluation(at: positions(q), images: start.images, virial: cellMoves)
            try releaseForcedComponents(result.forces)
            var gradient = degreesOfFreedom.project((0..<atomComponents).map { -(1 + d[$0 % 3]) * result.forces[$0] })
            var cellResidual = 0.0
            if let w = result.virial, cellMoves {
                gradient += settings.cell.strainGradient(virial: w, strain: d)
                cellResidual = settings.cell.drivenMagnitude((0..<3).map { w[$0][$0] })
            }
            return Point(q: q, energy: result.energy, gradient: gradient, maxForce: largestAtomNorm(result.forces),
                         cellResidual: cellResidual)
        }

        /// Held components read exactly zero force whatever the positions; the detection at the
        /// start also takes atoms that had no neighbour within the cutoff there (a fit's large step
        /// in Θ can swell a cell that far). A component that reads a force is not held: it is
        /// released, and the preconditioner and history start again.
        private mutating func releaseForcedComponents(_ forces: [Double]) throws {
            let released = forces.indices.filter { !degreesOfFreedom.mobile[$0] && forces[$0] != 0 }
            guard !released.isEmpty else { return }
            var mobile = degreesOfFreedom.mobile
            for k in released { mobile[k] = true }
            let axes = (0..<3).filter { axis in stride(from: axis, to: mobile.count, by: 3).allSatisfy { mobile[$0] } }
            degreesOfFreedom = DegreesOfFreedom(mobile: mobile, translationAxes: axes)
            history.removeAll()
            try rebuildPreconditioner(at: point.map { Array($0.q[..<atomComponents]) } ?? start.positions)
        }

        /// The exponential preconditioner built afresh at atoms `y` (it follows the atoms).
        private mutating func rebuildPreconditioner(at y: [Double]) throws {
            var now = start
            now.positions = y
            preconditioner = .exponential(try ExponentialPreconditioner(minimum: now, degreesOfFreedom: degreesOfFreedom))
            builtAt = y
        }

        /// Forgets the history and measures the preconditioner and the scales again where the walk is.
        mutating func refresh() throws {
            history.removeAll()
            if preconditioner.followsAtoms { try rebuildPreconditioner(at: Array(point.q[..<atomComponents])) }
            try estimateScales()
        }

        /// μ by a smooth probe v = P⁻¹w (as ASE's `estimate_mu`): μ = vᵀ(∇U(y + v) − ∇U(y)) / vᵀPv,
        /// at least 1 (ASE's floor: far from a minimum the probe can see negative curvature). Each
        /// strain's curvature by a 1e-4 strain at fixed y, floored at a tenth of the bond estimate.
        private mutating func estimateScales() throws {
            let base = point!
            let rnn = preconditioner.nearestNeighbourDistance
            let lengths = (0..<3).map { start.box.high[$0] - start.box.low[$0] }
            let wave: [Double] = (0..<atomComponents).map { k -> Double in
                let axis = k % 3
                let fraction = (base.q[k] - start.box.low[axis]) / lengths[axis]
                return sin(2 * Double.pi * fraction + 0.3 * Double(axis + 1))
            }
            let w = degreesOfFreedom.project(wave)
            var v = preconditioner.apply(w)
            let largest = largestAtomNorm(v)
            if largest > 0 {
                let scale = 1e-2 * rnn / largest
                v = v.map { $0 * scale }
                let probe = try evaluate(zip(base.q, v + [Double](repeating: 0, count: base.q.count - atomComponents)).map { $0 + $1 })
                let curvature = dot(v, zip(probe.gradient, base.gradient).map { $0 - $1 }) / (scale * dot(v, w))
                if curvature.isFinite { mu = max(curvature, 1) }
            }
            let floor = 0.1 * Double(start.count) * mu * rnn * rnn
            cellCurvature = try settings.cell.strainGenerators.indices.map { g in
                var q = base.q
                q[atomComponents + g] += 1e-4
                let probe = try evaluate(q)
                let curvature = (probe.gradient[atomComponents + g] - base.gradient[atomComponents + g]) / 1e-4
                return curvature.isFinite ? max(curvature, floor) : floor
            }
        }

        /// H₀⁻¹ g: P⁻¹/μ on the atoms, 1/curvature on each strain.
        private func initialInverse(_ g: [Double]) -> [Double] {
            preconditioner.apply(Array(g[..<atomComponents])).map { $0 / mu }
                + cellCurvature.enumerated().map { g[atomComponents + $0.offset] / $0.element }
        }

        /// −H g by the two-loop recursion.
        func direction() -> [Double] {
            var q = point.gradient
            var alphas = [Double](repeating: 0, count: history.count)
            for i in history.indices.reversed() {
                alphas[i] = history[i].rho * dot(history[i].s, q)
                for k in q.indices { q[k] -= alphas[i] * history[i].y[k] }
            }
            var r = initialInverse(q)
            for i in history.indices {
                let beta = history[i].rho * dot(history[i].y, r)
                for k in r.indices { r[k] += history[i].s[k] * (alphas[i] - beta) }
            }
            return r.map { -$0 }
        }

        /// The direction scaled down so that no atom moves farther than `maximumDisplacement`
        /// and no strain changes by more than `maximumStrain`.
        func limited(_ direction: [Double]) -> [Double] {
            let atoms = largestAtomNorm(Array(direction[..<atomComponents]))
            let cell = direction[atomComponents...].map(abs).max() ?? 0
            let factor = min(1, limits.displacement / max(atoms, 1e-300), limits.strain / max(cell, 1e-300))
            return direction.map { $0 * factor }
        }

        /// Moves to `trial`, keeping the curvature pair when it is positive (else L-BFGS's
        /// inverse would lose positivity), and rebuilds the preconditioner after large moves.
        mutating func accept(_ trial: Point) throws {
            let s = zip(trial.q, point.q).map { $0 - $1 }
            let y = zip(trial.gradient, point.gradient).map { $0 - $1 }
            let sy = dot(s, y)
            if sy > 0 {
                history.append((s, y, 1 / sy))
                if history.count > memory { history.removeFirst() }
            }
            point = trial
            let moved = largestAtomNorm(zip(trial.q[..<atomComponents], builtAt).map { $0 - $1 })
            if preconditioner.followsAtoms, moved > PreconditionedLBFGS.rebuildDistance * preconditioner.nearestNeighbourDistance {
                try rebuildPreconditioner(at: Array(trial.q[..<atomComponents]))
            }
        }

        /// Leaves the system at the accepted point, positions wrapped into the cell and image
        /// counts continued from the start, as LAMMPS's own minimizer leaves it.
        mutating func settle() throws {
            let d = strain(point.q)
            if d != appliedStrain { try system.deform(start.box, by: Voigt.diagonal(d)); appliedStrain = d }
            var end = start
            end.box = try system.structure().box
            try system.restore(end.wrapping(positions(point.q)))
        }
    }
}

/// P of the minimizer, as the solves' `auto` chooses it: the perfect host crystal's Hessian
/// (`LatticePreconditioner`, force constants from one or a few Hessian products at the start)
/// for a periodic crystal with point defects whose atoms all move; else the exponential one,
/// which follows the atoms (rebuilt after large moves) where the lattice one belongs to the sites.
enum RelaxationPreconditioner: Sendable {
    case lattice(LatticePreconditioner, nearestNeighbourDistance: Double)
    case exponential(ExponentialPreconditioner)

    init(at start: Structure, degreesOfFreedom: DegreesOfFreedom, system: any ForceProvider) throws {
        if degreesOfFreedom.mobileCount == start.positions.count, case .success(let sites) = LatticeSites.recognize(start) {
            // Forward differences of the forces at the start (not a minimum: its own forces subtracted).
            let step = 1e-5
            let base = try system.forces(at: start.positions)
            let lattice = try LatticePreconditioner(sites: sites, types: start.types, degreesOfFreedom: degreesOfFreedom) { unit in
                let moved = try system.forces(at: zip(start.positions, unit).map { $0 + step * $1 })
                return degreesOfFreedom.project(zip(moved, base).map { -($0 - $1) / step })
            }
            self = .lattice(lattice, nearestNeighbourDistance: start.closePairs().typicalDistance)
            return
        }
        self = .exponential(try ExponentialPreconditioner(minimum: start, degreesOfFreedom: degreesOfFreedom))
    }

    func apply(_ r: [Double]) -> [Double] {
        switch self {
        case .lattice(let p, _): return p.apply(r)
        case .exponential(let p): return p.apply(r)
        }
    }

    var nearestNeighbourDistance: Double {
        switch self {
        case .lattice(_, let distance): return distance
        case .exponential(let p): return p.nearestNeighbourDistance
        }
    }

    var followsAtoms: Bool { if case .exponential = self { return true } else { return false } }
}
