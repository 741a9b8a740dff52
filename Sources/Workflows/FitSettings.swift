import Atomistics
import Foundation

/// How the implicit loss is minimized (paper Algorithm 1, supplement eq. 41–44).
public struct FitSettings: Codable, Sendable {
    public enum Gradient: String, Codable, Sendable {
        /// One adjoint solve H v = ∂L/∂X, then ∇Θ L = −(∇²ΘX U)ᵀ v: a fixed number of solves per
        /// iteration whatever N_D.
        case adjoint
        /// All N_D columns of ∇Θ X*, then eq. 10 (the paper's way).
        case full
    }
    /// How a step is chosen from the derivatives (`loop.step`).
    public enum Rule: String, Codable, Sendable {
        /// Algorithm 1: along −∇Θ L, by eq. 43 (`step` nil) or a fixed multiple (`step`).
        case steepestDescent = "steepest-descent"
        /// Levenberg–Marquardt on the stacked residuals, their Jacobian from the columns of ∇Θ X*;
        /// a step whose true loss rises is rejected and recomputed with more damping.
        case gaussNewton = "gauss-newton"
        /// Limited-memory BFGS on the adjoint gradient (no columns of ∇Θ X*: for N_D too large for
        /// Gauss–Newton), each step accepted on the true loss (Armijo), halved otherwise.
        case lbfgs
    }
    public var iterations = 20
    public var rule = Rule.steepestDescent
    /// nil: the adaptive step of eq. 43 (the minimum of the predicted loss along −∇Θ L).
    public var step: Double?
    /// Re-relax every system with LAMMPS after each step (else positions follow eq. 44).
    public var relaxEach = false
    /// With re-relaxation: a step whose true loss is above the current one is halved and relaxed
    /// again (at most `maxBacktracks` times), so that the true loss never rises. Off: the paper's
    /// Algorithm 1, which takes every step.
    public var backtrack = false
    public static let maxBacktracks = 4
    /// Stop when the largest atomic displacement of a step is below this (Å).
    public var tolerance = 1e-4
    /// Stop when the loss (true when relaxed, else predicted) is at most this.
    public var lossTolerance = 0.0
    public var gradient = Gradient.adjoint
    /// μ of the regularizer ½μ‖Θ − Θ0‖².
    public var regularization = 0.0
    /// Largest atomic displacement (Å) and relative parameter change a step may make (beyond, the
    /// linear prediction of eq. 44 is not to be trusted and the step is shortened).
    public static let maxAtomStep = 0.2
    public static let maxParameterStep = 0.2
    /// Levenberg–Marquardt: the first damping λ (relative to the diagonal of JᵀJ), and how many
    /// rejected steps in a row end the campaign.
    public static let initialDamping = 1e-3
    /// The damping of an exactly quadratic loss (training term and regularizer alone): only enough
    /// to keep the solve defined where the data do not determine a combination of parameters.
    public static let exactDamping = 1e-12
    public static let maxRejections = 8
    /// Gauss–Newton's trust radius on the linear prediction of eq. 44 (Å, the largest atomic
    /// displacement a step may predict): it starts at `trustRadius`, doubles after a step whose true
    /// loss fell at least 3/4 as much as predicted, up to `largestTrustRadius`, and halves after a
    /// poor or rejected one.
    public static let largestTrustRadius = 1.6
    /// L-BFGS: how many (s, y) pairs make its inverse-Hessian estimate.
    public static let lbfgsMemory = 8
    /// Gauss–Newton's first trust radius (Å).
    public var trustRadius = FitSettings.maxAtomStep
    /// Structure targets: relax each system also from the target's positions and keep whichever
    /// minimum lies closer to the target (`loop.relax_from_target`). A fit that is to stabilize a
    /// structure another basin holds (the paper's hard dislocation core, from the easy one) needs
    /// it: relaxations from eq. 44's prediction stay in the starting basin up to its edge.
    public var relaxFromTarget = false
    /// Gauss–Newton and L-BFGS: the first `explore` iterations take Algorithm 1's step instead
    /// (`loop.explore`). Its long steps (up to `maxAtomStep` per atom) can leave the starting basin,
    /// which a trust region's steps, judged on the true loss, never do.
    public var explore = 0
    /// Force tolerance of every relaxation (eV/Å).
    public var ftol = 1e-10
    /// Minimizer of every relaxation (`relax.min_style`).
    public var minStyle = MinimizerStyle.cg

    /// How a system with cell freedom `cell` relaxes in this campaign.
    func relaxation(_ cell: CellRelaxation) -> RelaxationSettings { RelaxationSettings(cell: cell, ftol: ftol, minStyle: minStyle) }

    public init() {}
}
