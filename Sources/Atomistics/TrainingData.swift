import Foundation

/// One DFT configuration of a training set: its cell, atoms, total energy and forces, as read.
public struct Configuration: Sendable {
    /// The dataset group (a FitSNAP JSON folder, or an extended XYZ file).
    public var group: String
    /// File name (and frame, for multi-frame files), to name the configuration in outputs and errors.
    public var name: String
    /// Lattice vectors as rows, Å, in the frame the file uses.
    public var lattice: [[Double]]
    public var species: [String]
    /// Positions and DFT forces, row per atom, in the file's frame.
    public var positions: [[Double]]
    public var forces: [[Double]]
    /// Total DFT energy, eV.
    public var energy: Double
    public var natoms: Int { species.count }
}

/// Reads datasets given on the command line: a folder of FitSNAP JSON files is one group, an
/// extended XYZ file (.xyz, .extxyz) one group or one per config_type.
public enum TrainingData {
    /// The configurations of each path, checked so that a bad file is refused before any LAMMPS work.
    public static func read(_ paths: [String], elements: [String]) throws -> [Configuration] {
        var all: [Configuration] = []
        for path in paths {
            var isFolder: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) else { throw InputError.fileNotFound(path) }
            let url = URL(fileURLWithPath: path)
            let group = url.standardizedFileURL.lastPathComponent
            if isFolder.boolValue {
                let files = try FileManager.default.contentsOfDirectory(atPath: path)
                    .filter { $0.hasSuffix(".json") }.sorted()
                guard !files.isEmpty else {
                    throw InputError.fileFormat(file: path, line: nil, reason: "the folder holds no FitSNAP .json file")
                }
                for file in files {
                    all += try FitSNAPJSON.read(url.appendingPathComponent(file), group: group)
                }
            } else if ["xyz", "extxyz"].contains(url.pathExtension) {
                all += try TrainingXYZ.read(url)
            } else {
                all += try FitSNAPJSON.read(url, group: url.deletingPathExtension().lastPathComponent)
            }
        }
        for configuration in all { try check(configuration, elements: elements) }
        return all
    }

    /// Refuses what would give meaningless errors or a LAMMPS failure far from its cause.
    static func check(_ c: Configuration, elements: [String]) throws {
        func refuse(_ reason: String) -> InputError { .fileFormat(file: c.name, line: nil, reason: reason) }
        guard c.natoms > 0 else { throw refuse("no atoms") }
        guard c.positions.count == c.natoms, c.forces.count == c.natoms else {
            throw refuse("\(c.natoms) atom types but \(c.positions.count) positions and \(c.forces.count) forces")
        }
        guard c.lattice.count == 3, c.lattice.allSatisfy({ $0.count == 3 }) else { throw refuse("Lattice must be 3 × 3") }
        for (key, rows) in [("Lattice", c.lattice), ("Positions", c.positions), ("Forces", c.forces)] {
            guard rows.allSatisfy({ $0.count == 3 && $0.allSatisfy(\.isFinite) }) else {
                throw refuse("\(key) has a row that is not three finite numbers")
            }
        }
        guard c.energy.isFinite else { throw refuse("Energy is not finite") }
        if let missing = c.species.first(where: { !elements.contains($0) }) {
            throw refuse("element \(missing) is not in the potential (\(elements.joined(separator: " ")))")
        }
        let volume = abs(LAMMPSCell.determinant(c.lattice))
        guard volume > 1e-6 else { throw refuse("the cell has zero volume") }
    }
}

/// FitSNAP's JSON training files: a `#` comment line, then {"Dataset": {"Data": [...]}}.
public enum FitSNAPJSON {
    public static func read(_ url: URL, group: String) throws -> [Configuration] {
        let file = url.path
        guard var text = try? String(contentsOf: url, encoding: .utf8) else { throw InputError.fileNotFound(file) }
        // FitSNAP's files open with a comment line, which JSON does not allow.
        if text.hasPrefix("#"), let end = text.firstIndex(of: "\n") { text = String(text[end...]) }
        let object: Any
        do { object = try JSONSerialization.jsonObject(with: Data(text.utf8)) } catch {
            throw InputError.fileFormat(file: file, line: nil, reason: "not JSON after the comment line: \(error.localizedDescription)")
        }
        guard let dataset = (object as? [String: Any])?["Dataset"] as? [String: Any],
              let data = dataset["Data"] as? [[String: Any]], !data.isEmpty else {
            throw InputError.fileFormat(file: file, line: nil, reason: "no Dataset.Data list")
        }
        return try data.enumerated().map { index, entry in
            func missing(_ key: String) -> InputError {
                .fileFormat(file: file, line: nil, reason: "Dataset.Data[\(index)] lacks \(key) (or it is not of the right kind)")
            }
            func rows(_ key: String) throws -> [[Double]] {
                guard let value = entry[key] as? [[Any]] else { throw missing(key) }
                return try value.map { row in try row.map { guard let x = ($0 as? NSNumber)?.doubleValue else { throw missing(key) }; return x } }
            }
            guard let energy = (entry["Energy"] as? NSNumber)?.doubleValue else { throw missing("Energy") }
            guard let species = entry["AtomTypes"] as? [String] else { throw missing("AtomTypes") }
            if let count = (entry["NumAtoms"] as? NSNumber)?.intValue, count != species.count {
                throw InputError.fileFormat(file: file, line: nil, reason: "NumAtoms \(count) but \(species.count) AtomTypes")
            }
            return Configuration(group: group, name: data.count == 1 ? file : "\(file)#\(index)",
                                 lattice: try rows("Lattice"), species: species, positions: try rows("Positions"),
                                 forces: try rows("Forces"), energy: energy)
        }
    }
}
