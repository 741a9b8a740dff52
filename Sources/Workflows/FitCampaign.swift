import Atomistics
import Foundation
import ImplicitDerivative
import LinearAlgebra
import Potentials


/// The implicit loss L(Θ) = Σ_s w_s ½‖P(X*_s(Θ) − X_s,target)‖² + ½μ‖Θ − Θ0‖² (+ elastic and
/// property terms, + a training term on DFT data), displacements by minimum image and P removing
/// the mean displacement of each system (a rigid shift is not a structural difference), minimized
/// by Algorithm 1 or Gauss–Newton.
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
    /// FitSNAP's loss on DFT data, exact and quadratic in Θ (linear SNAP): it regularizes a
    /// fine-tuning towards what the potential was trained to reproduce.
    public let training: TrainingTerm?
    /// Θ at the start: the systems' (all equal), or the training term's when there is no system.
    public let thetaStart: [Double]
    public let parameterNames: [String]

    /// How a system relaxes with the current Θ from its current state.
    public typealias Relaxer = (_ system: FitSystem, _ settings: RelaxationSettings, _ progress: (String) -> Void) throws
        -> RelaxationResult
    /// Its force provider's minimizer, unless a runner wraps it (on LAMMPS, to keep each
    /// relaxation's commands for the replay script): the campaign never needs to know.
    public var relaxer: Relaxer = { system, settings, progress in
        try system.provider.relaxation(settings, label: "fit \(system.name)", progress: progress)
    }

    public init(systems: [FitSystem], settings: FitSettings, method: any DerivativeMethod,
                constraints: Matrix? = nil, propertyTargets: [PropertyTarget] = [], training: TrainingTerm? = nil) throws {
        guard let first = systems.first.map({ ($0.name, $0.energy.parameterNames, $0.energy.theta) })
                ?? training.map({ ("training", $0.parameterNames, $0.theta0) }) else { throw CampaignError.noSystems }
        for system in systems where system.energy.parameterNames != first.1 {
            throw CampaignError.differentParameters(system: system.name, first: first.0, count: system.energy.parameterCount,
                                                    firstCount: first.1.count)
        }
        for system in systems where system.energy.theta != first.2 {
            throw CampaignError.differentStart(system: system.name, first: first.0)
        }
        if let training, training.parameterNames != first.1 {
            throw CampaignError.differentParameters(system: "training", first: first.0, count: training.parameterNames.count,
                                                    firstCount: first.1.count)
        }
        if let training, training.theta0 != first.2 { throw CampaignError.differentStart(system: "training", first: first.0) }
        (thetaStart, parameterNames) = (first.2, first.1)
        self.training = training
        for system in systems {
            if system.atomWeights != nil, case .structure = system.target {} else if system.atomWeights != nil {
                throw CampaignError.atomWeightsWithoutStructureTarget(system: system.name)
            }
            if let weights = system.atomWeights, weights.count != system.energy.atomCount || weights.contains(where: { !($0 >= 0) }) {
                throw CampaignError.atomWeights(system: system.name, weights: weights.count, atoms: system.energy.atomCount)
            }
            if case .structure(let target) = system.target, target.count != 3 * system.energy.atomCount {
                throw CampaignError.targetAtoms(system: system.name, targetAtoms: target.count / 3, atoms: system.energy.atomCount)
            }
        }
        if let problem = SystemOutline.firstProblem(systems.map(\.outline), quantities: propertyTargets.map(\.quantity),
                                                    requireUse: true) {
            throw CampaignError.fitOutline(problem, propertyTarget: problem.quantityIndex.map { propertyTargets[$0].name })
        }
        self.systems = systems
        self.settings = settings
        self.method = method
        self.propertyTargets = propertyTargets
        self.constraints = constraints
        if let a = constraints {
            guard a.columns == first.1.count else {
                throw CampaignError.constraintColumns(columns: a.columns, parameters: first.1.count)
            }
            guard a.rows < a.columns else { throw CampaignError.constraintsFixEverything(rows: a.rows, columns: a.columns) }
            let singular = try LAPACK.leftSingularVectors(a).singularValues
            guard let largest = singular.max(), (singular.min() ?? 0) > 1e-10 * largest else {
                throw CampaignError.dependentConstraints(rows: a.rows, singularValues: singular)
            }
            var gram = a.multiplied(by: a, transposingOther: true)
            gram.symmetrize()
            constraintSolve = try LAPACK.solveSymmetric(gram, a)
        } else {
            constraintSolve = nil
        }
    }
}
