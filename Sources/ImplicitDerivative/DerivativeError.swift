import Atomistics
import Foundation

/// Why a derivative is refused. The messages name the settings that would help as
/// `DerivativeSetting`s; `description(spelling:)` spells them as the user gives them.
public enum DerivativeError: SettingError {
    /// X* is not a minimum: unconverged, a saddle, or no interactions at all.
    case notAMinimum(SettingMessage)
    /// The linear solve did not reach the accuracy the results need.
    case inaccurate(SettingMessage)
    /// A setting that cannot work for this system.
    case invalidSetting(SettingMessage)
    /// A saved derivative folder that is not a complete, unchanged set as it was written.
    case unusableSavedDerivative(SettingMessage)

    /// The message with each setting spelled by `spelling` (a command-line flag, a campaign key).
    public func description(settings spelling: (any Setting) -> String) -> String {
        switch self {
        case .notAMinimum(let text): return "not a minimum: " + text.spelled(spelling)
        case .inaccurate(let text): return "inaccurate derivative: " + text.spelled(spelling)
        case .invalidSetting(let text), .unusableSavedDerivative(let text): return text.spelled(spelling)
        }
    }

    /// The message with the engine's settings spelled by `spelling` (other layers' by name).
    public func description(spelling: (DerivativeSetting) -> String) -> String {
        description(settings: { ($0 as? DerivativeSetting).map(spelling) ?? $0.name })
    }
}

/// A setting a user can change, or a step to take, to get past a refusal of the engine. The
/// engine only names it: the command line and the campaign files spell it differently, and they
/// know how.
public enum DerivativeSetting: Setting, Hashable {
    /// The force tolerance of the relaxation of X*.
    case ftol
    /// The minimizer.
    case minStyle
    /// Differentiating at a point that is not a converged minimum (every output marked).
    case allowNonMinimum
    /// The derivative method, with the value suggested ("dense", "sparse").
    case method(String)
    /// The sparse method's relative residual.
    case tolerance
    /// The energy method's bias scale α0.
    case alpha0
    /// The dense method's region: its centre and radius.
    case center, radius
    /// The step that writes a saved derivative folder, and that step with its output folder.
    case derivativeStep, derivativeOutput

    /// The plain name, for a message no caller spells.
    public var name: String {
        switch self {
        case .ftol: return "ftol"
        case .minStyle: return "min_style"
        case .allowNonMinimum: return "allow_non_minimum"
        case .method(let value): return "method \(value)"
        case .tolerance: return "tolerance"
        case .alpha0: return "alpha0"
        case .center: return "center"
        case .radius: return "radius"
        case .derivativeStep: return "the derivative step"
        case .derivativeOutput: return "the derivative step with an output folder"
        }
    }
}

/// The engine's refusals are `SettingMessage`s (the one mechanism of every layer, so a caller
/// spells them all alike) that name `DerivativeSetting`s with `\(setting: .ftol)`.
extension SettingMessage.Interpolation {
    public mutating func appendInterpolation(setting: DerivativeSetting) { append(setting: setting) }
}
