import ArgumentParser
import Atomistics
import Foundation
import ImplicitDerivative
import LAMMPSLibrary
import Potentials

struct Predict: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Predict the relaxed energy, volume, strain and positions for a perturbed SNAP potential.",
        discussion: """
            Taylor-expands the minimum in δΘ = Θ(perturbed) − Θ(reference) at the levels c, h, ih and h+ih. \
            The derivative is computed here, or read from a `derivative --out` directory with --derivative. \
            With --validate the system is also relaxed with the perturbed potential in LAMMPS and the true \
            values and errors are reported beside the predictions. Writes summary.json, predictions.csv, \
            positions_<level>.npy (and true_positions.npy) to DIR.
            """)

    @OptionGroup var system: SystemOptions
    @OptionGroup var potential: PotentialOptions
    @Option(help: ArgumentHelp("The perturbed SNAP coefficients.", valueName: "NEW.snapcoeff")) var perturbed: String
    @Option(help: "Reuse the derivative saved by `derivative --out DIR` instead of computing it.") var derivative: String?
    @Flag(name: .customLong("validate"),
          help: "Also relax with the perturbed potential in LAMMPS and report true values and errors.")
    var relaxToValidate = false
    @OptionGroup var minimum: MinimumOptions
    @OptionGroup var output: OutputOptions
    @OptionGroup var lammpsOptions: LammpsOptions

    func validate() throws {
        if derivative != nil, !minimum.methodOptionsGiven.isEmpty {
            throw ValidationError("""
                \(minimum.methodOptionsGiven.joined(separator: ", ")) apply to computing a derivative; with --derivative \
                the saved one is used as it is
                """)
        }
    }

    func run() throws {
        try runWritingOutputs(output) { run in
            let perturbedURL = URL(fileURLWithPath: perturbed).standardizedFileURL
            let newCoefficients = try SNAPCoefficients(contentsOf: perturbedURL)
            let input = try self.system.inputPath(in: run, potential: potential)
            let (system, derivatives) = try referenceDerivatives(input: input, run: run)
            let change = try system.potential.perturbation(to: newCoefficients, file: perturbedURL.path)
            if !change.unused.isEmpty {
                progress("note: \(perturbedURL.lastPathComponent) also defines \(change.unused.joined(separator: ", ")), "
                         + "which this system's potential does not use")
            }
            let energyShift = try beta0EnergyShift(change.beta0Change, system: system)
            let deltaTheta = change.deltaTheta
            let size = norm(deltaTheta) / max(norm(derivatives.theta), .leastNonzeroMagnitude)
            progress(String(format: "predict: |δΘ|/|Θ| = %.3g over %d parameters", size, deltaTheta.count)
                     + (energyShift == 0 ? "" : String(format: "; beta0 changes shift the energy by %.8g eV exactly", energyShift)))
            let predictions = derivatives.predict(deltaTheta, energyShift: energyShift)
            var truth: Truth?
            if relaxToValidate {
                truth = try relaxWithPerturbedPotential(system, derivatives, newCoefficients, in: run)
            }
            let rows = predictions.map { Row(prediction: $0, truth: truth, derivatives: derivatives) }
            let report = PredictionReport(input: system.simulation.input.path, perturbed: perturbedURL.path,
                                          reference: ReferenceState(energy: derivatives.energy, volume: derivatives.volume),
                                          relativePerturbation: size, energyShift: energyShift, cell: derivatives.cell,
                                          minimumWarnings: derivatives.check.warnings, levels: rows,
                                          truth: truth.map { TruthSummary(energy: $0.energy, volume: $0.volume, strain: $0.strain,
                                                                          converged: $0.relaxation.converged,
                                                                          shortfall: $0.relaxation.shortfall) })
            if system.simulation.isRoot {
                try write(report, predictions: predictions, truth: truth, natoms: derivatives.structure.count, to: run.staging)
                try writeWarnings(derivatives.check, to: run)
                print(table(report))
            }
            system.lammps.close()
            return truth?.relaxation.shortfall.map {
                "the validation relaxation with the perturbed potential did not converge: \($0). The true values "
                    + "and errors in \(run.destination.path) are marked \"converged\": false."
            }
        }
    }

    /// β0 is a constant energy per atom of its element: its change shifts the energy exactly.
    private func beta0EnergyShift(_ changes: [String: Double], system: SNAPSystem) throws -> Double {
        guard !changes.isEmpty else { return 0 }
        let types = try system.lammps.gatherIntegers("type")
        return types.reduce(0) { total, type in
            total + (system.potential.typeElements[Int(type) - 1].flatMap { changes[$0] } ?? 0)
        }
    }

    private func referenceDerivatives(input: String, run: RunDirectory) throws -> (SNAPSystem, MinimumDerivatives) {
        if let derivative {
            let saved = try MinimumDerivatives(contentsOf: URL(fileURLWithPath: derivative))
            if let box = minimum.box, box != saved.cell {
                throw ValidationError("""
                    --box \(box.rawValue) does not apply: the derivative in \(derivative) was computed with --box \
                    \(saved.cell.rawValue); rerun `derivative --box \(box.rawValue)` or drop --box
                    """)
            }
            let system = try snapSystem(input: input, run: run, potential: potential, lammps: lammpsOptions)
            guard system.potential.theta == saved.theta, system.atomCount == saved.structure.count else {
                throw ValidationError("""
                    the derivative in \(derivative) was computed for another system or reference potential \
                    (\(saved.structure.count) atoms, \(saved.theta.count) parameters); rerun `derivative` for this input
                    """)
            }
            let changes = SNAPPotential.differences(saved.hyperparameters, system.potential.hyperparameters)
            if !saved.hyperparameters.isEmpty, !changes.isEmpty {
                throw ValidationError("the derivative in \(derivative) was computed with other SNAP hyperparameters:\n"
                                      + changes.map { "  \($0)" }.joined(separator: "\n"))
            }
            progress("predict: reusing the derivative in \(derivative) (cell \(saved.cell.rawValue))")
            if !saved.check.isMinimum {
                progress("warning: the derivative in \(derivative) was computed at a structure that is not a minimum")
            }
            return (system, saved)
        }
        let (system, relaxation) = try relaxedSystem(input: input, run: run, potential: potential, minimum: minimum,
                                                     lammps: lammpsOptions)
        let derivatives = try MinimumDerivatives.compute(system, cell: minimum.cell, settings: minimum.settings,
                                                         relaxation: relaxation, progress: progress)
        return (system, derivatives)
    }

    struct Truth {
        var energy: Double
        var volume: Double
        var strain: [Double]
        var positions: [Double]
        var relaxation: RelaxationResult
    }

    /// The independent check: a true LAMMPS relaxation with the perturbed potential from X*.
    private func relaxWithPerturbedPotential(_ system: SNAPSystem, _ derivatives: MinimumDerivatives,
                                             _ coefficients: SNAPCoefficients, in run: RunDirectory) throws -> Truth {
        // Written where the run's files go, under a name of this rank: the potential LAMMPS reads.
        let copy = run.url(".perturbed-\(system.lammps.mpiRank).snapcoeff")
        defer { try? FileManager.default.removeItem(at: copy) }
        try system.use(coefficients, writingTo: copy)
        try system.simulation.restore(derivatives.structure)
        progress("validate: relaxing with the perturbed potential (cell \(derivatives.cell.rawValue), ftol \(minimum.ftol))")
        let (result, _) = try system.simulation.relax(RelaxationSettings(cell: derivatives.cell, ftol: minimum.ftol),
                                                      label: "validate", progress: progress)
        let box = system.lammps.box(), reference = derivatives.structure.box
        let strain = StrainResponse.generators(for: derivatives.cell).map { generator -> Double in
            // Strain along the generator's first axis: cell lengths scale as 1 + ε.
            let axis = generator.firstIndex { $0 != 0 }!
            return (box.high[axis] - box.low[axis]) / (reference.high[axis] - reference.low[axis]) - 1
        }
        return Truth(energy: result.energy, volume: result.volume, strain: strain,
                     positions: try system.simulation.structure().unwrappedPositions, relaxation: result)
    }

    private func write(_ report: PredictionReport, predictions: [Prediction], truth: Truth?, natoms: Int, to directory: URL) throws {
        try Files.writeJSON(report, to: directory.appendingPathComponent("summary.json"))
        for prediction in predictions {
            let name = prediction.level.rawValue.replacingOccurrences(of: "+", with: "")
            try NPY.write(prediction.positions, shape: [natoms, 3], to: directory.appendingPathComponent("positions_\(name).npy"))
        }
        if let truth {
            try NPY.write(truth.positions, shape: [natoms, 3], to: directory.appendingPathComponent("true_positions.npy"))
        }
        var csv = ["level,energy_change,energy,volume,strain,energy_error,volume_error,position_error"]
        for row in report.levels {
            csv.append([row.level.rawValue, "\(row.energyChange)", "\(row.energy)", "\(row.volume)",
                        row.strain.map { "\($0)" }.joined(separator: ";"), row.energyError.map { "\($0)" } ?? "",
                        row.volumeError.map { "\($0)" } ?? "", row.positionError.map { "\($0)" } ?? ""].joined(separator: ","))
        }
        try Files.write(csv.joined(separator: "\n") + "\n", to: directory.appendingPathComponent("predictions.csv"))
    }

    private func table(_ report: PredictionReport) -> String {
        var lines = [String(format: "Reference minimum: E = %.6f eV, V = %.4f Å³; perturbation |δΘ|/|Θ| = %.3g",
                            report.reference.energy, report.reference.volume, report.relativePerturbation)]
        let header = "level   ΔE predicted (eV)   V predicted (Å³)   strain        "
        lines.append(header + (report.truth == nil ? "" : "|ΔE error| (eV)   |ΔV error| (Å³)   position error"))
        for row in report.levels {
            var line = row.level.rawValue.padding(toLength: 8, withPad: " ", startingAt: 0)
                + String(format: "%17.8f   %16.6f   ", row.energyChange, row.volume)
                + (row.strain.isEmpty ? "0" : row.strain.map { String(format: "%.3e", $0) }.joined(separator: " "))
                    .padding(toLength: 14, withPad: " ", startingAt: 0)
            if let energyError = row.energyError, let volumeError = row.volumeError, let positionError = row.positionError {
                line += String(format: "%15.3e   %15.3e   %14.3e", energyError, volumeError, positionError)
            }
            lines.append(line)
        }
        if let truth = report.truth {
            lines.append("true    " + String(format: "%17.8f   %16.6f   ", truth.energy - report.reference.energy, truth.volume)
                         + (truth.strain.isEmpty ? "0" : truth.strain.map { String(format: "%.3e", $0) }.joined(separator: " "))
                         + "   (LAMMPS relaxation with the perturbed potential)")
        }
        return lines.joined(separator: "\n")
    }
}

private func norm(_ v: [Double]) -> Double { v.reduce(0) { $0 + $1 * $1 }.squareRoot() }

struct ReferenceState: Encodable {
    var energy: Double
    var volume: Double
}

struct TruthSummary: Encodable {
    var energy: Double
    var volume: Double
    var strain: [Double]
    var converged: Bool
    var shortfall: String?
}

struct Row: Encodable {
    var level: ExpansionLevel
    var energyChange: Double
    var energy: Double
    var volume: Double
    var strain: [Double]
    var energyError: Double?
    var volumeError: Double?
    /// Supplement eq. 40.
    var positionError: Double?

    init(prediction: Prediction, truth: Predict.Truth?, derivatives: MinimumDerivatives) {
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

struct PredictionReport: Encodable {
    var input: String
    var perturbed: String
    var reference: ReferenceState
    var relativePerturbation: Double
    /// Exact energy change from beta0 changes (included in every level's energy).
    var energyShift: Double
    var cell: CellRelaxation
    /// Why the reference X* is not a trustworthy minimum (empty when it is).
    var minimumWarnings: [String]
    var levels: [Row]
    var truth: TruthSummary?
}
