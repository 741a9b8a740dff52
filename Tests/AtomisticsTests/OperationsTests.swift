import Atomistics
import Foundation
import XCTest

/// Typed LAMMPS operations of `Simulation` on a real (8-atom silicon) system.
final class OperationsTests: XCTestCase {
    let input = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("inputs/Si_diamond.lammps").path

    func testGroupMembershipByAtomID() throws {
        let simulation = try Simulation(input: input)
        try simulation.lammps.command("group core id 1 3 8")
        let members = try simulation.groupMembership("core")
        XCTAssertEqual(members.enumerated().filter(\.element).map { $0.offset + 1 }, [1, 3, 8])
        XCTAssertThrowsError(try simulation.groupMembership("shell")) { XCTAssertTrue("\($0)".contains("no group 'shell'")) }
    }

    /// A shear applied by `deform` changes the tilt as LAMMPS's ELASTIC example does, and the
    /// virial is symmetric.
    func testShearStrainTiltsTheCell() throws {
        let simulation = try Simulation(input: input)
        let reference = try simulation.structure()
        try simulation.deform(reference.box, by: [0, 0, 0, 0.01, 0, 0])
        let box = simulation.lammps.box()
        XCTAssertEqual(box.yz, 0.01 * (reference.box.high[2] - reference.box.low[2]), accuracy: 1e-12)
        XCTAssertEqual(box.xy, 0)
        let w = try simulation.virial()
        XCTAssertEqual(w[1][2], w[2][1])
        try simulation.restore(reference)
        XCTAssertEqual(simulation.lammps.box().yz, 0)
    }
}
