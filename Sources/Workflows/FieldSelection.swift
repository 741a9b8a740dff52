/// Fields of a potential parameter file, `Si,Si,Si:epsilon,lambda` (an entry's elements, then
/// field names), as the command line and a campaign file (`vary.fields`) both write them.
public struct FieldSelection {
    public var entry: String
    public var fields: [String]

    public init?(argument: String) {
        let parts = argument.split(separator: ":", maxSplits: 1).map(String.init)
        guard parts.count == 2, parts[0].split(separator: ",").count == 3 else { return nil }
        let fields = parts[1].split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        guard !fields.contains(where: \.isEmpty) else { return nil }
        entry = parts[0]
        self.fields = fields
    }
}
