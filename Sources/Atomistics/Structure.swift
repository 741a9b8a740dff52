import LAMMPSLibrary

/// A snapshot of the atoms of a simulation, in atom-ID order (index i is atom ID i+1).
public struct Structure: Sendable {
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
