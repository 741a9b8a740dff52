import ArgumentParser

/// Options passed through to LAMMPS's own command line, shared by every command that runs an input.
struct LammpsOptions: ParsableArguments {
    @Option(name: .customLong("var"),
            help: ArgumentHelp("Set an input variable, as lmp -var NAME VALUE (repeatable).", valueName: "NAME=VALUE"))
    var variables: [VariableAssignment] = []

    // Unconditional: the value itself starts with "-" ("-sf omp -pk omp 2").
    @Option(parsing: .unconditional,
            help: ArgumentHelp("Further LAMMPS command-line arguments in one string, e.g. \"-sf omp -pk omp 2\".",
                               valueName: "ARGS"))
    var lammpsArgs = LammpsArguments(words: [])

    var arguments: [String] { variables.flatMap { ["-var", $0.name, $0.value] } + lammpsArgs.words }
}

/// `NAME=VALUE` of `--var`.
struct VariableAssignment: ExpressibleByArgument {
    var name: String
    var value: String

    init?(argument: String) {
        let parts = argument.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty, !parts[0].contains(" ") else { return nil }
        (name, value) = (parts[0], parts[1])
    }
    static var defaultCompletionKind: CompletionKind { .default }
}

/// LAMMPS command-line arguments given as one string, split into words as a shell would:
/// whitespace separates, single or double quotes group ("-var name 'a b'").
struct LammpsArguments: ExpressibleByArgument {
    var words: [String]

    init(words: [String]) { self.words = words }

    init?(argument: String) {
        var words: [String] = [], current = "", quote: Character?, inWord = false
        for character in argument {
            if let open = quote {
                if character == open { quote = nil } else { current.append(character) }
            } else if character == "'" || character == "\"" {
                quote = character
                inWord = true
            } else if character.isWhitespace {
                if inWord { words.append(current) }
                current = ""
                inWord = false
            } else {
                current.append(character)
                inWord = true
            }
        }
        guard quote == nil else { return nil }
        if inWord { words.append(current) }
        self.words = words
    }

    var defaultValueDescription: String { words.joined(separator: " ") }
}

/// The comma-separated values of an option value, or nil if any of them does not parse.
func commaSeparated<T: LosslessStringConvertible>(_ argument: String) -> [T]? {
    let values = argument.split(separator: ",", omittingEmptySubsequences: false).map { T(String($0)) }
    return values.contains { $0 == nil } ? nil : values.map { $0! }
}

/// Three numbers `x,y,z` (a point in Å).
struct Point3: ExpressibleByArgument, Codable {
    var values: [Double]
    init?(argument: String) {
        guard let numbers: [Double] = commaSeparated(argument), numbers.count == 3, numbers.allSatisfy(\.isFinite) else {
            return nil
        }
        values = numbers
    }
}

/// Two radii `inner,outer` (Å), 0 < inner < outer.
struct RadiusPair: ExpressibleByArgument {
    var inner: Double, outer: Double
    init?(argument: String) {
        guard let numbers: [Double] = commaSeparated(argument), numbers.count == 2,
              0 < numbers[0], numbers[0] < numbers[1], numbers[1].isFinite
        else { return nil }
        (inner, outer) = (numbers[0], numbers[1])
    }
}

/// Conventional cells `N` or `NX,NY,NZ`, each positive.
struct CellCounts: ExpressibleByArgument {
    var counts: [Int]
    init?(argument: String) {
        guard let numbers: [Int] = commaSeparated(argument), [1, 3].contains(numbers.count), numbers.allSatisfy({ $0 > 0 })
        else { return nil }
        counts = numbers.count == 1 ? Array(repeating: numbers[0], count: 3) : numbers
    }
    var defaultValueDescription: String { counts.map(String.init).joined(separator: ",") }
}

/// Where a run writes, and whether it may replace an earlier run there.
struct OutputOptions: ParsableArguments {
    @Option(help: "Output directory; written through DIR.incomplete and moved into place when the run completes.")
    var out: String
    @Flag(help: "Replace an existing, non-empty --out directory (only once this run completes).")
    var overwrite = false
}
