import LinearAlgebra
import XCTest

/// The dense linear algebra the engine relies on, checked without LAMMPS.
final class MatrixTests: XCTestCase {
    func testSymmetricSolveReproducesRightHandSide() throws {
        let a = Matrix(rows: 3, columns: 3, storage: [4, 1, 0, 1, 3, -1, 0, -1, 2])
        let b = Matrix(rows: 3, columns: 2, storage: [1, 2, 3, -1, 0, 5])
        let x = try LAPACK.solveSymmetric(a, b)
        let back = a.multiplied(by: x)
        for (u, v) in zip(back.storage, b.storage) { XCTAssertEqual(u, v, accuracy: 1e-12) }
    }

    func testEigenvaluesAscendingAndOrthonormalVectors() throws {
        let a = Matrix(rows: 2, columns: 2, storage: [2, 1, 1, 2])
        let (values, vectors) = try LAPACK.symmetricEigen(a)
        XCTAssertEqual(values[0], 1, accuracy: 1e-12)
        XCTAssertEqual(values[1], 3, accuracy: 1e-12)
        let gram = vectors.multiplied(by: vectors, transposingSelf: true)
        XCTAssertEqual(gram[0, 0], 1, accuracy: 1e-12)
        XCTAssertEqual(gram[0, 1], 0, accuracy: 1e-12)
    }

    func testTransposedProductsAndArithmetic() {
        let a = Matrix(rows: 2, columns: 3, storage: [1, 2, 3, 4, 5, 6])  // columns (1,2) (3,4) (5,6)
        XCTAssertEqual(a.transposed.rows, 3)
        XCTAssertEqual(a.transposed[2, 1], 6)
        let ata = a.multiplied(by: a, transposingSelf: true)
        XCTAssertEqual(ata[0, 1], 1 * 3 + 2 * 4)
        XCTAssertEqual(add(a, scaled(a, by: -1)).storage, [Double](repeating: 0, count: 6))
    }

    /// An overdetermined system whose residual is orthogonal to A's columns, and a rank-deficient
    /// one whose minimum-norm solution is known.
    func testLeastSquaresSolutionAndMinimumNorm() throws {
        // Rows (1,0), (0,1), (1,1): b = (1, 2, 4) gives x = (4/3, 7/3), residual (−1/3, −1/3, 1/3).
        let a = Matrix(rows: [[1, 0], [0, 1], [1, 1]])
        let b = Matrix(rows: 3, columns: 1, storage: [1, 2, 4])
        let (x, rank, singular) = try LAPACK.leastSquares(a, b)
        XCTAssertEqual(rank, 2)
        XCTAssertEqual(singular.count, 2)
        XCTAssertEqual(x[0, 0], 4.0 / 3, accuracy: 1e-14)
        XCTAssertEqual(x[1, 0], 7.0 / 3, accuracy: 1e-14)
        // Two equal columns: x1 + x2 = 2 in every row, minimum norm x1 = x2 = 1. Rounding leaves
        // the second singular value near machine precision, so the rank cut is given.
        let twin = Matrix(rows: [[1, 1], [2, 2], [3, 3]])
        let fit = try LAPACK.leastSquares(twin, Matrix(rows: 3, columns: 1, storage: [2, 4, 6]), rcond: 1e-12)
        XCTAssertEqual(fit.rank, 1)
        XCTAssertEqual(fit.solution[0, 0], 1, accuracy: 1e-12)
        XCTAssertEqual(fit.solution[1, 0], 1, accuracy: 1e-12)
    }
}
