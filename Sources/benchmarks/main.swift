import Atomistics
import Foundation
import ImplicitDerivative
import LAMMPSLibrary
import LinearAlgebra
import Potentials

// Benchmarks print figures; they are not tests. Run: swift run -c release benchmarks binding|derivative|potentials|fit-dislocation|precondition|uq-ensemble|relaxation

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

/// One system of the derivative benchmark.
struct DerivativeCase {
    var name: String
    var input: String
    var arguments: [String]
    var methods: [any DerivativeMethod]
    /// Parameters checked against finite differences (all when nil).
    var checked: [Int]?
    var finiteDifferenceTolerance: Double
}

func derivativeBenchmark(sizes: Set<String>) throws {
    let potentials = URL(fileURLWithPath: try Library.shared().path).deletingLastPathComponent()
        .appendingPathComponent("share/lammps/potentials")
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("implicit-lammps-benchmark")
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    let alloy = try CrystalInput(lattice: .bcc, latticeConstant: 3.1805, cells: [5, 5, 5], vacancy: true, species: ["W", "Be"],
                                 soluteFraction: 0.03, seed: 12345,
                                 coefficientFile: potentials.appendingPathComponent("WBe_Wood_PRB2019.snapcoeff"),
                                 parameterFile: potentials.appendingPathComponent("WBe_Wood_PRB2019.snapparam"),
                                 zbl: (4.0, 4.8))
    let alloyInput = folder.appendingPathComponent("WBe_alloy.lammps")
    try alloy.text.write(to: alloyInput, atomically: true, encoding: .utf8)
    let every10 = Array(stride(from: 0, to: 110, by: 10))
    let cases = [
        DerivativeCase(name: "W vacancy", input: shippedInput.path, arguments: ["-var", "ncell", "3"],
                       methods: [SparseMethod(), SparseMethod(preconditioning: .exponential), DenseMethod(), EnergyMethod()],
                       checked: nil, finiteDifferenceTolerance: 1e-11),
        DerivativeCase(name: "W vacancy", input: shippedInput.path, arguments: ["-var", "ncell", "5"],
                       methods: [SparseMethod(), SparseMethod(preconditioning: .exponential), DenseMethod(), EnergyMethod()],
                       checked: nil, finiteDifferenceTolerance: 1e-11),
        DerivativeCase(name: "W-3%Be + vacancy", input: alloyInput.path, arguments: [],
                       methods: [SparseMethod(), SparseMethod(preconditioning: .exponential),
                                 SparseMethod(preconditioning: .lattice, strategy: .cg), DenseMethod()],
                       checked: every10, finiteDifferenceTolerance: 1e-11),
        DerivativeCase(name: "W vacancy", input: shippedInput.path, arguments: ["-var", "ncell", "10"],
                       methods: [SparseMethod(), SparseMethod(preconditioning: .exponential), EnergyMethod()],
                       checked: [0, 13, 27, 41, 54], finiteDifferenceTolerance: 1e-10),
    ].filter { sizes.subtracting(["sparse-only"]).isEmpty || sizes.contains($0.arguments.last ?? "alloy") }

    print("Implicit derivative ∇Θ X*: wall time, force evaluations and error against central finite")
    print("differences of true re-relaxations (tight CG), serial. The energy method counts minimizer")
    print("iterations (each costs one or more force evaluations). Memory: the method's working arrays.\n")
    print("system              atoms  N_D  method                      wall s   evals  evals/N_D  FD error (Frob.)  worst row  memory MB")
    // "sparse-only": skip the dense and energy methods (minutes at 1999 atoms and for the alloy).
    let sparseOnly = sizes.contains("sparse-only")
    for benchmark in cases {
        let simulation = try Simulation(input: benchmark.input, extraArguments: benchmark.arguments)
        let system = try SNAPEnergy(simulation: simulation)
        try simulation.relax(RelaxationSettings(ftol: benchmark.finiteDifferenceTolerance, minStyle: .cg))
        try simulation.evaluate()
        let mixedHessian = try system.mixedHessian()
        let hessian = try Hessian(system: simulation)
        let checked = benchmark.checked ?? Array(0..<mixedHessian.columns)
        let fdStart = Date()
        let truth = try ImplicitDifferentiation.finiteDifferenceDerivative(
            system, mixedHessian: mixedHessian, parameters: checked, translationAxes: hessian.degreesOfFreedom.translationAxes,
            ftol: benchmark.finiteDifferenceTolerance)
        let fdSeconds = Date().timeIntervalSince(fdStart)
        let n = system.atomCount, p = system.parameterCount
        for method in benchmark.methods where !sparseOnly || method is SparseMethod {
            let result = try ImplicitDifferentiation.positionDerivative(system, hessian: hessian, mixedHessian: mixedHessian,
                                                                        method: method)
            let computed = Matrix(columns: checked.map { result.matrix.column($0) }, rows: result.matrix.rows)
            let frobenius = (computed - truth).frobeniusNorm / truth.frobeniusNorm
            let worst = (0..<truth.columns).map { column -> Double in
                let t = truth.column(column), c = computed.column(column)
                let norm = t.reduce(0) { $0 + $1 * $1 }.squareRoot()
                return zip(c, t).reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) }.squareRoot() / norm
            }.max()!
            let doubles: Int
            var label = method.name
            if let sparse = method as? SparseMethod {
                label = "sparse/\(sparse.strategy.rawValue)+\(sparse.preconditioning.rawValue)"
            }
            switch method {
            case let sparse as SparseMethod where sparse.strategy == .cg:
                doubles = 4 * 3 * n + 3 * n * p  // x, r, p, Hp; result
            case is SparseMethod: doubles = 2 * 3 * n * result.forceEvaluations + 3 * n * p  // basis, H·basis, result
            case is DenseMethod: doubles = 2 * (3 * n + 3) * (3 * n + 3) + 3 * n * p        // Hessian, bordered copy, result
            default: doubles = 3 * n * p + 6 * n                                              // result, bias properties
            }
            print(benchmark.name.padding(toLength: 19, withPad: " ", startingAt: 0)
                  + String(format: " %5d  %3d  ", n, p) + label.padding(toLength: 26, withPad: " ", startingAt: 0)
                  + String(format: " %7.1f  %6d  %9.1f  %16.1e  %9.1e  %9.2f", result.seconds, result.forceEvaluations,
                         Double(result.forceEvaluations) / Double(p), frobenius, worst, Double(doubles * 8) / 1e6))
        }
        print(benchmark.name.padding(toLength: 19, withPad: " ", startingAt: 0)
              + String(format: " %5d  %3d  (finite-difference truth: %d parameters, %.0f s)", system.atomCount,
                       system.parameterCount, checked.count, fdSeconds))
    }
}

let arguments = CommandLine.arguments.dropFirst()
switch arguments.first ?? "binding" {
case "binding": try bindingBenchmark()
case "derivative": try derivativeBenchmark(sizes: Set(arguments.dropFirst()))
case "potentials": try potentialBenchmark()
case "fit-dislocation":
    let rest = Array(arguments.dropFirst())
    let numbers = rest.dropFirst().compactMap { Int($0) }
    try fitDislocationBenchmark(source: rest.first ?? "shared", iterations: numbers.first ?? 20,
                                energyColumns: numbers.count > 1 ? numbers[1] : 3,
                                preconditioning: rest.contains("exponential") ? .exponential : .none,
                                relaxEach: rest.contains("relax-each"), fromTarget: rest.contains("from-target"),
                                rule: rest.contains("gauss-newton") ? .gaussNewton : .steepestDescent,
                                minStyle: rest.contains("precon-lbfgs") ? .preconLBFGS : .cg,
                                explore: rest.first { $0.hasPrefix("explore=") }.flatMap { Int($0.dropFirst(8)) } ?? 0)
case "fit-steps": try fitStepsBenchmark()
case "precondition":
    let rest = Array(arguments.dropFirst())
    try preconditionBenchmark(source: rest.first ?? "shared", columns: rest.count > 1 ? Int(rest[1])! : 3)
case "derivative-dislocation":
    // derivative-dislocation shared|generated [STRATEGY:PRECONDITIONER …] [check=N]
    let rest = Array(arguments.dropFirst())
    let runs = rest.dropFirst().compactMap { word -> (KrylovStrategy, Preconditioning)? in
        let parts = word.split(separator: ":").map(String.init)
        guard parts.count == 2, let strategy = KrylovStrategy(rawValue: parts[0]), let p = Preconditioning(rawValue: parts[1]) else { return nil }
        return (strategy, p)
    }
    let checked = rest.first { $0.hasPrefix("check=") }.flatMap { Int($0.dropFirst(6)) } ?? 0
    try dislocationDerivativeBenchmark(source: rest.first ?? "shared", runs: runs.isEmpty ? [(.auto, .exponential)] : runs, checked: checked)
case "precondition-band":
    try preconditionerBandBenchmark(cells: arguments.dropFirst().compactMap { Int($0) }.isEmpty ? [5, 10, 20]
                                        : arguments.dropFirst().compactMap { Int($0) })
case "relaxation":
    // relaxation [CASE …] [ftol=X]
    let rest = arguments.dropFirst()
    let ftol = rest.first { $0.hasPrefix("ftol=") }.flatMap { Double($0.dropFirst(5)) } ?? 1e-8
    try relaxationBenchmark(only: Set(rest.filter { !$0.hasPrefix("ftol=") }), ftol: ftol)
case "uq-ensemble":
    try uncertaintyBenchmark(truthSamples: arguments.dropFirst().first.flatMap { Int($0) } ?? 5)
default: print("unknown benchmark; available: binding, derivative [3 5 10 alloy] [sparse-only], potentials, "
               + "fit-dislocation [shared|generated [ITERATIONS [ENERGY_COLUMNS]] [exponential] [relax-each] [gauss-newton] [from-target] [precon-lbfgs]], fit-steps, precondition [shared|generated [COLUMNS]], uq-ensemble [TRUTH_SAMPLES], "
               + "derivative-dislocation [shared|generated [STRATEGY:PRECONDITIONER …] [check=N]], relaxation [CASE …] [ftol=X]")
}
