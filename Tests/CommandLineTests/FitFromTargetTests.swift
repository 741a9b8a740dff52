import Foundation
import XCTest

/// `loop.relax_from_target`: each relaxation also starts from the target's positions and the
/// minimum closer to the target is kept. The case where it matters, small: the target is the
/// W vacancy after a neighbour jumped into it (the same minimum, one atom 2.75 Å elsewhere), which
/// relaxations from the vacancy's own minimum never reach.
final class FitFromTargetTests: XCTestCase {
    func testTheCloserMinimumIsKeptAndTheReplayStartsWhereTheToolDid() throws {
        let folder = try Toolbox.temporaryDirectory(self)
        let vacancy = Toolbox.root.appendingPathComponent("inputs/W_vacancy.lammps")
        let jumped = folder.appendingPathComponent("jumped.lammps")
        try (String(contentsOf: vacancy, encoding: .utf8)
            .replacingOccurrences(of: "../potentials/", with: Toolbox.root.appendingPathComponent("potentials").path + "/") + """

            # The neighbour at (a/2, a/2, a/2) moves into the vacant site at the origin.
            region       neighbour sphere $(v_a0/2) $(v_a0/2) $(v_a0/2) 0.3 units box
            group        neighbour region neighbour
            displace_atoms neighbour move $(-v_a0/2) $(-v_a0/2) $(-v_a0/2) units box
            """).write(to: jumped, atomically: true, encoding: .utf8)
        let target = folder.appendingPathComponent("target")
        let relax = try Toolbox.implicitLammps(["relax", "--input", jumped.path, "--var", "ncell=2", "--out", target.path])
        XCTAssertEqual(relax.status, 0, relax.stderr)

        func campaign(_ fromTarget: Bool) throws -> (Toolbox.Result, URL) {
            let config = folder.appendingPathComponent("fit-\(fromTarget).yaml")
            try """
                systems:
                  - name: vacancy
                    input: \(vacancy.path)
                    lammps_args: ["-var", "ncell", "2"]
                    target: {structure: \(target.path)/relaxed.data, check_pairing: false}
                loop: {iterations: 1, step: gauss-newton, relax_from_target: \(fromTarget)}
                """.write(to: config, atomically: true, encoding: .utf8)
            let out = folder.appendingPathComponent("out-\(fromTarget)")
            return (try Toolbox.implicitLammps(["fit", "--config", config.path, "--out", out.path]), out)
        }
        let loss = { (out: URL) -> Double in
            ((try? Toolbox.json(out.appendingPathComponent("summary.json")))?["loss_initial"] as? [String: Any])?["true"] as? Double ?? .nan
        }
        let (plain, plainOut) = try campaign(false)
        XCTAssertEqual(plain.status, 0, plain.stderr)
        XCTAssertGreaterThan(loss(plainOut), 1, "the jumped atom is 2.75 Å from where the start's minimum has it")
        let (closer, closerOut) = try campaign(true)
        XCTAssertEqual(closer.status, 0, closer.stderr)
        XCTAssertTrue(closer.stderr.contains("vacancy: relaxed from the prediction"), closer.stderr)
        XCTAssertLessThan(loss(closerOut), 1e-8, "from the target's positions the relaxation stays at the target")
        XCTAssertTrue(FileManager.default.fileExists(atPath: closerOut.appendingPathComponent("iterations/0000/vacancy.start.dump").path))

        // The native replay relaxes from the same start (the energies alone could not tell: the
        // two minima are symmetric images) and prints the tool's energies.
        let script = try String(contentsOf: closerOut.appendingPathComponent("commands.lammps"), encoding: .utf8)
        XCTAssertTrue(script.contains("read_dump \(closerOut.path)/iterations/0000/vacancy.start.dump"), script)
        try Toolbox.assertReplayPrintsTheHistory(closerOut, system: "vacancy", in: folder)

        // Without any structure target the key is refused, naming it.
        let config = folder.appendingPathComponent("none.yaml")
        try """
            systems:
              - {name: vacancy, input: \(vacancy.path), lammps_args: ["-var", "ncell", "2"]}
            properties:
              - {name: E, energy: {vacancy: 1}, value: -100}
            loop: {relax_from_target: true}
            """.write(to: config, atomically: true, encoding: .utf8)
        let refused = try Toolbox.implicitLammps(["fit", "--config", config.path, "--out", folder.appendingPathComponent("none").path])
        XCTAssertNotEqual(refused.status, 0)
        XCTAssertTrue(refused.stderr.contains("loop.relax_from_target"), refused.stderr)
    }

    /// Held atoms are the system's boundary condition: the relaxation from the target starts its
    /// mobile atoms at the target's positions and leaves the held ones where the system has them,
    /// even when the target's border differs (the paper's hard core has its own far field).
    func testARelaxationFromTheTargetKeepsTheSystemsHeldAtoms() throws {
        let folder = try Toolbox.temporaryDirectory(self)
        let vacancy = Toolbox.root.appendingPathComponent("inputs/W_vacancy.lammps")
        let base = try String(contentsOf: vacancy, encoding: .utf8)
            .replacingOccurrences(of: "../potentials/", with: Toolbox.root.appendingPathComponent("potentials").path + "/")
        // The plane x = a0 (4 atoms, away from the vacancy and its jumping neighbour) is held.
        let hold = """

            region       border block $(v_a0-0.3) $(v_a0+0.3) INF INF INF INF units box
            group        border region border
            fix          hold border setforce 0.0 0.0 0.0
            """
        let system = folder.appendingPathComponent("held.lammps")
        try (base + hold).write(to: system, atomically: true, encoding: .utf8)
        // The target: the neighbour jumped into the vacancy, and its held plane 0.05 Å further along x.
        let targetInput = folder.appendingPathComponent("target.lammps")
        try (base + hold + """

            region       neighbour sphere $(v_a0/2) $(v_a0/2) $(v_a0/2) 0.3 units box
            group        neighbour region neighbour
            displace_atoms neighbour move $(-v_a0/2) $(-v_a0/2) $(-v_a0/2) units box
            displace_atoms border move 0.05 0.0 0.0 units box
            """).write(to: targetInput, atomically: true, encoding: .utf8)
        let target = folder.appendingPathComponent("target")
        let relax = try Toolbox.implicitLammps(["relax", "--input", targetInput.path, "--var", "ncell=2", "--out", target.path])
        XCTAssertEqual(relax.status, 0, relax.stderr)
        let config = folder.appendingPathComponent("fit.yaml")
        try """
            systems:
              - name: vacancy
                input: \(system.path)
                lammps_args: ["-var", "ncell", "2"]
                target: {structure: \(target.path)/relaxed.data, check_pairing: false}
            loop: {iterations: 1, step: gauss-newton, relax_from_target: true}
            """.write(to: config, atomically: true, encoding: .utf8)
        let out = folder.appendingPathComponent("out")
        let fit = try Toolbox.implicitLammps(["fit", "--config", config.path, "--out", out.path])
        XCTAssertEqual(fit.status, 0, fit.stderr)
        let start = try String(contentsOf: out.appendingPathComponent("iterations/0000/vacancy.start.dump"), encoding: .utf8)
        let rows = start.components(separatedBy: "ITEM: ATOMS id x y z\n")[1].split(separator: "\n")
            .map { $0.split(separator: " ").compactMap { Double($0) } }
        let a0 = 3.1805
        let border = rows.filter { abs($0[1] - a0) < 0.2 }
        XCTAssertEqual(border.count, 4, "the held plane")
        for atom in border {
            XCTAssertEqual(atom[1], a0, accuracy: 1e-9, "held atom \(Int(atom[0])) starts where the system holds it, not at the target's x + 0.05")
        }
        // Its mobile atoms do start at the target: the jumped neighbour sits at the origin.
        XCTAssertTrue(rows.contains { $0[1...3].allSatisfy { abs($0) < 0.1 || abs($0 - 2 * a0) < 0.1 } }, start)
    }
}
