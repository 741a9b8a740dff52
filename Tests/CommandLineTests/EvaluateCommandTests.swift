import Foundation
import XCTest

/// `implicit-lammps evaluate` end to end through the real command line and real LAMMPS, on the
/// five complete groups of the W–Be training set shipped in inputs/WBe_PRB2019 with their
/// published errors.
final class EvaluateCommandTests: XCTestCase {
    let folder = Toolbox.root.appendingPathComponent("inputs/WBe_PRB2019")

    private func evaluate(_ data: [URL], out: URL) throws -> Toolbox.Result {
        try Toolbox.implicitLammps(["evaluate", "--potential", folder.appendingPathComponent("WBe_pot.snapcoeff").path,
                                    "--snapparam", folder.appendingPathComponent("WBe_pot.snapparam").path,
                                    "--reference", "zbl 4.0 4.8", "--data"] + data.map(\.path) + ["--out", out.path])
    }

    /// group,quantity → (count, mae, rmse) of a metrics CSV.
    private func metrics(_ url: URL) throws -> [String: (Int, Double, Double)] {
        let lines = try String(contentsOf: url, encoding: .utf8).split(separator: "\n").dropFirst()
        return Dictionary(uniqueKeysWithValues: lines.map { line in
            let f = line.split(separator: ",").map(String.init)
            return ("\(f[0]),\(f[1])", (Int(f[2])!, Double(f[3])!, Double(f[4])!))
        })
    }

    private func assertFiveDigits(_ a: Double, _ b: Double, _ what: String, line: UInt = #line) {
        XCTAssertEqual(a, b, accuracy: 5e-5 * abs(b), what, line: line)
    }

    /// The groups shipped whole (the others are samples: their published errors do not apply).
    static let completeGroups = ["BCC_ForceLib_W110", "BCC_ForceLib_W111", "BCC_ForceLib_WOct", "BCC_ForceLib_WTet",
                                 "Divacancy"]

    func testReproducesPublishedErrors() throws {
        let out = try Toolbox.temporaryDirectory(self).appendingPathComponent("evaluate")
        let groups = Self.completeGroups.map { folder.appendingPathComponent("JSON/\($0)") }
        let result = try evaluate(groups, out: out)
        XCTAssertEqual(result.status, 0, result.stderr)
        let ours = try metrics(out.appendingPathComponent("metrics.csv"))
        let published = try metrics(folder.appendingPathComponent("metrics_published.csv"))
        XCTAssertEqual(published.count, 10)
        for (key, (count, mae, rmse)) in published {
            let mine = try XCTUnwrap(ours[key], key)
            XCTAssertEqual(mine.0, count, key)
            assertFiveDigits(mine.1, mae, key + " mae")
            assertFiveDigits(mine.2, rmse, key + " rmse")
        }
        XCTAssertEqual(ours["*ALL,energy"]?.0, 54)
        for name in ["metrics.md", "configurations.csv", "parity_energy.csv", "parity_force.csv", "parity_energy.png",
                     "parity_force.svg", "summary.json"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: out.appendingPathComponent(name).path), name)
        }
        let summary = try Toolbox.json(out.appendingPathComponent("summary.json"))
        XCTAssertEqual(summary["configurations"] as? Int, 54)
        Toolbox.assertPhases(summary, include: ["set_up", "evaluation"])
        XCTAssertEqual((summary["phases"] as? [String: [String: Any]])?["evaluation"]?["force_evaluations"] as? Int, 54)
    }

    /// Two partitions of a 2-rank job share the configurations out and write the serial run's
    /// metrics, byte for byte (each configuration is predicted by one single-rank instance, as serially).
    func testTwoPartitionsWriteTheSerialMetrics() throws {
        let mpiexec = Toolbox.venv.appendingPathComponent("bin/mpiexec").path
        try XCTSkipUnless(FileManager.default.isExecutableFile(atPath: mpiexec), "no MPICH mpiexec in .venv")
        let directory = try Toolbox.temporaryDirectory(self)
        let groups = ["BCC_ForceLib_W111", "Divacancy"].map { folder.appendingPathComponent("JSON/\($0)") }
        let (serial, parallel) = (directory.appendingPathComponent("serial"), directory.appendingPathComponent("parallel"))
        XCTAssertEqual(try evaluate(groups, out: serial).status, 0)
        let run = try Toolbox.run(mpiexec, ["-n", "2", Toolbox.tool, "evaluate",
                                            "--potential", folder.appendingPathComponent("WBe_pot.snapcoeff").path,
                                            "--snapparam", folder.appendingPathComponent("WBe_pot.snapparam").path,
                                            "--reference", "zbl 4.0 4.8", "--partitions", "2", "--data"]
                                  + groups.map(\.path) + ["--out", parallel.path])
        XCTAssertEqual(run.status, 0, run.stderr)
        for name in ["metrics.csv", "configurations.csv", "parity_force.csv"] {
            XCTAssertEqual(try String(contentsOf: serial.appendingPathComponent(name), encoding: .utf8),
                           try String(contentsOf: parallel.appendingPathComponent(name), encoding: .utf8), name)
        }
    }

    /// One configuration's data, as a FitSNAP JSON object to edit.
    private func configuration() throws -> [String: Any] {
        var text = try String(contentsOf: folder.appendingPathComponent("JSON/BCC_ForceLib_W111/W111_Flib_1.json"), encoding: .utf8)
        text = String(text[text.firstIndex(of: "\n")!...])
        let object = try JSONSerialization.jsonObject(with: Data(text.utf8)) as! [String: Any]
        return ((object["Dataset"] as! [String: Any])["Data"] as! [[String: Any]])[0]
    }

    private func write(_ entry: [String: Any], to url: URL, replacing: [String: String] = [:]) throws {
        var text = String(decoding: try JSONSerialization.data(withJSONObject: ["Dataset": ["Data": [entry]]]), as: UTF8.self)
        for (old, new) in replacing { text = text.replacingOccurrences(of: old, with: new) }
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try ("# test data\n" + text).write(to: url, atomically: true, encoding: .utf8)
    }

    /// A general cell (the cubic cell rotated, with its positions and DFT forces) gives the same
    /// errors, from FitSNAP JSON and from an extended XYZ file as ASE writes it.
    func testRotatedCellGivesTheSameErrors() throws {
        let directory = try Toolbox.temporaryDirectory(self)
        let entry = try configuration()
        let (c, s) = (cos(0.7), sin(0.7)), (c2, s2) = (cos(-0.4), sin(-0.4))
        // Rows: v' = v · R, R a rotation about z then about x.
        let rz = [[c, s, 0], [-s, c, 0], [0, 0, 1.0]], rx = [[1.0, 0, 0], [0, c2, s2], [0, -s2, c2]]
        func rotate(_ v: [Double]) -> [Double] {
            let a = (0..<3).map { j in (0..<3).reduce(0) { $0 + v[$1] * rz[$1][j] } }
            return (0..<3).map { j in (0..<3).reduce(0) { $0 + a[$1] * rx[$1][j] } }
        }
        var rotated = entry
        for key in ["Lattice", "Positions", "Forces"] {
            rotated[key] = (entry[key] as! [[Double]]).map(rotate)
        }
        try write(entry, to: directory.appendingPathComponent("plain/a.json"))
        try write(rotated, to: directory.appendingPathComponent("rotated/a.json"))
        let plainOut = directory.appendingPathComponent("out-plain"), rotatedOut = directory.appendingPathComponent("out-rotated")
        XCTAssertEqual(try evaluate([directory.appendingPathComponent("plain")], out: plainOut).status, 0)
        XCTAssertEqual(try evaluate([directory.appendingPathComponent("rotated")], out: rotatedOut).status, 0)
        let lattice = (rotated["Lattice"] as! [[Double]]).flatMap { $0 }.map { "\($0)" }.joined(separator: " ")
        var xyz = ["\(entry["NumAtoms"] as! Int)",
                   "Lattice=\"\(lattice)\" Properties=species:S:1:pos:R:3:forces:R:3 energy=\(entry["Energy"] as! Double) pbc=\"T T T\""]
        for (symbol, (r, f)) in zip(rotated["AtomTypes"] as! [String], zip(rotated["Positions"] as! [[Double]], rotated["Forces"] as! [[Double]])) {
            xyz.append(([symbol] + (r + f).map { "\($0)" }).joined(separator: " "))
        }
        let xyzFile = directory.appendingPathComponent("turned.extxyz"), xyzOut = directory.appendingPathComponent("out-xyz")
        try (xyz.joined(separator: "\n") + "\n").write(to: xyzFile, atomically: true, encoding: .utf8)
        let xyzResult = try evaluate([xyzFile], out: xyzOut)
        XCTAssertEqual(xyzResult.status, 0, xyzResult.stderr)
        let plain = try metrics(plainOut.appendingPathComponent("metrics.csv"))
        let turned = try metrics(rotatedOut.appendingPathComponent("metrics.csv"))
        let fromXYZ = try metrics(xyzOut.appendingPathComponent("metrics.csv"))
        for quantity in ["energy", "force"] {
            let a = plain["plain,\(quantity)"]!
            for b in [turned["rotated,\(quantity)"]!, fromXYZ["turned,\(quantity)"]!] {
                XCTAssertEqual(a.0, b.0)
                XCTAssertEqual(a.1, b.1, accuracy: 1e-5 * a.1, quantity)
                XCTAssertEqual(a.2, b.2, accuracy: 1e-5 * a.2, quantity)
            }
        }
    }

    /// Frames of one extended XYZ file grouped by their `config_type`, and the reference given as
    /// a LAMMPS snippet (`--reference-file`) giving the errors of `--reference "zbl 4.0 4.8"`.
    func testConfigTypeGroupsAndReferenceFile() throws {
        let directory = try Toolbox.temporaryDirectory(self)
        let entry = try configuration()
        try write(entry, to: directory.appendingPathComponent("plain/a.json"))
        let lattice = (entry["Lattice"] as! [[Double]]).flatMap { $0 }.map { "\($0)" }.joined(separator: " ")
        var frames: [String] = []
        for (type, shift) in [("first", 0.0), ("second", 0.01), ("first", -0.01)] {
            frames += ["\(entry["NumAtoms"] as! Int)", """
                Lattice="\(lattice)" Properties=species:S:1:pos:R:3:forces:R:3 energy=\(entry["Energy"] as! Double) \
                config_type=\(type) pbc="T T T"
                """]
            for (index, (symbol, (r, f))) in zip(entry["AtomTypes"] as! [String],
                                                 zip(entry["Positions"] as! [[Double]], entry["Forces"] as! [[Double]])).enumerated() {
                let moved = index == 0 ? r.map { $0 + shift } : r
                frames.append(([symbol] + (moved + f).map { "\($0)" }).joined(separator: " "))
            }
        }
        let xyz = directory.appendingPathComponent("frames.extxyz")
        try (frames.joined(separator: "\n") + "\n").write(to: xyz, atomically: true, encoding: .utf8)
        let grouped = directory.appendingPathComponent("out-grouped")
        let result = try evaluate([xyz], out: grouped)
        XCTAssertEqual(result.status, 0, result.stderr)
        let rows = try metrics(grouped.appendingPathComponent("metrics.csv"))
        XCTAssertEqual(rows["first,energy"]?.0, 2)
        XCTAssertEqual(rows["second,energy"]?.0, 1)
        XCTAssertEqual(rows["*ALL,energy"]?.0, 3)

        let snippet = directory.appendingPathComponent("reference.lammps")
        try """
            pair_style hybrid/overlay zbl 4.0 4.8 snap
            pair_coeff * * snap ${snapcoeff} ${snapparam} ${elements}
            pair_coeff 1 1 zbl 74 74
            pair_coeff 1 2 zbl 74 4
            pair_coeff 2 2 zbl 4 4
            """.write(to: snippet, atomically: true, encoding: .utf8)
        let (zblOut, fileOut) = (directory.appendingPathComponent("out-zbl"), directory.appendingPathComponent("out-file"))
        XCTAssertEqual(try evaluate([directory.appendingPathComponent("plain")], out: zblOut).status, 0)
        let fromFile = try Toolbox.implicitLammps([
            "evaluate", "--potential", folder.appendingPathComponent("WBe_pot.snapcoeff").path,
            "--snapparam", folder.appendingPathComponent("WBe_pot.snapparam").path, "--reference-file", snippet.path,
            "--data", directory.appendingPathComponent("plain").path, "--out", fileOut.path])
        XCTAssertEqual(fromFile.status, 0, fromFile.stderr)
        let (zbl, file) = (try metrics(zblOut.appendingPathComponent("metrics.csv")), try metrics(fileOut.appendingPathComponent("metrics.csv")))
        for key in ["plain,energy", "plain,force"] {
            XCTAssertEqual(zbl[key]!.2, file[key]!.2, accuracy: 1e-12 * zbl[key]!.2, key)
        }
    }

    /// The same periodic crystal described by a strongly tilted cell (b + 2a, c − a − b) gives the
    /// same errors: LAMMPS gets the tilts reduced and the atoms wrapped into the reduced cell.
    func testTiltedCellOfTheSameLatticeGivesTheSameErrors() throws {
        let directory = try Toolbox.temporaryDirectory(self)
        let entry = try configuration()
        var tilted = entry
        let m = entry["Lattice"] as! [[Double]]
        let b = (0..<3).map { m[1][$0] + 2 * m[0][$0] }
        tilted["Lattice"] = [m[0], b, (0..<3).map { m[2][$0] - m[0][$0] - m[1][$0] }]
        try write(entry, to: directory.appendingPathComponent("plain/a.json"))
        try write(tilted, to: directory.appendingPathComponent("tilted/a.json"))
        let outs = ["plain", "tilted"].map { directory.appendingPathComponent("out-\($0)") }
        for (name, out) in zip(["plain", "tilted"], outs) {
            let result = try evaluate([directory.appendingPathComponent(name)], out: out)
            XCTAssertEqual(result.status, 0, result.stderr)
        }
        let (plain, sheared) = (try metrics(outs[0].appendingPathComponent("metrics.csv")), try metrics(outs[1].appendingPathComponent("metrics.csv")))
        for quantity in ["energy", "force"] {
            let (a, t) = (plain["plain,\(quantity)"]!, sheared["tilted,\(quantity)"]!)
            XCTAssertEqual(a.1, t.1, accuracy: 1e-5 * a.1, quantity)
            XCTAssertEqual(a.2, t.2, accuracy: 1e-5 * a.2, quantity)
        }
    }

    /// Bad datasets are refused naming the file, before anything is written to --out.
    func testBadDatasetsRefusedNamingTheFile() throws {
        let directory = try Toolbox.temporaryDirectory(self)
        let entry = try configuration()
        var noEnergy = entry; noEnergy["Energy"] = nil
        var noForces = entry; noForces["Forces"] = nil
        var alien = entry; alien["AtomTypes"] = (entry["AtomTypes"] as! [String]).enumerated().map { $0.offset == 0 ? "Ta" : $0.element }
        var flat = entry; flat["Lattice"] = [[3.0, 0, 0], [0, 3.0, 0], [0, 0, 0.0]]
        let cases: [(String, [String: Any], [String: String], String)] = [
            ("energy", noEnergy, [:], "Energy"), ("forces", noForces, [:], "Forces"), ("element", alien, [:], "Ta"),
            ("nan", entry, ["\"Energy\":": "\"Energy\":NaN,\"x\":"], "JSON"), ("volume", flat, [:], "zero volume"),
        ]
        for (name, data, replacing, reason) in cases {
            let file = directory.appendingPathComponent("\(name)/bad.json")
            try write(data, to: file, replacing: replacing)
            let out = directory.appendingPathComponent("out-\(name)")
            let result = try evaluate([file.deletingLastPathComponent()], out: out)
            XCTAssertNotEqual(result.status, 0, name)
            XCTAssertTrue(result.stderr.contains(file.path), "\(name): \(result.stderr)")
            XCTAssertTrue(result.stderr.contains(reason), "\(name): \(result.stderr)")
            XCTAssertFalse(FileManager.default.fileExists(atPath: out.path), name)
        }
        let empty = directory.appendingPathComponent("empty")
        try FileManager.default.createDirectory(at: empty, withIntermediateDirectories: true)
        let result = try evaluate([empty], out: directory.appendingPathComponent("out-empty"))
        XCTAssertNotEqual(result.status, 0)
        XCTAssertTrue(result.stderr.contains(empty.path), result.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: directory.appendingPathComponent("out-empty").path))

        let xyz = directory.appendingPathComponent("no-energy.extxyz")
        try "1\nLattice=\"3 0 0 0 3 0 0 0 3\" Properties=species:S:1:pos:R:3:forces:R:3\nW 0 0 0 0 0 0\n"
            .write(to: xyz, atomically: true, encoding: .utf8)
        let refused = try evaluate([xyz], out: directory.appendingPathComponent("out-xyz"))
        XCTAssertNotEqual(refused.status, 0)
        XCTAssertTrue(refused.stderr.contains(xyz.path) && refused.stderr.contains("energy"), refused.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: directory.appendingPathComponent("out-xyz").path))
    }
}
