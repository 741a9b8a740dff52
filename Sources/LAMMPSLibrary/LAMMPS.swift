import Foundation

/// The simulation box as LAMMPS stores it: a restricted triclinic cell with edge vectors
/// a = (lx,0,0), b = (xy,ly,0), c = (xz,yz,lz) and origin `low`.
public struct Box: Equatable, Sendable, Codable {
    public var low: [Double]
    public var high: [Double]
    public var xy: Double, yz: Double, xz: Double
    public var periodic: [Bool]

    public init(low: [Double], high: [Double], xy: Double = 0, yz: Double = 0, xz: Double = 0,
                periodic: [Bool] = [true, true, true]) {
        (self.low, self.high, self.xy, self.yz, self.xz, self.periodic) = (low, high, xy, yz, xz, periodic)
    }

    /// Rows are the cell vectors a, b, c.
    public var cell: [[Double]] {
        let l = (0..<3).map { high[$0] - low[$0] }
        return [[l[0], 0, 0], [xy, l[1], 0], [xz, yz, l[2]]]
    }
    public var volume: Double { (0..<3).map { high[$0] - low[$0] }.reduce(1, *) }
}

/// One LAMMPS instance. Every call that LAMMPS can reject throws `LAMMPSError.lammps` carrying
/// LAMMPS's own message; nothing here exits or aborts the process.
///
/// Per-atom arrays are exchanged in atom-ID order (`lammps_gather`/`lammps_scatter`), flattened
/// row-major: atom 1's `count` values, then atom 2's, …, identically on every MPI rank.
public final class LAMMPS {
    public let library: Library
    /// Commands, blocks and files run so far: lets callers tell whether LAMMPS's state may have
    /// changed since a given moment (gather and scatter do not count).
    public private(set) var commandCount = 0
    /// Every command, block and input file run while recording (`include FILE` for a file), in
    /// order: what a replay with the native `lmp` must issue. nil when not recording.
    public private(set) var journal: [String]?
    public func startJournal() { journal = [] }
    /// The recorded commands; recording stops.
    public func stopJournal() -> [String] {
        defer { journal = nil }
        return journal ?? []
    }
    /// Adds a line to the journal without running it (e.g. `shell cd DIR` for a change of
    /// working directory made by the caller).
    public func noteInJournal(_ line: String) { journal?.append(line) }
    private var handle: UnsafeMutableRawPointer?
    private var api: API { library.api }

    /// Default arguments keep LAMMPS quiet; pass `-log FILE` to keep a log a user can read.
    /// - Parameter partitions: run on this process's partition only (all of MPI_COMM_WORLD when nil).
    public init(arguments: [String] = ["-log", "none", "-screen", "none"], library: Library? = nil,
                partitions: Partitions? = nil) throws {
        self.library = try library ?? Library.shared()
        let argv = (["implicit-lammps"] + arguments).map { strdup($0) }
        defer { argv.forEach { free($0) } }
        var cArguments = argv
        if let partitions {
            guard let open = api.open_fortran else {
                throw LAMMPSError.invalidRequest("partitions need lammps_open_fortran, which \(self.library.path) lacks")
            }
            handle = open(Int32(cArguments.count), &cArguments, partitions.world)
        } else {
            handle = api.open_no_mpi(Int32(cArguments.count), &cArguments, nil)
        }
        guard handle != nil else { throw LAMMPSError.openFailed(arguments: arguments) }
        try check("lammps_open " + arguments.joined(separator: " "))
    }

    deinit { close() }

    public func close() {
        if let handle { api.close(handle) }
        handle = nil
    }

    // MARK: - Commands

    /// Runs one LAMMPS command.
    public func command(_ line: String) throws {
        commandCount += 1
        journal?.append(line)
        _ = try withHandle { api.command($0, line) }
        try check(line)
    }

    /// Runs a block of commands, one per line (continuation `&` and comments allowed).
    public func commands(_ block: String) throws {
        commandCount += 1
        journal?.append(block)
        try withHandle { api.commands_string($0, block) }
        try check(block)
    }

    /// Runs an input file as `lmp -in FILE` would.
    public func file(_ path: String) throws {
        guard FileManager.default.isReadableFile(atPath: path) else {
            throw LAMMPSError.invalidRequest("cannot read LAMMPS input file \(path)")
        }
        commandCount += 1
        journal?.append("include \(path)")
        try withHandle { api.file($0, path) }
        try check("input file \(path)")
    }

    /// A command line with LAMMPS's variables substituted (`${name}`, `$x`, `$(expr)`), as LAMMPS
    /// itself would read it now.
    public func expand(_ line: String) throws -> String {
        guard let expand = api.expand else {
            throw LAMMPSError.missingSymbol(name: "lammps_expand", path: library.path)
        }
        let pointer = try withHandle { expand($0, line) }
        try check("expand \(line)")
        guard let pointer else { return line }
        defer { api.free(pointer) }
        return String(cString: pointer)
    }

    // MARK: - Global state

    /// LAMMPS version as the date number, e.g. 20250722.
    public var version: Int { Int(api.version(handle)) }
    public var natoms: Int { Int(api.get_natoms(handle)) }
    public var mpiRank: Int { Int(api.extract_setting(handle, "world_rank")) }
    public var mpiSize: Int { Int(api.extract_setting(handle, "world_size")) }

    /// A thermo keyword ("pe", "press", "vol", "pxx", "fmax" …) evaluated now.
    public func thermo(_ keyword: String) throws -> Double {
        let value = try withHandle { api.get_thermo($0, keyword) }
        try check("thermo keyword \(keyword)")
        return value
    }

    /// An integer setting of `lammps_extract_setting` ("dimension", "box_exist", "ntypes" …).
    public func setting(_ name: String) -> Int { Int(api.extract_setting(handle, name)) }

    /// A global double ("dt", "nktv2p" …) or integer ("ntimestep") property.
    public func global(_ name: String) throws -> Double {
        guard let pointer = api.extract_global(handle, name) else {
            throw LAMMPSError.invalidRequest("LAMMPS has no global property '\(name)'")
        }
        switch api.extract_global_datatype(handle, name) {
        case LMP.globalInt64Datatype: return Double(pointer.load(as: Int64.self))
        case 0: return Double(pointer.load(as: Int32.self))
        default: return pointer.load(as: Double.self)
        }
    }

    /// A global string property such as "units" or "atom_style".
    public func globalString(_ name: String) -> String? {
        guard let pointer = api.extract_global(handle, name) else { return nil }
        return String(cString: pointer.assumingMemoryBound(to: CChar.self))
    }

    public func box() -> Box {
        var low = [0.0, 0, 0], high = [0.0, 0, 0], xy = 0.0, yz = 0.0, xz = 0.0
        var periodic: [Int32] = [0, 0, 0], changed: Int32 = 0
        api.extract_box(handle, &low, &high, &xy, &yz, &xz, &periodic, &changed)
        return Box(low: low, high: high, xy: xy, yz: yz, xz: xz, periodic: periodic.map { $0 != 0 })
    }

    /// Per-type masses, index 0 is type 1.
    public func masses() -> [Double] {
        let ntypes = setting("ntypes")
        guard let pointer = api.extract_atom(handle, "mass") else { return [] }
        let masses = pointer.assumingMemoryBound(to: Double.self)
        return (1...max(ntypes, 1)).map { masses[$0] }
    }

    public func hasStyle(category: String, name: String) -> Bool { api.has_style(handle, category, name) != 0 }
    public func hasID(category: String, id: String) -> Bool { api.has_id(handle, category, id) != 0 }

    // MARK: - Per-atom arrays, ordered by atom ID

    /// Gathers `count` doubles per atom of a property: "x", "f", "v", "d_NAME", "c_ID", "c_ID[k]",
    /// "f_ID", "v_NAME". Per-atom computes are invoked if not current.
    public func gather(_ name: String, count: Int) throws -> [Double] {
        var data = [Double](repeating: 0, count: natoms * count)
        try data.withUnsafeMutableBytes { buffer in
            try withHandle { api.gather($0, name, LMP.double, Int32(count), buffer.baseAddress) }
        }
        try check("gather \(name) (\(count) values per atom)")
        return data
    }

    /// Gathers `count` 32-bit integers per atom ("type", "image", "id", "mask", "i_NAME").
    public func gatherIntegers(_ name: String, count: Int = 1) throws -> [Int32] {
        var data = [Int32](repeating: 0, count: natoms * count)
        try data.withUnsafeMutableBytes { buffer in
            try withHandle { api.gather($0, name, LMP.int32, Int32(count), buffer.baseAddress) }
        }
        try check("gather \(name) (\(count) integers per atom)")
        return data
    }

    /// Scatters doubles back to the atoms, e.g. new positions "x". Needs an atom map: issue
    /// `atom_modify map yes` before the simulation box is created.
    public func scatter(_ name: String, count: Int, values: [Double]) throws {
        guard values.count == natoms * count else {
            throw LAMMPSError.invalidRequest(
                "scatter \(name): expected \(natoms * count) values (\(natoms) atoms × \(count)), got \(values.count)")
        }
        var data = values
        try data.withUnsafeMutableBytes { buffer in
            try withHandle { api.scatter($0, name, LMP.double, Int32(count), buffer.baseAddress) }
        }
        try check("scatter \(name)")
    }

    /// Scatters 32-bit integers back to the atoms, e.g. packed image flags "image".
    public func scatterIntegers(_ name: String, count: Int = 1, values: [Int32]) throws {
        guard values.count == natoms * count else {
            throw LAMMPSError.invalidRequest("scatter \(name): expected \(natoms * count) integers, got \(values.count)")
        }
        var data = values
        try data.withUnsafeMutableBytes { buffer in
            try withHandle { api.scatter($0, name, LMP.int32, Int32(count), buffer.baseAddress) }
        }
        try check("scatter \(name)")
    }

    // MARK: - Global computes

    /// The global scalar of a compute, evaluated if not current.
    public func computeScalar(_ id: String) throws -> Double {
        let pointer = try withHandle { api.extract_compute($0, id, LMP.styleGlobal, LMP.typeScalar) }
        try check("compute \(id) scalar")
        guard let pointer else { throw LAMMPSError.invalidRequest("compute \(id) has no global scalar") }
        return pointer.load(as: Double.self)
    }

    /// The global vector of a compute, evaluated if not current.
    public func computeVector(_ id: String) throws -> [Double] {
        let size = try withHandle { api.extract_compute($0, id, LMP.styleGlobal, LMP.sizeVector) }
        let pointer = try withHandle { api.extract_compute($0, id, LMP.styleGlobal, LMP.typeVector) }
        try check("compute \(id) vector")
        guard let size, let pointer else { throw LAMMPSError.invalidRequest("compute \(id) has no global vector") }
        let count = Int(size.load(as: Int32.self))
        return Array(UnsafeBufferPointer(start: pointer.assumingMemoryBound(to: Double.self), count: count))
    }

    /// The global array of a compute, evaluated if not current, as its rows.
    public func computeArray(_ id: String) throws -> [[Double]] {
        let rows = try withHandle { api.extract_compute($0, id, LMP.styleGlobal, LMP.sizeRows) }
        let columns = try withHandle { api.extract_compute($0, id, LMP.styleGlobal, LMP.sizeColumns) }
        let pointer = try withHandle { api.extract_compute($0, id, LMP.styleGlobal, LMP.typeArray) }
        try check("compute \(id) array")
        guard let rows, let columns, let pointer else { throw LAMMPSError.invalidRequest("compute \(id) has no global array") }
        let (rowCount, columnCount) = (Int(rows.load(as: Int32.self)), Int(columns.load(as: Int32.self)))
        // LAMMPS hands out its row pointers (double **), each row contiguous.
        let rowPointers = pointer.assumingMemoryBound(to: UnsafeMutablePointer<Double>?.self)
        return try (0..<rowCount).map { row in
            guard let values = rowPointers[row] else {
                throw LAMMPSError.invalidRequest("compute \(id) has no row \(row + 1) of \(rowCount)")
            }
            return Array(UnsafeBufferPointer(start: values, count: columnCount))
        }
    }

    // MARK: - Observing long runs

    /// Calls `body` with the timestep at every force evaluation of the runs and minimizations
    /// that follow, until `stopObservingSteps()`: a `fix external` whose added forces stay zero.
    /// `body` runs inside LAMMPS, on every rank, so it must not call LAMMPS: it may only record
    /// and print. This is how a long `minimize` shows progress without being cut into pieces.
    public func observeSteps(_ body: @escaping (Int64) -> Void) throws {
        try stopObservingSteps()
        let observer = StepObserver(body: body)
        stepObserver = observer
        try command("fix \(StepObserver.fixID) all external pf/callback 1 1")
        try withHandle {
            api.set_fix_external_callback($0, StepObserver.fixID, StepObserver.callback,
                                          Unmanaged.passUnretained(observer).toOpaque())
        }
        try check("fix external callback")
    }

    public func stopObservingSteps() throws {
        guard stepObserver != nil else { return }
        try command("unfix \(StepObserver.fixID)")
        stepObserver = nil
    }
    private var stepObserver: StepObserver?

    // MARK: - Errors

    private func withHandle<T>(_ body: (UnsafeMutableRawPointer) throws -> T) throws -> T {
        guard let handle else { throw LAMMPSError.invalidRequest("the LAMMPS instance is closed") }
        return try body(handle)
    }

    /// Converts a pending LAMMPS error into a Swift error (and clears it in LAMMPS).
    private func check(_ context: @autoclosure () -> String) throws {
        guard let handle, api.has_error(handle) != 0 else { return }
        var buffer = [CChar](repeating: 0, count: 4096)
        let kind = api.get_last_error_message(handle, &buffer, Int32(buffer.count))
        let message = buffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
            .trimmingCharacters(in: .whitespacesAndNewlines)
        let shortContext = context().split(separator: "\n").prefix(3).joined(separator: " | ")
        throw LAMMPSError.lammps(message: message, context: shortContext, isAbort: kind == 2)
    }
}

/// The Swift closure behind a `fix external` callback; LAMMPS holds only an unretained pointer,
/// the LAMMPS instance keeps the object alive while the fix exists.
private final class StepObserver {
    static let fixID = "ilmp_observer"
    let body: (Int64) -> Void
    init(body: @escaping (Int64) -> Void) { self.body = body }

    static let callback: API.StepCallback = { context, timestep, _, _, _, _ in
        guard let context else { return }
        Unmanaged<StepObserver>.fromOpaque(context).takeUnretainedValue().body(timestep)
    }
}
