import Atomistics
import ImplicitDerivative
import LinearAlgebra
import ReferenceModel
import XCTest

/// The curvature check tells a minimum from a saddle.
final class CurvatureCheckTests: XCTestCase {
    func testPositiveAtARelaxedVacancy() throws {
        let crystal = try Fixtures.relaxedVacancy()
        let check = try Hessian(system: crystal).curvatureCheck()
        XCTAssertFalse(check.isNegative, check.summary)
        XCTAssertGreaterThan(check.lowest, 0, check.summary)
        // Lanczos Ritz values lie inside the spectrum of the analytic Hessian.
        let eigenvalues = try LAPACK.symmetricEigen(crystal.hessianMatrix()).values
        XCTAssertLessThanOrEqual(check.highest, eigenvalues.last! * (1 + 1e-5))
    }

    /// A perfect crystal stretched beyond the pair potential's inflection point is a stationary
    /// point by symmetry, but not a minimum.
    func testNegativeAtAStretchedPerfectCrystal() throws {
        let crystal = MorseCrystal.fcc(vacancies: [], pair: MorsePair(depth: 0.5, alpha: 2, r0: 2.0))
        XCTAssertLessThan(largestAtomNorm(try crystal.forces()), 1e-12)
        let hessian = try Hessian(system: crystal)
        let check = try hessian.curvatureCheck()
        XCTAssertTrue(check.isNegative, check.summary)
        XCTAssertThrowsError(try MinimumCheck.verify(hessian, relaxation: nil, checks: DerivativeChecks())) { error in
            guard case DerivativeError.notAMinimum = error else { return XCTFail("\(error)") }
        }
        var allowing = DerivativeChecks()
        allowing.allowNonMinimum = true
        let recorded = try MinimumCheck.verify(hessian, relaxation: nil, checks: allowing)
        XCTAssertFalse(recorded.isMinimum)
    }
}
