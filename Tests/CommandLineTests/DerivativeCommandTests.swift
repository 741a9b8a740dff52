import Foundation
import Potentials
import XCTest

/// `derivative` and `predict` end to end through the real command line, 53-atom W vacancy.
final class DerivativeCommandTests: XCTestCase {
    let input = Toolbox.root.appendingPathComponent("inputs/W_vacancy.lammps").path
    let small = ["--var", "ncell=3"]

    /// The shipped W potential with every coefficient after beta0 scaled by (1 + λ u_k).
    private func perturbedPotential(_ lambda: Double, in folder: URL) throws -> URL {
        var coefficients = try SNAPCoefficients(contentsOf: Toolbox.root.appendingPathComponent("potentials/W_2940_2017_2.snapcoeff"))
        var state: UInt64 = 11
        for k in 1..<coefficients.elements[0].coefficients.count {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            coefficients.elements[0].coefficients[k] *= 1 + lambda * (Double(state >> 11) / Double(1 << 53) * 2 - 1)
        }
        let url = folder.appendingPathComponent("perturbed-\(lambda).snapcoeff")
        try coefficients.write(to: url)
        return url
    }

    /// Loads .npy files with the provisioned numpy, as a Python user would, and returns "name shape dtype" lines.
    private func numpyShapes(_ folder: URL, _ names: [String]) throws -> [String] {
        let script = "import numpy, sys\nfor n in sys.argv[2:]:\n a = numpy.load(sys.argv[1] + '/' + n)\n print(n, a.shape, a.dtype)"
        let result = try Toolbox.run(Toolbox.venv.appendingPathComponent("bin/python").path, ["-c", script, folder.path] + names)
        XCTAssertEqual(result.status, 0, result.stderr)
        return result.stdout.split(separator: "\n").map(String.init)
    }

    func testDerivativeWritesArraysNumpyReads() throws {
        let out = try Toolbox.temporaryDirectory(self).appendingPathComponent("derivative")
        let result = try Toolbox.implicitLammps(["derivative", "--input", input, "--out", out.path] + small)
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertEqual(try numpyShapes(out, ["dX_dTheta.npy", "dU_dTheta.npy", "dStrain_dTheta.npy", "positions.npy",
                                             "types.npy", "energy_curvature.npy"]), [
            "dX_dTheta.npy (55, 53, 3) float64", "dU_dTheta.npy (55,) float64", "dStrain_dTheta.npy (55,) float64",
            "positions.npy (53, 3) float64", "types.npy (53,) int32", "energy_curvature.npy (4, 55, 55) float64",
        ])
        let summary = try Toolbox.json(out.appendingPathComponent("summary.json"))
        XCTAssertEqual(summary["method"] as? String, "sparse")
        XCTAssertEqual(summary["parameters"] as? Int, 55)
        XCTAssertLessThan((summary["parameter_residuals"] as! [Double]).max()!, 1e-4)
        Toolbox.assertPhases(summary, include: ["set_up", "relaxation", "descriptors", "start_checks", "curvature_check",
                                                "solves", "writing"])
        let phases = summary["phases"] as! [String: [String: Any]]
        XCTAssertEqual(phases["relaxation"]?["force_evaluations"] as? Int,
                       (summary["relaxation"] as? [String: Any])?["force_evaluations"] as? Int, "the relaxation's own count")
    }

    /// The energy method through the command line, on the 15-atom cell to keep it short.
    func testEnergyMethodRunsThroughTheCommandLine() throws {
        let out = try Toolbox.temporaryDirectory(self).appendingPathComponent("energy")
        let result = try Toolbox.implicitLammps(["derivative", "--input", input, "--out", out.path, "--var", "ncell=2",
                                                 "--method", "energy", "--min-style", "cg", "--elements", "W"])
        XCTAssertEqual(result.status, 0, result.stderr)
        let summary = try Toolbox.json(out.appendingPathComponent("summary.json"))
        XCTAssertEqual(summary["method"] as? String, "energy")
        XCTAssertEqual((summary["parameter_iterations"] as! [Int]).count, 55)
    }

    func testPredictWithValidateIsExactToFirstOrder() throws {
        let folder = try Toolbox.temporaryDirectory(self)
        let derivative = folder.appendingPathComponent("derivative")
        let made = try Toolbox.implicitLammps(["derivative", "--input", input, "--out", derivative.path] + small)
        XCTAssertEqual(made.status, 0, made.stderr)
        var positionErrors: [Double] = [], energyErrors: [Double] = []
        for lambda in [0.02, 0.01] {
            let out = folder.appendingPathComponent("predict-\(lambda)")
            let result = try Toolbox.implicitLammps([
                "predict", "--input", input, "--perturbed", try perturbedPotential(lambda, in: folder).path,
                "--derivative", derivative.path, "--validate", "--out", out.path,
            ] + small)
            XCTAssertEqual(result.status, 0, result.stderr)
            XCTAssertTrue(result.stdout.contains("true "), result.stdout)
            let summary = try Toolbox.json(out.appendingPathComponent("summary.json"))
            Toolbox.assertPhases(summary, include: ["set_up", "validation"])
            let levels = summary["levels"] as! [[String: Any]]
            let ih = levels.first { $0["level"] as? String == "ih" }!
            let c = levels.first { $0["level"] as? String == "c" }!
            XCTAssertLessThan(ih["energy_error"] as! Double, c["energy_error"] as! Double)
            positionErrors.append(ih["position_error"] as! Double)
            energyErrors.append(ih["energy_error"] as! Double)
            XCTAssertTrue(FileManager.default.fileExists(atPath: out.appendingPathComponent("positions_hih.npy").path))
        }
        // First order exact: the relative position error halves with δΘ (absolute error ∝ |δΘ|²),
        // the energy error falls eightfold (∝ |δΘ|³).
        XCTAssertEqual(positionErrors[0] / positionErrors[1], 2, accuracy: 0.5, "\(positionErrors)")
        XCTAssertEqual(energyErrors[0] / energyErrors[1], 8, accuracy: 2.5, "\(energyErrors)")
        XCTAssertLessThan(positionErrors[1], 0.02)
    }

    func testTwoMPIRanksGiveTheSerialDerivative() throws {
        try checkParallelRun(extra: [], parallelOnly: [])
    }

    /// Two partitions of one rank each solve alternate columns (CG per column) and combine them.
    func testTwoPartitionsGiveTheSerialDerivative() throws {
        try checkParallelRun(extra: ["--krylov", "cg", "--preconditioner", "exponential"], parallelOnly: ["--partitions", "2"])
    }

    /// Two partitions share out each sweep's Hessian products of the shared basis (the default
    /// solver here) and continue with identical numbers.
    func testTwoPartitionsShareTheSharedBasis() throws {
        try checkParallelRun(extra: [], parallelOnly: ["--partitions", "2"])
    }

    private func checkParallelRun(extra: [String], parallelOnly: [String]) throws {
        let mpiexec = Toolbox.venv.appendingPathComponent("bin/mpiexec").path
        try XCTSkipUnless(FileManager.default.isExecutableFile(atPath: mpiexec), "no MPICH mpiexec in .venv")
        let folder = try Toolbox.temporaryDirectory(self)
        let serial = folder.appendingPathComponent("serial"), parallel = folder.appendingPathComponent("parallel")
        let arguments = ["derivative", "--input", input] + small + extra
        XCTAssertEqual(try Toolbox.implicitLammps(arguments + ["--out", serial.path]).status, 0)
        let run = try Toolbox.run(mpiexec, ["-n", "2", Toolbox.tool] + arguments + parallelOnly + ["--out", parallel.path])
        XCTAssertEqual(run.status, 0, run.stderr)
        // create_atoms numbers atoms in an order that depends on the MPI decomposition: match
        // atoms by position (minimum image), then compare their derivatives.
        let script = """
            import json, numpy, sys
            s, p = sys.argv[1:3]
            xs, xp = numpy.load(s + '/positions.npy'), numpy.load(p + '/positions.npy')
            minimum = json.load(open(s + '/minimum.json'))
            L = numpy.array(minimum['box_high']) - numpy.array(minimum['box_low'])
            d = xs[:, None, :] - xp[None, :, :]
            d -= numpy.round(d / L) * L
            order = numpy.argmin((d ** 2).sum(-1), axis=1)
            assert len(set(order)) == len(order)
            a, b = numpy.load(s + '/dX_dTheta.npy'), numpy.load(p + '/dX_dTheta.npy')[:, order, :]
            print(numpy.linalg.norm(a - b) / numpy.linalg.norm(a))
            """
        let compare = try Toolbox.run(Toolbox.venv.appendingPathComponent("bin/python").path,
                                      ["-c", script, serial.path, parallel.path])
        XCTAssertEqual(compare.status, 0, compare.stderr)
        // Equal within the solver's tolerance (1e-5): create_atoms orders atoms by rank, so the
        // preconditioner's ordering, and with it the round-off of the Krylov iterates, differ.
        XCTAssertLessThan(Double(compare.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 1, 1e-5, compare.stdout)
    }

    /// The default preconditioner on a W–Be alloy with a vacancy is the perfect host lattice's
    /// Hessian, and the derivative agrees with the dense solution; asked for a structure that is
    /// no such lattice (a vacancy in diamond silicon), it is refused with the reason.
    func testLatticePreconditionerOnAnAlloyAgreesWithDense() throws {
        let folder = try Toolbox.temporaryDirectory(self)
        let potentials = try Toolbox.lammpsPackage.appendingPathComponent("share/lammps/potentials")
        let alloy = ["derivative", "--lattice", "bcc", "--a0", "3.1805", "--cells", "3", "--vacancy", "--species", "W", "Be",
                     "--solute-fraction", "0.06", "--zbl", "4.0,4.8",
                     "--potential", potentials.appendingPathComponent("WBe_Wood_PRB2019.snapcoeff").path,
                     "--snapparam", potentials.appendingPathComponent("WBe_Wood_PRB2019.snapparam").path]
        let (lattice, dense) = (folder.appendingPathComponent("lattice"), folder.appendingPathComponent("dense"))
        let run = try Toolbox.implicitLammps(alloy + ["--out", lattice.path])
        XCTAssertEqual(run.status, 0, run.stderr)
        XCTAssertTrue(run.stderr.contains("lattice preconditioner (bcc 3×3×3 cells, 1 vacant sites, 2 species"), run.stderr)
        let settings = try Toolbox.json(lattice.appendingPathComponent("summary.json"))["method_settings"] as? [String: String]
        XCTAssertEqual(settings?["preconditioner"], "auto: lattice")
        XCTAssertEqual(try Toolbox.implicitLammps(alloy + ["--method", "dense", "--out", dense.path]).status, 0)
        let script = """
            import numpy, sys
            a, b = (numpy.load(d + '/dX_dTheta.npy') for d in sys.argv[1:3])
            print(numpy.linalg.norm(a - b) / numpy.linalg.norm(b))
            """
        let compare = try Toolbox.run(Toolbox.venv.appendingPathComponent("bin/python").path, ["-c", script, lattice.path, dense.path])
        XCTAssertEqual(compare.status, 0, compare.stderr)
        XCTAssertLessThan(Double(compare.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 1, 1e-4, compare.stdout)

        let silicon = Toolbox.root.appendingPathComponent("inputs/Si_vacancy.lammps").path
        let refused = try Toolbox.implicitLammps(["derivative", "--input", silicon, "--vary", "Si,Si,Si:lambda",
                                                  "--preconditioner", "lattice", "--out", folder.appendingPathComponent("si").path])
        XCTAssertNotEqual(refused.status, 0)
        XCTAssertTrue(refused.stderr.contains("the lattice preconditioner needs a cubic crystal with point defects whose atoms all move, which this is not (bcc: 215 atoms for 432 sites"), refused.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: folder.appendingPathComponent("si").path))
    }

    /// The energy method saves each finished parameter: interrupted (SIGINT) and rerun, it
    /// resumes and gives exactly what an uninterrupted run gives.
    func testInterruptedEnergyMethodResumes() throws {
        try checkResume(["--method", "energy"])
    }

    /// Conjugate gradients per column checkpoint each finished column like the energy method.
    func testInterruptedConjugateGradientsResume() throws {
        try checkResume(["--method", "sparse", "--krylov", "cg", "--preconditioner", "exponential"])
    }

    private func checkResume(_ method: [String]) throws {
        let folder = try Toolbox.temporaryDirectory(self)
        let interrupted = folder.appendingPathComponent("interrupted"), clean = folder.appendingPathComponent("clean")
        let arguments = ["derivative", "--input", input, "--var", "ncell=2"] + method
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Toolbox.tool)
        process.arguments = arguments + ["--out", interrupted.path]
        process.standardError = FileHandle.nullDevice
        try process.run()
        // Until the run completes, everything (the checkpoint included) is in the staging folder.
        let checkpoint = interrupted.path + ".incomplete/checkpoint"
        func saved() -> Bool {
            (FileManager.default.enumerator(atPath: checkpoint)?.allObjects as? [String] ?? []).contains { $0.hasSuffix("progress.json") }
        }
        let deadline = Date().addingTimeInterval(60)
        while !saved() && process.isRunning && Date() < deadline { usleep(20_000) }
        process.interrupt()
        process.waitUntilExit()
        XCTAssertNotEqual(process.terminationStatus, 0, "the run was interrupted before it finished")
        XCTAssertFalse(FileManager.default.fileExists(atPath: interrupted.path))

        let resumed = try Toolbox.implicitLammps(arguments + ["--out", interrupted.path])
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        XCTAssertTrue(resumed.stderr.contains("resuming,"), resumed.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: interrupted.appendingPathComponent("checkpoint").path))
        XCTAssertFalse(FileManager.default.fileExists(atPath: interrupted.path + ".incomplete"))
        XCTAssertEqual(try Toolbox.implicitLammps(arguments + ["--out", clean.path]).status, 0)
        let script = """
            import numpy, sys
            a, b = (numpy.load(d + '/dX_dTheta.npy') for d in sys.argv[1:3])
            print(numpy.abs(a - b).max())
            """
        let compare = try Toolbox.run(Toolbox.venv.appendingPathComponent("bin/python").path,
                                      ["-c", script, interrupted.path, clean.path])
        // The energy method repeats itself exactly; CG columns differ at round-off of the restored minimum.
        XCTAssertLessThan(Double(compare.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 1, 1e-9, compare.stdout)
    }

    /// A generated crystal with the potential given on the command line, and the override of
    /// an input's own pair_coeff files: Θ must be the given file's coefficients.
    func testGeneratedCrystalAndPotentialOverride() throws {
        let folder = try Toolbox.temporaryDirectory(self)
        let perturbed = try perturbedPotential(0.01, in: folder)
        let expected = try SNAPCoefficients(contentsOf: perturbed).elements[0].coefficients.dropFirst().map { "\($0)" }
        let parameters = Toolbox.root.appendingPathComponent("potentials/W_2940_2017_2.snapparam").path
        let generated = folder.appendingPathComponent("generated")
        let crystal = try Toolbox.implicitLammps([
            "derivative", "--lattice", "bcc", "--a0", "3.1805", "--cells", "2", "--vacancy", "--species", "W",
            "--zbl", "4.0,4.8", "--potential", perturbed.path, "--snapparam", parameters, "--out", generated.path,
        ])
        XCTAssertEqual(crystal.status, 0, crystal.stderr)
        let text = try String(contentsOf: generated.appendingPathComponent("system.lammps"), encoding: .utf8)
        XCTAssertTrue(text.contains("pair_style   hybrid/overlay zbl 4.0 4.8 snap"), text)
        XCTAssertEqual(try Toolbox.json(generated.appendingPathComponent("summary.json"))["natoms"] as? Int, 15)

        let overridden = folder.appendingPathComponent("overridden")
        let run = try Toolbox.implicitLammps(["derivative", "--input", input, "--potential", perturbed.path,
                                              "--out", overridden.path] + small)
        XCTAssertEqual(run.status, 0, run.stderr)
        let script = "import numpy, sys\nprint('\\n'.join(repr(float(v)) for v in numpy.load(sys.argv[1])))"
        for out in [generated, overridden] {
            let theta = try Toolbox.run(Toolbox.venv.appendingPathComponent("bin/python").path,
                                        ["-c", script, out.appendingPathComponent("theta.npy").path])
            XCTAssertEqual(theta.stdout.split(separator: "\n").map(String.init), expected)
        }
    }

    func testBadPotentialInputsFailClearlyWithoutOutput() throws {
        let folder = try Toolbox.temporaryDirectory(self)
        let garbled = folder.appendingPathComponent("garbled.snapcoeff")
        try String(contentsOf: Toolbox.root.appendingPathComponent("potentials/W_2940_2017_2.snapcoeff"), encoding: .utf8)
            .replacingOccurrences(of: "-0.016628679036", with: "-0.0166x28679036").write(to: garbled, atomically: true, encoding: .utf8)
        let out = folder.appendingPathComponent("out")
        let predict = try Toolbox.implicitLammps(["predict", "--input", input, "--perturbed", garbled.path, "--out", out.path] + small)
        XCTAssertNotEqual(predict.status, 0)
        XCTAssertTrue(predict.stderr.contains("garbled.snapcoeff:9: expected coefficient 2 of element W"), predict.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: out.appendingPathComponent("summary.json").path))

        let unknown = try Toolbox.implicitLammps(["derivative", "--input", input, "--elements", "Be", "--out", out.path] + small)
        XCTAssertNotEqual(unknown.status, 0)
        XCTAssertTrue(unknown.stderr.contains("element Be is not in this file"), unknown.stderr)

        let eam = folder.appendingPathComponent("in.eam")
        try """
            units metal
            lattice bcc 3.1805
            region cell block 0 2 0 2 0 2
            create_box 1 cell
            create_atoms 1 region cell
            mass 1 183.84
            pair_style eam/alloy
            pair_coeff * * \(try Toolbox.lammpsPackage.path)/share/lammps/potentials/W_zhou.eam.alloy W
            """.write(to: eam, atomically: true, encoding: .utf8)
        let noSNAP = try Toolbox.implicitLammps(["derivative", "--input", eam.path, "--out", out.path])
        XCTAssertNotEqual(noSNAP.status, 0)
        XCTAssertTrue(noSNAP.stderr.contains("no SNAP pair_coeff found"), noSNAP.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: out.appendingPathComponent("summary.json").path))
    }
}
