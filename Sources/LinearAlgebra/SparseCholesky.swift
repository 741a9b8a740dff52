import CLAPACK

/// A symmetric positive definite sparse matrix factored once and solved many times: rows and
/// columns renumbered by reverse Cuthill–McKee so that the nonzeros gather near the diagonal,
/// then LAPACK's band Cholesky (dpbtrf/dpbtrs). Memory n × (bandwidth + 1); for matrices built
/// from neighbour lists of atoms the bandwidth grows like a cross-section of the system.
public struct SparseCholesky: Sendable {
    public let size: Int
    /// Half bandwidth after renumbering.
    public let bandwidth: Int
    /// order[k] = the original index placed at position k.
    private let order: [Int]
    private let factor: [Double]

    /// - Parameters:
    ///   - size: n.
    ///   - entries: (row, column, value) of the lower or upper triangle or both (each off-diagonal
    ///     pair once); duplicates are summed.
    /// Thrown when the band factor would need more than the memory allowed.
    public struct TooWide: Error {
        public var bandwidth: Int
        public var bytes: Int
    }

    /// - Parameter maximumBytes: refuse (`TooWide`) a band factor larger than this.
    public init(size: Int, entries: [(Int, Int, Double)], maximumBytes: Int = .max) throws {
        self.size = size
        var neighbours = [[Int]](repeating: [], count: size)
        for (i, j, _) in entries where i != j {
            neighbours[i].append(j)
            neighbours[j].append(i)
        }
        order = SparseCholesky.reverseCuthillMcKee(neighbours)
        var position = [Int](repeating: 0, count: size)
        for (k, original) in order.enumerated() { position[original] = k }
        var kd = 0
        for (i, j, _) in entries { kd = max(kd, abs(position[i] - position[j])) }
        bandwidth = kd
        let bytes = size * (kd + 1) * MemoryLayout<Double>.size
        guard bytes <= maximumBytes else { throw TooWide(bandwidth: kd, bytes: bytes) }
        // Lower band storage: AB[(i − j) + j·(kd+1)] = A[i, j] for j ≤ i ≤ j + kd.
        var band = [Double](repeating: 0, count: max(size * (kd + 1), 1))
        for (i, j, value) in entries {
            let (row, column) = (max(position[i], position[j]), min(position[i], position[j]))
            band[(row - column) + column * (kd + 1)] += value
        }
        var uplo: CChar = 76  // "L"
        var n = Int32(size), k = Int32(kd), ldab = Int32(kd + 1), info: Int32 = 0
        dpbtrf_(&uplo, &n, &k, &band, &ldab, &info)
        guard info == 0 else { throw LAPACKError(routine: "dpbtrf", info: info) }
        factor = band
    }

    /// A⁻¹ b.
    public func solve(_ b: [Double]) -> [Double] {
        precondition(b.count == size)
        guard size > 0 else { return [] }
        var permuted = order.map { b[$0] }
        var uplo: CChar = 76
        var n = Int32(size), k = Int32(bandwidth), ldab = Int32(bandwidth + 1), nrhs: Int32 = 1, ldb = Int32(size), info: Int32 = 0
        dpbtrs_(&uplo, &n, &k, &nrhs, factor, &ldab, &permuted, &ldb, &info)
        var result = [Double](repeating: 0, count: size)
        for (k, original) in order.enumerated() { result[original] = permuted[k] }
        return result
    }

    /// Breadth-first numbering from a low-degree vertex of each connected component, neighbours
    /// by increasing degree, reversed (George & Liu): a narrow band for mesh-like graphs.
    static func reverseCuthillMcKee(_ neighbours: [[Int]]) -> [Int] {
        let n = neighbours.count
        var visited = [Bool](repeating: false, count: n)
        var order: [Int] = []
        order.reserveCapacity(n)
        let byDegree = (0..<n).sorted { neighbours[$0].count < neighbours[$1].count }
        for start in byDegree where !visited[start] {
            visited[start] = true
            var head = order.count
            order.append(start)
            while head < order.count {
                let vertex = order[head]
                head += 1
                for next in neighbours[vertex].sorted(by: { neighbours[$0].count < neighbours[$1].count }) where !visited[next] {
                    visited[next] = true
                    order.append(next)
                }
            }
        }
        return order.reversed()
    }
}

/// A symmetric positive definite sparse matrix (CSR), and an approximate inverse that needs no
/// more memory than the matrix: `degree` steps of Chebyshev iteration on [lower, upper] ⊇ its
/// spectrum, started from zero. The result is a fixed polynomial p(A) r — linear, symmetric and
/// positive on the spectrum — so it can precondition conjugate gradients, where a few steps of an
/// inner CG (not linear in r) could not.
public struct ChebyshevInverse: Sendable {
    public let size: Int
    private let rowStart: [Int]
    private let columns: [Int]
    private let values: [Double]
    public let lower: Double
    public let upper: Double
    public let degree: Int

    /// - Parameters:
    ///   - entries: (row, column, value), each off-diagonal pair once; duplicates are summed.
    ///   - lower: a lower bound of the smallest eigenvalue (> 0); the upper bound is Gershgorin's.
    public init(size: Int, entries: [(Int, Int, Double)], lower: Double, degree: Int) {
        var rows = [[(Int, Double)]](repeating: [], count: size)
        for (i, j, v) in entries {
            rows[i].append((j, v))
            if i != j { rows[j].append((i, v)) }
        }
        var start = [0], columns: [Int] = [], values: [Double] = []
        var gershgorin = 0.0
        for row in rows {
            gershgorin = max(gershgorin, row.reduce(0) { $0 + abs($1.1) })
            for (j, v) in row { columns.append(j); values.append(v) }
            start.append(columns.count)
        }
        (self.size, self.rowStart, self.columns, self.values) = (size, start, columns, values)
        (self.lower, self.upper, self.degree) = (lower, max(gershgorin, lower * 1.0001), degree)
    }

    public func multiply(_ x: [Double]) -> [Double] {
        (0..<size).map { i in (rowStart[i]..<rowStart[i + 1]).reduce(0.0) { $0 + values[$1] * x[columns[$1]] } }
    }

    /// ≈ A⁻¹ b (Saad, Iterative Methods for Sparse Linear Systems, Algorithm 12.1).
    public func solve(_ b: [Double]) -> [Double] {
        let theta = (upper + lower) / 2, delta = (upper - lower) / 2
        let sigma = theta / delta
        var rho = 1 / sigma
        var x = [Double](repeating: 0, count: size)
        var r = b
        var d = b.map { $0 / theta }
        for step in 0..<degree {
            for i in x.indices { x[i] += d[i] }
            if step == degree - 1 { break }
            let ad = multiply(d)
            for i in r.indices { r[i] -= ad[i] }
            let next = 1 / (2 * sigma - rho)
            for i in d.indices { d[i] = next * rho * d[i] + 2 * next / delta * r[i] }
            rho = next
        }
        return x
    }
}
