import Foundation
import LinearAlgebra
import Workflows
import XCTest

/// `fit` with `loop.step: gauss-newton` and with a training term, through the command line and
/// real LAMMPS.
final class FitTrainingCommandTests: XCTestCase {
    static let folder = Toolbox.root.appendingPathComponent("inputs/WBe_PRB2019")

    /// history.csv as rows of named columns.
    private func history(_ out: URL) throws -> [[String: String]] {
        let lines = try String(contentsOf: out.appendingPathComponent("history.csv"), encoding: .utf8).split(separator: "\n")
        let columns = lines[0].split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        return lines.dropFirst().map { line in
            Dictionary(uniqueKeysWithValues: zip(columns, line.split(separator: ",", omittingEmptySubsequences: false).map(String.init)))
        }
    }

    /// The shipped W vacancy with its exactly reachable target: Gauss–Newton takes the true loss
    /// below 1e-4 of the start within 5 iterations (Algorithm 1: 3e-2 of it after 20), and no
    /// accepted step raises it.
    func testGaussNewtonReachesTheVacancyTarget() throws {
        let folder = try Toolbox.temporaryDirectory(self)
        let shipped = try String(contentsOf: Toolbox.root.appendingPathComponent("inputs/fit_W_vacancy.yaml"), encoding: .utf8)
        let config = folder.appendingPathComponent("campaign.yaml")
        try shipped.replacingOccurrences(of: "input: W_vacancy.lammps", with: "input: \(Toolbox.root.path)/inputs/W_vacancy.lammps")
            .replacingOccurrences(of: "structure: W_vacancy_target.data", with: "structure: \(Toolbox.root.path)/inputs/W_vacancy_target.data")
            .replacingOccurrences(of: "loop: {iterations: 20, step: adaptive, relax_each: true, tolerance: 1e-7}",
                                  with: "loop: {iterations: 5, step: gauss-newton, tolerance: 1e-9}")
            .write(to: config, atomically: true, encoding: .utf8)
        let out = folder.appendingPathComponent("out")
        let result = try Toolbox.implicitLammps(["fit", "--config", config.path, "--out", out.path])
        XCTAssertEqual(result.status, 0, result.stderr)
        let rows = try history(out)
        let losses = rows.map { Double($0["loss_relaxed"]!)! }
        print("gauss-newton W vacancy: true losses \(losses), damping \(rows.map { $0["damping"]! })")
        XCTAssertLessThanOrEqual(rows.count, 6)
        XCTAssertLessThan(losses.last!, 1e-4 * losses[0], "true losses \(losses)")
        for k in 1..<losses.count { XCTAssertLessThanOrEqual(losses[k], losses[k - 1], "true losses \(losses)") }
        XCTAssertEqual(rows[1]["rejections"], "0")
        XCTAssertNotNil(Double(rows[1]["damping"]!))
        let settings = try Toolbox.json(out.appendingPathComponent("summary.json"))["settings"] as! [String: Any]
        XCTAssertEqual(settings["rule"] as? String, "gauss-newton")
    }

    /// `loop.explore: 1` through the command line: iteration 1 takes Algorithm 1's step (no
    /// damping in its history row), iteration 2 Gauss–Newton's, and the summary records the key.
    func testExploringIterationComesFirst() throws {
        let folder = try Toolbox.temporaryDirectory(self)
        let shipped = try String(contentsOf: Toolbox.root.appendingPathComponent("inputs/fit_W_vacancy.yaml"), encoding: .utf8)
        let config = folder.appendingPathComponent("campaign.yaml")
        try shipped.replacingOccurrences(of: "input: W_vacancy.lammps", with: "input: \(Toolbox.root.path)/inputs/W_vacancy.lammps")
            .replacingOccurrences(of: "structure: W_vacancy_target.data", with: "structure: \(Toolbox.root.path)/inputs/W_vacancy_target.data")
            .replacingOccurrences(of: "loop: {iterations: 20, step: adaptive, relax_each: true, tolerance: 1e-7}",
                                  with: "loop: {iterations: 2, step: gauss-newton, explore: 1, tolerance: 1e-9}")
            .write(to: config, atomically: true, encoding: .utf8)
        let out = folder.appendingPathComponent("out")
        let result = try Toolbox.implicitLammps(["fit", "--config", config.path, "--out", out.path])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stderr.contains("iteration 1 explores (loop.explore)"), result.stderr)
        let rows = try history(out)
        XCTAssertEqual(rows.count, 3)
        XCTAssertNil(Double(rows[1]["damping"]!), "iteration 1 is Algorithm 1's: \(rows[1])")
        XCTAssertNotNil(Double(rows[2]["damping"]!), "iteration 2 is Gauss–Newton's: \(rows[2])")
        XCTAssertLessThan(Double(rows[2]["loss_relaxed"]!)!, Double(rows[1]["loss_relaxed"]!)!)
        let settings = try Toolbox.json(out.appendingPathComponent("summary.json"))["settings"] as! [String: Any]
        XCTAssertEqual(settings["explore"] as? Int, 1)
    }

    /// A campaign with only a training term (no system) on linear SNAP lands on the weighted
    /// least-squares fit of the data's rows over the varied coefficients — solved here
    /// independently, by an SVD of the stacked rows — and evaluates its final potential.
    func testTrainingOnlyCampaignReachesTheLeastSquaresFit() throws {
        let folder = try Toolbox.temporaryDirectory(self)
        let data = Self.folder.appendingPathComponent("JSON/Divacancy").path
        let config = folder.appendingPathComponent("campaign.yaml")
        try """
            potential: {snapcoeff: \(Self.folder.path)/WBe_pot.snapcoeff, snapparam: \(Self.folder.path)/WBe_pot.snapparam}
            vary: {elements: [W]}
            training: {data: [\(data)], groups: \(Self.folder.path)/groups.csv, reference: zbl 4.0 4.8, weight: 2}
            loop: {iterations: 4, step: gauss-newton}
            """.write(to: config, atomically: true, encoding: .utf8)
        let out = folder.appendingPathComponent("out")
        let result = try Toolbox.implicitLammps(["fit", "--config", config.path, "--out", out.path])
        XCTAssertEqual(result.status, 0, result.stderr)

        // The independent solve: every configuration's rows, weighted, stacked and fitted by dgelsd.
        let weights = try GroupWeights(contentsOf: Self.folder.appendingPathComponent("groups.csv")).weights(of: "Divacancy")
        var rows: [[Double]] = [], residuals: [Double] = []
        let term = try TrainingTermReduction(
            snapcoeff: Self.folder.appendingPathComponent("WBe_pot.snapcoeff"),
            snapparam: Self.folder.appendingPathComponent("WBe_pot.snapparam"), varyingElements: ["W"],
            reference: .zbl(inner: 4.0, outer: 4.8), datasets: [data]
        ).reduce { configuration in
            for (a, r0, w) in [(configuration.energy, configuration.energyResiduals, weights.energy),
                               (configuration.force, configuration.forceResiduals, weights.force)] {
                rows += (0..<a.rows).map { i in (0..<a.columns).map { w * a[i, $0] } }
                residuals += r0.map { w * $0 }
            }
        }
        let (step, _, _) = try LAPACK.leastSquares(Matrix(rows: rows), Matrix(rows: residuals.count, columns: 1,
                                                                               storage: residuals.map { -$0 }))
        let optimum = zip(term.theta0, step.storage).map { $0 + $1 }
        let summary = try Toolbox.json(out.appendingPathComponent("summary.json"))
        let fitted = summary["theta_final"] as! [Double]
        let difference = norm(zip(fitted, optimum).map { $0 - $1 }) / norm(optimum)
        print(String(format: "training-only fit: ‖Θ_fit − Θ_lstsq‖/‖Θ_lstsq‖ = %.2e after %d iterations", difference,
                     summary["iterations"] as! Int))
        XCTAssertLessThan(difference, 1e-7)

        // History: the training loss and each group's RMSE per iteration; the errors before and
        // after, the final ones from a real evaluate of final.snapcoeff.
        let history = try history(out)
        XCTAssertNotNil(Double(history[0]["training_loss"]!))
        XCTAssertNotNil(Double(history.last!["rmse_force_Divacancy"]!))
        let report = summary["training"] as! [String: Any]
        XCTAssertNil(report["warning"], "evaluate disagrees with the training term: \(report)")
        let groups = report["groups"] as! [[String: Any]]
        XCTAssertEqual(groups.map { $0["group"] as! String }, ["Divacancy", "*ALL"])
        let divacancy = groups[0]
        XCTAssertLessThan(divacancy["force_rmse_final"] as! Double, divacancy["force_rmse_initial"] as! Double)
        for name in ["training_errors.csv", "evaluate/metrics.csv", "evaluate/parity_force.png", "final.snapcoeff", "final.snapparam"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: out.appendingPathComponent(name).path), name)
        }
    }

    /// A Gauss–Newton campaign on the shipped W–Be files: the vacancy formation energy 3.0 eV over a
    /// bulk and a vacancy cell (16 sites, cells relaxed iso) with a training term on `groups`.
    private func formationEnergyCampaign(in folder: URL, groups: [String], iterations: Int) throws -> URL {
        let config = folder.appendingPathComponent("campaign.yaml")
        let shipped = Self.folder.path
        try """
            potential: {snapcoeff: \(shipped)/WBe_pot.snapcoeff, snapparam: \(shipped)/WBe_pot.snapparam}
            vary: {elements: [W]}
            systems:
              - {name: bulk, input: \(shipped)/W_bulk.lammps, lammps_args: ["-var", "ncell", "2"], cell: iso}
              - {name: vacancy, input: \(shipped)/W_vacancy.lammps, lammps_args: ["-var", "ncell", "2"], cell: iso}
            properties:
              - {name: E_vac, energy: {vacancy: 1, bulk: -0.9375}, value: 3.0, weight: 10}
            training: {data: [\(groups.map { "\(shipped)/JSON/\($0)" }.joined(separator: ", "))], groups: \(shipped)/groups.csv,
                       reference: zbl 4.0 4.8, weight: 0.1}
            loop: {iterations: \(iterations), step: gauss-newton}
            """.write(to: config, atomically: true, encoding: .utf8)
        return config
    }

    /// Gauss–Newton with a training term and a vacancy formation energy (bulk and vacancy with
    /// their cells relaxed), killed after an iteration and resumed: every output equals the
    /// uninterrupted run's, and the resumed run reads the training term from its checkpoint.
    func testResumedGaussNewtonTrainingCampaignWritesTheSameBytes() throws {
        let folder = try Toolbox.temporaryDirectory(self)
        let config = try formationEnergyCampaign(in: folder, groups: ["BCC_ForceLib_W111"], iterations: 3)
        let whole = folder.appendingPathComponent("whole"), resumed = folder.appendingPathComponent("resumed")
        let result = try Toolbox.implicitLammps(["fit", "--config", config.path, "--out", whole.path])
        XCTAssertEqual(result.status, 0, result.stderr)
        let second = try Toolbox.killAndResume("fit", config: config, killWhen: "fit: iteration 2,", out: resumed)
        XCTAssertTrue(second.stderr.contains("training term read from training.json of the checkpoint"), second.stderr)
        try Toolbox.assertSameOutputs(whole, resumed)
    }

    /// On 2 MPI ranks the training term is reduced by one LAMMPS over both (compute snap's array
    /// summed over them), the systems relaxed on both, and the Gauss–Newton campaign repeats the
    /// serial one: the same Θ, losses and errors per group.
    func testTwoRanksRepeatTheSerialTrainingCampaign() throws {
        let mpiexec = Toolbox.venv.appendingPathComponent("bin/mpiexec").path
        try XCTSkipUnless(FileManager.default.isExecutableFile(atPath: mpiexec), "no MPICH mpiexec in .venv")
        let folder = try Toolbox.temporaryDirectory(self)
        let config = try formationEnergyCampaign(in: folder, groups: ["BCC_ForceLib_W111", "BCC_ForceLib_WTet"], iterations: 2)
        let serial = folder.appendingPathComponent("serial"), parallel = folder.appendingPathComponent("parallel")
        let one = try Toolbox.implicitLammps(["fit", "--config", config.path, "--out", serial.path])
        XCTAssertEqual(one.status, 0, one.stderr)
        let two = try Toolbox.run(mpiexec, ["-n", "2", Toolbox.tool, "fit", "--config", config.path, "--out", parallel.path])
        XCTAssertEqual(two.status, 0, two.stderr)
        let a = try Toolbox.json(serial.appendingPathComponent("summary.json"))
        let b = try Toolbox.json(parallel.appendingPathComponent("summary.json"))
        XCTAssertEqual(a["iterations"] as? Int, b["iterations"] as? Int)
        for (x, y) in zip(a["theta_final"] as! [Double], b["theta_final"] as! [Double]) {
            XCTAssertEqual(x, y, accuracy: 1e-7 * max(abs(x), 1e-3))
        }
        let (rowsA, rowsB) = (try history(serial), try history(parallel))
        XCTAssertEqual(rowsA.count, rowsB.count)
        for (x, y) in zip(rowsA, rowsB) {
            for column in ["loss_relaxed", "training_loss", "E_vac", "rmse_energy_BCC_ForceLib_WTet", "rmse_force_*ALL"] {
                let (u, v) = (Double(x[column]!)!, Double(y[column]!)!)
                XCTAssertEqual(u, v, accuracy: 1e-7 * abs(u), column)
            }
        }
        let errors = { (out: URL) in try String(contentsOf: out.appendingPathComponent("training_errors.csv"), encoding: .utf8) }
        XCTAssertEqual(try errors(serial).split(separator: "\n").count, try errors(parallel).split(separator: "\n").count)
    }

    /// Bad training data and group tables are refused naming the file, before LAMMPS starts and
    /// with nothing written.
    func testBadTrainingDataRefusedBeforeLAMMPS() throws {
        let folder = try Toolbox.temporaryDirectory(self)
        let source = Self.folder.appendingPathComponent("JSON/BCC_ForceLib_W111/W111_Flib_1.json")
        let bad = folder.appendingPathComponent("bad")
        try FileManager.default.createDirectory(at: bad, withIntermediateDirectories: true)
        try String(contentsOf: source, encoding: .utf8).replacingOccurrences(of: "\"Energy\"", with: "\"Energie\"")
            .write(to: bad.appendingPathComponent("a.json"), atomically: true, encoding: .utf8)
        try "group,energy_weight,force_weight\nDivacancy,1,1\n".write(to: folder.appendingPathComponent("groups.csv"),
                                                                     atomically: true, encoding: .utf8)
        let potential = "potential: {snapcoeff: \(Self.folder.path)/WBe_pot.snapcoeff, snapparam: \(Self.folder.path)/WBe_pot.snapparam}"
        let cases: [(String, String)] = [
            ("training: {data: [bad]}", "a.json"),
            ("training: {data: [\(Self.folder.path)/JSON/BCC_ForceLib_W111], groups: groups.csv}", "BCC_ForceLib_W111"),
            ("training: {data: [missing]}", "training.data[0]"),
            ("training: {data: [bad], weight: -1}", "training.weight must be positive"),
            ("training: {data: [bad], reference: lj}", "training.reference is \"zbl INNER OUTER\""),
        ]
        for (index, (training, message)) in cases.enumerated() {
            let config = folder.appendingPathComponent("bad\(index).yaml")
            try "\(potential)\nvary: {elements: [W]}\n\(training)\nloop: {step: gauss-newton}\n"
                .write(to: config, atomically: true, encoding: .utf8)
            let out = folder.appendingPathComponent("out")
            let result = try Toolbox.implicitLammps(["fit", "--config", config.path, "--out", out.path])
            XCTAssertNotEqual(result.status, 0, message)
            XCTAssertTrue(result.stderr.contains(message), "\(message): \(result.stderr)")
            XCTAssertFalse(result.stderr.contains("training term: reading"), result.stderr)
            XCTAssertFalse(FileManager.default.fileExists(atPath: out.path), message)
        }
    }
}
