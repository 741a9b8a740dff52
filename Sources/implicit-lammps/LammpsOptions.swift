import ArgumentParser

/// Options passed through to LAMMPS's own command line, shared by every command that runs an input.
struct LammpsOptions: ParsableArguments {
    @Option(name: .customLong("var"),
            help: ArgumentHelp("Set an input variable, as lmp -var NAME VALUE (repeatable).", valueName: "NAME=VALUE"))
    var rawVariables: [String] = []

    @Option(help: ArgumentHelp("Further LAMMPS command-line arguments in one string, e.g. \"-sf omp -pk omp 2\".",
                               valueName: "ARGS"))
    var lammpsArgs: String = ""

    var variables: [(String, String)] {
        rawVariables.map { entry in
            let parts = entry.split(separator: "=", maxSplits: 1).map(String.init)
            return (parts[0], parts[1])
        }
    }

    var arguments: [String] {
        variables.flatMap { ["-var", $0.0, $0.1] } + lammpsArgs.split(separator: " ").map(String.init)
    }

    func validate() throws {
        for entry in rawVariables where entry.split(separator: "=", maxSplits: 1).count != 2 || entry.hasPrefix("=") {
            throw ValidationError("--var expects NAME=VALUE, got '\(entry)'")
        }
    }
}
