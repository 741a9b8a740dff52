import Atomistics
import ImplicitDerivative
import LinearAlgebra
import ReferenceModel
import XCTest

/// Every derivative method and preconditioner of the engine against the exact solve with the
/// reference model's analytic Hessian.
final class SolverTests: XCTestCase {
    private func derivative(_ crystal: MorseCrystal, _ method: any DerivativeMethod) throws -> PositionDerivative {
        let hessian = try Hessian(system: crystal)
        return try ImplicitDifferentiation.positionDerivative(crystal, hessian: hessian, mixedHessian: try crystal.mixedHessian(),
                                                              method: method)
    }

    func testForceDifferenceHessianMatchesTheAnalyticOne() throws {
        let crystal = try Fixtures.relaxedVacancy()
        let hessian = try Hessian(system: crystal)
        let components = Array(0..<(3 * crystal.atomCount))
        let dense = try hessian.dense(components: components)
        XCTAssertLessThan(Fixtures.relativeDifference(dense, crystal.hessianMatrix()), 1e-5)
        XCTAssertEqual(hessian.degreesOfFreedom.translationAxes, [0, 1, 2])
    }

    func testEveryMethodMatchesTheExactSolve() throws {
        let crystal = try Fixtures.relaxedVacancy()
        let exact = try Fixtures.exactPositionDerivative(crystal)
        let methods: [(String, any DerivativeMethod, Double)] = [
            ("dense", DenseMethod(), 1e-5),
            ("sparse shared", SparseMethod(tolerance: 1e-8, strategy: .shared), 1e-5),
            ("sparse cg", SparseMethod(tolerance: 1e-8, strategy: .cg), 1e-5),
            ("sparse auto", SparseMethod(), 1e-4),
            ("energy", EnergyMethod(), 1e-3),
        ]
        for (name, method, tolerance) in methods {
            let result = try derivative(crystal, method)
            XCTAssertLessThan(Fixtures.relativeDifference(result.matrix, exact), tolerance, name)
            // D is an energy scale: it moves no atom at a minimum, and the engine skips its column.
            XCTAssertEqual(result.matrix.column(0).map(abs).max() ?? 1, 0, name)
        }
    }

    func testPreconditionersReachTheSameAnswer() throws {
        let crystal = try Fixtures.relaxedVacancy()
        let exact = try Fixtures.exactPositionDerivative(crystal)
        for preconditioning in Preconditioning.allCases {
            for strategy in [KrylovStrategy.shared, .cg] {
                let method = SparseMethod(tolerance: 1e-8, preconditioning: preconditioning, strategy: strategy)
                let result = try derivative(crystal, method)
                XCTAssertLessThan(Fixtures.relativeDifference(result.matrix, exact), 1e-5, "\(preconditioning) \(strategy)")
            }
        }
    }

    /// `auto` recognizes the fcc host with its vacancy and picks the lattice preconditioner.
    func testAutoPicksTheLatticePreconditionerForAVacancy() throws {
        let crystal = try Fixtures.relaxedVacancy()
        let hessian = try Hessian(system: crystal)
        XCTAssertEqual(SparseMethod().settings(for: hessian)["preconditioner"], "auto: lattice")
    }

    func testHeldAtomsStayAndTheRestMatchesTheExactSolve() throws {
        let crystal = try Fixtures.relaxedVacancy(held: [0, 5, 11])
        let exact = try Fixtures.exactPositionDerivative(crystal)
        let hessian = try Hessian(system: crystal)
        XCTAssertEqual(hessian.degreesOfFreedom.translationAxes, [])
        XCTAssertEqual(hessian.degreesOfFreedom.mobileCount, 3 * (crystal.atomCount - 3))
        for method: any DerivativeMethod in [DenseMethod(), SparseMethod(tolerance: 1e-8), EnergyMethod()] {
            let result = try derivative(crystal, method)
            XCTAssertLessThan(Fixtures.relativeDifference(result.matrix, exact), method is EnergyMethod ? 1e-3 : 1e-5, method.name)
            for atom in [0, 5, 11] { for a in 0..<3 { XCTAssertEqual(result.matrix[3 * atom + a, 1], 0) } }
        }
    }

    /// Other right-hand sides (the strain responses, the adjoint) go through the same solvers.
    func testSolveForArbitraryRightHandSides() throws {
        let crystal = try Fixtures.relaxedVacancy()
        let hessian = try Hessian(system: crystal)
        var generator = SplitMix64(seed: 3)
        let b = hessian.degreesOfFreedom.project(Matrix(rows: 3 * crystal.atomCount, columns: 2,
                                                        storage: (0..<(6 * crystal.atomCount)).map { _ in Double.random(in: -1...1, using: &generator) }))
        let exact = try Fixtures.exactSolve(crystal, b)
        for method: any DerivativeMethod in [DenseMethod(), SparseMethod(tolerance: 1e-8)] {
            let (x, residuals, _) = try ImplicitDifferentiation.solve(hessian, b, method: method)
            XCTAssertLessThan(Fixtures.relativeDifference(x, exact), 1e-5, method.name)
            XCTAssertLessThan(residuals.max()!, 1e-6, method.name)
        }
    }
}
