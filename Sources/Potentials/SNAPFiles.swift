import Foundation
import Atomistics

/// A file error that names the file and line, so a user can go straight to it.
public struct PotentialFileError: SettingError {
    public var file: String
    public var line: Int?
    /// Names the settings that would help (spelled by whoever reports the error).
    public var message: SettingMessage

    public func description(settings spelling: (any Setting) -> String) -> String {
        let text = message.spelled(spelling)
        return line.map { "\(file):\($0): \(text)" } ?? "\(file): \(text)"
    }

    static func readText(_ url: URL, what: String) throws -> String {
        do { return try String(contentsOf: url, encoding: .utf8) } catch {
            throw PotentialFileError(file: url.path, line: nil, message: "cannot read \(what)")
        }
    }
}

/// One element block of a `.snapcoeff` file.
public struct SNAPElement: Equatable, Sendable {
    public var name: String
    public var radius: Double
    public var weight: Double
    /// Further numbers on the element line (sinner, dinner with switchinnerflag), kept verbatim.
    public var extra: [String]
    /// beta0 followed by the descriptor coefficients.
    public var coefficients: [Double]
}

/// The coefficients file of a SNAP potential (`pair_coeff * * FILE.snapcoeff …`), read as LAMMPS
/// reads it and written back with every comment line and full double precision.
public struct SNAPCoefficients: Equatable, Sendable {
    /// Comment and blank lines before the "nelements ncoeff" line (DATE/CITATION header).
    public var header: [String]
    public var elements: [SNAPElement]

    public var coefficientsPerElement: Int { elements.first?.coefficients.count ?? 0 }

    public func element(named name: String) -> SNAPElement? { elements.first { $0.name == name } }

    public init(header: [String], elements: [SNAPElement]) {
        self.header = header
        self.elements = elements
    }

    public init(contentsOf url: URL) throws {
        try self.init(text: try PotentialFileError.readText(url, what: "SNAP coefficient file"), file: url.path)
    }

    public init(text: String, file: String = "<snapcoeff>") throws {
        var header: [String] = []
        var lines = DataLines(text: text, file: file)
        while let raw = lines.peekRaw(), DataLines.strip(raw).isEmpty {
            header.append(raw)
            lines.skipRaw()
        }
        let counts = try lines.next(file: file, expecting: "\"nelements ncoeff\"")
        guard counts.tokens.count >= 2, let nelements = Int(counts.tokens[0]), let ncoeff = Int(counts.tokens[1]),
              nelements > 0, ncoeff > 0
        else { throw counts.error("expected \"nelements ncoeff\" (two positive integers), found \"\(counts.text)\"") }
        var elements: [SNAPElement] = []
        for _ in 0..<nelements {
            let line = try lines.next(file: file, expecting: "an element line \"name radius weight\"")
            guard line.tokens.count >= 3, Double(line.tokens[0]) == nil,
                  let radius = Double(line.tokens[1]), let weight = Double(line.tokens[2])
            else { throw line.error("expected an element line \"name radius weight\", found \"\(line.text)\"") }
            var coefficients: [Double] = []
            for index in 0..<ncoeff {
                let value = try lines.next(file: file, expecting: "coefficient \(index) of element \(line.tokens[0])")
                guard value.tokens.count == 1, let number = Double(value.tokens[0]), number.isFinite else {
                    throw value.error("expected coefficient \(index) of element \(line.tokens[0]) (one number), found \"\(value.text)\"")
                }
                coefficients.append(number)
            }
            elements.append(SNAPElement(name: line.tokens[0], radius: radius, weight: weight,
                                        extra: Array(line.tokens.dropFirst(3)), coefficients: coefficients))
        }
        if let trailing = lines.nextIfAny() {
            throw trailing.error("unexpected content after the last coefficient: \"\(trailing.text)\"")
        }
        self.header = header
        self.elements = elements
    }

    /// The file text; reading it back gives identical numbers (shortest round-trip formatting).
    public var text: String {
        var lines = header
        lines.append("\(elements.count) \(coefficientsPerElement)")
        for element in elements {
            lines.append(([element.name, "\(element.radius)", "\(element.weight)"] + element.extra).joined(separator: " "))
            lines += element.coefficients.map { "\($0)" }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    public func write(to url: URL) throws {
        try Data(text.utf8).write(to: url, options: .atomic)
    }
}

/// The hyperparameter file of a SNAP potential (`.snapparam`): "keyword value" lines.
public struct SNAPParameters: Equatable, Sendable {
    /// The file's lines, kept so that writing reproduces it exactly.
    public var lines: [String]
    public var values: [String: String]

    public init(contentsOf url: URL) throws {
        try self.init(text: try PotentialFileError.readText(url, what: "SNAP parameter file"), file: url.path)
    }

    public init(text: String, file: String = "<snapparam>") throws {
        lines = text.components(separatedBy: "\n")
        if lines.last == "" { lines.removeLast() }
        values = [:]
        var reader = DataLines(text: text, file: file)
        while let line = reader.nextIfAny() {
            guard line.tokens.count == 2 else {
                throw line.error("expected \"keyword value\", found \"\(line.text)\"")
            }
            values[line.tokens[0]] = line.tokens[1]
        }
        for required in ["rcutfac", "twojmax"] where values[required] == nil {
            throw PotentialFileError(file: file, line: nil, message: "missing required keyword \(required)")
        }
        for (key, value) in values where key != "chemflag" && Double(value) == nil {
            throw PotentialFileError(file: file, line: nil, message: "keyword \(key) has a non-numeric value \"\(value)\"")
        }
    }

    public var text: String { lines.joined(separator: "\n") + "\n" }

    public func number(_ key: String, default fallback: Double) -> Double { values[key].flatMap(Double.init) ?? fallback }
    public func flag(_ key: String, default fallback: Int) -> Int { values[key].flatMap { Int(Double($0) ?? 0) } ?? fallback }

    public var rcutfac: Double { number("rcutfac", default: 0) }
    public var twojmax: Int { flag("twojmax", default: 0) }
    /// LAMMPS's defaults for pair snap, which compute sna/atom shares.
    public var rfac0: Double { number("rfac0", default: 0.99363) }
    public var rmin0: Double { number("rmin0", default: 0) }
    public var switchflag: Int { flag("switchflag", default: 1) }
    public var bzeroflag: Int { flag("bzeroflag", default: 1) }
    public var quadraticflag: Int { flag("quadraticflag", default: 0) }
    public var chemflag: Int { flag("chemflag", default: 0) }
    public var bnormflag: Int { flag("bnormflag", default: 0) }
    public var wselfallflag: Int { flag("wselfallflag", default: 0) }
    public var switchinnerflag: Int { flag("switchinnerflag", default: 0) }
}

/// Non-comment lines of a LAMMPS potential file, with their line numbers.
struct DataLines {
    struct Line {
        var number: Int
        var text: String
        var tokens: [String]
        var file: String
        func error(_ message: String) -> PotentialFileError {
            PotentialFileError(file: file, line: number, message: "\(message)")
        }
    }

    private let raw: [String]
    private var index = 0
    private let file: String

    init(text: String, file: String) {
        raw = text.components(separatedBy: "\n")
        self.file = file
    }

    /// The part of a line before `#`, trimmed.
    static func strip(_ line: String) -> String {
        String(line.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first ?? "")
            .trimmingCharacters(in: .whitespaces)
    }

    func peekRaw() -> String? { index < raw.count ? raw[index] : nil }
    mutating func skipRaw() { index += 1 }

    mutating func nextIfAny() -> Line? {
        while index < raw.count {
            defer { index += 1 }
            let content = DataLines.strip(raw[index])
            if !content.isEmpty {
                return Line(number: index + 1, text: content,
                            tokens: content.split(whereSeparator: \.isWhitespace).map(String.init), file: file)
            }
        }
        return nil
    }

    mutating func next(file: String, expecting what: String) throws -> Line {
        guard let line = nextIfAny() else {
            throw PotentialFileError(file: file, line: raw.count, message: "file ends where \(what) was expected")
        }
        return line
    }
}
