import Atomistics
import ImplicitDerivative
import LinearAlgebra
import ReferenceModel
import XCTest

/// The implicit Taylor expansion against true re-relaxations of the reference model at Θ + δΘ.
final class TaylorExpansionTests: XCTestCase {
    /// The relaxed energy and positions at `theta`, the crystal left as it was.
    private func truth(_ crystal: MorseCrystal, at theta: [Double]) throws -> (energy: Double, positions: [Double]) {
        let minimum = try crystal.structure(), original = crystal.theta
        defer { try! crystal.setTheta(original); try! crystal.restore(minimum) }
        try crystal.setTheta(theta)
        let result = try Fixtures.relax(crystal)
        return (result.energy, try crystal.structure().unwrappedPositions)
    }

    /// Energy errors fall as δ³ (the expansion is second order), position errors as δ² (first
    /// order): halving δΘ divides them by about 8 and 4. The level that relaxes nothing (c) misses
    /// the relaxation energy, O(δ²): its error falls only by about 4.
    func testErrorsShrinkWithTheOrderOfTheExpansion() throws {
        let crystal = try Fixtures.relaxedVacancy()
        let derivatives = try MinimumDerivatives.compute(crystal, cell: .fixed, method: DenseMethod())
        XCTAssertTrue(derivatives.check.isMinimum)
        let direction = [0.05, -0.04, 0.02].enumerated().map { $1 * crystal.theta[$0] }
        var energyErrors: [Double] = [], positionErrors: [Double] = [], linearEnergyErrors: [Double] = []
        for scale in [0.1, 0.05, 0.025] {
            let delta = direction.map { $0 * scale }
            let theta = zip(crystal.theta, delta).map { $0 + $1 }
            let (energy, positions) = try truth(crystal, at: theta)
            let predictions = derivatives.predict(delta)
            let ih = predictions.first { $0.level == .ih }!
            let c = predictions.first { $0.level == .c }!
            energyErrors.append(abs(ih.energy - energy))
            linearEnergyErrors.append(abs(c.energy - energy))
            let reference = derivatives.structure.unwrappedPositions
            let trueChange = removingTranslations(zip(positions, reference).map { $0 - $1 }, axes: [0, 1, 2])
            let predictedChange = removingTranslations(zip(ih.positions, reference).map { $0 - $1 }, axes: [0, 1, 2])
            positionErrors.append(norm(zip(trueChange, predictedChange).map { $0 - $1 }))
            // The expansion is far better than not relaxing at all.
            XCTAssertLessThan(derivatives.relativePositionError(predicted: ih.positions, truth: positions), 0.1, "scale \(scale)")
        }
        for k in 1..<3 {
            let energyRatio = energyErrors[k - 1] / energyErrors[k], positionRatio = positionErrors[k - 1] / positionErrors[k]
            let unrelaxedRatio = linearEnergyErrors[k - 1] / linearEnergyErrors[k]
            XCTAssertGreaterThan(unrelaxedRatio, 3, "energy errors of level c \(linearEnergyErrors)")
            XCTAssertLessThan(unrelaxedRatio, 5, "energy errors of level c \(linearEnergyErrors)")
            XCTAssertLessThan(energyErrors[k], 0.5 * linearEnergyErrors[k], "energy errors \(energyErrors)")
            XCTAssertGreaterThan(energyRatio, 6, "energy errors \(energyErrors)")
            XCTAssertLessThan(energyRatio, 10, "energy errors \(energyErrors)")
            XCTAssertGreaterThan(positionRatio, 3.3, "position errors \(positionErrors)")
            XCTAssertLessThan(positionRatio, 4.7, "position errors \(positionErrors)")
        }
    }

    /// The engine's ground truth (central differences of re-relaxations) agrees with the exact
    /// implicit derivative.
    func testFiniteDifferenceDerivativeMatchesTheImplicitOne() throws {
        let crystal = try Fixtures.relaxedVacancy()
        let exact = try Fixtures.exactPositionDerivative(crystal)
        let before = try crystal.structure()
        let numeric = try ImplicitDifferentiation.finiteDifferenceDerivative(crystal, mixedHessian: try crystal.mixedHessian(),
                                                                             parameters: [1, 2])
        XCTAssertLessThan(Fixtures.relativeDifference(numeric, exact.selecting(columns: [1, 2])), 1e-5)
        XCTAssertEqual(try crystal.structure().positions, before.positions, "the minimum is restored")
    }
}
