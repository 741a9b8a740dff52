import ImplicitDerivative

/// How the command line and the campaign files spell the settings the engine's refusals name
/// (the engine names them only, see `DerivativeSetting`).
extension DerivativeSetting {
    var option: String {
        switch self {
        case .ftol: return "--ftol"
        case .minStyle: return MethodChoice.Setting.minStyle.option
        case .allowNonMinimum: return "--allow-non-minimum"
        case .method(let value): return "--method \(value)"
        case .tolerance: return MethodChoice.Setting.tolerance.option
        case .alpha0: return MethodChoice.Setting.alpha0.option
        case .center: return "--center"
        case .radius: return "--radius"
        case .derivativeStep: return "`derivative`"
        case .derivativeOutput: return "`derivative --out`"
        }
    }

    /// A campaign file's key (with the value, for a method), for campaign runs to spell refusals with.
    var campaignKey: String {
        switch self {
        case .ftol: return "relax.ftol"
        case .minStyle: return MethodChoice.Setting.minStyle.campaignKey
        case .allowNonMinimum: return "allow_non_minimum"
        case .method(let value): return "derivative.method: \(value)"
        case .tolerance: return MethodChoice.Setting.tolerance.campaignKey
        case .alpha0: return MethodChoice.Setting.alpha0.campaignKey
        case .center, .radius: return MethodChoice.Setting.region.campaignKey
        case .derivativeStep: return "`derivative`"
        case .derivativeOutput: return "`derivative --out`"
        }
    }
}
