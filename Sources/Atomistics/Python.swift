import Foundation

/// Runs a script in the provisioned Python (matscipy, matplotlib): input on stdin, result on stdout.
public enum ProvisionedPython {
    /// - Parameter purpose: what the script does, for the error message ("the dislocation generator (matscipy)").
    public static func run(_ python: URL, script: String, input: Data, purpose: String) throws -> Data {
        let process = Process()
        process.executableURL = python
        process.arguments = ["-c", script]
        let (stdin, stdout, stderr) = (Pipe(), Pipe(), Pipe())
        (process.standardInput, process.standardOutput, process.standardError) = (stdin, stdout, stderr)
        try process.run()
        stdin.fileHandleForWriting.write(input)
        try stdin.fileHandleForWriting.close()
        let output = stdout.fileHandleForReading.readDataToEndOfFile()
        let errors = String(decoding: stderr.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw InputError.invalid("""
                \(purpose) failed in \(python.path): \(errors.split(separator: "\n").suffix(3).joined(separator: " | ")). \
                Run scripts/setup to provision the Python environment.
                """)
        }
        return output
    }
}
