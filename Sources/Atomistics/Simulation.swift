import Foundation
import LAMMPSLibrary

/// Errors about the user's files, raised before LAMMPS sees them.
public enum InputError: Error, CustomStringConvertible {
    case fileNotFound(String)
    case noAtoms(String)
    case invalid(String)

    public var description: String {
        switch self {
        case .fileNotFound(let path): return "input file not found: \(path)"
        case .noAtoms(let path): return "input \(path) defines no atoms (no read_data, create_atoms or read_restart?)"
        case .invalid(let text): return text
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

    /// Whether this MPI rank writes files (rank 0); every rank runs the same LAMMPS commands.
    public var isRoot: Bool { lammps.mpiRank == 0 }

    /// - Parameters:
    ///   - logFile: where LAMMPS writes its own log (`-log`); nil for none.
    ///   - extraArguments: further LAMMPS command-line arguments, e.g. `-sf omp`.
    public init(input path: String, logFile: URL? = nil, extraArguments: [String] = [],
                library: Library? = nil) throws {
        input = URL(fileURLWithPath: path).standardizedFileURL
        guard FileManager.default.isReadableFile(atPath: input.path) else {
            throw InputError.fileNotFound(path)
        }
        let library = try library ?? Library.shared()
        try library.requireUsable()
        let arguments = ["-log", logFile?.path ?? "none", "-screen", "none"] + extraArguments
        lammps = try LAMMPS(arguments: arguments, library: library)
        try Simulation.inFolder(of: input) { try lammps.file(input.path) }
        guard lammps.setting("box_exist") == 1, lammps.natoms > 0 else { throw InputError.noAtoms(path) }
    }

    /// LAMMPS resolves relative paths (read_data, include, pair_coeff files) against the working
    /// directory, so the input runs from its own folder, as `cd folder && lmp -in input` would.
    static func inFolder<T>(of input: URL, _ body: () throws -> T) throws -> T {
        let previous = FileManager.default.currentDirectoryPath
        let folder = input.deletingLastPathComponent().path
        guard FileManager.default.changeCurrentDirectoryPath(folder) else {
            throw InputError.invalid("cannot enter the input's folder \(folder)")
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

    /// Forces after the last energy evaluation, 3 per atom in atom-ID order (fixes applied, so
    /// frozen atoms read zero).
    public func forces() throws -> [Double] { try lammps.gather("f", count: 3) }

    /// Potential energy of the last evaluation.
    public func energy() throws -> Double { try lammps.thermo("pe") }

    /// Evaluates energy, forces and pressure at the current positions.
    public func evaluate() throws { try lammps.command("run 0") }

    /// The diagonal pressure components (pxx, pyy, pzz) of the last evaluation, in LAMMPS pressure units.
    public func pressureDiagonal() throws -> [Double] {
        try ["pxx", "pyy", "pzz"].map { try lammps.thermo($0) }
    }

    public var units: String { lammps.globalString("units") ?? "unknown" }
}
