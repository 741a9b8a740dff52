import Atomistics
import Foundation
import ImplicitDerivative
import LinearAlgebra
import Potentials
import XCTest

/// Taylor expansions against true re-relaxations with the perturbed potential, at perturbations
/// λ of a few percent of each coefficient (δΘ_k = λ r_k Θ_k, r_k uniform in [−1, 1]).
final class ExpansionTests: XCTestCase {
    let lambdas = [0.04, 0.02, 0.01]

    private func direction(_ theta: [Double]) -> [Double] {
        var state: UInt64 = 42
        return theta.map { value in
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return value * (Double(state >> 11) / Double(1 << 53) * 2 - 1)
        }
    }

    private struct Truth {
        var energy: Double
        var volume: Double
        var positions: [Double]
    }

    /// Relaxes with Θ + δΘ from the reference minimum, then restores the reference state.
    private func trueMinimum(_ system: SNAPEnergy, _ derivatives: MinimumDerivatives, delta: [Double],
                             cell: CellRelaxation) throws -> Truth {
        let originalFile = system.potential.coefficientFile
        let file = Fixtures.temporaryFile("perturbed.snapcoeff", self)
        try system.use(system.potential.with(theta: zip(derivatives.theta, delta).map { $0 + $1 }), writingTo: file)
        try system.simulation.restore(derivatives.structure)
        let (result, _) = try system.simulation.relax(RelaxationSettings(cell: cell, ftol: 1e-10, minStyle: .cg))
        let positions = try system.simulation.structure().unwrappedPositions
        try system.use(coefficientsAt: originalFile)
        try system.simulation.restore(derivatives.structure)
        return Truth(energy: result.energy, volume: result.volume, positions: positions)
    }

    func testFixedCellEnergyIsThirdOrderAndPositionsSecondOrder() throws {
        let system = try Fixtures.relaxedVacancy()
        let derivatives = try MinimumDerivatives.compute(system, cell: .fixed, method: SparseMethod())
        let d = direction(derivatives.theta)
        var energyErrors: [ExpansionLevel: [Double]] = [:], positionErrors: [Double] = []
        for lambda in lambdas {
            let delta = d.map { lambda * $0 }
            let truth = try trueMinimum(system, derivatives, delta: delta, cell: .fixed)
            let predictions = derivatives.predict(delta)
            for prediction in predictions { energyErrors[prediction.level, default: []].append(abs(prediction.energy - truth.energy)) }
            let ih = predictions.first { $0.level == .ih }!
            positionErrors.append(derivatives.relativePositionError(predicted: ih.positions, truth: truth.positions))
            print("λ \(lambda): ΔE true \(truth.energy - derivatives.energy), |error| c \(energyErrors[.c]!.last!) "
                  + "ih \(energyErrors[.ih]!.last!), position error ih \(positionErrors.last!)")
        }
        for index in lambdas.indices { XCTAssertLessThan(energyErrors[.ih]![index], energyErrors[.c]![index]) }
        for index in 1..<lambdas.count {
            // Halving λ divides a third-order error by 8 and a second-order one by 4.
            let energyRatio = energyErrors[.ih]![index - 1] / energyErrors[.ih]![index]
            let positionRatio = positionErrors[index - 1] / positionErrors[index]
            XCTAssertEqual(energyRatio, 8, accuracy: 2.5, "energy error ratio")
            XCTAssertEqual(positionRatio, 2, accuracy: 0.6, "relative position error ∝ λ: absolute error ∝ λ²")
        }
    }

    func testCellRelaxedVolumeChangeIsAsymptoticallyExact() throws {
        let system = try Fixtures.relaxedVacancy(cell: .iso, ftol: 1e-10)
        let derivatives = try MinimumDerivatives.compute(system, cell: .iso, method: SparseMethod())
        let d = direction(derivatives.theta)
        var volumeErrors: [ExpansionLevel: [Double]] = [:], energyErrors: [ExpansionLevel: [Double]] = [:]
        for lambda in lambdas {
            let delta = d.map { lambda * $0 }
            let truth = try trueMinimum(system, derivatives, delta: delta, cell: .iso)
            let trueChange = truth.volume - derivatives.volume
            for prediction in derivatives.predict(delta) {
                volumeErrors[prediction.level, default: []].append(abs(prediction.volume - truth.volume) / abs(trueChange))
                energyErrors[prediction.level, default: []].append(abs(prediction.energy - truth.energy))
            }
            print("λ \(lambda): ΔV true \(trueChange) Å³; relative ΔV error h \(volumeErrors[.h]!.last!) "
                  + "h+ih \(volumeErrors[.hih]!.last!); |ΔE error| c \(energyErrors[.c]!.last!) h \(energyErrors[.h]!.last!) "
                  + "ih \(energyErrors[.ih]!.last!) h+ih \(energyErrors[.hih]!.last!)")
        }
        for index in lambdas.indices {
            XCTAssertLessThan(energyErrors[.hih]![index], energyErrors[.c]![index])
            XCTAssertLessThan(energyErrors[.hih]![index], energyErrors[.h]![index])
        }
        for index in 1..<lambdas.count {
            XCTAssertEqual(volumeErrors[.hih]![index - 1] / volumeErrors[.hih]![index], 2, accuracy: 0.6,
                           "relative volume error ∝ λ")
            XCTAssertEqual(energyErrors[.hih]![index - 1] / energyErrors[.hih]![index], 8, accuracy: 2.5,
                           "energy error ∝ λ³")
        }
        XCTAssertLessThan(volumeErrors[.hih]!.last!, 0.05)
    }
}
