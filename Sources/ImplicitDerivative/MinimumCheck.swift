import Atomistics
import Foundation
import LinearAlgebra
import Potentials

/// How X* was checked to be a minimum; carried into every output that depends on it.
public struct MinimumCheck: Codable, Sendable {
    public var converged = true
    public var maxForce: Double?
    public var ftol: Double?
    public var curvature: CurvatureCheck?
    /// Why X* is not a trustworthy minimum (empty when it is); only with `allowNonMinimum`.
    public var warnings: [String] = []
    public var isMinimum: Bool { warnings.isEmpty }

    public init() {}

    /// Checks the minimum behind `hessian`: the relaxation converged and the curvature is
    /// positive — Ritz values of the solves' own Krylov basis (`hessian.probedSpace`, extended to
    /// `checks.curvatureSteps` vectors if smaller), else `checks.curvatureSteps` Lanczos steps;
    /// refuses, or with `allowNonMinimum` records, otherwise.
    public static func verify(_ hessian: Hessian, relaxation: RelaxationResult?, checks: DerivativeChecks,
                              progress: (String) -> Void = { _ in }) throws -> MinimumCheck {
        var check = MinimumCheck()
        var curvature: CurvatureCheck?
        if checks.curvatureSteps > 0 {
            if let space = hessian.probedSpace {
                curvature = try hessian.curvatureCheck(space, steps: checks.curvatureSteps, progress: progress)
            } else {
                curvature = try hessian.curvatureCheck(steps: checks.curvatureSteps, progress: progress)
            }
            try hessian.restoreMinimum()
            progress("  curvature at X*: \(curvature!.summary)")
        }
        try check.assess(relaxation: relaxation, curvature: curvature, allowNonMinimum: checks.allowNonMinimum)
        return check
    }

    /// Refuses a relaxation that did not converge (unless `checks.allowNonMinimum`): the cheap half
    /// of `verify`, run before any solve.
    public static func requireConverged(_ relaxation: RelaxationResult?, checks: DerivativeChecks) throws {
        var check = MinimumCheck()
        try check.assess(relaxation: relaxation, curvature: nil, allowNonMinimum: checks.allowNonMinimum)
    }

    /// Refuses (or, when allowed, records) a relaxation that did not converge and a Hessian
    /// that is not positive on the mobile space.
    mutating func assess(relaxation: RelaxationResult?, curvature: CurvatureCheck?, allowNonMinimum: Bool) throws {
        /// Refused with `advice`, or, when allowed, kept as a warning.
        func refuseOrRecord(_ finding: String, advice: SettingMessage) throws {
            guard allowNonMinimum else { throw DerivativeError.notAMinimum("\(finding). \(advice)") }
            warnings.append(finding)
        }
        if let relaxation {
            converged = relaxation.converged
            maxForce = relaxation.maxForce
            ftol = relaxation.settings.ftol
            if let shortfall = relaxation.shortfall {
                try refuseOrRecord("X* is not converged: \(shortfall)", advice: """
                    A derivative there is not the derivative of a minimum. Try: a tolerance at least 10× the \
                    reached residual (\(setting: .ftol)), another minimizer (\(setting: .minStyle)), or check the structure and the \
                    potential's units; \(setting: .allowNonMinimum) computes it anyway and marks every output.
                    """)
            }
        }
        self.curvature = curvature
        guard let curvature else { return }
        if curvature.vanishes {
            throw DerivativeError.notAMinimum("""
                the Hessian at X* vanishes: no atom interacts with any other (are the atoms farther apart than \
                the potential's cutoff? a cell that swelled during relaxation? the wrong units?)
                """)
        }
        if curvature.isNegative {
            let finding = String(format: "X* is a saddle point: the Hessian has negative curvature %.4g eV/Å² (highest %.4g), ",
                                 curvature.lowest, curvature.highest)
                + "largest on atom IDs \(curvature.softestModeAtoms.map(String.init).joined(separator: ", "))"
                + (curvature.source == "lanczos" ? " (Lanczos)" : " (Ritz values of the solves' Krylov basis)")
            try refuseOrRecord(finding, advice: """
                A relaxation that keeps a symmetry can end on a saddle. Break the symmetry (e.g. \
                displace_atoms … random) and relax again; \(setting: .allowNonMinimum) differentiates the stationary \
                point anyway and marks every output.
                """)
        }
    }
}
