import Foundation
import LAMMPSLibrary

/// A snapshot of the atoms of a simulation, in atom-ID order (index i is atom ID i+1).
public struct Structure: Sendable, Codable {
    public var box: Box
    /// Wrapped Cartesian positions, 3 per atom (Å in metal units).
    public var positions: [Double]
    /// Periodic image counts, 3 per atom: unwrapped = wrapped + image · cell.
    public var images: [Int32]
    public var types: [Int32]
    /// Mass of each atom type (index 0 is type 1).
    public var masses: [Double]

    public var count: Int { types.count }

    public init(box: Box, positions: [Double], images: [Int32], types: [Int32], masses: [Double]) {
        (self.box, self.positions, self.images, self.types, self.masses) = (box, positions, images, types, masses)
    }

    /// Positions continued across periodic boundaries, so that differences between two
    /// snapshots are true displacements.
    public var unwrappedPositions: [Double] {
        let cell = box.cell
        var result = positions
        for atom in 0..<count {
            for k in 0..<3 {
                for axis in 0..<3 {
                    result[3 * atom + k] += Double(images[3 * atom + axis]) * cell[axis][k]
                }
            }
        }
        return result
    }

    /// The same atoms with `unwrapped` positions (continued from this structure's, e.g. by a
    /// minimizer) put back into the cell along periodic axes, their image counts following, as
    /// LAMMPS's re-neighbouring does (restricted triclinic cell: c along z, b in the xy plane).
    public func wrapping(_ unwrapped: [Double]) -> Structure {
        let cell = box.cell
        var result = self
        result.positions = unwrapped
        for atom in 0..<count {
            let fractions = box.fractionalCoordinates(of: Array(unwrapped[3 * atom..<3 * atom + 3]))
            for (axis, fraction) in fractions.enumerated() where box.periodic[axis] {
                let shift = fraction.rounded(.down)
                guard shift != 0 else { continue }
                for k in 0..<3 { result.positions[3 * atom + k] -= shift * cell[axis][k] }
                result.images[3 * atom + axis] += Int32(shift)
            }
        }
        return result
    }

    /// Chemical symbol per atom type, guessed from its mass; "X<type>" when no element matches.
    public var typeSymbols: [String] {
        masses.enumerated().map { Element.symbol(forMass: $0.element) ?? "X\($0.offset + 1)" }
    }
}

extension Structure {
    /// Decodes LAMMPS's packed image flags (default build: 10 bits per axis, offset 512;
    /// see `IMGBITS`/`IMGMAX` in LAMMPS's lmptype.h).
    static func decodeImages(_ packed: [Int32]) -> [Int32] {
        packed.flatMap { image -> [Int32] in
            let mask: Int32 = 1023, offset: Int32 = 512
            return [(image & mask) - offset, ((image >> 10) & mask) - offset, (image >> 20) - offset]
        }
    }

    /// Packs image counts (3 per atom) the way `decodeImages` unpacks them.
    public static func encodeImages(_ images: [Int32]) -> [Int32] {
        stride(from: 0, to: images.count, by: 3).map { start in
            let offset: Int32 = 512
            return (images[start] + offset) | ((images[start + 1] + offset) << 10) | ((images[start + 2] + offset) << 20)
        }
    }
}

/// The largest per-atom Euclidean norm of a 3-per-atom array (forces, displacements).
public func largestAtomNorm(_ values: [Double]) -> Double {
    var largest = 0.0
    for start in stride(from: 0, to: values.count, by: 3) {
        let x = values[start], y = values[start + 1], z = values[start + 2]
        largest = max(largest, (x * x + y * y + z * z).squareRoot())
    }
    return largest
}

/// Differences of positions (3 per atom) reduced to their minimum periodic image, for the
/// restricted triclinic cell of LAMMPS (c along z, b in the xy plane), as LAMMPS's own
/// `Domain::minimum_image` does.
public func minimumImage(_ differences: [Double], in box: Box) -> [Double] {
    let cell = box.cell
    var result = differences
    for start in stride(from: 0, to: result.count, by: 3) {
        for axis in [2, 1, 0] where box.periodic[axis] {
            let images = (result[start + axis] / cell[axis][axis]).rounded()
            for k in 0..<3 { result[start + k] -= images * cell[axis][k] }
        }
    }
    return result
}

/// Removes the mean displacement along `axes` from a 3-per-atom vector: the rigid translations
/// that are zero modes of a free or periodic system.
public func removingTranslations(_ values: [Double], axes: [Int]) -> [Double] {
    var result = values
    let atoms = Double(values.count / 3)
    for axis in axes {
        let mean = stride(from: axis, to: result.count, by: 3).reduce(0) { $0 + result[$1] } / atoms
        for index in stride(from: axis, to: result.count, by: 3) { result[index] -= mean }
    }
    return result
}

/// SplitMix64: a small seeded generator, so that perturbations are reproducible run to run.
public struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

extension Structure {
    /// Atom pairs closer than `fraction` of the median nearest-neighbour distance, by atom ID:
    /// a duplicated atom or a wrong coordinate, never a physical structure. Nearest neighbours
    /// are searched with bins of the mean atomic spacing (V/N)^(1/3), minimum image in periodic
    /// directions; atoms without a neighbour that close are far from every other anyway.
    public func closePairs(fraction: Double = 0.2) -> (pairs: [(Int, Int, Double)], typicalDistance: Double) {
        let n = count
        guard n > 1 else { return ([], 0) }
        let spacing = Foundation.pow(box.volume / Double(n), 1.0 / 3.0)
        var nearest = [Double](repeating: .infinity, count: n)
        var candidates: [(Int, Int, Double)] = []
        forEachPairInAdjacentBins(binWidth: spacing) { atom, other, distance in
            nearest[atom] = min(nearest[atom], distance)
            nearest[other] = min(nearest[other], distance)
            if distance < spacing { candidates.append((atom + 1, other + 1, distance)) }
        }
        let found = nearest.filter(\.isFinite).sorted()
        guard !found.isEmpty else { return ([], 0) }
        let median = found[found.count / 2]
        return (candidates.filter { $0.2 < fraction * median }, median)
    }

    /// Every pair of atoms (0-based indices) closer than `cutoff`, minimum image in periodic
    /// directions (one image per pair: a cutoff beyond half the box misses further images).
    public func pairs(within cutoff: Double) -> [(Int, Int, Double)] {
        var result: [(Int, Int, Double)] = []
        forEachPairInAdjacentBins(binWidth: cutoff) { atom, other, distance in
            if distance < cutoff { result.append((atom, other, distance)) }
        }
        return result
    }

    /// Visits each pair of atoms in the same or adjacent bins once (bins at least `binWidth` wide,
    /// so every pair closer than that is visited), with its minimum-image distance.
    private func forEachPairInAdjacentBins(binWidth: Double, _ body: (Int, Int, Double) -> Void) {
        let n = count
        // Bins along an axis only where at least 3 fit, so that the ±1 neighbours are distinct bins.
        let bins: [Int] = (0..<3).map { axis in
            let fit = Int((box.high[axis] - box.low[axis]) / binWidth)
            return fit >= 3 ? fit : 1
        }
        let atomBins: [[Int]] = (0..<n).map { binIndex(of: $0, bins: bins) }
        var members: [[Int]: [Int]] = [:]
        for atom in 0..<n { members[atomBins[atom], default: []].append(atom) }
        let offsets: [[Int]] = bins.map { $0 >= 3 ? [-1, 0, 1] : [0] }
        for atom in 0..<n {
            for dx in offsets[0] {
                for dy in offsets[1] {
                    for dz in offsets[2] {
                        let shift = [dx, dy, dz]
                        let key: [Int] = (0..<3).map { ((atomBins[atom][$0] + shift[$0]) % bins[$0] + bins[$0]) % bins[$0] }
                        for other in members[key] ?? [] where other > atom {
                            body(atom, other, distance(atom, other))
                        }
                    }
                }
            }
        }
    }

    /// Minimum-image distance between two atoms (0-based indices).
    func distance(_ a: Int, _ b: Int) -> Double {
        let difference: [Double] = (0..<3).map { positions[3 * a + $0] - positions[3 * b + $0] }
        let d = minimumImage(difference, in: box)
        return (d[0] * d[0] + d[1] * d[1] + d[2] * d[2]).squareRoot()
    }

    /// The bin of an atom in fractional coordinates of the restricted triclinic cell (c along z, b in xy).
    private func binIndex(of atom: Int, bins: [Int]) -> [Int] {
        let fractions = box.fractionalCoordinates(of: Array(positions[3 * atom..<3 * atom + 3]))
        return (0..<3).map { axis in
            let f = fractions[axis] - fractions[axis].rounded(.down)
            return min(bins[axis] - 1, max(0, Int(f * Double(bins[axis]))))
        }
    }

    /// A sentence naming overlapping atoms, or nil when there are none.
    public func overlapReport() -> String? {
        let (pairs, typical) = closePairs()
        guard !pairs.isEmpty else { return nil }
        let listed = pairs.prefix(5).map { String(format: "atoms %d and %d are %.4g Å apart", $0.0, $0.1, $0.2) }
        return listed.joined(separator: ", ") + (pairs.count > 5 ? " (and \(pairs.count - 5) more pairs)" : "")
            + String(format: ", where nearest neighbours are typically %.4g Å apart", typical)
    }
}

extension Box {
    /// The fractional coordinates of a Cartesian point in the restricted triclinic cell (c along
    /// z, b in the xy plane), 0…1 inside it.
    func fractionalCoordinates(of point: [Double]) -> [Double] {
        let cell = self.cell
        let r: [Double] = (0..<3).map { point[$0] - low[$0] }
        let fz = r[2] / cell[2][2]
        let fy = (r[1] - fz * cell[2][1]) / cell[1][1]
        let fx = (r[0] - fz * cell[2][0] - fy * cell[1][0]) / cell[0][0]
        return [fx, fy, fz]
    }
}
