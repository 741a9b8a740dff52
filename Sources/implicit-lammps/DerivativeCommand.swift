import ArgumentParser
import Atomistics
import Foundation
import Workflows
import ImplicitDerivative
import LAMMPSLibrary
import Potentials

struct DerivativeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "derivative",
        abstract: "Compute the implicit derivative ∇Θ X* (and strain derivatives) of a relaxed structure.",
        discussion: """
            Relaxes the input's system, then solves H·∇Θ X* = −∇²ΘX U for every parameter in Θ: the SNAP \
            coefficients (beta0 excluded; analytic), or LAMMPS variables (--parameters) or fields of an .sw/.tersoff \
            file (--vary) for any other potential (central differences in Θ). With --box iso/aniso it also computes \
            the strain derivatives (h and h+ih). \
            Writes to DIR: dX_dTheta.npy (N_D, N, 3), dU_dTheta.npy, dStrain_dTheta.npy, dStrain_dTheta_h.npy, \
            energy_curvature.npy, positions.npy, types.npy, theta.npy, minimum.json, summary.json and log.lammps.
            """)

    @OptionGroup var system: SystemOptions
    @Option(help: ArgumentHelp("""
        Split the MPI job into N partitions, each a LAMMPS instance on its share of the ranks, computing every N-th \
        Hessian product of each shared-basis sweep and solving every N-th CG column (sparse method); N must divide \
        the number of processes.
        """, valueName: "N"))
    var partitions: Int?
    @OptionGroup var potential: PotentialOptions
    @OptionGroup var minimum: MinimumOptions
    @OptionGroup var output: OutputOptions
    @OptionGroup var lammpsOptions: LammpsOptions

    func validate() throws {
        if let partitions {
            guard partitions >= 1 else { throw ValidationError("--partitions must be at least 1, got \(partitions)") }
            guard minimum.resolvedMethod == .sparse else {
                throw ValidationError("""
                    --partitions shares out the sparse method's Hessian products and CG columns; it does not apply to \
                    --method \(minimum.resolvedMethod.rawValue)
                    """)
            }
        }
    }

    func run() throws {
        try runWritingOutputs(output) { run in
            let phases = Phases()
            let input = try phases.measure("set_up") { try self.system.inputPath(in: run, potential: potential) }
            let split = try partitions.map { try Partitions(count: $0) }
            let (system, relaxation, _) = try relaxedSystem(input: input, run: run, potential: potential, cell: minimum.cell,
                                                         minimum: minimum, lammps: lammpsOptions, partitions: split, phases: phases)
            // Long per-parameter runs of the energy method resume from the checkpoint after an interruption.
            let method = minimum.derivativeMethod(checkpoint: run.url("checkpoint"))
            let derivatives = try MinimumDerivatives.compute(system, cell: minimum.cell, method: method, checks: minimum.checks,
                                                             relaxation: relaxation, phases: phases, progress: progress)
            warnIndependent(derivatives)
            let derivative = derivatives.positionDerivative
            let summary = DerivativeSummary(
                input: system.simulation.input.path, potential: system.summary,
                natoms: system.atomCount, parameters: system.parameterCount, energy: derivatives.energy,
                volume: derivatives.volume, cell: derivatives.structure.box.cell, box: minimum.cell,
                relaxation: relaxation, minimumCheck: derivatives.check, method: method.name, methodSettings: derivative.settings,
                independentParameters: derivatives.independentParameters,
                parameterResiduals: derivative.residuals, parameterIterations: derivative.iterations,
                forceEvaluations: derivative.forceEvaluations,
                forceEvaluationsPerParameter: Double(derivative.forceEvaluations) / Double(max(system.parameterCount, 1)),
                strainCurvature: derivatives.strain?.curvature.storage,
                relaxedStrainCurvature: derivatives.strain?.relaxedCurvature.storage,
                mpiRanks: system.simulation.lammps.mpiSize * (system.simulation.partitions?.count ?? 1))
            if system.simulation.isRoot {
                try phases.measure("writing") {
                    try derivatives.write(to: run.staging)
                    try writeWarnings(derivatives.check, to: run)
                }
                try Files.writeJSON(PhasedSummary(summary, phases: phases), to: run.url("summary.json"))
            }
            progress(phases.summaryLine)
            let worst = derivative.residuals.max() ?? 0
            progress("derivative: \(method.name), \(derivative.forceEvaluations) \(method.costUnit)"
                     + String(format: " (%.1f per parameter), %.1f s, largest residual %.1e; wrote %@",
                              summary.forceEvaluationsPerParameter, derivative.seconds, worst, run.destination.path))
            system.simulation.lammps.close()
            return nil
        }
    }
}

/// A parameter the energy does not depend on has zero derivatives everywhere: almost always a
/// misnamed or unused parameter, so it is named.
func warnIndependent(_ derivatives: MinimumDerivatives) {
    guard !derivatives.independentParameters.isEmpty else { return }
    progress("warning: the energy does not depend on \(derivatives.independentParameters.joined(separator: ", ")) "
             + "(∇Θ U and ∇²ΘX U are exactly zero): is it used by the potential's lines or present in this system?")
}

/// Marks every output of a run whose X* is not a trustworthy minimum: WARNING.txt beside the
/// files (summary.json and minimum.json carry the same warnings), and a line on the terminal.
func writeWarnings(_ check: MinimumCheck, to run: RunDirectory) throws {
    guard !check.isMinimum else { return }
    let text = (["WARNING: these results were computed at a structure that is not a trustworthy minimum "
                 + "(--allow-non-minimum):"] + check.warnings.map { "  - \($0)" }).joined(separator: "\n") + "\n"
    progress(text.trimmingCharacters(in: .newlines))
    try Files.write(text, to: run.url("WARNING.txt"))
}

struct DerivativeSummary: Encodable {
    var input: String
    var potential: PotentialDescription
    var natoms: Int
    var parameters: Int
    var energy: Double
    var volume: Double
    var cell: [[Double]]
    var box: CellRelaxation
    var relaxation: RelaxationResult
    var minimumCheck: MinimumCheck
    var method: String
    var methodSettings: [String: String]
    var independentParameters: [String]
    var parameterResiduals: [Double]
    var parameterIterations: [Int]
    var forceEvaluations: Int
    var forceEvaluationsPerParameter: Double
    var strainCurvature: [Double]?
    var relaxedStrainCurvature: [Double]?
    var mpiRanks: Int
}
