import LAMMPSLibrary

extension WorkSharing {
    /// No sharing: one copy of the system does every item, and the job's writing process
    /// (`MPIJob.isRoot`) writes what a partition's first rank would.
    public static var wholeJob: WorkSharing {
        WorkSharing(index: 0, count: 1, isPartitionRoot: MPIJob.isRoot, sum: { $0 })
    }
}
