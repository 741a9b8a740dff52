import ImplicitDerivative
import LinearAlgebra
import XCTest

/// The shared-basis Krylov solve on an explicit matrix, without LAMMPS.
final class KrylovSolverTests: XCTestCase {
    func testSolvesManyRightHandSidesOfASymmetricPositiveMatrix() throws {
        let n = 40
        var a = Matrix(rows: n, columns: n)
        for i in 0..<n {
            a[i, i] = 4 + Double(i % 7)
            if i + 1 < n { a[i, i + 1] = -1; a[i + 1, i] = -1 }
        }
        let b = Matrix(columns: (0..<5).map { j in (0..<n).map { i in sin(Double(i * (j + 1))) } }, rows: n)
        let solution = try KrylovSolver(tolerance: 1e-10).solve(b) { v in
            a.multiplied(by: Matrix(rows: n, columns: 1, storage: v)).storage
        }
        let exact = try LAPACK.solveSymmetric(a, b)
        XCTAssertLessThan((solution.x - exact).frobeniusNorm / exact.frobeniusNorm, 1e-9)
        XCTAssertTrue(solution.relativeResiduals.allSatisfy { $0 <= 1e-10 })
        XCTAssertLessThanOrEqual(solution.products, n)
    }
}
