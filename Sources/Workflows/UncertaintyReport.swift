import Atomistics
import Foundation
import ImplicitDerivative

/// One line of `samples.csv`: a quantity of one ensemble member at one expansion level.
public struct UncertaintyRow: Sendable {
    public var point: EnsemblePoint
    public var quantity: String
    public var level: ExpansionLevel
    public var predicted: Double
    /// From a true relaxation (nil where none was run, or the member failed).
    public var truth: Double?
    /// The indicator of `UncertaintyCampaign.indicator` (nil when not computed).
    public var indicator: Double?
    /// Why the member is excluded from the statistics.
    public var excluded: String?

    public var error: Double? { truth.map { predicted - $0 } }
}

/// Mean and the 16/84 % percentile band of a set of values.
public struct Band: Codable, Sendable {
    public var count: Int
    public var mean: Double
    public var p16: Double
    public var p84: Double

    public init?(_ values: [Double]) {
        let sorted = values.filter(\.isFinite).sorted()
        guard !sorted.isEmpty else { return nil }
        count = sorted.count
        mean = sorted.reduce(0, +) / Double(sorted.count)
        p16 = Band.percentile(sorted, 0.16)
        p84 = Band.percentile(sorted, 0.84)
    }

    /// Linear interpolation between closest ranks (numpy's default).
    static func percentile(_ sorted: [Double], _ q: Double) -> Double {
        let position = q * Double(sorted.count - 1)
        let below = Int(position.rounded(.down)), above = min(below + 1, sorted.count - 1)
        return sorted[below] + (position - Double(below)) * (sorted[above] - sorted[below])
    }
}

/// Per quantity, λ and level: the predicted band, the true band and the error band over the
/// members that were not excluded.
public struct UncertaintyStatistics: Codable, Sendable {
    public var quantity: String
    public var lambda: Double
    public var level: ExpansionLevel
    public var predicted: Band?
    public var truth: Band?
    public var error: Band?
    /// Mean |error| where relaxed.
    public var meanAbsoluteError: Double?
    public var excluded: Int

    public static func tabulate(_ rows: [UncertaintyRow], quantities: [String], lambdas: [Double]) -> [UncertaintyStatistics] {
        var result: [UncertaintyStatistics] = []
        for quantity in quantities {
            for lambda in lambdas {
                for level in ExpansionLevel.allCases {
                    let selected = rows.filter { $0.quantity == quantity && $0.point.lambda == lambda && $0.level == level }
                    let used = selected.filter { $0.excluded == nil }
                    let errors = used.compactMap(\.error)
                    result.append(UncertaintyStatistics(
                        quantity: quantity, lambda: lambda, level: level, predicted: Band(used.map(\.predicted)),
                        truth: Band(used.compactMap(\.truth)), error: Band(errors),
                        meanAbsoluteError: errors.isEmpty ? nil : errors.map(abs).reduce(0, +) / Double(errors.count),
                        excluded: selected.count - used.count))
                }
            }
        }
        return result
    }
}

/// The files of an uncertainty campaign: samples.csv, truth.csv, the figure data and figures.
public enum UncertaintyFiles {
    public static func samplesCSV(_ rows: [UncertaintyRow]) -> String {
        var lines = ["sample,lambda,quantity,level,predicted,true,error,indicator,excluded"]
        for row in rows {
            lines.append([String(row.point.sample), number(row.point.lambda), row.quantity, row.level.rawValue,
                          number(row.predicted), row.truth.map(number) ?? "", row.error.map(number) ?? "",
                          row.indicator.map(number) ?? "", CSV.field(row.excluded ?? "")].joined(separator: ","))
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// One line per truly relaxed member and system.
    public static func truthCSV(_ outcomes: [TruthOutcome], systems: [String]) -> String {
        var lines = ["sample,lambda,system,energy,volume,force_evaluations,excluded"]
        for outcome in outcomes {
            for system in systems {
                lines.append([String(outcome.point.sample), number(outcome.point.lambda), system,
                              outcome.energies[system].map(number) ?? "", outcome.volumes[system].map(number) ?? "",
                              outcome.systemEvaluations[system].map(String.init) ?? "",
                              CSV.field(outcome.failure ?? "")].joined(separator: ","))
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// The data behind the band figure (Fig. 3 c): per λ and level the predicted band, and the true band.
    public static func bandCSV(_ statistics: [UncertaintyStatistics], quantity: String) -> String {
        var lines = ["lambda,level,predicted_mean,predicted_p16,predicted_p84,true_mean,true_p16,true_p84,true_count"]
        for entry in statistics where entry.quantity == quantity {
            lines.append([number(entry.lambda), entry.level.rawValue,
                          entry.predicted.map { number($0.mean) } ?? "", entry.predicted.map { number($0.p16) } ?? "",
                          entry.predicted.map { number($0.p84) } ?? "", entry.truth.map { number($0.mean) } ?? "",
                          entry.truth.map { number($0.p16) } ?? "", entry.truth.map { number($0.p84) } ?? "",
                          String(entry.truth?.count ?? 0)].joined(separator: ","))
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// The data behind the error figure (Fig. 3 d): error of each level against the true change.
    public static func errorCSV(_ rows: [UncertaintyRow], quantity: String, reference: Double) -> String {
        var lines = ["sample,lambda,level,true_change,error,indicator"]
        for row in rows where row.quantity == quantity && row.excluded == nil {
            guard let truth = row.truth, let error = row.error else { continue }
            lines.append([String(row.point.sample), number(row.point.lambda), row.level.rawValue, number(truth - reference),
                          number(error), row.indicator.map(number) ?? ""].joined(separator: ","))
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// Draws the figures of every quantity (PNG and SVG) from the CSV files in `directory`: the band
    /// always, the errors only where `withErrors` says there are true relaxations to compare with.
    public static func drawFigures(in directory: URL, quantities: [SystemQuantity], withErrors: Set<String>,
                                   python: URL) throws {
        let request: [String: Any] = ["quantities": quantities.map { ["name": $0.name, "unit": $0.unit,
                                                                      "errors": withErrors.contains($0.name)] }]
        try Figures.draw(figureScript, in: directory, request: request, python: python, purpose: "drawing the figures (matplotlib)")
    }

    static let figureScript = #"""
    levels = ["c", "h", "ih", "h+ih"]
    colors = {"c": "#999999", "h": "#1f77b4", "ih": "#2ca02c", "h+ih": "#d62728"}
    for quantity in request["quantities"]:
        name, unit = quantity["name"], quantity["unit"]
        band = rows(f"band_{name}.csv")
        fig, ax = plt.subplots(figsize=(6, 4))
        for level in levels:
            entries = sorted((float(r["lambda"]), r) for r in band if r["level"] == level and r["predicted_mean"])
            if not entries:
                continue
            x = [e[0] for e in entries]
            low, high = [float(e[1]["predicted_p16"]) for e in entries], [float(e[1]["predicted_p84"]) for e in entries]
            if level == "h+ih":
                ax.fill_between(x, low, high, color=colors[level], alpha=0.2)
            else:
                ax.plot(x, low, color=colors[level], linestyle=":", linewidth=0.8)
                ax.plot(x, high, color=colors[level], linestyle=":", linewidth=0.8)
            ax.plot(x, [float(e[1]["predicted_mean"]) for e in entries], color=colors[level], marker=".",
                    label=f"{level} (predicted mean, 16–84 %)")
        truth = sorted((float(r["lambda"]), r) for r in band if r["level"] == "h+ih" and r["true_mean"])
        if truth:
            x = [e[0] for e in truth]
            mean = [float(e[1]["true_mean"]) for e in truth]
            low = [m - float(e[1]["true_p16"]) for m, e in zip(mean, truth)]
            high = [float(e[1]["true_p84"]) - m for m, e in zip(mean, truth)]
            ax.errorbar(x, mean, yerr=[low, high], fmt="o", color="black", capsize=3, label="true relaxations")
        ax.set_xlabel("perturbation magnitude λ")
        ax.set_ylabel(f"{name} ({unit})" if unit else name)
        ax.set_title(f"{name}: mean and 16–84 % band over the ensemble")
        ax.legend(fontsize=8)
        save(fig, f"band_{name}")
        if not quantity["errors"]:
            continue
        errors = rows(f"errors_{name}.csv")
        fig, ax = plt.subplots(figsize=(6, 4))
        for level in levels:
            points = [(float(r["true_change"]), float(r["error"])) for r in errors if r["level"] == level]
            if points:
                ax.scatter([p[0] for p in points], [p[1] for p in points], s=10, color=colors[level], label=level)
        ax.axhline(0, color="black", linewidth=0.5)
        ax.set_xlabel(f"true change of {name}" + (f" ({unit})" if unit else ""))
        ax.set_ylabel(f"prediction error" + (f" ({unit})" if unit else ""))
        ax.set_title(f"{name}: error of each expansion level")
        ax.legend(fontsize=8)
        save(fig, f"errors_{name}")
    """#

    static func number(_ value: Double) -> String { value.isFinite ? "\(value)" : "nan" }

}
