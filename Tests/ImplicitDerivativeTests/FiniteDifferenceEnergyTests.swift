import Atomistics
import Foundation
import ImplicitDerivative
import LAMMPSLibrary
import LinearAlgebra
import Potentials
import XCTest

/// Potentials other than SNAP, through the finite-difference conformer: ∇Θ X* of a vacancy by
/// the sparse and dense methods against central differences of true LAMMPS re-relaxations.
final class FiniteDifferenceEnergyTests: XCTestCase {
    private func relaxed(_ input: String, source: (Simulation) throws -> ParameterSource) throws -> FiniteDifferenceEnergy {
        let simulation = try Simulation(input: Fixtures.root.appendingPathComponent("inputs/\(input)").path)
        let energy = try FiniteDifferenceEnergy(simulation: simulation, source: try source(simulation))
        try simulation.relax(RelaxationSettings(ftol: 1e-11, minStyle: .cg))
        try simulation.evaluate()
        return energy
    }

    private func checkAgainstRelaxations(_ energy: FiniteDifferenceEnergy, file: StaticString = #filePath, line: UInt = #line) throws {
        let mixedHessian = try energy.mixedHessian()
        let hessian = try Hessian(system: energy.simulation)
        let truth = try ImplicitDifferentiation.finiteDifferenceDerivative(
            energy, mixedHessian: mixedHessian, parameters: Array(0..<energy.parameterCount))
        XCTAssertGreaterThan(truth.frobeniusNorm, 1e-3, "the chosen parameters move atoms", file: file, line: line)
        let methods: [any DerivativeMethod] = [SparseMethod(), DenseMethod()]
        for method in methods {
            let result = try ImplicitDifferentiation.positionDerivative(energy, hessian: hessian, mixedHessian: mixedHessian,
                                                                        method: method)
            let error = (result.matrix - truth).frobeniusNorm / truth.frobeniusNorm
            print("\(energy.source.kind) \(energy.parameterNames) \(method.name): error \(error) against re-relaxations")
            XCTAssertLessThan(error, 1e-3, method.name, file: file, line: line)
        }
    }

    func testMorseVariablesVacancyMatchesReRelaxations() throws {
        let energy = try relaxed("Cu_morse_vacancy.lammps") { try VariableParameters(names: ["alpha", "r0"], simulation: $0) }
        XCTAssertEqual(energy.theta, [1.3588, 2.866])
        try checkAgainstRelaxations(energy)
    }

    func testStillingerWeberFieldsVacancyMatchesReRelaxations() throws {
        let energy = try relaxed("Si_vacancy.lammps") {
            try FileFieldParameters(selections: [("Si,Si,Si", ["sigma", "B", "p", "q"])], simulation: $0)
        }
        XCTAssertEqual(energy.parameterNames, ["Si,Si,Si:sigma", "Si,Si,Si:B", "Si,Si,Si:p", "Si,Si,Si:q"])
        try checkAgainstRelaxations(energy)
    }

    /// Tersoff silicon (the `Si.tersoff` LAMMPS distributes), a 63-atom vacancy that relaxes.
    func testTersoffFieldsVacancyMatchesReRelaxations() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("ilmp-tersoff-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: folder) }
        let potentials = URL(fileURLWithPath: try Library.shared().path).deletingLastPathComponent()
            .appendingPathComponent("share/lammps/potentials")
        try FileManager.default.copyItem(at: potentials.appendingPathComponent("Si.tersoff"),
                                         to: folder.appendingPathComponent("Si.tersoff"))
        let input = folder.appendingPathComponent("vacancy.lammps")
        try String(contentsOf: Fixtures.root.appendingPathComponent("inputs/Si_vacancy.lammps"), encoding: .utf8)
            .replacingOccurrences(of: "pair_style   sw", with: "pair_style   tersoff")
            .replacingOccurrences(of: "../potentials/Si.sw", with: "Si.tersoff")
            .write(to: input, atomically: true, encoding: .utf8)
        let simulation = try Simulation(input: input.path, extraArguments: ["-var", "ncell", "2"])
        let energy = try FiniteDifferenceEnergy(
            simulation: simulation, source: try FileFieldParameters(selections: [("Si,Si,Si", ["lambda2", "B", "beta"])],
                                                                    simulation: simulation))
        try simulation.relax(RelaxationSettings(ftol: 1e-11, minStyle: .cg))
        try simulation.evaluate()
        XCTAssertEqual(energy.theta, [1.3258, 95.373, 0.33675])
        try checkAgainstRelaxations(energy)
    }

    /// An energy scale moves no atom: its row of ∇Θ X* is exactly zero (field note), while its
    /// energy derivative is U/ε.
    func testEnergyScaleMovesNoAtom() throws {
        let energy = try relaxed("Cu_morse_vacancy.lammps") { try VariableParameters(names: ["D0"], simulation: $0) }
        let u = try energy.simulation.energy()
        XCTAssertEqual(try energy.energyGradient()[0], u / 0.3429, accuracy: 1e-6 * abs(u / 0.3429))
        let result = try ImplicitDifferentiation.positionDerivative(energy, hessian: try Hessian(system: energy.simulation),
                                                                    mixedHessian: try energy.mixedHessian(), method: SparseMethod())
        XCTAssertEqual(result.matrix.frobeniusNorm, 0)
    }

    /// The analytic SNAP strain derivative (snav/atom) for all six Voigt strains, shears included,
    /// against the virial change of an exact parameter change (U is linear in Θ).
    func testSNAPStrainMixedDerivativeMatchesVirialChange() throws {
        let system = try Fixtures.relaxedVacancy(cells: 2)
        try system.simulation.evaluate()
        let strains = (0..<6).map(Voigt.unit)
        let analytic = try system.strainMixedDerivative(strains: strains)
        let w0 = try system.simulation.virial()
        let theta = system.theta
        var delta = [Double](repeating: 0, count: theta.count)
        delta[3] = 0.01
        delta[20] = -0.02
        try system.setTheta(zip(theta, delta).map { $0 + $1 })
        let w1 = try system.simulation.virial()
        try system.setTheta(theta)
        for (g, (a, b)) in Voigt.entries.enumerated() {
            let predicted = (0..<theta.count).reduce(0) { $0 + analytic[$1, g] * delta[$1] }
            // ∂U/∂e_g = −W_ab at the reference cell.
            XCTAssertEqual(predicted, -(w1[a][b] - w0[a][b]), accuracy: 1e-9 + 1e-7 * abs(w1[a][b] - w0[a][b]), Voigt.labels[g])
        }
    }
}

/// The mixed-Hessian products of both conformers, which never form the N_D columns, against the
/// matrix they stand for.
final class MixedHessianProductTests: XCTestCase {
    private func check(_ energy: any ParametrizedEnergy, tolerance: Double, file: StaticString = #filePath, line: UInt = #line) throws {
        try energy.simulation.evaluate()
        let matrix = try energy.mixedHessian()
        var generator = SplitMix64(seed: 11)
        let v = (0..<energy.parameterCount).map { _ in Double.random(in: -1...1, using: &generator) }
        let w = (0..<3 * energy.atomCount).map { _ in Double.random(in: -1...1, using: &generator) }
        let forward = try energy.mixedHessianProduct(v)
        let expected = matrix.multiplied(by: Matrix(rows: v.count, columns: 1, storage: v)).storage
        XCTAssertLessThan(distance(forward, expected) / norm(expected), tolerance, "forward", file: file, line: line)
        let adjoint = try energy.mixedHessianTransposedProduct(w)
        let expectedAdjoint = matrix.multiplied(by: Matrix(rows: w.count, columns: 1, storage: w), transposingSelf: true).storage
        XCTAssertLessThan(distance(adjoint, expectedAdjoint) / norm(expectedAdjoint), tolerance, "adjoint", file: file, line: line)
        // The products leave the potential and the positions as they were.
        XCTAssertEqual(try energy.mixedHessian().storage, matrix.storage, file: file, line: line)
    }

    private func norm(_ v: [Double]) -> Double { v.reduce(0) { $0 + $1 * $1 }.squareRoot() }
    private func distance(_ a: [Double], _ b: [Double]) -> Double { norm(zip(a, b).map { $0 - $1 }) }

    func testSNAPProductsMatchTheDescriptorMatrix() throws {
        try check(try Fixtures.relaxedVacancy(cells: 2), tolerance: 1e-6)
    }

    /// SW's q is 0 and LAMMPS refuses it negative: a product along −q must difference one-sided.
    func testFiniteDifferenceProductAlongAParameterAtItsBound() throws {
        let energy = try Fixtures.silicon(fields: ["sigma", "q"])
        try energy.simulation.relax(RelaxationSettings(ftol: 1e-10, minStyle: .cg))
        try energy.simulation.evaluate()
        let matrix = try energy.mixedHessian()
        let v = [0.3, -1.0]
        let expected = matrix.multiplied(by: Matrix(rows: 2, columns: 1, storage: v)).storage
        XCTAssertLessThan(distance(try energy.mixedHessianProduct(v), expected) / norm(expected), 1e-6)
    }

    func testFiniteDifferenceProductsMatchTheirMatrix() throws {
        let simulation = try Simulation(input: Fixtures.root.appendingPathComponent("inputs/Cu_morse_vacancy.lammps").path)
        let energy = try FiniteDifferenceEnergy(simulation: simulation,
                                                source: try VariableParameters(names: ["D0", "alpha", "r0"], simulation: simulation))
        try simulation.relax(RelaxationSettings(ftol: 1e-10, minStyle: .cg))
        try check(energy, tolerance: 1e-6)
    }
}
