import Foundation
import LAMMPSLibrary

/// Errors about the user's files, settings and systems, raised before LAMMPS sees them. Each case
/// carries what it is about (the file and line, the setting and its value, the missing name), so
/// callers can act on it; settings are named (`InputSetting`) and spelled by whoever reports the
/// error (`description(settings:)`), a command-line flag or a campaign key.
public enum InputError: SettingError {
    case fileNotFound(String)
    case noAtoms(String)
    /// A refusal not (yet) given its own case.
    case invalid(String)
    /// A NaN or an infinity where a number must be finite: never carried into results.
    case nonFinite(String)
    /// A file this tool reads that is not in the form expected; `line` is 1-based, when known.
    case fileFormat(file: String, line: Int?, reason: String)
    /// A setting whose value cannot work: the setting, its value as given, and why.
    case badValue(InputSetting, value: String, reason: SettingMessage)
    /// A name the input does not define: `kind` is "group", "region", …
    case undefined(kind: String, name: String, input: String)
    /// An atom ID outside 1…atoms.
    case noSuchAtom(id: Int, atoms: Int, input: String)
    /// A file-system operation that failed (`action` e.g. "create the folder"), with the system's reason.
    case fileOperation(action: String, path: String, reason: String?)
    /// A path LAMMPS cannot open or read as written, and the setting it came from, when that helps.
    case unusablePath(String, reason: String, setting: InputSetting?)
    /// A system (or generated structure) the tool cannot treat, and why.
    case unsupportedSystem(String)
    /// A helper program (e.g. the Python environment's) that failed or answered nonsense.
    case helperFailed(what: String, reason: String)

    public func description(settings spelling: (any Setting) -> String) -> String {
        switch self {
        case .nonFinite(let text): return "not a number: " + text
        case .fileNotFound(let path): return "input file not found: \(path)"
        case .noAtoms(let path): return "input \(path) defines no atoms (no read_data, create_atoms or read_restart?)"
        case .invalid(let text), .unsupportedSystem(let text): return text
        case .fileFormat(let file, let line, let reason): return "\(file)\(line.map { ":\($0)" } ?? ""): \(reason)"
        case .badValue(let setting, let value, let reason): return "\(spelling(setting)) \(value): \(reason.spelled(spelling))"
        case .undefined(let kind, let name, let input): return "the input \(input) defines no \(kind) '\(name)'"
        case .noSuchAtom(let id, let atoms, let input): return "atom ID \(id) is not in 1…\(atoms) of \(input)"
        case .fileOperation(let action, let path, let reason): return "cannot \(action) \(path)" + (reason.map { ": " + $0 } ?? "")
        case .unusablePath(let path, let reason, let setting):
            return (setting.map { spelling($0) + ": " } ?? "") + "the path \(path) \(reason)"
        case .helperFailed(let what, let reason): return "\(what) \(reason)"
        }
    }
}

/// One system, defined by running a user's LAMMPS input unchanged: units, atoms, potential,
/// groups and fixes (e.g. `fix setforce 0 0 0` freezing atoms) all come from the input.
/// This is the calculator of the ASE calculator/optimizer split; `relax` is the optimizer.
public final class Simulation {
    public let lammps: LAMMPS
    /// Absolute path of the input; relative paths inside it resolve against its folder.
    public let input: URL

    /// Minimizer iterations of every `relax` so far (a cost figure for benchmarks and summaries).
    public internal(set) var relaxationIterations = 0
    /// Force evaluations outside relaxations (`evaluate`, `forces(at:)`) so far.
    public private(set) var forceEvaluations = 0
    /// Force evaluations inside LAMMPS's own `minimize` so far.
    public internal(set) var minimizerEvaluations = 0

    /// Whether this process writes the job's files (every rank runs the same LAMMPS commands):
    /// `MPIJob.isRoot`, the first rank of the first partition (or of the job).
    public var isRoot: Bool { MPIJob.isRoot }
    /// The partition of the MPI job this instance runs on (nil: the whole job).
    public let partitions: Partitions?

    /// - Parameters:
    ///   - logFile: where LAMMPS writes its own log (`-log`); nil for none.
    ///   - extraArguments: further LAMMPS command-line arguments, e.g. `-sf omp`.
    ///   - extraAtomTypes: atom types to add to the box the input creates, for atoms that become a
    ///     new element (alchemical substitution); the input then runs line by line.
    ///   - partitions: run on this process's partition of the MPI job (its log gets the suffix `.pK`
    ///     beyond the first partition).
    public init(input path: String, logFile: URL? = nil, extraArguments: [String] = [],
                library: Library? = nil, extraAtomTypes: Int = 0, journal: Bool = false,
                partitions: Partitions? = nil) throws {
        input = URL(fileURLWithPath: path).standardizedFileURL
        guard FileManager.default.isReadableFile(atPath: input.path) else {
            throw InputError.fileNotFound(path)
        }
        let library = try library ?? Library.shared()
        try library.requireUsable()
        let log = logFile.map { partitions.map { $0.index } ?? 0 > 0 ? "\($0.path).p\(partitions!.index)" : $0.path }
        let arguments = ["-log", log ?? "none", "-screen", "none"] + extraArguments
        lammps = try LAMMPS(arguments: arguments, library: library, partitions: partitions)
        self.partitions = partitions
        if journal {
            lammps.startJournal()
            lammps.noteInJournal("shell cd \(input.deletingLastPathComponent().path)")
            // `-var NAME VALUE` on the command line is an index variable defined before the input.
            for (index, word) in extraArguments.enumerated() where ["-var", "-v"].contains(word) && index + 2 < extraArguments.count {
                lammps.noteInJournal("variable \(extraArguments[index + 1]) index \(extraArguments[index + 2])")
            }
        }
        // lammps_scatter needs an atom map, which atomic styles only build if asked before the box
        // exists; a map of the user's own choice in the input still takes precedence.
        try lammps.command("atom_modify map yes")
        try Simulation.inFolder(of: input) { [input, lammps] in
            if extraAtomTypes > 0 {
                var patched = false
                try InputScript.run(input, on: lammps, addingAtomTypes: extraAtomTypes, patched: &patched, depth: 0)
            } else {
                try lammps.file(input.path)
            }
        }
        guard lammps.setting("box_exist") == 1, lammps.natoms > 0 else { throw InputError.noAtoms(path) }
        inputBoxIsTriclinic = lammps.setting("triclinic") == 1
    }

    /// Whether the input made a triclinic box (a strain with shears makes any box triclinic later).
    private var inputBoxIsTriclinic = false

    /// LAMMPS resolves relative paths (read_data, include, pair_coeff files) against the working
    /// directory, so the input runs from its own folder, as `cd folder && lmp -in input` would.
    static func inFolder<T>(of input: URL, _ body: () throws -> T) throws -> T {
        let previous = FileManager.default.currentDirectoryPath
        let folder = input.deletingLastPathComponent().path
        guard FileManager.default.changeCurrentDirectoryPath(folder) else {
            throw InputError.fileOperation(action: "enter the input's folder", path: folder, reason: nil)
        }
        defer { _ = FileManager.default.changeCurrentDirectoryPath(previous) }
        return try body()
    }

    // MARK: - State

    public func structure() throws -> Structure {
        Structure(box: lammps.box(),
                  positions: try lammps.gather("x", count: 3),
                  images: Structure.decodeImages(try lammps.gatherIntegers("image")),
                  types: try lammps.gatherIntegers("type"),
                  masses: lammps.masses())
    }

    /// Puts the cell, the positions and the image flags back exactly as in `structure` (e.g. the
    /// minimum before a finite difference, a strain or a re-relaxation).
    public func restore(_ structure: Structure) throws {
        let box = structure.box
        var command = "change_box all x final \(box.low[0]) \(box.high[0]) y final \(box.low[1]) \(box.high[1]) "
            + "z final \(box.low[2]) \(box.high[2])"
        if lammps.setting("triclinic") == 1 { command += " xy final \(box.xy) xz final \(box.xz) yz final \(box.yz)" }
        if lammps.box() != box { try lammps.command(command + " units box") }
        try lammps.scatter("x", count: 3, values: structure.positions)
        try lammps.scatterIntegers("image", values: Structure.encodeImages(structure.images))
    }

    /// Puts LAMMPS in the state a fresh process reaches by restoring `structure`, whatever ran
    /// before: the input's box style, then the cell, positions and image flags of `structure`, and
    /// the timestep counter at 0. Every checkpointed step of a campaign (a fit iteration, a uq
    /// member) starts with it, so that a campaign resumed in a new process repeats the uninterrupted
    /// one bit for bit. Measured: an elastic-constant measurement's shear strains leave the box
    /// triclinic, and LAMMPS then converts positions to fractional coordinates and back at every
    /// neighbour-list build, which changes the last bits of relaxed energies and cells (and so
    /// every later fit iteration); the timestep counter is written into data files. (Atoms keep
    /// their order in memory through `keepAtomOrder`, which both campaigns set.)
    public func reset(to structure: Structure) throws {
        let tilted = structure.box.xy != 0 || structure.box.xz != 0 || structure.box.yz != 0
        if lammps.setting("triclinic") == 1, !inputBoxIsTriclinic, !tilted {
            // LAMMPS makes only an untilted box orthogonal: the structure's zero tilts first.
            try restore(structure)
            try lammps.command("change_box all ortho")
        }
        if tilted { try makeTriclinic() }
        // Positions last: change_box passes them through fractional coordinates.
        try restore(structure)
        try lammps.command("reset_timestep 0")
    }

    /// Forces after the last energy evaluation, 3 per atom in atom-ID order (fixes applied, so
    /// frozen atoms read zero).
    public func forces() throws -> [Double] { try lammps.gather("f", count: 3) }

    /// Potential energy of the last evaluation (made with `evaluate` or `relax`).
    public func energy() throws -> Double { try lammps.thermo("pe") }

    /// Evaluates energy, forces and pressure at the current positions.
    public func evaluate() throws {
        try tallyEnergy(true)
        try lammps.command("run 0")
        forceEvaluations += 1
    }

    /// Forces at `positions` (3 per atom, atom-ID order) without the energy: the inner loop of
    /// Hessian-vector products and finite differences.
    public func forces(at positions: [Double]) throws -> [Double] {
        try tallyEnergy(false)
        try lammps.scatter("x", count: 3, values: positions)
        try runAtScattered(positions)
        let forces = try forces()
        try requireFinite(forces: forces, context: "in a force evaluation at displaced positions")
        return forces
    }
    private var commandCountAfterEvaluation = -1
    private var neighbourListsChecked = false

    /// Evaluates at `positions`, just scattered. `run 0` re-initialises LAMMPS (12% of a 250-atom
    /// SNAP force call); a one-step run with `pre no` skips that and is exact as long as no
    /// command ran since the last evaluation.
    private func runAtScattered(_ positions: [Double]) throws {
        let steady = lammps.commandCount == commandCountAfterEvaluation
        try lammps.command(steady ? "run 1 pre no post no" : "run 0")
        forceEvaluations += 1
        commandCountAfterEvaluation = lammps.commandCount
        if steady { try requireStaticAtoms(at: positions) }
    }

    /// Energy, forces and (if asked) the virial at `positions`. Energy tallying stays on, so a
    /// sequence of these reuses LAMMPS's set-up and neighbour lists like `forces(at:)` does; the
    /// virial needs a full `run 0` (its compute is only invoked then).
    public func evaluation(at positions: [Double], images: [Int32], virial withVirial: Bool) throws -> PointEvaluation {
        try tallyEnergy(true)
        if !neighbourListsChecked {
            // As LAMMPS's own minimize sets them: a one-step run re-neighbours whenever an atom
            // moved half the skin, whatever the input asked for its dynamics.
            try lammps.command("neigh_modify every 1 delay 0 check yes")
            neighbourListsChecked = true
        }
        try lammps.scatter("x", count: 3, values: positions)
        try lammps.scatterIntegers("image", values: Structure.encodeImages(images))
        var virial: [[Double]]?
        if withVirial {
            virial = try self.virial()
            commandCountAfterEvaluation = lammps.commandCount
        } else {
            try runAtScattered(positions)
        }
        let (energy, forces) = (try energy(), try forces())
        try requireFinite(energy: energy, forces: forces, context: "in a minimizer step")
        return PointEvaluation(energy: energy, forces: forces, virial: virial)
    }

    /// A one-step run moves atoms if the input integrates equations of motion (fix nve, nvt …),
    /// which has no place in a study of minima: detect it rather than return shifted forces.
    private func requireStaticAtoms(at positions: [Double]) throws {
        let box = lammps.box()
        let shift = minimumImage(zip(try lammps.gather("x", count: 3), positions).map { $0 - $1 }, in: box)
        guard largestAtomNorm(shift) < 1e-9 else {
            throw InputError.unsupportedSystem("""
                atoms moved during a force evaluation: the input \(input.path) integrates equations of motion \
                (fix nve, nvt, npt, langevin, …). Remove time-integration fixes; relaxations and derivatives \
                need a static potential energy surface.
                """)
        }
    }

    /// LAMMPS registers its `thermo_pe` compute at every run set-up, which switches on energy
    /// tallying; SNAP then recomputes the full bispectrum just for the energy (~25% of a force
    /// call). Force-only evaluations therefore remove that compute, and anything that needs
    /// the energy restores it first.
    func tallyEnergy(_ on: Bool) throws {
        guard on != tallyingEnergy else { return }
        try lammps.commands(on ? "compute thermo_pe all pe\nthermo_style one" : "thermo_style custom step\nuncompute thermo_pe")
        tallyingEnergy = on
    }
    private var tallyingEnergy = true

    /// The diagonal pressure components (pxx, pyy, pzz) of the last evaluation, in LAMMPS pressure units.
    public func pressureDiagonal() throws -> [Double] {
        try ["pxx", "pyy", "pzz"].map { try lammps.thermo($0) }
    }

    public var units: String { lammps.globalString("units") ?? "unknown" }
}
