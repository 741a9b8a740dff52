import Foundation
import XCTest

/// One run per output folder, and `--out` paths that cannot work refused before any work.
final class OutputFolderTests: XCTestCase {
    let root = Toolbox.root
    private func path(_ relative: String) -> String { root.appendingPathComponent(relative).path }

    /// Every command that writes `--out`, with arguments that would otherwise run.
    private var everyCommand: [(String, [String])] {
        let vacancy = path("inputs/W_vacancy.lammps")
        return [
            ("relax", ["relax", "--input", vacancy]),
            ("derivative", ["derivative", "--input", vacancy]),
            ("predict", ["predict", "--input", vacancy, "--perturbed", path("inputs/W_2940_2017_2_perturbed.snapcoeff")]),
            ("elastic", ["elastic", "--input", path("inputs/Si_diamond.lammps"), "--vary", "Si,Si,Si:epsilon,lambda"]),
            ("fit", ["fit", "--config", path("inputs/fit_W_vacancy.yaml")]),
            ("uq", ["uq", "--config", path("inputs/uq_W_vacancy.yaml")]),
            ("dislocation", ["dislocation", "--potential", path("potentials/W_2940_2017_2.snap"), "--element", "W",
                             "--lattice-constant", "3.1805", "--elastic", "517.722,194.526,144.293"]),
        ]
    }

    /// A live run holds its folder: every other command on it is refused at once, naming the
    /// holder, and touches nothing; once the holder is killed (SIGKILL leaves its lock file
    /// behind), the next run says whose stale lock it takes over and completes.
    func testALiveRunHoldsItsFolderAgainstEveryCommandAndADeadOneDoesNot() throws {
        let folder = try Toolbox.temporaryDirectory(self)
        let out = folder.appendingPathComponent("shared")
        let lock = URL(fileURLWithPath: out.path + ".lock")
        // The holder: a 431-atom cell relaxation, tens of seconds.
        let holder = Process()
        holder.executableURL = URL(fileURLWithPath: Toolbox.tool)
        holder.arguments = ["relax", "--input", path("inputs/W_vacancy.lammps"), "--var", "ncell=6", "--box", "iso",
                            "--ftol", "1e-10", "--out", out.path]
        holder.standardError = FileHandle.nullDevice
        try holder.run()
        addTeardownBlock { if holder.isRunning { kill(holder.processIdentifier, SIGKILL) } }
        let deadline = Date().addingTimeInterval(30)
        while !((try? String(contentsOf: lock, encoding: .utf8))?.contains("process \(holder.processIdentifier)") ?? false) {
            XCTAssertLessThan(Date(), deadline, "the holder never wrote its lock")
            Thread.sleep(forTimeInterval: 0.05)
        }
        let staged = URL(fileURLWithPath: out.path + ".incomplete")
        for (name, arguments) in everyCommand {
            let started = Date()
            let result = try Toolbox.implicitLammps(arguments + ["--out", out.path])
            XCTAssertNotEqual(result.status, 0, name)
            XCTAssertTrue(result.stderr.contains("is in use by another run that is still going: process \(holder.processIdentifier)"),
                          "\(name): \(result.stderr)")
            XCTAssertLessThan(Date().timeIntervalSince(started), 10, "\(name) was not refused at once")
            XCTAssertTrue(FileManager.default.fileExists(atPath: staged.appendingPathComponent("log.lammps").path), name)
        }
        XCTAssertTrue(holder.isRunning, "the holder ended before every command was tried: the refusals prove nothing")
        kill(holder.processIdentifier, SIGKILL)
        holder.waitUntilExit()
        XCTAssertTrue(FileManager.default.fileExists(atPath: lock.path), "SIGKILL leaves the lock file")
        let next = try Toolbox.implicitLammps(["relax", "--input", path("inputs/W_vacancy.lammps"), "--var", "ncell=2",
                                               "--out", out.path])
        XCTAssertEqual(next.status, 0, next.stderr)
        XCTAssertTrue(next.stderr.contains("was locked by process \(holder.processIdentifier)"), next.stderr)
        XCTAssertTrue(next.stderr.contains("no longer running"), next.stderr)
        XCTAssertEqual(try Toolbox.json(out.appendingPathComponent("summary.json"))["natoms"] as? Int, 15)
        XCTAssertFalse(FileManager.default.fileExists(atPath: lock.path), "a completed run removes its lock file")
        // A run refused for the folder's content leaves no lock behind to be mistaken for a dead run's.
        let refused = try Toolbox.implicitLammps(["relax", "--input", path("inputs/W_vacancy.lammps"), "--var", "ncell=2",
                                                  "--out", out.path])
        XCTAssertTrue(refused.stderr.contains("already holds another run"), refused.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: lock.path))
    }

    /// Under MPI only the first rank takes the lock: the others must not wait for it forever.
    func testARefusalUnderMPIEndsEveryRank() throws {
        let folder = try Toolbox.temporaryDirectory(self)
        let out = folder.appendingPathComponent("held")
        // A lock held by this test process stands for a live run.
        let fd = open(out.path + ".lock", O_RDWR | O_CREAT, 0o644)
        XCTAssertEqual(flock(fd, LOCK_EX | LOCK_NB), 0)
        defer { close(fd) }
        let started = Date()
        let result = try Toolbox.run(Toolbox.venv.appendingPathComponent("bin/mpiexec").path,
                                     ["-n", "2", Toolbox.tool, "relax", "--input", path("inputs/W_vacancy.lammps"),
                                      "--var", "ncell=2", "--out", out.path])
        XCTAssertNotEqual(result.status, 0)
        XCTAssertTrue(result.stderr.contains("is in use by another run that is still going"), result.stderr)
        XCTAssertLessThan(Date().timeIntervalSince(started), 60)
    }

    /// Paths LAMMPS cannot open, and folders that cannot be made, are refused before any work.
    func testUnusableOutputPathsAreRefusedPlainly() throws {
        let folder = try Toolbox.temporaryDirectory(self)
        let file = folder.appendingPathComponent("a-file")
        try "x".write(to: file, atomically: true, encoding: .utf8)
        var cases: [(String, String)] = [
            (folder.appendingPathComponent("out/ünï").path, "the non-ASCII character 'ü', which LAMMPS cannot open"),
            (file.appendingPathComponent("run").path, "\(file.path) is a file, not a folder"),
            (folder.appendingPathComponent("run.incomplete").path, "is the staging folder of a run into"),
        ]
        // As root the folder cannot be made; as anyone else /proc is not writable in the first place.
        let proc = getuid() == 0 ? "cannot create the folder /proc/implicit-lammps" : "no permission to write in /proc"
        cases.append(("/proc/implicit-lammps/run", proc))
        for (out, message) in cases {
            let result = try Toolbox.implicitLammps(["relax", "--input", path("inputs/W_vacancy.lammps"), "--var", "ncell=2",
                                                     "--out", out])
            XCTAssertEqual(result.status, 1, out)
            XCTAssertTrue(result.stderr.contains(message), "\(out): \(result.stderr)")
            XCTAssertFalse(result.stderr.contains("error 512"), result.stderr)
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: folder.appendingPathComponent("out/ünï").path))
        // Every path the tool hands to LAMMPS is held to the same rule, e.g. a potential file.
        let accented = folder.appendingPathComponent("pötential")
        try FileManager.default.createDirectory(at: accented, withIntermediateDirectories: true)
        for name in ["W_2940_2017_2.snapcoeff", "W_2940_2017_2.snapparam"] {
            try FileManager.default.copyItem(at: root.appendingPathComponent("potentials/\(name)"),
                                             to: accented.appendingPathComponent(name))
        }
        let potential = try Toolbox.implicitLammps(["derivative", "--input", path("inputs/W_vacancy.lammps"), "--var", "ncell=2",
                                                    "--potential", accented.appendingPathComponent("W_2940_2017_2.snapcoeff").path,
                                                    "--out", folder.appendingPathComponent("d").path])
        XCTAssertEqual(potential.status, 1)
        XCTAssertTrue(potential.stderr.contains("contains the non-ASCII character 'ö', which LAMMPS cannot open"), potential.stderr)
    }
}
