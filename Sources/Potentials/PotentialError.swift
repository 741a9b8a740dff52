import Atomistics
import Foundation

/// Settings that choose a potential's parameters Θ, which Potentials' refusals name. The
/// command line spells them as its flags, a campaign file as its keys.
public enum PotentialSetting: String, Setting, CaseIterable {
    /// Fields of a parameter file (.sw, .tersoff, …) in Θ.
    case vary
    /// LAMMPS variables in Θ.
    case parameters
    /// The relative finite-difference step in Θ.
    case parameterStep = "parameter_step"
    /// The SNAP coefficient and parameter files.
    case snapcoeff, snapparam

    public var name: String { rawValue }
}

extension SettingMessage.Interpolation {
    public mutating func appendInterpolation(setting: PotentialSetting) { append(setting: setting) }
}

/// Why a potential cannot be parametrized or evaluated as asked. Each case carries what it is
/// about; the settings it names are spelled by whoever reports it (`description(settings:)`).
public enum PotentialError: SettingError {
    /// An assignment of Θ that is not NAME=VALUE with a finite number.
    case notAnAssignment(String)
    /// A name that is not a parameter of Θ, and the parameters there are.
    case notAParameter(String, parameters: [String])
    /// Fields were asked for, but the input names no potential file in a `pair_coeff * *` line.
    case noPotentialFile(input: String)
    /// Fields were asked for in a parameter file of a style they do not support.
    case unsupportedFileStyle(file: String)
    /// A field that is a switch, not a continuous parameter (Tersoff's m).
    case notContinuous(field: String, style: String)
    /// A LAMMPS variable for Θ that is not a valid name, or that the input does not define as a number.
    case notAVariableName(String)
    case undefinedVariable(String, input: String)
    /// A force-field line other than pair lines that uses a parameter of Θ.
    case parameterOutsidePairLines(line: String)
    /// The evaluation at a finite-difference step in Θ failed.
    case finiteDifferenceFailed(parameter: String, from: Double, to: Double, underlying: String)
    /// The input has no SNAP `pair_coeff` line.
    case noSNAPPairCoeff(input: String)
    /// An alchemical substitution that cannot be made, and why.
    case substitution(String)
    /// An atom type range of a pair_coeff line that cannot be read.
    case typeRange(line: String, word: String)

    public func description(settings spelling: (any Setting) -> String) -> String {
        message.spelled(spelling)
    }

    private var message: SettingMessage {
        switch self {
        case .notAnAssignment(let text): return "'\(text)' is not NAME=VALUE with a finite number"
        case .notAParameter(let name, let parameters):
            let listed = parameters.prefix(20).joined(separator: ", ") + (parameters.count > 20 ? ", …" : "")
            return "'\(name)' is not a parameter of Θ; the parameters are \(listed)"
        case .noPotentialFile(let input):
            return """
                \(setting: .vary): \(input) has no `pair_coeff * * FILE …` line naming a potential file; \
                \(setting: .vary) changes fields of \(ParameterFile.Style.supportedDescription) files
                """
        case .unsupportedFileStyle(let file):
            return """
                \(setting: .vary): unsupported parameter-file style: \(file) (named by the input's pair_coeff); \
                \(setting: .vary) supports \(ParameterFile.Style.supportedDescription) files. Other potentials: make the \
                parameters LAMMPS variables and use \(setting: .parameters)
                """
        case .notContinuous(let field, let style):
            return "\(setting: .vary): \(style)'s \(field) is a switch (1 or 3), not a continuous parameter"
        case .notAVariableName(let name): return "\(setting: .parameters): '\(name)' is not a LAMMPS variable name"
        case .undefinedVariable(let name, let input):
            return """
                \(setting: .parameters): \(input) defines no numeric variable '\(name)' (expected e.g. \
                `variable \(name) equal 1.0` used in its pair_coeff lines)
                """
        case .parameterOutsidePairLines(let line):
            return """
                \(setting: .parameters): \(line) uses a parameter; only pair_style, pair_coeff and pair_modify lines are \
                re-issued for a new Θ, so this term would silently keep its old value
                """
        case .finiteDifferenceFailed(let parameter, let from, let to, let underlying):
            return """
                the finite difference in \(parameter) (\(from) → \(to)) failed: \(underlying). \
                Choose a smaller \(setting: .parameterStep), or leave this parameter out of Θ.
                """
        case .noSNAPPairCoeff(let input):
            return """
                no SNAP pair_coeff found in \(input) or its included files \
                (expected pair_coeff * * [snap] FILE.snapcoeff FILE.snapparam ELEMENTS…); \
                name the files with \(setting: .snapcoeff) and \(setting: .snapparam)
                """
        case .substitution(let text): return "\(text)"
        case .typeRange(let line, let word): return "'\(line)': cannot read the atom type range '\(word)'"
        }
    }
}
