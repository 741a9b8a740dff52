import LinearAlgebra
import XCTest

/// The band Cholesky of sparse SPD matrices (reverse Cuthill–McKee + LAPACK dpbtrf), without LAMMPS.
final class SparseCholeskyTests: XCTestCase {
    /// A 2-D grid Laplacian (+ a shift) with its vertices shuffled, as neighbour lists of atoms come.
    private func shuffledGrid(side: Int) -> (size: Int, entries: [(Int, Int, Double)]) {
        let n = side * side
        var generator = SeededGenerator(state: 7)
        let label = Array(0..<n).shuffled(using: &generator)
        var entries: [(Int, Int, Double)] = (0..<n).map { (label[$0], label[$0], 4.1) }
        for x in 0..<side {
            for y in 0..<side {
                if x + 1 < side { entries.append((label[x * side + y], label[(x + 1) * side + y], -1)) }
                if y + 1 < side { entries.append((label[x * side + y], label[x * side + y + 1], -1)) }
            }
        }
        return (n, entries)
    }

    func testSolvesLikeTheDenseFactorization() throws {
        let (n, entries) = shuffledGrid(side: 12)
        var dense = Matrix(rows: n, columns: n)
        for (i, j, v) in entries {
            dense[i, j] += v
            if i != j { dense[j, i] += v }
        }
        let b = (0..<n).map { sin(Double($0) * 0.37) }
        let sparse = try SparseCholesky(size: n, entries: entries).solve(b)
        let exact = try LAPACK.solveSymmetric(dense, Matrix(rows: n, columns: 1, storage: b)).storage
        for (u, v) in zip(sparse, exact) { XCTAssertEqual(u, v, accuracy: 1e-12) }
    }

    func testReorderingKeepsTheBandNarrow() throws {
        // A shuffled 30 × 30 grid has a band of ~900 unordered; RCM brings it near the side (30).
        let (n, entries) = shuffledGrid(side: 30)
        let factor = try SparseCholesky(size: n, entries: entries)
        XCTAssertLessThanOrEqual(factor.bandwidth, 2 * 30)
    }

    func testTooWideABandIsRefusedWithItsSize() {
        let (n, entries) = shuffledGrid(side: 30)
        XCTAssertThrowsError(try SparseCholesky(size: n, entries: entries, maximumBytes: 1000)) { error in
            XCTAssertGreaterThan((error as? SparseCholesky.TooWide)?.bytes ?? 0, 1000)
        }
    }

    /// The Chebyshev polynomial inverse: close to the exact solve, linear and symmetric.
    func testChebyshevInverseApproximatesTheSolveSymmetrically() throws {
        let (n, shifted) = shuffledGrid(side: 12)  // 4.1 I − adjacency: spectrum inside [0.1, 8.1]
        let inverse = ChebyshevInverse(size: n, entries: shifted, lower: 0.1, degree: 60)
        let exact = try SparseCholesky(size: n, entries: shifted)
        let b = (0..<n).map { sin(Double($0) * 0.37) + 0.2 }
        let (x, y) = (inverse.solve(b), exact.solve(b))
        XCTAssertLessThan(norm(zip(x, y).map { $0 - $1 }) / norm(y), 0.05)
        let c = (0..<n).map { cos(Double($0) * 0.21) }
        XCTAssertEqual(dot(c, inverse.solve(b)), dot(b, inverse.solve(c)), accuracy: 1e-10 * norm(b) * norm(c) * 10)
    }

    func testIndefiniteMatrixIsRefused() {
        XCTAssertThrowsError(try SparseCholesky(size: 2, entries: [(0, 0, 1), (1, 1, 1), (0, 1, 3)]))
    }
}

struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state = state &* 6364136223846793005 &+ 1442695040888963407
        return state
    }
}
