import ArgumentParser
import Atomistics
import Foundation
import Workflows
import LAMMPSLibrary

extension CellRelaxation: ExpressibleByArgument {}
extension MinimizerStyle: ExpressibleByArgument {}

struct RelaxCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "relax",
        abstract: "Relax the system of an existing LAMMPS input and write the relaxed structure.",
        discussion: """
            The input runs unchanged from its own folder (it defines units, atoms, potential, groups and \
            fixes; `fix setforce 0 0 0` freezes atoms). Writes to DIR: summary.json, relaxed.data (LAMMPS \
            data), relaxed.extxyz, log.lammps, and relax.lammps, which replays the same relaxation with \
            the native executable: cd <input folder> && lmp -in DIR/relax.lammps. A relaxation that does \
            not converge keeps its outputs (summary.json says converged: false and why) and exits non-zero.
            """)

    @Option(help: "LAMMPS input that defines the system and its potential.") var input: String
    @Option(help: "Cell degrees of freedom to relax: fixed, iso or aniso.") var box: CellRelaxation = .fixed
    @Option(parsing: .unconditional, help: "Force tolerance: largest per-atom force norm at convergence (eV/Å in metal units).")
    var ftol: Double = 1e-6
    @Option(help: """
        Minimizer: LAMMPS's min_style cg, fire or sd, or precon-lbfgs (L-BFGS preconditioned like the derivative \
        solves, through the library; relax.lammps then replays with CG to the same minimum).
        """) var minStyle: MinimizerStyle = .cg
    @OptionGroup var output: OutputOptions
    @OptionGroup var lammpsOptions: LammpsOptions

    func validate() throws {
        guard ftol > 0, ftol.isFinite else { throw ValidationError("--ftol must be a positive number, got \(ftol)") }
    }

    func run() throws {
        try runWritingOutputs(output) { run in
            let phases = Phases()
            let simulation = try phases.measure("set_up") {
                try Simulation(input: input, logFile: run.url("log.lammps"), extraArguments: lammpsOptions.arguments)
            }
            phases.evaluationCount = { simulation.allForceEvaluations }
            try MPIEnvironment.check(lammpsSize: simulation.lammps.mpiSize)
            progress("relax: \(simulation.lammps.natoms) atoms from \(simulation.input.path), cell \(box.rawValue), "
                     + "\(minStyle.rawValue), ftol \(ftol), \(simulation.lammps.mpiSize) MPI rank(s)")
            let settings = RelaxationSettings(cell: box, ftol: ftol, minStyle: minStyle)
            let (result, commands) = try phases.measure("relaxation") { try simulation.relaxationWithReplay(settings, progress: progress) }
            try phases.measure("writing") { try write(simulation, result: result, commands: commands, to: run) }
            if simulation.isRoot {
                try Files.writeJSON(PhasedSummary(Summary(result: result, input: simulation.input.path,
                                                          lammpsLibrary: simulation.lammps.library.path,
                                                          lammpsVersion: simulation.lammps.version,
                                                          mpiRanks: simulation.lammps.mpiSize), phases: phases),
                                    to: run.url("summary.json"))
            }
            progress(phases.summaryLine)
            progress("relax: \(result.converged ? "converged" : "NOT converged") after \(result.steps) steps, "
                     + "\(result.forceEvaluations) force evaluations; E = \(result.energy), V = \(result.volume); wrote \(run.destination.path)")
            simulation.lammps.close()
            return result.shortfall.map {
                "the relaxation did not converge: \($0). Its outputs are in \(run.destination.path), marked "
                    + "\"converged\": false in summary.json."
            }
        }
    }

    /// relaxed.data, relaxed.extxyz and relax.lammps.
    private func write(_ simulation: Simulation, result: RelaxationResult, commands: [String], to run: RunDirectory) throws {
        let structure = try simulation.structure()
        let forces = try simulation.forces()
        try simulation.writeData(to: run.url("relaxed.data"))
        guard simulation.isRoot else { return }
        try Files.write(ExtendedXYZ.format(structure, forces: forces, energy: result.energy), to: run.url("relaxed.extxyz"))
        try Files.write(try replayScript(simulation.input, variables: lammpsOptions.variables, commands: commands),
                        to: run.url("relax.lammps"))
    }

    private func replayScript(_ input: URL, variables: [VariableAssignment], commands: [String]) throws -> String {
        ([
            "# Replays `implicit-lammps relax` with the native LAMMPS executable. Run from the input's folder:",
            "#   cd '\(input.deletingLastPathComponent().path)' && lmp -in <this file>",
        ]
        // An index variable defined first wins over the input's own default, exactly like -var.
        + (try variables.map { "variable \($0.name) index \(try scriptQuoted($0.value))" })
        + ["include \(try scriptQuoted(input.path))"] + commands).joined(separator: "\n") + "\n"
    }
}

/// summary.json of `relax`.
struct Summary: Encodable {
    var result: RelaxationResult
    var input: String
    var lammpsLibrary: String
    var lammpsVersion: Int
    var mpiRanks: Int

    func encode(to encoder: Encoder) throws {
        try result.encode(to: encoder)
        enum Keys: String, CodingKey { case input, lammpsLibrary, lammpsVersion, mpiRanks }
        var container = encoder.container(keyedBy: Keys.self)
        try container.encode(input, forKey: .input)
        try container.encode(lammpsLibrary, forKey: .lammpsLibrary)
        try container.encode(lammpsVersion, forKey: .lammpsVersion)
        try container.encode(mpiRanks, forKey: .mpiRanks)
    }
}
