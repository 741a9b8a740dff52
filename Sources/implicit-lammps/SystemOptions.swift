import ArgumentParser
import Atomistics
import Foundation
import Workflows

extension CrystalInput.Lattice: ExpressibleByArgument {}

/// The system: an existing LAMMPS input, or a generated crystal.
struct SystemOptions: ParsableArguments {
    @Option(help: "LAMMPS input that defines the system and its potential.") var input: String?
    @Option(help: "Instead of --input, generate a crystal: bcc, fcc or hcp (needs --potential and --snapparam).")
    var lattice: CrystalInput.Lattice?
    @Option(parsing: .unconditional, help: "Lattice constant of the generated crystal (Å).") var a0: Double?
    @Option(help: ArgumentHelp("Conventional cells of the generated crystal, N or NX,NY,NZ.", valueName: "N"))
    var cells = CellCounts(argument: "4")!
    @Flag(help: "Remove one atom from the generated crystal.") var vacancy = false
    @Option(parsing: .upToNextOption, help: "Host species and, for a binary, the solute (e.g. W Be).")
    var species: [String] = []
    @Option(parsing: .unconditional, help: "Fraction of sites given to the second species at random.") var soluteFraction = 0.0
    @Option(parsing: .unconditional, help: "Random seed of the binary occupation.") var seed = 12345
    @Option(help: ArgumentHelp("Overlay a ZBL core switched between these radii (Å), as SNAP fits with a ZBL reference need.",
                               valueName: "INNER,OUTER"))
    var zbl: RadiusPair?

    func validate() throws {
        guard (input == nil) != (lattice == nil) else { throw ValidationError("give either --input or --lattice") }
        if lattice != nil, a0 == nil || species.isEmpty {
            throw ValidationError("--lattice needs --a0 and --species")
        }
        if input != nil, a0 != nil || vacancy || !species.isEmpty || zbl != nil || soluteFraction != 0 {
            throw ValidationError("--a0, --vacancy, --species, --solute-fraction and --zbl describe a generated crystal (--lattice), not an --input")
        }
    }

    /// The input to run: the user's, or the generated crystal written to `system.lammps` in the run's folder.
    func inputPath(in run: RunDirectory, potential: PotentialOptions) throws -> String {
        if let input { return input }
        guard let coefficients = potential.potential, let parameters = potential.snapparam else {
            throw InputError.invalid("a generated crystal needs --potential FILE.snapcoeff and --snapparam FILE.snapparam")
        }
        let crystal = try CrystalInput(
            lattice: lattice!, latticeConstant: a0!, cells: cells.counts,
            vacancy: vacancy, species: species, soluteFraction: soluteFraction, seed: seed,
            coefficientFile: URL(fileURLWithPath: coefficients).standardizedFileURL,
            parameterFile: URL(fileURLWithPath: parameters).standardizedFileURL,
            zbl: zbl.map { ($0.inner, $0.outer) })
        // Every MPI rank reads the input (to find its pair_coeff): each writes the same text atomically.
        let url = run.url("system.lammps")
        try Files.write(try crystal.text, to: url)
        return url.path
    }
}
