import Atomistics
import Foundation
import Workflows

/// Algorithm 1 against Gauss–Newton and L-BFGS on the shipped campaigns, side by side in one run, through
/// the campaign runner itself (each campaign file with its `loop` replaced):
/// - the W vacancy with its exactly reachable target (`inputs/fit_W_vacancy.yaml`);
/// - Stillinger–Weber silicon's ε, λ to the DFT elastic constants (`inputs/fit_Si_elastic.yaml`).
/// Per run: the true loss per iteration, the iteration where it first falls below 1e-4 of the
/// start, force evaluations, seconds and the final Θ.
func fitStepsBenchmark() throws {
    let campaigns: [(file: String, loops: [(String, String)])] = [
        ("fit_W_vacancy.yaml", [("Algorithm 1 (adaptive, re-relaxed)", "{iterations: 20, step: adaptive, relax_each: true, tolerance: 1e-9}"),
                                ("Gauss–Newton", "{iterations: 5, step: gauss-newton, tolerance: 1e-9}"),
                                ("L-BFGS", "{iterations: 20, step: lbfgs, tolerance: 1e-9}")]),
        ("fit_Si_elastic.yaml", [("Algorithm 1 (adaptive)", "{iterations: 100, step: adaptive}"),
                                 ("Gauss–Newton", "{iterations: 10, step: gauss-newton}"),
                                 ("L-BFGS", "{iterations: 30, step: lbfgs}")]),
    ]
    let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("bench-fit-steps-\(getpid())")
    for (file, loops) in campaigns {
        let shipped = try String(contentsOf: root.appendingPathComponent("inputs/\(file)"), encoding: .utf8)
        print("\(file):")
        for (index, (label, loop)) in loops.enumerated() {
            let lines = shipped.split(separator: "\n", omittingEmptySubsequences: false).map { line in
                line.hasPrefix("loop:") ? "loop: \(loop)" : String(line)
            }
            let config = root.appendingPathComponent("inputs/.bench-\(index)-\(file)")
            try lines.joined(separator: "\n").write(to: config, atomically: true, encoding: .utf8)
            defer { try? FileManager.default.removeItem(at: config) }
            let out = scratch.appendingPathComponent("\(file)-\(index)")
            let run = try RunDirectory(out.path, overwrite: true, writes: true)
            let started = Date()
            try FitRun(config: config, lammpsArguments: [], resume: false).run(in: run)
            try run.commit()
            let seconds = Date().timeIntervalSince(started)
            let history = try String(contentsOf: out.appendingPathComponent("history.csv"), encoding: .utf8).split(separator: "\n")
            let columns = history[0].split(separator: ",", omittingEmptySubsequences: false)
            let rows = history.dropFirst().map { $0.split(separator: ",", omittingEmptySubsequences: false) }
            let (loss, evaluations) = (columns.firstIndex(of: "loss_relaxed")!, columns.firstIndex(of: "force_evaluations")!)
            let losses = rows.map { Double($0[loss])! }
            let reached = losses.firstIndex { $0 <= 1e-4 * losses[0] }
            let summary = try JSONSerialization.jsonObject(with: Data(contentsOf: out.appendingPathComponent("summary.json"))) as! [String: Any]
            print(String(format: "  %@: %d iterations, %d force evaluations, %.1f s; true loss %@; ≤ 1e-4 × start at iteration %@; best %.6g, Θ %@",
                         label, rows.count - 1, rows.reduce(0) { $0 + Int($1[evaluations])! }, seconds,
                         losses.map { String(format: "%.3g", $0) }.joined(separator: " "), reached.map { "\($0)" } ?? "never",
                         summary["loss_best"] as! Double,
                         (summary["theta_final"] as! [Double]).prefix(4).map { String(format: "%.6g", $0) }.joined(separator: ", ")))
        }
    }
}
