import Atomistics
import ImplicitDerivative
import ReferenceModel
import XCTest

/// precon-lbfgs on the reference model against its own FIRE+Newton relaxation (which reaches the
/// floating-point floor with the analytic Hessian): the same minimum at fixed, iso and aniso
/// cells and with held atoms, without LAMMPS.
final class PreconditionedRelaxationTests: XCTestCase {
    /// A vacancy crystal with its atoms displaced at random (seeded) and, for cell relaxations, a
    /// lattice constant off the pair's equilibrium.
    private func displaced(latticeConstant: Double = 4.0, held: [Int] = []) -> MorseCrystal {
        let crystal = MorseCrystal.fcc(latticeConstant: latticeConstant)
        for atom in held { crystal.held[atom] = true }
        var structure = try! crystal.structure()
        var generator = SplitMix64(seed: 3)
        for k in structure.positions.indices where !held.contains(k / 3) {
            structure.positions[k] += Double.random(in: -0.05...0.05, using: &generator)
        }
        try! crystal.restore(structure)
        return crystal
    }

    private func check(cell: CellRelaxation, latticeConstant: Double = 4.0, held: [Int] = []) throws {
        let reference = displaced(latticeConstant: latticeConstant, held: held)
        let expected = try reference.minimize(RelaxationSettings(cell: cell, ftol: 1e-10), label: "reference", progress: { _ in })
        let crystal = displaced(latticeConstant: latticeConstant, held: held)
        let before = try crystal.structure()
        let result = try crystal.relaxation(RelaxationSettings(cell: cell, ftol: 1e-10, minStyle: .preconLBFGS))
        XCTAssertTrue(expected.converged && result.converged, "\(cell): \(result.shortfall ?? expected.shortfall ?? "")")
        XCTAssertEqual(result.energy, expected.energy, accuracy: 1e-9, "\(cell)")
        XCTAssertEqual(result.volume, expected.volume, accuracy: 1e-7 * expected.volume, "\(cell)")
        let (a, b) = (try reference.structure(), try crystal.structure())
        XCTAssertLessThan(largestAtomNorm(zip(a.unwrappedPositions, b.unwrappedPositions).map { $0 - $1 }), 1e-6, "\(cell)")
        // Wrapped into the cell, image counts continuing the start's.
        for (k, x) in b.positions.enumerated() { XCTAssertTrue(x >= b.box.low[k % 3] && x < b.box.high[k % 3], "atom \(k / 3) wrapped") }
        for atom in held {
            for k in 0..<3 { XCTAssertEqual(b.unwrappedPositions[3 * atom + k], before.unwrappedPositions[3 * atom + k], "held \(atom)") }
        }
        XCTAssertGreaterThan(result.forceEvaluations, result.steps)
    }

    func testFixedCell() throws { try check(cell: .fixed) }
    func testIsotropicCell() throws { try check(cell: .iso, latticeConstant: 3.9) }
    func testAnisotropicCell() throws { try check(cell: .aniso, latticeConstant: 4.1) }
    func testHeldAtoms() throws { try check(cell: .fixed, held: [3, 7, 12, 20]) }

    /// A relaxation that cannot reach the tolerance says so instead of reporting a minimum.
    func testUnreachableToleranceStagnates() throws {
        let crystal = displaced()
        let result = try crystal.relaxation(RelaxationSettings(ftol: 1e-30, minStyle: .preconLBFGS))
        XCTAssertFalse(result.converged)
        XCTAssertEqual(result.stop, .stagnated)
        XCTAssertNotNil(result.shortfall)
    }

    /// A warm start near an earlier minimum reuses what that relaxation measured: the same
    /// minimum as a fresh start, without the held-atom detection and scale probes.
    func testWarmStartReusesTheScales() throws {
        let crystal = displaced(latticeConstant: 3.95)
        let settings = RelaxationSettings(cell: .iso, ftol: 1e-10, minStyle: .preconLBFGS)
        let (_, reuse) = try crystal.relaxationKeepingScales(settings)
        let minimum = try crystal.structure()
        func nudged() throws -> MorseCrystal {
            let copy = MorseCrystal.fcc(latticeConstant: 3.95)
            var structure = minimum
            var generator = SplitMix64(seed: 5)
            structure.positions = structure.positions.map { $0 + Double.random(in: -0.02...0.02, using: &generator) }
            try copy.restore(structure)
            return copy
        }
        let (fresh, warm) = (try nudged(), try nudged())
        let cold = try fresh.relaxationKeepingScales(settings).result
        let reused = try warm.relaxationKeepingScales(settings, reusing: reuse).result
        XCTAssertTrue(cold.converged && reused.converged)
        XCTAssertEqual(reused.energy, cold.energy, accuracy: 1e-9)
        XCTAssertEqual(reused.volume, cold.volume, accuracy: 1e-7 * cold.volume)
        XCTAssertLessThan(reused.forceEvaluations, cold.forceEvaluations, "the detection and the probes are skipped")
    }
}
