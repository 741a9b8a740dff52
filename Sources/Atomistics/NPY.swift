import Foundation

/// NumPy's `.npy` format (version 1.0, little-endian, C order): what `numpy.load` reads.
public enum NPY {
    public struct Array: Equatable, Sendable {
        public var shape: [Int]
        public var values: [Double]
        /// Whether the file held 32-bit integers (`<i4`) rather than doubles (`<f8`).
        public var isInteger: Bool = false
    }

    public static func write(_ values: [Double], shape: [Int], to url: URL) throws {
        var data = header(descr: "<f8", shape: shape, count: values.count)
        values.withUnsafeBytes { data.append(contentsOf: $0) }
        try data.write(to: url, options: .atomic)
    }

    public static func write(_ values: [Int32], shape: [Int], to url: URL) throws {
        var data = header(descr: "<i4", shape: shape, count: values.count)
        values.withUnsafeBytes { data.append(contentsOf: $0) }
        try data.write(to: url, options: .atomic)
    }

    private static func header(descr: String, shape: [Int], count: Int) -> Data {
        precondition(shape.reduce(1, *) == count, "shape \(shape) does not hold \(count) values")
        let dimensions = shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
        var dictionary = "{'descr': '\(descr)', 'fortran_order': False, 'shape': \(dimensions), }"
        // Magic (6) + version (2) + length (2) + dictionary + newline, padded to a multiple of 64.
        let unpadded = 10 + dictionary.utf8.count + 1
        dictionary += String(repeating: " ", count: (64 - unpadded % 64) % 64) + "\n"
        var data = Data([0x93] + Swift.Array("NUMPY".utf8) + [1, 0])
        let length = UInt16(dictionary.utf8.count)
        data.append(contentsOf: [UInt8(length & 0xff), UInt8(length >> 8)])
        data.append(contentsOf: Swift.Array(dictionary.utf8))
        return data
    }

    /// Reads `<f8` or `<i4` arrays in C order (integers are returned as doubles); a NaN or an
    /// infinity in the file is refused with its position.
    public static func read(_ url: URL) throws -> Array {
        let data: Data
        do { data = try Data(contentsOf: url) } catch { throw InputError.invalid(Files.describe(error, path: url.path)) }
        return try parse(data, from: url)
    }

    /// The array in `data`, the bytes of the file `url` (named in errors).
    public static func parse(_ data: Data, from url: URL) throws -> Array {
        func fail(_ reason: String) -> Error { InputError.fileFormat(file: url.path, line: nil, reason: "not a readable .npy file: \(reason)") }
        let bytes = [UInt8](data)
        guard bytes.count > 10, bytes[0] == 0x93, String(decoding: bytes[1..<6], as: UTF8.self) == "NUMPY" else {
            throw fail("bad magic")
        }
        let length = Int(bytes[8]) | Int(bytes[9]) << 8
        guard bytes[6] == 1, bytes.count >= 10 + length else { throw fail("only version 1.0 is supported") }
        let dictionary = String(decoding: bytes[10..<10 + length], as: UTF8.self)
        guard dictionary.contains("'fortran_order': False") else { throw fail("Fortran order") }
        let isInteger = dictionary.contains("'<i4'")
        guard isInteger || dictionary.contains("'<f8'") else { throw fail("only <f8 and <i4 are supported") }
        guard let open = dictionary.range(of: "'shape': ("), let close = dictionary[open.upperBound...].firstIndex(of: ")") else {
            throw fail("no shape")
        }
        let shape = dictionary[open.upperBound..<close].split(separator: ",").compactMap {
            Int($0.trimmingCharacters(in: .whitespaces))
        }
        let payload = data.dropFirst(10 + length)
        // A shape from the file is not trusted: its product may overflow or disagree with the bytes.
        var count = 1
        for extent in shape {
            let (product, overflow) = count.multipliedReportingOverflow(by: extent)
            guard extent >= 0, !overflow, product <= payload.count else { throw fail("size does not match shape \(shape)") }
            count = product
        }
        guard payload.count == count * (isInteger ? 4 : 8) else { throw fail("size does not match shape \(shape)") }
        let values: [Double] = payload.withUnsafeBytes { raw in
            isInteger ? raw.bindMemory(to: Int32.self).map(Double.init) : Swift.Array(raw.bindMemory(to: Double.self))
        }
        if let bad = values.firstIndex(where: { !$0.isFinite }) {
            throw InputError.nonFinite("\(url.path) holds \(values[bad]) at flat index \(bad) (shape \(shape))")
        }
        return Array(shape: shape, values: values, isInteger: isInteger)
    }
}
