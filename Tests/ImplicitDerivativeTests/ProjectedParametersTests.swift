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
        var random = SplitMix64(seed: 5)
        let directions = (0..<2).map { _ in theta.map { 0.02 * $0 * (Double(random.next() >> 11) / Double(1 << 53) * 2 - 1) } }
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

/// A small seeded generator (SplitMix64).
private struct SplitMix64 {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE5_E4B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
