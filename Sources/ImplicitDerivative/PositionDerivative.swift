import Atomistics
import Foundation
import LinearAlgebra
import Potentials

/// A way of computing ∇Θ X*: a value that carries its own settings (as JAX-MD's minimizers
/// are values). Every method also solves H X = B for other right-hand sides (strain responses,
/// the adjoint of the inverse loop) in its own way.
public protocol DerivativeMethod: Sendable {
    /// "energy", "sparse" or "dense".
    var name: String { get }
    /// The method's own settings, for summaries.
    var settings: [String: String] { get }
    /// The settings as they apply to this minimum (what an `auto` choice resolves to).
    func settings(for hessian: Hessian) -> [String: String]
    /// What `PositionDerivative.forceEvaluations` counts for this method.
    var costUnit: String { get }
    /// What to try when a residual is too large.
    var advice: String { get }
    /// H X = B for projected right-hand sides; returns X and each column's relative residual.
    func solve(_ hessian: Hessian, _ b: Matrix, progress: (String) -> Void) throws -> (x: Matrix, relativeResiduals: [Double])
    /// ∇Θ X* = −H⁻¹ ∇²ΘX U.
    func positionDerivative(_ energy: any ParametrizedEnergy, hessian: Hessian, mixedHessian: Matrix,
                            progress: (String) -> Void) throws -> PositionDerivative
}

extension DerivativeMethod {
    public var costUnit: String { "force evaluations" }
    public func settings(for hessian: Hessian) -> [String: String] { settings }

    public func positionDerivative(_ energy: any ParametrizedEnergy, hessian: Hessian, mixedHessian: Matrix,
                                   progress: (String) -> Void) throws -> PositionDerivative {
        let (x, residuals) = try solve(hessian, hessian.degreesOfFreedom.project(scaled(mixedHessian, by: -1)), progress: progress)
        return PositionDerivative(matrix: x, residuals: residuals, iterations: Array(repeating: 0, count: mixedHessian.columns),
                                  forceEvaluations: 0, seconds: 0)
    }
}

/// How the sparse method's Krylov solves are organized.
public enum KrylovStrategy: String, Sendable, CaseIterable {
    /// One shared basis for all columns while it stays small, then conjugate gradients per open column.
    case auto
    /// One shared Galerkin basis for all columns (few products when the columns are correlated,
    /// O(n·k²) algebra per sweep when the basis k grows).
    case shared
    /// Conjugate gradients per column: short recurrences, O(n) memory and work per product.
    case cg
}

/// Hessian-vector products from force differences and Krylov solves (`strategy`).
public struct SparseMethod: DerivativeMethod {
    /// Relative residual of each solve. Hessian-vector products by forward force differences are
    /// accurate to ~1e-6, so much tighter tolerances only meet that floor.
    public var tolerance = 1e-5
    /// `auto` by default: the lattice preconditioner for point defects in a crystal, the
    /// exponential one otherwise (it cuts the products of a dislocation 3–5×; without any, a
    /// 16 000-atom vacancy's shared basis stalls at 3e-2).
    public var preconditioning = Preconditioning.auto
    public var strategy = KrylovStrategy.auto
    /// Where columns finished by conjugate gradients are saved, so that an interrupted solve resumes.
    public var checkpoint: URL?
    public init(tolerance: Double = 1e-5, preconditioning: Preconditioning = .auto, strategy: KrylovStrategy = .auto,
                checkpoint: URL? = nil) {
        self.tolerance = tolerance
        self.preconditioning = preconditioning
        self.strategy = strategy
        self.checkpoint = checkpoint
    }

    public var name: String { "sparse" }
    public var settings: [String: String] {
        ["tolerance": "\(tolerance)", "preconditioner": preconditioning.rawValue, "strategy": strategy.rawValue]
    }
    public var advice: String { "The Krylov solve did not converge; lower --tolerance or try --method dense." }

    /// `auto` keeps the shared basis while it holds at most this many vectors per column (and at
    /// least 100): symmetric defects finish far below it; a large unsymmetric system, whose shared
    /// basis would grow towards 3N, continues column by column from the shared solution. (A system
    /// whose whole mobile space is within ~10 products per column of that cap keeps the basis.)
    public static let sharedBasisPerColumn = 4

    public func solve(_ hessian: Hessian, _ b: Matrix, progress: (String) -> Void) throws -> (x: Matrix, relativeResiduals: [Double]) {
        // Columns that vanish by symmetry (e.g. the forces of normal strains in a cubic crystal)
        // hold only round-off: their solution is zero, and no relative residual can be reached.
        let norms = (0..<b.columns).map { norm(b.column($0)) }
        let largest = norms.max() ?? 0
        let active = (0..<b.columns).filter { norms[$0] > 1e-9 * largest }
        var x = Matrix(rows: b.rows, columns: b.columns)
        var residuals = [Double](repeating: 0, count: b.columns)
        guard !active.isEmpty else { return (x, residuals) }
        // Unit columns: the shared basis drops directions below a fraction of the largest column,
        // which would starve a column 1e-6 the size of another.
        let unit = Matrix(columns: active.map { j in b.column(j).map { $0 / norms[j] } }, rows: b.rows)
        let preconditioner = try preconditioner(for: hessian, progress: progress)
        // On partitions each sweep's products, and the CG columns, are shared out.
        let sharing = hessian.simulation.partitions.flatMap { split in
            split.count > 1 ? ProductSharing(index: split.index, count: split.count, sum: split.sum) : nil
        }
        var solution: (x: Matrix, residuals: [Double])
        switch strategy {
        case .shared:
            let shared = try KrylovSolver(tolerance: tolerance, preconditioner: preconditioner, sharing: sharing)
                .solve(unit, progress: progress) { try hessian.apply($0) }
            solution = (shared.x, shared.relativeResiduals)
        case .cg:
            solution = try columnByColumn(unit, start: nil, hessian: hessian, preconditioner: preconditioner, sharing: sharing,
                                          progress: progress)
        case .auto:
            var solver = KrylovSolver(tolerance: tolerance, preconditioner: preconditioner, sharing: sharing)
            // A shared basis that can span the whole mobile space for about the price CG would pay
            // per column (~10 products each) is kept to the end: a small unsymmetric system (the
            // W–Be alloy, 3N = 747 for 110 columns) is solved exactly in 3N products.
            let cap = max(100, SparseMethod.sharedBasisPerColumn * active.count)
            let mobile = hessian.degreesOfFreedom.mobileCount
            solver.maximumBasis = mobile <= cap + 10 * active.count ? mobile + active.count : cap
            let shared = try solver.solve(unit, progress: progress) { try hessian.apply($0) }
            solution = (shared.x, shared.relativeResiduals)
            let open = (0..<active.count).filter { !(shared.relativeResiduals[$0] <= tolerance) }
            // Columns still open when the basis stopped (at its cap, or on a plateau of the
            // Galerkin residual) continue by CG.
            if !open.isEmpty {
                progress("  sparse: the shared basis stopped at \(shared.products) vectors with \(open.count) of \(active.count) columns "
                         + "open; continuing them one by one with conjugate gradients from the shared solution")
                let rest = try columnByColumn(unit.selecting(columns: open), start: shared.x.selecting(columns: open),
                                              hessian: hessian, preconditioner: preconditioner, sharing: sharing, progress: progress)
                for (index, column) in open.enumerated() where rest.residuals[index] < solution.residuals[column] {
                    solution.x.setColumn(column, rest.x.column(index))
                    solution.residuals[column] = rest.residuals[index]
                }
            }
        }
        for (index, column) in active.enumerated() {
            // Round-off of the orthogonalizations reaches held components: project them to exactly zero.
            x.setColumn(column, hessian.degreesOfFreedom.project(solution.x.column(index).map { $0 * norms[column] }))
            residuals[column] = solution.residuals[index]
        }
        return (x, residuals)
    }

    /// `auto` resolved for this minimum: lattice or exponential (none for a lone atom).
    public func settings(for hessian: Hessian) -> [String: String] {
        var result = settings
        if preconditioning == .auto {
            let resolved = hessian.minimum.count < 2 ? "none"
                : (try? LatticePreconditioner.sites(of: hessian).get()) != nil ? "lattice" : "exponential"
            result["preconditioner"] = "auto: \(resolved)"
        }
        return result
    }

    /// P⁻¹ as `preconditioning` asks, saying which was built and, when `auto` could not use the
    /// lattice one, why (nil: none).
    private func preconditioner(for hessian: Hessian, progress: (String) -> Void) throws -> (([Double]) -> [Double])? {
        // A lone atom has no neighbours to build P from: nothing to precondition.
        guard preconditioning != .none, hessian.minimum.count > 1 else { return nil }
        var notLattice = ""
        if preconditioning != .exponential {
            switch LatticePreconditioner.sites(of: hessian) {
            case .success(let sites):
                let lattice = try LatticePreconditioner(sites: sites, hessian: hessian)
                let species = Set(hessian.minimum.types).count
                progress("  sparse: lattice preconditioner (\(sites.kind.rawValue) \(sites.cells.map(String.init).joined(separator: "×")) cells, "
                         + "\(sites.vacantSites.count) vacant sites\(species > 1 ? ", \(species) species" : ""); force constants from atom "
                         + "\(lattice.probeAtom + 1), \(lattice.probeEvaluations) force evaluation\(lattice.probeEvaluations == 1 ? "" : "s"))")
                return lattice.apply
            case .failure(let why):
                guard preconditioning == .auto else { throw why }
                notLattice = "; not a crystal with point defects: \(why.reason)"
            }
        }
        let exponential = try ExponentialPreconditioner(minimum: hessian.minimum, degreesOfFreedom: hessian.degreesOfFreedom)
        progress("  sparse: exponential preconditioner (applied by \(exponential.inverse)\(notLattice))")
        return exponential.apply
    }

    /// Conjugate gradients column by column, with a progress line at least every ~10 s; finished
    /// columns are checkpointed (one folder per set of right-hand sides) when `checkpoint` is set.
    private func columnByColumn(_ b: Matrix, start: Matrix?, hessian: Hessian, preconditioner: (([Double]) -> [Double])?,
                                sharing: ProductSharing?, progress: (String) -> Void) throws -> (x: Matrix, residuals: [Double]) {
        let reference = hessian.minimum.unwrappedPositions
        // The right-hand sides' sketch: a resume must solve the same system. Two seeded random
        // projections of each (unit) column, to 6 decimals of absolute precision: any change
        // above ~1e-6 shows, while the round-off of a restored minimum does not.
        var generator = SplitMix64(seed: 10)
        let probes = (0..<2).map { _ in (0..<b.rows).map { _ in Double.random(in: -1...1, using: &generator) } }
        let scale = (0..<2).map { Double(b.rows).squareRoot() / norm(probes[$0]) }
        let sketch = (0..<b.columns).flatMap { j in
            let column = b.column(j)
            return (0..<2).map { String(format: "%.6f", scale[$0] * dot(probes[$0], column)) }
        }
        let settings = "sparse cg tolerance \(tolerance) preconditioner \(preconditioning.rawValue) columns \(b.columns)"
        let key = settings + " rhs " + sketch.joined(separator: " ")
        // On several partitions each solves (and checkpoints) its share of the columns, then they
        // add up their results.
        let store = checkpoint.map { url in
            Checkpoint(directory: url.appendingPathComponent("sparse-" + Files.fingerprint(settings.utf8) + (sharing.map { "-p\($0.index)" } ?? "")),
                       writes: hessian.simulation.lammps.mpiRank == 0)
        }
        var done: [Int: Checkpoint.Column] = [:]
        if let store {
            let (saved, discarded) = store.load(reference: reference, key: key)
            done = saved
            if let discarded { progress("  sparse (cg): checkpoint in \(store.directory.path) discarded: \(discarded)") }
            if !done.isEmpty { progress("  sparse (cg): resuming, \(done.count) of \(b.columns) columns already done") }
        }
        let clock = ProgressClock()
        var products = 0
        for j in 0..<b.columns where done[j] == nil && sharing?.takes(j) ?? true {
            let solution = try ConjugateGradient(tolerance: tolerance).solve(
                b.column(j), start: start?.column(j), preconditioner: preconditioner,
                iterationDone: { iteration, estimate in
                    guard clock.isDue() else { return }
                    let finished = done.count
                    let perColumn = Double(products + iteration) / (Double(finished) + 0.5)
                    let left = Double(clock.elapsed) / Double(max(products + iteration, 1)) * perColumn * Double(b.columns - finished)
                    progress(String(format: "  sparse (cg): column %d of %d (%d done), iteration %d, residual %.1e, %d products, %d s, about %.0f s left",
                                    j + 1, b.columns, finished, iteration, estimate, products + iteration, clock.elapsed, left))
                }, apply: { try hessian.apply($0) })
            products += solution.products
            done[j] = Checkpoint.Column(values: solution.x, residual: solution.relativeResidual, iterations: solution.products)
            try store?.save(done, reference: reference, key: key)
        }
        guard let sharing else {
            let x = Matrix(columns: (0..<b.columns).map { done[$0]!.values }, rows: b.rows)
            return (x, (0..<b.columns).map { done[$0]!.residual })
        }
        // Each column's values and residual from the partition that solved it (zeros elsewhere).
        var mine = Matrix(rows: b.rows + 1, columns: b.columns)
        for (j, column) in done where sharing.takes(j) { mine.setColumn(j, column.values + [column.residual]) }
        let all = try sharing.combine(mine)
        let x = Matrix(columns: (0..<b.columns).map { Array(all.column($0).dropLast()) }, rows: b.rows)
        return (x, (0..<b.columns).map { all[b.rows, $0] })
    }
}

/// The finite-difference Hessian over the moving components and a LAPACK solve.
public struct DenseMethod: DerivativeMethod {
    /// Only atoms within `radius` of `center` move (all mobile atoms when nil).
    public var region: (center: [Double], radius: Double)?
    public init(region: (center: [Double], radius: Double)? = nil) { self.region = region }

    public var name: String { "dense" }
    public var settings: [String: String] {
        guard let region else { return [:] }
        return ["center": region.center.map { "\($0)" }.joined(separator: ","), "radius": "\(region.radius)"]
    }
    public var advice: String { "The dense solve is exact up to its finite-difference Hessian; the Hessian is nearly singular." }

    public func solve(_ hessian: Hessian, _ b: Matrix, progress: (String) -> Void) throws -> (x: Matrix, relativeResiduals: [Double]) {
        try DenseSolver(region: region).solve(hessian, b, progress: progress)
    }
}

/// Checks every derivative passes, whatever the method.
public struct DerivativeChecks: Codable, Sendable {
    /// Every parameter's relative residual ‖H x_l + b_l‖/‖b_l‖, measured with an independent
    /// Hessian product, must be below this; otherwise the derivative is refused as inaccurate.
    public var maxResidual: Double = 1e-3
    /// Lanczos steps of the curvature check at X* (0 skips it).
    public var curvatureSteps: Int = 30
    /// Compute the derivative even if X* is not a converged minimum (the result is marked).
    public var allowNonMinimum = false

    public init() {}
}

/// Why a derivative is refused.
public enum DerivativeError: Error, CustomStringConvertible {
    /// X* is not a minimum: unconverged, a saddle, or no interactions at all.
    case notAMinimum(String)
    /// The linear solve did not reach the accuracy the results need.
    case inaccurate(String)
    /// A setting that cannot work for this system.
    case invalidSetting(String)

    public var description: String {
        switch self {
        case .notAMinimum(let text): return "not a minimum: \(text)"
        case .inaccurate(let text): return "inaccurate derivative: \(text)"
        case .invalidSetting(let text): return text
        }
    }
}

/// ∇Θ X*, 3N × N_D (column l = ∂X*/∂Θ_l, atoms by ID), with how it was obtained.
public struct PositionDerivative: Sendable {
    /// The derivative of `columns` parameters of which only `placing` were solved (the rest zero).
    func expanded(to columns: Int, placing solved: [Int]) -> PositionDerivative {
        guard solved.count < columns else { return self }
        var result = self
        result.matrix = Matrix(rows: matrix.rows, columns: columns)
        result.residuals = Array(repeating: 0, count: columns)
        result.iterations = Array(repeating: 0, count: columns)
        for (index, column) in solved.enumerated() {
            result.matrix.setColumn(column, matrix.column(index))
            result.residuals[column] = residuals[index]
            result.iterations[column] = iterations[index]
        }
        return result
    }

    public var matrix: Matrix
    /// Per parameter: relative residual ‖H x_l + b_l‖/‖b_l‖ of the linear system (for the energy
    /// method measured afterwards with one Hessian product per parameter: it exposes a bias
    /// outside the linear range as well as an unconverged minimization).
    public var residuals: [Double]
    /// Per parameter: minimizer iterations (energy), else 0.
    public var iterations: [Int]
    public var forceEvaluations: Int
    public var seconds: Double
    /// The method's settings as they applied (`DerivativeMethod.settings(for:)`).
    public var settings: [String: String] = [:]
}

public enum ImplicitDifferentiation {
    /// Solves H · ∇Θ X* = −∇²ΘX U (eq. 5/22, translations projected out, held atoms fixed) with
    /// `method`, and refuses a result whose residuals exceed `checks.maxResidual`.
    public static func positionDerivative(_ energy: any ParametrizedEnergy, hessian: Hessian, mixedHessian: Matrix,
                                          method: any DerivativeMethod, checks: DerivativeChecks = DerivativeChecks(),
                                          progress: (String) -> Void = { _ in }) throws -> PositionDerivative {
        let start = Date()
        let evaluationsBefore = hessian.forceEvaluations
        let active = activeColumns(mixedHessian, theta: energy.theta, hessian: hessian)
        if active.count < mixedHessian.columns {
            progress("  \(mixedHessian.columns - active.count) parameters move no atom (their forces at X* are at the level of "
                     + "its residual forces): ∇Θ X* is exactly zero there")
        }
        var result = try method.positionDerivative(energy, hessian: hessian, mixedHessian: mixedHessian.selecting(columns: active),
                                                   progress: progress)
        result = result.expanded(to: mixedHessian.columns, placing: active)
        try hessian.restoreMinimum()
        // The energy method counts minimizer iterations; the others count force evaluations.
        if !(method is EnergyMethod) { result.forceEvaluations = hessian.forceEvaluations - evaluationsBefore }
        if let partitions = hessian.simulation.partitions, partitions.count > 1 {
            // Each partition counted its own share (and the shared work once each): report the job's total.
            result.forceEvaluations = Int(try partitions.sum([Double(result.forceEvaluations)])[0])
        }
        result.seconds = Date().timeIntervalSince(start)
        result.settings = method.settings(for: hessian)
        try requireAccurate(result, method: method, maxResidual: checks.maxResidual)
        return result
    }

    /// Columns whose forces, for a 100 % change of their parameter, stay within 10× the residual
    /// forces of X* or below 1e-7 (e.g. an energy scale such as SW's ε or Morse's D0, which moves
    /// no atom): their solution is zero, and solving for round-off would only fail the accuracy check.
    /// Also columns 1e-8 below the largest one on the same relative scale (a parameter that
    /// moves atoms only through the minimum's own round-off, such as SW's λ at a vacancy).
    static func activeColumns(_ mixedHessian: Matrix, theta: [Double], hessian: Hessian) -> [Int] {
        let typical = (theta.reduce(0) { $0 + $1 * $1 } / Double(max(theta.count, 1))).squareRoot()
        let scaled = (0..<mixedHessian.columns).map { l in
            (hessian.degreesOfFreedom.project(mixedHessian.column(l)).map(abs).max() ?? 0) * max(abs(theta[l]), typical)
        }
        // 1e-7 eV/Å for a 100 % change of the parameter moves atoms by ~1e-7 Å: nothing anyone can
        // use, and such a right-hand side (the minimum's own round-off) only exhausts a Krylov
        // solve (seen: SW's λ at a 1727-atom vacancy).
        let floor = max(10 * hessian.largestResidualForce, 1e-7, 1e-8 * (scaled.max() ?? 0))
        return (0..<mixedHessian.columns).filter { scaled[$0] > floor }
    }

    /// Refuses a derivative whose columns do not solve the linear system: a residual above
    /// `maxResidual` or NaN (the energy method outside its linear range, an unconverged solve).
    static func requireAccurate(_ result: PositionDerivative, method: any DerivativeMethod, maxResidual: Double) throws {
        let failing = result.residuals.enumerated().filter { !($0.element <= maxResidual) }
        guard !failing.isEmpty else { return }
        let worst = failing.max { $0.element < $1.element }!
        throw DerivativeError.inaccurate("""
            \(failing.count) of \(result.residuals.count) parameters have a relative residual ‖H x + b‖/‖b‖ above \
            \(maxResidual) (worst: parameter \(worst.offset), \(String(format: "%.3g", worst.element))). \(method.advice)
            """)
    }

    /// H X = B for any number of right-hand sides (columns of B), forward or adjoint, with the
    /// method's own solver (the energy method solves linear systems with the sparse one).
    public static func solve(_ hessian: Hessian, _ b: Matrix, method: any DerivativeMethod,
                             progress: (String) -> Void = { _ in }) throws
        -> (x: Matrix, relativeResiduals: [Double], forceEvaluations: Int)
    {
        let before = hessian.forceEvaluations
        let (x, residuals) = try method.solve(hessian, hessian.degreesOfFreedom.project(b), progress: progress)
        return (x, residuals, hessian.forceEvaluations - before)
    }
}

/// Dense finite-difference Hessian over the moving components and a LAPACK solve; rigid
/// translations are removed exactly by constraints (a bordered symmetric system), not by
/// adding arbitrary constants to the Hessian.
struct DenseSolver {
    var region: (center: [Double], radius: Double)?

    func solve(_ hessian: Hessian, _ b: Matrix, progress: (String) -> Void) throws -> (Matrix, [Double]) {
        let dofs = hessian.degreesOfFreedom
        var components = (0..<dofs.mobile.count).filter { dofs.mobile[$0] }
        var axes = dofs.translationAxes
        if let (center, radius) = region {
            let positions = hessian.minimum.unwrappedPositions
            let near = minimumImage((0..<positions.count).map { positions[$0] - center[$0 % 3] }, in: hessian.minimum.box)
            components = components.filter { index in
                let atom = index / 3
                let d = near[3 * atom..<3 * atom + 3].reduce(0) { $0 + $1 * $1 }
                return d <= radius * radius
            }
            axes = []  // atoms outside the region hold the rest in place: no zero modes remain
            guard !components.isEmpty else {
                throw DerivativeError.invalidSetting(String(
                    format: "--center %@ --radius %g leaves no mobile atom: the region contains no atom that may move",
                    center.map { String(format: "%g", $0) }.joined(separator: ","), radius))
            }
        }
        let h = try hessian.dense(components: components, progress: progress)
        let n = components.count, m = axes.count
        var bordered = Matrix(rows: n + m, columns: n + m)
        for j in 0..<n { for i in 0..<n { bordered[i, j] = h[i, j] } }
        for (c, axis) in axes.enumerated() {
            for (i, component) in components.enumerated() where component % 3 == axis {
                bordered[i, n + c] = 1
                bordered[n + c, i] = 1
            }
        }
        var rhs = Matrix(rows: n + m, columns: b.columns)
        for j in 0..<b.columns { for (i, component) in components.enumerated() { rhs[i, j] = b[component, j] } }
        let y = try LAPACK.solveSymmetric(bordered, rhs)
        var x = Matrix(rows: b.rows, columns: b.columns)
        for j in 0..<b.columns { for (i, component) in components.enumerated() { x[component, j] = y[i, j] } }
        // Residuals of the restricted system (exact solve: round-off level).
        let residuals = (0..<b.columns).map { j -> Double in
            var r = 0.0, norm = 0.0
            for i in 0..<n {
                var hx = 0.0
                for k in 0..<n { hx += h[i, k] * y[k, j] }
                for c in 0..<m where components[i] % 3 == axes[c] { hx += y[n + c, j] }
                r += (rhs[i, j] - hx) * (rhs[i, j] - hx)
                norm += rhs[i, j] * rhs[i, j]
            }
            return norm > 0 ? (r / norm).squareRoot() : 0
        }
        return (x, residuals)
    }
}

/// The paper's constrained minimization (methods IV A, supplement 3 B): for each parameter l,
/// minimize U(X) + α_l b_l·(X − X*) in LAMMPS with `fix addforce`, b_l = [∇²ΘX U]_l, and take
/// (X_l − X*)/α_l, with α_l = α0 / max|b_l| (eq. 39).
public struct EnergyMethod: DerivativeMethod {
    public var minStyle: MinimizerStyle = .cg
    /// Bias scale α0 of eq. 39.
    public var alpha0 = 1e-4
    /// Where finished parameters are saved, so that an interrupted run resumes.
    public var checkpoint: URL?
    /// Other linear systems (strain responses) are solved by the sparse method.
    public var linearSolver = SparseMethod()
    /// Force tolerance and iteration limit of each biased minimization (default: 1e-6 of the bias,
    /// at most 20 000 iterations). The paper's published example uses FIRE, α0 = 0.5, 1e-4, 500.
    public var ftol: Double?
    public var maxIterations = 20_000

    public init(minStyle: MinimizerStyle = .cg, alpha0: Double = 1e-4, checkpoint: URL? = nil) {
        self.minStyle = minStyle
        self.alpha0 = alpha0
        self.checkpoint = checkpoint
    }

    public var name: String { "energy" }
    public var settings: [String: String] {
        var result = ["min_style": minStyle.rawValue, "alpha0": "\(alpha0)"]
        if let ftol { result["ftol"] = "\(ftol)" }
        if maxIterations != 20_000 { result["max_iterations"] = "\(maxIterations)" }
        return result
    }
    public var costUnit: String { "minimizer iterations" }
    public var advice: String {
        """
        The bias α_l = α0/max|b_l| (α0 = \(alpha0)) moved the atoms outside the range where their \
        response is linear, or the biased minimization did not converge. Use α0 in [1e-6, 1e-3] \
        (default 1e-4), or --method sparse.
        """
    }

    public func solve(_ hessian: Hessian, _ b: Matrix, progress: (String) -> Void) throws -> (x: Matrix, relativeResiduals: [Double]) {
        try linearSolver.solve(hessian, b, progress: progress)
    }

    public func positionDerivative(_ energy: any ParametrizedEnergy, hessian: Hessian, mixedHessian: Matrix,
                                   progress: (String) -> Void) throws -> PositionDerivative {
        let simulation = energy.simulation
        let dofs = hessian.degreesOfFreedom
        let reference = hessian.minimum.unwrappedPositions
        let bias = try BiasForce(simulation, reference: reference)
        defer { try? bias.remove() }
        // Relative accuracy 1e-6 of the displacement: the residual force must be 1e-6 of α max|b| = α0,
        // but not below 1e-12 eV/Å, well above the ~3e-14 floating-point floor of the forces (a tiny α0
        // would otherwise only stagnate there); the residual check below judges the result.
        var relaxation = RelaxationSettings(ftol: ftol ?? max(alpha0 * 1e-6, 1e-12), minStyle: minStyle)
        relaxation.maxIterations = maxIterations
        let checkpoint = self.checkpoint.map { Checkpoint(directory: $0, writes: simulation.isRoot) }
        // Settings left at their defaults keep the key of checkpoints written before they existed.
        let key = "energy \(minStyle.rawValue) alpha0 \(alpha0) parameters \(mixedHessian.columns)"
            + (ftol.map { " ftol \($0)" } ?? "") + (maxIterations != 20_000 ? " max_iterations \(maxIterations)" : "")
        var done: [Int: Checkpoint.Column] = [:]
        if let checkpoint {
            let (saved, discarded) = checkpoint.load(reference: reference, key: key)
            done = saved
            if let discarded { progress("  energy method: checkpoint in \(checkpoint.directory.path) discarded: \(discarded)") }
        }
        if !done.isEmpty { progress("  energy method: resuming, \(done.count) of \(mixedHessian.columns) parameters already done") }
        let clock = ProgressClock()
        for l in 0..<mixedHessian.columns where done[l] == nil {
            let b = dofs.project(mixedHessian.column(l))
            let largest = b.map(abs).max() ?? 0
            guard largest > 0 else {
                done[l] = Checkpoint.Column(values: [Double](repeating: 0, count: b.count), residual: 0, iterations: 0)
                continue
            }
            let alpha = alpha0 / largest
            try bias.set(b.map { alpha * $0 })
            try hessian.restoreMinimum()
            let (result, _) = try simulation.relax(relaxation, label: "energy method, parameter \(l + 1)/\(mixedHessian.columns)", progress: progress)
            let displaced = try simulation.structure().unwrappedPositions
            done[l] = Checkpoint.Column(values: dofs.project(zip(displaced, reference).map { ($0 - $1) / alpha }),
                                        residual: result.maxForce / alpha0, iterations: result.steps)
            try checkpoint?.save(done, reference: reference, key: key)
            if clock.isDue() || l + 1 == mixedHessian.columns {
                progress("  energy method: parameter \(l + 1)/\(mixedHessian.columns), \(result.steps) iterations, \(clock.elapsed) s")
            }
        }
        try bias.remove()
        // The minimizer's own residual says nothing about linearity: measure each column's residual
        // of H x = −b with one small-step Hessian product (exposes α0 outside the linear range).
        for l in 0..<mixedHessian.columns {
            let b = dofs.project(mixedHessian.column(l))
            let bNorm = b.reduce(0) { $0 + $1 * $1 }.squareRoot()
            guard bNorm > 0 else { continue }
            let hx = try hessian.apply(done[l]!.values)
            done[l]!.residual = zip(hx, b).reduce(0) { $0 + ($1.0 + $1.1) * ($1.0 + $1.1) }.squareRoot() / bNorm
        }
        let columns = (0..<mixedHessian.columns).map { done[$0]! }
        return PositionDerivative(matrix: Matrix(columns: columns.map(\.values), rows: mixedHessian.rows),
                                  residuals: columns.map(\.residual), iterations: columns.map(\.iterations),
                                  forceEvaluations: columns.reduce(0) { $0 + $1.iterations }, seconds: 0)
    }
}
