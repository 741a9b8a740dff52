import Atomistics
import Foundation
import ImplicitDerivative
import LAMMPSLibrary
import Potentials

/// An uncertainty campaign from its file to every output in its run folder: the checkpoint (one
/// per partition), truth/ (each truly relaxed member's potential), samples.csv, truth.csv,
/// band_Q.* and errors_Q.*, summary.json.
public struct UncertaintyRun {
    public var config: URL
    public var lammpsArguments: [String]
    /// Continue from the checkpoint in the run folder, if there is one.
    public var resume: Bool
    /// Partitions of the MPI job, each taking every N-th member (nil: none).
    public var partitions: Int?

    public init(config: URL, lammpsArguments: [String], resume: Bool, partitions: Int?) {
        (self.config, self.lammpsArguments, self.resume, self.partitions) = (config, lammpsArguments, resume, partitions)
    }

    public func run(in run: RunDirectory) throws {
        let phases = Phases()
        let file = try UncertaintyCampaignFile.read(config)
        let split = try partitions.map { try Partitions(count: $0) }
        let share = split.map { WorkSharing(partitions: $0) } ?? .wholeJob
        let (systems, potentials, ensemble) = try phases.measure("set_up") {
            let (systems, potentials) = try file.buildSystems(run: run, lammpsArguments: lammpsArguments, partitions: split)
            return (systems, potentials, try file.buildEnsemble(reference: systems[0].energy))
        }
        phases.evaluationCount = { systems.reduce(0) { $0 + $1.energy.forceProvider.allForceEvaluations } }
        let quantities = file.quantityList(systems)
        let truthRows = (file.truth ?? .none).rows(of: ensemble.samples.count)
        if let bad = truthRows.first(where: { $0 >= ensemble.samples.count }) {
            throw CampaignFileError(file: file.url.path, key: "truth", value: "\(bad)", reason: """
                truth lists row \(bad), but the ensemble has \(ensemble.samples.count) samples (rows 0…\(ensemble.samples.count - 1))
                """)
        }
        let campaign = try UncertaintyCampaign(systems: systems, quantities: quantities, ensemble: ensemble,
                                               method: try (file.derivative ?? DerivativeSection()).method(file: file.url.path),
                                               ftol: file.relax?.ftol ?? 1e-10,
                                               minStyle: try file.relax?.style(file: file.url.path) ?? .cg)
        let checkpointURL = run.url(share.index == 0 ? "checkpoint/uq.json" : "checkpoint/uq.p\(share.index).json")
        // The partition count is part of the key: each partition checkpoints only its own members.
        var checkpoint = UncertaintyCheckpoint(key: file.key(lammpsArguments: lammpsArguments + ["partitions \(share.count)"]))
        if resume, let saved = try loadCheckpoint(UncertaintyCheckpoint.self, from: checkpointURL) {
            guard saved.key == checkpoint.key else { throw ChangedCampaign() }
            checkpoint = saved
            progress("uq: resuming with \(saved.indicators.count) indicators and \(saved.truths.count) true relaxations done")
        }
        progress("uq: \(ensemble.samples.count) samples × \(ensemble.lambdas.count) λ of \(ensemble.mean.count) parameters; "
                 + "systems \(systems.map(\.name).joined(separator: ", ")); quantities \(quantities.map(\.name).joined(separator: ", "))")
        let reference = try phases.measure("reference") { try campaign.reference(progress: progress) }
        for quantity in quantities {
            progress(String(format: "uq: %@ at Θ̄ = %.8g %@", quantity.name, reference.quantities[quantity.name]!, quantity.unit))
        }
        let save = { (state: UncertaintyCheckpoint) throws in
            guard share.isPartitionRoot else { return }
            try FileManager.default.createDirectory(at: checkpointURL.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Files.writeJSON(state, to: checkpointURL)
        }
        if file.indicator ?? true {
            try phases.measure("indicators") {
                try computeIndicators(campaign, reference: reference, share: share, checkpoint: &checkpoint, save: save)
            }
        }
        // Every system shares Θ: the first one's potential files are each member's.
        try phases.measure("truth") {
            try computeTruth(campaign, potential: potentials[0], rows: Set(truthRows), reference: reference, share: share,
                             checkpoint: &checkpoint, run: run, save: save)
        }
        // On partitions each solved its share of the derivative's columns (and all of the shared
        // basis): the derivative cost is what all of them spent.
        var derivativeEvaluations = reference.forceEvaluations
        if let split, split.count > 1 {
            derivativeEvaluations = Int(try split.sum([Double(reference.forceEvaluations)])[0])
            if MPIJob.isRoot { try merge(into: &checkpoint, partitions: split.count, campaign: campaign, run: run) }
        }
        if MPIJob.isRoot {
            try writeResults(campaign, reference: reference, derivativeEvaluations: derivativeEvaluations, checkpoint: checkpoint,
                             phases: phases, run: run)
        }
        progress(phases.summaryLine)
    }

    private func computeIndicators(_ campaign: UncertaintyCampaign, reference: UncertaintyCampaign.Reference, share: WorkSharing,
                                   checkpoint: inout UncertaintyCheckpoint, save: (UncertaintyCheckpoint) throws -> Void) throws {
        let done = Set(checkpoint.indicators.map(\.point))
        let open = members(campaign.points, share).filter { !done.contains($0) }
        guard !open.isEmpty else { return }
        progress("uq: error indicators of \(open.count) members (2 force evaluations per distinct predicted structure)")
        let clock = ProgressClock()
        for (index, point) in open.enumerated() {
            let (values, evaluations) = try campaign.indicator(point, reference: reference)
            checkpoint.indicators.append(IndicatorEntry(point: point, values: values.mapValues { levels in
                Dictionary(uniqueKeysWithValues: levels.map { ($0.key.rawValue, $0.value.isFinite ? $0.value : nil) })
            }, forceEvaluations: evaluations))
            if clock.isDue() || index == open.count - 1 {
                try save(checkpoint)
                progress("uq: indicators \(index + 1)/\(open.count), \(clock.elapsed) s")
            }
        }
    }

    /// Each member's true relaxation, its potential files in truth/sNNNN_lλ/ (to check with the native
    /// `lmp`), and the checkpoint after each.
    private func computeTruth(_ campaign: UncertaintyCampaign, potential: any ParametrizedEnergy, rows: Set<Int>, reference: UncertaintyCampaign.Reference,
                              share: WorkSharing, checkpoint: inout UncertaintyCheckpoint, run: RunDirectory,
                              save: (UncertaintyCheckpoint) throws -> Void) throws {
        let done = Set(checkpoint.truths.map(\.point))
        let open = members(campaign.points.filter { rows.contains($0.sample) }, share).filter { !done.contains($0) }
        guard !open.isEmpty else { return }
        progress("uq: true relaxations of \(open.count) members")
        let start = Date()
        for (index, point) in open.enumerated() {
            let outcome = campaign.truth(point, reference: reference)
            if share.isPartitionRoot {
                let folder = run.url("truth/" + Self.memberFolder(point))
                try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
                _ = try potential.writePotential(theta: campaign.ensemble.theta(sample: point.sample, lambda: point.lambda),
                                                                   to: folder)
            }
            checkpoint.truths.append(outcome)
            try save(checkpoint)
            let values = campaign.quantities.map { quantity in
                outcome.quantities[quantity.name].map { String(format: "%@ %.6g", quantity.name, $0) } ?? ""
            }.filter { !$0.isEmpty }.joined(separator: ", ")
            let elapsed = Date().timeIntervalSince(start)
            let left = elapsed / Double(index + 1) * Double(open.count - index - 1)
            progress(String(format: "uq: truth %d/%d (sample %d, λ %g): %@, %d force evaluations, %.1f s; about %.0f s left",
                            index + 1, open.count, point.sample, point.lambda,
                            outcome.failure.map { "EXCLUDED: " + $0 } ?? values, outcome.forceEvaluations, outcome.seconds, left))
        }
    }

    /// Every partition's results, from its checkpoint (all are written once the partitions met in
    /// the sum before this), in the order of the ensemble.
    private func merge(into checkpoint: inout UncertaintyCheckpoint, partitions: Int, campaign: UncertaintyCampaign,
                       run: RunDirectory) throws {
        for index in 1..<partitions {
            guard let other = try loadCheckpoint(UncertaintyCheckpoint.self, from: run.url("checkpoint/uq.p\(index).json")) else { continue }
            checkpoint.indicators += other.indicators
            checkpoint.truths += other.truths
        }
        let order = Dictionary(uniqueKeysWithValues: campaign.points.enumerated().map { ($0.element, $0.offset) })
        checkpoint.indicators.sort { order[$0.point]! < order[$1.point]! }
        checkpoint.truths.sort { order[$0.point]! < order[$1.point]! }
    }

    /// The members this partition takes: every `count`-th, from its own index.
    private func members(_ points: [EnsemblePoint], _ share: WorkSharing) -> [EnsemblePoint] {
        points.enumerated().filter { share.takes($0.offset) }.map(\.element)
    }

    static func memberFolder(_ point: EnsemblePoint) -> String {
        String(format: "s%04d_l%g", point.sample, point.lambda)
    }

    private func writeResults(_ campaign: UncertaintyCampaign, reference: UncertaintyCampaign.Reference, derivativeEvaluations: Int,
                              checkpoint: UncertaintyCheckpoint, phases: Phases, run: RunDirectory) throws {
        let indicators = Dictionary(checkpoint.indicators.map { entry in
            (entry.point, entry.values.mapValues { levels in
                Dictionary(uniqueKeysWithValues: levels.compactMap { key, value in ExpansionLevel(rawValue: key).map { ($0, value ?? .nan) } })
            })
        }, uniquingKeysWith: { $1 })
        let truths = Dictionary(checkpoint.truths.map { ($0.point, $0) }, uniquingKeysWith: { $1 })
        let rows = campaign.rows(reference: reference, indicators: indicators, truths: truths)
        let names = campaign.quantities.map(\.name)
        let statistics = UncertaintyStatistics.tabulate(rows, quantities: names, lambdas: campaign.ensemble.lambdas)
        try Files.write(UncertaintyFiles.samplesCSV(rows), to: run.url("samples.csv"))
        try Files.write(UncertaintyFiles.truthCSV(checkpoint.truths, systems: campaign.systems.map(\.name)), to: run.url("truth.csv"))
        // An error figure compares predictions with true relaxations: without any it would be empty axes.
        var withErrors = Set<String>()
        var figures: [String: String] = [:]
        for quantity in campaign.quantities {
            try Files.write(UncertaintyFiles.bandCSV(statistics, quantity: quantity.name), to: run.url("band_\(quantity.name).csv"))
            let errors = UncertaintyFiles.errorCSV(rows, quantity: quantity.name, reference: reference.quantities[quantity.name]!)
            try Files.write(errors, to: run.url("errors_\(quantity.name).csv"))
            figures["band_\(quantity.name)"] = "drawn"
            if errors.split(separator: "\n").count > 1 {
                withErrors.insert(quantity.name)
                figures["errors_\(quantity.name)"] = "drawn"
            } else {
                figures["errors_\(quantity.name)"] = checkpoint.truths.isEmpty
                    ? "not drawn: no true relaxations to compare with (the campaign's truth is none)"
                    : "not drawn: every truly relaxed member was excluded (see excluded)"
            }
        }
        let members = campaign.points.count
        let truthEvaluations = checkpoint.truths.reduce(0) { $0 + $1.forceEvaluations }
        let perTruth = checkpoint.truths.isEmpty ? nil : Double(truthEvaluations) / Double(checkpoint.truths.count)
        let perPrediction = Double(derivativeEvaluations) / Double(members)
        var summary = UncertaintySummary(
            quantities: campaign.quantities.map { QuantitySummary(name: $0.name, unit: $0.unit, reference: reference.quantities[$0.name]!,
                                                                   energy: $0.energy, volume: $0.volume) },
            samples: campaign.ensemble.samples.count, parameters: campaign.ensemble.mean.count, lambdas: campaign.ensemble.lambdas,
            method: campaign.method.name, methodSettings: campaign.method.settings, statistics: statistics,
            excluded: checkpoint.truths.compactMap { outcome in outcome.failure.map { ExcludedMember(sample: outcome.point.sample, lambda: outcome.point.lambda, reason: $0) } },
            cost: CostSummary(
                derivativeForceEvaluations: derivativeEvaluations, derivativeSeconds: reference.seconds,
                predictionForceEvaluationsPerMember: perPrediction,
                indicatorForceEvaluationsPerMember: checkpoint.indicators.isEmpty ? nil
                    : Double(checkpoint.indicators.reduce(0) { $0 + $1.forceEvaluations }) / Double(checkpoint.indicators.count),
                truthMembers: checkpoint.truths.count, truthForceEvaluationsPerMember: perTruth,
                truthOverPrediction: perTruth.map { $0 / perPrediction }),
            figures: figures)
        for entry in statistics where entry.level == .hih && entry.error != nil {
            progress(String(format: "uq: %@ λ %g: h+ih mean %.6g [%.6g, %.6g], error mean %.3g [%.3g, %.3g] over %d relaxed",
                            entry.quantity, entry.lambda, entry.predicted?.mean ?? .nan, entry.predicted?.p16 ?? .nan,
                            entry.predicted?.p84 ?? .nan, entry.error!.mean, entry.error!.p16, entry.error!.p84, entry.error!.count))
        }
        if let python = Library.provisionedPython() {
            do {
                try UncertaintyFiles.drawFigures(in: run.staging, quantities: campaign.quantities, withErrors: withErrors,
                                                 python: python)
            } catch {
                progress("uq: WARNING: no figures: \(error) (the CSV files behind them are written)")
                summary.figures = summary.figures.mapValues { _ in "not drawn: \(error)" }
            }
        } else {
            progress("uq: WARNING: no provisioned Python (run scripts/setup): figures not drawn; their CSV data is written")
            summary.figures = summary.figures.mapValues { _ in "not drawn: no provisioned Python (run scripts/setup)" }
        }
        for (figure, state) in summary.figures.sorted(by: { $0.key < $1.key }) where state != "drawn" {
            progress("uq: \(figure): \(state)")
        }
        try Files.writeJSON(PhasedSummary(summary, phases: phases), to: run.url("summary.json"))
    }
}

struct IndicatorEntry: Codable {
    var point: EnsemblePoint
    /// Quantity → level (c, h, ih, h+ih) → indicator (nil: no positive curvature along the residual force).
    var values: [String: [String: Double?]]
    var forceEvaluations: Int
}

struct UncertaintyCheckpoint: Codable {
    var key: String
    var indicators: [IndicatorEntry] = []
    var truths: [TruthOutcome] = []

    init(key: String) { self.key = key }
}

struct QuantitySummary: Encodable {
    var name: String
    var unit: String
    /// At Θ̄.
    var reference: Double
    var energy: [String: Double]
    var volume: [String: Double]
}

struct ExcludedMember: Encodable {
    var sample: Int
    var lambda: Double
    var reason: String
}

struct CostSummary: Encodable {
    /// Relaxing every system at Θ̄ and its derivatives: the whole cost of every prediction.
    var derivativeForceEvaluations: Int
    var derivativeSeconds: Double
    var predictionForceEvaluationsPerMember: Double
    var indicatorForceEvaluationsPerMember: Double?
    var truthMembers: Int
    var truthForceEvaluationsPerMember: Double?
    /// How many times more force evaluations a true relaxation costs than a prediction.
    var truthOverPrediction: Double?
}

struct UncertaintySummary: Encodable {
    var quantities: [QuantitySummary]
    var samples: Int
    var parameters: Int
    var lambdas: [Double]
    var method: String
    var methodSettings: [String: String]
    var statistics: [UncertaintyStatistics]
    var excluded: [ExcludedMember]
    var cost: CostSummary
    /// Per figure (file stem): "drawn", or why it was not.
    var figures: [String: String]
}
