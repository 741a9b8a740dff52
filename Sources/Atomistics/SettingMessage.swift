import Foundation

/// A setting a user can change (or a step to take) that a refusal names. Library code only names
/// it: the command line spells it as a flag, a campaign file as its key, and each knows how.
/// Every layer has its own kind (`InputSetting` here, `PotentialSetting`, `DerivativeSetting`).
public protocol Setting: Sendable {
    /// The plain name, for a message no caller spells.
    var name: String { get }
}

/// Text that refers to settings by name, written as an ordinary string with `\(setting: …)`
/// where a setting is named (each layer adds the overload for its own kind); interpolating
/// another message keeps its settings. One mechanism for every layer's refusals, so that a
/// caller spells them all with one function.
public struct SettingMessage: Sendable, CustomStringConvertible, ExpressibleByStringInterpolation {
    enum Piece: Sendable {
        case text(String)
        case setting(any Setting)
    }
    var pieces: [Piece]

    public init(stringLiteral value: String) { pieces = [.text(value)] }
    public init(stringInterpolation: Interpolation) { pieces = stringInterpolation.pieces }

    public struct Interpolation: StringInterpolationProtocol {
        var pieces: [Piece] = []
        public init(literalCapacity: Int, interpolationCount: Int) {}
        public mutating func appendLiteral(_ literal: String) { pieces.append(.text(literal)) }
        public mutating func appendInterpolation<T>(_ value: T) { pieces.append(.text(String(describing: value))) }
        public mutating func appendInterpolation(_ message: SettingMessage) { pieces += message.pieces }
        public mutating func appendInterpolation(setting: InputSetting) { append(setting: setting) }
        /// For the `\(setting:)` overloads of other layers' kinds.
        public mutating func append(setting: any Setting) { pieces.append(.setting(setting)) }
    }

    /// The text with each setting spelled by `spelling`.
    public func spelled(_ spelling: (any Setting) -> String) -> String {
        pieces.map { piece in
            switch piece {
            case .text(let text): return text
            case .setting(let setting): return spelling(setting)
            }
        }.joined()
    }

    public var description: String { spelled(\.name) }
}

/// An error whose message names settings: whoever reports it spells them
/// (`description` gives their plain names).
public protocol SettingError: Error, CustomStringConvertible {
    func description(settings spelling: (any Setting) -> String) -> String
}

extension SettingError {
    public var description: String { description(settings: \.name) }
}

/// Settings of runs and systems that Atomistics' refusals name.
public enum InputSetting: String, Setting, CaseIterable {
    /// The output folder of a run.
    case out
    /// A generated crystal's ZBL core (inner and outer radius).
    case zbl
    /// A generated binary crystal's solute fraction.
    case soluteFraction = "solute_fraction"
    /// Replacing an output folder that holds another run; continuing an interrupted run.
    case overwrite, resume

    public var name: String { rawValue }
}
