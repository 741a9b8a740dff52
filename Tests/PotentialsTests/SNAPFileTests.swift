import Foundation
import Potentials
import XCTest

final class SNAPFileTests: XCTestCase {
    let potentials = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("potentials")

    /// Two elements, indented lines, inline comments: the layout of real multi-element files.
    let twoElements = """
        # DATE: 2026 CITATION: test header
        #
          2 4   # nelements ncoeff
          W 0.5 1.0
          0.1
          -0.123456789012345678   # beta1
          3.0e-5
          4
          X 0.45 0.9
          0.2
          0.5
          -6.25e-10
          7
        """

    private func temporaryFolder() throws -> URL {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("snap-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: folder) }
        return folder
    }

    func testShippedTungstenRoundTripsExactly() throws {
        let url = potentials.appendingPathComponent("W_2940_2017_2.snapcoeff")
        let original = try SNAPCoefficients(contentsOf: url)
        XCTAssertEqual(original.elements.map(\.name), ["W"])
        XCTAssertEqual(original.coefficientsPerElement, 56)
        XCTAssertTrue(original.header[0].contains("CITATION: Wood, M. A. and Thompson, A. P."))
        let reread = try SNAPCoefficients(text: original.text)
        XCTAssertEqual(reread, original)
        XCTAssertEqual(reread.elements[0].coefficients[0], 0.781170857801)
    }

    func testMultiElementFileWithInlineComments() throws {
        let coefficients = try SNAPCoefficients(text: twoElements)
        XCTAssertEqual(coefficients.elements.map(\.name), ["W", "X"])
        XCTAssertEqual(coefficients.elements[0].coefficients[1], -0.123456789012345678)
        XCTAssertEqual(coefficients.elements[1].radius, 0.45)
        XCTAssertEqual(try SNAPCoefficients(text: coefficients.text), coefficients)
        XCTAssertEqual(coefficients.header.first, "# DATE: 2026 CITATION: test header")
    }

    func testErrorsNameTheFileAndLine() {
        let garbled = twoElements.replacingOccurrences(of: "3.0e-5", with: "3.0e-5 oops")
        XCTAssertThrowsError(try SNAPCoefficients(text: garbled, file: "bad.snapcoeff")) { error in
            XCTAssertEqual("\(error)", "bad.snapcoeff:7: expected coefficient 2 of element W (one number), found \"3.0e-5 oops\"")
        }
        let truncated = twoElements.components(separatedBy: "\n").dropLast(2).joined(separator: "\n")
        XCTAssertThrowsError(try SNAPCoefficients(text: truncated, file: "short.snapcoeff")) { error in
            XCTAssertTrue("\(error)".hasPrefix("short.snapcoeff:"), "\(error)")
            XCTAssertTrue("\(error)".contains("coefficient 2 of element X"), "\(error)")
        }
        XCTAssertThrowsError(try SNAPCoefficients(text: "# only\nW 1 2\n", file: "x.snapcoeff")) { error in
            XCTAssertTrue("\(error)".contains("x.snapcoeff:2: expected \"nelements ncoeff\""), "\(error)")
        }
        XCTAssertThrowsError(try SNAPParameters(text: "twojmax 8\n", file: "p.snapparam")) { error in
            XCTAssertEqual("\(error)", "p.snapparam: missing required keyword rcutfac")
        }
    }

    func testParameterVectorLayoutAndCountRefusals() throws {
        let folder = try temporaryFolder()
        let coefficientFile = folder.appendingPathComponent("two.snapcoeff")
        // 2J = 2 gives 5 bispectrum components: 6 coefficients per element with beta0.
        var text = twoElements.replacingOccurrences(of: "2 4", with: "2 6")
        text = text.replacingOccurrences(of: "  4\n", with: "  4\n  5\n  6\n")
        text = text.replacingOccurrences(of: "  7", with: "  7\n  8\n  9")
        try text.write(to: coefficientFile, atomically: true, encoding: .utf8)
        let parameterFile = folder.appendingPathComponent("two.snapparam")
        try "rcutfac 4.7 # cutoff\ntwojmax 2\nbzeroflag 0\n".write(to: parameterFile, atomically: true, encoding: .utf8)

        let both = try SNAPPotential(coefficientFile: coefficientFile, parameterFile: parameterFile, typeElements: ["W", "X"])
        XCTAssertEqual(both.descriptorCount, 5)
        XCTAssertEqual(both.parameterCount, 10)
        XCTAssertEqual(Array(both.theta.prefix(2)), [-0.123456789012345678, 3.0e-5])  // beta0 excluded
        let onlyX = try SNAPPotential(coefficientFile: coefficientFile, parameterFile: parameterFile,
                                      typeElements: ["W", "X"], varyingElements: ["X"])
        XCTAssertEqual(onlyX.theta, [0.5, -6.25e-10, 7, 8, 9])
        let changed = onlyX.with(theta: [1, 2, 3, 4, 5])
        XCTAssertEqual(changed.elements[0], onlyX.coefficients.elements[0], "W stays fixed")
        XCTAssertEqual(changed.elements[1].coefficients, [0.2, 1, 2, 3, 4, 5], "beta0 kept")
        XCTAssertTrue(both.descriptorArguments.hasPrefix("4.7 0.99363 2 0.5 0.45 1.0 0.9 rmin0 0.0 switchflag 1 bzeroflag 0"),
                      both.descriptorArguments)
        XCTAssertThrowsError(try SNAPPotential(coefficientFile: coefficientFile, parameterFile: parameterFile,
                                               typeElements: ["W"], varyingElements: ["Be"]))

        try "rcutfac 4.7\ntwojmax 2\nquadraticflag 1\n".write(to: parameterFile, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try SNAPPotential(coefficientFile: coefficientFile, parameterFile: parameterFile,
                                               typeElements: ["W", "X"])) { error in
            XCTAssertTrue("\(error)".contains("twojmax 2, quadraticflag 1 in two.snapparam give 20 descriptors + beta0 = 21"),
                          "\(error)")
        }
        // Quadratic and explicit multi-element SNAP count their coefficients like LAMMPS.
        try "rcutfac 4.7\ntwojmax 2\nquadraticflag 1\nchemflag 1\n".write(to: parameterFile, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try SNAPPotential(coefficientFile: coefficientFile, parameterFile: parameterFile,
                                               typeElements: ["W", "X"])) { error in
            XCTAssertTrue("\(error)".contains("chemflag 1 with quadraticflag 1) is not supported"), "\(error)")
        }
    }

    func testDescriptorCountsOfCommonTwoJMax() throws {
        let folder = try temporaryFolder()
        let parameterFile = folder.appendingPathComponent("p.snapparam")
        let coefficientFile = potentials.appendingPathComponent("W_2940_2017_2.snapcoeff")
        try "rcutfac 4.73442\ntwojmax 8\n".write(to: parameterFile, atomically: true, encoding: .utf8)
        XCTAssertEqual(try SNAPPotential(coefficientFile: coefficientFile, parameterFile: parameterFile,
                                         typeElements: ["W"]).descriptorCount, 55)
        try "rcutfac 4.73442\ntwojmax 6\n".write(to: parameterFile, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try SNAPPotential(coefficientFile: coefficientFile, parameterFile: parameterFile,
                                               typeElements: ["W"])) { error in
            XCTAssertTrue("\(error)".contains("twojmax 6 in p.snapparam gives 30 descriptors + beta0 = 31"), "\(error)")
        }
        try "rcutfac 4.73442\ntwojmax 8\nquadraticflag 1\n".write(to: parameterFile, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try SNAPPotential(coefficientFile: coefficientFile, parameterFile: parameterFile,
                                               typeElements: ["W"])) { error in
            XCTAssertTrue("\(error)".contains("twojmax 8, quadraticflag 1 in p.snapparam give 1595 descriptors + beta0 = 1596"),
                          "\(error)")
        }
        try "rcutfac 4.73442\ntwojmax 6\nchemflag 1\n".write(to: parameterFile, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try SNAPPotential(coefficientFile: coefficientFile, parameterFile: parameterFile,
                                               typeElements: ["W"])) { error in
            XCTAssertTrue("\(error)".contains("twojmax 6, chemflag 1 with 1 elements in p.snapparam give 30 descriptors"),
                          "\(error)")
        }
    }
}
