/// A general cell in LAMMPS's restricted triclinic form (a along x, b in the xy plane), with the
/// map that takes vectors of the original frame into it: positions and forces must be rotated
/// alike, since force components are only comparable in one frame.
public struct LAMMPSCell: Equatable, Sendable {
    public var lx: Double, ly: Double, lz: Double, xy: Double, xz: Double, yz: Double
    /// Orthogonal map, row vectors: v' = v · rotation (a reflection for a left-handed cell).
    public var rotation: [[Double]]

    public init(lattice m: [[Double]]) {
        let (a, b, c) = (m[0], m[1], m[2])
        let lx = Self.norm(a)
        let xy = Self.dot(b, a) / lx
        let ly = (Self.dot(b, b) - xy * xy).squareRoot()
        let xz = Self.dot(c, a) / lx
        let yz = (Self.dot(b, c) - xy * xz) / ly
        let lz = (Self.dot(c, c) - xz * xz - yz * yz).squareRoot()
        // The new lattice rows, then M = A⁻¹ A′ maps the old frame onto the new one.
        var rows = [[lx, 0, 0], [xy, ly, 0], [xz, yz, lz]]
        let inverse = Self.inverse(m)
        rotation = Self.product(inverse, rows)
        // LAMMPS refuses strongly tilted boxes; the same lattice with tilts reduced to within half a
        // period is an equivalent periodic cell (positions are wrapped into it).
        rows[2] = Self.subtract(rows[2], rows[1], times: (rows[2][1] / ly).rounded())
        rows[2] = Self.subtract(rows[2], rows[0], times: (rows[2][0] / lx).rounded())
        rows[1] = Self.subtract(rows[1], rows[0], times: (rows[1][0] / lx).rounded())
        (self.lx, self.ly, self.lz, self.xy, self.xz, self.yz) = (lx, ly, lz, rows[1][0], rows[2][0], rows[2][1])
    }

    public var rows: [[Double]] { [[lx, 0, 0], [xy, ly, 0], [xz, yz, lz]] }

    /// `v` in the LAMMPS frame.
    public func rotate(_ v: [Double]) -> [Double] { (0..<3).map { j in (0..<3).reduce(0) { $0 + v[$1] * rotation[$1][j] } } }

    /// A LAMMPS-frame position wrapped into [0, 1) fractional coordinates of this cell.
    public func wrap(_ r: [Double]) -> [Double] {
        // Fractional coordinates of the lower-triangular cell, by back substitution.
        var f2 = r[2] / lz
        var f1 = (r[1] - f2 * yz) / ly
        var f0 = (r[0] - f1 * xy - f2 * xz) / lx
        f0 -= f0.rounded(.down); f1 -= f1.rounded(.down); f2 -= f2.rounded(.down)
        return [f0 * lx + f1 * xy + f2 * xz, f1 * ly + f2 * yz, f2 * lz]
    }

    public static func determinant(_ m: [[Double]]) -> Double {
        m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1]) - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
            + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0])
    }

    static func inverse(_ m: [[Double]]) -> [[Double]] {
        let d = determinant(m)
        return (0..<3).map { i in
            (0..<3).map { j in
                let (r0, r1) = ((j + 1) % 3, (j + 2) % 3), (c0, c1) = ((i + 1) % 3, (i + 2) % 3)
                return (m[r0][c0] * m[r1][c1] - m[r0][c1] * m[r1][c0]) / d
            }
        }
    }

    static func product(_ a: [[Double]], _ b: [[Double]]) -> [[Double]] {
        (0..<3).map { i in (0..<3).map { j in (0..<3).reduce(0) { $0 + a[i][$1] * b[$1][j] } } }
    }
    static func dot(_ a: [Double], _ b: [Double]) -> Double { a[0] * b[0] + a[1] * b[1] + a[2] * b[2] }
    static func norm(_ a: [Double]) -> Double { dot(a, a).squareRoot() }
    static func subtract(_ a: [Double], _ b: [Double], times k: Double) -> [Double] { (0..<3).map { a[$0] - k * b[$0] } }
}
