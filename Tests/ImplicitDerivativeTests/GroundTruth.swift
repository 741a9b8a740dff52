import Atomistics
import Foundation
import ImplicitDerivative
import LinearAlgebra
import Potentials
import XCTest

enum Fixtures {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    static let input = root.appendingPathComponent("inputs/W_vacancy.lammps").path

    /// The shipped W vacancy with `cells`³ conventional cells, relaxed tightly at fixed cell.
    static func relaxedVacancy(cells: Int = 3, cell: CellRelaxation = .fixed, ftol: Double = 1e-11) throws -> SNAPEnergy {
        let simulation = try Simulation(input: input, extraArguments: ["-var", "ncell", "\(cells)"])
        let system = try SNAPEnergy(simulation: simulation)
        try simulation.relax(RelaxationSettings(cell: cell, ftol: ftol, minStyle: .cg))
        return system
    }

    /// A shipped silicon input (`ncell` cells, or the input's own when nil) with Θ = `fields` of its
    /// Stillinger–Weber entry, not relaxed.
    static func silicon(_ input: String = "Si_vacancy.lammps", fields: [String], cells: Int? = 2) throws -> FiniteDifferenceEnergy {
        let simulation = try Simulation(input: root.appendingPathComponent("inputs/\(input)").path,
                                        extraArguments: cells.map { ["-var", "ncell", "\($0)"] } ?? [])
        return try FiniteDifferenceEnergy(
            simulation: simulation, source: try FileFieldParameters(selections: [("Si,Si,Si", fields)], simulation: simulation))
    }

    /// A file name in the temporary directory, removed when `test` ends.
    static func temporaryFile(_ name: String, _ test: XCTestCase) -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("ilmp-\(UUID().uuidString)-\(name)")
        test.addTeardownBlock { try? FileManager.default.removeItem(at: url) }
        return url
    }
}

/// ∇Θ X* by central finite differences of true re-relaxations: independent of every method.
final class FiniteDifferenceTruth {
    let derivative: Matrix
    let mixedHessian: Matrix
    let seconds: Double

    /// One shared truth for the 53-atom vacancy (computed once per test process).
    nonisolated(unsafe) static var shared: FiniteDifferenceTruth?
    static func get() throws -> FiniteDifferenceTruth {
        if let shared { return shared }
        let truth = try FiniteDifferenceTruth(system: try Fixtures.relaxedVacancy())
        shared = truth
        return truth
    }

    init(system: SNAPEnergy) throws {
        let start = Date()
        try system.simulation.evaluate()
        mixedHessian = try system.mixedHessian()
        derivative = try ImplicitDifferentiation.finiteDifferenceDerivative(
            system, mixedHessian: mixedHessian, parameters: Array(0..<mixedHessian.columns))
        seconds = Date().timeIntervalSince(start)
    }

    /// `other`'s columns are the parameters `parameters` (all by default).
    func errors(of other: Matrix, parameters: [Int]? = nil) -> (frobenius: Double, worstRow: Double) {
        let chosen = parameters ?? Array(0..<derivative.columns)
        let truth = Matrix(columns: chosen.map { derivative.column($0) }, rows: derivative.rows)
        let frobenius = (other - truth).frobeniusNorm / truth.frobeniusNorm
        let rows = (0..<truth.columns).map { l -> Double in
            let column = truth.column(l)
            let norm = column.reduce(0) { $0 + $1 * $1 }.squareRoot()
            let difference = zip(other.column(l), column).reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) }.squareRoot()
            return norm > 0 ? difference / norm : difference
        }
        return (frobenius, rows.max() ?? 0)
    }
}
