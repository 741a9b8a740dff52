import ArgumentParser
import Atomistics
import Foundation
import ImplicitDerivative
import LinearAlgebra
import Potentials
import Workflows

/// How ∇Θ C is obtained.
enum ParameterDerivativeMode: String, CaseIterable, ExpressibleByArgument {
    /// Central differences of C in Θ, cell and atoms re-relaxed at each Θ ± h.
    case finiteDifferences = "finite-differences"
    case none
}

struct Elastic: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Relaxed-ion and clamped-ion elastic constants of a relaxed crystal, and their derivatives in Θ.",
        discussion: """
            Relaxes the input's system (cell and atoms, --box aniso by default), then computes \
            C = (1/V)[∂²U/∂e² − (∂F/∂e)ᵀ H⁻¹ (∂F/∂e)] (relaxed-ion) and (1/V) ∂²U/∂e² (clamped-ion) in Voigt \
            notation, GPa, with strains applied as LAMMPS's ELASTIC example applies them. ∇Θ C comes from central \
            differences of C in Θ (--theta-step relative; two re-relaxations and two C measurements per parameter). \
            Works for SNAP (default), --parameters and --vary potentials. Writes elastic.json (both tensors, Voigt \
            and Mandel), C.npy, C_clamped.npy, dC_dTheta.npy (N_D, 6, 6), theta.npy and log.lammps to DIR.
            """)

    @OptionGroup var system: SystemOptions
    @OptionGroup var potential: PotentialOptions
    @OptionGroup var minimum: MinimumOptions
    @Option(help: "∇Θ C: finite-differences (default) or none.") var parameterDerivative: ParameterDerivativeMode = .finiteDifferences
    @Option(parsing: .unconditional, help: "Relative step in Θ of the finite differences of C (default 1e-3).")
    var thetaStep = 1e-3
    @OptionGroup var output: OutputOptions
    @OptionGroup var lammpsOptions: LammpsOptions

    func validate() throws {
        if minimum.method == .energy {
            throw ValidationError("--method energy computes ∇Θ X* by biased minimizations; elastic constants need linear solves: use sparse or dense")
        }
        guard thetaStep > 0, thetaStep < 0.1 else { throw ValidationError("--theta-step must be in (0, 0.1), got \(thetaStep)") }
    }

    func run() throws {
        try runWritingOutputs(output) { run in
            let started = Date()
            let cell = minimum.box ?? .aniso
            if cell == .fixed {
                progress("note: --box fixed: the cell is not relaxed, and any residual stress enters C at first order")
            }
            let input = try self.system.inputPath(in: run, potential: potential)
            let (system, relaxation) = try relaxedSystem(input: input, run: run, potential: potential, cell: cell,
                                                         ftol: minimum.ftol, lammps: lammpsOptions)
            let method = minimum.derivativeMethod()
            let (constants, check, reference) = try ElasticWorkflow.run(system, relaxation: relaxation, method: method,
                                                                        checks: minimum.checks, progress: progress)
            progress(String(format: "elastic: C measured with %d force evaluations (method %@)", constants.forceEvaluations, method.name))
            var derivative: ElasticParameterDerivative.Result?
            if parameterDerivative == .finiteDifferences, system.parameterCount > 0 {
                var computation = ElasticParameterDerivative(cell: cell, ftol: minimum.ftol)
                computation.relativeStep = thetaStep
                progress("elastic: ∇Θ C by central differences of C in Θ (relative step \(thetaStep)), "
                         + "2 re-relaxations per parameter, \(system.parameterCount) parameters")
                derivative = try computation.compute(system, reference: reference, method: method, progress: progress)
            }
            let record = ElasticRecord(
                input: system.simulation.input.path, potential: system.summary, natoms: system.atomCount,
                box: cell, volume: constants.volume, energy: relaxation.energy, units: "GPa",
                voigtOrder: Voigt.labels, relaxedIon: constants.relaxedIon, clampedIon: constants.clampedIon,
                relaxedIonMandel: ElasticConstants.mandel(constants.relaxedIon),
                clampedIonMandel: ElasticConstants.mandel(constants.clampedIon),
                minimumCheck: check, method: method.name, methodSettings: method.settings,
                forceEvaluations: constants.forceEvaluations,
                parameterDerivative: derivative.map { result in
                    ParameterDerivativeRecord(method: "central differences of C in Θ, cell and atoms re-relaxed at Θ ± h",
                                              parameterNames: system.parameterNames, steps: result.steps,
                                              forceEvaluations: result.forceEvaluations,
                                              relaxationIterations: result.relaxationIterations, seconds: result.seconds)
                },
                wallSeconds: Date().timeIntervalSince(started))
            if system.simulation.isRoot {
                try Files.writeJSON(record, to: run.url("elastic.json"))
                try NPY.write(constants.relaxedIon.flatMap { $0 }, shape: [6, 6], to: run.url("C.npy"))
                try NPY.write(constants.clampedIon.flatMap { $0 }, shape: [6, 6], to: run.url("C_clamped.npy"))
                try NPY.write(system.theta, shape: [system.parameterCount], to: run.url("theta.npy"))
                if let derivative {
                    try NPY.write(derivative.derivative.flatMap { $0.flatMap { $0 } }, shape: [system.parameterCount, 6, 6],
                                  to: run.url("dC_dTheta.npy"))
                }
                try writeWarnings(check, to: run)
                print(constants.text)
            }
            system.simulation.lammps.close()
            return nil
        }
    }
}

struct ParameterDerivativeRecord: Encodable {
    var method: String
    var parameterNames: [String]
    var steps: [Double]
    var forceEvaluations: Int
    var relaxationIterations: Int
    var seconds: Double
}

struct ElasticRecord: Encodable {
    var input: String
    var potential: PotentialDescription
    var natoms: Int
    var box: CellRelaxation
    var volume: Double
    var energy: Double
    var units: String
    var voigtOrder: [String]
    var relaxedIon: [[Double]]
    var clampedIon: [[Double]]
    var relaxedIonMandel: [[Double]]
    var clampedIonMandel: [[Double]]
    var minimumCheck: MinimumCheck
    var method: String
    var methodSettings: [String: String]
    var forceEvaluations: Int
    var parameterDerivative: ParameterDerivativeRecord?
    var wallSeconds: Double
}
