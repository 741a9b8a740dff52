import Foundation

/// Positions of a target structure, by atom ID, read from a LAMMPS data file (`Atoms` section of
/// style atomic: `id type x y z [ix iy iz]`, image flags applied) or an extended XYZ file (atom IDs
/// 1…N in file order, as this tool writes them). Errors name the file and line.
public struct TargetStructure: Sendable {
    /// 3 per atom, atom IDs 1…N in order.
    public var positions: [Double]
    public var url: URL
    /// The cell vectors a, b, c (rows), when the file gives them.
    public var cell: [[Double]]?

    public var count: Int { positions.count / 3 }

    public init(contentsOf url: URL) throws {
        self.url = url
        let text: String
        do { text = try String(contentsOf: url, encoding: .utf8) } catch {
            throw InputError.fileNotFound(url.path)
        }
        (positions, cell) = url.pathExtension == "extxyz" || url.pathExtension == "xyz"
            ? try Self.extendedXYZ(text, file: url.path) : try Self.lammpsData(text, file: url.path)
    }

    /// Refuses a target whose cell differs from the system's (minimum-image displacements between
    /// different cells mean nothing).
    public func requireCell(_ systemCell: [[Double]], system: String) throws {
        guard let cell else { return }
        let scale = systemCell.joined().map(abs).max() ?? 1
        let difference = zip(cell.joined(), systemCell.joined()).map { abs($0 - $1) }.max() ?? 0
        guard difference <= 1e-6 * scale else {
            throw InputError.fileFormat(file: url.path, line: nil, reason: """
                the target's cell \(cell) differs from system \(system)'s cell \(systemCell) \
                (by up to \(difference) Å); structure targets are compared in the system's own cell
                """)
        }
    }

    /// How well pairing by atom ID fits the geometry: atoms of `start` farther than half the typical
    /// neighbour distance from their own target while another atom's target lies within it. A few
    /// such atoms are a rearrangement (an atom hopping into a vacancy); many mean the two files
    /// number the same atoms differently, and every displacement of the loss would be wrong.
    public func mispairedAtoms(in start: Structure) -> (atoms: [Int], threshold: Double) {
        let n = start.count
        let threshold = start.closePairs().typicalDistance / 2
        guard n == count, threshold > 0 else { return ([], threshold) }
        let unwrapped = start.unwrappedPositions
        var own = minimumImage(zip(unwrapped, positions).map { $0 - $1 }, in: start.box)
        // The loss ignores a rigid translation (a target made with another origin): so does this.
        let shift: [Double] = (0..<3).map { k in stride(from: k, to: 3 * n, by: 3).reduce(0) { $0 + own[$1] } / Double(n) }
        for i in 0..<(3 * n) { own[i] -= shift[i % 3] }
        let shifted = (0..<(3 * n)).map { positions[$0] + shift[$0 % 3] }
        let far: [Bool] = (0..<n).map { i in
            let squared: Double = own[(3 * i)..<(3 * i + 3)].reduce(0) { $0 + $1 * $1 }
            return squared > threshold * threshold
        }
        // Start atoms 0..<n and target positions n..<2n in one structure: pairs across the two.
        let both = Structure(box: start.box, positions: unwrapped + shifted,
                             images: [Int32](repeating: 0, count: 6 * n), types: start.types + start.types, masses: start.masses)
        var mispaired = Set<Int>()
        for (a, b, _) in both.pairs(within: threshold) where (a < n) != (b < n) {
            let (atom, target) = a < n ? (a, b - n) : (b, a - n)
            if atom != target, far[atom] { mispaired.insert(atom) }
        }
        return (mispaired.sorted(), threshold)
    }

    private static func invalid(_ file: String, _ line: Int?, _ message: String) -> InputError {
        .fileFormat(file: file, line: line, reason: message)
    }

    static func lammpsData(_ text: String, file: String) throws -> ([Double], [[Double]]?) {
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
        guard atoms > 0 else { throw invalid(file, nil, "the header declares \(atoms) atoms") }
        guard (lengths + tilts).allSatisfy(\.isFinite) else { throw invalid(file, nil, "the box bounds or tilts are not finite numbers") }
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
                guard let ix = Int(words[5]).map(Double.init), let iy = Int(words[6]).map(Double.init),
                      let iz = Int(words[7]).map(Double.init) else {
                    throw invalid(file, line + 1, "image flags are not integers: '\(lines[line])'")
                }
                // Unwrap: a = (lx, 0, 0), b = (xy, ly, 0), c = (xz, yz, lz).
                position[0] += ix * lengths[0] + iy * tilts[0] + iz * tilts[1]
                position[1] += iy * lengths[1] + iz * tilts[2]
                position[2] += iz * lengths[2]
            }
            guard position.allSatisfy(\.isFinite) else {
                throw invalid(file, line + 1, "atom \(id) has a coordinate that is not a finite number: '\(lines[line])'")
            }
            guard positions[3 * (id - 1)].isNaN else { throw invalid(file, line + 1, "atom ID \(id) appears twice") }
            positions.replaceSubrange(3 * (id - 1)..<3 * id, with: position)
            read += 1
        }
        guard read == atoms else { throw invalid(file, nil, "the Atoms section holds \(read) of the \(atoms) atoms the header declares") }
        return (positions, [[lengths[0], 0, 0], [tilts[0], lengths[1], 0], [tilts[1], tilts[2], lengths[2]]])
    }

    /// Positions from the `pos` columns of `Properties` (species:S:1:pos:R:3 when absent), ordered
    /// by an `id` column when there is one (else file order is atom-ID order); the cell from `Lattice`.
    static func extendedXYZ(_ text: String, file: String) throws -> ([Double], [[Double]]?) {
        let lines = text.components(separatedBy: "\n")
        guard let count = lines.first.flatMap({ Int($0.trimmingCharacters(in: .whitespaces)) }), count > 0,
              lines.count >= count + 2 else {
            throw invalid(file, 1, "not an extended XYZ file (first line must be the atom count)")
        }
        let header = lines[1]
        func value(_ key: String) -> String? {
            guard let range = header.range(of: "\(key)=") else { return nil }
            let rest = header[range.upperBound...]
            if rest.first == "\"" { return rest.dropFirst().split(separator: "\"", maxSplits: 1).first.map(String.init) }
            return rest.split(whereSeparator: \.isWhitespace).first.map(String.init)
        }
        // Column offsets of pos and id in the per-atom words.
        var column = 0, position: Int?, id: Int?
        let properties = (value("Properties") ?? "species:S:1:pos:R:3").split(separator: ":").map(String.init)
        for start in stride(from: 0, to: properties.count - 2, by: 3) {
            let (name, width) = (properties[start], Int(properties[start + 2]) ?? 1)
            if name == "pos" { position = column }
            if name == "id" { id = column }
            column += width
        }
        guard let position else { throw invalid(file, 2, "Properties has no pos column") }
        var positions = [Double](repeating: .nan, count: 3 * count)
        for index in 0..<count {
            let words = lines[index + 2].split(whereSeparator: \.isWhitespace)
            guard words.count >= position + 3, let x = Double(words[position]), let y = Double(words[position + 1]),
                  let z = Double(words[position + 2]) else {
                throw invalid(file, index + 3, "expected \(column) columns (Properties), got '\(lines[index + 2])'")
            }
            guard [x, y, z].allSatisfy(\.isFinite) else {
                throw invalid(file, index + 3, "a coordinate is not a finite number: '\(lines[index + 2])'")
            }
            var atom = index + 1
            if let id {
                guard words.count > id, let value = Int(words[id]), (1...count).contains(value) else {
                    throw invalid(file, index + 3, "the id column is not an atom ID in 1…\(count)")
                }
                atom = value
            }
            guard positions[3 * (atom - 1)].isNaN else { throw invalid(file, index + 3, "atom ID \(atom) appears twice") }
            positions.replaceSubrange(3 * (atom - 1)..<3 * atom, with: [x, y, z])
        }
        let lattice = value("Lattice")?.split(whereSeparator: \.isWhitespace).compactMap { Double($0) }
        let cell = lattice.flatMap { $0.count == 9 ? [Array($0[0..<3]), Array($0[3..<6]), Array($0[6..<9])] : nil }
        return (positions, cell)
    }
}
