import Atomistics
import LinearAlgebra
import ReferenceModel
import XCTest

/// The reference model's analytic derivatives against central differences of its own energy:
/// everything the engine is later checked with rests on these.
final class ReferenceModelTests: XCTestCase {
    /// A vacancy crystal with every atom moved off its site, so that no derivative vanishes by symmetry.
    private func rattled() -> MorseCrystal {
        let crystal = MorseCrystal.fcc()
        var generator = SplitMix64(seed: 5)
        let structure = try! crystal.structure()
        _ = try! crystal.forces(at: structure.positions.map { $0 + Double.random(in: -0.05...0.05, using: &generator) })
        return crystal
    }

    private func centralDifference(step: Double, _ f: (Double) throws -> [Double]) rethrows -> [Double] {
        zip(try f(step), try f(-step)).map { ($0 - $1) / (2 * step) }
    }

    func testForcesAreMinusTheEnergyGradient() throws {
        let crystal = rattled()
        let positions = try crystal.structure().positions
        let forces = try crystal.forces(at: positions)
        let components = [0, 4, 17, 50, 92]
        let numeric = try components.map { k -> Double in
            try centralDifference(step: 1e-5) { h in
                var moved = positions
                moved[k] += h
                _ = try crystal.forces(at: moved)
                return [try crystal.energy()]
            }[0]
        }
        XCTAssertLessThan(Fixtures.relativeDifference(numeric.map { -$0 }, components.map { forces[$0] }), 1e-7)
    }

    func testHessianIsTheForceDerivative() throws {
        let crystal = rattled()
        let positions = try crystal.structure().positions
        _ = try crystal.forces(at: positions)
        let analytic = crystal.hessianMatrix()
        for k in [1, 30, 77] {
            let column = try centralDifference(step: 1e-5) { h in
                var moved = positions
                moved[k] += h
                return try crystal.forces(at: moved).map { -$0 }
            }
            XCTAssertLessThan(Fixtures.relativeDifference(column, analytic.column(k)), 1e-7, "column \(k)")
        }
    }

    /// ∂U/∂e_a = −W_aa for a normal strain at F = I.
    func testVirialIsTheStrainDerivative() throws {
        let crystal = rattled()
        let reference = try crystal.structure()
        let w = try crystal.virial()
        for axis in 0..<3 {
            let numeric = try centralDifference(step: 1e-6) { h in
                try crystal.deform(reference.box, by: Voigt.unit(axis).map { $0 * h })
                defer { try! crystal.restore(reference) }
                return [try crystal.energy()]
            }[0]
            XCTAssertEqual(numeric, -w[axis][axis], accuracy: 1e-7 * abs(w[axis][axis]), "axis \(axis)")
        }
    }

    /// Derivatives in Θ at fixed positions, each against a central difference in Θ.
    func testParameterDerivatives() throws {
        let crystal = rattled()
        let theta = crystal.theta
        let gradient = try crystal.energyGradient()
        let mixed = try crystal.mixedHessian()
        let second = try crystal.parameterHessian()
        let strains = [Voigt.unit(0), Voigt.unit(2), Voigt.diagonal([1, 1, 1])]
        let strainMixed = try crystal.strainMixedDerivative(strains: strains)
        let reference = try crystal.structure()
        for l in 0..<3 {
            func at(_ h: Double, _ value: () throws -> [Double]) throws -> [Double] {
                var shifted = theta
                shifted[l] += h
                try crystal.setTheta(shifted)
                defer { try! crystal.setTheta(theta) }
                return try value()
            }
            let step = 1e-6 * abs(theta[l])
            let energy = try centralDifference(step: step) { h in try at(h) { [try crystal.energy()] } }[0]
            XCTAssertEqual(energy, gradient[l], accuracy: 1e-7 * gradient.map(abs).max()!, "∇Θ U, parameter \(l)")
            let forces = try centralDifference(step: step) { h in try at(h) { try crystal.forces().map { -$0 } } }
            XCTAssertLessThan(Fixtures.relativeDifference(forces, mixed.column(l)), 1e-6, "∇²ΘX U, parameter \(l)")
            let gradients = try centralDifference(step: step) { h in try at(h) { try crystal.energyGradient() } }
            XCTAssertLessThan(Fixtures.relativeDifference(gradients, (0..<3).map { second[$0, l] }), 1e-6, "∇²ΘΘ U, column \(l)")
        }
        for (g, strain) in strains.enumerated() {
            let numeric = try centralDifference(step: 1e-6) { h in
                try crystal.deform(reference.box, by: strain.map { $0 * h })
                defer { try! crystal.restore(reference) }
                return try crystal.energyGradient()
            }
            XCTAssertLessThan(Fixtures.relativeDifference(numeric, (0..<3).map { strainMixed[$0, g] }), 1e-6, "∂²U/∂Θ∂e, strain \(g)")
        }
    }

    func testRelaxationReachesTheFloatingPointFloor() throws {
        let crystal = MorseCrystal.fcc()
        let result = try Fixtures.relax(crystal, ftol: 1e-11)
        XCTAssertLessThan(result.maxForce, 1e-11)
        // The vacancy's neighbours moved: the minimum is not the perfect lattice.
        let perfect = MorseCrystal.fcc()
        XCTAssertGreaterThan(largestAtomNorm(zip(try crystal.structure().unwrappedPositions, try perfect.structure().positions).map { $0 - $1 }), 1e-3)
    }
}
