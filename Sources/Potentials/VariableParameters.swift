import Atomistics
import Foundation
import LAMMPSLibrary
import LinearAlgebra

/// Parameters that are equal-style (or index-style) variables of the input, used by its
/// `pair_style`/`pair_coeff` lines (directly or through other variables): a new Θ redefines the
/// variables and re-issues those lines, so LAMMPS substitutes the new values.
public final class VariableParameters: ParameterSource {
    public let names: [String]
    public let initialValues: [Double]
    public let kind = "variables"
    public var files: [String] { [input.path] }
    private let input: URL
    /// Input lines to re-issue after the variables change, in input order.
    private let dependentLines: [String]
    /// Variables defined from the parameters (re-issued after them).
    private let dependentVariables: [String]

    public init(names: [String], simulation: Simulation) throws {
        self.names = names
        input = simulation.input
        var values: [Double] = []
        for name in names {
            guard name.range(of: #"^[A-Za-z_][A-Za-z0-9_]*$"#, options: .regularExpression) != nil else {
                throw PotentialError.notAVariableName(name)
            }
            guard let text = try? simulation.lammps.expand("$(v_\(name):%.17g)"), let value = Double(text) else {
                throw PotentialError.undefinedVariable(name, input: simulation.input.path)
            }
            values.append(value)
        }
        initialValues = values
        // Lines that mention a parameter or a variable derived from one, in input order.
        var related = Set(names)
        var lines: [String] = [], derived: [String] = []
        let script = try InputScript(simulation).lines()
        for line in script {
            let words = line.split(whereSeparator: \.isWhitespace).map(String.init)
            guard let command = words.first, Self.mentions(line, any: related) else { continue }
            if command == "variable", words.count >= 2, !names.contains(words[1]) {
                related.insert(words[1])
                derived.append(words[1])
                lines.append(line)
            } else if Self.pairCommands.contains(command) {
                lines.append(line)
            } else if Self.otherForceFieldCommands.contains(where: { command.hasPrefix($0) }) {
                throw PotentialError.parameterOutsidePairLines(line: line)
            }
        }
        // Re-issuing pair_style resets per-pair settings: every later pair line goes with it.
        if let style = script.lastIndex(where: { $0.hasPrefix("pair_style") && lines.contains($0) }) {
            let following = script[style...].filter { line in
                Self.pairCommands.contains(String(line.split(whereSeparator: \.isWhitespace).first ?? ""))
            }
            lines = lines.filter { !Self.pairCommands.contains(String($0.split(whereSeparator: \.isWhitespace).first ?? "")) }
                + following
        }
        dependentLines = lines
        dependentVariables = derived
    }

    static let pairCommands: Set<String> = ["pair_style", "pair_coeff", "pair_modify"]
    /// Commands with energy terms the re-issued pair lines would not update.
    static let otherForceFieldCommands = ["bond_", "angle_", "dihedral_", "improper_", "kspace_", "fix", "special_bonds"]

    /// `${name}`, `$x` (one-letter names) or `v_name` inside the line.
    static func mentions(_ line: String, any names: Set<String>) -> Bool {
        names.contains { name in
            line.contains("${\(name)}") || line.contains("v_\(name)")
                || (name.count == 1 && line.contains("$\(name)"))
        }
    }

    public func commands(for theta: [Double], scratch: URL) throws -> [PotentialCommand] {
        var commands = zip(names, theta).map { PotentialCommand.variable(name: $0, value: $1) }
        // A derived variable is deleted first so that an index-style one is redefined too.
        for line in dependentLines {
            let words = line.split(whereSeparator: \.isWhitespace)
            if words.first == "variable", words.count >= 2 { commands.append(.inputLine("variable \(words[1]) delete")) }
            commands.append(.inputLine(line))
        }
        return commands
    }

    /// An include file of the variables (`include FILE` before the input's potential lines).
    public func write(theta: [Double], to directory: URL) throws -> [URL] {
        let url = directory.appendingPathComponent("parameters.lammps")
        let lines = ["# Θ as LAMMPS variables (implicit-lammps); include before the potential's lines"]
            + zip(names, theta).map { "variable \($0) equal \(String(format: "%.17g", $1))" }
        try Files.write(lines.joined(separator: "\n") + "\n", to: url)
        return [url]
    }

    /// `variable NAME equal VALUE` lines (as `write` writes them); parameters not named keep their values.
    public func read(_ url: URL) throws -> [Double] {
        let text = try PotentialFileError.readText(url, what: "the variables file")
        var values = initialValues
        for (number, line) in text.components(separatedBy: "\n").enumerated() {
            let words = line.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first?
                .split(whereSeparator: \.isWhitespace).map(String.init) ?? []
            guard !words.isEmpty else { continue }
            guard words.count == 4, words[0] == "variable", ["equal", "index"].contains(words[2]), let value = Double(words[3]) else {
                throw PotentialFileError(file: url.path, line: number + 1, message: "expected `variable NAME equal VALUE`, got '\(line)'")
            }
            guard let index = names.firstIndex(of: words[1]) else {
                throw PotentialFileError(file: url.path, line: number + 1,
                                         message: "'\(words[1])' is not one of the parameters \(names.joined(separator: ", "))")
            }
            values[index] = value
        }
        return values
    }
}
