import Atomistics
import Foundation
import LinearAlgebra
import Potentials

/// Finished columns of a long per-parameter computation (the energy method), saved after each
/// parameter so that an interrupted run resumes where it stopped. A checkpoint only applies to
/// the same minimum (positions within 1e-9 Å) and the same settings; otherwise it is discarded, and the caller is told why.
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
    /// One columns file per count of finished columns: an interruption between writing the
    /// columns and the progress file leaves the progress file's own columns file intact.
    private func columnsFile(count: Int) -> URL { directory.appendingPathComponent("columns-\(count).npy") }
    private var referenceFile: URL { directory.appendingPathComponent("reference.npy") }

    /// Columns already computed for this minimum and these settings (`key`), by parameter, and
    /// why a checkpoint that exists was discarded (nil when there was none, or it was used).
    func load(reference: [Double], key: String) -> (columns: [Int: Column], discarded: String?) {
        guard FileManager.default.fileExists(atPath: progressFile.path) else { return ([:], nil) }
        let progress: Progress
        do { progress = try JSONDecoder().decode(Progress.self, from: Data(contentsOf: progressFile)) } catch {
            return ([:], "\(progressFile.lastPathComponent) is unreadable (\(error.localizedDescription))")
        }
        guard progress.key == key else {
            func shown(_ key: String) -> String { key.count > 100 ? key.prefix(100) + "…" : key }
            return ([:], "it was made with other settings or right-hand sides (\(shown(progress.key)); now \(shown(key)))")
        }
        guard let saved = try? NPY.read(referenceFile), saved.values.count == reference.count,
              zip(saved.values, reference).allSatisfy({ abs($0 - $1) < 1e-9 })
        else { return ([:], "it belongs to another minimum (the relaxed positions differ by more than 1e-9 Å)") }
        let columnsFile = columnsFile(count: progress.parameters.count)
        guard let columns = try? NPY.read(columnsFile), columns.values.count == progress.parameters.count * reference.count
        else { return ([:], "\(columnsFile.lastPathComponent) is missing or does not match \(progressFile.lastPathComponent)") }
        var result: [Int: Column] = [:]
        for (index, parameter) in progress.parameters.enumerated() {
            result[parameter] = Column(values: Array(columns.values[index * reference.count..<(index + 1) * reference.count]),
                                       residual: progress.residuals[index], iterations: progress.iterations[index])
        }
        return (result, nil)
    }

    /// Saves all finished columns; the progress file is written last, so it never names a
    /// columns file that is not complete, and the previous columns file goes only after it.
    func save(_ columns: [Int: Column], reference: [Double], key: String) throws {
        guard writes else { return }
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let parameters = columns.keys.sorted()
        try NPY.write(reference, shape: [reference.count], to: referenceFile)
        try NPY.write(parameters.flatMap { columns[$0]!.values }, shape: [parameters.count, reference.count],
                      to: columnsFile(count: parameters.count))
        try Files.writeJSON(Progress(key: key, parameters: parameters, residuals: parameters.map { columns[$0]!.residual },
                                     iterations: parameters.map { columns[$0]!.iterations }), to: progressFile)
        let current = columnsFile(count: parameters.count).lastPathComponent
        for name in (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        where name.hasPrefix("columns-") && name.hasSuffix(".npy") && name != current {
            try? FileManager.default.removeItem(at: directory.appendingPathComponent(name))
        }
    }
}
