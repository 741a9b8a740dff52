import Foundation
import Potentials
import XCTest

/// The whole chain on SNAP kinds LAMMPS distributes, through the command line: derivative →
/// predict --validate → fit → uq (and elastic), each checked against LAMMPS at the changed
/// coefficients. Quadratic: Mo_Zuo_JPCA2020.quadratic (495 coefficients); explicit
/// multi-element: InP_JCPA2020 (chemflag 1, 480 coefficients).
final class SNAPKindCommandTests: XCTestCase {
    private func potential(_ name: String) throws -> URL {
        try Toolbox.lammpsPackage.appendingPathComponent("share/lammps/potentials/\(name)")
    }

    private static let molybdenum = """
        lattice bcc 3.16
        region cell block 0 3 0 3 0 3
        create_box 1 cell
        create_atoms 1 region cell
        mass 1 95.95
        group core id 2
        """
    private static let indiumPhosphide = """
        lattice diamond 5.87
        region cell block 0 2 0 2 0 2
        create_box 2 cell
        create_atoms 1 region cell basis 1 1 basis 2 1 basis 3 1 basis 4 1 basis 5 2 basis 6 2 basis 7 2 basis 8 2
        mass 1 114.818
        mass 2 30.974
        group core id 2
        displace_atoms all random 0.02 0.02 0.02 7
        """

    /// InP's SNAP is overlaid with ZBL, as LAMMPS's InP_JCPA2020.mliap does (without it atoms collapse).
    private static func pairStyle(_ elements: String) -> String {
        elements == "In P" ? """
            pair_style hybrid/overlay zbl 4.0 4.2 snap
            pair_coeff 1 1 zbl 49 49
            pair_coeff 1 2 zbl 49 15
            pair_coeff 2 2 zbl 15 15
            pair_coeff * * snap
            """ : "pair_style snap\npair_coeff * *"
    }

    /// An input with `structure`, optionally its atom 1 removed, and the SNAP with these files.
    private func input(_ name: String, _ structure: String, snapcoeff: URL, snapparam: URL, elements: String,
                       vacancy: Bool = true, in folder: URL) throws -> URL {
        let url = folder.appendingPathComponent(name)
        try """
            units metal
            boundary p p p
            atom_style atomic
            \(structure)
            \(vacancy ? "group vacancy id 1\ndelete_atoms group vacancy" : "")
            \(Self.pairStyle(elements)) \(snapcoeff.path) \(snapparam.path) \(elements)
            """.write(to: url, atomically: true, encoding: .utf8)
        return url
    }

    /// Every coefficient after beta0 changed by up to ±`lambda` relative (seeded). InP's 480
    /// coefficients are large and cancel: 1 % moves its vacancy by 3 eV, 0.1 % is a small change.
    private func perturbed(_ file: URL, _ lambda: Double, in folder: URL) throws -> URL {
        var coefficients = try SNAPCoefficients(contentsOf: file)
        var state: UInt64 = 5
        for e in coefficients.elements.indices {
            for k in 1..<coefficients.elements[e].coefficients.count {
                state = state &* 6364136223846793005 &+ 1442695040888963407
                coefficients.elements[e].coefficients[k] *= 1 + lambda * (Double(state >> 11) / Double(1 << 53) * 2 - 1)
            }
        }
        let url = folder.appendingPathComponent("perturbed.snapcoeff")
        try coefficients.write(to: url)
        return url
    }

    /// derivative, predict --validate with a perturbed file, and a Gauss–Newton fit back to the
    /// perturbed potential's relaxed structure (reachable: the loss falls by orders of magnitude);
    /// final.* is the same kind of SNAP. Returns the folder and the vacancy input.
    @discardableResult
    private func chain(_ files: String, _ structure: String, elements: String, parameters: Int,
                       perturbation: Double) throws -> (URL, URL) {
        let folder = try Toolbox.temporaryDirectory(self)
        let (snapcoeff, snapparam) = (try potential("\(files).snapcoeff"), try potential("\(files).snapparam"))
        let vacancy = try input("vacancy.lammps", structure, snapcoeff: snapcoeff, snapparam: snapparam, elements: elements, in: folder)
        let changed = try perturbed(snapcoeff, perturbation, in: folder)

        let derivative = folder.appendingPathComponent("derivative")
        let made = try Toolbox.implicitLammps(["derivative", "--input", vacancy.path, "--out", derivative.path])
        XCTAssertEqual(made.status, 0, made.stderr)
        XCTAssertEqual(try Toolbox.json(derivative.appendingPathComponent("summary.json"))["parameters"] as? Int, parameters)

        let predicted = folder.appendingPathComponent("predict")
        let predict = try Toolbox.implicitLammps(["predict", "--input", vacancy.path, "--perturbed", changed.path,
                                                  "--derivative", derivative.path, "--validate", "--out", predicted.path])
        XCTAssertEqual(predict.status, 0, predict.stderr)
        // A perturbation of every coefficient breaks chemflag's ties: said, and predicted for the tied file.
        XCTAssertEqual((predict.stdout + predict.stderr).contains("coefficients of identical descriptors differ"),
                       elements == "In P", predict.stdout + predict.stderr)
        let levels = try XCTUnwrap(try Toolbox.json(predicted.appendingPathComponent("summary.json"))["levels"] as? [[String: Any]])
        let error = { (name: String, key: String) in levels.first { $0["level"] as? String == name }?[key] as? Double ?? .nan }
        XCTAssertLessThan(error("ih", "energy_error"), 0.1 * error("c", "energy_error"), "\(levels)")
        XCTAssertLessThan(error("ih", "position_error"), 0.05, "\(levels)")

        // The target: LAMMPS's minimum for the perturbed potential, written as FitSNAP writes one
        // (chemflag: the coefficients of identical descriptors equal, else its forces are not the
        // gradient of its energy and the relaxation stalls).
        let potential = try SNAPPotential(coefficientFile: snapcoeff, parameterFile: snapparam,
                                          typeElements: elements.split(separator: " ").map(String.init))
        let tied = folder.appendingPathComponent("tied.snapcoeff")
        try potential.with(theta: try potential.theta(of: try SNAPCoefficients(contentsOf: changed), file: changed.path))
            .write(to: tied)
        let fitted = try Toolbox.fitBackToTarget(
            input: vacancy, targetInput: try input("target.lammps", structure, snapcoeff: tied, snapparam: snapparam,
                                                   elements: elements, in: folder), in: folder)
        let written = try SNAPCoefficients(contentsOf: fitted.appendingPathComponent("final.snapcoeff"))
        XCTAssertEqual(written.coefficientsPerElement * written.elements.count, parameters + written.elements.count)
        return (folder, vacancy)
    }

    /// One Gauss–Newton iteration of the chain's fit with atom 2 (group core) turned into a new element X.
    private func alchemyFit(_ vacancy: URL, in folder: URL) throws -> (Toolbox.Result, URL) {
        let config = folder.appendingPathComponent("alchemy.yaml")
        try """
            alchemy: {element: X, atoms: {group: core}}
            systems:
              - {name: vacancy, input: \(vacancy.path), target: {structure: \(folder.path)/target/relaxed.data}}
            loop: {iterations: 1, step: gauss-newton}
            """.write(to: config, atomically: true, encoding: .utf8)
        let out = folder.appendingPathComponent("alchemy")
        return (try Toolbox.implicitLammps(["fit", "--config", config.path, "--out", out.path]), out)
    }

    func testQuadraticSNAPChain() throws {
        let (folder, vacancy) = try chain("Mo_Zuo_JPCA2020.quadratic", Self.molybdenum, elements: "Mo", parameters: 495,
                                          perturbation: 0.01)
        // Alchemy: atom 2 becomes X, a copy of Mo's linear and quadratic block (exact: same energy and forces).
        let (fit, substituted) = try alchemyFit(vacancy, in: folder)
        XCTAssertEqual(fit.status, 0, fit.stderr)
        XCTAssertTrue(fit.stderr.contains("a copy of Mo") && fit.stderr.contains("forces changed by 0 eV/Å"), fit.stderr)
        let written = try SNAPCoefficients(contentsOf: substituted.appendingPathComponent("final.snapcoeff"))
        XCTAssertEqual(written.elements.map(\.name), ["Mo", "X"])
        XCTAssertEqual(written.coefficientsPerElement, 496)
        // uq: an ensemble around the quadratic SNAP, two members truly relaxed.
        let uqConfig = folder.appendingPathComponent("uq.yaml")
        try """
            potential: {snapcoeff: \(try potential("Mo_Zuo_JPCA2020.quadratic.snapcoeff").path), \
            snapparam: \(try potential("Mo_Zuo_JPCA2020.quadratic.snapparam").path)}
            ensemble:
              draws: {count: 3, seed: 1, relative_sd: 0.005}
            quantity: vacancy_formation
            system: {lattice: bcc, a0: 3.16, cells: 2, box: iso}
            truth: 2
            """.write(to: uqConfig, atomically: true, encoding: .utf8)
        let uq = try Toolbox.implicitLammps(["uq", "--config", uqConfig.path, "--out", folder.appendingPathComponent("uq").path])
        XCTAssertEqual(uq.status, 0, uq.stderr)
        // elastic: the relaxed-ion tensor (its derivative would be 990 tensors by differences in Θ).
        let bulk = try input("bulk.lammps", Self.molybdenum, snapcoeff: try potential("Mo_Zuo_JPCA2020.quadratic.snapcoeff"),
                             snapparam: try potential("Mo_Zuo_JPCA2020.quadratic.snapparam"), elements: "Mo", vacancy: false,
                             in: folder)
        let elastic = try Toolbox.implicitLammps(["elastic", "--input", bulk.path, "--box", "aniso", "--parameter-derivative", "none",
                                                  "--out", folder.appendingPathComponent("elastic").path])
        XCTAssertEqual(elastic.status, 0, elastic.stderr)
    }

    /// chemflag: the chain, and alchemy refused with the reason (a new element changes every
    /// element's descriptors), naming the file, with nothing written.
    func testExplicitMultiElementSNAPChainAndAlchemyRefused() throws {
        let (folder, vacancy) = try chain("InP_JCPA2020", Self.indiumPhosphide, elements: "In P", parameters: 480,
                                          perturbation: 0.001)
        let (refused, out) = try alchemyFit(vacancy, in: folder)
        XCTAssertNotEqual(refused.status, 0)
        XCTAssertTrue(refused.stderr.contains("InP_JCPA2020.snapparam") && refused.stderr.contains("chemflag 1"), refused.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: out.path))

        // uq: two members around InP (480 coefficients, differentiated along the two deviations
        // only), one truly relaxed: the member written with its tied coefficients relaxes.
        let (snapcoeff, snapparam) = (try potential("InP_JCPA2020.snapcoeff"), try potential("InP_JCPA2020.snapparam"))
        let bulk = try input("bulk.lammps", Self.indiumPhosphide, snapcoeff: snapcoeff, snapparam: snapparam, elements: "In P",
                             vacancy: false, in: folder)
        let stderr = try Toolbox.uqOnVacancy(vacancy, bulk: bulk, bulkAtoms: 64, draws: 2, spread: 0.0005, truth: 1, in: folder)
        XCTAssertTrue(stderr.contains("along the 2 members' deviations (not all 480 parameters)"), stderr)
    }
}
