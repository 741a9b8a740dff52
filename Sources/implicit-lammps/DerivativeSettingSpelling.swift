import ImplicitDerivative
import Workflows

/// How the command line spells the settings the engine's refusals name (the engine names them
/// only, see `DerivativeSetting`; campaign files spell them as their keys, `campaignKey`).
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
}
