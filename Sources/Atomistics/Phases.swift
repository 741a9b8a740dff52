import Foundation

/// Where a run's wall time and force evaluations went, phase by phase: summary.json's `phases`.
/// Times are exclusive (a phase measured inside another is not counted twice), phases entered
/// again add up, and `other` holds what no phase covered, so the entries sum to the wall time.
/// Progress lines name the phase they report from.
public final class Phases {
    public struct Entry: Encodable, Sendable {
        public var seconds = 0.0
        public var forceEvaluations = 0
    }

    private let started = Date()
    private var order: [String] = []
    private var entries: [String: Entry] = [:]
    /// Per open phase: its start and the time and evaluations its inner phases took.
    private var open: [(name: String, start: Date, evaluations: Int, innerSeconds: Double, innerEvaluations: Int)] = []
    /// Reads the force evaluations made so far (every kind: relaxations, products, checks).
    public var evaluationCount: () -> Int = { 0 }

    public init() {}

    /// Runs `body` as phase `name`.
    public func measure<T>(_ name: String, _ body: () throws -> T) rethrows -> T {
        open.append((name, Date(), evaluationCount(), 0, 0))
        defer { close() }
        return try body()
    }

    private func close() {
        let phase = open.removeLast()
        let seconds = Date().timeIntervalSince(phase.start), evaluations = evaluationCount() - phase.evaluations
        if entries[phase.name] == nil { order.append(phase.name) }
        entries[phase.name, default: Entry()].seconds += seconds - phase.innerSeconds
        entries[phase.name, default: Entry()].forceEvaluations += evaluations - phase.innerEvaluations
        if !open.isEmpty {
            open[open.count - 1].innerSeconds += seconds
            open[open.count - 1].innerEvaluations += evaluations
        }
    }

    /// The phases so far, in the order they first ran, then `other` (the rest of the wall time).
    public var table: [(name: String, entry: Entry)] {
        let measured = order.map { ($0, entries[$0]!) }
        let covered = measured.reduce(0) { $0 + $1.1.seconds }
        let counted = measured.reduce(0) { $0 + $1.1.forceEvaluations }
        return measured + [("other", Entry(seconds: max(0, wallSeconds - covered), forceEvaluations: max(0, evaluationCount() - counted)))]
    }

    public var wallSeconds: Double { Date().timeIntervalSince(started) }

    /// One line per phase, for the end of a run's progress.
    public var summaryLine: String {
        "phases: " + table.map { String(format: "%@ %.1f s (%d evaluations)", $0.name, $0.entry.seconds, $0.entry.forceEvaluations) }
            .joined(separator: ", ")
    }
}

extension Phases: Encodable {
    /// An object keyed by phase, in order: {"relaxation": {"seconds": …, "force_evaluations": …}, …}.
    public func encode(to encoder: Encoder) throws {
        struct Key: CodingKey {
            var stringValue: String
            var intValue: Int? { nil }
            init(stringValue: String) { self.stringValue = stringValue }
            init?(intValue: Int) { nil }
        }
        var container = encoder.container(keyedBy: Key.self)
        for (name, entry) in table { try container.encode(entry, forKey: Key(stringValue: name)) }
    }
}

/// A run's summary with its `phases` and `wall_seconds` added beside its own keys: how every
/// command writes summary.json.
public struct PhasedSummary<Body: Encodable>: Encodable {
    public var body: Body
    public var phases: Phases

    public init(_ body: Body, phases: Phases) { (self.body, self.phases) = (body, phases) }

    private enum Keys: String, CodingKey { case phases, wallSeconds }

    public func encode(to encoder: Encoder) throws {
        try body.encode(to: encoder)
        var container = encoder.container(keyedBy: Keys.self)
        try container.encode(phases, forKey: .phases)
        try container.encode(phases.wallSeconds, forKey: .wallSeconds)
    }
}
