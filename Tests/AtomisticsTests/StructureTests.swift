import Atomistics
import Foundation
import XCTest

final class StructureTests: XCTestCase {
    static let input = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("inputs/W_vacancy.lammps").path

    private func smallVacancy() throws -> Simulation {
        try Simulation(input: Self.input, extraArguments: ["-var", "ncell", "2"])
    }

    func testUnwrappedPositionsFollowAnAtomAcrossThePeriodicBoundary() throws {
        let simulation = try smallVacancy()
        let before = try simulation.structure()
        XCTAssertEqual(before.count, 15)
        // Move atom 1 in two equal steps to 1 Å beyond the low x face of the cell.
        let step = -(before.positions[0] - before.box.low[0] + 1.0) / 2
        try simulation.lammps.commands("""
            group mover id 1
            displace_atoms mover move \(step) 0 0 units box
            run 0
            displace_atoms mover move \(step) 0 0 units box
            run 0
            """)
        let after = try simulation.structure()
        XCTAssertEqual(after.images[0], -1)
        XCTAssertGreaterThan(after.positions[0], after.box.low[0] + after.box.cell[0][0] / 2, "wrapped into the cell")
        XCTAssertEqual(after.unwrappedPositions[0] - before.unwrappedPositions[0], 2 * step, accuracy: 1e-12)
        XCTAssertEqual(Array(after.unwrappedPositions[3...]), Array(before.unwrappedPositions[3...]))
    }

    func testExtendedXYZNamesTheElementAndCarriesCellAndForces() throws {
        let simulation = try smallVacancy()
        try simulation.evaluate()
        let structure = try simulation.structure()
        let text = ExtendedXYZ.format(structure, forces: try simulation.forces(), energy: try simulation.energy())
        let lines = text.split(separator: "\n")
        XCTAssertEqual(lines.count, 17)
        XCTAssertEqual(lines[0], "15")
        XCTAssertTrue(lines[1].hasPrefix("Lattice=\"6.361 0.0 0.0 0.0 6.361 0.0 0.0 0.0 6.361\""), String(lines[1]))
        XCTAssertTrue(lines[1].contains("Properties=species:S:1:pos:R:3:id:I:1:type:I:1:forces:R:3"))
        XCTAssertTrue(lines[1].contains("pbc=\"T T T\""))
        let first = lines[2].split(separator: " ")
        XCTAssertEqual(first[0], "W")
        XCTAssertEqual(first.count, 1 + 3 + 2 + 3)
        XCTAssertEqual(Double(first[1])!, structure.positions[0])
    }

    func testFixedCellRelaxationConvergesAndLowersTheEnergy() throws {
        let simulation = try smallVacancy()
        try simulation.evaluate()
        let unrelaxed = try simulation.energy()
        let (result, commands) = try simulation.relax(RelaxationSettings(ftol: 1e-8))
        XCTAssertTrue(result.converged)
        XCTAssertLessThanOrEqual(result.maxForce, 1e-8)
        XCTAssertLessThan(result.energy, unrelaxed)
        XCTAssertEqual(result.volume, pow(2 * 3.1805, 3), accuracy: 1e-9)
        XCTAssertTrue(commands.contains("minimize 0.0 1e-08 250 2500"), "\(commands)")
        XCTAssertEqual(result.stop, .converged)
    }
}
