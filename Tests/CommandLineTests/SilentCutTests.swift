import Atomistics
import Foundation
import XCTest

/// No silent no-op, no silent cut: inputs that used to run to exit 0 doing nothing, dropping data
/// or failing late with a raw encoder error are refused with the reason, before any relaxation;
/// a structure that relaxes far from its start is judged by itself, not refused for the distance.
final class SilentCutTests: XCTestCase {
    let root = Toolbox.root
    private func path(_ relative: String) -> String { root.appendingPathComponent(relative).path }

    /// A Si vacancy fit campaign (63 atoms) in `folder`, its target the minimum with SW's σ = `sigma`
    /// (the start has 2.0951; a target made once per folder).
    private func siliconCampaign(in folder: URL, sigma: String = "2.0951", _ body: String) throws -> URL {
        if !FileManager.default.fileExists(atPath: folder.appendingPathComponent("target").path) {
            try Toolbox.siliconVacancyTarget(in: folder, sigma: sigma)
        }
        let campaign = folder.appendingPathComponent("campaign.yaml")
        try body.write(to: campaign, atomically: true, encoding: .utf8)
        return campaign
    }

    private func assertRefused(_ arguments: [String], saying message: String, out: URL,
                               file: StaticString = #filePath, line: UInt = #line) throws {
        let result = try Toolbox.implicitLammps(arguments + ["--out", out.path])
        XCTAssertEqual(result.status, 1, result.stderr, file: file, line: line)
        XCTAssertTrue(result.stderr.contains(message), result.stderr, file: file, line: line)
        XCTAssertFalse(result.stderr.contains("relaxing"), "refused only after a relaxation: \(result.stderr)", file: file, line: line)
        XCTAssertFalse(FileManager.default.fileExists(atPath: out.path), file: file, line: line)
    }

    func testFitCampaignsThatWouldDoNothingOrReadANaNAreRefusedFirst() throws {
        let folder = try Toolbox.temporaryDirectory(self)
        let system = """
            systems:
              - name: vacancy
                input: start.lammps
                lammps_args: ["-var", "ncell", "2"]
                target: {structure: TARGET}
            loop: {iterations: 2}
            """
        let empty = try siliconCampaign(in: folder, "vary: {fields: []}\n"
                                        + system.replacingOccurrences(of: "TARGET", with: "target/relaxed.data"))
        try assertRefused(["fit", "--config", empty.path], saying: "vary.fields is an empty list",
                          out: folder.appendingPathComponent("o1"))
        try "1 0\n0 1\n".write(to: folder.appendingPathComponent("all.txt"), atomically: true, encoding: .utf8)
        try ("vary: {fields: [\"Si,Si,Si:sigma\", \"Si,Si,Si:B\"]}\nconstraints: all.txt\n"
             + system.replacingOccurrences(of: "TARGET", with: "target/relaxed.data"))
            .write(to: empty, atomically: true, encoding: .utf8)
        try assertRefused(["fit", "--config", empty.path], saying: "the 2 constraint rows hold all 2 parameters of Θ fixed",
                          out: folder.appendingPathComponent("o2"))
        // A target with a NaN coordinate: named with its file and line before anything relaxes.
        let data = try String(contentsOf: folder.appendingPathComponent("target/relaxed.data"), encoding: .utf8)
        var lines = data.components(separatedBy: "\n")
        let atoms = lines.firstIndex { $0.hasPrefix("Atoms") }!
        var words = lines[atoms + 2].split(separator: " ").map(String.init)
        words[3] = "nan"
        lines[atoms + 2] = words.joined(separator: " ")
        try lines.joined(separator: "\n").write(to: folder.appendingPathComponent("nan.data"), atomically: true, encoding: .utf8)
        try ("vary: {fields: [\"Si,Si,Si:sigma\"]}\n" + system.replacingOccurrences(of: "TARGET", with: "nan.data"))
            .write(to: empty, atomically: true, encoding: .utf8)
        try assertRefused(["fit", "--config", empty.path],
                          saying: "nan.data:\(atoms + 3): atom \(words[0]) has a coordinate that is not a finite number",
                          out: folder.appendingPathComponent("o3"))
    }

    /// create_atoms numbers atoms by the domain decomposition: a target made on one rank pairs the
    /// wrong atoms on two. That is refused, with how to fix the input; check_pairing: false overrides.
    func testATargetWhoseAtomIDsNameOtherAtomsIsRefusedUnderMPI() throws {
        let folder = try Toolbox.temporaryDirectory(self)
        let body = """
            vary: {fields: ["Si,Si,Si:sigma"]}
            systems:
              - name: vacancy
                input: start.lammps
                lammps_args: ["-var", "ncell", "2"]
                target: {structure: target/relaxed.data CHECK}
            loop: {iterations: 1}
            """
        let campaign = try siliconCampaign(in: folder, body.replacingOccurrences(of: " CHECK", with: ""))
        let mpiexec = Toolbox.venv.appendingPathComponent("bin/mpiexec").path
        let out = folder.appendingPathComponent("o1")
        let refused = try Toolbox.run(mpiexec, ["-n", "2", Toolbox.tool, "fit", "--config", campaign.path, "--out", out.path])
        XCTAssertNotEqual(refused.status, 0)
        XCTAssertTrue(refused.stderr.contains("pairing the target's atoms with the input's by atom ID is not trustworthy"),
                      refused.stderr)
        XCTAssertTrue(refused.stderr.contains("This run has 2 MPI ranks"), refused.stderr)
        XCTAssertTrue(refused.stderr.contains("systems[vacancy].target.check_pairing: false"), refused.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: out.path))
        try body.replacingOccurrences(of: " CHECK", with: ", check_pairing: false").write(to: campaign, atomically: true, encoding: .utf8)
        let overridden = try Toolbox.run(mpiexec, ["-n", "2", Toolbox.tool, "fit", "--config", campaign.path,
                                                   "--out", folder.appendingPathComponent("o2").path])
        XCTAssertEqual(overridden.status, 0, overridden.stderr)
        XCTAssertTrue(overridden.stderr.contains("from its target"), overridden.stderr)
        // One rank numbers the atoms as the target's run did: no refusal, no warning.
        let serial = try Toolbox.implicitLammps(["fit", "--config", campaign.path, "--out", folder.appendingPathComponent("o3").path])
        XCTAssertEqual(serial.status, 0, serial.stderr)
        XCTAssertFalse(serial.stderr.contains("from its target"), serial.stderr)
    }

    /// A fixed step far too long: with the paper's Algorithm 1 (backtrack: false) the re-relaxed
    /// structure rearranges and the true loss lands far above the prediction — said at once, in
    /// history.csv (true_over_predicted) and in summary.json; by default (relax_each) such steps
    /// are halved and the true loss never rises.
    func testRunawayStepsAreLoudAndBacktrackedByDefault() throws {
        let folder = try Toolbox.temporaryDirectory(self)
        func run(_ backtrack: String) throws -> (Toolbox.Result, [[String]], [String: Any]) {
            let campaign = try siliconCampaign(in: folder, sigma: "2.1051", """
                vary: {fields: ["Si,Si,Si:sigma", "Si,Si,Si:B"]}
                systems:
                  - name: vacancy
                    input: start.lammps
                    lammps_args: ["-var", "ncell", "2"]
                    target: {structure: target/relaxed.data}
                loop: {iterations: 2, step: 1e9, relax_each: true\(backtrack)}
                """)
            let out = folder.appendingPathComponent("out\(backtrack.count)")
            let result = try Toolbox.implicitLammps(["fit", "--config", campaign.path, "--out", out.path])
            XCTAssertEqual(result.status, 0, result.stderr)
            let rows = try String(contentsOf: out.appendingPathComponent("history.csv"), encoding: .utf8)
                .split(separator: "\n").map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
            return (result, rows, try Toolbox.json(out.appendingPathComponent("summary.json")))
        }
        let (paper, rows, summary) = try run(", backtrack: false")
        let ratio = rows[0].firstIndex(of: "true_over_predicted")!
        XCTAssertGreaterThan(Double(rows[2][ratio])!, 3.0)
        XCTAssertTrue(paper.stderr.contains("WARNING: iteration 1: the true loss"), paper.stderr)
        XCTAssertTrue(paper.stderr.contains("left the range where the linear prediction holds"), paper.stderr)
        XCTAssertFalse((summary["runaway_steps"] as! [String]).isEmpty)
        let (backtracked, safe, safeSummary) = try run("")
        XCTAssertFalse(backtracked.stderr.contains("WARNING"), backtracked.stderr)
        XCTAssertTrue(backtracked.stderr.contains("step halved"), backtracked.stderr)
        XCTAssertEqual((safeSummary["runaway_steps"] as! [String]).count, 0)
        let loss = safe[0].firstIndex(of: "loss_relaxed")!
        for row in 2..<safe.count where safe[row].count > loss {
            XCTAssertLessThanOrEqual(Double(safe[row][loss])!, Double(safe[row - 1][loss])!)
        }
    }

    func testEnsemblesThatAreEmptyOrWhoseMeanHasManyRowsAreRefused() throws {
        let folder = try Toolbox.temporaryDirectory(self)
        let coefficients = try String(contentsOf: root.appendingPathComponent("potentials/W_2940_2017_2.snapcoeff"), encoding: .utf8)
        // The 55 coefficients after beta0, as the file lists them.
        let theta = coefficients.components(separatedBy: "\n").compactMap { line -> Double? in
            let words = line.split(separator: " ")
            return words.count == 1 ? Double(words[0]) : nil
        }.dropFirst()
        XCTAssertEqual(theta.count, 55)
        let row = theta.map { "\($0)" }.joined(separator: " ")
        try "\(row)\n\(row)\n".write(to: folder.appendingPathComponent("mean.txt"), atomically: true, encoding: .utf8)
        try NPY.write([Double](), shape: [0, 55], to: folder.appendingPathComponent("empty.npy"))
        try NPY.write(Array(theta), shape: [1, 55], to: folder.appendingPathComponent("one.npy"))
        func campaign(samples: String, mean: String?) throws -> URL {
            let url = folder.appendingPathComponent("uq.yaml")
            try """
                potential: {snapcoeff: \(path("potentials/W_2940_2017_2.snapcoeff")), snapparam: \(path("potentials/W_2940_2017_2.snapparam"))}
                ensemble: {samples: \(samples)\(mean.map { ", mean: \($0)" } ?? "")}
                quantity: vacancy_formation
                system: {lattice: bcc, a0: 3.1805, cells: 2, box: fixed}
                """.write(to: url, atomically: true, encoding: .utf8)
            return url
        }
        try assertRefused(["uq", "--config", try campaign(samples: "one.npy", mean: "mean.txt").path],
                          saying: "ensemble.mean: \(folder.appendingPathComponent("mean.txt").path) holds 2 rows; the mean Θ̄ is one row",
                          out: folder.appendingPathComponent("o1"))
        try assertRefused(["uq", "--config", try campaign(samples: "empty.npy", mean: nil).path],
                          saying: "empty.npy: an array of shape [0, 55] where one or more rows of 55 parameters",
                          out: folder.appendingPathComponent("o2"))
    }

    func testAnEmptyPerturbedPotentialIsRefused() throws {
        let folder = try Toolbox.temporaryDirectory(self)
        for (value, message) in [("", "--perturbed is empty"), (folder.path, "is a folder")] {
            let result = try Toolbox.implicitLammps(["predict", "--input", path("inputs/W_vacancy.lammps"), "--var", "ncell=2",
                                                     "--perturbed", value, "--out", folder.appendingPathComponent("o").path])
            XCTAssertNotEqual(result.status, 0)
            XCTAssertTrue(result.stderr.contains(message), result.stderr)
        }
    }

    /// Diamond Si started at a0 = 7.0 Å halves its volume on its way to 5.431 Å: a correct
    /// relaxation, not a collapse. Started at 20 Å, no atom feels another: that is refused.
    func testElasticJudgesTheRelaxedStructureNotItsDistanceFromTheStart() throws {
        let folder = try Toolbox.temporaryDirectory(self)
        let arguments = ["elastic", "--input", path("inputs/Si_diamond.lammps"), "--vary", "Si,Si,Si:epsilon,lambda"]
        let expanded = try Toolbox.implicitLammps(arguments + ["--var", "a0=7.0", "--out", folder.appendingPathComponent("c").path])
        XCTAssertEqual(expanded.status, 0, expanded.stderr)
        let volume = try XCTUnwrap(try Toolbox.json(folder.appendingPathComponent("c/elastic.json"))["volume"] as? Double)
        XCTAssertEqual(pow(volume, 1.0 / 3), 5.431, accuracy: 2e-3)
        let apart = try Toolbox.implicitLammps(arguments + ["--var", "a0=20", "--out", folder.appendingPathComponent("a").path])
        XCTAssertEqual(apart.status, 1)
        XCTAssertTrue(apart.stderr.contains("the structure fell apart: no atom interacts with another"), apart.stderr)
    }
}
