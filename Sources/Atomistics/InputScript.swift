import Foundation

/// The command lines of a LAMMPS input as LAMMPS reads them: comments removed, `&`
/// continuations joined, `include`d files followed (their paths expanded by LAMMPS itself, so
/// the files LAMMPS actually read are found).
public struct InputScript {
    public let simulation: Simulation

    public init(_ simulation: Simulation) { self.simulation = simulation }

    /// Every command line of the input and its included files, in the order LAMMPS ran them.
    public func lines() throws -> [String] {
        var result: [String] = []
        try scan(simulation.input, depth: 0, into: &result)
        return result
    }

    /// A line's words after LAMMPS's variable substitution (with the variables' current values).
    public func expandedWords(_ line: String) throws -> [String] {
        try simulation.lammps.expand(line).split(whereSeparator: \.isWhitespace).map(String.init)
    }

    /// A path of the input resolved against the input's folder, as LAMMPS resolves it.
    public func resolve(_ path: String) -> URL {
        let folder = simulation.input.deletingLastPathComponent()
        return path.hasPrefix("/") ? URL(fileURLWithPath: path) : folder.appendingPathComponent(path).standardizedFileURL
    }

    private func scan(_ file: URL, depth: Int, into result: inout [String]) throws {
        guard depth < 10, let text = try? String(contentsOf: file, encoding: .utf8) else { return }
        for line in Self.commandLines(text) {
            if line.split(whereSeparator: \.isWhitespace).first == "include" {
                let expanded = try expandedWords(line)
                if expanded.count >= 2 { try scan(resolve(expanded[1]), depth: depth + 1, into: &result) }
            } else {
                result.append(line)
            }
        }
    }

    /// Input lines with comments removed and `&` continuations joined, as LAMMPS reads them.
    public static func commandLines(_ text: String) -> [String] {
        var lines: [String] = []
        var pending = ""
        for raw in text.components(separatedBy: "\n") {
            var line = String(raw.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first ?? "")
                .trimmingCharacters(in: .whitespaces)
            let continues = line.hasSuffix("&")
            if continues { line.removeLast() }
            pending += (pending.isEmpty ? "" : " ") + line
            if !continues {
                if !pending.trimmingCharacters(in: .whitespaces).isEmpty { lines.append(pending) }
                pending = ""
            }
        }
        return lines
    }
}
