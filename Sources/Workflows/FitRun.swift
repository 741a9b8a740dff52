import Atomistics
import Foundation
import ImplicitDerivative
import LAMMPSLibrary
import LinearAlgebra
import Potentials

/// A fit campaign from its file to every output in its run folder: history.csv, iterations/,
/// the checkpoint after each iteration, loss figures, final.* and summary.json.
public struct FitRun {
    public var config: URL
    public var lammpsArguments: [String]
    /// Continue from the checkpoint in the run folder, if there is one.
    public var resume: Bool

    public init(config: URL, lammpsArguments: [String], resume: Bool) {
        (self.config, self.lammpsArguments, self.resume) = (config, lammpsArguments, resume)
    }

    public func run(in run: RunDirectory) throws {
        let phases = Phases()
        let (campaign, built) = try phases.measure("set_up") {
            let campaign = try FitCampaignFile.read(config)
            return (campaign, try campaign.build(run: run, lammpsArguments: lammpsArguments))
        }
        let fit = built.campaign
        phases.evaluationCount = { fit.systems.reduce(0) { $0 + $1.provider.allForceEvaluations } }
        let replay = FitReplay(setup: built.setup, destination: run.destination, staging: run.staging,
                               potentials: built.potentials, journal: built.journal)
        let key = campaign.key(lammpsArguments: lammpsArguments)
        let checkpoint = run.url("checkpoint/fit.json")
        let figureClock = ProgressClock()
        var state: FitState
        if resume, let saved = try loadCheckpoint(FitState.self, from: checkpoint) {
            guard saved.key == key else { throw ChangedCampaign() }
            state = saved
            progress("fit: resuming after iteration \(state.history.count - 1)")
            if MPIJob.isRoot { try Files.write(historyCSV(state.history), to: run.url("history.csv")) }
        } else {
            if resume { progress("fit: nothing to resume in \(run.staging.path); starting afresh") }
            state = try phases.measure("initial_state") { try fit.initialState(key: key, progress: progress) }
            try phases.measure("writing") { try record(state, fit: fit, built: built, replay: replay, run: run, checkpoint: checkpoint) }
        }
        while !state.done {
            state = try phases.measure("iterations") { try fit.step(state, progress: progress) }
            try phases.measure("writing") { try record(state, fit: fit, built: built, replay: replay, run: run, checkpoint: checkpoint) }
            // Every ~10 s at most (a drawing takes about a second): a long campaign can be watched.
            if figureClock.isDue() { drawLoss(fit, history: state.history, best: nil, run: run) }
        }
        let (final, best, finished) = try phases.measure("final_relaxation") { try fit.finish(state, progress: progress) }
        if MPIJob.isRoot, let starts = finished.starts, !starts.isEmpty {
            let folder = run.url(FitReplay.finalFolder)
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            for (name, start) in starts.sorted(by: { $0.key < $1.key }) { try Files.write(LAMMPSDump.format(start), to: FitReplay.startDump(name, in: folder)) }
        }
        progress(String(format: "fit: final relaxation, true loss %.6g (best %.6g at iteration %d)",
                        final.lossRelaxed!, best.lossRelaxed!, best.iteration))
        let warning = FitCampaign.driftWarning(history: state.history, final: final, best: best)
        if let warning { progress("fit: WARNING: " + warning) }
        var report: FitTrainingReport?
        if let training = fit.training, let data = built.trainingData {
            report = try phases.measure("training_report") { try FitTrainingReport.measure(training, initial: state.thetaInitial, final: best.theta, data: data.datasets,
                                                   reference: data.reference, writePotential: built.writePotential,
                                                   into: MPIJob.isRoot ? run.url("evaluate") : nil,
                                                   named: ("final.snapcoeff", "final.snapparam")) }
            report!.lines.forEach(progress)
        }
        if MPIJob.isRoot {
            try phases.measure("writing") {
                if let report { try Files.write(report.csv, to: run.url("training_errors.csv")) }
                try Files.write(try replay.script(fit, history: state.history, best: best.iteration), to: run.url("commands.lammps"))
                drawLoss(fit, history: state.history, best: best.iteration, run: run)
            }
            // Last, so that its phases cover the whole run of this process (a resumed run: since the resume).
            try writeFinal(fit: fit, built: built, state: state, final: final, best: best, warning: warning, training: report,
                           phases: phases, run: run)
        }
        progress(phases.summaryLine)
    }

    /// After every iteration: history.csv, the iteration's files, the checkpoint, a progress line.
    private func record(_ state: FitState, fit: FitCampaign, built: FitCampaignFile.Built, replay: FitReplay,
                        run: RunDirectory, checkpoint: URL) throws {
        let potentials = built.potentials
        let row = state.history.last!
        let folder = run.url(FitReplay.iterationFolder(row.iteration))
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        for system in fit.systems {
            let structure = state.structures[system.name]!
            let simulation = potentials[system.name]!.simulation
            try simulation.restore(structure)
            try simulation.writeData(to: folder.appendingPathComponent("\(system.name).lammps-data"))
            if MPIJob.isRoot {
                try Files.write(ExtendedXYZ.format(structure), to: folder.appendingPathComponent("\(system.name).extxyz"))
                try Files.write(LAMMPSDump.format(structure), to: folder.appendingPathComponent("\(system.name).dump"))
                if let start = state.starts?[system.name] {
                    try Files.write(LAMMPSDump.format(start), to: FitReplay.startDump(system.name, in: folder))
                }
            }
        }
        if MPIJob.isRoot {
            _ = try built.writePotential(row.theta, folder)
            try Files.write(historyCSV(state.history), to: run.url("history.csv"))
            try Files.write(try replay.script(fit, history: state.history), to: run.url("commands.lammps"))
            try FileManager.default.createDirectory(at: checkpoint.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Files.writeJSON(state, to: checkpoint)
        }
        // Once the iteration is on disk: the line says it can be resumed from (the tests kill there).
        progress(String(format: "fit: iteration %d, loss %.6g%@, step %.4g, max displacement %.3g Å, %d force evaluations, %.1f s",
                        row.iteration, row.lossPredicted, row.lossRelaxed.map { String(format: " (relaxed %.6g)", $0) } ?? "",
                        row.step, row.maxDisplacement, row.forceEvaluations, row.seconds))
    }

    /// loss.png and loss.svg from history.csv (rank 0); a campaign goes on without them, loudly.
    private func drawLoss(_ fit: FitCampaign, history: [FitRecord], best: Int?, run: RunDirectory) {
        guard MPIJob.isRoot else { return }
        guard let python = Library.provisionedPython() else {
            if best != nil { progress("fit: WARNING: no provisioned Python (run scripts/setup): loss.png not drawn; history.csv holds its data") }
            return
        }
        do {
            try FitLossFigure.draw(in: run.staging, goals: fit.propertyGoals, history: history, best: best, python: python)
        } catch {
            progress("fit: WARNING: loss.png not drawn: \(error) (history.csv holds its data)")
        }
    }

    /// One row per iteration; property targets (e.g. `si_C11`, GPa) in columns after the fixed ones.
    private func historyCSV(_ history: [FitRecord]) -> String {
        let properties = history.first.map { $0.properties.keys.sorted() } ?? []
        let systems = history.first?.energies.map { $0.keys.sorted() } ?? []
        // The training loss first, then each group's energy and force RMSE.
        let training = history.first?.training.map { $0.keys.sorted { ($0 == "training_loss" ? "" : $0) < ($1 == "training_loss" ? "" : $1) } } ?? []
        var lines = [(["iteration", "loss_predicted", "loss_relaxed", "step", "max_displacement", "force_evaluations", "seconds",
                       "true_over_predicted", "backtracks", "damping", "rejections"]
                      + properties + systems.map { "energy_\($0)" } + training).joined(separator: ",")]
        for row in history {
            let optional: [String?] = [row.lossRelaxed.map { "\($0)" }, row.iteration == 0 ? nil : row.trueOverPredicted.map { "\($0)" },
                                       row.backtracks.map { "\($0)" }, row.damping.map { "\($0)" }, row.rejections.map { "\($0)" }]
            let (relaxed, ratio, backtracks, damping, rejections) = (optional[0] ?? "", optional[1] ?? "", optional[2] ?? "",
                                                                     optional[3] ?? "", optional[4] ?? "")
            let fixed = ["\(row.iteration)", "\(row.lossPredicted)", relaxed, "\(row.step)", "\(row.maxDisplacement)",
                         "\(row.forceEvaluations)", "\(row.seconds)", ratio, backtracks, damping, rejections]
            lines.append((fixed + properties.map { row.properties[$0].map { "\($0)" } ?? "" }
                          + systems.map { row.energies?[$0].map { String(format: "%.10f", $0) } ?? "" }
                          + training.map { row.training?[$0].map { "\($0)" } ?? "" }).joined(separator: ","))
        }
        return lines.joined(separator: "\n") + "\n"
    }

    private func writeFinal(fit: FitCampaign, built: FitCampaignFile.Built, state: FitState, final: FitRecord, best: FitRecord,
                            warning: String?, training: FitTrainingReport?, phases: Phases, run: RunDirectory) throws {
        let copyChecks = built.copyChecks
        let scratch = run.url(".final")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        for file in try built.writePotential(best.theta, scratch) {
            try Files.replace(run.url("final.\(file.pathExtension)"), with: file)
        }
        try? FileManager.default.removeItem(at: scratch)
        let first = state.history[0]
        try Files.writeJSON(PhasedSummary(FitSummary(
            parameterNames: fit.parameterNames, thetaInitial: state.thetaInitial, thetaFinal: best.theta,
            thetaLastIteration: state.theta, iterations: state.history.count - 1, bestIteration: best.iteration,
            lossInitial: Losses(predicted: first.lossPredicted, true: first.lossRelaxed!),
            lossFinal: Losses(predicted: state.history.last!.lossPredicted, true: final.lossRelaxed!),
            lossBest: best.lossRelaxed!, settings: fit.settings, method: fit.method.name, methodSettings: fit.method.settings,
            alchemy: copyChecks.isEmpty ? nil : copyChecks, training: training, warning: warning,
            runawaySteps: state.history.compactMap(\.warning),
            forceEvaluations: state.history.reduce(final.forceEvaluations) { $0 + $1.forceEvaluations },
            seconds: state.history.reduce(final.seconds) { $0 + $1.seconds }), phases: phases), to: run.url("summary.json"))
    }
}

struct Losses: Encodable {
    var predicted: Double
    var `true`: Double
}

struct FitSummary: Encodable {
    var parameterNames: [String]
    var thetaInitial: [Double]
    /// The Θ with the lowest true loss (written as final.*).
    var thetaFinal: [Double]
    var thetaLastIteration: [Double]
    var iterations: Int
    var bestIteration: Int
    var lossInitial: Losses
    var lossFinal: Losses
    var lossBest: Double
    var settings: FitSettings
    var method: String
    var methodSettings: [String: String]
    /// Per system with an alchemical substitution: the exact-copy check before the first step.
    var alchemy: [String: AlchemicalSubstitution.CopyCheck]?
    /// The training term's loss and each group's errors before and after (training_errors.csv).
    var training: FitTrainingReport?
    /// Set when the final true loss contradicts the predicted one (eq. 44 positions drifted).
    var warning: String?
    /// Steps whose true loss landed far above the prediction and the previous loss (history.csv's
    /// true_over_predicted column has the ratio of every step).
    var runawaySteps: [String]
    var forceEvaluations: Int
    var seconds: Double
}
