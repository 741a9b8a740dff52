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
}
