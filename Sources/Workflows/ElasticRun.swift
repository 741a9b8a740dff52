import Atomistics
import Foundation
import ImplicitDerivative
import Potentials

/// The elastic constants of a relaxed system and, by central differences in Θ, their derivatives,
/// with every file they are written to: elastic.json, C.npy, C_clamped.npy, theta.npy and
/// dC_dTheta.npy (what `implicit-lammps elastic` runs once the system is relaxed).
public struct ElasticRun {
    public var cell: CellRelaxation
    public var ftol: Double
    /// Minimizer of the re-relaxations at Θ ± h.
    public var minStyle = MinimizerStyle.cg
    public var method: any DerivativeMethod
    public var checks: DerivativeChecks
    /// The relative step in Θ of ∇Θ C (nil: no derivative).
    public var thetaStep: Double?

    public init(cell: CellRelaxation, ftol: Double, method: any DerivativeMethod, checks: DerivativeChecks, thetaStep: Double?) {
        (self.cell, self.ftol, self.method, self.checks, self.thetaStep) = (cell, ftol, method, checks, thetaStep)
    }

    /// The tensors and the check of the minimum they were measured at; the files on the root rank.
    public func run(_ system: any ParametrizedEnergy, relaxation: RelaxationResult, phases: Phases,
                    in run: RunDirectory) throws -> (ElasticConstants, MinimumCheck) {
        let (constants, check, reference) = try phases.measure("elastic_constants") {
            try ElasticWorkflow.run(system, relaxation: relaxation, method: method, checks: checks, progress: progress)
        }
        progress(String(format: "elastic: C measured with %d force evaluations (method %@)", constants.forceEvaluations, method.name))
        var derivative: ElasticParameterDerivative.Result?
        if let thetaStep, system.parameterCount > 0 {
            var computation = ElasticParameterDerivative(cell: cell, ftol: ftol, minStyle: minStyle)
            computation.relativeStep = thetaStep
            progress("elastic: ∇Θ C by central differences of C in Θ (relative step \(thetaStep)), "
                     + "2 re-relaxations per parameter, \(system.parameterCount) parameters")
            derivative = try phases.measure("parameter_derivative") {
                try computation.compute(system, reference: reference, method: method, progress: progress)
            }
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
            })
        if system.simulation.isRoot {
            try Files.writeJSON(PhasedSummary(record, phases: phases), to: run.url("elastic.json"))
            try NPY.write(constants.relaxedIon.flatMap { $0 }, shape: [6, 6], to: run.url("C.npy"))
            try NPY.write(constants.clampedIon.flatMap { $0 }, shape: [6, 6], to: run.url("C_clamped.npy"))
            try NPY.write(system.theta, shape: [system.parameterCount], to: run.url("theta.npy"))
            if let derivative {
                try NPY.write(derivative.derivative.flatMap { $0.flatMap { $0 } }, shape: [system.parameterCount, 6, 6],
                              to: run.url("dC_dTheta.npy"))
            }
        }
        return (constants, check)
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
}
