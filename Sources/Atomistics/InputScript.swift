import Foundation
import LAMMPSLibrary

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
        Self.words(try simulation.lammps.expand(line))
    }

    /// The words of a command as LAMMPS splits them: at whitespace, except inside "…", '…' or
    /// """…""" (the quotes removed), so that quoted paths stay one word.
    public static func words(_ line: String) -> [String] {
        var words: [String] = []
        var rest = Substring(line)
        while true {
            rest = rest.drop { $0.isWhitespace }
            guard let first = rest.first else { return words }
            let quote = rest.hasPrefix("\"\"\"") ? "\"\"\"" : (first == "\"" || first == "'") ? String(first) : nil
            if let quote, let end = rest.dropFirst(quote.count).range(of: quote) {
                words.append(String(rest[rest.index(rest.startIndex, offsetBy: quote.count)..<end.lowerBound]))
                rest = rest[end.upperBound...]
            } else {
                let end = rest.firstIndex { $0.isWhitespace } ?? rest.endIndex
                words.append(String(rest[..<end]))
                rest = rest[end...]
            }
        }
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

extension InputScript {
    /// Runs `file` command by command, as `lmp -in` would, with `extra` more atom types in the box
    /// its first `create_box` or `read_data` creates (LAMMPS cannot add atom types to an existing
    /// box). Control flow that needs LAMMPS's own file reader, and runs before the new type has a
    /// potential, are refused with the line that has them.
    static func run(_ file: URL, on lammps: LAMMPS, addingAtomTypes extra: Int, patched: inout Bool, depth: Int) throws {
        guard depth < 10 else { throw InputError.fileFormat(file: file.path, line: nil, reason: "include files nested more than 10 deep") }
        let text: String
        do { text = try String(contentsOf: file, encoding: .utf8) } catch { throw InputError.fileNotFound(file.path) }
        for line in commandLines(text) {
            var words = line.split(whereSeparator: \.isWhitespace).map(String.init)
            switch words[0] {
            case "include":
                let path = try lammps.expand(line).split(whereSeparator: \.isWhitespace).dropFirst().first.map(String.init) ?? ""
                let url = path.hasPrefix("/") ? URL(fileURLWithPath: path)
                    : URL(fileURLWithPath: FileManager.default.currentDirectoryPath).appendingPathComponent(path)
                try run(url, on: lammps, addingAtomTypes: extra, patched: &patched, depth: depth + 1)
                continue
            case "jump", "label", "next", "read_restart", "run", "minimize", "rerun":
                throw InputError.fileFormat(file: file.path, line: nil, reason: """
                    '\(line)': an input whose atoms become a new element runs line by line, before \
                    the new element has a potential; remove \(words[0]) (the tool relaxes and evaluates itself)
                    """)
            case "create_box" where !patched:
                guard words.count >= 2, let count = Int(try lammps.expand(words[1])) else {
                    throw InputError.fileFormat(file: file.path, line: nil, reason: "'\(line)': the number of atom types is not an integer")
                }
                words[1] = "\(count + extra)"
                patched = true
                try lammps.command(words.joined(separator: " "))
                continue
            case "read_data" where !patched:
                guard !words.contains("extra/atom/types") else {
                    throw InputError.fileFormat(file: file.path, line: nil, reason: "'\(line)': remove extra/atom/types (the tool adds the new element's type)")
                }
                patched = true
                try lammps.command(line + " extra/atom/types \(extra)")
                continue
            case "pair_coeff" where patched:
                // A SNAP `pair_coeff * *` names one element per type: the new types have none yet
                // (NULL) until the substitution maps them.
                let expanded = try lammps.expand(line).split(whereSeparator: \.isWhitespace)
                if expanded.count > 4, expanded[1] == "*", expanded[2] == "*",
                   expanded[3] == "snap" || expanded[3].hasSuffix(".snapcoeff") {
                    try lammps.command(line + String(repeating: " NULL", count: extra))
                    continue
                }
            default:
                break
            }
            try lammps.command(line)
        }
    }
}
