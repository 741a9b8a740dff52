import Atomistics
import Foundation

/// FitSNAP's group table as CSV with a header (`group,training_size,testing_size,energy_weight,
/// force_weight,stress_weight`): the energy and force weight of each group of training data.
/// Columns are found by their header name; only `group`, `energy_weight` and `force_weight` are
/// read, the others (FitSNAP's train/test split, the stress weight) need only be numbers.
public struct GroupWeights: Codable, Sendable, Equatable {
    public struct Weights: Codable, Sendable, Equatable {
        public var energy: Double, force: Double
        public init(energy: Double, force: Double) { (self.energy, self.force) = (energy, force) }
    }

    /// The table the weights come from; nil for the default, weight 1 for every group.
    public var file: String?
    public var groups: [String: Weights]

    /// Every group weighs 1 in energy and in force.
    public static let uniform = GroupWeights(file: nil, groups: [:])

    public init(file: String?, groups: [String: Weights]) { (self.file, self.groups) = (file, groups) }

    public init(contentsOf url: URL) throws {
        guard let text = try? String(contentsOf: url, encoding: .utf8) else { throw InputError.fileNotFound(url.path) }
        try self.init(text: text, file: url.path)
    }

    public init(text: String, file: String) throws {
        let lines = text.components(separatedBy: "\n").enumerated()
            .map { (number: $0.offset + 1, fields: Self.fields($0.element)) }
            .filter { !($0.fields.allSatisfy(\.isEmpty) || $0.fields[0].hasPrefix("#")) }
        guard let header = lines.first else { throw InputError.fileFormat(file: file, line: nil, reason: "no header line") }
        func column(_ name: String) throws -> Int {
            guard let index = header.fields.firstIndex(of: name) else {
                throw InputError.fileFormat(file: file, line: header.number, reason: """
                    the header has no column \(name) (it needs group, energy_weight and force_weight)
                    """)
            }
            return index
        }
        let group = try column("group")
        for required in ["energy_weight", "force_weight"] { _ = try column(required) }
        let numeric = ["training_size", "testing_size", "energy_weight", "force_weight", "stress_weight"]
            .compactMap { name in header.fields.firstIndex(of: name).map { (name, $0) } }
        var groups: [String: Weights] = [:]
        for line in lines.dropFirst() {
            func refuse(_ reason: String) -> InputError { .fileFormat(file: file, line: line.number, reason: reason) }
            guard line.fields.count == header.fields.count else {
                throw refuse("\(line.fields.count) fields, but the header has \(header.fields.count)")
            }
            var values: [String: Double] = [:]
            for (name, index) in numeric {
                guard let value = Double(line.fields[index]), value.isFinite else {
                    throw refuse("\(name) \"\(line.fields[index])\" is not a number")
                }
                guard value >= 0 else { throw refuse("\(name) \(line.fields[index]) is negative") }
                values[name] = value
            }
            let name = line.fields[group]
            guard !name.isEmpty else { throw refuse("the group name is empty") }
            guard groups[name] == nil else { throw refuse("group \(name) is listed twice") }
            groups[name] = Weights(energy: values["energy_weight"]!, force: values["force_weight"]!)
        }
        self.init(file: file, groups: groups)
    }

    /// A group's weights; a table that does not list a group of the data refuses it, since a
    /// silent default would weigh it arbitrarily against the groups the table does weigh.
    public func weights(of group: String) throws -> Weights {
        guard let file else { return Weights(energy: 1, force: 1) }
        guard let weights = groups[group] else {
            throw InputError.fileFormat(file: file, line: nil, reason: """
                has no row for group \(group) of the training data (it lists \(groups.count) groups); add its weights
                """)
        }
        return weights
    }

    /// A line's comma-separated fields, trimmed; a quoted field keeps its commas (as `CSV.field`
    /// writes a group name that has one).
    static func fields(_ line: String) -> [String] {
        var fields: [String] = [], current = "", quoted = false
        for character in line {
            switch character {
            case "\"": quoted.toggle()
            case "," where !quoted: fields.append(current); current = ""
            default: current.append(character)
            }
        }
        fields.append(current)
        return fields.map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
    }
}
