import Foundation
import LAMMPSLibrary

/// Extended XYZ, as read by ASE (`ase.io.read`) and OVITO.
public enum ExtendedXYZ {
    public static func format(_ structure: Structure, forces: [Double]? = nil, energy: Double? = nil) -> String {
        let cell = structure.box.cell.flatMap { $0 }.map(number).joined(separator: " ")
        let origin = structure.box.low.map(number).joined(separator: " ")
        let pbc = structure.box.periodic.map { $0 ? "T" : "F" }.joined(separator: " ")
        var properties = "species:S:1:pos:R:3:id:I:1:type:I:1"
        if forces != nil { properties += ":forces:R:3" }
        var header = "Lattice=\"\(cell)\" Origin=\"\(origin)\" Properties=\(properties)"
        if let energy { header += " energy=\(number(energy))" }
        header += " pbc=\"\(pbc)\""
        let symbols = structure.typeSymbols
        var lines = ["\(structure.count)", header]
        lines.reserveCapacity(structure.count + 2)
        for atom in 0..<structure.count {
            let type = Int(structure.types[atom])
            var fields = [symbols[type - 1]]
            fields += structure.positions[3 * atom..<3 * atom + 3].map(number)
            fields += ["\(atom + 1)", "\(type)"]
            if let forces { fields += forces[3 * atom..<3 * atom + 3].map(number) }
            lines.append(fields.joined(separator: " "))
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// Full double precision, shortest round-trip form.
    private static func number(_ value: Double) -> String { "\(value)" }
}

extension Simulation {
    /// Writes a LAMMPS data file of the current state via `write_data` (collective: call on every
    /// rank). LAMMPS writes to a temporary name that is then renamed, so no half-written file is left.
    public func writeData(to url: URL) throws {
        let temporary = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).partial")
        try lammps.command("write_data \(try lammpsQuoted(temporary.path)) nocoeff")
        if isRoot { try Files.replace(url, with: temporary) }
    }
}

/// LAMMPS's text dump format (`dump atom`-like, `ITEM: ATOMS id x y z`), which `read_dump`
/// reads back: positions of a structure for a native replay.
public enum LAMMPSDump {
    public static func format(_ structure: Structure, timestep: Int = 0) -> String {
        let box = structure.box
        let flags = box.periodic.map { $0 ? "pp" : "ff" }.joined(separator: " ")
        var lines = ["ITEM: TIMESTEP", "\(timestep)", "ITEM: NUMBER OF ATOMS", "\(structure.count)"]
        if box.xy == 0 && box.xz == 0 && box.yz == 0 {
            lines.append("ITEM: BOX BOUNDS \(flags)")
            for axis in 0..<3 { lines.append(String(format: "%.17g %.17g", box.low[axis], box.high[axis])) }
        } else {
            // Triclinic dumps give the bounding box of the tilted cell, then the tilt factors.
            let (xy, xz, yz) = (box.xy, box.xz, box.yz)
            lines.append("ITEM: BOX BOUNDS xy xz yz \(flags)")
            lines.append(String(format: "%.17g %.17g %.17g", box.low[0] + min(0, xy, xz, xy + xz), box.high[0] + max(0, xy, xz, xy + xz), xy))
            lines.append(String(format: "%.17g %.17g %.17g", box.low[1] + min(0, yz), box.high[1] + max(0, yz), xz))
            lines.append(String(format: "%.17g %.17g %.17g", box.low[2], box.high[2], yz))
        }
        lines.append("ITEM: ATOMS id x y z")
        for atom in 0..<structure.count {
            let p = structure.positions[3 * atom..<3 * atom + 3].map { String(format: "%.17g", $0) }
            lines.append("\(atom + 1) " + p.joined(separator: " "))
        }
        return lines.joined(separator: "\n") + "\n"
    }
}

/// Small helpers for writing results without leaving half-written files behind.
public enum Files {
    /// A 64-bit FNV-1a hash of `bytes` in hexadecimal: identifies settings and inputs of a resumable
    /// run (not a cryptographic hash).
    public static func fingerprint<Bytes: Sequence>(_ bytes: Bytes) -> String where Bytes.Element == UInt8 {
        String(bytes.reduce(UInt64(0xcbf2_9ce4_8422_2325)) { ($0 ^ UInt64($1)) &* 0x100_0000_01b3 }, radix: 16)
    }

    /// Writes `text` through a temporary file and an atomic rename.
    public static func write(_ text: String, to url: URL) throws {
        try Data(text.utf8).write(to: url, options: .atomic)
    }

    /// Encodes `value` as pretty, key-sorted JSON with snake_case keys, written atomically.
    public static func writeJSON<T: Encodable>(_ value: T, to url: URL) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.keyEncodingStrategy = .convertToSnakeCase
        try (encoder.encode(value) + Data("\n".utf8)).write(to: url, options: .atomic)
    }

    /// A file-system or decoding error as a sentence with the path and the cause, instead of
    /// Foundation's `NSCocoaErrorDomain Code=…` text.
    public static func describe(_ error: Error, path: String? = nil) -> String {
        if let error = error as? CocoaError {
            let file = path ?? error.filePath ?? error.url?.path ?? "a file"
            let cause: String
            switch error.code {
            case .fileNoSuchFile, .fileReadNoSuchFile: cause = "no such file or folder"
            case .fileWriteFileExists: cause = "it already exists"
            case .fileReadNoPermission, .fileWriteNoPermission: cause = "permission denied"
            case .fileWriteOutOfSpace: cause = "no space left on the device"
            case .fileWriteVolumeReadOnly: cause = "the file system is read-only"
            case .fileReadCorruptFile, .fileReadInapplicableStringEncoding: cause = "its content is not readable text"
            default:
                let underlying = (error.userInfo[NSUnderlyingErrorKey] as? NSError).map { String(cString: strerror(Int32($0.code))) }
                cause = underlying ?? "error \(error.code.rawValue)"
            }
            return "cannot use \(file): \(cause)"
        }
        if let error = error as? DecodingError {
            let context: DecodingError.Context
            switch error {
            case .dataCorrupted(let c), .keyNotFound(_, let c), .typeMismatch(_, let c), .valueNotFound(_, let c): context = c
            @unknown default: return "\(path.map { "\($0): " } ?? "")malformed JSON"
            }
            let key = context.codingPath.map(\.stringValue).joined(separator: ".")
            return "\(path.map { "\($0): " } ?? "")malformed JSON\(key.isEmpty ? "" : " at \(key)"): \(context.debugDescription)"
        }
        return path.map { "\($0): \(error)" } ?? "\(error)"
    }

    /// Creates `folder` and the folders above it, with the system's reason when that fails
    /// (Foundation reports a folder under a file or on a read-only system only as "error 512").
    public static func createFolder(_ folder: URL) throws {
        for url in nearestExisting(folder).missing where mkdir(url.path, 0o755) != 0 && errno != EEXIST {
            throw InputError.fileOperation(action: "create the folder", path: url.path, reason: String(cString: strerror(errno)))
        }
    }

    /// The nearest path at or above `url` that exists (a folder or a file), and the missing ones
    /// below it, outermost first.
    public static func nearestExisting(_ url: URL) -> (existing: URL, missing: [URL]) {
        var missing: [URL] = []
        var next = url
        while !FileManager.default.fileExists(atPath: next.path) && next.path != "/" {
            missing.insert(next, at: 0)
            next = next.deletingLastPathComponent()
        }
        return (next, missing)
    }

    public static func replace(_ destination: URL, with source: URL) throws {
        guard rename(source.path, destination.path) == 0 else {
            throw InputError.fileOperation(action: "move \(source.path) to", path: destination.path, reason: String(cString: strerror(errno)))
        }
    }
}

/// A path as one argument of a LAMMPS command, whatever it contains (spaces, `$`, `#`, quotes):
/// LAMMPS takes the text between triple quotes verbatim.
public func lammpsQuoted(_ path: String) throws -> String {
    try requireLAMMPSOpenable(path)
    return try scriptQuoted(path)
}

/// Refuses a path LAMMPS cannot open: it rewrites non-ASCII characters in every command it
/// parses, triple quotes included, so the file it opens is another, non-existent one.
/// `setting` names where the path came from (e.g. the output folder), when that helps the user.
public func requireLAMMPSOpenable(_ path: String, setting: InputSetting? = nil) throws {
    guard let character = path.unicodeScalars.first(where: { !$0.isASCII }) else { return }
    throw InputError.unusablePath(path, reason: """
        contains the non-ASCII character '\(character)', which LAMMPS \
        cannot open (it rewrites non-ASCII characters in its commands); use a path of ASCII characters
        """, setting: setting)
}

/// A path as one argument in a LAMMPS script the user runs (a replay script): quoted as
/// `lammpsQuoted` does, without its check, since this process never gives the text to LAMMPS.
public func scriptQuoted(_ path: String) throws -> String {
    guard !path.contains("\"\"\"") else {
        throw InputError.unusablePath(path, reason: "contains three double quotes in a row, which LAMMPS cannot read", setting: nil)
    }
    return "\"\"\"\(path)\"\"\""
}

/// The output folder of one run, written as one consistent set: everything goes to a staging
/// folder `DIR.incomplete` beside it, which takes DIR's place only when the run completes. A
/// failed or interrupted run leaves DIR as it was, and its log (and a checkpoint to resume
/// from) in the staging folder. Only the writing MPI rank touches the file system.
public struct RunDirectory: Sendable {
    public let destination: URL
    public let staging: URL
    public let writes: Bool
    /// Held from here until the run commits or abandons the folder (the writing rank only): one run per folder.
    public let lock: OutputLock?
    /// What survives in the staging folder of a failed run: the log, and checkpoints to resume from.
    static let kept: Set<String> = ["log.lammps", "checkpoint"]

    /// - Parameters:
    ///   - overwrite: replace a DIR that already holds files (only once the run completes).
    ///   - resumable: what a resumed run keeps of an interrupted one besides its checkpoint (e.g. the
    ///     outputs of completed iterations); nil starts afresh, checkpoint included.
    public init(_ path: String, overwrite: Bool, writes: Bool, resumable: Set<String>? = []) throws {
        destination = URL(fileURLWithPath: path).standardizedFileURL
        staging = URL(fileURLWithPath: destination.path + ".incomplete")
        self.writes = writes
        try OutputPath.check(destination)
        if writes { try Files.createFolder(destination.deletingLastPathComponent()) }
        // The lock comes first: nothing of a folder that another live run writes may be touched.
        lock = writes ? try OutputLock(for: destination) : nil
        do { try prepare(overwrite: overwrite, resumable: resumable) } catch {
            lock?.release()
            throw error
        }
    }

    /// Refuses a DIR that holds another run, and empties the staging folder of leftovers.
    private func prepare(overwrite: Bool, resumable: Set<String>?) throws {
        var isFolder: ObjCBool = false
        if FileManager.default.fileExists(atPath: destination.path, isDirectory: &isFolder) {
            guard isFolder.boolValue else { throw InputError.badValue(.out, value: destination.path, reason: "exists and is not a folder") }
            let content = (try? FileManager.default.contentsOfDirectory(atPath: destination.path)) ?? []
            if !content.isEmpty && !overwrite {
                throw InputError.badValue(.out, value: destination.path, reason: """
                    already holds another run (\(content.sorted().prefix(4).joined(separator: ", "))\
                    \(content.count > 4 ? ", …" : "")). Choose a new folder, or pass \(setting: .overwrite) to replace it when \
                    this run completes.
                    """)
            }
        }
        try Files.createFolder(staging)
        // Leftovers of an earlier failed attempt must not join this run's set; checkpoints stay.
        removeStaged(except: resumable.map { $0.union(["checkpoint"]) } ?? [])
    }

    /// Removes what the staging folder holds, but `kept` (only on the writing rank).
    private func removeStaged(except kept: Set<String>, keepingLogs: Bool = false) {
        guard writes else { return }
        for name in (try? FileManager.default.contentsOfDirectory(atPath: staging.path)) ?? []
        where !kept.contains(name) && !(keepingLogs && name.hasPrefix("log.")) {
            try? FileManager.default.removeItem(at: url(name))
        }
    }

    public func url(_ name: String) -> URL { staging.appendingPathComponent(name) }

    /// Moves the completed set into place (replacing an earlier run only now) and drops checkpoints.
    public func commit() throws {
        guard writes else { return }
        try? FileManager.default.removeItem(at: url("checkpoint"))
        let previous = URL(fileURLWithPath: destination.path + ".previous-\(getpid())")
        do {
            if FileManager.default.fileExists(atPath: destination.path) {
                try Files.replace(previous, with: destination)
            }
            try Files.replace(destination, with: staging)
        } catch { throw InputError.fileOperation(action: "move the results into", path: destination.path, reason: "\(error)") }
        try? FileManager.default.removeItem(at: previous)
    }

    /// After a failure: only the log and checkpoints (and `resumable`) remain, in the staging folder.
    public func abandon(keeping resumable: Set<String> = []) {
        guard writes else { return }
        removeStaged(except: RunDirectory.kept.union(resumable), keepingLogs: true)
        if (try? FileManager.default.contentsOfDirectory(atPath: staging.path))?.isEmpty ?? false {
            try? FileManager.default.removeItem(at: staging)
        }
    }

    /// Where the log of a failed run can be read, if it was written.
    public var abandonedLog: String? {
        FileManager.default.fileExists(atPath: url("log.lammps").path) ? url("log.lammps").path : nil
    }
}
