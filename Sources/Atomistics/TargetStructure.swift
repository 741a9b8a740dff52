import Foundation

/// Positions of a target structure, by atom ID, read from a LAMMPS data file (`Atoms` section of
/// style atomic: `id type x y z [ix iy iz]`, image flags applied) or an extended XYZ file (atom IDs
/// 1…N in file order, as this tool writes them). Errors name the file and line.
public struct TargetStructure: Sendable {
    /// 3 per atom, atom IDs 1…N in order.
    public var positions: [Double]
    public var url: URL

    public var count: Int { positions.count / 3 }

    public init(contentsOf url: URL) throws {
        self.url = url
        let text: String
        do { text = try String(contentsOf: url, encoding: .utf8) } catch {
            throw InputError.fileNotFound(url.path)
        }
        positions = url.pathExtension == "extxyz" || url.pathExtension == "xyz"
            ? try Self.extendedXYZ(text, file: url.path) : try Self.lammpsData(text, file: url.path)
    }

    private static func invalid(_ file: String, _ line: Int?, _ message: String) -> InputError {
        .invalid("\(file)\(line.map { ":\($0)" } ?? ""): \(message)")
    }

    static func lammpsData(_ text: String, file: String) throws -> [Double] {
        let lines = text.components(separatedBy: "\n")
        var lengths = [0.0, 0.0, 0.0], tilts = [0.0, 0.0, 0.0]
        var atoms: Int?
        var section: Int?
        for (index, raw) in lines.enumerated() {
            let line = raw.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? ""
            let words = line.split(whereSeparator: \.isWhitespace).map(String.init)
            if words.count == 2, words[1] == "atoms" { atoms = Int(words[0]) }
            for (axis, name) in ["x", "y", "z"].enumerated() where words.count == 4 && words[2] == "\(name)lo" {
                lengths[axis] = (Double(words[1]) ?? 0) - (Double(words[0]) ?? 0)
            }
            if words.count == 6, words[3] == "xy" { tilts = words.prefix(3).map { Double($0) ?? 0 } }
            if words.first == "Atoms" { section = index; break }
        }
        guard let atoms, let section else { throw invalid(file, nil, "not a LAMMPS data file (no atom count or no Atoms section)") }
        var positions = [Double](repeating: .nan, count: 3 * atoms)
        var line = section + 1
        var read = 0
        while read < atoms, line < lines.count {
            defer { line += 1 }
            let words = lines[line].split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first?
                .split(whereSeparator: \.isWhitespace).map(String.init) ?? []
            if words.isEmpty { continue }
            guard words.count == 5 || words.count == 8, let id = Int(words[0]), (1...atoms).contains(id),
                  let x = Double(words[2]), let y = Double(words[3]), let z = Double(words[4]) else {
                throw invalid(file, line + 1, "expected `id type x y z [ix iy iz]` (atom style atomic) with 1 ≤ id ≤ \(atoms), got '\(lines[line])'")
            }
            var position = [x, y, z]
            if words.count == 8 {
                guard let ix = Double(words[5]), let iy = Double(words[6]), let iz = Double(words[7]) else {
                    throw invalid(file, line + 1, "image flags are not integers: '\(lines[line])'")
                }
                // Unwrap: a = (lx, 0, 0), b = (xy, ly, 0), c = (xz, yz, lz).
                position[0] += ix * lengths[0] + iy * tilts[0] + iz * tilts[1]
                position[1] += iy * lengths[1] + iz * tilts[2]
                position[2] += iz * lengths[2]
            }
            guard positions[3 * (id - 1)].isNaN else { throw invalid(file, line + 1, "atom ID \(id) appears twice") }
            positions.replaceSubrange(3 * (id - 1)..<3 * id, with: position)
            read += 1
        }
        guard read == atoms else { throw invalid(file, nil, "the Atoms section holds \(read) of the \(atoms) atoms the header declares") }
        return positions
    }

    static func extendedXYZ(_ text: String, file: String) throws -> [Double] {
        let lines = text.components(separatedBy: "\n")
        guard let count = lines.first.flatMap({ Int($0.trimmingCharacters(in: .whitespaces)) }), lines.count >= count + 2 else {
            throw invalid(file, 1, "not an extended XYZ file (first line must be the atom count)")
        }
        var positions: [Double] = []
        for index in 2..<(2 + count) {
            let words = lines[index].split(whereSeparator: \.isWhitespace)
            guard words.count >= 4, let x = Double(words[1]), let y = Double(words[2]), let z = Double(words[3]) else {
                throw invalid(file, index + 1, "expected `species x y z …`, got '\(lines[index])'")
            }
            positions += [x, y, z]
        }
        return positions
    }
}
