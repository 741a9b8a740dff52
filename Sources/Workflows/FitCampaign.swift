import Atomistics
import Foundation
import ImplicitDerivative
import LinearAlgebra
import Potentials


/// The implicit loss L(Θ) = Σ_s w_s ½‖P(X*_s(Θ) − X_s,target)‖² + ½μ‖Θ − Θ0‖², displacements by
/// minimum image and P removing the mean displacement of each system (a rigid shift is not a
/// structural difference), minimized by Algorithm 1.
public final class FitCampaign {
    public let systems: [FitSystem]
    public let settings: FitSettings
    public let method: any DerivativeMethod
    /// Linear constraints: A Θ stays at A Θ0 (rows of A, N_D wide); steps are projected onto the
    /// null space of A.
    public let constraints: Matrix?
    /// (A Aᵀ)⁻¹ A, for the projection I − Aᵀ (A Aᵀ)⁻¹ A.
    let constraintSolve: Matrix?

    public let propertyTargets: [PropertyTarget]

    /// How a system relaxes with the current Θ from its current state.
    public typealias Relaxer = (_ system: FitSystem, _ settings: RelaxationSettings, _ progress: (String) -> Void) throws
        -> RelaxationResult
    /// Its force provider's minimizer, unless a runner wraps it (on LAMMPS, to keep each
    /// relaxation's commands for the replay script): the campaign never needs to know.
    public var relaxer: Relaxer = { system, settings, progress in
        try system.provider.minimize(settings, label: "fit \(system.name)", progress: progress)
    }

    public init(systems: [FitSystem], settings: FitSettings, method: any DerivativeMethod,
                constraints: Matrix? = nil, propertyTargets: [PropertyTarget] = []) throws {
        guard let first = systems.first else { throw InputError.invalid("a campaign needs at least one system") }
        for system in systems.dropFirst() where system.energy.parameterNames != first.energy.parameterNames {
            throw InputError.invalid("""
                system \(system.name) varies other parameters than \(first.name) \
                (\(system.energy.parameterCount) against \(first.energy.parameterCount)): every system must share Θ
                """)
        }
        for system in systems.dropFirst() where system.energy.theta != first.energy.theta {
            throw InputError.invalid("""
                system \(system.name) starts from other parameter values than \(first.name): every system must start \
                from the same Θ (the same potential files or variable values)
                """)
        }
        for system in systems {
            if system.atomWeights != nil, case .structure = system.target {} else if system.atomWeights != nil {
                throw InputError.invalid("system \(system.name): atom weights apply to structure targets only")
            }
            if let weights = system.atomWeights, weights.count != system.energy.atomCount || weights.contains(where: { !($0 >= 0) }) {
                throw InputError.invalid("system \(system.name): \(weights.count) atom weights for \(system.energy.atomCount) atoms, or a negative one")
            }
            if case .structure(let target) = system.target, target.count != 3 * system.energy.atomCount {
                throw InputError.invalid("""
                    the target of system \(system.name) has \(target.count / 3) atoms, the system \(system.energy.atomCount)
                    """)
            }
        }
        if let problem = SystemOutline.firstProblem(systems.map(\.outline), quantities: propertyTargets.map(\.quantity),
                                                    requireUse: true) {
            throw InputError.invalid(Self.describe(problem, propertyTargets: propertyTargets))
        }
        self.systems = systems
        self.settings = settings
        self.method = method
        self.propertyTargets = propertyTargets
        self.constraints = constraints
        if let a = constraints {
            guard a.columns == first.energy.parameterCount else {
                throw InputError.invalid("""
                    the constraint matrix has \(a.columns) columns; Θ has \(first.energy.parameterCount) parameters
                    """)
            }
            guard a.rows < a.columns else {
                throw InputError.invalid("""
                    the \(a.rows) constraint rows hold all \(a.columns) parameters of Θ fixed: no direction is left for \
                    the fit to move in; remove rows or vary more parameters
                    """)
            }
            let singular = try LAPACK.leftSingularVectors(a).singularValues
            guard let largest = singular.max(), (singular.min() ?? 0) > 1e-10 * largest else {
                throw InputError.invalid("""
                    the \(a.rows) constraint rows are (nearly) linearly dependent (singular values \(singular)); \
                    remove the redundant rows
                    """)
            }
            var gram = a.multiplied(by: a, transposingOther: true)
            gram.symmetrize()
            constraintSolve = try LAPACK.solveSymmetric(gram, a)
        } else {
            constraintSolve = nil
        }
    }

    /// A problem of the systems and property targets, in the campaign's terms (a campaign file
    /// names its keys instead: `FitCampaignFile.fileError`).
    static func describe(_ problem: OutlineProblem, propertyTargets: [PropertyTarget]) -> String {
        switch problem {
        case .unknownSystem(let index, _, let system):
            return "property target \(propertyTargets[index].name) names system '\(system)', which the campaign does not have"
        case .fixedVolume(let index, let system):
            return """
                property target \(propertyTargets[index].name) uses the volume of system \(system), whose cell is fixed (its volume \
                cannot change): relax its cell (cell: iso or aniso)
                """
        case .structureTargetCell(let system):
            return "system \(system): a structure target needs a fixed cell (the target's cell)"
        case .unused(let system):
            return "system \(system) has no target and no energy target uses it"
        }
    }
}
