import Foundation
import Potentials
import XCTest

/// Stillinger–Weber and Tersoff files: parsing, exact rewriting, and errors that name file and line.
final class ParameterFileTests: XCTestCase {
    let sw = """
        # a comment with numbers 1 2 3
        Si Si Si 2.1683  2.0951  1.80  21.0  1.20  -0.333333333333
                 7.049556277  0.6022245584  4.0  0.0 0.0   # trailing comment

        """
    let url = URL(fileURLWithPath: "/tmp/Si.sw")

    func testStillingerWeberEntrySpanningLines() throws {
        let file = try ParameterFile(text: sw, url: url, style: .stillingerWeber)
        XCTAssertEqual(file.entries.count, 1)
        XCTAssertEqual(file.entries[0].key, "Si,Si,Si")
        XCTAssertEqual(file.entries[0].values, [2.1683, 2.0951, 1.80, 21.0, 1.20, -0.333333333333,
                                                7.049556277, 0.6022245584, 4.0, 0.0, 0.0])
        let lambda = try file.field(entry: "Si,Si,Si", name: "lambda")
        XCTAssertEqual(file.value(of: lambda), 21.0)
        XCTAssertEqual(file.name(of: lambda), "Si,Si,Si:lambda")
    }

    func testRewriteChangesOnlyTheChangedFields() throws {
        let file = try ParameterFile(text: sw, url: url, style: .stillingerWeber)
        let fields = [try file.field(entry: "Si,Si,Si", name: "epsilon"), try file.field(entry: "Si,Si,Si", name: "lambda")]
        let text = file.text(setting: [2.1683, 22.5], of: fields)
        XCTAssertEqual(text, sw.replacingOccurrences(of: "21.0", with: "22.5"))
        let reread = try ParameterFile(text: text, url: url, style: .stillingerWeber)
        XCTAssertEqual(reread.value(of: fields[1]), 22.5)
        XCTAssertEqual(file.text(setting: [2.1683, 21.0], of: fields), sw, "unchanged values keep their spelling")
    }

    func testTersoffEntries() throws {
        let text = "Si Si Si 3.0 1.0 1.3258 4.8381 2.0417 0.0000 22.956\n 0.33675 1.3258 95.373 3.0 0.2 3.2394 3264.7\n"
        let file = try ParameterFile(text: text, url: URL(fileURLWithPath: "/tmp/Si.tersoff"), style: .tersoff)
        XCTAssertEqual(file.value(of: try file.field(entry: "Si,Si,Si", name: "A")), 3264.7)
        XCTAssertEqual(ParameterFile.Style(file: URL(fileURLWithPath: "x/SiC.tersoff")), .tersoff)
        XCTAssertNil(ParameterFile.Style(file: URL(fileURLWithPath: "x/Si.tersoff.mod")))
    }

    func testErrorsNameFileLineAndField() {
        let truncated = "Si Si Si 2.1683 2.0951 1.80\n"
        XCTAssertThrowsError(try ParameterFile(text: truncated, url: url, style: .stillingerWeber)) { error in
            XCTAssertTrue("\(error)".hasPrefix("/tmp/Si.sw:1:"), "\(error)")
            XCTAssertTrue("\(error)".contains("3 of the 11 numbers"), "\(error)")
        }
        let garbled = sw.replacingOccurrences(of: "7.049556277", with: "7.04x")
        XCTAssertThrowsError(try ParameterFile(text: garbled, url: url, style: .stillingerWeber)) { error in
            XCTAssertTrue("\(error)".hasPrefix("/tmp/Si.sw:3:"), "\(error)")
            XCTAssertTrue("\(error)".contains("field A"), "\(error)")
        }
        let file = try! ParameterFile(text: sw, url: url, style: .stillingerWeber)
        XCTAssertThrowsError(try file.field(entry: "Si,Si,C", name: "epsilon")) { XCTAssertTrue("\($0)".contains("entries are Si,Si,Si")) }
        XCTAssertThrowsError(try file.field(entry: "Si,Si,Si", name: "eps")) { XCTAssertTrue("\($0)".contains("lambda")) }
    }
}
