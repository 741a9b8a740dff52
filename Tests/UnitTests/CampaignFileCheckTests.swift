import Foundation
@testable import Workflows
import XCTest

/// The campaign files run the systems check before any LAMMPS work (the inputs here are empty
/// files no LAMMPS could run), naming their own keys.
final class CampaignFileCheckTests: XCTestCase {
    /// The error reading `yaml` (with empty files at `files`) raises, or nil.
    private func refusal<File: CampaignFileSchema>(_: File.Type, _ yaml: String, files: [String]) throws -> CampaignFileError? {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("campaign-check-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        for name in files { try "".write(to: folder.appendingPathComponent(name), atomically: true, encoding: .utf8) }
        let url = folder.appendingPathComponent("campaign.yaml")
        try yaml.write(to: url, atomically: true, encoding: .utf8)
        do {
            _ = try File.read(url)
            return nil
        } catch let error as CampaignFileError {
            return error
        }
    }

    func testFitFileRefusesAStructureTargetOnARelaxingCell() throws {
        let error = try refusal(FitCampaignFile.self, """
            systems:
              - {name: core, input: core.lammps, cell: iso, target: {structure: target.xyz}}
            vary: {parameters: [a]}
            """, files: ["core.lammps", "target.xyz"])
        XCTAssertEqual(error?.key, "systems[core].cell")
        XCTAssertEqual(error?.reason, "systems[core].cell: a structure target needs a fixed cell (the target's)")
    }

    func testFitFileRefusesAnUnusedSystemAndAnUnknownOne() throws {
        let unused = try refusal(FitCampaignFile.self, """
            systems:
              - {name: bulk, input: bulk.lammps}
            vary: {parameters: [a]}
            """, files: ["bulk.lammps"])
        XCTAssertEqual(unused?.reason, "systems[bulk] has no target and no property uses it")
        let unknown = try refusal(FitCampaignFile.self, """
            systems:
              - {name: bulk, input: bulk.lammps, cell: iso}
            properties: [{name: V, volume: {vacancy: 1}, value: 10}]
            vary: {parameters: [a]}
            """, files: ["bulk.lammps"])
        XCTAssertEqual(unknown?.key, "properties[0].volume")
        XCTAssertEqual(unknown?.reason, "properties[0].volume names system 'vacancy', which is not in systems")
    }

    /// An unknown system is refused by the file; the volume of a fixed cell by the campaign, once
    /// the ensemble has been read (whose refusals come first, as they always did).
    func testUncertaintyFileRefusesAnUnknownSystemAndLeavesFixedCellsToTheCampaign() throws {
        func yaml(_ quantity: String) -> String {
            """
            ensemble: {samples: samples.txt}
            vary: {parameters: [a]}
            systems:
              - {name: bulk, input: bulk.lammps}
              - {name: vacancy, input: vacancy.lammps, box: fixed}
            quantities:
              - \(quantity)
            """
        }
        let files = ["samples.txt", "bulk.lammps", "vacancy.lammps"]
        let unknown = try refusal(UncertaintyCampaignFile.self, yaml("{name: E, energy: {vacancyy: 1, bulk: -1}}"), files: files)
        XCTAssertEqual(unknown?.key, "quantities[0].energy")
        XCTAssertEqual(unknown?.reason, "quantities[0].energy names system 'vacancyy', which is not among the systems")
        XCTAssertNil(try refusal(UncertaintyCampaignFile.self, yaml("{name: V, volume: {vacancy: 1, bulk: -1}}"), files: files))
    }

    /// `relax.min_style` names a minimizer, or is refused with the choices, in both campaign kinds.
    func testRelaxMinimizerIsOneOfTheChoices() throws {
        let fit = try refusal(FitCampaignFile.self, """
            systems:
              - {name: bulk, input: bulk.lammps, cell: iso}
            properties: [{name: V, volume: {bulk: 1}, value: 10}]
            vary: {parameters: [a]}
            relax: {ftol: 1e-8, min_style: lbfgs}
            """, files: ["bulk.lammps"])
        XCTAssertEqual(fit?.key, "relax.min_style")
        XCTAssertTrue(fit?.reason.contains("precon-lbfgs") ?? false, fit?.reason ?? "accepted")
        let uq = try refusal(UncertaintyCampaignFile.self, """
            ensemble: {samples: samples.txt}
            vary: {parameters: [a]}
            systems:
              - {name: bulk, input: bulk.lammps}
            quantities:
              - {name: V, volume: {bulk: 1}}
            relax: {min_style: quickmin}
            """, files: ["samples.txt", "bulk.lammps"])
        XCTAssertEqual(uq?.key, "relax.min_style")
        XCTAssertNil(try refusal(FitCampaignFile.self, """
            systems:
              - {name: bulk, input: bulk.lammps, cell: iso}
            properties: [{name: V, volume: {bulk: 1}, value: 10}]
            vary: {parameters: [a]}
            relax: {min_style: precon-lbfgs}
            """, files: ["bulk.lammps"]))
    }

    /// `loop.explore` applies to the steps it changes, or is refused.
    func testExploreAppliesOnlyToGaussNewtonAndLBFGS() throws {
        let campaign = { (loop: String) in """
            systems:
              - {name: core, input: core.lammps, target: {structure: target.xyz}}
            vary: {parameters: [a]}
            loop: \(loop)
            """ }
        let files = ["core.lammps", "target.xyz"]
        let adaptive = try refusal(FitCampaignFile.self, campaign("{explore: 2}"), files: files)
        XCTAssertEqual(adaptive?.key, "loop.explore")
        XCTAssertTrue(adaptive?.reason.contains("gauss-newton or lbfgs") ?? false, adaptive?.reason ?? "accepted")
        XCTAssertEqual(try refusal(FitCampaignFile.self, campaign("{step: gauss-newton, explore: -1}"), files: files)?.key, "loop.explore")
        XCTAssertNil(try refusal(FitCampaignFile.self, campaign("{step: gauss-newton, explore: 3}"), files: files))
        XCTAssertNil(try refusal(FitCampaignFile.self, campaign("{step: lbfgs, explore: 1}"), files: files))
    }
}
