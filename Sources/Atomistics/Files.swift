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
        try lammps.command("write_data \(temporary.path) nocoeff")
        if isRoot { try Files.replace(url, with: temporary) }
    }
}

/// Small helpers for writing results without leaving half-written files behind.
public enum Files {
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

    static func replace(_ destination: URL, with source: URL) throws {
        guard rename(source.path, destination.path) == 0 else {
            throw InputError.invalid("cannot move \(source.path) to \(destination.path): \(String(cString: strerror(errno)))")
        }
    }
}
