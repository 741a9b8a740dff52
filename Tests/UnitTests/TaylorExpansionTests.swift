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

    /// With the cell relaxed to zero pressure, the strain levels predict re-relaxations of atoms
    /// and cell together: the h+ih energy with errors O(δ³), the volume with errors O(δ²). A
    /// 3×3×3 cell, so that the cutoff reaches the second neighbours: with nearest neighbours
    /// alone at zero pressure a vacancy would move no atom.
    func testCellRelaxationLevels() throws {
        for cell in [CellRelaxation.iso, .aniso] {
            let crystal = MorseCrystal.fcc(cells: 3, latticeConstant: 3.88, pair: MorsePair(alpha: 3, inner: 4.3, cutoff: 5.3))
            let relaxed = try crystal.minimize(RelaxationSettings(cell: cell, ftol: 1e-10), label: "relax", progress: { _ in })
            XCTAssertTrue(relaxed.converged, "\(cell): \(relaxed.maxForce) \(relaxed.cellResidual)")
            let derivatives = try MinimumDerivatives.compute(crystal, cell: cell, method: SparseMethod(tolerance: 1e-9))
            let direction = [0.05, -0.04, 0.02].enumerated().map { $1 * crystal.theta[$0] }
            var energyErrors: [Double] = [], volumeErrors: [Double] = [], fixedCellErrors: [Double] = []
            for scale in [0.1, 0.05, 0.025] {
                let delta = direction.map { $0 * scale }
                let minimum = try crystal.structure(), original = crystal.theta
                try crystal.setTheta(zip(original, delta).map { $0 + $1 })
                let truth = try crystal.minimize(RelaxationSettings(cell: cell, ftol: 1e-10), label: "relax", progress: { _ in })
                XCTAssertTrue(truth.converged)
                try crystal.setTheta(original)
                try crystal.restore(minimum)
                let predictions = derivatives.predict(delta)
                let hih = predictions.first { $0.level == .hih }!, ih = predictions.first { $0.level == .ih }!
                energyErrors.append(abs(hih.energy - truth.energy))
                fixedCellErrors.append(abs(ih.energy - truth.energy))
                volumeErrors.append(abs(hih.volume - truth.volume))
            }
            for k in 1..<3 {
                XCTAssertGreaterThan(energyErrors[k - 1] / energyErrors[k], 6, "\(cell) energy errors \(energyErrors)")
                XCTAssertGreaterThan(volumeErrors[k - 1] / volumeErrors[k], 3.3, "\(cell) volume errors \(volumeErrors)")
                XCTAssertLessThan(volumeErrors[k - 1] / volumeErrors[k], 4.7, "\(cell) volume errors \(volumeErrors)")
                XCTAssertLessThan(energyErrors[k], fixedCellErrors[k], "\(cell): h+ih beats ih once the cell relaxes")
            }
        }
    }
}
