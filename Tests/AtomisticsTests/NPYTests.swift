import Atomistics
import Foundation
import XCTest

/// `.npy` files as NumPy writes and reads them, without LAMMPS.
final class NPYTests: XCTestCase {
    func testRoundTripKeepsShapeAndBits() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("ilmp-\(UUID().uuidString).npy")
        defer { try? FileManager.default.removeItem(at: url) }
        let values = [0.1, -2.5e-300, 3.0, .pi, 1e300, -0.0]
        try NPY.write(values, shape: [2, 3], to: url)
        let read = try NPY.read(url)
        XCTAssertEqual(read.shape, [2, 3])
        XCTAssertEqual(read.values.map(\.bitPattern), values.map(\.bitPattern))
        let header = String(decoding: try Data(contentsOf: url).prefix(80), as: UTF8.self)
        XCTAssertTrue(header.contains("'descr': '<f8'") && header.contains("'fortran_order': False"), header)
    }

    func testNonFiniteValuesAreRefusedByName() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("ilmp-\(UUID().uuidString).npy")
        defer { try? FileManager.default.removeItem(at: url) }
        try NPY.write([1, .nan], shape: [2], to: url)
        XCTAssertThrowsError(try NPY.read(url)) { XCTAssertTrue("\($0)".contains(url.lastPathComponent), "\($0)") }
    }
}
