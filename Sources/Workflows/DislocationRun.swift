import Atomistics
import Foundation
import LAMMPSLibrary

/// A ½⟨111⟩ screw dislocation cylinder in a bcc crystal, easy and hard core, written as an
/// ordinary LAMMPS input with its structures and potential (what `implicit-lammps dislocation`
/// runs), each core loaded and evaluated once to prove the input runs as written.
public struct DislocationRun {
    /// A LAMMPS snippet defining the potential; it and the files it names are copied.
    public var potential: URL
    public var element: String
    public var latticeConstant: Double
    /// Cubic elastic constants (GPa).
    public var c11: Double, c12: Double, c44: Double
    public var radius: Double
    public var heldWidth: Double
    public var lammpsArguments: [String]

    public init(potential: URL, element: String, latticeConstant: Double, c11: Double, c12: Double, c44: Double,
                radius: Double, heldWidth: Double, lammpsArguments: [String]) {
        (self.potential, self.element, self.latticeConstant) = (potential, element, latticeConstant)
        (self.c11, self.c12, self.c44, self.radius, self.heldWidth) = (c11, c12, c44, radius, heldWidth)
        self.lammpsArguments = lammpsArguments
    }

    public func run(in run: RunDirectory) throws {
        guard let python = Library.provisionedPython() else {
            throw EnvironmentError.noPythonEnvironment
        }
        let generator = ScrewDislocation(latticeConstant: latticeConstant, c11: c11, c12: c12,
                                         c44: c44, element: element, radius: radius, heldWidth: heldWidth)
        let phases = Phases()
        var evaluations = 0
        phases.evaluationCount = { evaluations }
        let cylinder = try phases.measure("generation") { try generator.build(python: python) }
        try phases.measure("writing") { try write(cylinder, into: run) }
        // The input must run as written: load both cores and evaluate them.
        try phases.measure("input_check") {
            for core in ["easy", "hard"] {
                let simulation = try Simulation(input: run.url("dislocation.lammps").path, logFile: run.url("log.lammps"),
                                                extraArguments: lammpsArguments + ["-var", "structure", "\(core).lammps-data"])
                try simulation.evaluate()
                evaluations += 1
                progress(String(format: "dislocation: %@ core, %d atoms (%d held), energy %.6f eV (elastic field, unrelaxed)",
                                core, simulation.lammps.natoms, cylinder.heldAtoms, try simulation.energy()))
                simulation.lammps.close()
            }
        }
        try Files.writeJSON(PhasedSummary(Summary(element: element, latticeConstant: latticeConstant, c11: c11, c12: c12,
                                                  c44: c44, c44Field: cylinder.c44Used, radius: radius, heldWidth: heldWidth,
                                                  atoms: cylinder.count, heldAtoms: cylinder.heldAtoms, coreAtom: cylinder.coreAtom,
                                                  easyCore: cylinder.easyCore, hardCore: cylinder.hardCore, box: cylinder.lengths),
                                          phases: phases),
                            to: run.url("dislocation.json"))
        progress("dislocation: core atom ID \(cylinder.coreAtom) (group core); inputs in \(run.destination.path)")
    }

    /// The potential, both cores as data and extended XYZ, and the input.
    private func write(_ cylinder: ScrewDislocation.Cylinder, into run: RunDirectory) throws {
        try copyPotential(potential, into: run)
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
        #   a0 \(latticeConstant) Å, C11 \(c11), C12 \(c12), C44 \(c44) GPa; free radius \(radius) Å,
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
