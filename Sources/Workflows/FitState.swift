import Atomistics
import Foundation

/// One row of `history.csv`.
public struct FitRecord: Codable, Sendable, Equatable {
    public var iteration: Int
    public var lossPredicted: Double
    /// The loss of true LAMMPS relaxations with this iteration's Θ (relax_each, and iteration 0).
    public var lossRelaxed: Double?
    public var step: Double
    public var maxDisplacement: Double
    public var forceEvaluations: Int
    public var seconds: Double
    public var theta: [Double]
    /// Property targets' values after the step (e.g. `si_C11` in GPa), for the history's columns.
    public var properties: [String: Double] = [:]
    /// Each system's energy (eV) at this iteration's structure and Θ (relaxed, or predicted by eq. 44).
    public var energies: [String: Double]?
    /// How often the step was halved because the true loss rose (backtrack).
    public var backtracks: Int?
    /// Gauss–Newton: the damping λ of the accepted step, and how many steps were rejected before it.
    public var damping: Double?
    public var rejections: Int?
    /// Set when the true loss landed far above the prediction and above the previous loss: the
    /// step left the range where eq. 44 holds (the structure may have rearranged).
    public var warning: String?
    /// The training term's loss and each group's energy and force RMSE at this iteration's Θ.
    public var training: [String: Double]?

    /// The true loss over the predicted one (1: the linear prediction held), when both exist.
    public var trueOverPredicted: Double? {
        guard let lossRelaxed, lossPredicted > 0 else { return nil }
        return lossRelaxed / lossPredicted
    }
    /// Beyond this ratio (and a true loss that rose) a step is reported as a runaway.
    public static let runawayRatio = 3.0
}

/// Everything needed to continue a campaign after its last completed iteration.
public struct FitState: Codable, Sendable {
    /// Identifies the campaign: a resume with another configuration is refused.
    public var key: String
    public var thetaInitial: [Double]
    public var theta: [Double]
    /// Per system (by name), the current structure: relaxed, or predicted by eq. 44.
    public var structures: [String: Structure]
    /// Per elastic-target system, its measured relaxed-ion tensor (Voigt, GPa).
    public var elastic: [String: [[Double]]] = [:]
    /// Per system, its energy at its current structure and Θ (eV).
    public var energies: [String: Double] = [:]
    public var history: [FitRecord]
    /// Gauss–Newton: the damping λ the next step starts from.
    public var damping: Double?
    /// Gauss–Newton: the largest atomic displacement (Å) the next step may predict.
    public var trustRadius: Double?
    /// `loop.relax_from_target`: per system whose current minimum was reached from the target's
    /// positions, that start (the replay script relaxes from it).
    public var starts: [String: Structure]?
    /// L-BFGS: its memory of steps and gradient changes, and Θ and ∇Θ L of this state's predecessor.
    public var lbfgs: LBFGSMemory?
    public var done = false
}
