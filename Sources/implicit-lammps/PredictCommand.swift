import ArgumentParser
import Atomistics
import Foundation
import ImplicitDerivative
import LAMMPSLibrary
import Potentials
import Workflows

struct PredictCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "predict",
        abstract: "Predict the relaxed energy, volume, strain and positions for changed potential parameters.",
        discussion: """
            Taylor-expands the minimum in δΘ = Θ(perturbed) − Θ(reference) at the levels c, h, ih and h+ih. \
            The perturbed potential is a file of the potential's kind (a .snapcoeff; the .sw/.tersoff file \
            with --vary; `variable NAME equal VALUE` lines with --parameters) or NAME=VALUE,… assignments. \
            The derivative is computed here, or read from a `derivative --out` directory with --derivative. \
            With --validate the system is also relaxed with the perturbed potential in LAMMPS and the true \
            values and errors are reported beside the predictions. Writes summary.json, predictions.csv, \
            positions_<level>.npy (and true_positions.npy) to DIR.
            """)

    @OptionGroup var system: SystemOptions
    @OptionGroup var potential: PotentialOptions
    @Option(help: ArgumentHelp("The perturbed potential: a file of the potential's kind, or NAME=VALUE,… assignments.",
                               valueName: "FILE|NAME=VALUE,…"))
    var perturbed: String
    @Option(help: "Reuse the derivative saved by `derivative --out DIR` instead of computing it.") var derivative: String?
    @Flag(name: .customLong("validate"),
          help: "Also relax with the perturbed potential in LAMMPS and report true values and errors.")
    var relaxToValidate = false
    @OptionGroup var minimum: MinimumOptions
    @OptionGroup var output: OutputOptions
    @OptionGroup var lammpsOptions: LammpsOptions

    func validate() throws {
        if perturbed.trimmingCharacters(in: .whitespaces).isEmpty {
            throw ValidationError("--perturbed is empty: give the perturbed potential's file, or NAME=VALUE,… assignments")
        }
        if derivative != nil, !minimum.methodOptionsGiven.isEmpty {
            throw ValidationError("""
                \(minimum.methodOptionsGiven.joined(separator: ", ")) apply to computing a derivative; with --derivative \
                the saved one is used as it is
                """)
        }
    }

    func run() throws {
        try runWritingOutputs(output) { run in
            let phases = Phases()
            let input = try phases.measure("set_up") { try self.system.inputPath(in: run, potential: potential) }
            let (system, derivatives, scales) = try referenceDerivatives(input: input, run: run, phases: phases)
            let change = try parameterChange(for: system)
            change.notes.forEach { progress("note: \($0)") }
            let workflow = PredictionWorkflow(derivatives: derivatives, change: change)
            progress(String(format: "predict: |δΘ|/|Θ| = %.3g over %d parameters", workflow.relativePerturbation, change.theta.count)
                     + (change.energyShift == 0 ? "" : String(format: "; beta0 changes shift the energy by %.8g eV exactly", change.energyShift)))
            var truth: TrueMinimum?
            if relaxToValidate {
                progress("validate: relaxing with the perturbed potential (cell \(derivatives.cell.rawValue), ftol \(minimum.ftol))")
                // A warm start: the h+ih prediction, nearer the new minimum than X* is.
                let start = derivatives.warmStart(for: workflow.deltaTheta)
                truth = try phases.measure("validation") {
                    try TrueMinimum.relax(system, theta: change.theta, from: derivatives, start: start, ftol: minimum.ftol,
                                          minStyle: minimum.relaxStyle, reusing: scales, progress: progress)
                }
            }
            let (report, predictions) = workflow.report(input: system.simulation.input.path, perturbed: perturbed, truth: truth)
            if system.simulation.isRoot {
                try writeWarnings(derivatives.check, to: run)
                try report.write(predictions: predictions, truth: truth, natoms: derivatives.structure.count, phases: phases,
                                 to: run.staging)
                print(report.table)
            }
            system.simulation.lammps.close()
            return truth?.relaxation.shortfall.map {
                "the validation relaxation with the perturbed potential did not converge: \($0). The true values "
                    + "and errors in \(run.destination.path) are marked \"converged\": false."
            }
        }
    }

    /// A file of the potential's kind, or NAME=VALUE assignments (when no such file exists).
    private func parameterChange(for system: any ParametrizedEnergy) throws -> ParameterChange {
        let url = URL(fileURLWithPath: perturbed).standardizedFileURL
        if perturbed.contains("="), !FileManager.default.fileExists(atPath: url.path) {
            return try ParameterChange.assignments(perturbed, to: system)
        }
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isFolder) else { throw InputError.fileNotFound(perturbed) }
        guard !isFolder.boolValue else {
            throw InputError.invalid("--perturbed \(perturbed) is a folder; give the perturbed potential's file")
        }
        return try system.parameterChange(readingPotentialFrom: url)
    }

    /// The system, its derivatives, and what a precon-lbfgs relaxation to X* measured (for the
    /// validation's warm start; nil with a saved derivative or LAMMPS's minimizer).
    private func referenceDerivatives(input: String, run: RunDirectory, phases: Phases) throws
        -> (any ParametrizedEnergy, MinimumDerivatives, PreconditionedLBFGS.Reuse?)
    {
        if let derivative {
            let saved = try MinimumDerivatives(contentsOf: URL(fileURLWithPath: derivative))
            if let box = minimum.box, box != saved.cell {
                throw InputError.invalid("""
                    --box \(box.rawValue) does not apply: the derivative in \(derivative) was computed with --box \
                    \(saved.cell.rawValue); rerun `derivative --box \(box.rawValue)` or drop --box
                    """)
            }
            let system = try phases.measure("set_up") {
                try parametrizedSystem(input: input, run: run, potential: potential, lammps: lammpsOptions)
            }
            phases.evaluationCount = { [provider = system.forceProvider] in provider.allForceEvaluations }
            try PredictionWorkflow.requireCompatible(saved, with: system, savedIn: derivative)
            progress("predict: reusing the derivative in \(derivative) (cell \(saved.cell.rawValue))")
            if !saved.check.isMinimum {
                progress("warning: the derivative in \(derivative) was computed at a structure that is not a minimum")
            }
            return (system, saved, nil)
        }
        let (system, relaxation, scales) = try relaxedSystem(input: input, run: run, potential: potential, cell: minimum.cell,
                                                     minimum: minimum, lammps: lammpsOptions, phases: phases)
        let derivatives = try MinimumDerivatives.compute(system, cell: minimum.cell, method: minimum.derivativeMethod(),
                                                         checks: minimum.checks, relaxation: relaxation, phases: phases,
                                                         progress: progress)
        warnIndependent(derivatives)
        return (system, derivatives, scales)
    }
}
