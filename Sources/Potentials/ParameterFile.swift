import Foundation

/// A LAMMPS many-body potential file whose entries are fixed-length word lists: three element
/// names, then numbers (Stillinger–Weber `.sw`, Tersoff `.tersoff`). Entries may span lines;
/// `#` starts a comment. The text is kept whole so that a rewrite for new values changes only
/// the words of the changed fields, every other character as it was.
public struct ParameterFile: Sendable {
    public enum Style: String, Sendable, CaseIterable {
        case stillingerWeber = "sw"
        case tersoff

        /// The numeric fields of an entry, in file order (LAMMPS documentation of the pair style).
        public var fields: [String] {
            switch self {
            case .stillingerWeber:
                return ["epsilon", "sigma", "a", "lambda", "gamma", "costheta0", "A", "B", "p", "q", "tol"]
            case .tersoff:
                return ["m", "gamma", "lambda3", "c", "d", "costheta0", "n", "beta", "lambda2", "B", "R", "D",
                        "lambda1", "A"]
            }
        }

        /// The style a file's name says it holds (`Si.sw`, `SiC.tersoff`), or nil.
        public init?(file: URL) {
            switch file.pathExtension {
            case "sw": self = .stillingerWeber
            case "tersoff": self = .tersoff
            default: return nil
            }
        }

        public static let supportedDescription = "Stillinger–Weber (.sw) and Tersoff (.tersoff)"
    }

    /// One word of the file: its text, where it is, and its line (1-based) for messages.
    struct Word: Sendable {
        var text: String
        var range: Range<String.Index>
        var line: Int
    }

    public struct Entry: Sendable {
        /// "Si,Si,Si".
        public var key: String
        var words: [Word]
        public var values: [Double]
    }

    public let url: URL
    public let style: Style
    public let text: String
    public let entries: [Entry]

    public init(contentsOf url: URL, style: Style) throws {
        let text: String
        do { text = try String(contentsOf: url, encoding: .utf8) } catch {
            throw PotentialFileError(file: url.path, line: nil, message: "cannot be read (\(error.localizedDescription))")
        }
        try self.init(text: text, url: url, style: style)
    }

    public init(text: String, url: URL, style: Style) throws {
        self.url = url
        self.style = style
        self.text = text
        let words = Self.words(of: text)
        let width = 3 + style.fields.count
        var entries: [Entry] = []
        var start = 0
        while start < words.count {
            let group = Array(words[start..<min(start + width, words.count)])
            let key = group.prefix(3).map(\.text).joined(separator: ",")
            guard group.count == width else {
                throw PotentialFileError(file: url.path, line: group[0].line, message: """
                    the entry \(key) has \(group.count - 3) of the \(style.fields.count) numbers a \
                    \(style.rawValue) entry needs (\(style.fields.joined(separator: " ")))
                    """)
            }
            var values: [Double] = []
            for (index, word) in group.dropFirst(3).enumerated() {
                guard let value = Double(word.text), value.isFinite else {
                    throw PotentialFileError(file: url.path, line: word.line, message: """
                        field \(style.fields[index]) of entry \(key) is '\(word.text)', not a finite number
                        """)
                }
                values.append(value)
            }
            entries.append(Entry(key: key, words: group, values: values))
            start += width
        }
        guard !entries.isEmpty else {
            throw PotentialFileError(file: url.path, line: nil, message: "holds no \(style.rawValue) entry")
        }
        self.entries = entries
    }

    /// The words outside comments, with their ranges in `text`.
    private static func words(of text: String) -> [Word] {
        var result: [Word] = []
        var line = 1, inComment = false
        var wordStart: String.Index?
        var index = text.startIndex
        func close(at end: String.Index) {
            if let start = wordStart { result.append(Word(text: String(text[start..<end]), range: start..<end, line: line)) }
            wordStart = nil
        }
        while index < text.endIndex {
            let character = text[index]
            if character == "\n" || character == "\r\n" {
                close(at: index)
                inComment = false
                line += 1
            } else if inComment {
            } else if character == "#" {
                close(at: index)
                inComment = true
            } else if character.isWhitespace {
                close(at: index)
            } else if wordStart == nil {
                wordStart = index
            }
            index = text.index(after: index)
        }
        close(at: text.endIndex)
        return result
    }

    /// A varied field: entry index and field index.
    public struct Field: Sendable, Hashable {
        public var entry: Int
        public var field: Int
    }

    /// Finds "Si,Si,Si:epsilon" style names; the error lists what exists.
    public func field(entry key: String, name: String) throws -> Field {
        guard let entry = entries.firstIndex(where: { $0.key == key }) else {
            throw PotentialFileError(file: url.path, line: nil, message: """
                has no entry \(key); its entries are \(entries.map(\.key).joined(separator: " "))
                """)
        }
        guard let field = style.fields.firstIndex(of: name) else {
            throw PotentialFileError(file: url.path, line: nil, message: """
                has no field '\(name)' in a \(style.rawValue) entry; the fields are \(style.fields.joined(separator: ", "))
                """)
        }
        return Field(entry: entry, field: field)
    }

    public func name(of field: Field) -> String { "\(entries[field.entry].key):\(style.fields[field.field])" }

    public func value(of field: Field) -> Double { entries[field.entry].values[field.field] }

    /// The file's text with `values` in the given fields: every other character unchanged, and a
    /// field whose value did not change keeps its original spelling.
    public func text(setting values: [Double], of fields: [Field]) -> String {
        var replacements: [(Range<String.Index>, String)] = []
        for (field, value) in zip(fields, values) where value != self.value(of: field) {
            replacements.append((entries[field.entry].words[3 + field.field].range, String(format: "%.17g", value)))
        }
        var result = text
        for (range, word) in replacements.sorted(by: { $0.0.lowerBound > $1.0.lowerBound }) {
            result.replaceSubrange(range, with: word)
        }
        return result
    }
}
