import Foundation
import XCTest

/// `uq` through the command line on a 54-site bcc W cell (shipped SNAP+ZBL) with a synthetic
/// ensemble: the expansion levels against true relaxations, the indicator, unstable members, the
/// native `lmp` check of a member, resume after a kill, MPI, and bad campaign files.
final class UncertaintyCommandTests: XCTestCase {
    private func campaign(in folder: URL, draws: Int, lambdas: String, truth: String, cells: Int = 3, extra: String = "") throws -> URL {
        let potentials = Toolbox.root.appendingPathComponent("potentials")
        let url = folder.appendingPathComponent("uq.yaml")
        try """
            potential: {snapcoeff: \(potentials.path)/W_2940_2017_2.snapcoeff, snapparam: \(potentials.path)/W_2940_2017_2.snapparam}
            vary: {elements: [W]}
            ensemble:
              draws: {count: \(draws), seed: 3, relative_sd: 0.02}
              lambdas: \(lambdas)
            quantity: vacancy_formation
            system: {lattice: bcc, a0: 3.1805, cells: \(cells), box: iso, zbl: [4.0, 4.8]}
            truth: \(truth)
            \(extra)
            """.write(to: url, atomically: true, encoding: .utf8)
        return url
    }

    /// samples.csv as (sample, λ, quantity, level) → (predicted, true, error, indicator, excluded).
    private func samples(_ out: URL) throws -> [String: (predicted: Double, truth: Double?, error: Double?, indicator: Double?, excluded: String)] {
        let lines = try String(contentsOf: out.appendingPathComponent("samples.csv"), encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(lines.first, "sample,lambda,quantity,level,predicted,true,error,indicator,excluded")
        var result: [String: (Double, Double?, Double?, Double?, String)] = [:]
        for line in lines.dropFirst() {
            // The reason of an excluded member is quoted when it holds commas: split off the first 8 fields only.
            let fields = line.split(separator: ",", maxSplits: 8, omittingEmptySubsequences: false).map(String.init)
            XCTAssertEqual(fields.count, 9, String(line))
            let key = "\(fields[0])|\(Double(fields[1])!)|\(fields[2])|\(fields[3])"
            result[key] = (Double(fields[4])!, Double(fields[5]), Double(fields[6]), Double(fields[7]), fields[8])
        }
        return result
    }

    func testLevelsIndicatorUnstableMembersAndNativeCheck() throws {
        let folder = try Toolbox.temporaryDirectory(self)
        let out = folder.appendingPathComponent("out")
        let config = try campaign(in: folder, draws: 3, lambdas: "[0.5, 1, 2, 50]", truth: "all")
        let result = try Toolbox.implicitLammps(["uq", "--config", config.path, "--out", out.path])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stderr.contains("uq: truth 12/12"), result.stderr)
        let rows = try samples(out)
        XCTAssertEqual(rows.count, 3 * 4 * 2 * 4)  // samples × λ × quantities × levels

        // Mean |error| over the samples; h+ih is second order in the energy (third-order error) and
        // exact in the strain to first order, so its error falls faster as λ shrinks.
        func meanError(_ quantity: String, _ level: String, _ lambda: Double) -> Double {
            (0..<3).map { abs(rows["\($0)|\(lambda)|\(quantity)|\(level)"]!.error!) }.reduce(0, +) / 3
        }
        for quantity in ["E_f", "V_f"] {
            let ratio = { (level: String) in meanError(quantity, level, 2) / meanError(quantity, level, 0.5) }
            print("uq \(quantity): error ratio λ 2 / λ 0.5: c \(ratio("c")), h \(ratio("h")), h+ih \(ratio("h+ih"))")
            XCTAssertGreaterThan(ratio("h+ih"), 2 * max(ratio("c"), ratio("h")), quantity)
            for lambda in [0.5, 1, 2] {
                XCTAssertLessThan(meanError(quantity, "h+ih", lambda), min(meanError(quantity, "c", lambda), meanError(quantity, "h", lambda)))
            }
        }
        // The indicator follows the true error of the formation energy (within a factor 2 where the error is resolved).
        for (key, row) in rows where key.hasSuffix("|E_f|h+ih") && row.excluded.isEmpty {
            let (error, indicator) = (abs(row.error!), row.indicator!)
            if error > 1e-5 { XCTAssertEqual(log(indicator / error), 0, accuracy: log(2.0), key) }
        }
        // λ = 50 destroys the crystal: every such member is excluded with its reason, and out of the statistics.
        for sample in 0..<3 {
            let row = rows["\(sample)|50.0|E_f|h+ih"]!
            XCTAssertFalse(row.excluded.isEmpty, "sample \(sample) at λ 50 was used")
            XCTAssertNil(row.truth)
        }
        let summary = try Toolbox.json(out.appendingPathComponent("summary.json"))
        Toolbox.assertPhases(summary, include: ["set_up", "reference", "indicators", "truth"])
        XCTAssertEqual((summary["excluded"] as! [[String: Any]]).count, 3)
        let statistics = summary["statistics"] as! [[String: Any]]
        let fifty = statistics.first { $0["lambda"] as? Double == 50 && $0["quantity"] as? String == "E_f" && $0["level"] as? String == "h+ih" }!
        XCTAssertNil(fifty["predicted"])
        XCTAssertEqual(fifty["excluded"] as? Int, 3)
        let cost = summary["cost"] as! [String: Any]
        XCTAssertGreaterThan(cost["truth_force_evaluations_per_member"] as! Double, cost["prediction_force_evaluations_per_member"] as! Double)
        if FileManager.default.fileExists(atPath: Toolbox.venv.appendingPathComponent("bin/python").path) {
            try Toolbox.assertFigure(out, "band_E_f", says: ["E_f: mean and 16–84 % band over the ensemble",
                                                               "perturbation magnitude λ", "E_f (eV)", "true relaxations"])
            try Toolbox.assertFigure(out, "errors_V_f", says: ["V_f: error of each expansion level", "true change of V_f (Å³)",
                                                                "prediction error (Å³)", "h+ih"])
            XCTAssertEqual((summary["figures"] as? [String: String])?["errors_V_f"], "drawn")
        }
        for name in ["band_E_f.csv", "errors_E_f.csv", "truth.csv", "bulk.lammps", "vacancy.lammps"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: out.appendingPathComponent(name).path), name)
        }

        // Member (1, λ 2) relaxed by the native lmp with the potential uq wrote for it.
        var native: [String: (Double, Double)] = [:]
        for system in ["bulk", "vacancy"] {
            let coefficients = out.appendingPathComponent("truth/s0001_l2/W_2940_2017_2.snapcoeff").path
            let input = try String(contentsOf: out.appendingPathComponent("\(system).lammps"), encoding: .utf8)
                .replacingOccurrences(of: Toolbox.root.appendingPathComponent("potentials/W_2940_2017_2.snapcoeff").path, with: coefficients)
            let script = folder.appendingPathComponent("\(system)_native.lammps")
            try (input + """
                thermo_modify norm no
                fix relax all box/relax iso 0.0
                minimize 0 1e-10 100000 1000000
                print "RESULT $(pe:%.12f) $(vol:%.12f)"
                """).write(to: script, atomically: true, encoding: .utf8)
            let run = try Toolbox.nativeLammps(input: script, in: folder)
            XCTAssertEqual(run.status, 0, run.stdout)
            let words = run.stdout.split(separator: "\n").last { $0.hasPrefix("RESULT") }!.split(separator: " ")
            native[system] = (Double(words[1])!, Double(words[2])!)
        }
        let formation = native["vacancy"]!.0 - 53.0 / 54.0 * native["bulk"]!.0
        let volume = native["vacancy"]!.1 - 53.0 / 54.0 * native["bulk"]!.1
        XCTAssertEqual(rows["1|2.0|E_f|h+ih"]!.truth!, formation, accuracy: 1e-5)
        XCTAssertEqual(rows["1|2.0|V_f|h+ih"]!.truth!, volume, accuracy: 2e-3)
    }

    func testResumeAfterAKillAndTwoRanksRepeatTheSerialRun() throws {
        let folder = try Toolbox.temporaryDirectory(self)
        // The 16-site cell: what is compared here is the runs with each other, not with physics.
        let config = try campaign(in: folder, draws: 2, lambdas: "[1, 3]", truth: "all", cells: 2)
        let whole = folder.appendingPathComponent("whole"), resumed = folder.appendingPathComponent("resumed")
        let first = try Toolbox.implicitLammps(["uq", "--config", config.path, "--out", whole.path])
        XCTAssertEqual(first.status, 0, first.stderr)
        let killed = try Toolbox.runKilled(Toolbox.tool, ["uq", "--config", config.path, "--out", resumed.path],
                                           when: "uq: truth 2/")
        XCTAssertNotEqual(killed.status, 0)
        XCTAssertFalse(FileManager.default.fileExists(atPath: resumed.path))
        let changed = try campaign(in: folder.appendingPathComponent("changed", isDirectory: true).creatingDirectory(),
                                   draws: 2, lambdas: "[1, 4]", truth: "all", cells: 2)
        let refused = try Toolbox.implicitLammps(["uq", "--config", changed.path, "--out", resumed.path, "--resume"])
        XCTAssertNotEqual(refused.status, 0)
        XCTAssertTrue(refused.stderr.contains("its configuration changed"), refused.stderr)
        let result = try Toolbox.implicitLammps(["uq", "--config", config.path, "--out", resumed.path, "--resume"])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stderr.contains("2 true relaxations done"), result.stderr)
        XCTAssertTrue(result.stderr.contains("uq: truth 2/2"), result.stderr)
        let (a, b) = (try samples(whole), try samples(resumed))
        XCTAssertEqual(a.count, b.count)
        for (key, row) in a {
            XCTAssertEqual(row.predicted, b[key]!.predicted, key)
            XCTAssertEqual(row.truth, b[key]!.truth, key)
        }

        let mpiexec = Toolbox.venv.appendingPathComponent("bin/mpiexec").path
        try XCTSkipUnless(FileManager.default.isExecutableFile(atPath: mpiexec), "no MPICH mpiexec in .venv")
        // All ranks on each relaxation (domain decomposition), then two partitions taking alternate members.
        for (name, extra) in [("parallel", [String]()), ("partitions", ["--partitions", "2"])] {
            let parallel = folder.appendingPathComponent(name)
            let run = try Toolbox.run(mpiexec, ["-n", "2", Toolbox.tool, "uq", "--config", config.path, "--out", parallel.path] + extra)
            XCTAssertEqual(run.status, 0, run.stderr)
            let c = try samples(parallel)
            XCTAssertEqual(c.count, a.count, name)
            for (key, row) in a {
                XCTAssertEqual(row.predicted, c[key]!.predicted, accuracy: 1e-7 * max(abs(row.predicted), 1), "\(name) \(key)")
                XCTAssertEqual(row.truth!, c[key]!.truth!, accuracy: 1e-7 * max(abs(row.truth!), 1), "\(name) \(key)")
                // An estimate built on the derivative, which the ranks reproduce to the solver's tolerance.
                XCTAssertEqual(row.indicator!, c[key]!.indicator!, accuracy: 1e-3 * max(abs(row.indicator!), 1e-6), "\(name) \(key)")
            }
            for member in ["s0000_l1", "s0001_l1", "s0000_l3", "s0001_l3"] {
                XCTAssertTrue(FileManager.default.fileExists(atPath: parallel.appendingPathComponent("truth/\(member)").path), "\(name) \(member)")
            }
        }
    }

    /// Killed (SIGKILL) after the first true relaxation and resumed: every output byte-identical
    /// to the uninterrupted run's (wall-clock times aside), figures included. The bulk system's
    /// elastic check leaves LAMMPS's box triclinic; the first member relaxed after a restart used
    /// to start from an orthogonal one and differ in the last digit of its energy.
    func testResumedTruthWritesTheSameBytes() throws {
        let folder = try Toolbox.temporaryDirectory(self)
        let config = try campaign(in: folder, draws: 2, lambdas: "[1, 3]", truth: "all", cells: 2)
        let whole = folder.appendingPathComponent("whole"), resumed = folder.appendingPathComponent("resumed")
        XCTAssertEqual(try Toolbox.implicitLammps(["uq", "--config", config.path, "--out", whole.path]).status, 0)
        try Toolbox.killAndResume("uq", config: config, killWhen: "uq: truth 1/", out: resumed)
        try Toolbox.assertSameOutputs(whole, resumed)
    }

    /// Two partitions (mpiexec -n 2 --partitions 2), killed once the first partition reports its
    /// first true relaxation (the other may be anywhere), resumed on two partitions: the uninterrupted partitioned run's
    /// bytes. Without truth, a campaign killed wherever it is starts afresh on --resume and ends
    /// with the same bytes too.
    func testPartitionedAndTruthlessCampaignsResumeToTheSameBytes() throws {
        let folder = try Toolbox.temporaryDirectory(self)
        let mpiexec = Toolbox.venv.appendingPathComponent("bin/mpiexec").path
        try XCTSkipUnless(FileManager.default.isExecutableFile(atPath: mpiexec), "no MPICH mpiexec in .venv")
        let config = try campaign(in: folder, draws: 2, lambdas: "[1, 3]", truth: "all", cells: 2)
        let partitioned = ["-n", "2", Toolbox.tool, "uq", "--config", config.path, "--partitions", "2", "--out"]
        let whole = folder.appendingPathComponent("whole"), resumed = folder.appendingPathComponent("resumed")
        XCTAssertEqual(try Toolbox.run(mpiexec, partitioned + [whole.path]).status, 0)
        let killed = try Toolbox.runKilled(mpiexec, partitioned + [resumed.path], when: "uq: truth 1/")
        XCTAssertNotEqual(killed.status, 0)
        let result = try Toolbox.run(mpiexec, partitioned + [resumed.path, "--resume"])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stderr.contains("resuming"), result.stderr)
        try Toolbox.assertSameOutputs(whole, resumed)

        try FileManager.default.createDirectory(at: folder.appendingPathComponent("none"), withIntermediateDirectories: true)
        let truthless = try campaign(in: folder.appendingPathComponent("none"), draws: 2, lambdas: "[1, 3]", truth: "none", cells: 2)
        let plain = folder.appendingPathComponent("plain"), again = folder.appendingPathComponent("again")
        XCTAssertEqual(try Toolbox.implicitLammps(["uq", "--config", truthless.path, "--out", plain.path]).status, 0)
        let victim = Process()
        victim.executableURL = URL(fileURLWithPath: Toolbox.tool)
        victim.arguments = ["uq", "--config", truthless.path, "--out", again.path]
        victim.standardError = FileHandle.nullDevice
        try victim.run()
        // Killed once the run has written its first file, wherever it then is.
        let staging = again.path + ".incomplete"
        let deadline = Date().addingTimeInterval(30)
        while ((try? FileManager.default.contentsOfDirectory(atPath: staging)) ?? []).isEmpty, victim.isRunning, Date() < deadline {
            Thread.sleep(forTimeInterval: 0.005)
        }
        kill(victim.processIdentifier, SIGKILL)
        victim.waitUntilExit()
        XCTAssertEqual(victim.terminationReason, .uncaughtSignal, "the run ended before it could be killed")
        XCTAssertFalse(FileManager.default.fileExists(atPath: again.path))
        let continued = try Toolbox.implicitLammps(["uq", "--config", truthless.path, "--out", again.path, "--resume"])
        XCTAssertEqual(continued.status, 0, continued.stderr)
        try Toolbox.assertSameOutputs(plain, again)
        // Without true relaxations there is nothing to draw errors against: no empty frames, said why.
        for quantity in ["E_f", "V_f"] {
            try Toolbox.assertFigure(plain, "band_\(quantity)", says: ["\(quantity): mean and 16–84 % band over the ensemble"])
            for suffix in ["png", "svg"] {
                XCTAssertFalse(FileManager.default.fileExists(atPath: plain.appendingPathComponent("errors_\(quantity).\(suffix)").path))
            }
        }
        let figures = try Toolbox.json(plain.appendingPathComponent("summary.json"))["figures"] as? [String: String]
        XCTAssertEqual(figures?["errors_E_f"], "not drawn: no true relaxations to compare with (the campaign's truth is none)")
        XCTAssertTrue(continued.stderr.contains("errors_E_f: not drawn: no true relaxations"), continued.stderr)
    }

    func testBadCampaignFilesAreRefusedBeforeLAMMPSRuns() throws {
        let folder = try Toolbox.temporaryDirectory(self)
        let out = folder.appendingPathComponent("out")
        try "1 2 3\n".write(to: folder.appendingPathComponent("narrow.txt"), atomically: true, encoding: .utf8)
        let row = (0..<55).map { _ in "0.1" }
        try (row.joined(separator: " ") + "\n" + row.dropLast().joined(separator: " ") + " abc\n")
            .write(to: folder.appendingPathComponent("garbled.txt"), atomically: true, encoding: .utf8)
        let base = try String(contentsOf: try campaign(in: folder, draws: 2, lambdas: "[1]", truth: "none"), encoding: .utf8)
        let samplesEnsemble = "ensemble:\n  samples: narrow.txt\n  lambdas: [1]"
        let drawn = "ensemble:\n  draws: {count: 2, seed: 3, relative_sd: 0.02}\n  lambdas: [1]"
        // The ensemble's width is Θ's, known once the potential is loaded; the rest is checked before LAMMPS starts.
        let cases: [(String, String)] = [
            (base.replacingOccurrences(of: drawn, with: samplesEnsemble), "narrow.txt:1: 3 numbers where 55 are needed"),
            (base.replacingOccurrences(of: drawn, with: samplesEnsemble.replacingOccurrences(of: "narrow", with: "garbled")),
             "garbled.txt:2: 'abc' is not a finite number"),
            (base.replacingOccurrences(of: "quantity: vacancy_formation", with: "quantities:\n  - {name: E, energy: {bulk: 1, vacancyy: -1}}"),
             "quantities[0].energy names system 'vacancyy'"),
            (base.replacingOccurrences(of: "quantity: vacancy_formation", with: "quantities:\n  - {name: E, energy: {bulk: 1}}\n  - {name: E, volume: {bulk: 1}}"),
             "two quantities are named 'E'"),
            (base.replacingOccurrences(of: "truth: none", with: "truth: some"), "'truth'"),
            (base.replacingOccurrences(of: "lambdas: [1]", with: "lambdas: [1]\n  lamdbas: [2]"), "unknown key 'ensemble.lamdbas'"),
        ]
        for (index, (text, message)) in cases.enumerated() {
            let config = folder.appendingPathComponent("bad.yaml")
            try text.write(to: config, atomically: true, encoding: .utf8)
            let result = try Toolbox.implicitLammps(["uq", "--config", config.path, "--out", out.path])
            XCTAssertNotEqual(result.status, 0, message)
            XCTAssertTrue(result.stderr.contains(message), "expected '\(message)' in: \(result.stderr)")
            if index >= 2 { XCTAssertFalse(result.stderr.contains("uq: system"), "LAMMPS started before the file was refused: \(message)") }
            XCTAssertFalse(FileManager.default.fileExists(atPath: out.path))
        }
    }
}

private extension URL {
    func creatingDirectory() throws -> URL {
        try FileManager.default.createDirectory(at: self, withIntermediateDirectories: true)
        return self
    }
}
