import Foundation
import LinearAlgebra
import Workflows
import XCTest

/// The training term's algebra on rows made up here: its sums reproduce the rows' own loss,
/// gradient and errors at any Θ, and it survives a JSON round trip.
final class TrainingTermAlgebraTests: XCTestCase {
    /// Two groups of rows over three parameters: (a, r0) per row, energy rows then force rows.
    let rows: [(group: Int, energy: Bool, a: [Double], r0: Double)] = [
        (0, true, [1, 2, 0.5], 0.3), (0, false, [0, 1, -1], -0.2), (0, false, [2, 0, 1], 0.1), (0, true, [0.2, -1, 3], 0.05),
        (1, true, [-1, 0.5, 2], 1.0), (1, false, [1, 1, 1], 0.4), (1, false, [3, -2, 0], -0.7),
    ]
    let weights = [(energy: 2.0, force: 0.5), (energy: 0.1, force: 3.0)]
    let theta0 = [1.0, -2.0, 0.5]

    private func term() -> TrainingTerm {
        let groups = weights.enumerated().map { index, w in
            var energy = TrainingTerm.Block(parameters: 3), force = TrainingTerm.Block(parameters: 3)
            for row in rows where row.group == index {
                let a = Matrix(rows: [row.a])
                if row.energy { energy.add(a, residuals: [row.r0]) } else { force.add(a, residuals: [row.r0]) }
            }
            return TrainingTerm.Group(name: "g\(index)", energyWeight: w.energy, forceWeight: w.force, configurations: 2,
                                      energy: energy, force: force)
        }
        return TrainingTerm(parameterNames: ["W:1", "W:2", "W:3"], theta0: theta0, groups: groups, weight: 1.5)
    }

    /// The weighted residual of each row at Θ, straight from the rows.
    private func residuals(_ theta: [Double]) -> [(group: Int, energy: Bool, value: Double, weight: Double)] {
        rows.map { row in
            let value = row.r0 + dot(row.a, zip(theta, theta0).map { $0 - $1 })
            return (row.group, row.energy, value, row.energy ? weights[row.group].energy : weights[row.group].force)
        }
    }

    func testLossGradientHessianAndErrorsMatchTheRows() throws {
        let term = term(), theta = [1.3, -2.2, 0.9]
        let direct = residuals(theta)
        XCTAssertEqual(term.loss(theta), 0.5 * 1.5 * direct.reduce(0) { $0 + $1.weight * $1.weight * $1.value * $1.value }, accuracy: 1e-12)
        let gradient = (0..<3).map { j in 1.5 * zip(rows, direct).reduce(0) { $0 + $1.1.weight * $1.1.weight * $1.1.value * $1.0.a[j] } }
        for (u, v) in zip(term.gradient(theta), gradient) { XCTAssertEqual(u, v, accuracy: 1e-12) }
        // The loss is quadratic: its Taylor expansion with the Hessian is exact.
        let step = [0.4, 0.1, -0.3], h = term.hessian()
        let hs = h.multiplied(by: Matrix(rows: 3, columns: 1, storage: step)).storage
        let predicted = term.loss(theta) + dot(term.gradient(theta), step) + 0.5 * dot(step, hs)
        XCTAssertEqual(term.loss(add(theta, step)), predicted, accuracy: 1e-12)
        let errors = term.errors(theta)
        XCTAssertEqual(errors.map(\.group), ["g0", "g1", "*ALL"])
        func rmse(_ selected: [Double]) -> Double { (selected.reduce(0) { $0 + $1 * $1 } / Double(selected.count)).squareRoot() }
        XCTAssertEqual(errors[0].energyRMSE, rmse(direct.filter { $0.group == 0 && $0.energy }.map(\.value)), accuracy: 1e-12)
        XCTAssertEqual(errors[1].forceRMSE, rmse(direct.filter { $0.group == 1 && !$0.energy }.map(\.value)), accuracy: 1e-12)
        XCTAssertEqual(errors[2].forceRMSE, rmse(direct.filter { !$0.energy }.map(\.value)), accuracy: 1e-12)
        XCTAssertEqual(errors[2].energyRMSE, rmse(direct.filter(\.energy).map(\.value)), accuracy: 1e-12)
    }

    func testJSONRoundTrip() throws {
        let term = term()
        let copy = try JSONDecoder().decode(TrainingTerm.self, from: JSONEncoder().encode(term))
        XCTAssertEqual(copy.parameterNames, term.parameterNames)
        XCTAssertEqual(copy.groups.map(\.force.gram), term.groups.map(\.force.gram))
        XCTAssertEqual(copy.loss([0, 0, 0]), term.loss([0, 0, 0]))
    }
}
