import Atomistics
import Foundation
import LinearAlgebra

/// A potential energy U(X, Θ) with named parameters Θ, as the implicit-derivative engine sees it:
/// its derivatives in Θ at the force provider's current positions and cell (as ASE's optimizers
/// know only positions, forces and energies). Nothing here touches a potential's files, so a
/// potential written in Swift conforms as well as a LAMMPS one.
public protocol ParameterDerivatives: AnyObject {
    /// The system whose positions and cell the derivatives are taken at.
    var forceProvider: any ForceProvider { get }
    /// One name per parameter, in the order of Θ.
    var parameterNames: [String] { get }
    var theta: [Double] { get }
    /// Makes the system use the potential with parameters `theta`.
    func setTheta(_ theta: [Double]) throws

    /// ∇Θ U, N_D.
    func energyGradient() throws -> [Double]
    /// ∇²ΘX U as 3N × N_D (column l = ∂²U/∂X∂Θ_l = −∂F/∂Θ_l, atoms by ID, x y z).
    func mixedHessian() throws -> Matrix
    /// (∇²ΘX U) v for v in parameter space: a 3N vector.
    func mixedHessianProduct(_ v: [Double]) throws -> [Double]
    /// (∇²ΘX U)ᵀ w for w in position space: an N_D vector (the adjoint gradient's last step).
    func mixedHessianTransposedProduct(_ w: [Double]) throws -> [Double]
    /// ∇²ΘΘ U at fixed positions, N_D × N_D (zero for a potential linear in Θ, such as SNAP).
    func parameterHessian() throws -> Matrix
    /// ∂²U/∂Θ∂e_g for homogeneous strains e_g (Voigt, see `Voigt`): N_D × n_strain.
    func strainMixedDerivative(strains: [[Double]]) throws -> Matrix

    /// What the potential is, for summaries and messages (kind, files, varied parameters).
    var summary: PotentialDescription { get }
}

/// The side of a LAMMPS potential that campaigns need: its files, and the commands that load
/// them into a native `lmp` run.
public protocol PotentialFiles: AnyObject {
    var simulation: Simulation { get }
    /// Writes the potential's own files for `theta` into `directory` (e.g. a `.snapcoeff`, an
    /// `.sw`, or an include file of variables) and returns them.
    func writePotential(theta: [Double], to directory: URL) throws -> [URL]
    /// The LAMMPS commands that make a native `lmp` run of this system use the potential with
    /// `theta`, whose files `writePotential` wrote into `directory`.
    func loadingCommands(theta: [Double], writtenTo directory: URL) throws -> [String]
    /// The parameters of another potential file of the same kind (a perturbed `.snapcoeff`,
    /// `.sw`, or variables file as `writePotential` writes it): the inverse of `writePotential`.
    func parameterChange(readingPotentialFrom url: URL) throws -> ParameterChange
}

/// A LAMMPS potential with parameters Θ: the engine's derivatives and the workflows' files.
///
/// Conformers: `SNAPEnergy` (linear in its coefficients, analytic descriptor derivatives),
/// `MLIAPEnergy` (ML-IAP linear and quadratic models, analytic through compute mliap) and
/// `FiniteDifferenceEnergy` (any LAMMPS potential, central differences in Θ).
public protocol ParametrizedEnergy: ParameterDerivatives, PotentialFiles {}

extension ParametrizedEnergy {
    public var forceProvider: any ForceProvider { simulation }
}

extension ParameterDerivatives {
    public var parameterCount: Int { parameterNames.count }
    public var atomCount: Int { forceProvider.atomCount }

    public func mixedHessianProduct(_ v: [Double]) throws -> [Double] {
        try mixedHessian().multiplied(by: Matrix(rows: v.count, columns: 1, storage: v)).storage
    }

    public func mixedHessianTransposedProduct(_ w: [Double]) throws -> [Double] {
        try mixedHessian().multiplied(by: Matrix(rows: w.count, columns: 1, storage: w), transposingSelf: true).storage
    }
}

/// How a parametrized energy describes itself in outputs.
public struct PotentialDescription: Codable, Sendable {
    /// "SNAP", "variables" or "parameter file".
    public var kind: String
    /// The files that define it (coefficients, parameters), as read.
    public var files: [String]
    public var parameterNames: [String]
    /// What fixes the meaning of Θ (SNAP hyperparameters): a saved derivative applies only to a
    /// potential with the same ones.
    public var hyperparameters: [String: String]
    /// How the derivatives are taken (finite-difference steps); they do not change Θ's meaning.
    public var settings: [String: String]

    public init(kind: String, files: [String], parameterNames: [String], hyperparameters: [String: String] = [:],
                settings: [String: String] = [:]) {
        self.kind = kind
        self.files = files
        self.parameterNames = parameterNames
        self.hyperparameters = hyperparameters
        self.settings = settings
    }
}

/// How another potential differs from this one, in terms the expansion can use.
public struct ParameterChange: Sendable {
    public var theta: [Double]
    /// An exact change of the energy that moves no atom (SNAP's beta0 times its atoms).
    public var energyShift: Double = 0
    /// What the user should know (e.g. elements the system does not use).
    public var notes: [String] = []

    public init(theta: [Double], energyShift: Double = 0, notes: [String] = []) {
        self.theta = theta
        self.energyShift = energyShift
        self.notes = notes
    }

    /// `name=value,name=value` assignments of some parameters, the others unchanged.
    public static func assignments(_ text: String, to energy: any ParameterDerivatives) throws -> ParameterChange {
        var theta = energy.theta
        // Names may hold commas themselves (`Si,Si,Si:lambda=21.5`): a piece without `=` belongs to
        // the next one.
        var assignments: [String] = [], pending = ""
        for piece in text.split(separator: ",", omittingEmptySubsequences: false) {
            pending += (pending.isEmpty ? "" : ",") + piece
            if piece.contains("=") { assignments.append(pending); pending = "" }
        }
        if !pending.isEmpty { assignments.append(pending) }
        for assignment in assignments {
            let parts = assignment.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard parts.count == 2, let value = Double(parts[1]), value.isFinite else {
                throw PotentialError.notAnAssignment(assignment)
            }
            guard let index = energy.parameterNames.firstIndex(of: parts[0]) else {
                throw PotentialError.notAParameter(parts[0], parameters: energy.parameterNames)
            }
            theta[index] = value
        }
        return ParameterChange(theta: theta)
    }
}

/// Which parametrized energy a system gets, as the command line or a campaign file names it.
public enum PotentialChoice: Sendable {
    /// SNAP coefficients (files override the input's `pair_coeff`; elements: those in Θ).
    case snap(coefficients: URL?, parameters: URL?, elements: [String]?)
    /// LAMMPS variables used by the input's pair lines.
    case variables([String])
    /// Fields of the input's `.sw`/`.tersoff` file, per entry.
    case fields([(entry: String, fields: [String])])

    /// - Parameters:
    ///   - relativeStep: of the finite differences in Θ (nil: the default).
    ///   - progress: where long finite differences report.
    public func energy(for simulation: Simulation, relativeStep: Double? = nil,
                       progress: @escaping (String) -> Void = { _ in }) throws -> any ParametrizedEnergy {
        func finiteDifferences(_ source: ParameterSource) throws -> FiniteDifferenceEnergy {
            let energy = try FiniteDifferenceEnergy(simulation: simulation, source: source)
            energy.progress = progress
            if let relativeStep { energy.relativeStep = relativeStep }
            return energy
        }
        switch self {
        case .snap(let coefficients, let parameters, let elements):
            // An input whose pair style is an ML-IAP model gets its parameters as Θ.
            if coefficients == nil, parameters == nil, let declaration = try MLIAPDeclaration.scan(simulation) {
                return try MLIAPEnergy(simulation: simulation, declaration: declaration, varyingElements: elements)
            }
            return try SNAPEnergy(simulation: simulation, coefficientFile: coefficients, parameterFile: parameters,
                                  varyingElements: elements)
        case .variables(let names):
            return try finiteDifferences(VariableParameters(names: names, simulation: simulation))
        case .fields(let selections):
            return try finiteDifferences(FileFieldParameters(selections: selections, simulation: simulation))
        }
    }
}
