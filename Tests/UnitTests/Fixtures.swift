import Atomistics
import LinearAlgebra
import ReferenceModel
import XCTest

/// Systems of the reference model and the exact answers the engine is checked against.
enum Fixtures {
    /// A 2×2×2 fcc Morse crystal (31 atoms) with one vacancy, relaxed to the floating-point floor.
    static func relaxedVacancy(held: [Int] = [], pair: MorsePair = MorsePair()) throws -> MorseCrystal {
        let crystal = MorseCrystal.fcc(pair: pair)
        for atom in held { crystal.held[atom] = true }
        try relax(crystal)
        return crystal
    }

    /// The perfect crystal and the vacancy of 3×3×3 cells (108 and 107 atoms), their pair reaching
    /// second neighbours. With nearest neighbours alone a relaxed cell puts every bond at
    /// the pair's minimum, so that nothing around a vacancy relaxes and every level is exact.
    static func bulkAndVacancy() -> (bulk: MorseCrystal, vacancy: MorseCrystal, bulkAtoms: Int) {
        let pair = MorsePair(inner: 3.6, cutoff: 4.3)
        return (MorseCrystal.fcc(cells: 3, latticeConstant: 3.9, vacancies: [], pair: pair),
                MorseCrystal.fcc(cells: 3, latticeConstant: 3.9, pair: pair), 108)
    }

    @discardableResult
    static func relax(_ crystal: MorseCrystal, ftol: Double = 1e-11) throws -> RelaxationResult {
        let result = try crystal.minimize(RelaxationSettings(ftol: ftol), label: "relax", progress: { _ in })
        XCTAssertTrue(result.converged, "the reference model did not relax: max|F| = \(result.maxForce)")
        return result
    }

    /// H X = B exactly: the analytic Hessian over the mobile components, the rigid translations
    /// removed by constraints (zero mean displacement along every axis no atom is held on).
    static func exactSolve(_ crystal: MorseCrystal, _ b: Matrix) throws -> Matrix {
        let mobile = (0..<b.rows).filter { !crystal.held[$0 / 3] }
        let axes = crystal.held.contains(true) ? [] : [0, 1, 2]
        let h = crystal.hessianMatrix()
        let (n, m) = (mobile.count, axes.count)
        var system = Matrix(rows: n + m, columns: n + m)
        var rhs = Matrix(rows: n + m, columns: b.columns)
        for (i, p) in mobile.enumerated() {
            for (j, q) in mobile.enumerated() { system[i, j] = h[p, q] }
            for (c, axis) in axes.enumerated() where p % 3 == axis { system[i, n + c] = 1; system[n + c, i] = 1 }
            for column in 0..<b.columns { rhs[i, column] = b[p, column] }
        }
        let y = try LAPACK.solveSymmetric(system, rhs)
        var x = Matrix(rows: b.rows, columns: b.columns)
        for (i, p) in mobile.enumerated() { for column in 0..<b.columns { x[p, column] = y[i, column] } }
        return x
    }

    /// ∇Θ X* = −H⁻¹ ∇²ΘX U, exactly.
    static func exactPositionDerivative(_ crystal: MorseCrystal) throws -> Matrix {
        try exactSolve(crystal, scaled(try crystal.mixedHessian(), by: -1))
    }

    /// max |a − b| over max |b| (absolute when b vanishes).
    static func relativeDifference(_ a: Matrix, _ b: Matrix) -> Double {
        let scale = b.storage.map(abs).max() ?? 0
        let difference = zip(a.storage, b.storage).map { abs($0 - $1) }.max() ?? 0
        return scale > 0 ? difference / scale : difference
    }

    static func relativeDifference(_ a: [Double], _ b: [Double]) -> Double {
        relativeDifference(Matrix(rows: a.count, columns: 1, storage: a), Matrix(rows: b.count, columns: 1, storage: b))
    }
}
