import Atomistics
import Foundation
import ImplicitDerivative
import LinearAlgebra
import Potentials


/// The loss and what it is made of: projections, residuals, property values, relaxations.
extension FitCampaign {
    /// v − Aᵀ (A Aᵀ)⁻¹ A v: the part of a parameter change that keeps A Θ.
    func projectOntoConstraints(_ v: [Double]) -> [Double] {
        guard let a = constraints, let solve = constraintSolve else { return v }
        let y = solve.multiplied(by: Matrix(rows: v.count, columns: 1, storage: v))
        let correction = a.multiplied(by: y, transposingSelf: true).storage
        return zip(v, correction).map { $0 - $1 }
    }

    /// P(X − X_target): minimum-image displacements with their mean removed.
    func residual(_ structure: Structure, target: [Double]) -> [Double] {
        let d = minimumImage(zip(structure.unwrappedPositions, target).map { $0 - $1 }, in: structure.box)
        return removingTranslations(d, axes: [0, 1, 2])
    }

    /// ½ (X − X_target)ᵀ W (X − X_target) with the system's atom weights: a structure target's term
    /// of the loss before the system's weight.
    func distance(_ structure: Structure, from target: [Double], _ system: FitSystem) -> Double {
        let r = residual(structure, target: target)
        return 0.5 * dot(r, system.weighted(r))
    }

    /// The target's components of a tensor in Mandel notation (`ElasticConstants.mandel`), flattened
    /// (others zero): ½‖components(C) − components(C_target)‖² is an elastic term of the loss.
    func mandelComponents(_ c: [[Double]], _ mask: [[Bool]]) -> [Double] {
        zip(ElasticConstants.mandel(c).joined(), mask.joined()).map { $1 ? $0 : 0 }
    }

    func elasticDifference(_ c: [[Double]], _ target: [[Double]], _ mask: [[Bool]]) -> [Double] {
        zip(mandelComponents(c, mask), mandelComponents(target, mask)).map { $0 - $1 }
    }

    func loss(_ state: FitState, theta: [Double]? = nil) -> Double {
        let theta = theta ?? state.theta
        var total = 0.5 * settings.regularization * zip(theta, state.thetaInitial).reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) }
        total += training?.loss(theta) ?? 0
        for system in systems {
            switch system.target {
            case .structure(let target):
                total += system.weight * distance(state.structures[system.name]!, from: target, system)
            case .elastic(let target, let mask):
                let e = elasticDifference(state.elastic[system.name]!, target, mask)
                total += system.weight * 0.5 * dot(e, e)
            case .none:
                break
            }
        }
        for target in propertyTargets {
            let u = combination(target, state) - target.value
            total += target.weight * 0.5 * u * u
        }
        return total
    }

    /// Σ_s c_s E_s + Σ_s d_s V_s of a property target.
    public func combination(_ target: PropertyTarget, _ state: FitState) -> Double {
        target.quantity.energyTerms.reduce(0) { $0 + $1.coefficient * (state.energies[$1.system] ?? .nan) }
            + target.quantity.volumeTerms.reduce(0) { $0 + $1.coefficient * (state.structures[$1.system]?.box.volume ?? .nan) }
    }

    /// Relaxes every system with `state.theta` from `state`'s structures (or, without them, from
    /// its current state), and measures the elastic constants of the elastic-target systems.
    func relaxAll(_ state: FitState, fromCurrent: Bool = false, only chosen: ((FitSystem) -> Bool)? = nil,
                  progress: (String) -> Void) throws -> FitState {
        var result = state
        for system in systems where chosen?(system) ?? true {
            let provider = system.provider
            try system.energy.setTheta(state.theta)
            if !fromCurrent, let start = state.structures[system.name] { try provider.restore(start) }
            let relaxation = try relaxer(system, settings.relaxation(system.cell), progress)
            if let shortfall = relaxation.shortfall {
                throw DerivativeError.notAMinimum("relaxing system \(system.name) during the fit: \(shortfall)")
            }
            result.structures[system.name] = try provider.structure()
            result.energies[system.name] = relaxation.energy
            result.starts?[system.name] = nil
            if settings.relaxFromTarget, case .structure(let target) = system.target {
                try relaxFromTarget(system, target: target, into: &result, progress: progress)
            }
            if case .elastic = system.target {
                let hessian = try Hessian(system: provider)
                result.elastic[system.name] = try ElasticConstants.measure(system.energy, hessian: hessian, method: method).relaxedIon
            }
        }
        return result
    }

    /// The minimum reached from the target's positions replaces the one in `state` when it lies
    /// closer to the target; the system is left at the one kept.
    private func relaxFromTarget(_ system: FitSystem, target: [Double], into state: inout FitState,
                                 progress: (String) -> Void) throws {
        let provider = system.provider
        let kept = state.structures[system.name]!
        // Only the mobile atoms start at the target's positions: held atoms are the system's
        // boundary condition, and the target's own border (another core's far field) would make
        // that minimum one of another system.
        let mobile = try Hessian.detectDegreesOfFreedom(provider, at: kept).mobile
        var start = kept
        start.positions = zip(zip(kept.unwrappedPositions, target), mobile).map { $1 ? $0.1 : $0.0 }
        start.images = [Int32](repeating: 0, count: kept.images.count)
        try provider.restore(start)
        let relaxation = try relaxer(system, settings.relaxation(system.cell), progress)
        let reached = try provider.structure()
        let (fromTarget, fromPrediction) = (distance(reached, from: target, system), distance(kept, from: target, system))
        progress(String(format: "  %@: relaxed from the prediction %.6g, from the target %.6g", system.name,
                        fromPrediction, fromTarget))
        if relaxation.shortfall == nil && fromTarget < fromPrediction {
            state.structures[system.name] = reached
            state.energies[system.name] = relaxation.energy
            state.starts = (state.starts ?? [:]).merging([system.name: start]) { $1 }
        } else {
            try provider.restore(kept)
        }
    }

    /// The history columns of the property targets, for a state.
    func properties(_ state: FitState) -> [String: Double] {
        var values: [String: Double] = [:]
        for target in propertyTargets { values[target.name] = combination(target, state) }
        for system in systems {
            guard let c = state.elastic[system.name] else { continue }
            for column in elasticColumns(system) { values[column.name] = c[column.i][column.j] }
        }
        return values
    }

    /// The history columns of the training term: its loss and each group's energy (eV/atom) and
    /// force (eV/Å) RMSE at Θ, unweighted as `evaluate` reports them.
    func trainingColumns(_ theta: [Double]) -> [String: Double]? {
        guard let training else { return nil }
        var values = ["training_loss": training.loss(theta)]
        for error in training.errors(theta) {
            values["rmse_energy_\(error.group)"] = error.energyRMSE
            values["rmse_force_\(error.group)"] = error.forceRMSE
        }
        return values
    }

    /// Each property column of the history with the value it aims at and its unit ("" when the
    /// combination mixes energies and volumes): the goals of the loss figure.
    public var propertyGoals: [(name: String, goal: Double, unit: String)] {
        var goals = propertyTargets.map { target in
            (name: target.name, goal: target.value, unit: target.quantity.unit)
        }
        for system in systems {
            guard case .elastic(let tensor, _) = system.target else { continue }
            goals += elasticColumns(system).map { (name: $0.name, goal: tensor[$0.i][$0.j], unit: "GPa") }
        }
        return goals
    }

    /// The components of an elastic target that the history reports: a cubic target (every
    /// component set) by its three constants, another by the components it sets.
    func elasticColumns(_ system: FitSystem) -> [(name: String, i: Int, j: Int)] {
        guard case .elastic(_, let mask) = system.target else { return [] }
        let cubic = mask.joined().allSatisfy { $0 }
        var columns: [(name: String, i: Int, j: Int)] = []
        for i in 0..<6 {
            for j in i..<6 where cubic ? [(0, 0), (0, 1), (3, 3)].contains(where: { $0 == (i, j) }) : mask[i][j] {
                columns.append((name: "\(system.name)_C\(i + 1)\(j + 1)", i: i, j: j))
            }
        }
        return columns
    }
}
