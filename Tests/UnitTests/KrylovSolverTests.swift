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

    /// A stiff chain with a soft long-wavelength spectrum (a 1-D Laplacian, condition ~n²): the
    /// Laplacian part as preconditioner resolves it in a few products; the answer is unchanged.
    func testPreconditionerCutsProductsAndKeepsTheSolution() throws {
        let n = 200
        var laplacian = Matrix(rows: n, columns: n)
        for i in 0..<n {
            laplacian[i, i] = 2.001
            if i + 1 < n { laplacian[i, i + 1] = -1; laplacian[i + 1, i] = -1 }
        }
        var a = laplacian
        for i in 0..<n { a[i, i] += 0.3 * Double(i % 3) * 1e-3 }
        let b = Matrix(rows: n, columns: 1, storage: (0..<n).map { cos(Double($0) * 0.05) })
        let apply: ([Double]) -> [Double] = { a.multiplied(by: Matrix(rows: n, columns: 1, storage: $0)).storage }
        let plain = try KrylovSolver(tolerance: 1e-8).solve(b, apply: apply)
        let p = try SparseCholesky(size: n, entries: (0..<n).flatMap { i in
            [(i, i, 2.001)] + (i + 1 < n ? [(i, i + 1, -1.0)] : [])
        })
        let preconditioned = try KrylovSolver(tolerance: 1e-8, preconditioner: p.solve).solve(b, apply: apply)
        let exact = try LAPACK.solveSymmetric(a, b)
        XCTAssertLessThan((preconditioned.x - exact).frobeniusNorm / exact.frobeniusNorm, 1e-6)
        XCTAssertLessThan((plain.x - exact).frobeniusNorm / exact.frobeniusNorm, 1e-6)
        XCTAssertLessThan(preconditioned.products * 4, plain.products)
    }

    func testConjugateGradientsMatchTheDenseSolveWithAndWithoutPreconditioner() throws {
        let n = 150
        var a = Matrix(rows: n, columns: n)
        for i in 0..<n {
            a[i, i] = 2.002 + 0.5 * Double(i % 5) * 1e-3
            if i + 1 < n { a[i, i + 1] = -1; a[i + 1, i] = -1 }
        }
        let b = (0..<n).map { sin(Double($0) * 0.11) }
        let exact = try LAPACK.solveSymmetric(a, Matrix(rows: n, columns: 1, storage: b)).storage
        let apply: ([Double]) -> [Double] = { a.multiplied(by: Matrix(rows: n, columns: 1, storage: $0)).storage }
        let p = try SparseCholesky(size: n, entries: (0..<n).flatMap { i in [(i, i, 2.002)] + (i + 1 < n ? [(i, i + 1, -1.0)] : []) })
        let plain = try ConjugateGradient(tolerance: 1e-9).solve(b, apply: apply)
        let preconditioned = try ConjugateGradient(tolerance: 1e-9).solve(b, preconditioner: p.solve, apply: apply)
        for solution in [plain, preconditioned] {
            XCTAssertLessThanOrEqual(solution.relativeResidual, 1e-9)
            XCTAssertLessThan(norm(zip(solution.x, exact).map { $0 - $1 }) / norm(exact), 1e-6)
        }
        XCTAssertLessThan(preconditioned.products * 5, plain.products)
        // A warm start at the solution costs one product.
        XCTAssertEqual(try ConjugateGradient(tolerance: 1e-6).solve(b, start: exact, apply: apply).products, 1)
    }

    /// The time-left estimate of the shared basis: the last two sweeps' geometric rate, capped.
    func testProductsLeftFollowTheLastRate() {
        let sweeps = [(products: 100, worst: 1e-1), (products: 200, worst: 1e-2)]
        XCTAssertEqual(KrylovSolver.productsLeft(sweeps, tolerance: 1e-5, cap: 4000), 500)
        XCTAssertEqual(KrylovSolver.productsLeft(sweeps, tolerance: 1e-5, cap: 400), 400)
        XCTAssertNil(KrylovSolver.productsLeft(Array(sweeps.prefix(1)), tolerance: 1e-5, cap: 4000))
        XCTAssertNil(KrylovSolver.productsLeft([(100, 1e-2), (200, 1e-2)], tolerance: 1e-5, cap: 4000))
    }
}
