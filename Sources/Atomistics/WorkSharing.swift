import LAMMPSLibrary

/// Work shared out over the partitions of an MPI job: partition `index` of `count` takes every
/// `count`-th item, `sum` adds up what each filled (zeros elsewhere) in every partition.
public struct WorkSharing {
    public var index: Int
    public var count: Int
    public var sum: ([Double]) throws -> [Double]
    /// Whether this process writes its partition's own files (a checkpoint of its share): the
    /// partition's first rank.
    public var isPartitionRoot: Bool

    public init(index: Int, count: Int, isPartitionRoot: Bool, sum: @escaping ([Double]) throws -> [Double]) {
        (self.index, self.count, self.isPartitionRoot, self.sum) = (index, count, isPartitionRoot, sum)
    }

    /// The sharing of the partitions of an MPI job.
    public init(partitions: Partitions) {
        self.init(index: partitions.index, count: partitions.count, isPartitionRoot: partitions.isPartitionRoot,
                  sum: partitions.sum)
    }

    /// Whether this partition does item `item` of a list shared out.
    public func takes(_ item: Int) -> Bool { item % count == index }

    /// No sharing: one copy of the system does every item, and the job's writing process
    /// (`MPIJob.isRoot`) writes what a partition's first rank would.
    public static var wholeJob: WorkSharing {
        WorkSharing(index: 0, count: 1, isPartitionRoot: MPIJob.isRoot, sum: { $0 })
    }
}
