import Atomistics
import Foundation
import ImplicitDerivative
import LinearAlgebra
import Potentials
import XCTest

/// Derivatives along M directions of Θ equal the full derivatives times those directions.
final class ProjectedParametersTests: XCTestCase {
    func testProjectedDerivativesAreTheFullOnesAlongTheDirections() throws {
        let system = try Fixtures.relaxedVacancy(cells: 2, cell: .iso)
        let theta = system.theta
        var state: UInt64 = 5
        let directions = (0..<2).map { _ in
            theta.map { value -> Double in
                state = state &* 6364136223846793005 &+ 1442695040888963407
                return 0.02 * value * (Double(state >> 11) / Double(1 << 53) * 2 - 1)
            }
        }
        let projected = try MinimumDerivatives.compute(ProjectedParameters(system, origin: theta, directions: directions),
                                                       cell: .iso, method: SparseMethod())
        let full = try MinimumDerivatives.compute(system, cell: .iso, method: SparseMethod())
        for (m, direction) in directions.enumerated() {
            var phi = [0.0, 0.0]
            phi[m] = 1
            for (a, b) in zip(full.predict(direction), projected.predict(phi)) {
                XCTAssertEqual(a.energy, b.energy, accuracy: 1e-8 * abs(a.energyChange), "\(a.level) energy")
                XCTAssertEqual(a.volume, b.volume, accuracy: 1e-6 * abs(a.volume), "\(a.level) volume")
                let difference = zip(a.positions, b.positions).map { $0 - $1 }
                XCTAssertLessThan(norm(difference), 1e-6, "\(a.level) positions")
            }
        }
    }
}
