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

struct Dislocation: ParsableCommand {
    static let configuration = CommandConfiguration(
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
            let snippet = URL(fileURLWithPath: potential).standardizedFileURL
            guard let python = Library.provisionedPython() else {
                throw InputError.invalid("no provisioned Python environment (.venv) found: run scripts/setup")
            }
            let generator = ScrewDislocation(latticeConstant: latticeConstant, c11: elastic.c11, c12: elastic.c12,
                                             c44: elastic.c44, element: element, radius: radius, heldWidth: heldWidth)
            let cylinder = try generator.build(python: python)
            try copyPotential(snippet, into: run)
            for (core, positions) in [("easy", cylinder.easy), ("hard", cylinder.hard)] {
                try Files.write(ScrewDislocation.dataFile(cylinder, positions: positions,
                                                          title: "½<111> screw dislocation in bcc \(element), \(core) core, implicit-lammps dislocation"),
                                to: run.url("\(core).lammps-data"))
                let structure = Structure(box: Box(low: [0, 0, 0], high: cylinder.lengths, xy: 0, yz: 0, xz: 0,
                                                   periodic: [false, false, true]),
                                          positions: positions, images: Array(repeating: 0, count: 3 * cylinder.count),
                                          types: Array(repeating: 1, count: cylinder.count), masses: [cylinder.mass])
                try Files.write(ExtendedXYZ.format(structure), to: run.url("\(core).extxyz"))
            }
            try Files.write(input(cylinder), to: run.url("dislocation.lammps"))
            try Files.writeJSON(Summary(element: element, latticeConstant: latticeConstant, c11: elastic.c11, c12: elastic.c12,
                                        c44: elastic.c44, c44Field: cylinder.c44Used, radius: radius, heldWidth: heldWidth,
                                        atoms: cylinder.count, heldAtoms: cylinder.heldAtoms, coreAtom: cylinder.coreAtom,
                                        easyCore: cylinder.easyCore, hardCore: cylinder.hardCore, box: cylinder.lengths),
                                to: run.url("dislocation.json"))
            // The input must run as written: load both cores and evaluate them.
            for core in ["easy", "hard"] {
                let simulation = try Simulation(input: run.url("dislocation.lammps").path, logFile: run.url("log.lammps"),
                                                extraArguments: lammpsOptions.arguments + ["-var", "structure", "\(core).lammps-data"])
                try simulation.evaluate()
                progress(String(format: "dislocation: %@ core, %d atoms (%d held), energy %.6f eV (elastic field, unrelaxed)",
                                core, simulation.lammps.natoms, cylinder.heldAtoms, try simulation.energy()))
                simulation.lammps.close()
            }
            progress("dislocation: core atom ID \(cylinder.coreAtom) (group core); inputs in \(run.destination.path)")
            return nil
        }
    }

    /// The potential snippet and every file it names (relative to its folder), side by side in DIR.
    private func copyPotential(_ snippet: URL, into run: RunDirectory) throws {
        guard let text = try? String(contentsOf: snippet, encoding: .utf8) else { throw InputError.fileNotFound(snippet.path) }
        let folder = snippet.deletingLastPathComponent()
        for line in InputScript.commandLines(text) {
            for word in line.split(whereSeparator: \.isWhitespace).map(String.init) where !word.hasPrefix("/") && !word.contains("$") {
                let file = folder.appendingPathComponent(word)
                var isDirectory: ObjCBool = false
                guard FileManager.default.fileExists(atPath: file.path, isDirectory: &isDirectory), !isDirectory.boolValue else { continue }
                try FileManager.default.createDirectory(at: run.url(word).deletingLastPathComponent(), withIntermediateDirectories: true)
                try Files.write(try String(contentsOf: file, encoding: .utf8), to: run.url(word))
            }
        }
        try Files.write(text, to: run.url("potential.lammps"))
    }

    private func input(_ cylinder: ScrewDislocation.Cylinder) -> String {
        """
        # ½<111> screw dislocation along z in bcc \(element) (x = [11-2], y = [-110], z = [111]), \(cylinder.count) atoms,
        # from the anisotropic elastic field (matscipy), written by implicit-lammps dislocation:
        #   a0 \(latticeConstant) Å, C11 \(elastic.c11), C12 \(elastic.c12), C44 \(elastic.c44) GPa; free radius \(radius) Å,
        #   held shell \(heldWidth) Å (\(cylinder.heldAtoms) atoms, forces zeroed).
        # An ordinary LAMMPS input (cd here && lmp -in dislocation.lammps). The hard core:
        #   -var structure hard.lammps-data
        variable structure index easy.lammps-data

        units        metal
        boundary     f f p
        atom_style   atomic
        read_data    ${structure}

        include      potential.lammps

        region       held cylinder z \(String(format: "%.10f %.10f %.10f", cylinder.easyCore[0], cylinder.easyCore[1], radius)) INF INF side out units box
        group        held region held
        group        core id \(cylinder.coreAtom)
        fix          hold held setforce 0.0 0.0 0.0

        """
    }

    struct Summary: Encodable {
        var element: String
        var latticeConstant: Double
        var c11: Double, c12: Double, c44: Double
        /// The C44 of the elastic field (differs from c44 only for an exactly isotropic crystal).
        var c44Field: Double
        var radius: Double
        var heldWidth: Double
        var atoms: Int
        var heldAtoms: Int
        var coreAtom: Int
        var easyCore: [Double]
        var hardCore: [Double]
        var box: [Double]
    }
}
