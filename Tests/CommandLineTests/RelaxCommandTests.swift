import Foundation
import XCTest

/// `implicit-lammps relax` end to end through the real command line and real LAMMPS.
final class RelaxCommandTests: XCTestCase {
    let shippedInput = Toolbox.root.appendingPathComponent("inputs/W_vacancy.lammps")
    let outputFiles: Set = ["log.lammps", "relax.lammps", "relaxed.data", "relaxed.extxyz", "summary.json"]

    private func relax(_ input: URL, _ extra: [String] = [], launcher: [String] = []) throws
        -> (result: Toolbox.Result, out: URL)
    {
        let out = try Toolbox.temporaryDirectory(self).appendingPathComponent("relax")
        let arguments = ["relax", "--input", input.path, "--out", out.path] + extra
        let result = launcher.isEmpty
            ? try Toolbox.implicitLammps(arguments)
            : try Toolbox.run(launcher[0], Array(launcher.dropFirst()) + [Toolbox.tool] + arguments)
        return (result, out)
    }

    func testRelaxedEnergyAndPositionsEqualNativeLammps() throws {
        let (result, out) = try relax(shippedInput, ["--ftol", "1e-8", "--var", "ncell=3"])
        XCTAssertEqual(result.status, 0, result.stderr)
        let summary = try Toolbox.json(out.appendingPathComponent("summary.json"))
        XCTAssertEqual(summary["natoms"] as? Int, 53)
        XCTAssertEqual(summary["converged"] as? Bool, true)
        XCTAssertLessThanOrEqual(summary["max_force"] as! Double, 1e-8)
        Toolbox.assertPhases(summary, include: ["set_up", "relaxation", "writing"])
        XCTAssertGreaterThan(summary["force_evaluations"] as! Int, summary["steps"] as! Int, "LAMMPS's line-search evaluations counted")

        // The replay script, run by the native executable with two lines appended to read the result.
        let native = out.appendingPathComponent("native.lammps")
        try (String(contentsOf: out.appendingPathComponent("relax.lammps"), encoding: .utf8) + """
            print "$(pe:%.15e)" file \(out.path)/native_energy.txt
            write_dump all custom \(out.path)/native.dump id x y z modify sort id format float %.15e
            """).write(to: native, atomically: true, encoding: .utf8)
        let lmp = try Toolbox.nativeLammps(input: native, in: shippedInput.deletingLastPathComponent())
        XCTAssertEqual(lmp.status, 0, lmp.stdout)
        let nativeEnergy = Double(try String(contentsOf: out.appendingPathComponent("native_energy.txt"), encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines))!
        XCTAssertEqual(summary["energy"] as! Double, nativeEnergy, accuracy: 1e-8)

        let dump = try String(contentsOf: out.appendingPathComponent("native.dump"), encoding: .utf8)
            .split(separator: "\n").drop { !$0.hasPrefix("ITEM: ATOMS") }.dropFirst()
        let nativePositions = dump.flatMap { $0.split(separator: " ")[1...3].map { Double($0)! } }
        let positions = try Toolbox.extxyzPositions(out.appendingPathComponent("relaxed.extxyz"))
        XCTAssertEqual(positions.count, 53 * 3)
        XCTAssertEqual(nativePositions.count, positions.count)
        let largest = zip(positions, nativePositions).map { abs($0 - $1) }.max()!
        XCTAssertLessThan(largest, 1e-8)
    }

    /// precon-lbfgs through the command line on a compressed cell: it converges in a fraction of
    /// CG's evaluations, and relax.lammps (LAMMPS's CG, restarted) reaches the same minimum natively.
    func testPreconditionedRelaxationReplaysToTheSameMinimum() throws {
        let options = ["--box", "iso", "--ftol", "1e-8", "--var", "ncell=3", "--var", "a0=3.15"]
        let (result, out) = try relax(shippedInput, options + ["--min-style", "precon-lbfgs"])
        XCTAssertEqual(result.status, 0, result.stderr)
        let summary = try Toolbox.json(out.appendingPathComponent("summary.json"))
        XCTAssertEqual(summary["converged"] as? Bool, true)
        XCTAssertLessThan(summary["force_evaluations"] as! Int, 60)
        Toolbox.assertPhases(summary, include: ["set_up", "relaxation", "writing"])
        let native = out.appendingPathComponent("native.lammps")
        try (String(contentsOf: out.appendingPathComponent("relax.lammps"), encoding: .utf8) + """
            print "$(pe:%.15e) $(vol:%.15e)" file \(out.path)/native.txt
            """).write(to: native, atomically: true, encoding: .utf8)
        let lmp = try Toolbox.nativeLammps(input: native, in: shippedInput.deletingLastPathComponent())
        XCTAssertEqual(lmp.status, 0, lmp.stdout)
        let values = try String(contentsOf: out.appendingPathComponent("native.txt"), encoding: .utf8)
            .split(separator: " ").map { Double($0.trimmingCharacters(in: .whitespacesAndNewlines))! }
        XCTAssertEqual(summary["energy"] as! Double, values[0], accuracy: 1e-8)
        XCTAssertEqual(summary["volume"] as! Double, values[1], accuracy: 1e-6)
    }

    func testTwoMPIRanksGiveTheSerialEnergyAndWriteEachFileOnce() throws {
        let mpiexec = Toolbox.venv.appendingPathComponent("bin/mpiexec").path
        try XCTSkipUnless(FileManager.default.isExecutableFile(atPath: mpiexec), "no MPICH mpiexec in .venv")
        // The 53-atom cell (ncell 3) keeps this cell relaxation short.
        let options = ["--box", "iso", "--ftol", "1e-7", "--var", "ncell=3"]
        let (serial, serialOut) = try relax(shippedInput, options)
        XCTAssertEqual(serial.status, 0, serial.stderr)
        let (parallel, parallelOut) = try relax(shippedInput, options, launcher: [mpiexec, "-n", "2"])
        XCTAssertEqual(parallel.status, 0, parallel.stderr)

        let serialSummary = try Toolbox.json(serialOut.appendingPathComponent("summary.json"))
        let parallelSummary = try Toolbox.json(parallelOut.appendingPathComponent("summary.json"))
        XCTAssertEqual(parallelSummary["mpi_ranks"] as? Int, 2)
        XCTAssertEqual(parallelSummary["energy"] as! Double, serialSummary["energy"] as! Double, accuracy: 1e-8)
        XCTAssertEqual(parallelSummary["volume"] as! Double, serialSummary["volume"] as! Double, accuracy: 1e-6)
        // Exactly the expected files, no leftovers of temporary writes, and one report, not two.
        XCTAssertEqual(Set(try FileManager.default.contentsOfDirectory(atPath: parallelOut.path)), outputFiles)
        XCTAssertEqual(parallel.stderr.components(separatedBy: "relax: converged").count - 1, 1, parallel.stderr)
        let xyz = try String(contentsOf: parallelOut.appendingPathComponent("relaxed.extxyz"), encoding: .utf8)
        XCTAssertEqual(xyz.split(separator: "\n").count, 53 + 2)
    }

    /// A user's own input: read_data of a previous result, the potential through `include` of a
    /// LAMMPS-distributed .snap file (SNAP + ZBL in hybrid/overlay), and frozen atoms.
    func testReadDataIncludedSnapFileAndFrozenAtoms() throws {
        let (first, firstOut) = try relax(shippedInput)
        XCTAssertEqual(first.status, 0, first.stderr)
        let folder = try Toolbox.temporaryDirectory(self)
        for name in ["W_2940_2017_2.snap", "W_2940_2017_2.snapcoeff", "W_2940_2017_2.snapparam"] {
            try FileManager.default.copyItem(at: Toolbox.root.appendingPathComponent("potentials/\(name)"),
                                             to: folder.appendingPathComponent(name))
        }
        try FileManager.default.copyItem(at: firstOut.appendingPathComponent("relaxed.data"),
                                         to: folder.appendingPathComponent("start.data"))
        let input = folder.appendingPathComponent("in.frozen")
        try """
            units metal
            atom_style atomic
            read_data start.data
            include W_2940_2017_2.snap
            group frozen id 1:20
            fix freeze frozen setforce 0.0 0.0 0.0
            displace_atoms all random 0.03 0.03 0.03 4928
            write_dump all custom initial.dump id x y z modify sort id format float %.15e
            """.write(to: input, atomically: true, encoding: .utf8)

        let (result, out) = try relax(input, ["--ftol", "1e-7"])
        XCTAssertEqual(result.status, 0, result.stderr)
        let summary = try Toolbox.json(out.appendingPathComponent("summary.json"))
        XCTAssertEqual(summary["converged"] as? Bool, true)
        let initial = try String(contentsOf: folder.appendingPathComponent("initial.dump"), encoding: .utf8)
            .split(separator: "\n").drop { !$0.hasPrefix("ITEM: ATOMS") }.dropFirst()
            .flatMap { $0.split(separator: " ")[1...3].map { Double($0)! } }
        let relaxed = try Toolbox.extxyzPositions(out.appendingPathComponent("relaxed.extxyz"))
        let frozenShift = (0..<60).map { abs(relaxed[$0] - initial[$0]) }.max()!
        let mobileShift = (60..<relaxed.count).map { abs(relaxed[$0] - initial[$0]) }.max()!
        XCTAssertEqual(frozenShift, 0, accuracy: 1e-12)
        XCTAssertGreaterThan(mobileShift, 1e-3)
        // Relaxing with 20 atoms held at random displacements costs energy against the free minimum.
        let freeEnergy = try Toolbox.json(firstOut.appendingPathComponent("summary.json"))["energy"] as! Double
        XCTAssertGreaterThan(summary["energy"] as! Double, freeEnergy)
    }

    func testMissingInputFileFailsClearly() throws {
        let (result, out) = try relax(URL(fileURLWithPath: "/no/such/folder/in.lammps"))
        XCTAssertNotEqual(result.status, 0)
        XCTAssertTrue(result.stderr.contains("input file not found: /no/such/folder/in.lammps"), result.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: out.appendingPathComponent("summary.json").path))
    }

    func testMisspelledLammpsCommandFailsWithLammpsMessage() throws {
        let folder = try Toolbox.temporaryDirectory(self)
        let input = folder.appendingPathComponent("in.typo")
        try String(contentsOf: shippedInput, encoding: .utf8)
            .replacingOccurrences(of: "pair_style   hybrid", with: "pair_stile   hybrid")
            .replacingOccurrences(of: "../potentials/", with: Toolbox.root.path + "/potentials/")
            .write(to: input, atomically: true, encoding: .utf8)
        let (result, out) = try relax(input)
        XCTAssertNotEqual(result.status, 0)
        XCTAssertTrue(result.stderr.contains("Unknown command"), result.stderr)
        XCTAssertTrue(result.stderr.contains("pair_stile"), result.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: out.appendingPathComponent("summary.json").path))
    }

    func testSNAPInputOnALammpsWithoutMLSNAPFailsNamingThePackage() throws {
        let debian = "/usr/lib/x86_64-linux-gnu/liblammps.so.0"
        try XCTSkipUnless(FileManager.default.fileExists(atPath: debian), "Debian's liblammps is not installed")
        let out = try Toolbox.temporaryDirectory(self).appendingPathComponent("relax")
        let result = try Toolbox.implicitLammps(["relax", "--input", shippedInput.path, "--out", out.path],
                                                environment: ["LAMMPS_LIBRARY": debian])
        XCTAssertNotEqual(result.status, 0)
        XCTAssertTrue(result.stderr.contains("without the ML-SNAP package"), result.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: out.appendingPathComponent("summary.json").path))

        let info = try Toolbox.implicitLammps(["info"], environment: ["LAMMPS_LIBRARY": debian])
        XCTAssertNotEqual(info.status, 0)
        XCTAssertTrue(info.stdout.contains("ML-SNAP: no"), info.stdout)
    }

    func testInfoReportsTheProvisionedLammps() throws {
        let info = try Toolbox.implicitLammps(["info"])
        XCTAssertEqual(info.status, 0, info.stderr)
        for line in ["LAMMPS version: 20250722", "ML-SNAP: yes", "EXTRA-FIX: yes", "MANYBODY: yes", "ranks: 1"] {
            XCTAssertTrue(info.stdout.contains(line), info.stdout)
        }
        XCTAssertTrue(info.stdout.contains("(provisioned)"), info.stdout)
    }

    func testBadOptionValuesAreRejected() throws {
        for extra in [["--box", "sideways"], ["--ftol", "-1"], ["--min-style", "newton"], ["--var", "ncell"]] {
            let (result, _) = try relax(shippedInput, extra)
            XCTAssertNotEqual(result.status, 0, "\(extra)")
            XCTAssertTrue(result.stderr.lowercased().contains("error"), result.stderr)
        }
    }
}
