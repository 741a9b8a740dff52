import Foundation
import Potentials
import XCTest

/// Never a silent wrong answer: every case here once ended with exit 0 and wrong or mixed
/// results, or hung. Each asserts the exit status, the message and the state of `--out`.
final class ReliabilityTests: XCTestCase {
    let input = Toolbox.root.appendingPathComponent("inputs/W_vacancy.lammps").path
    let tiny = ["--var", "ncell=2"]  // 15 atoms
    let potentials = Toolbox.root.appendingPathComponent("potentials")

    private func files(_ folder: URL) -> Set<String> {
        Set((try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? [])
    }

    private func exists(_ url: URL) -> Bool { FileManager.default.fileExists(atPath: url.path) }

    /// Runs the tool, which must fail with `message` and leave `out` unwritten.
    @discardableResult
    private func assertRefused(_ arguments: [String], saying message: String, out: URL,
                               file: StaticString = #filePath, line: UInt = #line) throws -> Toolbox.Result {
        let result = try Toolbox.implicitLammps(arguments + ["--out", out.path])
        XCTAssertNotEqual(result.status, 0, file: file, line: line)
        XCTAssertTrue(result.stderr.contains(message), result.stderr, file: file, line: line)
        XCTAssertFalse(exists(out), file: file, line: line)
        return result
    }

    /// A W vacancy input whose neighbour of the vacancy sits halfway to it: symmetric, so the
    /// relaxation converges onto the migration saddle point.
    private func saddleInput(in folder: URL) throws -> URL {
        let url = folder.appendingPathComponent("saddle.lammps")
        try """
            variable a0 index 3.1805
            units metal
            boundary p p p
            atom_style atomic
            lattice bcc ${a0}
            region cell block 0 3 0 3 0 3
            create_box 1 cell
            create_atoms 1 region cell
            mass 1 183.84
            group vacancy id 1
            delete_atoms group vacancy
            region hop sphere 0.5 0.5 0.5 0.1
            group hop region hop
            set group hop x $(0.25*v_a0) y $(0.25*v_a0) z $(0.25*v_a0)
            pair_style hybrid/overlay zbl 4.0 4.8 snap
            pair_coeff 1 1 zbl 74 74
            pair_coeff * * snap \(potentials.path)/W_2940_2017_2.snapcoeff \(potentials.path)/W_2940_2017_2.snapparam W

            """.write(to: url, atomically: true, encoding: .utf8)
        return url
    }

    // MARK: - Not a minimum

    /// An unreachable tolerance stagnates within seconds (it ran 10 × 100 000 CG steps before),
    /// keeps its outputs marked, and exits non-zero.
    func testUnreachableToleranceStagnatesAndRelaxExitsNonZero() throws {
        let out = try Toolbox.temporaryDirectory(self).appendingPathComponent("relax")
        let result = try Toolbox.implicitLammps(["relax", "--input", input, "--ftol", "1e-20", "--out", out.path] + tiny)
        XCTAssertNotEqual(result.status, 0)
        XCTAssertTrue(result.stderr.contains("stagnated at max|F|"), result.stderr)
        let summary = try Toolbox.json(out.appendingPathComponent("summary.json"))
        XCTAssertEqual(summary["converged"] as? Bool, false)
        XCTAssertEqual(summary["stop"] as? String, "stagnated")
        XCTAssertLessThan(summary["steps"] as! Int, 5000)
    }

    /// Derivatives at an unconverged structure are refused; with --allow-non-minimum they are
    /// computed and marked, and `predict --derivative` says so.
    func testDerivativeRefusesUnconvergedMinimumUnlessAllowedAndMarked() throws {
        let folder = try Toolbox.temporaryDirectory(self)
        let refused = folder.appendingPathComponent("refused")
        let result = try Toolbox.implicitLammps(["derivative", "--input", input, "--ftol", "1e-20", "--out", refused.path] + tiny)
        XCTAssertNotEqual(result.status, 0)
        XCTAssertTrue(result.stderr.contains("not a minimum: X* is not converged"), result.stderr)
        XCTAssertTrue(result.stderr.contains("--allow-non-minimum"), result.stderr)
        XCTAssertFalse(exists(refused))

        let marked = folder.appendingPathComponent("marked")
        let allowed = try Toolbox.implicitLammps(["derivative", "--input", input, "--ftol", "1e-20", "--allow-non-minimum",
                                                  "--out", marked.path] + tiny)
        XCTAssertEqual(allowed.status, 0, allowed.stderr)
        XCTAssertTrue(try String(contentsOf: marked.appendingPathComponent("WARNING.txt"), encoding: .utf8).contains("not converged"))
        let check = try Toolbox.json(marked.appendingPathComponent("summary.json"))["minimum_check"] as! [String: Any]
        XCTAssertEqual(check["converged"] as? Bool, false)
        XCTAssertFalse((check["warnings"] as! [String]).isEmpty)

        let predicted = folder.appendingPathComponent("predicted")
        let predict = try Toolbox.implicitLammps(["predict", "--input", input, "--derivative", marked.path, "--perturbed",
                                                  potentials.appendingPathComponent("W_2940_2017_2.snapcoeff").path,
                                                  "--out", predicted.path] + tiny)
        XCTAssertEqual(predict.status, 0, predict.stderr)
        XCTAssertTrue(predict.stderr.contains("not a minimum"), predict.stderr)
        XCTAssertTrue(exists(predicted.appendingPathComponent("WARNING.txt")))
        XCTAssertFalse((try Toolbox.json(predicted.appendingPathComponent("summary.json"))["minimum_warnings"] as! [String]).isEmpty)
    }

    /// A symmetric relaxation that ends on the vacancy-migration saddle is reported, not solved.
    func testSaddlePointIsRefusedWithTheNegativeCurvature() throws {
        let folder = try Toolbox.temporaryDirectory(self)
        let out = folder.appendingPathComponent("saddle")
        let result = try assertRefused(["derivative", "--input", try saddleInput(in: folder).path],
                                       saying: "saddle point", out: out)
        XCTAssertTrue(result.stderr.contains("negative curvature -"), result.stderr)
        // The right-hand sides share the saddle's symmetry; the probe's own Krylov steps find the mode.
        XCTAssertTrue(result.stderr.contains("Ritz values of the solves' Krylov basis"), result.stderr)
        XCTAssertEqual(files(URL(fileURLWithPath: out.path + ".incomplete")), ["log.lammps"])
    }

    /// The energy method with α0 = 1 was 11 % wrong while reporting a residual of 1e-7; its
    /// linear residual now exposes the bias outside the linear range.
    func testEnergyMethodBiasOutsideTheLinearRangeIsRefused() throws {
        let result = try assertRefused(["derivative", "--input", input, "--method", "energy", "--alpha0", "1"] + tiny,
                                       saying: "inaccurate derivative",
                                       out: try Toolbox.temporaryDirectory(self).appendingPathComponent("energy"))
        XCTAssertTrue(result.stderr.contains("outside the range where their response is linear"), result.stderr)
    }

    // MARK: - Bad structures and numbers

    func testOverlappingAtomsAreRefusedWithTheirIDs() throws {
        let folder = try Toolbox.temporaryDirectory(self)
        let url = folder.appendingPathComponent("overlap.lammps")
        try """
            units metal
            boundary p p p
            atom_style atomic
            lattice bcc 3.1805
            region cell block 0 2 0 2 0 2
            create_box 1 cell
            create_atoms 1 region cell
            create_atoms 1 single 0 0 0 units box
            mass 1 183.84
            pair_style hybrid/overlay zbl 4.0 4.8 snap
            pair_coeff 1 1 zbl 74 74
            pair_coeff * * snap \(potentials.path)/W_2940_2017_2.snapcoeff \(potentials.path)/W_2940_2017_2.snapparam W

            """.write(to: url, atomically: true, encoding: .utf8)
        try assertRefused(["relax", "--input", url.path], saying: "atoms 1 and 17 are 0 Å apart",
                          out: folder.appendingPathComponent("relax"))
    }

    /// A NaN in a saved array stops `predict` with the file and the position.
    func testNonFiniteSavedArrayIsRefusedNamingTheFile() throws {
        let folder = try Toolbox.temporaryDirectory(self)
        let derivative = folder.appendingPathComponent("derivative")
        XCTAssertEqual(try Toolbox.implicitLammps(["derivative", "--input", input, "--out", derivative.path] + tiny).status, 0)
        let file = derivative.appendingPathComponent("dU_dTheta.npy")
        var data = try Data(contentsOf: file)
        data.replaceSubrange(data.count - 8..<data.count, with: withUnsafeBytes(of: Double.nan) { Data($0) })
        try data.write(to: file)
        try SavedManifest.reseal(["dU_dTheta.npy"], in: derivative)
        try assertRefused(["predict", "--input", input, "--derivative", derivative.path, "--perturbed",
                           potentials.appendingPathComponent("W_2940_2017_2.snapcoeff").path] + tiny,
                          saying: "not a number: \(file.path) holds nan at flat index 54",
                          out: folder.appendingPathComponent("predict"))
    }

    // MARK: - Potentials that change more than Θ

    func testPerturbedFileThatChangesDescriptorsIsRefusedAndBeta0IsExact() throws {
        let folder = try Toolbox.temporaryDirectory(self)
        let derivative = folder.appendingPathComponent("derivative")
        XCTAssertEqual(try Toolbox.implicitLammps(["derivative", "--input", input, "--out", derivative.path] + tiny).status, 0)
        let reference = try SNAPCoefficients(contentsOf: potentials.appendingPathComponent("W_2940_2017_2.snapcoeff"))

        var radius = reference
        radius.elements[0].radius += 0.01
        try radius.write(to: folder.appendingPathComponent("radius.snapcoeff"))
        let refused = try Toolbox.implicitLammps(["predict", "--input", input, "--derivative", derivative.path, "--perturbed",
                                                  folder.appendingPathComponent("radius.snapcoeff").path,
                                                  "--out", folder.appendingPathComponent("radius").path] + tiny)
        XCTAssertNotEqual(refused.status, 0)
        XCTAssertTrue(refused.stderr.contains("these change the descriptors"), refused.stderr)

        // beta0 is a constant energy per atom: every level must shift by exactly 15 × 0.01 eV.
        var beta0 = reference
        beta0.elements[0].coefficients[0] += 0.01
        try beta0.write(to: folder.appendingPathComponent("beta0.snapcoeff"))
        let out = folder.appendingPathComponent("beta0")
        let shifted = try Toolbox.implicitLammps(["predict", "--input", input, "--derivative", derivative.path, "--perturbed",
                                                  folder.appendingPathComponent("beta0.snapcoeff").path, "--out", out.path] + tiny)
        XCTAssertEqual(shifted.status, 0, shifted.stderr)
        let levels = try Toolbox.json(out.appendingPathComponent("summary.json"))["levels"] as! [[String: Any]]
        for level in levels { XCTAssertEqual(level["energy_change"] as! Double, 0.15, accuracy: 1e-12) }
    }

    /// A --snapparam that differs from the input's changes the potential itself: say how.
    func testSnapparamThatChangesThePotentialIsReported() throws {
        let folder = try Toolbox.temporaryDirectory(self)
        let original = try String(contentsOf: potentials.appendingPathComponent("W_2940_2017_2.snapparam"), encoding: .utf8)
        let changed = folder.appendingPathComponent("changed.snapparam")
        try original.replacingOccurrences(of: "rcutfac 4.73442", with: "rcutfac 4.8").write(to: changed, atomically: true, encoding: .utf8)
        XCTAssertNotEqual(original, try String(contentsOf: changed, encoding: .utf8))
        let result = try Toolbox.implicitLammps(["derivative", "--input", input, "--snapparam", changed.path,
                                                 "--out", folder.appendingPathComponent("d").path] + tiny)
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stderr.contains("rcutfac: 4.73442 → 4.8"), result.stderr)
    }

    // MARK: - Options

    func testOptionsThatDoNotApplyAreRefused() throws {
        let folder = try Toolbox.temporaryDirectory(self)
        let out = folder.appendingPathComponent("x").path
        let cases: [([String], String)] = [
            (["--center", "0,0,0", "--radius", "3"], "--center/--radius applies only to --method dense"),
            (["--alpha0", "1e-5"], "--alpha0 applies only to --method energy"),
            (["--method", "dense", "--tolerance", "1e-6"], "--tolerance applies only to --method sparse"),
            (["--method", "dense", "--center", "0.8,0.8,0.8", "--radius", "0.5"], "leaves no mobile atom"),
        ]
        for (options, message) in cases {
            let result = try Toolbox.implicitLammps(["derivative", "--input", input, "--out", out] + tiny + options)
            XCTAssertNotEqual(result.status, 0, options.joined(separator: " "))
            XCTAssertTrue(result.stderr.contains(message), result.stderr)
        }
        let derivative = folder.appendingPathComponent("derivative")
        XCTAssertEqual(try Toolbox.implicitLammps(["derivative", "--input", input, "--out", derivative.path] + tiny).status, 0)
        let perturbed = ["--perturbed", potentials.appendingPathComponent("W_2940_2017_2.snapcoeff").path]
        for (options, message) in [(["--method", "energy"], "--method apply to computing a derivative"),
                                   (["--box", "iso"], "was computed with --box fixed")] {
            let result = try Toolbox.implicitLammps(["predict", "--input", input, "--derivative", derivative.path, "--out", out]
                                                    + perturbed + tiny + options)
            XCTAssertNotEqual(result.status, 0)
            XCTAssertTrue(result.stderr.contains(message), result.stderr)
        }
        XCTAssertFalse(exists(URL(fileURLWithPath: out)))
    }

    /// The README's own invocations: LAMMPS arguments that start with "-", a negative number
    /// refused for what it is, and paths with spaces that the native lmp replays.
    func testDocumentedInvocationsAndPathsWithSpaces() throws {
        let folder = try Toolbox.temporaryDirectory(self).appendingPathComponent("a folder with spaces")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let copied = folder.appendingPathComponent("W vacancy.lammps")
        try String(contentsOfFile: input, encoding: .utf8)
            .replacingOccurrences(of: "../potentials/", with: potentials.path + "/")
            .write(to: copied, atomically: true, encoding: .utf8)
        let out = folder.appendingPathComponent("relax out")
        let result = try Toolbox.implicitLammps(["relax", "--input", copied.path, "--lammps-args", "-sf omp -pk omp 2",
                                                 "--ftol", "1e-8", "--out", out.path] + tiny)
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(exists(out.appendingPathComponent("relaxed.data")))
        let replay = try Toolbox.nativeLammps(input: out.appendingPathComponent("relax.lammps"), in: folder)
        XCTAssertEqual(replay.status, 0, replay.stdout)

        let negative = try Toolbox.implicitLammps(["relax", "--input", input, "--ftol", "-1", "--out", out.path])
        XCTAssertNotEqual(negative.status, 0)
        XCTAssertTrue(negative.stderr.contains("--ftol must be a positive number, got -1"), negative.stderr)
    }

    // MARK: - Output folders

    func testOutputFolderHoldsOneRunAndFailuresLeaveItAlone() throws {
        let folder = try Toolbox.temporaryDirectory(self)
        let out = folder.appendingPathComponent("run")
        XCTAssertEqual(try Toolbox.implicitLammps(["derivative", "--input", input, "--box", "iso", "--out", out.path] + tiny).status, 0)
        XCTAssertTrue(files(out).contains("dX_dTheta_hih.npy"))

        let again = try Toolbox.implicitLammps(["derivative", "--input", input, "--out", out.path] + tiny)
        XCTAssertNotEqual(again.status, 0)
        XCTAssertTrue(again.stderr.contains("already holds another run"), again.stderr)

        // A failing run leaves the earlier results, their log included, exactly as they were.
        let log = try Data(contentsOf: out.appendingPathComponent("log.lammps"))
        let failing = try Toolbox.implicitLammps(["derivative", "--input", input, "--overwrite", "--method", "energy",
                                                  "--alpha0", "1", "--out", out.path] + tiny)
        XCTAssertNotEqual(failing.status, 0)
        XCTAssertEqual(try Data(contentsOf: out.appendingPathComponent("log.lammps")), log)
        XCTAssertTrue(failing.stderr.contains(out.path + ".incomplete/log.lammps"), failing.stderr)

        // --overwrite replaces the whole set: no fixed-cell run beside h+ih files of the cell run.
        let replaced = try Toolbox.implicitLammps(["derivative", "--input", input, "--overwrite", "--out", out.path] + tiny)
        XCTAssertEqual(replaced.status, 0, replaced.stderr)
        XCTAssertFalse(files(out).contains("dX_dTheta_hih.npy"))
        XCTAssertFalse(exists(URL(fileURLWithPath: out.path + ".incomplete")))
    }

    /// File-system and decoding errors name the path and the cause, never NSCocoaErrorDomain.
    func testFileSystemAndDecodingErrorsNameThePath() throws {
        let folder = try Toolbox.temporaryDirectory(self)
        let blocker = folder.appendingPathComponent("a file")
        try "x".write(to: blocker, atomically: true, encoding: .utf8)
        let under = try Toolbox.implicitLammps(["relax", "--input", input, "--out", blocker.appendingPathComponent("out").path])
        XCTAssertNotEqual(under.status, 0)
        XCTAssertFalse(under.stderr.contains("NSCocoaErrorDomain"), under.stderr)
        XCTAssertTrue(under.stderr.contains(blocker.path), under.stderr)

        let derivative = folder.appendingPathComponent("derivative")
        try FileManager.default.createDirectory(at: derivative, withIntermediateDirectories: true)
        try "{ not json".write(to: derivative.appendingPathComponent("minimum.json"), atomically: true, encoding: .utf8)
        try "{ not json".write(to: derivative.appendingPathComponent("manifest.json"), atomically: true, encoding: .utf8)
        let corrupt = try Toolbox.implicitLammps(["predict", "--input", input, "--derivative", derivative.path, "--perturbed",
                                                  potentials.appendingPathComponent("W_2940_2017_2.snapcoeff").path,
                                                  "--out", folder.appendingPathComponent("p").path])
        XCTAssertNotEqual(corrupt.status, 0)
        XCTAssertTrue(corrupt.stderr.contains("\(derivative.path)/manifest.json is not a manifest this tool wrote: malformed JSON"),
                      corrupt.stderr)
        XCTAssertFalse(corrupt.stderr.contains("DecodingError"), corrupt.stderr)
    }
}
