import Atomistics
import Foundation
import ImplicitDerivative
import LinearAlgebra
import Potentials

extension UncertaintyCampaign {
    /// True relaxations (LAMMPS, or the reference model) of every system with Θ(λ, m), from the Θ̄
    /// minima, each checked: converged, still the same structure (no atom moved more than half a
    /// nearest-neighbour distance beyond the homogeneous strain), positive curvature (Lanczos),
    /// and for systems that ask for it positive-definite relaxed-ion elastic constants. A failed
    /// member is reported with the reason, never used.
    public func truth(_ point: EnsemblePoint, reference: Reference, progress: @escaping (String) -> Void = { _ in }) -> TruthOutcome {
        let start = Date()
        let theta = ensemble.theta(sample: point.sample, lambda: point.lambda)
        var outcome = TruthOutcome(point: point, energies: [:], volumes: [:], quantities: [:], failure: nil,
                                   forceEvaluations: 0, seconds: 0)
        for system in systems {
            let provider = system.energy.forceProvider
            let before = provider.allForceEvaluations
            let derivatives = reference.derivatives[system.name]!
            do {
                // From the state the reference structure alone determines (not the box style or
                // timestep the previous member left): a resumed campaign repeats the uninterrupted one.
                try provider.reset(to: derivatives.structure)
                // A warm start: the h+ih prediction for this member, nearer its minimum than Θ̄'s is.
                let start = derivatives.warmStart(for: change(point, reference: reference))
                if let failure = try relaxAndCheck(system, theta: theta, derivatives: derivatives, start: start,
                                                   reusing: reference.relaxationScales[system.name], into: &outcome) {
                    outcome.failure = "system \(system.name): \(failure)"
                }
            } catch {
                outcome.failure = "system \(system.name): the relaxation failed: \(error)"
            }
            try? system.energy.setTheta(ensemble.mean)
            try? provider.restore(derivatives.structure)
            outcome.systemEvaluations[system.name] = provider.allForceEvaluations - before
            outcome.forceEvaluations += outcome.systemEvaluations[system.name]!
            if outcome.failure != nil { break }
        }
        if outcome.failure == nil {
            for quantity in quantities {
                outcome.quantities[quantity.name] = quantity.value(energies: outcome.energies, volumes: outcome.volumes)
            }
        }
        outcome.seconds = Date().timeIntervalSince(start)
        return outcome
    }

    /// Relaxes one system with `theta`, records its energy and volume, and returns why the
    /// result is not a usable minimum (nil when it is).
    private func relaxAndCheck(_ system: UncertaintySystem, theta: [Double], derivatives: MinimumDerivatives,
                               start: Structure?, reusing: PreconditionedLBFGS.Reuse?,
                               into outcome: inout TruthOutcome) throws -> String? {
        let minimum = try TrueMinimum.relax(system.energy, theta: theta, from: derivatives, start: start, ftol: ftol,
                                            minStyle: minStyle, reusing: reusing)
        outcome.energies[system.name] = minimum.energy
        outcome.volumes[system.name] = minimum.volume
        if let shortfall = minimum.relaxation.shortfall { return "the relaxation did not converge (\(shortfall))" }
        if let moved = structuralChange(minimum, derivatives: derivatives) { return moved }
        try system.energy.setTheta(theta)
        try system.energy.forceProvider.evaluate()
        let hessian = try Hessian(system: system.energy.forceProvider)
        let curvature = try hessian.curvatureCheck()
        if curvature.isNegative || curvature.vanishes { return "not a minimum: \(curvature.summary)" }
        if system.checkElastic {
            try hessian.restoreMinimum()
            let constants = try ElasticConstants.measure(system.energy, hessian: hessian, method: method)
            var mandel = Matrix(rows: ElasticConstants.mandel(constants.relaxedIon))
            mandel.symmetrize()
            let lowest = try LAPACK.symmetricEigen(mandel).values[0]
            if !(lowest > 0) {
                return String(format: "elastically unstable: the relaxed-ion elastic tensor has the eigenvalue %.4g GPa (Mandel)", lowest)
            }
        }
        return nil
    }

    /// "atom i moved d Å" when some atom of the true minimum is more than half a nearest-neighbour
    /// distance from where the homogeneously strained Θ̄ minimum puts it.
    private func structuralChange(_ minimum: TrueMinimum, derivatives: MinimumDerivatives) -> String? {
        let reference = derivatives.structure
        let expected = derivatives.strained(reference.unwrappedPositions, by: minimum.strain)
        let shift = removingTranslations(zip(minimum.positions, expected).map { $0 - $1 }, axes: derivatives.translationAxes)
        let distances = stride(from: 0, to: shift.count, by: 3).map { norm(Array(shift[$0..<$0 + 3])) }
        let limit = 0.5 * reference.closePairs().typicalDistance
        guard let worst = distances.indices.max(by: { distances[$0] < distances[$1] }), distances[worst] > limit else { return nil }
        return String(format: "it left its structure: atom %d moved %.3g Å (more than half the nearest-neighbour distance)",
                      worst + 1, distances[worst])
    }
}
