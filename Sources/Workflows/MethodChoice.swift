import Foundation
import Atomistics
import ImplicitDerivative

/// The ∇Θ X* methods by name.
public enum MethodName: String, CaseIterable, Sendable {
    case energy, sparse, dense
}

/// The ∇Θ X* method and its settings as the command line or a campaign file gives them: the one
/// table of which setting belongs to which method, their ranges, and the one place a method
/// value is built from them. A setting the chosen method does not read is refused, never ignored.
public struct MethodChoice {
    public var method: MethodName?
    public var minStyle: MinimizerStyle?
    public var alpha0: Double?
    public var tolerance: Double?
    public var preconditioner: Preconditioning?
    public var krylov: KrylovStrategy?
    /// Dense method: only atoms within `radius` of `center` move.
    public var region: (center: [Double], radius: Double)?

    public init(method: MethodName? = nil, minStyle: MinimizerStyle? = nil, alpha0: Double? = nil, tolerance: Double? = nil,
                preconditioner: Preconditioning? = nil, krylov: KrylovStrategy? = nil,
                region: (center: [Double], radius: Double)? = nil) {
        (self.method, self.minStyle, self.alpha0, self.tolerance) = (method, minStyle, alpha0, tolerance)
        (self.preconditioner, self.krylov, self.region) = (preconditioner, krylov, region)
    }

    public enum Setting: CaseIterable {
        case minStyle, alpha0, tolerance, preconditioner, krylov, region
        public var owner: MethodName {
            switch self {
            case .minStyle, .alpha0: return .energy
            case .tolerance, .preconditioner, .krylov: return .sparse
            case .region: return .dense
            }
        }
        /// How a campaign file spells it (`region` has no campaign key, so is never given there).
        public var campaignKey: String {
            switch self {
            case .minStyle: return "derivative.min_style"
            case .alpha0: return "derivative.alpha0"
            case .tolerance: return "derivative.tolerance"
            case .preconditioner: return "derivative.preconditioner"
            case .krylov: return "derivative.krylov"
            case .region: return "derivative.region"
            }
        }
    }

    public var resolvedMethod: MethodName { method ?? .sparse }

    public func isGiven(_ setting: Setting) -> Bool {
        switch setting {
        case .minStyle: return minStyle != nil
        case .alpha0: return alpha0 != nil
        case .tolerance: return tolerance != nil
        case .preconditioner: return preconditioner != nil
        case .krylov: return krylov != nil
        case .region: return region != nil
        }
    }

    /// The problem with these settings, if any, in a sentence that spells each setting and the
    /// method as the source does (`--min-style`, `derivative.min_style`).
    public func problem(spelling name: (Setting) -> String, methodSpelling: String) -> String? {
        if let alpha0, !(alpha0 > 0 && alpha0.isFinite) { return "\(name(.alpha0)) must be a positive number, got \(alpha0)" }
        if let tolerance, !(tolerance > 0 && tolerance < 1) {
            return "\(name(.tolerance)) must be a relative residual in (0, 1), got \(tolerance)"
        }
        if let region, !(region.radius > 0 && region.radius.isFinite) {
            return "the radius of \(name(.region)) must be a positive length, got \(region.radius)"
        }
        let method = resolvedMethod
        if let foreign = Setting.allCases.first(where: { isGiven($0) && $0.owner != method }) {
            return "\(name(foreign)) applies only to \(methodSpelling) \(foreign.owner.rawValue), not to \(methodSpelling) \(method.rawValue)"
        }
        return nil
    }

    /// The chosen method with its own settings (`checkpoint`: where finished columns or
    /// parameters are saved).
    public func derivativeMethod(checkpoint: URL? = nil) -> any DerivativeMethod {
        switch resolvedMethod {
        case .sparse: return SparseMethod(tolerance: tolerance ?? 1e-5, preconditioning: preconditioner ?? .auto,
                                          strategy: krylov ?? .auto, checkpoint: checkpoint)
        case .dense: return DenseMethod(region: region.map { ($0.center, $0.radius) })
        case .energy: return EnergyMethod(minStyle: minStyle ?? .cg, alpha0: alpha0 ?? 1e-4, checkpoint: checkpoint)
        }
    }
}
