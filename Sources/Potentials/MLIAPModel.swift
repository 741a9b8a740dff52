import Foundation

/// An ML-IAP linear or quadratic model file (`pair_style mliap model linear FILE`): a line
/// `nelements nparams`, then each element's parameters in the descriptor file's element order,
/// the first of each its constant energy (one number per line, `#` comments).
public struct MLIAPModel: Equatable, Sendable {
    /// Comment lines before the counts, kept when the file is written again.
    public var header: [String]
    /// Per element, its `nparams` parameters (constant first).
    public var parameters: [[Double]]

    public var parametersPerElement: Int { parameters.first?.count ?? 0 }

    public init(header: [String], parameters: [[Double]]) {
        self.header = header
        self.parameters = parameters
    }

    public init(contentsOf url: URL) throws {
        let file = url.path
        let text: String
        do { text = try String(contentsOf: url, encoding: .utf8) } catch {
            throw PotentialFileError(file: file, line: nil, message: "cannot be read")
        }
        header = text.components(separatedBy: "\n").prefix { $0.hasPrefix("#") || $0.trimmingCharacters(in: .whitespaces).isEmpty }
        var lines = DataLines(text: text, file: file)
        let counts = try lines.next(file: file, expecting: "the line \"nelements nparams\"")
        guard counts.tokens.count == 2, let elements = Int(counts.tokens[0]), let each = Int(counts.tokens[1]),
              elements > 0, each > 1 else {
            throw counts.error("expected \"nelements nparams\", found \"\(counts.text)\"")
        }
        var values: [Double] = []
        while let line = lines.nextIfAny() {
            for token in line.tokens {
                guard let value = Double(token), value.isFinite else { throw line.error("\"\(token)\" is not a finite number") }
                values.append(value)
            }
        }
        guard values.count == elements * each else {
            throw PotentialFileError(file: file, line: nil, message: """
                declares \(elements) elements of \(each) parameters (\(elements * each) numbers) but holds \(values.count)
                """)
        }
        parameters = (0..<elements).map { Array(values[$0 * each..<($0 + 1) * each]) }
    }

    public var text: String {
        var lines = header
        lines.append("\(parameters.count) \(parametersPerElement)")
        for element in parameters { lines += element.map { String(format: "%.17g", $0) } }
        return lines.joined(separator: "\n") + "\n"
    }

    public func write(to url: URL) throws { try text.write(to: url, atomically: true, encoding: .utf8) }
}
