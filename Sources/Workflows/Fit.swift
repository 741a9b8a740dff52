import Atomistics
import Foundation
import ImplicitDerivative
import LAMMPSLibrary
import LinearAlgebra
import Potentials

/// One system of a campaign: its parametrized energy (all systems share Θ), the structure its
/// minimum should become, and its weight in the loss.
public struct FitSystem {
    public var name: String
    public var energy: any ParametrizedEnergy
    /// Target positions, 3 per atom in atom-ID order.
    public var target: [Double]
    public var weight: Double

    public init(name: String, energy: any ParametrizedEnergy, target: [Double], weight: Double = 1) {
        self.name = name
        self.energy = energy
        self.target = target
        self.weight = weight
    }
}

/// How the implicit loss is minimized (paper Algorithm 1, supplement eq. 41–44).
public struct FitSettings: Codable, Sendable {
    public enum Gradient: String, Codable, Sendable {
        /// One adjoint solve H v = ∂L/∂X, then ∇Θ L = −(∇²ΘX U)ᵀ v: a fixed number of solves per
        /// iteration whatever N_D.
        case adjoint
        /// All N_D columns of ∇Θ X*, then eq. 10 (the paper's way).
        case full
    }
    public var iterations = 20
    /// nil: the adaptive step of eq. 43 (the minimum of the predicted loss along −∇Θ L).
    public var step: Double?
    /// Re-relax every system with LAMMPS after each step (else positions follow eq. 44).
    public var relaxEach = false
    /// Stop when the largest atomic displacement of a step is below this (Å).
    public var tolerance = 1e-4
    /// Stop when the loss (true when relaxed, else predicted) is at most this.
    public var lossTolerance = 0.0
    public var gradient = Gradient.adjoint
    /// μ of the regularizer ½μ‖Θ − Θ0‖².
    public var regularization = 0.0
    /// Force tolerance of every relaxation (eV/Å).
    public var ftol = 1e-10

    public init() {}
}

/// One row of `history.csv`.
public struct FitRecord: Codable, Sendable, Equatable {
    public var iteration: Int
    public var lossPredicted: Double
    /// The loss of true LAMMPS relaxations with this iteration's Θ (relax_each, and iteration 0).
    public var lossRelaxed: Double?
    public var step: Double
    public var maxDisplacement: Double
    public var forceEvaluations: Int
    public var seconds: Double
    public var theta: [Double]
}

/// Everything needed to continue a campaign after its last completed iteration.
public struct FitState: Codable, Sendable {
    /// Identifies the campaign: a resume with another configuration is refused.
    public var key: String
    public var thetaInitial: [Double]
    public var theta: [Double]
    /// Per system (by name), the current structure: relaxed, or predicted by eq. 44.
    public var structures: [String: Structure]
    public var history: [FitRecord]
    public var done = false
}

/// The implicit loss L(Θ) = Σ_s w_s ½‖P(X*_s(Θ) − X_s,target)‖² + ½μ‖Θ − Θ0‖², displacements by
/// minimum image and P removing the mean displacement of each system (a rigid shift is not a
/// structural difference), minimized by Algorithm 1.
public final class FitCampaign {
    public let systems: [FitSystem]
    public let settings: FitSettings
    public let method: any DerivativeMethod

    public init(systems: [FitSystem], settings: FitSettings, method: any DerivativeMethod) throws {
        guard let first = systems.first else { throw InputError.invalid("a campaign needs at least one system") }
        for system in systems.dropFirst() where system.energy.parameterNames != first.energy.parameterNames {
            throw InputError.invalid("""
                system \(system.name) varies other parameters than \(first.name) \
                (\(system.energy.parameterCount) against \(first.energy.parameterCount)): every system must share Θ
                """)
        }
        for system in systems where system.target.count != 3 * system.energy.atomCount {
            throw InputError.invalid("""
                the target of system \(system.name) has \(system.target.count / 3) atoms, the system \(system.energy.atomCount)
                """)
        }
        self.systems = systems
        self.settings = settings
        self.method = method
    }

    public var parameterNames: [String] { systems[0].energy.parameterNames }

    /// P(X − X_target): minimum-image displacements with their mean removed.
    func residual(_ structure: Structure, target: [Double]) -> [Double] {
        let d = minimumImage(zip(structure.unwrappedPositions, target).map { $0 - $1 }, in: structure.box)
        return removingTranslations(d, axes: [0, 1, 2])
    }

    func loss(_ structures: [String: Structure], theta: [Double], theta0: [Double]) -> Double {
        var total = 0.0
        for system in systems {
            let r = residual(structures[system.name]!, target: system.target)
            total += system.weight * 0.5 * r.reduce(0) { $0 + $1 * $1 }
        }
        return total + 0.5 * settings.regularization * zip(theta, theta0).reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) }
    }

    /// Relaxes every system with `theta` from `structures` (or from its current state).
    func relaxAll(theta: [Double], from structures: [String: Structure]?,
                  progress: (String) -> Void) throws -> [String: Structure] {
        var result: [String: Structure] = [:]
        for system in systems {
            try system.energy.setTheta(theta)
            if let start = structures?[system.name] { try system.energy.simulation.restore(start) }
            let (relaxation, _) = try system.energy.simulation.relax(RelaxationSettings(ftol: settings.ftol),
                                                                      label: "fit \(system.name)", progress: progress)
            if let shortfall = relaxation.shortfall {
                throw DerivativeError.notAMinimum("relaxing system \(system.name) during the fit: \(shortfall)")
            }
            result[system.name] = try system.energy.simulation.structure()
        }
        return result
    }

    /// The starting state: every system relaxed with its own Θ (iteration 0 of the history).
    public func initialState(key: String, progress: (String) -> Void = { _ in }) throws -> FitState {
        let theta = systems[0].energy.theta
        let start = Date()
        let before = evaluationCount
        let structures = try relaxAll(theta: theta, from: nil, progress: progress)
        for system in systems {
            // Several ångströms mean the wrong atoms are paired far more often than a target far away.
            let r = residual(structures[system.name]!, target: system.target)
            let norms: [Double] = stride(from: 0, to: r.count, by: 3).map { i -> Double in
                let (x, y, z) = (r[i], r[i + 1], r[i + 2])
                return (x * x + y * y + z * z).squareRoot()
            }
            if let worst = norms.indices.max(by: { norms[$0] < norms[$1] }), norms[worst] > 1.5 {
                progress(String(format: """
                    warning: system %@: atom ID %d is %.2f Å from its target. Do the target's atom IDs match the \
                    system's? (create_atoms numbers atoms differently on different numbers of MPI ranks; read_data keeps IDs)
                    """, system.name, worst + 1, norms[worst]))
            }
        }
        let l = loss(structures, theta: theta, theta0: theta)
        let record = FitRecord(iteration: 0, lossPredicted: l, lossRelaxed: l, step: 0, maxDisplacement: 0,
                               forceEvaluations: evaluationCount - before, seconds: Date().timeIntervalSince(start), theta: theta)
        return FitState(key: key, thetaInitial: theta, theta: theta, structures: structures, history: [record])
    }

    var evaluationCount: Int {
        systems.reduce(0) { $0 + $1.energy.simulation.forceEvaluations + $1.energy.simulation.relaxationIterations }
    }

    /// ∇Θ L at `state` (adjoint or full, as `settings.gradient` says).
    public func lossGradient(_ state: FitState, progress: (String) -> Void = { _ in }) throws -> [Double] {
        try gradient(state, progress: progress).g
    }

    /// The true loss of `theta`: every system relaxed with it from `state`'s structures.
    public func trueLoss(theta: [Double], from state: FitState) throws -> Double {
        loss(try relaxAll(theta: theta, from: state.structures, progress: { _ in }), theta: theta, theta0: state.thetaInitial)
    }

    /// The gradient ∇Θ L and the position change per unit step ΔX⁽⁰⁾ = −(∇Θ X*)·∇Θ L of every system.
    func gradient(_ state: FitState, progress: (String) -> Void) throws -> (g: [Double], dx: [String: [Double]]) {
        var g = zip(state.theta, state.thetaInitial).map { settings.regularization * ($0 - $1) }
        var hessians: [String: Hessian] = [:]
        var derivatives: [String: Matrix] = [:]
        for system in systems {
            let energy = system.energy
            try energy.setTheta(state.theta)
            try energy.simulation.restore(state.structures[system.name]!)
            try energy.simulation.evaluate()
            let hessian = try Hessian(simulation: energy.simulation)
            hessians[system.name] = hessian
            let r = residual(state.structures[system.name]!, target: system.target)
            switch settings.gradient {
            case .adjoint:
                // ∇Θ L = (∇Θ X*)ᵀ r = −(∇²ΘX U)ᵀ H⁻¹ r: one solve, one transposed product.
                let v = try solve(hessian, r, progress: progress)
                try hessian.restoreMinimum()
                let product = try energy.mixedHessianTransposedProduct(v)
                for l in g.indices { g[l] -= system.weight * product[l] }
            case .full:
                let d = try ImplicitDifferentiation.positionDerivative(
                    energy, hessian: hessian, mixedHessian: try energy.mixedHessian(), method: method,
                    checks: DerivativeChecks(), progress: progress).matrix
                derivatives[system.name] = d
                let product = d.multiplied(by: Matrix(rows: r.count, columns: 1, storage: r), transposingSelf: true).storage
                for l in g.indices { g[l] += system.weight * product[l] }
            }
        }
        var dx: [String: [Double]] = [:]
        for system in systems {
            let hessian = hessians[system.name]!
            try hessian.restoreMinimum()
            if let d = derivatives[system.name] {
                dx[system.name] = d.multiplied(by: Matrix(rows: g.count, columns: 1, storage: g)).storage.map { -$0 }
            } else {
                // −(∇Θ X*)·g = H⁻¹ (∇²ΘX U) g: one product, one forward solve.
                dx[system.name] = try solve(hessian, try system.energy.mixedHessianProduct(g), progress: progress)
            }
        }
        return (g, dx)
    }

    private func solve(_ hessian: Hessian, _ b: [Double], progress: (String) -> Void) throws -> [Double] {
        let solution = try ImplicitDifferentiation.solve(hessian, Matrix(rows: b.count, columns: 1, storage: b),
                                                         method: method, progress: progress)
        if let residual = solution.relativeResiduals.first, !(residual <= 1e-3) {
            throw DerivativeError.inaccurate("a linear solve of the fit reached a relative residual of \(residual). \(method.advice)")
        }
        return solution.x.column(0)
    }

    /// One iteration of Algorithm 1 from `state`.
    public func step(_ state: FitState, progress: (String) -> Void = { _ in }) throws -> FitState {
        let start = Date()
        let before = evaluationCount
        let current = loss(state.structures, theta: state.theta, theta0: state.thetaInitial)
        let (g, dx) = try gradient(state, progress: progress)
        // Predicted loss along Θ − h g (eq. 42): L + h A + ½ h² B.
        var a = -settings.regularization * zip(g, zip(state.theta, state.thetaInitial)).reduce(0) { $0 + $1.0 * ($1.1.0 - $1.1.1) }
        var b = settings.regularization * g.reduce(0) { $0 + $1 * $1 }
        for system in systems {
            let r = residual(state.structures[system.name]!, target: system.target)
            let change = removingTranslations(dx[system.name]!, axes: [0, 1, 2])
            a += system.weight * zip(change, r).reduce(0) { $0 + $1.0 * $1.1 }
            b += system.weight * change.reduce(0) { $0 + $1 * $1 }
        }
        let h = settings.step ?? (b > 0 ? -a / b : 0)  // eq. 43
        var next = state
        next.theta = zip(state.theta, g).map { $0 - h * $1 }
        var largest = 0.0
        for system in systems {
            var structure = state.structures[system.name]!
            let change = dx[system.name]!.map { h * $0 }
            structure.positions = zip(structure.positions, change).map { $0 + $1 }  // eq. 44
            largest = max(largest, largestAtomNorm(change))
            next.structures[system.name] = structure
        }
        let predicted = current + h * a + 0.5 * h * h * b
        var relaxedLoss: Double?
        if settings.relaxEach {
            next.structures = try relaxAll(theta: next.theta, from: next.structures, progress: progress)
            relaxedLoss = loss(next.structures, theta: next.theta, theta0: state.thetaInitial)
        }
        next.history.append(FitRecord(iteration: state.history.count, lossPredicted: predicted, lossRelaxed: relaxedLoss,
                                      step: h, maxDisplacement: largest, forceEvaluations: evaluationCount - before,
                                      seconds: Date().timeIntervalSince(start), theta: next.theta))
        let reachedLoss = (relaxedLoss ?? predicted) <= settings.lossTolerance
        next.done = largest < settings.tolerance || reachedLoss || next.history.count > settings.iterations
        return next
    }

    /// The end of a campaign: every system relaxed with the final Θ, and the iterate with the
    /// lowest true loss (the final relaxation or a relaxed iteration).
    public func finish(_ state: FitState, progress: (String) -> Void = { _ in })
        throws -> (final: FitRecord, best: FitRecord, structures: [String: Structure])
    {
        let start = Date()
        let before = evaluationCount
        let structures = try relaxAll(theta: state.theta, from: state.structures, progress: progress)
        let trueLoss = loss(structures, theta: state.theta, theta0: state.thetaInitial)
        let last = state.history.last!
        let final = FitRecord(iteration: last.iteration, lossPredicted: last.lossPredicted, lossRelaxed: trueLoss,
                              step: 0, maxDisplacement: 0, forceEvaluations: evaluationCount - before,
                              seconds: Date().timeIntervalSince(start), theta: state.theta)
        let candidates = state.history.filter { $0.lossRelaxed != nil } + [final]
        let best = candidates.min { $0.lossRelaxed! < $1.lossRelaxed! }!
        return (final, best, structures)
    }
}
