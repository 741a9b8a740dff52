import Atomistics
import Foundation
import LAMMPSLibrary

/// Each training group's errors before and after a fit: the start's from the training term (they
/// are `evaluate`'s at Θ0 by construction), the final potential's from a real `evaluate` of its
/// files (written to evaluate/), so that a fine-tuning shows what it cost the training data.
struct FitTrainingReport: Encodable {
    struct Row: Encodable {
        var group: String
        var energyRMSEInitial: Double, energyRMSEFinal: Double
        var forceRMSEInitial: Double, forceRMSEFinal: Double
        /// Final over initial, minus one (0.05: 5 % worse).
        var energyChange: Double { energyRMSEFinal / energyRMSEInitial - 1 }
        var forceChange: Double { forceRMSEFinal / forceRMSEInitial - 1 }

        enum CodingKeys: String, CodingKey {
            case group, energyRMSEInitial = "energy_rmse_initial", energyRMSEFinal = "energy_rmse_final",
                 forceRMSEInitial = "force_rmse_initial", forceRMSEFinal = "force_rmse_final"
        }
    }
    var lossInitial: Double, lossFinal: Double
    var rows: [Row]
    /// Set when `evaluate` of the final files disagrees with the training term's prediction: the
    /// rows were not linear in Θ as the term assumes.
    var warning: String?

    enum CodingKeys: String, CodingKey { case lossInitial = "loss_initial", lossFinal = "loss_final", rows = "groups", warning }

    /// Evaluates the potential with `theta` on the training data and sets the table beside the start's.
    static func measure(_ training: TrainingTerm, initial: [Double], final theta: [Double], data: [String],
                        reference: EvaluateReference, writePotential: ([Double], URL) throws -> [URL],
                        into folder: URL?, named: (snapcoeff: String, snapparam: String)) throws -> FitTrainingReport {
        progress("fit: evaluating the final potential on the training data\(folder.map { " (\($0.lastPathComponent)/)" } ?? "")")
        let scratch = FileManager.default.temporaryDirectory
            .appendingPathComponent("implicit-lammps-final-\(ProcessInfo.processInfo.processIdentifier)-\(MPIJob.rank)")
        defer { try? FileManager.default.removeItem(at: scratch) }
        try Files.createFolder(scratch)
        let files = try writePotential(theta, scratch)
        var evaluation = EvaluateRun(snapcoeff: files[0], snapparam: files[1], reference: reference, datasets: data)
        evaluation.named = named
        let metrics = try evaluation.run(writingTo: folder)
        func rmse(_ group: String, _ quantity: String) -> Double {
            metrics.rows.first { $0.group == group && $0.quantity == quantity }?.rmse ?? .nan
        }
        let predicted = training.errors(theta)
        var rows: [Row] = []
        var worst = 0.0
        for (start, end) in zip(training.errors(initial), predicted) {
            let row = Row(group: start.group, energyRMSEInitial: start.energyRMSE, energyRMSEFinal: rmse(start.group, "energy"),
                          forceRMSEInitial: start.forceRMSE, forceRMSEFinal: rmse(start.group, "force"))
            worst = max(worst, abs(row.energyRMSEFinal / end.energyRMSE - 1), abs(row.forceRMSEFinal / end.forceRMSE - 1))
            rows.append(row)
        }
        let warning = worst > 1e-6 ? String(format: """
            evaluate of the final potential differs from the training term's prediction by %.2g (relative RMSE): \
            the training rows are not linear in Θ as the term assumes
            """, worst) : nil
        if let warning { progress("fit: WARNING: " + warning) }
        return FitTrainingReport(lossInitial: training.loss(initial), lossFinal: training.loss(theta), rows: rows, warning: warning)
    }

    var csv: String {
        "group,energy_rmse_initial,energy_rmse_final,energy_change,force_rmse_initial,force_rmse_final,force_change\n"
            + rows.map { row in
                [CSV.field(row.group), "\(row.energyRMSEInitial)", "\(row.energyRMSEFinal)", String(format: "%.6g", row.energyChange),
                 "\(row.forceRMSEInitial)", "\(row.forceRMSEFinal)", String(format: "%.6g", row.forceChange)].joined(separator: ",") + "\n"
            }.joined()
    }

    /// One line per group for the log.
    var lines: [String] {
        rows.map { row in
            String(format: "  %@: energy RMSE %.4g → %.4g eV/atom (%+.1f %%), force RMSE %.4g → %.4g eV/Å (%+.1f %%)",
                   row.group, row.energyRMSEInitial, row.energyRMSEFinal, 100 * row.energyChange,
                   row.forceRMSEInitial, row.forceRMSEFinal, 100 * row.forceChange)
        }
    }
}
