import ImplicitDerivative

/// How a campaign file spells the settings the engine's refusals name (the engine names them
/// only, see `DerivativeSetting`).
extension DerivativeSetting {
    /// A campaign file's key (with the value, for a method), for campaign runs to spell refusals with.
    public var campaignKey: String {
        switch self {
        case .ftol: return "relax.ftol"
        case .minStyle: return MethodChoice.Setting.minStyle.campaignKey
        case .allowNonMinimum: return "`derivative --allow-non-minimum` (campaigns differentiate minima only)"
        case .method(let value): return "derivative.method: \(value)"
        case .tolerance: return MethodChoice.Setting.tolerance.campaignKey
        case .alpha0: return MethodChoice.Setting.alpha0.campaignKey
        case .center, .radius: return MethodChoice.Setting.region.campaignKey
        case .derivativeStep: return "`derivative`"
        case .derivativeOutput: return "`derivative --out`"
        }
    }
}
