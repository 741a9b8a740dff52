import ArgumentParser
import Atomistics
import Foundation

extension CrystalInput.Lattice: ExpressibleByArgument {}

/// The system: an existing LAMMPS input, or a generated crystal.
struct SystemOptions: ParsableArguments {
    @Option(help: "LAMMPS input that defines the system and its SNAP potential.") var input: String?
    @Option(help: "Instead of --input, generate a crystal: bcc, fcc or hcp (needs --potential and --snapparam).")
    var lattice: CrystalInput.Lattice?
    @Option(help: "Lattice constant of the generated crystal (Å).") var a0: Double?
    @Option(help: ArgumentHelp("Conventional cells of the generated crystal, N or NX,NY,NZ.", valueName: "N")) var cells = "4"
    @Flag(help: "Remove one atom from the generated crystal.") var vacancy = false
    @Option(parsing: .upToNextOption, help: "Host species and, for a binary, the solute (e.g. W Be).")
    var species: [String] = []
    @Option(help: "Fraction of sites given to the second species at random.") var soluteFraction = 0.0
    @Option(help: "Random seed of the binary occupation.") var seed = 12345
    @Option(help: ArgumentHelp("Overlay a ZBL core switched between these radii (Å), as SNAP fits with a ZBL reference need.",
                               valueName: "INNER,OUTER"))
    var zbl: String?

    func validate() throws {
        guard (input == nil) != (lattice == nil) else { throw ValidationError("give either --input or --lattice") }
        if lattice != nil, a0 == nil || species.isEmpty {
            throw ValidationError("--lattice needs --a0 and --species")
        }
        if let zbl, zbl.split(separator: ",").compactMap({ Double($0) }).count != 2 {
            throw ValidationError("--zbl expects INNER,OUTER, got '\(zbl)'")
        }
    }

    /// The input to run: the user's, or the generated crystal written to `out/system.lammps`.
    func inputPath(out: URL, potential: PotentialOptions) throws -> String {
        if let input { return input }
        guard let coefficients = potential.potential, let parameters = potential.snapparam else {
            throw ValidationError("a generated crystal needs --potential FILE.snapcoeff and --snapparam FILE.snapparam")
        }
        let counts = cells.split(separator: ",").compactMap { Int($0) }
        let crystal = try CrystalInput(
            lattice: lattice!, latticeConstant: a0!, cells: counts.count == 1 ? Array(repeating: counts[0], count: 3) : counts,
            vacancy: vacancy, species: species, soluteFraction: soluteFraction, seed: seed,
            coefficientFile: URL(fileURLWithPath: coefficients).standardizedFileURL,
            parameterFile: URL(fileURLWithPath: parameters).standardizedFileURL,
            zbl: zbl.map { text in
                let radii = text.split(separator: ",").compactMap { Double($0) }
                return (radii[0], radii[1])
            })
        // Every MPI rank reads the input (to find its pair_coeff): each writes the same text atomically.
        let url = out.appendingPathComponent("system.lammps")
        try Files.write(crystal.text, to: url)
        return url.path
    }
}
