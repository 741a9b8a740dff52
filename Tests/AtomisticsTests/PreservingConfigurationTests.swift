import Atomistics
import Foundation
import XCTest

/// The one save-and-restore of a system's configuration, and refusals that name settings.
final class PreservingConfigurationTests: XCTestCase {
    let input = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("inputs/Si_diamond.lammps").path

    struct Stop: Error {}

    /// A body that strains the cell and moves atoms, then throws, leaves the structure as it
    /// was, and with `reevaluating` the forces are those of the restored structure again.
    func testStructureComesBackAlsoWhenTheBodyThrows() throws {
        let simulation = try Simulation(input: input)
        try simulation.evaluate()
        let before = try simulation.structure(), forces = try simulation.forces()
        XCTAssertThrowsError(try simulation.preservingConfiguration(reevaluating: true) { _ in
            try simulation.deform(before.box, by: [0.01, 0, 0, 0.01, 0, 0])
            _ = try simulation.forces(at: before.positions.map { $0 + 0.05 })
            throw Stop()
        }) { XCTAssertTrue($0 is Stop) }
        let after = try simulation.structure()
        XCTAssertEqual(after.box, before.box)
        // A sheared LAMMPS box stays triclinic, converting positions to fractional coordinates and
        // back: equal up to round-off.
        for (a, b) in zip(after.positions, before.positions) { XCTAssertEqual(a, b, accuracy: 1e-12) }
        XCTAssertEqual(after.images, before.images)
        for (a, b) in zip(try simulation.forces(), forces) { XCTAssertEqual(a, b, accuracy: 1e-10) }
        let value = try simulation.preservingConfiguration { _ -> Int in
            _ = try simulation.forces(at: before.positions.map { $0 + 0.05 })
            return 7
        }
        XCTAssertEqual(value, 7)
        for (a, b) in zip(try simulation.structure().positions, before.positions) { XCTAssertEqual(a, b, accuracy: 1e-12) }
    }

    /// Atomistics names the setting; the caller spells it (a flag, a campaign key).
    func testRefusalsNameSettingsTheCallerSpells() {
        let error = InputError.badValue(.out, value: "/tmp/x", reason: "exists; pass \(setting: .overwrite) to replace it")
        XCTAssertEqual(error.description, "out /tmp/x: exists; pass overwrite to replace it")
        XCTAssertEqual(error.description(settings: { "--" + $0.name }), "--out /tmp/x: exists; pass --overwrite to replace it")
        XCTAssertEqual(InputError.fileFormat(file: "a.data", line: 3, reason: "bad").description, "a.data:3: bad")
        XCTAssertEqual(InputError.undefined(kind: "group", name: "core", input: "in.lmp").description,
                       "the input in.lmp defines no group 'core'")
    }
}
