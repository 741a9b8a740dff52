import Atomistics
import ImplicitDerivative
import Potentials
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

/// How the command line spells the settings Potentials' refusals name.
extension PotentialSetting {
    var option: String {
        switch self {
        case .vary: return "--vary"
        case .parameters: return "--parameters"
        case .parameterStep: return "--parameter-step"
        case .snapcoeff: return "--potential"
        case .snapparam: return "--snapparam"
        }
    }
}

/// How the command line spells the settings Atomistics' refusals name.
extension InputSetting {
    var option: String {
        switch self {
        case .out: return "--out"
        case .zbl: return "--zbl"
        case .soluteFraction: return "--solute-fraction"
        case .overwrite: return "--overwrite"
        case .resume: return "--resume"
        }
    }
}

/// Any layer's setting as its command-line flag: how the command line reports every `SettingError`.
func option(_ setting: any Setting) -> String {
    switch setting {
    case let setting as DerivativeSetting: return setting.option
    case let setting as PotentialSetting: return setting.option
    case let setting as InputSetting: return setting.option
    default: return setting.name
    }
}
