import Atomistics
import Foundation
import XCTest

/// Saved arrays are checked, never trusted: `predict --derivative` on a folder whose arrays were
/// edited, cut short, mixed or made non-finite refuses with the file, the expected and the found
/// shape — never a wrong number, never a trap.
final class SavedArrayTests: XCTestCase {
    let input = Toolbox.root.appendingPathComponent("inputs/W_vacancy.lammps").path
    let perturbed = Toolbox.root.appendingPathComponent("inputs/W_2940_2017_2_perturbed.snapcoeff").path

    /// A 15-atom W vacancy's derivative with a relaxed cell (every array of the folder is read).
    private func savedDerivative(in folder: URL) throws -> URL {
        let saved = folder.appendingPathComponent("saved")
        let result = try Toolbox.implicitLammps(["derivative", "--input", input, "--var", "ncell=2", "--box", "iso",
                                                 "--out", saved.path])
        XCTAssertEqual(result.status, 0, result.stderr)
        return saved
    }

    private func predict(_ derivative: URL, out: URL) throws -> Toolbox.Result {
        try Toolbox.implicitLammps(["predict", "--input", input, "--var", "ncell=2", "--derivative", derivative.path,
                                    "--perturbed", perturbed, "--out", out.path])
    }

    /// A copy of `saved` changed by `edit`, the checksums of `resealed` files updated in its
    /// manifest (so that the shape checks behind the checksums are reached).
    private func copy(_ saved: URL, to name: String, resealing resealed: [String] = [],
                      _ edit: (URL) throws -> Void) throws -> URL {
        let copy = saved.deletingLastPathComponent().appendingPathComponent(name)
        try FileManager.default.copyItem(at: saved, to: copy)
        try edit(copy)
        try SavedManifest.reseal(resealed, in: copy)
        return copy
    }

    func testEveryArrayCutShortIsRefusedWithItsShapes() throws {
        let folder = try Toolbox.temporaryDirectory(self)
        let saved = try savedDerivative(in: folder)
        let intact = try predict(saved, out: folder.appendingPathComponent("intact"))
        XCTAssertEqual(intact.status, 0, intact.stderr)
        let arrays = try FileManager.default.contentsOfDirectory(atPath: saved.path).filter { $0.hasSuffix(".npy") }.sorted()
        XCTAssertGreaterThanOrEqual(arrays.count, 10)
        for name in arrays {
            let cut = try copy(saved, to: "cut-\(name)", resealing: [name]) { copy in
                let file = copy.appendingPathComponent(name)
                let array = try NPY.read(file)
                var shape = array.shape
                shape[0] -= 1
                let count = shape.reduce(1, *)
                if array.isInteger {
                    try NPY.write(array.values.prefix(count).map { Int32($0) }, shape: shape, to: file)
                } else {
                    try NPY.write(Array(array.values.prefix(count)), shape: shape, to: file)
                }
            }
            let result = try predict(cut, out: folder.appendingPathComponent("out-\(name)"))
            XCTAssertEqual(result.status, 1, "\(name): \(result.stderr)")
            XCTAssertTrue(result.stderr.contains(name), "\(name): \(result.stderr)")
            XCTAssertTrue(result.stderr.contains("expected shape") || result.stderr.contains("mixes two derivatives"),
                          "\(name): \(result.stderr)")
        }
    }

    func testEditedMissingNonFiniteAndMistypedArraysAreRefused() throws {
        let folder = try Toolbox.temporaryDirectory(self)
        let saved = try savedDerivative(in: folder)
        // Cut to 50 of 55 entries but left in the manifest: the checksum tells.
        let edited = try copy(saved, to: "edited") { copy in
            let file = copy.appendingPathComponent("dU_dTheta.npy")
            try NPY.write(Array(try NPY.read(file).values.prefix(50)), shape: [50], to: file)
        }
        var result = try predict(edited, out: folder.appendingPathComponent("o1"))
        XCTAssertEqual(result.status, 1)
        XCTAssertTrue(result.stderr.contains("dU_dTheta.npy is not the file `derivative` wrote"), result.stderr)
        let resealed = try copy(saved, to: "resealed", resealing: ["dU_dTheta.npy"]) { copy in
            let file = copy.appendingPathComponent("dU_dTheta.npy")
            try NPY.write(Array(try NPY.read(file).values.prefix(50)), shape: [50], to: file)
        }
        result = try predict(resealed, out: folder.appendingPathComponent("o2"))
        XCTAssertTrue(result.stderr.contains("dU_dTheta.npy: expected shape (55) (∇Θ U: N_D = 55 (theta.npy)), found (50)"),
                      result.stderr)
        let nan = try copy(saved, to: "nan", resealing: ["dX_dTheta.npy"]) { copy in
            let file = copy.appendingPathComponent("dX_dTheta.npy")
            let array = try NPY.read(file)
            var values = array.values
            values[7] = .nan
            try NPY.write(values, shape: array.shape, to: file)
        }
        result = try predict(nan, out: folder.appendingPathComponent("o3"))
        XCTAssertEqual(result.status, 1)
        XCTAssertTrue(result.stderr.contains("dX_dTheta.npy holds nan at flat index 7"), result.stderr)
        let floatTypes = try copy(saved, to: "float-types", resealing: ["types.npy"]) { copy in
            let file = copy.appendingPathComponent("types.npy")
            try NPY.write(try NPY.read(file).values, shape: [15], to: file)
        }
        result = try predict(floatTypes, out: folder.appendingPathComponent("o4"))
        XCTAssertTrue(result.stderr.contains("types.npy: expected 32-bit integers (<i4), found doubles"), result.stderr)
        let noManifest = try copy(saved, to: "no-manifest") { copy in
            try FileManager.default.removeItem(at: copy.appendingPathComponent("manifest.json"))
        }
        result = try predict(noManifest, out: folder.appendingPathComponent("o5"))
        XCTAssertEqual(result.status, 1)
        XCTAssertTrue(result.stderr.contains("has no manifest.json"), result.stderr)
        let unlisted = try copy(saved, to: "unlisted") { copy in
            let url = copy.appendingPathComponent("manifest.json")
            var manifest = try Toolbox.json(url)
            var files = manifest["files"] as! [String: Any]
            files["energy_curvature.npy"] = nil
            manifest["files"] = files
            try JSONSerialization.data(withJSONObject: manifest).write(to: url)
        }
        result = try predict(unlisted, out: folder.appendingPathComponent("o6"))
        XCTAssertEqual(result.status, 1)
        XCTAssertTrue(result.stderr.contains("energy_curvature.npy is not listed in"), result.stderr)
        for out in ["o1", "o2", "o3", "o4", "o5", "o6"] {
            XCTAssertFalse(FileManager.default.fileExists(atPath: folder.appendingPathComponent(out).path), out)
        }
    }
}

/// Test support: a saved derivative's manifest made to vouch for edited files again, as a
/// folder assembled by hand with matching checksums would.
enum SavedManifest {
    static func reseal(_ names: [String], in folder: URL) throws {
        guard !names.isEmpty else { return }
        let url = folder.appendingPathComponent("manifest.json")
        var manifest = try Toolbox.json(url)
        var files = manifest["files"] as! [String: Any]
        for name in names {
            var entry = files[name] as! [String: Any]
            entry["fnv1a64"] = Files.fingerprint(try Data(contentsOf: folder.appendingPathComponent(name)))
            files[name] = entry
        }
        manifest["files"] = files
        try JSONSerialization.data(withJSONObject: manifest).write(to: url)
    }
}
