import Atomistics
import Foundation
import ImplicitDerivative
import LinearAlgebra
import Potentials
import XCTest

/// ∇Θ X* of every method against central finite differences of true re-relaxations, on the
/// 53-atom W vacancy with the shipped SNAP+ZBL potential (55 parameters).
final class PositionDerivativeTests: XCTestCase {
    /// - Parameter parameters: a subset of parameter indices (all when nil), for slow minimizers.
    private func check(_ settings: any DerivativeMethod, parameters: [Int]? = nil,
                       file: StaticString = #filePath, line: UInt = #line) throws {
        let truth = try FiniteDifferenceTruth.get()
        let system = try Fixtures.relaxedVacancy()
        try system.simulation.evaluate()
        let all = try system.mixedHessian()
        let chosen = parameters ?? Array(0..<all.columns)
        let mixedHessian = Matrix(columns: chosen.map { all.column($0) }, rows: all.rows)
        let hessian = try Hessian(system: system.simulation)
        let result = try ImplicitDifferentiation.positionDerivative(system, hessian: hessian, mixedHessian: mixedHessian,
                                                                    method: settings)
        let (frobenius, worstRow) = truth.errors(of: result.matrix, parameters: chosen)
        print("\(settings.name) \(settings.settings): relative Frobenius error \(frobenius), "
              + "worst row \(worstRow), \(result.forceEvaluations) force evaluations/iterations, "
              + "\(String(format: "%.1f", result.seconds)) s (truth took \(String(format: "%.1f", truth.seconds)) s)")
        XCTAssertLessThan(frobenius, 1e-3, file: file, line: line)
        XCTAssertLessThan(worstRow, 1e-2, file: file, line: line)
    }

    func testSparseMatchesFiniteDifferences() throws {
        try check(SparseMethod())
    }

    func testPreconditionedSparseMatchesFiniteDifferences() throws {
        try check(SparseMethod(preconditioning: .exponential))
    }

    func testConjugateGradientsPerColumnMatchFiniteDifferences() throws {
        try check(SparseMethod(preconditioning: .exponential, strategy: .cg))
    }

    func testDenseMatchesFiniteDifferences() throws {
        try check(DenseMethod())
    }

    func testEnergyMethodWithCGMatchesFiniteDifferences() throws {
        try check(EnergyMethod(minStyle: .cg))
    }

    func testEnergyMethodWithFIREMatchesFiniteDifferences() throws {
        let settings = EnergyMethod(minStyle: .fire)
        // FIRE needs ~150 iterations per parameter to reach the 1e-10 force tolerance: check a
        // spread of parameters rather than all 55 (≈100 s).
        try check(settings, parameters: [0, 10, 21, 32, 43, 54])
    }
}
