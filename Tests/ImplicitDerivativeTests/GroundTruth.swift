import Atomistics
import Foundation
import ImplicitDerivative
import Potentials
import XCTest

enum Fixtures {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    static let input = root.appendingPathComponent("inputs/W_vacancy.lammps").path

    /// The shipped W vacancy with `cells`³ conventional cells, relaxed tightly at fixed cell.
    static func relaxedVacancy(cells: Int = 3, cell: CellRelaxation = .fixed, ftol: Double = 1e-11) throws -> SNAPSystem {
        let simulation = try Simulation(input: input, extraArguments: ["-var", "ncell", "\(cells)"])
        let system = try SNAPSystem(simulation: simulation)
        try simulation.relax(RelaxationSettings(cell: cell, ftol: ftol))
        return system
    }

    static func temporaryFile(_ name: String) -> URL {
        FileManager.default.temporaryDirectory.appendingPathComponent("ilmp-\(UUID().uuidString)-\(name)")
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

    init(system: SNAPSystem) throws {
        let start = Date()
        let simulation = system.simulation
        try simulation.evaluate()
        mixedHessian = try system.mixedHessian()
        let minimum = try simulation.structure()
        let reference = minimum.unwrappedPositions
        let theta = system.potential.theta
        let original = system.potential.coefficients
        let file = Fixtures.temporaryFile("fd.snapcoeff")
        var result = Matrix(rows: reference.count, columns: theta.count)
        for l in 0..<theta.count {
            // A step that changes the largest force by 1e-3 eV/Å: displacements ~1e-4 Å.
            let h = 1e-3 / mixedHessian.column(l).map(abs).max()!
            var columns: [[Double]] = []
            for sign in [1.0, -1.0] {
                var perturbed = theta
                perturbed[l] += sign * h
                try system.use(system.potential.with(theta: perturbed), writingTo: file)
                try simulation.restore(minimum)
                try simulation.relax(RelaxationSettings(ftol: 1e-11))
                columns.append(try simulation.structure().unwrappedPositions)
            }
            var column = zip(columns[0], columns[1]).map { ($0 - $1) / (2 * h) }
            // Remove any rigid drift: the translations are zero modes.
            for axis in 0..<3 {
                let mean = stride(from: axis, to: column.count, by: 3).reduce(0) { $0 + column[$1] } / Double(column.count / 3)
                for index in stride(from: axis, to: column.count, by: 3) { column[index] -= mean }
            }
            result.setColumn(l, column)
        }
        try system.use(original, writingTo: file)
        try simulation.restore(minimum)
        derivative = result
        seconds = Date().timeIntervalSince(start)
    }

    /// Relative Frobenius error of `other`, and the largest relative error of one parameter row.
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
