import Atomistics
import Foundation
import ImplicitDerivative
import LinearAlgebra
import Potentials


/// ∇Θ L and the change of every target per unit step.
extension FitCampaign {
    /// ∇Θ L at `state` (adjoint or full, as `settings.gradient` says).
    public func lossGradient(_ state: FitState, progress: (String) -> Void = { _ in }) throws -> [Double] {
        try gradient(state, progress: progress).g
    }

    /// The true loss of `theta`: every system relaxed with it from `state`'s structures.
    public func trueLoss(theta: [Double], from state: FitState) throws -> Double {
        var shifted = state
        shifted.theta = theta
        return loss(try relaxedState(shifted))
    }

    /// `state` with every system relaxed with its Θ from its structures.
    public func relaxedState(_ state: FitState) throws -> FitState { try relaxAll(state, progress: { _ in }) }

    /// What one iteration needs: ∇Θ L, per structure system the position change per unit step
    /// ΔX⁽⁰⁾ = −(∇Θ X*)·∇Θ L, and per elastic system the tensor change per unit step −(∇Θ C)·∇Θ L.
    struct Direction {
        var g: [Double]
        var dx: [String: [Double]] = [:]
        var dc: [String: [[Double]]] = [:]
        /// Per system in a property target, ∇Θ U at its structure.
        var energyGradients: [String: [Double]] = [:]
        /// Per system whose volume is in a property target, ∇Θ V (cell relaxed, h+ih).
        var volumeGradients: [String: [Double]] = [:]
    }

    func gradient(_ state: FitState, progress: (String) -> Void) throws -> Direction {
        var g = zip(state.theta, state.thetaInitial).map { settings.regularization * ($0 - $1) }
        if let training { g = zip(g, training.gradient(state.theta)).map { $0 + $1 } }
        var hessians: [String: Hessian] = [:]
        var derivatives: [String: Matrix] = [:]
        var elasticDerivatives: [String: [[[Double]]]] = [:]
        for system in systems {
            let energy = system.energy
            try place(system, at: state)
            switch system.target {
            case .elastic(let target, let mask):
                // ∇Θ C by central differences of C in Θ (re-relaxed cells): ∇Θ ½‖E‖² = Σ E_ij M_ij ∇Θ C_ij.
                let dC = try ElasticParameterDerivative(cell: .aniso, ftol: settings.ftol)
                    .compute(energy, reference: state.structures[system.name]!, method: method, progress: progress).derivative
                elasticDerivatives[system.name] = dC
                let e = elasticDifference(state.elastic[system.name]!, target, mask)
                for l in g.indices {
                    g[l] += system.weight * dot(e, mandelComponents(dC[l], mask))
                }
            case .none:
                // Only moved along (eq. 44) so that it stays near its minimum.
                let hessian = try Hessian(system: system.provider)
                hessians[system.name] = hessian
            case .structure(let target):
                let hessian = try Hessian(system: system.provider)
                hessians[system.name] = hessian
                // ∂L/∂X = P W r (P removes the mean displacement).
                let r = removingTranslations(system.weighted(residual(state.structures[system.name]!, target: target)),
                                             axes: [0, 1, 2])
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
        }
        var energyGradients: [String: [Double]] = [:]
        var volumeGradients: [String: [Double]] = [:]
        for system in systems where propertyTargets.contains(where: { $0.quantity.systems.contains(system.name) }) {
            try place(system, at: state, evaluating: false)
            energyGradients[system.name] = try system.energy.energyGradient()
            if propertyTargets.contains(where: { $0.quantity.volume[system.name] != nil }) {
                volumeGradients[system.name] = try volumeGradient(system, progress: progress)
            }
        }
        for target in propertyTargets {
            let u = combination(target, state) - target.value
            for (name, c) in target.quantity.energyTerms {
                for l in g.indices { g[l] += target.weight * u * c * energyGradients[name]![l] }
            }
            for (name, d) in target.quantity.volumeTerms {
                for l in g.indices { g[l] += target.weight * u * d * volumeGradients[name]![l] }
            }
        }
        g = projectOntoConstraints(g)
        var direction = Direction(g: g)
        direction.energyGradients = energyGradients
        direction.volumeGradients = volumeGradients
        for system in systems {
            if let dC = elasticDerivatives[system.name] {
                direction.dc[system.name] = (0..<6).map { i in (0..<6).map { j in
                    -g.indices.reduce(0) { $0 + dC[$1][i][j] * g[$1] }
                } }
            } else if let d = derivatives[system.name] {
                direction.dx[system.name] = d.multiplied(by: Matrix(rows: g.count, columns: 1, storage: g)).storage.map { -$0 }
            } else if let hessian = hessians[system.name] {
                // −(∇Θ X*)·g = H⁻¹ (∇²ΘX U) g: one product, one forward solve.
                try hessian.restoreMinimum()
                direction.dx[system.name] = try solve(hessian, try system.energy.mixedHessianProduct(g), progress: progress)
            }
        }
        return direction
    }

    /// A system at its structure in `state` with the state's Θ, its forces evaluated unless not asked.
    func place(_ system: FitSystem, at state: FitState, evaluating: Bool = true) throws {
        try system.energy.setTheta(state.theta)
        try system.provider.restore(state.structures[system.name]!)
        if evaluating { try system.provider.evaluate() }
    }

    /// ∇Θ V of a cell-relaxed system at its current minimum: V Σ_g tr(e_g) ∇Θ ε_g (h+ih level).
    func volumeGradient(_ system: FitSystem, progress: (String) -> Void) throws -> [Double] {
        let derivatives = try MinimumDerivatives.compute(system.energy, cell: system.cell, method: method, progress: progress)
        guard let strain = derivatives.strain else { return [Double](repeating: 0, count: system.energy.parameterCount) }
        let volume = derivatives.volume
        return (0..<system.energy.parameterCount).map { l in
            strain.generators.enumerated().reduce(0) { total, generator in
                total + volume * (generator.element[0] + generator.element[1] + generator.element[2]) * strain.full[generator.offset, l]
            }
        }
    }

    func solve(_ hessian: Hessian, _ b: [Double], progress: (String) -> Void) throws -> [Double] {
        let solution = try ImplicitDifferentiation.solve(hessian, Matrix(rows: b.count, columns: 1, storage: b),
                                                         method: method, progress: progress)
        if let residual = solution.relativeResiduals.first, !(residual <= 1e-3) {
            throw DerivativeError.inaccurate("a linear solve of the fit reached a relative residual of \(residual). \(method.advice)")
        }
        return solution.x.column(0)
    }

    /// Each system in the state its checkpointed structure alone determines, whatever the
    /// previous iteration left (a triclinic box after elastic strains, the timestep): an iteration
    /// of a resumed campaign then repeats the uninterrupted one bit for bit.
    func resetSystems(to state: FitState) throws {
        for system in systems {
            if let structure = state.structures[system.name] { try system.provider.reset(to: structure) }
        }
    }
}
