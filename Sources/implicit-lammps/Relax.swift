import ArgumentParser
import Atomistics
import Foundation
import LAMMPSLibrary

extension CellRelaxation: ExpressibleByArgument {}
extension MinimizerStyle: ExpressibleByArgument {}

struct Relax: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Relax the system of an existing LAMMPS input and write the relaxed structure.",
        discussion: """
            The input runs unchanged from its own folder (it defines units, atoms, potential, groups and \
            fixes; `fix setforce 0 0 0` freezes atoms). Writes to DIR: summary.json, relaxed.data (LAMMPS \
            data), relaxed.extxyz, log.lammps, and relax.lammps, which replays the same relaxation with \
            the native executable: cd <input folder> && lmp -in DIR/relax.lammps
            """)

    @Option(help: "LAMMPS input that defines the system and its potential.") var input: String
    @Option(help: "Cell degrees of freedom to relax: fixed, iso or aniso.") var box: CellRelaxation = .fixed
    @Option(help: "Force tolerance: largest per-atom force norm at convergence (eV/Å in metal units).")
    var ftol: Double = 1e-6
    @Option(help: "LAMMPS min_style: cg, fire or sd.") var minStyle: MinimizerStyle = .cg
    @Option(help: "Output directory.") var out: String
    @OptionGroup var lammpsOptions: LammpsOptions

    func validate() throws {
        guard ftol > 0, ftol.isFinite else { throw ValidationError("--ftol must be a positive number, got \(ftol)") }
    }

    func run() throws {
        try runReportingErrors {
            let outDirectory = URL(fileURLWithPath: out).standardizedFileURL
            try FileManager.default.createDirectory(at: outDirectory, withIntermediateDirectories: true)
            let simulation = try Simulation(input: input,
                                            logFile: outDirectory.appendingPathComponent("log.lammps"),
                                            extraArguments: lammpsOptions.arguments)
            try MPIEnvironment.check(lammpsSize: simulation.lammps.mpiSize)
            progress("relax: \(simulation.lammps.natoms) atoms from \(simulation.input.path), cell \(box.rawValue), "
                     + "\(minStyle.rawValue), ftol \(ftol), \(simulation.lammps.mpiSize) MPI rank(s)")
            let started = Date()
            let settings = RelaxationSettings(cell: box, ftol: ftol, minStyle: minStyle)
            let (result, commands) = try simulation.relax(settings) { cycle, state in
                progress("  cycle \(cycle): E = \(state.energy) \(state.units == "metal" ? "eV" : ""), "
                         + "max|F| = \(state.maxForce), V = \(state.volume), steps \(state.steps)")
            }
            let structure = try simulation.structure()
            let forces = try simulation.forces()
            try simulation.writeData(to: outDirectory.appendingPathComponent("relaxed.data"))
            if simulation.isRoot {
                try Files.write(ExtendedXYZ.format(structure, forces: forces, energy: result.energy),
                                to: outDirectory.appendingPathComponent("relaxed.extxyz"))
                try Files.write(replayScript(simulation.input, variables: lammpsOptions.variables, commands: commands),
                                to: outDirectory.appendingPathComponent("relax.lammps"))
                try Files.writeJSON(Summary(result: result, input: simulation.input.path,
                                            lammpsLibrary: simulation.lammps.library.path,
                                            lammpsVersion: simulation.lammps.version,
                                            mpiRanks: simulation.lammps.mpiSize,
                                            wallSeconds: Date().timeIntervalSince(started)),
                                    to: outDirectory.appendingPathComponent("summary.json"))
            }
            progress("relax: \(result.converged ? "converged" : "NOT converged") after \(result.steps) steps; "
                     + "E = \(result.energy), V = \(result.volume); wrote \(outDirectory.path)")
            simulation.lammps.close()
        }
    }

    private func replayScript(_ input: URL, variables: [(String, String)], commands: [String]) -> String {
        ([
            "# Replays `implicit-lammps relax` with the native LAMMPS executable. Run from the input's folder:",
            "#   cd \(input.deletingLastPathComponent().path) && lmp -in <this file>",
        ]
        // An index variable defined first wins over the input's own default, exactly like -var.
        + variables.map { "variable \($0.0) index \($0.1)" }
        + ["include \(input.path)"] + commands).joined(separator: "\n") + "\n"
    }
}

/// summary.json of `relax`.
struct Summary: Encodable {
    var result: RelaxationResult
    var input: String
    var lammpsLibrary: String
    var lammpsVersion: Int
    var mpiRanks: Int
    var wallSeconds: Double

    func encode(to encoder: Encoder) throws {
        try result.encode(to: encoder)
        enum Keys: String, CodingKey { case input, lammpsLibrary, lammpsVersion, mpiRanks, wallSeconds }
        var container = encoder.container(keyedBy: Keys.self)
        try container.encode(input, forKey: .input)
        try container.encode(lammpsLibrary, forKey: .lammpsLibrary)
        try container.encode(lammpsVersion, forKey: .lammpsVersion)
        try container.encode(mpiRanks, forKey: .mpiRanks)
        try container.encode(wallSeconds, forKey: .wallSeconds)
    }
}
