import Atomistics
import Foundation
import LAMMPSLibrary
import XCTest

/// `Simulation.forces(at:)`, the force-only fast path, against full `run 0` evaluations.
final class ForceEvaluationTests: XCTestCase {
    private func vacancy(cells: Int = 2) throws -> Simulation {
        try Simulation(input: StructureTests.input, extraArguments: ["-var", "ncell", "\(cells)"])
    }

    /// Reference forces: scatter and a full `run 0` with energy tallying, in a separate instance.
    private func referenceForces(_ positions: [Double]) throws -> [Double] {
        let reference = try vacancy()
        try reference.lammps.scatter("x", count: 3, values: positions)
        try reference.evaluate()
        return try reference.forces()
    }

    func testRepeatedForceOnlyEvaluationsEqualFullEvaluations() throws {
        let simulation = try vacancy()
        let start = try simulation.lammps.gather("x", count: 3)
        var generator = SplitMix64(seed: 7)
        for trial in 0..<6 {
            var positions = start.map { $0 + Double.random(in: -0.05...0.05, using: &generator) }
            // The last trials push atom 2 out through a periodic face: LAMMPS must re-neighbour.
            if trial >= 4 { positions[3] += 3.0 * Double(trial - 3) }
            let forces = try simulation.forces(at: positions)
            let reference = try referenceForces(positions)
            XCTAssertLessThan(zip(forces, reference).map { abs($0 - $1) }.max()!, 1e-10, "trial \(trial)")
        }
        // Energy tallying comes back for energy evaluations.
        try simulation.evaluate()
        XCTAssertEqual(try simulation.energy(), try { () throws -> Double in
            let reference = try vacancy()
            try reference.lammps.scatter("x", count: 3, values: try simulation.lammps.gather("x", count: 3))
            try reference.evaluate()
            return try reference.energy()
        }(), accuracy: 1e-9)
    }

    func testInputsThatIntegrateEquationsOfMotionAreRefused() throws {
        let simulation = try vacancy()
        try simulation.lammps.command("fix integrate all nve")
        var positions = try simulation.lammps.gather("x", count: 3)
        positions[0] += 0.1
        _ = try simulation.forces(at: positions)  // first call re-initialises with run 0: no motion
        XCTAssertThrowsError(try simulation.forces(at: positions)) { error in
            XCTAssertTrue("\(error)".contains("integrates equations of motion"), "\(error)")
        }
    }
}
