import ArgumentParser
import Atomistics
import Foundation
import Workflows
import LAMMPSLibrary

/// Cubic elastic constants as `C11,C12,C44` (GPa).
struct CubicElasticConstants: ExpressibleByArgument {
    var c11: Double, c12: Double, c44: Double

    init?(argument: String) {
        let values = argument.split(separator: ",").compactMap { Double($0.trimmingCharacters(in: .whitespaces)) }
        guard values.count == 3, values.allSatisfy(\.isFinite) else { return nil }
        (c11, c12, c44) = (values[0], values[1], values[2])
    }
}

struct DislocationCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dislocation",
        abstract: "Build a ½⟨111⟩ screw dislocation cylinder in a bcc crystal (easy and hard core) with a held outer shell.",
        discussion: """
            The geometry of the paper's Fig. 4: a cylinder along z = [111] (x = [11-2], y = [-110]) one Burgers \
            vector thick, periodic along z, with the anisotropic elastic field of matscipy.dislocation (provisioned \
            Python) around an easy core site and, for the same atoms, around the adjacent hard core site. Atoms \
            farther than --radius from the easy core line are held (fix setforce 0 0 0). Writes to DIR: \
            easy.lammps-data, hard.lammps-data (+ .extxyz), potential.lammps (a copy of --potential and the files \
            it names), dislocation.lammps (an ordinary LAMMPS input: `-var structure hard.lammps-data` for the hard \
            core; group `core` is the atom nearest the core line, group `held` the shell) and dislocation.json. \
            Take the lattice constant and the elastic constants from the potential itself (implicit-lammps \
            elastic on a bulk cell).
            """)

    @Option(help: ArgumentHelp("A LAMMPS snippet defining the potential (pair_style, pair_coeff); it and the files it names are copied.",
                               valueName: "file")) var potential: String
    @Option(help: "Chemical symbol of the crystal (its mass comes from ASE).") var element: String
    @Option(help: "Lattice constant a0 (Å) of the potential.") var latticeConstant: Double
    @Option(help: ArgumentHelp("Cubic elastic constants of the potential (GPa).", valueName: "C11,C12,C44"))
    var elastic: CubicElasticConstants
    @Option(help: "Radius (Å) of the free region around the core line.") var radius = 50.0
    @Option(help: "Width (Å) of the held outer shell (at least twice the potential's cutoff).") var heldWidth = 11.5
    @OptionGroup var output: OutputOptions
    @OptionGroup var lammpsOptions: LammpsOptions

    func validate() throws {
        guard radius > 0, heldWidth > 0, latticeConstant > 0 else {
            throw ValidationError("--radius, --held-width and --lattice-constant must be positive")
        }
    }

    func run() throws {
        try runWritingOutputs(output) { run in
            let dislocation = DislocationRun(potential: URL(fileURLWithPath: potential).standardizedFileURL, element: element,
                                             latticeConstant: latticeConstant, c11: elastic.c11, c12: elastic.c12, c44: elastic.c44,
                                             radius: radius, heldWidth: heldWidth, lammpsArguments: lammpsOptions.arguments)
            try dislocation.run(in: run)
            return nil
        }
    }
}
