/// The rows of a text table of numbers (a constraints file, an ensemble, a covariance): one row a
/// line, words separated by whitespace, `#` starting a comment, blank lines skipped. Each caller
/// says in its own words what a wrong row is.
struct TextRow {
    /// 1-based, for messages `file:line`.
    var line: Int
    var words: [Substring]

    /// Every word as a finite number, or nil if any is not one.
    var values: [Double]? {
        let values = words.compactMap { Double($0) }.filter(\.isFinite)
        return values.count == words.count ? values : nil
    }

    static func rows(of text: String) -> [TextRow] {
        text.components(separatedBy: "\n").enumerated().compactMap { index, line in
            let words = (line.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first ?? "")
                .split(whereSeparator: \.isWhitespace)
            return words.isEmpty ? nil : TextRow(line: index + 1, words: words)
        }
    }
}

/// A CSV field as spreadsheet and pandas readers take it: one line, quoted when it holds a comma
/// or a quote (free text such as a failure reason, a configuration's file name).
enum CSV {
    static func field(_ text: String) -> String {
        let line = text.replacingOccurrences(of: "\r", with: " ").replacingOccurrences(of: "\n", with: " ")
        return line.contains(",") || line.contains("\"") ? "\"" + line.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : line
    }
}
