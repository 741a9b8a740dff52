import Foundation

/// Runs a script in the provisioned Python (matscipy, matplotlib): input on stdin, result on stdout.
public enum ProvisionedPython {
    /// - Parameter purpose: what the script does, for the error message ("the dislocation generator (matscipy)").
    public static func run(_ python: URL, script: String, input: Data, purpose: String) throws -> Data {
        let process = Process()
        process.executableURL = python
        process.arguments = ["-c", script]
        // Input through a file and errors into one: no pipe can fill up and block either side.
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("implicit-lammps-python-\(UUID().uuidString)")
        try input.write(to: scratch.appendingPathExtension("in"))
        FileManager.default.createFile(atPath: scratch.appendingPathExtension("err").path, contents: nil)
        defer {
            try? FileManager.default.removeItem(at: scratch.appendingPathExtension("in"))
            try? FileManager.default.removeItem(at: scratch.appendingPathExtension("err"))
        }
        let stdout = Pipe()
        process.standardInput = try FileHandle(forReadingFrom: scratch.appendingPathExtension("in"))
        process.standardOutput = stdout
        process.standardError = try FileHandle(forWritingTo: scratch.appendingPathExtension("err"))
        try process.run()
        let output = stdout.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let errors = (try? String(contentsOf: scratch.appendingPathExtension("err"), encoding: .utf8)) ?? ""
        guard process.terminationStatus == 0 else {
            throw InputError.helperFailed(what: purpose, reason: """
                failed in \(python.path): \(errors.split(separator: "\n").suffix(3).joined(separator: " | ")). \
                Run scripts/setup to provision the Python environment.
                """)
        }
        return output
    }
}
