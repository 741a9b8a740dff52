import Atomistics
import LAMMPSLibrary
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
        let (result, commands) = try simulation.relax(RelaxationSettings(ftol: 1e-8, minStyle: .cg))
        XCTAssertTrue(result.converged)
        XCTAssertLessThanOrEqual(result.maxForce, 1e-8)
        XCTAssertLessThan(result.energy, unrelaxed)
        XCTAssertEqual(result.volume, pow(2 * 3.1805, 3), accuracy: 1e-9)
        XCTAssertTrue(commands.contains("minimize 0.0 1e-08 250 2500"), "\(commands)")
        XCTAssertEqual(result.stop, .converged)
    }
}

/// The geometry check behind pairing a target's atoms with a system's by ID (no LAMMPS).
final class TargetPairingTests: XCTestCase {
    /// A 4×4×4 bcc W crystal (128 atoms), atom IDs in lattice order.
    private func crystal() -> Structure {
        let a = 3.1805
        var positions: [Double] = []
        for i in 0..<4 { for j in 0..<4 { for k in 0..<4 {
            positions += [Double(i) * a, Double(j) * a, Double(k) * a]
            positions += [(Double(i) + 0.5) * a, (Double(j) + 0.5) * a, (Double(k) + 0.5) * a]
        } } }
        let n = positions.count / 3
        return Structure(box: Box(low: [0, 0, 0], high: [4 * a, 4 * a, 4 * a], xy: 0, yz: 0, xz: 0, periodic: [true, true, true]),
                         positions: positions, images: [Int32](repeating: 0, count: 3 * n),
                         types: [Int32](repeating: 1, count: n), masses: [183.84])
    }

    private func target(_ positions: [Double], in folder: URL) throws -> TargetStructure {
        let n = positions.count / 3
        let a = 4 * 3.1805
        var lines = ["\(n)", "Lattice=\"\(a) 0 0 0 \(a) 0 0 0 \(a)\" Properties=species:S:1:pos:R:3"]
        for i in 0..<n { lines.append("W \(positions[3 * i]) \(positions[3 * i + 1]) \(positions[3 * i + 2])") }
        let url = folder.appendingPathComponent("target-\(UUID().uuidString).extxyz")
        try (lines.joined(separator: "\n") + "\n").write(to: url, atomically: true, encoding: .utf8)
        return try TargetStructure(contentsOf: url)
    }

    func testRigidShiftsAndRearrangementsPassAndRenumberedAtomsAreFound() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("pairing-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let start = crystal()
        // A rigid shift of 1.6 Å (more than half the 2.75 Å neighbour distance): the same atoms.
        let shifted = start.positions.enumerated().map { $0.element + ($0.offset % 3 == 0 ? 1.6 : 0) }
        XCTAssertEqual(try target(shifted, in: folder).mispairedAtoms(in: start).atoms, [])
        // One atom hops into a neighbouring site left empty: a rearrangement, one atom at most.
        var hopped = start.positions
        hopped.removeSubrange(3..<6)
        let vacancy = Structure(box: start.box, positions: hopped, images: [Int32](repeating: 0, count: hopped.count),
                                types: [Int32](repeating: 1, count: hopped.count / 3), masses: [183.84])
        var moved = hopped
        moved.replaceSubrange(0..<3, with: start.positions[3..<6])
        XCTAssertLessThanOrEqual(try target(moved, in: folder).mispairedAtoms(in: vacancy).atoms.count, 2)
        // The same crystal numbered in another order (as create_atoms on another rank count does).
        var renumbered: [Double] = []
        for atom in (0..<start.count).reversed() { renumbered += start.positions[3 * atom..<3 * atom + 3] }
        let (atoms, threshold) = try target(renumbered, in: folder).mispairedAtoms(in: start)
        XCTAssertGreaterThan(atoms.count, start.count / 2)
        XCTAssertEqual(threshold, 3.1805 * 3.squareRoot() / 4, accuracy: 1e-9)
    }
}
