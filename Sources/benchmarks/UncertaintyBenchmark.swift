import Foundation

/// The paper's uncertainty study (Fig. 3) on the W ensemble of ../shared: 100 posterior samples of
/// the 55 W SNAP coefficients around W_REF, λ ∈ {±1, ±2, ±5, ±10, ±20}, vacancy formation in a
/// 4×4×4 bcc cell (128 sites, cell relaxed iso), truly relaxed for `truthSamples` rows spread over the
/// ensemble. Runs the real `implicit-lammps uq` (build it with `swift build -c release`) and prints
/// the cost of a prediction against a true relaxation, the h+ih error band of E_f against λ, and
/// where members stop being stable.
func uncertaintyBenchmark(truthSamples: Int) throws {
    let data = root.deletingLastPathComponent().appendingPathComponent("shared/reference-data")
    guard FileManager.default.fileExists(atPath: data.appendingPathComponent("W_ensemble_100x55.txt").path) else {
        print("uq-ensemble: ../shared/reference-data is not present; nothing to measure")
        return
    }
    let tool = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        .appendingPathComponent("implicit-lammps")
    guard FileManager.default.isExecutableFile(atPath: tool.path) else {
        print("uq-ensemble: \(tool.path) is missing: run `swift build -c release` first")
        return
    }
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("bench-uq")
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    let config = folder.appendingPathComponent("uq.yaml")
    try """
        potential: {snapcoeff: \(data.path)/W_REF.snapcoeff, snapparam: \(data.path)/W_REF.snapparam}
        vary: {elements: [W]}
        ensemble: {samples: \(data.path)/W_ensemble_100x55.txt, lambdas: [1, 2, 5, 10, 20, -1, -2, -5, -10, -20]}
        quantity: vacancy_formation
        system: {lattice: bcc, a0: 3.1855, cells: 4, box: iso}
        truth: \(truthSamples)
        """.write(to: config, atomically: true, encoding: .utf8)
    let out = folder.appendingPathComponent("out")
    let process = Process()
    process.executableURL = tool
    process.arguments = ["uq", "--config", config.path, "--out", out.path, "--overwrite"]
    let start = Date()
    try process.run()
    process.waitUntilExit()
    guard process.terminationStatus == 0 else { print("uq-ensemble: implicit-lammps uq failed"); return }
    let wall = Date().timeIntervalSince(start)
    let summary = try JSONSerialization.jsonObject(with: Data(contentsOf: out.appendingPathComponent("summary.json"))) as! [String: Any]
    let cost = summary["cost"] as! [String: Any]
    print(String(format: "uq-ensemble: 100 samples × 10 λ, 128-site W cell; %.0f s in all (outputs in %@)", wall, out.path))
    print(String(format: "  derivatives at Θ̄: %d force evaluations, %.1f s → %.3f per member; indicator %.1f per member",
                 cost["derivative_force_evaluations"] as! Int, cost["derivative_seconds"] as! Double,
                 cost["prediction_force_evaluations_per_member"] as! Double,
                 cost["indicator_force_evaluations_per_member"] as? Double ?? .nan))
    print(String(format: "  true relaxation (checks included): %.0f force evaluations per member over %d members → %.0f× a prediction",
                 cost["truth_force_evaluations_per_member"] as? Double ?? .nan, cost["truth_members"] as! Int,
                 cost["truth_over_prediction"] as? Double ?? .nan))
    let statistics = summary["statistics"] as! [[String: Any]]
    print("  E_f (eV) by λ: h+ih predicted band | error band of h+ih, h, c | excluded of the relaxed")
    for lambda in [-20.0, -10, -5, -2, -1, 1, 2, 5, 10, 20] {
        func entry(_ level: String) -> [String: Any]? {
            statistics.first { $0["quantity"] as? String == "E_f" && $0["lambda"] as? Double == lambda && $0["level"] as? String == level }
        }
        func band(_ value: Any?) -> String {
            guard let band = value as? [String: Any] else { return "–" }
            return String(format: "%.3g [%.3g, %.3g]", band["mean"] as! Double, band["p16"] as! Double, band["p84"] as! Double)
        }
        let excluded = entry("h+ih")?["excluded"] as? Int ?? 0
        print(String(format: "  %5g  %@ | %@ | %@ | %@ | %d", lambda, band(entry("h+ih")?["predicted"]), band(entry("h+ih")?["error"]),
                     band(entry("h")?["error"]), band(entry("c")?["error"]), excluded))
    }
    for member in (summary["excluded"] as! [[String: Any]]).prefix(10) {
        print("  excluded: sample \(member["sample"]!), λ \(member["lambda"]!): \(member["reason"]!)")
    }
}
