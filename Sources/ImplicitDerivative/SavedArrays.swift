import Atomistics
import Foundation
import LinearAlgebra

/// The saved derivative folder as `predict --derivative` reads it: nothing in it is trusted. Its
/// `manifest.json`, written last, lists every file with its checksum (a folder edited, mixed with
/// another run's files or cut short is refused), and every array is checked for its dtype and
/// its shape against the others before any number is used.
struct SavedArrays {
    let directory: URL
    let manifest: Manifest
    /// The bytes whose checksums matched, parsed from memory: a file replaced after the check
    /// (another run's `--overwrite`) cannot slip in.
    private let verified: [String: Data]

    struct Manifest: Codable {
        struct Entry: Codable {
            var shape: [Int]?
            var fnv1a64: String
        }
        var format: String
        var atoms: Int
        var parameters: Int
        /// FNV-1a of the atom types in atom-ID order: which system the derivative belongs to.
        var typesFingerprint: String
        var files: [String: Entry]
    }
    static let format = "implicit-lammps derivative 1"

    init(_ directory: URL) throws {
        self.directory = directory
        func url(_ name: String) -> URL { directory.appendingPathComponent(name) }
        guard FileManager.default.fileExists(atPath: url("minimum.json").path) else {
            throw DerivativeError.unusableSavedDerivative(
                "\(directory.path) holds no saved derivative (minimum.json missing); run \(setting: .derivativeOutput) first")
        }
        let manifestURL = url("manifest.json")
        guard let data = try? Data(contentsOf: manifestURL) else {
            throw DerivativeError.unusableSavedDerivative("""
                \(directory.path) has no manifest.json, so its arrays cannot be verified (a folder written by an \
                earlier version of implicit-lammps, or assembled by hand); rerun \(setting: .derivativeOutput) for it
                """)
        }
        let manifest: Manifest
        do { manifest = try SavedArrays.decoder.decode(Manifest.self, from: data) } catch {
            throw DerivativeError.unusableSavedDerivative("\(manifestURL.path) is not a manifest this tool wrote: \(Files.describe(error))")
        }
        guard manifest.format == SavedArrays.format else {
            throw DerivativeError.unusableSavedDerivative("\(manifestURL.path) is of format '\(manifest.format)', not '\(SavedArrays.format)'")
        }
        var verified: [String: Data] = [:]
        for (name, entry) in manifest.files.sorted(by: { $0.key < $1.key }) {
            guard let bytes = try? Data(contentsOf: url(name)) else {
                throw DerivativeError.unusableSavedDerivative("\(url(name).path) is missing, though \(manifestURL.path) lists it")
            }
            guard Files.fingerprint(bytes) == entry.fnv1a64 else {
                throw DerivativeError.unusableSavedDerivative("""
                    \(url(name).path) is not the file \(setting: .derivativeStep) wrote (its checksum differs from \
                    \(manifestURL.path)): it was changed, cut or replaced afterwards; rerun \(setting: .derivativeOutput)
                    """)
            }
            verified[name] = bytes
        }
        self.manifest = manifest
        self.verified = verified
    }

    /// The verified bytes of `name`: a file the manifest does not list is not part of the set.
    private func bytes(_ name: String) throws -> Data {
        guard let data = verified[name] else {
            throw DerivativeError.unusableSavedDerivative("""
                \(url(name).path) is not listed in \(url("manifest.json").path): the folder is not the set \
                \(setting: .derivativeStep) wrote; rerun \(setting: .derivativeOutput)
                """)
        }
        return data
    }

    /// The manifest's counts and type fingerprint must describe the arrays read.
    func requireManifestAgrees(atoms: Int, parameters: Int, types: [Int32]) throws {
        guard manifest.atoms == atoms, manifest.parameters == parameters,
              manifest.typesFingerprint == SavedArrays.typesFingerprint(types) else {
            throw DerivativeError.unusableSavedDerivative("""
                \(url("manifest.json").path) describes \(manifest.atoms) atoms and \(manifest.parameters) parameters, the \
                arrays \(atoms) atoms and \(parameters) parameters (or other atom types): the folder mixes two derivatives
                """)
        }
    }

    static func typesFingerprint(_ types: [Int32]) -> String {
        Files.fingerprint(types.flatMap { withUnsafeBytes(of: $0.littleEndian, Array.init) })
    }

    func url(_ name: String) -> URL { directory.appendingPathComponent(name) }

    func record() throws -> MinimumDerivatives.Record {
        do { return try SavedArrays.decoder.decode(MinimumDerivatives.Record.self, from: try bytes("minimum.json")) } catch {
            throw DerivativeError.unusableSavedDerivative("\(url("minimum.json").path) is not a derivative record this tool wrote: \(Files.describe(error))")
        }
    }

    /// The array `name`, which must be of `shape` (nil: any extent along that axis) and of doubles
    /// (`<f8`), or of integers when `integer`; `meaning` says where the expected extents come from.
    func array(_ name: String, shape: [Int?], integer: Bool = false, meaning: String) throws -> NPY.Array {
        let array = try NPY.parse(try bytes(name), from: url(name))
        let expected = "(" + shape.map { $0.map(String.init) ?? "any" }.joined(separator: ", ") + ")"
        let fits = array.shape.count == shape.count && zip(array.shape, shape).allSatisfy { $1 == nil || $0 == $1 }
        guard fits else {
            throw InputError.fileFormat(file: url(name).path, line: nil, reason: """
                expected shape \(expected) (\(meaning)), found \
                (\(array.shape.map(String.init).joined(separator: ", ")))
                """)
        }
        guard array.isInteger == integer else {
            throw InputError.fileFormat(file: url(name).path, line: nil, reason: "expected \(integer ? "32-bit integers (<i4)" : "doubles (<f8)"), found \(array.isInteger ? "integers" : "doubles")")
        }
        return array
    }

    /// A column-major `rows` × `columns` matrix from the row-major array `name` of `shape`.
    func matrix(_ name: String, shape: [Int], rows: Int, columns: Int, meaning: String) throws -> Matrix {
        Matrix(rows: rows, columns: columns, storage: try array(name, shape: shape, meaning: meaning).values)
    }

    static func requireCount<T>(_ values: [T], _ count: Int, _ key: String, in folder: SavedArrays) throws {
        guard values.count == count else {
            throw InputError.fileFormat(file: folder.url("minimum.json").path, line: nil, reason: "\(key) has \(values.count) entries where \(count) are needed")
        }
    }

    /// Written after every other file of the folder: lists them with their shapes and checksums.
    static func writeManifest(in directory: URL, atoms: Int, parameters: Int, types: [Int32]) throws {
        let names = try FileManager.default.contentsOfDirectory(atPath: directory.path)
            .filter { $0.hasSuffix(".npy") || $0 == "minimum.json" }
        var files: [String: Manifest.Entry] = [:]
        for name in names {
            let file = directory.appendingPathComponent(name)
            let bytes = try Data(contentsOf: file)
            let shape = name.hasSuffix(".npy") ? try NPY.parse(bytes, from: file).shape : nil
            files[name] = Manifest.Entry(shape: shape, fnv1a64: Files.fingerprint(bytes))
        }
        try Files.writeJSON(Manifest(format: format, atoms: atoms, parameters: parameters,
                                     typesFingerprint: typesFingerprint(types), files: files),
                            to: directory.appendingPathComponent("manifest.json"))
    }

    private static var decoder: JSONDecoder {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return decoder
    }
}
