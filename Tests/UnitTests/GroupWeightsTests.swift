import Foundation
import Workflows
import XCTest

/// FitSNAP's group table as CSV: columns by header name, bad rows refused with file:line.
final class GroupWeightsTests: XCTestCase {
    private func refusal(_ text: String, file: String = "groups.csv") -> String {
        do {
            _ = try GroupWeights(text: text, file: file)
            return "accepted"
        } catch { return "\(error)" }
    }

    func testShippedTableAndColumnsByName() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let table = try GroupWeights(contentsOf: root.appendingPathComponent("inputs/WBe_PRB2019/groups.csv"))
        XCTAssertEqual(table.groups.count, 44)
        XCTAssertEqual(try table.weights(of: "Divacancy"), .init(energy: 0.0269003754, force: 0.2379420856))
        XCTAssertEqual(try table.weights(of: "BCC_ForceLib_W111"), .init(energy: 0.003001934, force: 0.1396702165))
        // Any column order, optional columns left out, comments and blank lines skipped.
        let reordered = try GroupWeights(text: "# weights\nforce_weight, group ,energy_weight\n\n2.5,Bulk,0.5\n", file: "t.csv")
        XCTAssertEqual(try reordered.weights(of: "Bulk"), .init(energy: 0.5, force: 2.5))
        XCTAssertEqual(try GroupWeights.uniform.weights(of: "anything"), .init(energy: 1, force: 1))
    }

    func testGroupMissingFromTheTableRefusedNamingGroupAndFile() throws {
        let table = try GroupWeights(text: "group,energy_weight,force_weight\nBulk,1,2\n", file: "/data/groups.csv")
        XCTAssertThrowsError(try table.weights(of: "Divacancy")) { error in
            XCTAssertTrue("\(error)".contains("/data/groups.csv") && "\(error)".contains("Divacancy"), "\(error)")
        }
    }

    func testBadRowsRefusedWithFileAndLine() {
        let header = "group,training_size,testing_size,energy_weight,force_weight,stress_weight\n"
        let bad = refusal(header + "Bulk,1.0,0.0,1,2,1e-12\nSurface,1.0,0.0,heavy,2,1e-12\n")
        XCTAssertTrue(bad.contains("groups.csv:3") && bad.contains("energy_weight") && bad.contains("heavy"), bad)
        let negative = refusal(header + "Bulk,1.0,0.0,1,-2,1e-12\n")
        XCTAssertTrue(negative.contains("groups.csv:2") && negative.contains("force_weight") && negative.contains("negative"), negative)
        let twice = refusal(header + "Bulk,1.0,0.0,1,2,0\nBulk,1.0,0.0,1,3,0\n")
        XCTAssertTrue(twice.contains("groups.csv:3") && twice.contains("twice"), twice)
        let short = refusal(header + "Bulk,1.0,0.0,1\n")
        XCTAssertTrue(short.contains("groups.csv:2") && short.contains("fields"), short)
        let noForce = refusal("group,energy_weight\nBulk,1\n")
        XCTAssertTrue(noForce.contains("groups.csv:1") && noForce.contains("force_weight"), noForce)
        XCTAssertTrue(refusal("").contains("header"))
        XCTAssertTrue(refusal(header + "Bulk,1.0,0.0,nan,2,0\n").contains("not a number"))
    }
}
