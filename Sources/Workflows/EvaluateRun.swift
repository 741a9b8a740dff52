import Atomistics
import Foundation
import LAMMPSLibrary
import Potentials

/// What is added to SNAP when predicting DFT data: FitSNAP fits SNAP to DFT minus a reference
/// potential, so the fit's errors compare SNAP + reference with DFT.
public enum EvaluateReference: Sendable {
    case none
    /// ZBL between every pair of elements, with their atomic numbers, switched off between inner and outer (Å).
    case zbl(inner: Double, outer: Double)
    /// A LAMMPS snippet that defines the whole pair style; ${snapcoeff}, ${snapparam} and ${elements} are set.
    case file(String)

    /// `zbl INNER OUTER` (0 < INNER < OUTER, Å) or `none`, as `evaluate --reference` and a
    /// campaign's `training.reference` spell it; nil for anything else.
    public init?(parsing text: String) {
        let words = text.split(separator: " ")
        if words == ["none"] {
            self = .none
            return
        }
        guard words.count == 3, words[0] == "zbl", let inner = Double(words[1]), let outer = Double(words[2]),
              inner > 0, outer > inner else { return nil }
        self = .zbl(inner: inner, outer: outer)
    }

    public var text: String {
        switch self {
        case .none: "none"
        case .zbl(let inner, let outer): "zbl \(inner) \(outer)"
        case .file(let path): "file \(path)"
        }
    }
}

/// Errors of a SNAP potential (plus reference) on DFT configurations: one LAMMPS instance for the
/// whole run, the box and atoms defined anew for each configuration (what `implicit-lammps evaluate` runs).
public struct EvaluateRun {
    public var snapcoeff: URL, snapparam: URL
    public var reference: EvaluateReference
    public var datasets: [String]
    /// How the outputs name the potential's files, when they are read from a copy (a fit
    /// evaluates its final.* from a scratch folder).
    public var named: (snapcoeff: String, snapparam: String)?
    /// Partitions of the MPI job (`--partitions`): each predicts every N-th configuration on its
    /// own LAMMPS instance, and the predictions are summed across them.
    public var partitions: Partitions?

    public init(snapcoeff: URL, snapparam: URL, reference: EvaluateReference, datasets: [String]) {
        (self.snapcoeff, self.snapparam, self.reference, self.datasets) = (snapcoeff, snapparam, reference, datasets)
    }

    /// One configuration's prediction, forces in the LAMMPS frame (as are its DFT forces here).
    public struct Result {
        public var configuration: Configuration
        public var energy: Double
        public var dftForces: [Double], forces: [Double]
        public var energyErrorPerAtom: Double { (energy - configuration.energy) / Double(configuration.natoms) }
        public var forceRMSE: Double {
            (zip(forces, dftForces).reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) } / Double(forces.count)).squareRoot()
        }
    }

    /// Reads and checks every dataset before LAMMPS starts, then predicts each configuration.
    public func run(in directory: RunDirectory) throws -> EvaluateMetrics {
        try run(writingTo: directory.writes ? directory.staging : nil)
    }

    /// The same, its outputs written into `folder` (nil: none, on ranks that do not write).
    public func run(writingTo folder: URL?) throws -> EvaluateMetrics {
        let started = Date(), clock = ProgressClock()
        let phases = Phases()
        var evaluated = 0
        phases.evaluationCount = { evaluated }
        let (elements, configurations, lammps) = try phases.measure("set_up") {
            let (elements, configurations) = try readData(label: "evaluate")
            return (elements, configurations, try startLAMMPS(elements: elements, firstCell: LAMMPSCell(lattice: configurations[0].lattice)))
        }
        defer { lammps.close() }
        let sharing = partitions.map(WorkSharing.init) ?? .wholeJob
        // Each configuration's energy and forces at fixed offsets of one vector, zeros where
        // another partition predicts it: the sum across partitions holds every prediction.
        var offsets: [Int] = [], total = 0
        for configuration in configurations {
            offsets.append(total)
            total += 1 + 3 * configuration.natoms
        }
        var predictions = [Double](repeating: 0, count: total)
        var dftForces: [[Double]] = []
        try phases.measure("evaluation") {
            for (index, configuration) in configurations.enumerated() {
                dftForces.append(configuration.forces.flatMap { LAMMPSCell(lattice: configuration.lattice).rotate($0) })
                guard sharing.takes(index) else { continue }
                let result = try predict(configuration, elements: elements, lammps: lammps, seed: index + 1)
                evaluated += 1
                predictions.replaceSubrange(offsets[index]..<offsets[index] + 1 + 3 * configuration.natoms,
                                            with: [result.energy] + result.forces)
                if clock.isDue() {
                    progress("evaluate: \(index + 1) of \(configurations.count) configurations (\(clock.elapsed) s)")
                }
            }
            predictions = try sharing.sum(predictions)
        }
        let results = configurations.enumerated().map { index, configuration in
            let start = offsets[index]
            return Result(configuration: configuration, energy: predictions[start], dftForces: dftForces[index],
                          forces: Array(predictions[start + 1..<start + 1 + 3 * configuration.natoms]))
        }
        let seconds = Date().timeIntervalSince(started)
        progress(String(format: "evaluate: %d configurations predicted in %.1f s", results.count, seconds))
        let metrics = EvaluateMetrics(results)
        if let folder {
            progress("evaluate: writing metrics, per-configuration errors and parity plots")
            try Files.createFolder(folder)
            try EvaluateOutputs(run: self, results: results, metrics: metrics, seconds: seconds).write(to: folder, phases: phases)
        }
        return metrics
    }

    /// The SNAP file's elements (atom types 1, 2, … in its order) and every configuration of the
    /// datasets, read and checked (`label` opens the progress lines).
    func readData(label: String) throws -> (elements: [String], configurations: [Configuration]) {
        let started = Date()
        progress("\(label): reading \(datasets.count) datasets")
        let elements = try SNAPCoefficients(contentsOf: snapcoeff).elements.map(\.name)
        if case .file(let path) = reference { try requireLAMMPSOpenable(path) }
        let configurations = try TrainingData.read(datasets, elements: elements)
        progress("\(label): \(configurations.count) configurations, \(configurations.reduce(0) { $0 + $1.natoms }) atoms, elements \(elements.joined(separator: " ")), read in \(String(format: "%.1f", Date().timeIntervalSince(started))) s")
        return (elements, configurations)
    }

    /// The one LAMMPS instance of a run, with the box, pair style and masses set up; the caller closes it.
    func startLAMMPS(elements: [String], firstCell: LAMMPSCell) throws -> LAMMPS {
        let lammps = try LAMMPS(partitions: partitions)
        do {
            try MPIEnvironment.check(lammpsSize: lammps.mpiSize * (partitions?.count ?? 1))
            try lammps.commands("""
                variable snapcoeff string \(try lammpsQuoted(snapcoeff.path))
                variable snapparam string \(try lammpsQuoted(snapparam.path))
                variable elements string "\(elements.joined(separator: " "))"
                """)
            try lammps.commands(try setUpCommands(firstCell: firstCell, elements: elements).joined(separator: "\n"))
        } catch {
            lammps.close()
            throw error
        }
        return lammps
    }

    /// The box, pair style and masses, defined once for the whole run (from the first
    /// configuration's cell); each configuration then changes the box and replaces the atoms.
    /// Measured on the W–Be set: `clear` and a whole new definition per configuration re-read the
    /// SNAP files and cost slightly more (38.3 s against 37.5 s for all 2340 configurations).
    func setUpCommands(firstCell cell: LAMMPSCell, elements: [String]) throws -> [String] {
        var lines = [
            "units metal", "atom_style atomic", "atom_modify map array", "boundary p p p",
            // Strongly compressed cells hold many neighbours per atom: LAMMPS's default list pages overflow.
            "neigh_modify one 20000 page 400000",
            "region cell prism 0 \(cell.lx) 0 \(cell.ly) 0 \(cell.lz) \(cell.xy) \(cell.xz) \(cell.yz) units box",
            "create_box \(elements.count) cell",
        ]
        for (index, element) in elements.enumerated() {
            lines.append("mass \(index + 1) \(Element.mass(of: element) ?? 1.0)")
        }
        return lines + (try pairLines(elements: elements))
    }

    /// Energy and forces of one configuration: the box becomes its cell, its atoms replace the
    /// previous ones (`seed` numbers the configuration, for LAMMPS's placeholder positions).
    func predict(_ c: Configuration, elements: [String], lammps: LAMMPS, seed: Int) throws -> Result {
        let cell = try place(c, elements: elements, lammps: lammps, seed: seed)
        return try evaluate(c, cell: cell, lammps: lammps)
    }

    /// Makes the box the configuration's cell and its atoms the only ones; the cell it returns
    /// maps the file's frame to LAMMPS's.
    func place(_ c: Configuration, elements: [String], lammps: LAMMPS, seed: Int) throws -> LAMMPSCell {
        let cell = LAMMPSCell(lattice: c.lattice)
        let changeBox = String(format: "change_box all x final 0 %.17g y final 0 %.17g z final 0 %.17g xy final %.17g "
                               + "xz final %.17g yz final %.17g units box", cell.lx, cell.ly, cell.lz, cell.xy, cell.xz, cell.yz)
        try lammps.commands("delete_atoms group all\n\(changeBox)\ncreate_atoms 1 random \(c.natoms) \(seed) NULL")
        let types = c.species.map { Int32(elements.firstIndex(of: $0)! + 1) }
        try lammps.scatterIntegers("type", values: types)
        try lammps.scatter("x", count: 3, values: c.positions.flatMap { cell.wrap(cell.rotate($0)) })
        // The placeholder atoms belong to the rank whose subdomain held their random positions; a run
        // only hands atoms to neighbouring ranks, so with several ranks every atom is re-homed first.
        if lammps.mpiSize > 1 { try lammps.command("displace_atoms all move 0 0 0 units box") }
        return cell
    }

    /// Energy and forces of the configuration `place` put into LAMMPS.
    func evaluate(_ c: Configuration, cell: LAMMPSCell, lammps: LAMMPS) throws -> Result {
        try lammps.command("run 0 post no")
        let energy = try lammps.thermo("pe")
        let forces = try lammps.gather("f", count: 3)
        return Result(configuration: c, energy: energy, dftForces: c.forces.flatMap { cell.rotate($0) }, forces: forces)
    }

    func pairLines(elements: [String]) throws -> [String] {
        let snap = "* * snap ${snapcoeff} ${snapparam} ${elements}"
        switch reference {
        case .none:
            return ["pair_style snap", "pair_coeff \(snap)"]
        case .zbl(let inner, let outer):
            // ZBL needs each element's nuclear charge: an element name that is not a chemical symbol is refused.
            let charges = try elements.map { element -> Int in
                guard let z = Element.atomicNumber(of: element) else {
                    throw InputError.unsupportedSystem("""
                        the ZBL reference needs atomic numbers, and the SNAP element '\(element)' of \(snapcoeff.path) is \
                        not a chemical symbol; give the reference as a LAMMPS snippet instead
                        """)
                }
                return z
            }
            var lines = ["pair_style hybrid/overlay zbl \(inner) \(outer) snap", "pair_coeff \(snap)"]
            for i in elements.indices {
                for j in i..<elements.count { lines.append("pair_coeff \(i + 1) \(j + 1) zbl \(charges[i]) \(charges[j])") }
            }
            return lines
        case .file(let path):
            return ["include \(try lammpsQuoted(path))"]
        }
    }
}
