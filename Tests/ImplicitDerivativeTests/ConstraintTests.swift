import Atomistics
import Foundation
import ImplicitDerivative
import LinearAlgebra
import Potentials
import XCTest

/// Held atoms, the single-right-hand-side solve, and the anisotropic cell derivative.
final class ConstraintTests: XCTestCase {
    /// The 53-atom vacancy with every atom farther than 4 Å from the vacancy site held by
    /// `fix setforce 0 0 0` (appended to a copy of the shipped input).
    private func frozenVacancy() throws -> SNAPEnergy {
        let input = Fixtures.temporaryFile("in.frozen", self)
        try (String(contentsOfFile: Fixtures.input, encoding: .utf8)
            .replacingOccurrences(of: "../potentials/", with: Fixtures.root.path + "/potentials/") + """
            variable ncell index 3
            region near sphere 0 0 0 4.0 side in units box
            group mobile region near
            group held subtract all mobile
            fix hold held setforce 0.0 0.0 0.0
            """).write(to: input, atomically: true, encoding: .utf8)
        let simulation = try Simulation(input: input.path, extraArguments: ["-var", "ncell", "3"])
        let system = try SNAPEnergy(simulation: simulation)
        try simulation.relax(RelaxationSettings(ftol: 1e-11, minStyle: .cg))
        return system
    }

    func testHeldAtomsNeverMoveInAnyMethodAndMethodsAgree() throws {
        let system = try frozenVacancy()
        try system.simulation.evaluate()
        let mixedHessian = try system.mixedHessian()
        let hessian = try Hessian(system: system.simulation)
        let dofs = hessian.degreesOfFreedom
        XCTAssertEqual(dofs.translationAxes, [], "held atoms remove the translation zero modes")
        XCTAssertGreaterThan(dofs.mobileCount, 0)
        XCTAssertLessThan(dofs.mobileCount, 3 * system.atomCount)
        let parameters = [0, 7, 30, 54]
        let selected = Matrix(columns: parameters.map { mixedHessian.column($0) }, rows: mixedHessian.rows)
        var results: [String: Matrix] = [:]
        let methods: [any DerivativeMethod] = [EnergyMethod(), SparseMethod(), DenseMethod()]
        for method in methods {
            let result = try ImplicitDifferentiation.positionDerivative(system, hessian: hessian, mixedHessian: selected,
                                                                        method: method)
            for (index, mobile) in dofs.mobile.enumerated() where !mobile {
                for column in 0..<parameters.count { XCTAssertEqual(result.matrix[index, column], 0, "\(method)") }
            }
            results[method.name] = result.matrix
        }
        let dense = results["dense"]!
        for method in ["sparse", "energy"] {
            XCTAssertLessThan((results[method]! - dense).frobeniusNorm / dense.frobeniusNorm, 1e-4, "\(method)")
        }
        // And against finite differences of true re-relaxations with the atoms held.
        let truth = try ImplicitDifferentiation.finiteDifferenceDerivative(system, mixedHessian: mixedHessian,
                                                                           parameters: parameters, translationAxes: [])
        XCTAssertLessThan((dense - truth).frobeniusNorm / truth.frobeniusNorm, 1e-3)
    }

    /// The dense method restricted to a sphere around the vacancy: atoms outside stay exactly
    /// still, and the sphere's answer approaches the full one as it grows.
    func testDenseRestrictedToARegionAroundTheVacancy() throws {
        let system = try Fixtures.relaxedVacancy()
        try system.simulation.evaluate()
        let mixedHessian = try system.mixedHessian()
        let hessian = try Hessian(system: system.simulation)
        let selected = Matrix(columns: [mixedHessian.column(0), mixedHessian.column(20)], rows: mixedHessian.rows)
        let full = try ImplicitDifferentiation.positionDerivative(system, hessian: hessian, mixedHessian: selected,
                                                                  method: DenseMethod()).matrix
        let positions = hessian.minimum.unwrappedPositions
        var errors: [Double] = []
        for radius in [3.0, 4.6] {
            let settings = DenseMethod(region: ([0, 0, 0], radius))
            let local = try ImplicitDifferentiation.positionDerivative(system, hessian: hessian, mixedHessian: selected,
                                                                       method: settings).matrix
            let inside = minimumImage(positions, in: hessian.minimum.box)
            for atom in 0..<system.atomCount {
                let r = (inside[3 * atom] * inside[3 * atom] + inside[3 * atom + 1] * inside[3 * atom + 1]
                    + inside[3 * atom + 2] * inside[3 * atom + 2]).squareRoot()
                if r > radius { for k in 0..<3 { XCTAssertEqual(local[3 * atom + k, 0], 0) } }
            }
            errors.append((local - full).frobeniusNorm / full.frobeniusNorm)
        }
        XCTAssertLessThan(errors[1], errors[0], "\(errors)")
        XCTAssertLessThan(errors[1], 0.5, "\(errors)")
    }

    /// H v = b with one right-hand side (the adjoint solve of the inverse loop), sparse vs dense.
    func testSingleRightHandSideSolveAgreesWithDense() throws {
        let system = try Fixtures.relaxedVacancy()
        let hessian = try Hessian(system: system.simulation)
        var generator = SystemRandomNumberGenerator()
        let b = Matrix(rows: 3 * system.atomCount, columns: 1,
                       storage: (0..<3 * system.atomCount).map { _ in Double.random(in: -1...1, using: &generator) })
        let sparse = try ImplicitDifferentiation.solve(hessian, b, method: SparseMethod())
        let dense = try ImplicitDifferentiation.solve(hessian, b, method: DenseMethod())
        XCTAssertLessThan(sparse.relativeResiduals[0], 1e-4)
        XCTAssertLessThan((sparse.x - dense.x).frobeniusNorm / dense.x.frobeniusNorm, 1e-4)
        // Krylov needs far fewer products than the dense Hessian's one per mobile component.
        XCTAssertLessThan(sparse.forceEvaluations, dense.forceEvaluations / 4)
    }

    /// A vacancy in a cubic cell responds isotropically: the three axes of the anisotropic cell
    /// derivative are equal, and equal to the isotropic strain derivative.
    func testAnisotropicCellDerivativeHasCubicSymmetry() throws {
        let iso = try Fixtures.relaxedVacancy(cell: .iso, ftol: 1e-10)
        let isoDerivatives = try MinimumDerivatives.compute(iso, cell: .iso, method: SparseMethod())
        let aniso = try Fixtures.relaxedVacancy(cell: .aniso, ftol: 1e-10)
        let anisoDerivatives = try MinimumDerivatives.compute(aniso, cell: .aniso, method: SparseMethod())
        let isoStrain = isoDerivatives.strain!.full, anisoStrain = anisoDerivatives.strain!.full
        XCTAssertEqual(anisoStrain.rows, 3)
        let scale = isoStrain.storage.map(abs).max()!
        for parameter in 0..<isoStrain.columns {
            for axis in 0..<3 {
                XCTAssertEqual(anisoStrain[axis, parameter], isoStrain[0, parameter], accuracy: 1e-4 * scale)
            }
        }
    }
}
