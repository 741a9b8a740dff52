import Atomistics
import Foundation
import ImplicitDerivative

/// One system of the relaxation benchmark: an input (and its -var arguments) and the cell degrees of freedom.
struct RelaxationCase {
    var name: String
    var input: String
    var arguments: [String] = []
    var cell: CellRelaxation = .fixed
}

/// LAMMPS's CG against the engine's precon-lbfgs from the same start, side by side in one run:
/// force evaluations, iterations, seconds, and how far apart the two minima are.
func relaxationBenchmark(only: Set<String>, ftol: Double) throws {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("implicit-lammps-relaxation-benchmark")
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    var cases = [
        RelaxationCase(name: "vacancy-127-iso", input: shippedInput.path, cell: .iso),
        RelaxationCase(name: "vacancy-1999", input: shippedInput.path, arguments: ["-var", "ncell", "10"]),
        RelaxationCase(name: "vacancy-1999-iso", input: shippedInput.path, arguments: ["-var", "ncell", "10"], cell: .iso),
    ]
    let generated = root.appendingPathComponent("out/dislocation/dislocation.lammps")
    if FileManager.default.fileExists(atPath: generated.path) {
        cases.append(RelaxationCase(name: "dislocation-generated", input: generated.path))
    } else {
        print("(no out/dislocation: make it with the README's `implicit-lammps dislocation` command to include it)")
    }
    if let input = try paperDislocationInput(folder: folder) {
        cases.append(RelaxationCase(name: "dislocation-paper", input: input.path))
    }
    if !only.isEmpty { cases = cases.filter { only.contains($0.name) } }

    print("Relaxation: LAMMPS CG (min_modify norm max, restarted every 250 iterations) vs precon-lbfgs,")
    print("same start, ftol \(ftol) eV/Å (and |P|·V for cell relaxations), serial. Evaluations include")
    print("precon-lbfgs's set-up (held-atom detection, one μ probe, one per strain) and the final report.\n")
    print("system                  atoms  cell   CG evals  iters       s   PL evals  iters       s  evals ratio  time ratio  ΔE (eV)   max Δr (Å)")
    for item in cases {
        var results: [(RelaxationResult, Double, Structure)] = []
        for style in [MinimizerStyle.cg, .preconLBFGS] {
            let simulation = try Simulation(input: item.input, logFile: folder.appendingPathComponent("log.\(item.name).\(style.rawValue)"),
                                            extraArguments: item.arguments)
            var result: RelaxationResult?
            let time = try seconds {
                result = try simulation.relaxation(RelaxationSettings(cell: item.cell, ftol: ftol, minStyle: style),
                                                   label: "\(item.name) \(style.rawValue)", progress: { print($0) })
            }
            results.append((result!, time, try simulation.structure()))
        }
        let (cg, pl) = (results[0], results[1])
        let shift = largestAtomNorm(minimumImage(zip(cg.2.unwrappedPositions, pl.2.unwrappedPositions).map { $0 - $1 }, in: cg.2.box))
        let name = item.name.padding(toLength: 22, withPad: " ", startingAt: 0)
        let cell = item.cell.rawValue.padding(toLength: 5, withPad: " ", startingAt: 0)
        print(String(format: "%@  %5d  %@  %8d  %5d  %6.1f  %9d  %5d  %6.1f  %11.1f  %10.1f  %8.1e  %10.1e%@",
                     name as NSString, cg.0.natoms, cell as NSString,
                     cg.0.forceEvaluations, cg.0.steps, cg.1, pl.0.forceEvaluations, pl.0.steps, pl.1,
                     Double(cg.0.forceEvaluations) / Double(pl.0.forceEvaluations), cg.1 / pl.1,
                     pl.0.energy - cg.0.energy, shift,
                     (cg.0.converged && pl.0.converged ? "" : "  NOT converged: CG \(cg.0.stop.rawValue), PL \(pl.0.stop.rawValue)") as NSString))
    }
}
