import Atomistics
import Foundation
import LAMMPSLibrary

// Benchmarks print figures; they are not tests. Run: swift run -c release benchmarks [binding]

let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()
let shippedInput = root.appendingPathComponent("inputs/W_vacancy.lammps")

func seconds(_ body: () throws -> Void) rethrows -> Double {
    let start = DispatchTime.now().uptimeNanoseconds
    try body()
    return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
}

/// LAMMPS's own timing: the "Loop time" the native executable reports for `run steps` on the
/// same input, divided by the steps (each step is one force evaluation; atoms do not move).
func nativeLoopTimePerStep(cells: Int, steps: Int) throws -> Double {
    let library = try Library.shared()
    let lmp = URL(fileURLWithPath: library.path).deletingLastPathComponent().appendingPathComponent("lmp")
    let script = FileManager.default.temporaryDirectory.appendingPathComponent("bench-native-\(cells).lammps")
    try "include \(shippedInput.path)\nrun 0\nrun \(steps)\n".write(to: script, atomically: true, encoding: .utf8)
    let process = Process()
    process.executableURL = lmp
    process.arguments = ["-in", script.path, "-var", "ncell", "\(cells)", "-log", "none"]
    process.currentDirectoryURL = shippedInput.deletingLastPathComponent()
    var environment = ProcessInfo.processInfo.environment
    environment["LD_LIBRARY_PATH"] = root.appendingPathComponent(".venv/lib").path
    process.environment = environment
    let pipe = Pipe()
    process.standardOutput = pipe
    try process.run()
    let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    process.waitUntilExit()
    // Benchmark-only reading of lmp's screen output: the product never parses it.
    let loopLine = output.split(separator: "\n").last { $0.hasPrefix("Loop time of") && $0.contains("for \(steps) steps") }
    guard let loopLine, let value = Double(loopLine.split(separator: " ")[3]) else {
        throw LAMMPSError.invalidRequest("no Loop time in native output")
    }
    return value / Double(steps)
}

/// One force evaluation through the binding: scatter positions, evaluate, gather forces.
func bindingTimePerEvaluation(_ simulation: Simulation, repeats: Int) throws -> Double {
    var positions = try simulation.lammps.gather("x", count: 3)
    var generator = SystemRandomNumberGenerator()
    _ = try simulation.forces(at: positions)  // enter the force-only state outside the timing
    let total = try seconds {
        for _ in 0..<repeats {
            // A small random displacement, as in a finite-difference Hessian-vector product.
            for index in positions.indices { positions[index] += Double.random(in: -1e-4...1e-4, using: &generator) }
            _ = try simulation.forces(at: positions)
        }
    }
    return total / Double(repeats)
}

func bindingBenchmark() throws {
    print("Force evaluation: binding (scatter x -> forces -> gather f) vs LAMMPS's own loop timing")
    print("W SNAP+ZBL vacancy, serial, shipped potential; native = Loop time / steps of lmp's `run N`")
    print("Each figure is the best of 3 interleaved trials (this VM's timings jitter by ~20%).\n")
    print("atoms  native ms/step  binding ms/eval  overhead")
    for (cells, repeats) in [(5, 40), (10, 6)] {
        let simulation = try Simulation(input: shippedInput.path, extraArguments: ["-var", "ncell", "\(cells)"])
        var native = Double.infinity, binding = Double.infinity
        for _ in 0..<3 {
            native = min(native, try nativeLoopTimePerStep(cells: cells, steps: repeats))
            binding = min(binding, try bindingTimePerEvaluation(simulation, repeats: repeats))
        }
        print(String(format: "%5d  %14.2f  %15.2f  %+7.1f%%", simulation.lammps.natoms,
                     native * 1e3, binding * 1e3, (binding / native - 1) * 100))
    }
}

let which = CommandLine.arguments.dropFirst().first ?? "binding"
switch which {
case "binding": try bindingBenchmark()
default: print("unknown benchmark \(which); available: binding")
}
