import Atomistics
import Foundation
import ImplicitDerivative
import LinearAlgebra
import Potentials

/// Predict, and optionally validate: the Taylor expansion of a minimum for new parameters, beside
/// a true LAMMPS relaxation with them. `fit` and `uq` reuse it for their truth runs.
public struct PredictionWorkflow {
    public var derivatives: MinimumDerivatives
    public var change: ParameterChange

    public init(derivatives: MinimumDerivatives, change: ParameterChange) {
        self.derivatives = derivatives
        self.change = change
    }

    /// Refuses a saved derivative that belongs to another system or potential than `energy`.
    public static func requireCompatible(_ saved: MinimumDerivatives, with energy: any ParametrizedEnergy,
                                         savedIn directory: String) throws {
        guard energy.theta == saved.theta, energy.atomCount == saved.structure.count else {
            throw DerivativeError.unusableSavedDerivative("""
                the derivative in \(directory) was computed for another system or reference potential \
                (\(saved.structure.count) atoms, \(saved.theta.count) parameters); rerun \(setting: .derivativeStep) for this input
                """)
        }
        let types = try energy.simulation.structure().types
        if let atom = types.indices.first(where: { types[$0] != saved.structure.types[$0] }) {
            throw DerivativeError.unusableSavedDerivative("""
                the derivative in \(directory) was computed for another system: atom \(atom + 1) (atom-ID order) is of \
                type \(saved.structure.types[atom]) there and of type \(types[atom]) in this input; rerun \(setting: .derivativeStep) for this input
                """)
        }
        let changes = SNAPPotential.differences(saved.hyperparameters, energy.summary.hyperparameters)
        if !saved.hyperparameters.isEmpty, !changes.isEmpty {
            throw DerivativeError.unusableSavedDerivative("""
                the derivative in \(directory) was computed with other potential hyperparameters:
                \(changes.map { "  \($0)" }.joined(separator: "\n"))
                """)
        }
    }

    public var deltaTheta: [Double] { zip(change.theta, derivatives.theta).map { $0 - $1 } }

    /// |δΘ| / |Θ|.
    public var relativePerturbation: Double {
        norm(deltaTheta) / max(norm(derivatives.theta), .leastNonzeroMagnitude)
    }

    /// Predictions at every level; with `truth`, errors against it.
    public func report(input: String, perturbed: String, truth: TrueMinimum?) -> (PredictionReport, [Prediction]) {
        let predictions = derivatives.predict(deltaTheta, energyShift: change.energyShift)
        let rows = predictions.map { PredictionRow(prediction: $0, truth: truth, derivatives: derivatives) }
        let report = PredictionReport(
            input: input, perturbed: perturbed,
            reference: ReferenceState(energy: derivatives.energy, volume: derivatives.volume),
            relativePerturbation: relativePerturbation, energyShift: change.energyShift, cell: derivatives.cell,
            minimumWarnings: derivatives.check.warnings, levels: rows,
            truth: truth.map { TruthSummary(energy: $0.energy, volume: $0.volume, strain: $0.strain,
                                            converged: $0.relaxation.converged, shortfall: $0.relaxation.shortfall) })
        return (report, predictions)
    }
}

public struct ReferenceState: Codable, Sendable {
    public var energy: Double
    public var volume: Double
}

public struct TruthSummary: Codable, Sendable {
    public var energy: Double
    public var volume: Double
    public var strain: [Double]
    public var converged: Bool
    public var shortfall: String?
}

public struct PredictionRow: Codable, Sendable {
    public var level: ExpansionLevel
    public var energyChange: Double
    public var energy: Double
    public var volume: Double
    public var strain: [Double]
    public var energyError: Double?
    public var volumeError: Double?
    /// Supplement eq. 40.
    public var positionError: Double?

    init(prediction: Prediction, truth: TrueMinimum?, derivatives: MinimumDerivatives) {
        level = prediction.level
        energyChange = prediction.energyChange
        energy = prediction.energy
        volume = prediction.volume
        strain = prediction.strain
        if let truth {
            energyError = abs(prediction.energy - truth.energy)
            volumeError = abs(prediction.volume - truth.volume)
            positionError = derivatives.relativePositionError(predicted: prediction.positions, truth: truth.positions)
        }
    }
}

public struct PredictionReport: Codable, Sendable {
    public var input: String
    public var perturbed: String
    public var reference: ReferenceState
    public var relativePerturbation: Double
    /// Exact energy change from changes that move no atom (SNAP beta0), in every level's energy.
    public var energyShift: Double
    public var cell: CellRelaxation
    /// Why the reference X* is not a trustworthy minimum (empty when it is).
    public var minimumWarnings: [String]
    public var levels: [PredictionRow]
    public var truth: TruthSummary?

    /// summary.json, predictions.csv, positions_<level>.npy and true_positions.npy.
    public func write(predictions: [Prediction], truth: TrueMinimum?, natoms: Int, phases: Phases, to directory: URL) throws {
        for prediction in predictions {
            let name = prediction.level.rawValue.replacingOccurrences(of: "+", with: "")
            try NPY.write(prediction.positions, shape: [natoms, 3], to: directory.appendingPathComponent("positions_\(name).npy"))
        }
        if let truth {
            try NPY.write(truth.positions, shape: [natoms, 3], to: directory.appendingPathComponent("true_positions.npy"))
        }
        var csv = ["level,energy_change,energy,volume,strain,energy_error,volume_error,position_error"]
        for row in levels {
            csv.append([row.level.rawValue, "\(row.energyChange)", "\(row.energy)", "\(row.volume)",
                        row.strain.map { "\($0)" }.joined(separator: ";"), row.energyError.map { "\($0)" } ?? "",
                        row.volumeError.map { "\($0)" } ?? "", row.positionError.map { "\($0)" } ?? ""].joined(separator: ","))
        }
        try Files.write(csv.joined(separator: "\n") + "\n", to: directory.appendingPathComponent("predictions.csv"))
        try Files.writeJSON(PhasedSummary(self, phases: phases), to: directory.appendingPathComponent("summary.json"))
    }

    /// The table the command prints.
    public var table: String {
        var lines = [String(format: "Reference minimum: E = %.6f eV, V = %.4f Å³; perturbation |δΘ|/|Θ| = %.3g",
                            reference.energy, reference.volume, relativePerturbation)]
        let header = "level   ΔE predicted (eV)   V predicted (Å³)   strain        "
        lines.append(header + (truth == nil ? "" : "|ΔE error| (eV)   |ΔV error| (Å³)   position error"))
        for row in levels {
            var line = row.level.rawValue.padding(toLength: 8, withPad: " ", startingAt: 0)
                + String(format: "%17.8f   %16.6f   ", row.energyChange, row.volume)
                + (row.strain.isEmpty ? "0" : row.strain.map { String(format: "%.3e", $0) }.joined(separator: " "))
                    .padding(toLength: 14, withPad: " ", startingAt: 0)
            if let energyError = row.energyError, let volumeError = row.volumeError, let positionError = row.positionError {
                line += String(format: "%15.3e   %15.3e   %14.3e", energyError, volumeError, positionError)
            }
            lines.append(line)
        }
        if let truth {
            lines.append("true    " + String(format: "%17.8f   %16.6f   ", truth.energy - reference.energy, truth.volume)
                         + (truth.strain.isEmpty ? "0" : truth.strain.map { String(format: "%.3e", $0) }.joined(separator: " "))
                         + "   (LAMMPS relaxation with the perturbed potential)")
        }
        return lines.joined(separator: "\n")
    }
}
