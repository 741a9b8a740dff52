import Atomistics
import Foundation
import LAMMPSLibrary
import LinearAlgebra

/// Numeric fields of the `.sw`/`.tersoff` file named by the input's `pair_coeff * *` line: a new
/// Θ rewrites the file (only the changed fields) and re-issues that `pair_coeff` with it.
public final class FileFieldParameters: ParameterSource {
    public let file: ParameterFile
    public let fields: [ParameterFile.Field]
    public var names: [String] { fields.map { file.name(of: $0) } }
    public var initialValues: [Double] { fields.map { file.value(of: $0) } }
    public var kind: String { "parameter file (\(file.style.rawValue))" }
    public var files: [String] { [file.url.path] }
    /// The expanded `pair_coeff` words, and which of them is the file.
    private let pairCoeff: [String]
    private let fileWord: Int

    /// - Parameter selections: entry and field names, e.g. ("Si,Si,Si", ["epsilon", "lambda"]).
    public init(selections: [(entry: String, fields: [String])], simulation: Simulation) throws {
        let script = InputScript(simulation)
        var found: (words: [String], index: Int)?
        for line in try script.lines() where line.split(whereSeparator: \.isWhitespace).first == "pair_coeff" {
            let words = try script.expandedWords(line)
            guard words.count >= 4, words[1] == "*", words[2] == "*" else { continue }
            // pair_coeff * * FILE elements… or, inside hybrid styles, pair_coeff * * STYLE FILE elements…
            if let index = [3, 4].first(where: { $0 < words.count && FileManager.default.fileExists(atPath: script.resolve(words[$0]).path) }) {
                found = (Array(words.dropFirst()), index - 1)
            }
        }
        guard let found else {
            throw PotentialError.noPotentialFile(input: simulation.input.path)
        }
        let url = script.resolve(found.words[found.index])
        guard let style = ParameterFile.Style(file: url) else {
            throw PotentialError.unsupportedFileStyle(file: url.path)
        }
        file = try ParameterFile(contentsOf: url, style: style)
        var chosen: [ParameterFile.Field] = []
        for selection in selections {
            for name in selection.fields {
                if style == .tersoff, name == "m" {
                    throw PotentialError.notContinuous(field: name, style: "Tersoff")
                }
                let field = try file.field(entry: selection.entry, name: name)
                if !chosen.contains(field) { chosen.append(field) }
            }
        }
        fields = chosen
        pairCoeff = found.words
        fileWord = found.index
    }

    /// When LAMMPS cannot even run the input, the reason may be a parameter file LAMMPS rejects
    /// without naming it: the `.sw`/`.tersoff` files of the input's `pair_coeff` lines (read as
    /// written, variables unexpanded), parsed here so that the error names file and line.
    public static func diagnose(input: URL) -> Error? {
        guard let text = try? String(contentsOf: input, encoding: .utf8) else { return nil }
        for line in InputScript.commandLines(text) where line.hasPrefix("pair_coeff") {
            for word in line.split(whereSeparator: \.isWhitespace).map(String.init) {
                let url = word.hasPrefix("/") ? URL(fileURLWithPath: word)
                    : input.deletingLastPathComponent().appendingPathComponent(word).standardizedFileURL
                guard let style = ParameterFile.Style(file: url), FileManager.default.fileExists(atPath: url.path) else { continue }
                do { _ = try ParameterFile(contentsOf: url, style: style) } catch { return error }
            }
        }
        return nil
    }

    public func commands(for theta: [Double], scratch: URL) throws -> [PotentialCommand] {
        let url = try write(theta: theta, to: scratch).first!
        var words = pairCoeff
        words[fileWord] = try lammpsQuoted(url.path)
        return [.pairCoeff(words)]
    }

    /// The varied fields of another file of the same style and entries; a change of any other
    /// field is refused (the prediction would silently ignore it).
    public func read(_ url: URL) throws -> [Double] {
        let other = try ParameterFile(contentsOf: url, style: file.style)
        for (index, entry) in file.entries.enumerated() {
            guard let changed = other.entries.first(where: { $0.key == entry.key }) else { continue }
            for (k, (old, new)) in zip(entry.values, changed.values).enumerated()
            where old != new && !fields.contains(ParameterFile.Field(entry: index, field: k)) {
                throw PotentialFileError(file: url.path, line: nil, message: """
                    changes \(entry.key):\(file.style.fields[k]) (\(old) → \(new)), which is not in Θ; add it to \(setting: .vary), \
                    or the prediction would ignore that change
                    """)
            }
        }
        return try fields.map { field in
            let key = file.entries[field.entry].key
            return other.value(of: try other.field(entry: key, name: file.style.fields[field.field]))
        }
    }

    public func write(theta: [Double], to directory: URL) throws -> [URL] {
        let url = directory.appendingPathComponent(file.url.lastPathComponent)
        try Files.write(file.text(setting: theta, of: fields), to: url)
        return [url]
    }
}
