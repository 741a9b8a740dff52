import Foundation
import Workflows
import XCTest

/// The eq. 44 drift judgement of a campaign that never re-relaxed, without LAMMPS.
final class FitDriftTests: XCTestCase {
    private func record(_ iteration: Int, predicted: Double, relaxed: Double?) throws -> FitRecord {
        let relaxedJSON = relaxed.map { "\($0)" } ?? "null"
        let json = """
            {"iteration": \(iteration), "lossPredicted": \(predicted), "lossRelaxed": \(relaxedJSON), "step": 0,
             "maxDisplacement": 0, "forceEvaluations": 0, "seconds": 0, "theta": [0], "properties": {}}
            """
        return try JSONDecoder().decode(FitRecord.self, from: Data(json.utf8))
    }

    func testWarnsWhenTheTrueLossContradictsThePrediction() throws {
        // The paper's dislocation without relax_each: predicted 0.048, re-relaxed 0.620.
        let history = [try record(0, predicted: 0.552, relaxed: 0.552), try record(20, predicted: 0.0482, relaxed: nil)]
        let final = try record(20, predicted: 0.0482, relaxed: 0.620)
        let warning = FitCampaign.driftWarning(history: history, final: final, best: history[0])
        XCTAssertNotNil(warning)
        XCTAssertTrue(warning!.contains("relax_each"))
        XCTAssertTrue(warning!.contains("0.62"))
    }

    func testSilentWhenThePredictionHoldsOrWasRelaxed() throws {
        let history = [try record(0, predicted: 0.5, relaxed: 0.5), try record(5, predicted: 0.010, relaxed: nil)]
        XCTAssertNil(FitCampaign.driftWarning(history: history, final: try record(5, predicted: 0.010, relaxed: 0.0125),
                                              best: history[0]))
        // relax_each: every iterate has a true loss already; nothing was predicted blindly.
        let relaxed = [try record(0, predicted: 0.5, relaxed: 0.5), try record(5, predicted: 0.010, relaxed: 0.3)]
        XCTAssertNil(FitCampaign.driftWarning(history: relaxed, final: try record(5, predicted: 0.010, relaxed: 0.3),
                                              best: relaxed[1]))
    }
}
