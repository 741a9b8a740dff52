import Atomistics
import Foundation

/// Finished columns of a long per-parameter computation (the energy method), saved after each
/// parameter so that an interrupted run resumes where it stopped. A checkpoint only applies to
/// the same minimum (positions within 1e-9 Å) and the same settings; otherwise it is ignored.
/// Every MPI rank reads the checkpoint (so all skip the same parameters and their LAMMPS
/// commands stay in step); only the writing rank saves it.
public struct Checkpoint {
    public let directory: URL
    public let writes: Bool

    public init(directory: URL, writes: Bool = true) {
        self.directory = directory
        self.writes = writes
    }

    struct Progress: Codable {
        var key: String
        var parameters: [Int]
        var residuals: [Double]
        var iterations: [Int]
    }

    struct Column {
        var values: [Double]
        var residual: Double
        var iterations: Int
    }

    private var progressFile: URL { directory.appendingPathComponent("progress.json") }
    private var columnsFile: URL { directory.appendingPathComponent("columns.npy") }
    private var referenceFile: URL { directory.appendingPathComponent("reference.npy") }

    /// Columns already computed for this minimum and these settings (`key`), by parameter.
    func load(reference: [Double], key: String) -> [Int: Column] {
        let decoder = JSONDecoder()
        guard let data = try? Data(contentsOf: progressFile),
              let progress = try? decoder.decode(Progress.self, from: data), progress.key == key,
              let saved = try? NPY.read(referenceFile), saved.values.count == reference.count,
              zip(saved.values, reference).allSatisfy({ abs($0 - $1) < 1e-9 }),
              let columns = try? NPY.read(columnsFile), columns.values.count == progress.parameters.count * reference.count
        else { return [:] }
        var result: [Int: Column] = [:]
        for (index, parameter) in progress.parameters.enumerated() {
            result[parameter] = Column(values: Array(columns.values[index * reference.count..<(index + 1) * reference.count]),
                                       residual: progress.residuals[index], iterations: progress.iterations[index])
        }
        return result
    }

    /// Saves all finished columns; the progress file is written last, so it never names a
    /// column the columns file does not hold.
    func save(_ columns: [Int: Column], reference: [Double], key: String) throws {
        guard writes else { return }
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let parameters = columns.keys.sorted()
        try NPY.write(reference, shape: [reference.count], to: referenceFile)
        try NPY.write(parameters.flatMap { columns[$0]!.values }, shape: [parameters.count, reference.count], to: columnsFile)
        try Files.writeJSON(Progress(key: key, parameters: parameters, residuals: parameters.map { columns[$0]!.residual },
                                     iterations: parameters.map { columns[$0]!.iterations }), to: progressFile)
    }

    public func remove() {
        if writes { try? FileManager.default.removeItem(at: directory) }
    }
}
