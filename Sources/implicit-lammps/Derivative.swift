import ArgumentParser
import Atomistics
import Foundation
import ImplicitDerivative
import LAMMPSLibrary

struct Derivative: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Compute the implicit derivative ∇Θ X* (and strain derivatives) of a relaxed structure.",
        discussion: """
            Relaxes the input's system, then solves H·∇Θ X* = −∇²ΘX U for every SNAP coefficient Θ \
            (beta0 excluded). With --box iso/aniso it also computes the strain derivatives (h and h+ih). \
            Writes to DIR: dX_dTheta.npy (N_D, N, 3), dU_dTheta.npy, dStrain_dTheta.npy, dStrain_dTheta_h.npy, \
            energy_curvature.npy, positions.npy, types.npy, theta.npy, minimum.json, summary.json and log.lammps.
            """)

    @OptionGroup var system: SystemOptions
    @OptionGroup var potential: PotentialOptions
    @OptionGroup var minimum: MinimumOptions
    @Option(help: "Output directory.") var out: String
    @OptionGroup var lammpsOptions: LammpsOptions

    func run() throws {
        try runReportingErrors {
            let outDirectory = URL(fileURLWithPath: out).standardizedFileURL
            try FileManager.default.createDirectory(at: outDirectory, withIntermediateDirectories: true)
            let started = Date()
            let input = try self.system.inputPath(out: outDirectory, potential: potential)
            let (system, relaxation) = try relaxedSystem(input: input, out: outDirectory, potential: potential,
                                                         minimum: minimum, lammps: lammpsOptions)
            let relaxSeconds = Date().timeIntervalSince(started)
            var settings = minimum.settings
            // Long per-parameter runs resume from here after an interruption.
            if minimum.method == .energy { settings.checkpoint = outDirectory.appendingPathComponent("checkpoint") }
            let derivatives = try MinimumDerivatives.compute(system, cell: minimum.box, settings: settings,
                                                             progress: progress)
            let derivative = derivatives.positionDerivative
            let summary = DerivativeSummary(
                input: system.simulation.input.path, coefficientFile: system.potential.coefficientFile.path,
                parameterFile: system.potential.parameterFile.path, elements: system.potential.varyingElementNames,
                natoms: system.atomCount, parameters: system.parameterCount, energy: derivatives.energy,
                volume: derivatives.volume, cell: derivatives.structure.box.cell, box: minimum.box,
                relaxation: relaxation, method: minimum.method, settings: minimum.settings,
                parameterResiduals: derivative.residuals, parameterIterations: derivative.iterations,
                forceEvaluations: derivative.forceEvaluations,
                forceEvaluationsPerParameter: Double(derivative.forceEvaluations) / Double(max(system.parameterCount, 1)),
                strainCurvature: derivatives.strain?.curvature.storage,
                relaxedStrainCurvature: derivatives.strain?.relaxedCurvature.storage,
                mpiRanks: system.lammps.mpiSize,
                wallSeconds: ["relax": relaxSeconds, "derivative": derivative.seconds,
                              "total": Date().timeIntervalSince(started)])
            if system.simulation.isRoot {
                try derivatives.write(to: outDirectory)
                try Files.writeJSON(summary, to: outDirectory.appendingPathComponent("summary.json"))
                settings.checkpoint.map { Checkpoint(directory: $0) }?.remove()
            }
            let worst = derivative.residuals.max() ?? 0
            progress("derivative: \(minimum.method.rawValue), \(derivative.forceEvaluations) "
                     + (minimum.method == .energy ? "minimizer iterations" : "force evaluations")
                     + String(format: " (%.1f per parameter), %.1f s, largest residual %.1e; wrote %@",
                              summary.forceEvaluationsPerParameter, derivative.seconds, worst, outDirectory.path))
            system.lammps.close()
        }
    }
}

struct DerivativeSummary: Encodable {
    var input: String
    var coefficientFile: String
    var parameterFile: String
    var elements: [String]
    var natoms: Int
    var parameters: Int
    var energy: Double
    var volume: Double
    var cell: [[Double]]
    var box: CellRelaxation
    var relaxation: RelaxationResult
    var method: DerivativeMethod
    var settings: DerivativeSettings
    var parameterResiduals: [Double]
    var parameterIterations: [Int]
    var forceEvaluations: Int
    var forceEvaluationsPerParameter: Double
    var strainCurvature: [Double]?
    var relaxedStrainCurvature: [Double]?
    var mpiRanks: Int
    var wallSeconds: [String: Double]
}
