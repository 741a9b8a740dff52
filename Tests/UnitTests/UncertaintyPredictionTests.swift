import Atomistics
import ImplicitDerivative
import LinearAlgebra
import ReferenceModel
import Workflows
import XCTest

/// The uq campaign's predictions on the reference model (perfect crystal and vacancy, both cells
/// relaxed isotropically), against the campaign's own true re-relaxations of each member.
final class UncertaintyPredictionTests: XCTestCase {
    /// A relative change of Θ that moves both the energy and the volume of formation.
    static let direction = [0.05, -0.04, 0.02]

    /// One sample Θ̄ (1 + direction), scaled by `lambdas`.
    static func campaign(lambdas: [Double]) throws -> UncertaintyCampaign {
        let mean = MorsePair().theta
        let sample = zip(mean, direction).map { $0 * (1 + $1) }
        let (bulk, vacancy, atoms) = Fixtures.bulkAndVacancy()
        let systems = [UncertaintySystem(name: "bulk", energy: bulk, cell: .iso),
                       UncertaintySystem(name: "vacancy", energy: vacancy, cell: .iso)]
        return try UncertaintyCampaign(
            systems: systems, quantities: SystemQuantity.vacancyFormation(bulk: "bulk", vacancy: "vacancy", bulkAtoms: atoms),
            ensemble: ParameterEnsemble(samples: [sample], mean: mean, lambdas: lambdas), method: DenseMethod())
    }

    typealias Row = (point: EnsemblePoint, errors: [String: [ExpansionLevel: Double]], truth: TruthOutcome)

    /// The campaign with λ 0.4, 0.2, 0.1 (small) and 2.5 (far out), its reference and every
    /// member's errors: computed once for both tests, the relaxations being most of their time.
    nonisolated(unsafe) private static var shared: (campaign: UncertaintyCampaign, reference: UncertaintyCampaign.Reference,
                                                    rows: [Row])?

    static func computed() throws -> (campaign: UncertaintyCampaign, reference: UncertaintyCampaign.Reference, rows: [Row]) {
        if let shared { return shared }
        let campaign = try Self.campaign(lambdas: [0.4, 0.2, 0.1, 2.5])
        let reference = try campaign.reference(progress: { _ in })
        shared = (campaign, reference, try errors(campaign, reference))
        return shared!
    }

    /// Per member, quantity and level: |predicted − true|; and the true values.
    static func errors(_ campaign: UncertaintyCampaign, _ reference: UncertaintyCampaign.Reference) throws
        -> [Row]
    {
        try campaign.points.map { point in
            let truth = campaign.truth(point, reference: reference)
            XCTAssertNil(truth.failure, "member \(point)")
            let predicted = campaign.predict(point, reference: reference)
            let errors = try predicted.map { name, levels in
                let value = try XCTUnwrap(truth.quantities[name], "member \(point): \(truth.failure ?? "")")
                return (name, levels.mapValues { abs($0 - value) })
            }
            return (point, Dictionary(uniqueKeysWithValues: errors), truth)
        }
    }

    /// h+ih is the most accurate level, and its errors fall as the expansion's order says when
    /// δΘ halves: the formation energy (second order) as δ³, the formation volume (first order
    /// in the strain) as δ²; level c, which relaxes nothing, misses the relaxation energy (δ²)
    /// and keeps the reference volume (δ).
    func testPredictionsAgainstTrueReRelaxations() throws {
        let rows = try Self.computed().rows.filter { $0.point.lambda < 1 }
        for row in rows {
            print("uq unit: λ \(row.point.lambda): E_f \(row.truth.quantities["E_f"]!) eV, V_f \(row.truth.quantities["V_f"]!) Å³; "
                  + "errors E_f \(Self.text(row.errors["E_f"]!)), V_f \(Self.text(row.errors["V_f"]!))")
            for quantity in ["E_f", "V_f"] {
                let errors = row.errors[quantity]!
                for level in ExpansionLevel.allCases where level != .hih {
                    XCTAssertLessThan(errors[.hih]!, errors[level]!, "\(quantity) at λ \(row.point.lambda): \(errors)")
                }
            }
        }
        for k in 1..<rows.count {
            func ratio(_ quantity: String, _ level: ExpansionLevel) -> Double {
                rows[k - 1].errors[quantity]![level]! / rows[k].errors[quantity]![level]!
            }
            XCTAssertEqual(ratio("E_f", .hih), 8, accuracy: 2.5, "E_f h+ih errors")
            XCTAssertEqual(ratio("V_f", .hih), 4, accuracy: 1.2, "V_f h+ih errors")
            XCTAssertEqual(ratio("E_f", .c), 4, accuracy: 1.2, "E_f c errors")
            XCTAssertEqual(ratio("V_f", .c), 2, accuracy: 0.6, "V_f c errors")
        }
    }

    /// The campaign's error indicator flags a member outside the range where the expansion holds:
    /// far larger than for a small member, and of the order of the member's true error.
    func testIndicatorFlagsAMemberOutsideTheLinearRange() throws {
        let (campaign, reference, all) = try Self.computed()
        let rows = all.filter { [0.1, 2.5].contains($0.point.lambda) }
        let indicators = try rows.map { try campaign.indicator($0.point, reference: reference).values }
        for (row, indicator) in zip(rows, indicators) {
            print("uq unit: λ \(row.point.lambda): E_f h+ih error \(row.errors["E_f"]![.hih]!), indicator \(indicator["E_f"]![.hih]!); "
                  + "V_f error \(row.errors["V_f"]![.hih]!), indicator \(indicator["V_f"]![.hih]!)")
        }
        let (small, large) = (indicators[0]["E_f"]![.hih]!, indicators[1]["E_f"]![.hih]!)
        XCTAssertGreaterThan(large, 100 * small)
        let error = rows[1].errors["E_f"]![.hih]!
        XCTAssertGreaterThan(large, 0.1 * error)
        XCTAssertLessThan(large, 10 * error)
    }

    static func text(_ errors: [ExpansionLevel: Double]) -> String {
        ExpansionLevel.allCases.map { String(format: "%@ %.2e", $0.rawValue, errors[$0]!) }.joined(separator: ", ")
    }
}
