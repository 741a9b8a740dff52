import Atomistics
import Foundation
import ImplicitDerivative
import LinearAlgebra
import Potentials
import XCTest

/// What every analytic potential kind must give against LAMMPS itself (`SNAPKindTests`,
/// `MLIAPTests`): U linear in Θ, its mixed derivatives equal to LAMMPS's force and virial
/// changes, and ∇Θ X* equal to central differences of true re-relaxations.
enum PotentialKindChecks {
    /// Every other parameter doubled: U moves by their share of Θ·∇Θ U (U is linear in Θ).
    static func energyChangeIsLinear(_ system: any ParametrizedEnergy, tolerance: Double,
                                     file: StaticString = #filePath, line: UInt = #line) throws {
        try system.simulation.evaluate()
        let energy = try system.simulation.energy()
        let gradient = try system.energyGradient()
        let chosen = stride(from: 0, to: system.parameterCount, by: 2)
        let original = system.theta
        var theta = original
        for l in chosen { theta[l] *= 2 }
        try system.setTheta(theta)
        try system.simulation.evaluate()
        let expected = energy + chosen.reduce(0) { $0 + original[$1] * gradient[$1] }
        XCTAssertEqual(try system.simulation.energy(), expected, accuracy: tolerance * abs(energy), file: file, line: line)
        try system.setTheta(original)
    }

    /// ∇²ΘX U against LAMMPS's force change and ∂²U/∂Θ∂e against its virial change, for a change
    /// of the `spread` parameters.
    static func mixedDerivativesMatchLAMMPS(_ system: any ParametrizedEnergy, spread: [Int], minimumChange: Double,
                                            file: StaticString = #filePath, line: UInt = #line) throws {
        let theta = system.theta
        var delta = [Double](repeating: 0, count: theta.count)
        for (n, l) in spread.enumerated() { delta[l] = 1e-3 * Double(n % 3 - 1) + 2e-2 * abs(theta[l]) }
        let predicted = try system.mixedHessian().multiplied(by: Matrix(rows: delta.count, columns: 1, storage: delta)).storage
        let strains = try system.strainMixedDerivative(strains: (0..<6).map(Voigt.unit))
        let (f0, w0) = (try system.simulation.forces(), try system.simulation.virial())
        try system.setTheta(zip(theta, delta).map { $0 + $1 })
        try system.simulation.evaluate()
        let (f1, w1) = (try system.simulation.forces(), try system.simulation.virial())
        let change = zip(f1, f0).map { -($0 - $1) }
        XCTAssertGreaterThan(norm(change), minimumChange, file: file, line: line)
        XCTAssertLessThan(distance(predicted, change) / norm(change), 1e-7, file: file, line: line)
        for (g, (a, b)) in Voigt.entries.enumerated() {
            let expected = -(w1[a][b] - w0[a][b])
            let value = (0..<theta.count).reduce(0) { $0 + strains[$1, g] * delta[$1] }
            XCTAssertEqual(value, expected, accuracy: 1e-9 + 1e-7 * abs(expected), Voigt.labels[g], file: file, line: line)
        }
        try system.setTheta(theta)
    }

    /// ∇Θ X* by the sparse solve against central differences of true re-relaxations of the
    /// relaxed `system`, for the `spread` parameters.
    static func positionDerivativeMatchesReRelaxations(_ system: any ParametrizedEnergy, spread: [Int], label: String,
                                                       file: StaticString = #filePath, line: UInt = #line) throws {
        let all = try system.mixedHessian()
        let mixedHessian = Matrix(columns: spread.map { all.column($0) }, rows: all.rows)
        let result = try ImplicitDifferentiation.positionDerivative(system, hessian: try Hessian(system: system.simulation),
                                                                    mixedHessian: mixedHessian, method: SparseMethod())
        let truth = try ImplicitDifferentiation.finiteDifferenceDerivative(system, mixedHessian: all, parameters: spread)
        for column in 0..<spread.count {
            let (a, b) = (result.matrix.column(column), truth.column(column))
            XCTAssertGreaterThan(norm(b), 0, file: file, line: line)
            let error = distance(a, b) / norm(b)
            print("\(label) parameter \(spread[column]): relative error against re-relaxations \(error)")
            XCTAssertLessThan(error, 1e-3, "parameter \(spread[column])", file: file, line: line)
        }
    }

    private static func distance(_ a: [Double], _ b: [Double]) -> Double { norm(zip(a, b).map { $0 - $1 }) }
}
