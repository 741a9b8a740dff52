import Atomistics
import Foundation
import ImplicitDerivative
import LinearAlgebra
import Potentials

/// Uncertainty propagation (paper section II G): one derivative computation per system at Θ̄, then
/// every member's quantities at the levels c, h, ih, h+ih by linear algebra, an error indicator
/// from a few force evaluations at the predicted structures, and true relaxations where asked.
public final class UncertaintyCampaign {
    public let systems: [UncertaintySystem]
    public let quantities: [SystemQuantity]
    public let ensemble: ParameterEnsemble
    public let method: any DerivativeMethod
    public let ftol: Double
    /// Minimizer of every relaxation (`relax.min_style`).
    public let minStyle: MinimizerStyle

    public init(systems: [UncertaintySystem], quantities: [SystemQuantity], ensemble: ParameterEnsemble,
                method: any DerivativeMethod, ftol: Double = 1e-10, minStyle: MinimizerStyle = .cg) throws {
        (self.systems, self.quantities, self.ensemble, self.method, self.ftol) = (systems, quantities, ensemble, method, ftol)
        self.minStyle = minStyle
        let outlines = systems.map { SystemOutline(name: $0.name, cell: $0.cell, target: .none) }
        if let problem = SystemOutline.firstProblem(outlines, quantities: quantities, requireUse: false) {
            throw CampaignError.uqOutline(problem, quantity: problem.quantityIndex.map { quantities[$0].name })
        }
        for system in systems where system.energy.parameterCount != ensemble.mean.count {
            throw CampaignError.ensembleWidth(ensembleParameters: ensemble.mean.count, system: system.name,
                                              systemParameters: system.energy.parameterCount,
                                              names: Array(system.energy.parameterNames.prefix(3)))
        }
    }

    public var points: [EnsemblePoint] {
        ensemble.lambdas.flatMap { lambda in ensemble.samples.indices.map { EnsemblePoint(sample: $0, lambda: lambda) } }
    }

    /// Every system relaxed with Θ̄ and differentiated there.
    public struct Reference {
        /// Per system; with `projected`, in the members' directions (φ = λ e_m for member m).
        public var derivatives: [String: MinimumDerivatives]
        /// The derivatives were taken along the M members' deviations only (M well below N_D).
        public var projected = false
        public var quantities: [String: Double]
        public var forceEvaluations: Int
        public var seconds: Double
        /// Per system, what its precon-lbfgs relaxation to the Θ̄ minimum measured: every truth
        /// relaxation, warm-started near that minimum, starts from it (the same in a resumed run,
        /// which relaxes the reference again first).
        public var relaxationScales: [String: PreconditionedLBFGS.Reuse] = [:]
    }

    /// The members' deviations from Θ̄ when differentiating along them alone is cheaper: M well
    /// below N_D (a quarter), none zero. nil: all N_D columns.
    var memberDirections: [[Double]]? {
        let deviations = ensemble.samples.map { zip($0, ensemble.mean).map { $0 - $1 } }
        guard 4 * deviations.count <= ensemble.mean.count, deviations.allSatisfy({ $0.contains { $0 != 0 } }) else { return nil }
        return deviations
    }

    public func reference(progress: @escaping (String) -> Void) throws -> Reference {
        let start = Date()
        var derivatives: [String: MinimumDerivatives] = [:]
        var scales: [String: PreconditionedLBFGS.Reuse] = [:]
        var evaluations = 0
        let directions = memberDirections
        for system in systems {
            let provider = system.energy.forceProvider
            let before = provider.allForceEvaluations
            try system.energy.setTheta(ensemble.mean)
            progress("uq: system \(system.name): relaxing with Θ̄ (cell \(system.cell.rawValue)) and differentiating"
                     + (directions.map { " along the \($0.count) members' deviations (not all \(ensemble.mean.count) parameters)" } ?? ""))
            let (relaxation, reuse) = try provider.relaxationKeepingScales(
                RelaxationSettings(cell: system.cell, ftol: ftol, minStyle: minStyle), label: "relax", progress: progress)
            scales[system.name] = reuse
            let differentiated: any ParameterDerivatives = directions.map {
                ProjectedParameters(system.energy, origin: ensemble.mean, directions: $0)
            } ?? system.energy
            derivatives[system.name] = try MinimumDerivatives.compute(differentiated, cell: system.cell, method: method,
                                                                      relaxation: relaxation, progress: progress)
            try system.energy.setTheta(ensemble.mean)
            evaluations += provider.allForceEvaluations - before
        }
        let energies = derivatives.mapValues(\.energy), volumes = derivatives.mapValues(\.volume)
        return Reference(derivatives: derivatives, projected: directions != nil,
                         quantities: Dictionary(uniqueKeysWithValues: quantities.map { ($0.name, $0.value(energies: energies, volumes: volumes)) }),
                         forceEvaluations: evaluations, seconds: Date().timeIntervalSince(start), relaxationScales: scales)
    }

    /// The parameter change of `point` in the derivatives' parameters: λ e_m along the members'
    /// directions, or Θ(λ, m) − Θ̄.
    func change(_ point: EnsemblePoint, reference: Reference) -> [Double] {
        guard reference.projected else {
            return zip(ensemble.theta(sample: point.sample, lambda: point.lambda), ensemble.mean).map { $0 - $1 }
        }
        return ensemble.samples.indices.map { $0 == point.sample ? point.lambda : 0 }
    }

    /// Quantity → level → predicted value at `point`: linear algebra on the stored derivatives only.
    public func predict(_ point: EnsemblePoint, reference: Reference) -> [String: [ExpansionLevel: Double]] {
        var energies: [ExpansionLevel: [String: Double]] = [:], volumes: [ExpansionLevel: [String: Double]] = [:]
        for system in systems {
            let derivatives = reference.derivatives[system.name]!
            for prediction in derivatives.predict(change(point, reference: reference)) {
                energies[prediction.level, default: [:]][system.name] = prediction.energy
                volumes[prediction.level, default: [:]][system.name] = prediction.volume
            }
        }
        return Dictionary(uniqueKeysWithValues: quantities.map { quantity in
            (quantity.name, Dictionary(uniqueKeysWithValues: ExpansionLevel.allCases.map { level in
                (level, quantity.value(energies: energies[level]!, volumes: volumes[level]!))
            }))
        })
    }

    /// Every member's quantities at every level beside their indicator and true value, where known.
    public func rows(reference: Reference, indicators: [EnsemblePoint: [String: [ExpansionLevel: Double]]],
                     truths: [EnsemblePoint: TruthOutcome]) -> [UncertaintyRow] {
        var rows: [UncertaintyRow] = []
        for point in points {
            let predicted = predict(point, reference: reference)
            let truth = truths[point]
            for quantity in quantities {
                for level in ExpansionLevel.allCases {
                    rows.append(UncertaintyRow(point: point, quantity: quantity.name, level: level,
                                               predicted: predicted[quantity.name]![level]!,
                                               truth: truth?.quantities[quantity.name],
                                               indicator: indicators[point]?[quantity.name]?[level], excluded: truth?.failure))
                }
            }
        }
        return rows
    }

    /// An error indicator per quantity and level at `point`, from two force evaluations per
    /// distinct predicted structure: relaxing the predicted structure under the member's own
    /// potential would lower its energy by about ½ F·H⁻¹F (estimated along the residual force F
    /// with one Hessian product) and move the cell by −K⁻¹ ∂U/∂ε (K the relaxed strain curvature
    /// at Θ̄). The indicator is |quantity after that one-step correction − quantity predicted|,
    /// an estimate of the expansion's own error; NaN when the curvature along F is not positive
    /// (the member may be unstable there) or the force provider cannot evaluate the predicted
    /// structure.
    public func indicator(_ point: EnsemblePoint, reference: Reference) throws -> (values: [String: [ExpansionLevel: Double]], forceEvaluations: Int) {
        let theta = ensemble.theta(sample: point.sample, lambda: point.lambda)
        var corrected: [ExpansionLevel: (energies: [String: Double], volumes: [String: Double])] = [:]
        var predicted: [ExpansionLevel: (energies: [String: Double], volumes: [String: Double])] = [:]
        var evaluations = 0
        for system in systems {
            let derivatives = reference.derivatives[system.name]!
            let energy = system.energy
            try energy.setTheta(theta)
            defer { try? energy.setTheta(ensemble.mean) }
            var done: [[Double]: (Double, Double)] = [:]
            for prediction in derivatives.predict(change(point, reference: reference)) {
                predicted[prediction.level, default: ([:], [:])].energies[system.name] = prediction.energy
                predicted[prediction.level, default: ([:], [:])].volumes[system.name] = prediction.volume
                let key = prediction.positions + prediction.strain
                if done[key] == nil {
                    // A member whose predicted structure the force provider cannot even evaluate (LAMMPS:
                    // atoms lost, a neighbour list overflowing at large λ) gets no indicator; the others go on.
                    done[key] = (try? oneStepCorrection(derivatives.predictedStructure(prediction), energy: energy,
                                                        derivatives: derivatives)) ?? (.nan, .nan)
                    evaluations += 2
                }
                corrected[prediction.level, default: ([:], [:])].energies[system.name] = done[key]!.0
                corrected[prediction.level, default: ([:], [:])].volumes[system.name] = done[key]!.1
            }
            try energy.forceProvider.restore(derivatives.structure)
        }
        let values = Dictionary(uniqueKeysWithValues: quantities.map { quantity in
            (quantity.name, Dictionary(uniqueKeysWithValues: ExpansionLevel.allCases.map { level in
                (level, abs(quantity.value(energies: corrected[level]!.energies, volumes: corrected[level]!.volumes)
                    - quantity.value(energies: predicted[level]!.energies, volumes: predicted[level]!.volumes)))
            }))
        })
        return (values, evaluations)
    }

    /// Energy and volume after one quadratic-model relaxation step from `structure` (2 force evaluations).
    private func oneStepCorrection(_ structure: Structure, energy: any ParameterDerivatives,
                                   derivatives: MinimumDerivatives) throws -> (Double, Double) {
        let provider = energy.forceProvider
        try provider.restore(structure)
        var strainGradient: [Double] = []
        let generators = derivatives.strain?.generators ?? []
        if !generators.isEmpty {
            // ∂U/∂e_g = −Σ_ab W_ab (G_g)_ab at zero strain (the virial evaluates energy and forces too).
            let w = try provider.virial()
            strainGradient = generators.map { g in -zip(g, Voigt.entries).reduce(0.0) { $0 + $1.0 * w[$1.1.0][$1.1.1] } }
        } else {
            try provider.evaluate()
        }
        let e = try provider.energy()
        let at = try provider.structure().positions
        let raw = try provider.forces()
        let f = removingTranslations(raw, axes: derivatives.translationAxes)
        let size = norm(f)
        var drop = 0.0
        if size > 0 {
            let largest = stride(from: 0, to: f.count, by: 3).map { norm(Array(f[$0..<$0 + 3])) }.max()!
            let step = 1e-5 / largest  // atoms move at most 1e-5 Å: the curvature to ~1e-5, ample for an indicator
            let displaced = try provider.forces(at: zip(at, f).map { $0 + step * $1 })
            let fHf = -dot(f, zip(displaced, raw).map { $0 - $1 }) / step
            // No positive curvature along F: the quadratic model has no minimum there.
            guard fHf > 0 else { return (.nan, .nan) }
            drop = 0.5 * size * size * size * size / fHf
        }
        var volume = structure.box.volume
        if let strain = derivatives.strain, !strainGradient.isEmpty {
            let s = Matrix(rows: strainGradient.count, columns: 1, storage: strainGradient)
            let shift = try LAPACK.solveSymmetric(strain.relaxedCurvature, s).storage  // K⁻¹ s
            drop += 0.5 * dot(strainGradient, shift)
            let trace = generators.map { $0[0] + $0[1] + $0[2] }
            volume -= structure.box.volume * dot(trace, shift)
        }
        return (e - drop, volume)
    }
}
