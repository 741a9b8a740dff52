import Atomistics
import ImplicitDerivative
import Potentials

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

/// How a campaign file spells the settings Potentials' refusals name.
extension PotentialSetting {
    public var campaignKey: String {
        switch self {
        case .vary: return "vary.fields"
        case .parameters: return "vary.parameters"
        case .parameterStep: return "vary.step"
        case .snapcoeff: return "potential.snapcoeff"
        case .snapparam: return "potential.snapparam"
        }
    }
}

/// How a campaign run spells the settings Atomistics' refusals name: the output folder and
/// resuming are the command line's even for a campaign; a generated crystal's are the system's keys.
extension InputSetting {
    public var campaignKey: String {
        switch self {
        case .out: return "--out"
        case .overwrite: return "--overwrite"
        case .resume: return "--resume"
        case .zbl: return "system.zbl"
        case .soluteFraction: return "--solute-fraction"
        }
    }
}

/// Any layer's setting as a campaign file's key: how campaign runs report every `SettingError`.
public func campaignKey(_ setting: any Setting) -> String {
    switch setting {
    case let setting as DerivativeSetting: return setting.campaignKey
    case let setting as PotentialSetting: return setting.campaignKey
    case let setting as InputSetting: return setting.campaignKey
    default: return setting.name
    }
}
