import Foundation
import XCTest

/// `derivative`, `predict` and `elastic` with potentials other than SNAP, through the real
/// command line: Morse variables (--parameters) and Stillinger–Weber fields (--vary).
final class PotentialCommandTests: XCTestCase {
    let inputs = Toolbox.root.appendingPathComponent("inputs")
    var morse: String { inputs.appendingPathComponent("Cu_morse_vacancy.lammps").path }
    var silicon: String { inputs.appendingPathComponent("Si_diamond.lammps").path }
    var siliconVacancy: String { inputs.appendingPathComponent("Si_vacancy.lammps").path }

    private func run(_ arguments: [String], file: StaticString = #filePath, line: UInt = #line) throws -> Toolbox.Result {
        let result = try Toolbox.implicitLammps(arguments)
        XCTAssertEqual(result.status, 0, result.stderr, file: file, line: line)
        return result
    }

    private func assertRefused(_ arguments: [String], saying message: String, out: URL,
                               file: StaticString = #filePath, line: UInt = #line) throws {
        let result = try Toolbox.implicitLammps(arguments + ["--out", out.path])
        XCTAssertNotEqual(result.status, 0, file: file, line: line)
        XCTAssertTrue(result.stderr.contains(message), result.stderr, file: file, line: line)
        XCTAssertFalse(FileManager.default.fileExists(atPath: out.path), file: file, line: line)
    }

    func testMorseVariablesDerivativeAndValidatedPrediction() throws {
        let folder = try Toolbox.temporaryDirectory(self)
        let out = folder.appendingPathComponent("derivative")
        try run(["derivative", "--input", morse, "--parameters", "alpha,r0", "--out", out.path])
        let summary = try Toolbox.json(out.appendingPathComponent("summary.json"))
        let potential = summary["potential"] as! [String: Any]
        XCTAssertEqual(potential["kind"] as? String, "variables")
        XCTAssertEqual(potential["parameter_names"] as? [String], ["alpha", "r0"])
        XCTAssertNotNil((potential["settings"] as? [String: String])?["step r0"])
        XCTAssertTrue(FileManager.default.fileExists(atPath: out.appendingPathComponent("dX_dTheta.npy").path))
        // A 0.1% change of r0, predicted from the saved derivative and checked by a LAMMPS relaxation.
        let predicted = folder.appendingPathComponent("predict")
        let result = try run(["predict", "--input", morse, "--parameters", "alpha,r0", "--perturbed", "r0=2.8689",
                              "--derivative", out.path, "--validate", "--out", predicted.path])
        let report = try Toolbox.json(predicted.appendingPathComponent("summary.json"))
        let levels = report["levels"] as! [[String: Any]]
        let ih = levels.first { $0["level"] as? String == "ih" }!
        XCTAssertLessThan(ih["position_error"] as! Double, 0.05, result.stdout)
        XCTAssertLessThan(ih["energy_error"] as! Double, 1e-4, result.stdout)
    }

    func testStillingerWeberFieldsPredictFromAPerturbedFile() throws {
        let folder = try Toolbox.temporaryDirectory(self)
        let perturbed = folder.appendingPathComponent("Si.sw")
        let original = try String(contentsOf: Toolbox.root.appendingPathComponent("potentials/Si.sw"), encoding: .utf8)
        try original.replacingOccurrences(of: "2.0951", with: "2.0991").write(to: perturbed, atomically: true, encoding: .utf8)
        let out = folder.appendingPathComponent("predict")
        let result = try run(["predict", "--input", siliconVacancy, "--vary", "Si,Si,Si:sigma,lambda",
                              "--perturbed", perturbed.path, "--validate", "--out", out.path])
        let levels = try Toolbox.json(out.appendingPathComponent("summary.json"))["levels"] as! [[String: Any]]
        let ih = levels.first { $0["level"] as? String == "ih" }!
        XCTAssertLessThan(ih["position_error"] as! Double, 0.05, result.stdout)
        // The same change by name (names with commas), and a file that changes a field outside Θ.
        let named = folder.appendingPathComponent("named")
        try run(["predict", "--input", siliconVacancy, "--vary", "Si,Si,Si:sigma,lambda",
                 "--perturbed", "Si,Si,Si:sigma=2.0991", "--out", named.path])
        let namedLevels = try Toolbox.json(named.appendingPathComponent("summary.json"))["levels"] as! [[String: Any]]
        XCTAssertEqual(namedLevels.first { $0["level"] as? String == "ih" }!["energy_change"] as! Double,
                       ih["energy_change"] as! Double, accuracy: 1e-12)
        try original.replacingOccurrences(of: "21.0", with: "21.5").write(to: perturbed, atomically: true, encoding: .utf8)
        try assertRefused(["predict", "--input", siliconVacancy, "--vary", "Si,Si,Si:sigma", "--perturbed", perturbed.path],
                          saying: "changes Si,Si,Si:lambda (21.0 → 21.5), which is not in Θ", out: folder.appendingPathComponent("refused"))
    }

    func testElasticCommandWritesTensorsAndParameterDerivative() throws {
        let out = try Toolbox.temporaryDirectory(self).appendingPathComponent("elastic")
        let result = try run(["elastic", "--input", silicon, "--vary", "Si,Si,Si:epsilon,lambda", "--out", out.path])
        XCTAssertTrue(result.stdout.contains("Relaxed-ion elastic constants"), result.stdout)
        let record = try Toolbox.json(out.appendingPathComponent("elastic.json"))
        let c = record["relaxed_ion"] as! [[Double]]
        let mandel = record["relaxed_ion_mandel"] as! [[Double]]
        Toolbox.assertPhases(record, include: ["set_up", "relaxation", "elastic_constants", "parameter_derivative"])
        // Field notes: SW silicon C11 151.42, C12 76.42, C44 56.45 GPa (LAMMPS finite strains).
        XCTAssertEqual(c[0][0], 151.42, accuracy: 0.05)
        XCTAssertEqual(c[0][1], 76.42, accuracy: 0.05)
        XCTAssertEqual(c[3][3], 56.45, accuracy: 0.05)
        XCTAssertEqual(mandel[3][3], 2 * c[3][3], accuracy: 1e-9)
        for name in ["C.npy", "C_clamped.npy", "dC_dTheta.npy", "theta.npy"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: out.appendingPathComponent(name).path), name)
        }
        // C is proportional to ε: dC11/dε = C11/ε exactly.
        let npy = try Data(contentsOf: out.appendingPathComponent("dC_dTheta.npy"))
        let header = String(decoding: npy.prefix(128), as: UTF8.self)
        XCTAssertTrue(header.contains("(2, 6, 6)"), header)
        let headerLength = Int(npy[8]) + Int(npy[9]) << 8
        let first = npy.subdata(in: (10 + headerLength)..<(18 + headerLength)).withUnsafeBytes { $0.loadUnaligned(as: Double.self) }
        XCTAssertEqual(first, c[0][0] / 2.1683, accuracy: 1e-3)
    }

    func testBadParametersAreRefusedWithoutOutput() throws {
        let folder = try Toolbox.temporaryDirectory(self)
        let out = folder.appendingPathComponent("out")
        try assertRefused(["derivative", "--input", morse, "--parameters", "alpha,nope"], saying: "no numeric variable 'nope'", out: out)
        try assertRefused(["derivative", "--input", silicon, "--vary", "Si,Si,Si:epsilon,eps"],
                          saying: "no field 'eps'", out: out)
        try assertRefused(["derivative", "--input", silicon, "--vary", "Si,Si,C:epsilon"],
                          saying: "has no entry Si,Si,C", out: out)
        try assertRefused(["derivative", "--input", silicon, "--vary", "Si,Si,Si:epsilon", "--elements", "Si"],
                          saying: "do not apply with --vary", out: out)
        try assertRefused(["derivative", "--input", morse, "--vary", "Cu,Cu,Cu:epsilon"],
                          saying: "no `pair_coeff * * FILE", out: out)
        try assertRefused(["elastic", "--input", silicon, "--vary", "Si,Si,Si:epsilon", "--method", "dense",
                           "--center", "0,0,0", "--radius", "3"], saying: "elastic constants use every atom", out: out)
        // A parameter file that does not parse: named with its line.
        let garbled = folder.appendingPathComponent("Si.sw")
        try "Si Si Si 2.1683 2.0951 1.80 21.0 1.20 -0.333333333333\n 7.0495 0.6022 4.0 zero 0.0\n"
            .write(to: garbled, atomically: true, encoding: .utf8)
        let input = folder.appendingPathComponent("si.lammps")
        try String(contentsOfFile: silicon, encoding: .utf8).replacingOccurrences(of: "../potentials/Si.sw", with: "Si.sw")
            .write(to: input, atomically: true, encoding: .utf8)
        try assertRefused(["derivative", "--input", input.path, "--vary", "Si,Si,Si:epsilon"],
                          saying: "Si.sw:2: field q of entry Si,Si,Si is 'zero'", out: out)
        // An unsupported parameter-file style.
        let tersoffMod = try Toolbox.lammpsPackage.appendingPathComponent("share/lammps/potentials/Si.tersoff.mod")
        try FileManager.default.copyItem(at: tersoffMod, to: folder.appendingPathComponent("Si.tersoff.mod"))
        let modInput = folder.appendingPathComponent("mod.lammps")
        try String(contentsOfFile: silicon, encoding: .utf8)
            .replacingOccurrences(of: "pair_style   sw", with: "pair_style   tersoff/mod")
            .replacingOccurrences(of: "../potentials/Si.sw", with: "Si.tersoff.mod")
            .write(to: modInput, atomically: true, encoding: .utf8)
        try assertRefused(["derivative", "--input", modInput.path, "--vary", "Si,Si,Si:beta"],
                          saying: "unsupported parameter-file style", out: out)
    }

    /// A parameter the potential does not depend on: computed (zero) and named in a warning.
    func testParameterThePotentialIgnoresIsNamed() throws {
        let out = try Toolbox.temporaryDirectory(self).appendingPathComponent("out")
        let result = try run(["derivative", "--input", morse, "--parameters", "alpha,a0", "--out", out.path])
        XCTAssertTrue(result.stderr.contains("warning: the energy does not depend on a0"), result.stderr)
        let summary = try Toolbox.json(out.appendingPathComponent("summary.json"))
        XCTAssertEqual(summary["independent_parameters"] as? [String], ["a0"])
    }
}
