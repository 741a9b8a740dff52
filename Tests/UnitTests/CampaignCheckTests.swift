import Atomistics
import ImplicitDerivative
import ReferenceModel
import Workflows
import XCTest

/// The one check of a campaign's systems against its targets and quantities (the campaign files
/// run it before any LAMMPS work, the campaigns on their systems), and the campaigns' wording.
final class CampaignCheckTests: XCTestCase {
    let bulk = SystemOutline(name: "bulk", cell: .iso, target: .none)
    let fixedVacancy = SystemOutline(name: "vacancy", cell: .fixed, target: .none)

    func testFirstProblemOfTheOutline() {
        let formation = SystemQuantity.vacancyFormation(bulk: "bulk", vacancy: "vacancy", bulkAtoms: 32)
        XCTAssertEqual(SystemOutline.firstProblem([bulk, fixedVacancy], quantities: [formation[0]], requireUse: true), nil)
        XCTAssertEqual(SystemOutline.firstProblem([bulk, fixedVacancy], quantities: formation, requireUse: false),
                       .fixedVolume(quantity: 1, system: "vacancy"))
        XCTAssertEqual(SystemOutline.firstProblem([bulk], quantities: formation, requireUse: false),
                       .unknownSystem(quantity: 0, key: "energy", system: "vacancy"))
        XCTAssertEqual(SystemOutline.firstProblem([bulk, fixedVacancy], quantities: [], requireUse: true), .unused(system: "bulk"))
        XCTAssertEqual(SystemOutline.firstProblem([bulk, fixedVacancy], quantities: [], requireUse: false), nil)
        let structure = SystemOutline(name: "core", cell: .aniso, target: .structure)
        XCTAssertEqual(SystemOutline.firstProblem([structure], quantities: [], requireUse: true), .structureTargetCell(system: "core"))
    }

    /// The fit campaign refuses what the outline finds, in its own words.
    func testFitCampaignRefusals() throws {
        let crystal = MorseCrystal.fcc()
        let target = try crystal.structure().positions
        func refusal(_ systems: [FitSystem], _ targets: [PropertyTarget] = []) -> String {
            do {
                _ = try FitCampaign(systems: systems, settings: FitSettings(), method: DenseMethod(), propertyTargets: targets)
                return "accepted"
            } catch { return "\(error)" }
        }
        XCTAssertEqual(refusal([FitSystem(name: "v", energy: crystal, target: .structure(target), cell: .iso)]),
                       "system v: a structure target needs a fixed cell (the target's cell)")
        XCTAssertEqual(refusal([FitSystem(name: "v", energy: crystal, target: .none)]), "system v has no target and no energy target uses it")
        let volume = PropertyTarget(name: "V", coefficients: [:], volumeCoefficients: ["v": 1], value: 1)
        XCTAssertTrue(refusal([FitSystem(name: "v", energy: crystal, target: .none)], [volume])
            .hasPrefix("property target V uses the volume of system v, whose cell is fixed"))
        XCTAssertEqual(refusal([FitSystem(name: "w", energy: crystal, target: .none, cell: .iso)], [volume]),
                       "property target V names system 'v', which the campaign does not have")
    }

    /// The uq campaign too.
    func testUncertaintyCampaignRefusals() throws {
        let systems = [UncertaintySystem(name: "bulk", energy: MorseCrystal.fcc(vacancies: []), cell: .iso),
                       UncertaintySystem(name: "vacancy", energy: MorseCrystal.fcc(), cell: .fixed)]
        let ensemble = ParameterEnsemble(samples: [MorsePair().theta], mean: MorsePair().theta, lambdas: [1])
        XCTAssertThrowsError(try UncertaintyCampaign(
            systems: systems, quantities: SystemQuantity.vacancyFormation(bulk: "bulk", vacancy: "vacancy", bulkAtoms: 32),
            ensemble: ensemble, method: DenseMethod())) { error in
            XCTAssertEqual("\(error)", "quantity V_f uses the volume of system vacancy, whose cell is fixed")
        }
    }
}
