import Atomistics
import Foundation
import LAMMPSLibrary

/// MAE and RMSE of energies (eV/atom) and force components (eV/Å), per group and over all groups.
public struct EvaluateMetrics {
    public struct Row: Equatable {
        public var group: String, quantity: String
        public var count: Int
        public var mae: Double, rmse: Double
    }
    public var rows: [Row]

    /// Groups in the order they were first met; "*ALL" last, as FitSNAP lists it.
    init(_ results: [EvaluateRun.Result]) {
        var groups: [String] = []
        for result in results where !groups.contains(result.configuration.group) { groups.append(result.configuration.group) }
        func rows(_ group: String, _ members: [EvaluateRun.Result]) -> [Row] {
            let energy = members.map(\.energyErrorPerAtom)
            let force = members.flatMap { zip($0.forces, $0.dftForces).map { $0 - $1 } }
            return [Self.row(group, "energy", energy), Self.row(group, "force", force)]
        }
        self.rows = groups.flatMap { group in rows(group, results.filter { $0.configuration.group == group }) } + rows("*ALL", results)
    }

    static func row(_ group: String, _ quantity: String, _ errors: [Double]) -> Row {
        let n = Double(errors.count)
        return Row(group: group, quantity: quantity, count: errors.count, mae: errors.reduce(0) { $0 + abs($1) } / n,
                   rmse: (errors.reduce(0) { $0 + $1 * $1 } / n).squareRoot())
    }

    public var csv: String {
        "group,quantity,count,mae,rmse\n" + rows.map { "\($0.group),\($0.quantity),\($0.count),\(String(format: "%.6g", $0.mae)),\(String(format: "%.6g", $0.rmse))\n" }.joined()
    }

    public var markdown: String {
        "| group | quantity | count | MAE | RMSE |\n|---|---|---:|---:|---:|\n"
            + rows.map { "| \($0.group) | \($0.quantity) | \($0.count) | \(String(format: "%.6g", $0.mae)) | \(String(format: "%.6g", $0.rmse)) |\n" }.joined()
    }
}

/// The files of an evaluate run: metrics, per-configuration errors, parity data and figures, summary.
struct EvaluateOutputs {
    var run: EvaluateRun
    var results: [EvaluateRun.Result]
    var metrics: EvaluateMetrics
    var seconds: Double

    struct Summary: Encodable {
        var potential: String, snapparam: String, reference: String
        var datasets: [String]
        var configurations: Int, atoms: Int, forceComponents: Int
        var seconds: Double
    }

    func write(to folder: URL, phases: Phases) throws {
        try Files.write(metrics.csv, to: folder.appendingPathComponent("metrics.csv"))
        try Files.write(metrics.markdown, to: folder.appendingPathComponent("metrics.md"))
        var configurations = "group,configuration,natoms,energy_per_atom_dft,energy_per_atom_predicted,force_rmse\n"
        var energy = "group,dft,predicted\n"
        var force = "group,dft,predicted\n"
        for result in results {
            let c = result.configuration
            let n = Double(c.natoms)
            configurations += "\(CSV.field(c.group)),\(CSV.field(c.name)),\(c.natoms),\(String(format: "%.10g", c.energy / n)),\(String(format: "%.10g", result.energy / n)),\(String(format: "%.6g", result.forceRMSE))\n"
            energy += "\(CSV.field(c.group)),\(String(format: "%.10g", c.energy / n)),\(String(format: "%.10g", result.energy / n))\n"
            for (dft, predicted) in zip(result.dftForces, result.forces) {
                force += "\(CSV.field(c.group)),\(String(format: "%.8g", dft)),\(String(format: "%.8g", predicted))\n"
            }
        }
        try Files.write(configurations, to: folder.appendingPathComponent("configurations.csv"))
        try Files.write(energy, to: folder.appendingPathComponent("parity_energy.csv"))
        try Files.write(force, to: folder.appendingPathComponent("parity_force.csv"))
        try Files.writeJSON(PhasedSummary(Summary(potential: run.named?.snapcoeff ?? run.snapcoeff.path, snapparam: run.named?.snapparam ?? run.snapparam.path, reference: run.reference.text,
                                    datasets: run.datasets, configurations: results.count,
                                    atoms: results.reduce(0) { $0 + $1.configuration.natoms },
                                    forceComponents: results.reduce(0) { $0 + $1.forces.count }, seconds: seconds),
                                          phases: phases),
                            to: folder.appendingPathComponent("summary.json"))
        // As in fit and uq, the figures are never worth the run: their CSV data is written either way.
        if let python = Library.provisionedPython() {
            do {
                try Figures.draw(Self.script, in: folder, request: [:], python: python,
                                 purpose: "drawing the parity plots (matplotlib)")
            } catch {
                progress("evaluate: WARNING: parity plots not drawn: \(error) (their CSV data is written)")
            }
        } else {
            progress("note: no provisioned Python (scripts/setup): parity plots not drawn, their CSV data written")
        }
    }

    static let script = #"""
    for stem, label in (("energy", "energy (eV/atom)"), ("force", "force component (eV/Å)")):
        data = rows(f"parity_{stem}.csv")
        fig, ax = plt.subplots(figsize=(5.5, 5))
        groups = sorted({r["group"] for r in data})
        for number, group in enumerate(groups):
            xs = [float(r["dft"]) for r in data if r["group"] == group]
            ys = [float(r["predicted"]) for r in data if r["group"] == group]
            # tab20: the default cycle repeats its 10 colours, and a training set often has more groups.
            ax.scatter(xs, ys, s=4, alpha=0.6, label=group, color=plt.cm.tab20(number % 20), rasterized=len(xs) > 2000)
        values = [float(r[k]) for r in data for k in ("dft", "predicted")]
        lo, hi = min(values), max(values)
        ax.plot([lo, hi], [lo, hi], color="black", lw=0.8)
        ax.set_xlabel(f"DFT {label}")
        ax.set_ylabel(f"predicted {label}")
        if len(groups) <= 16:
            ax.legend(fontsize=6, markerscale=2)
        save(fig, f"parity_{stem}")
    """#
}
