/// A campaign file that cannot run, found before any LAMMPS work: the file, the key path as the
/// YAML user wrote it (`systems[bulk].cell`, `properties[0].weight`), the offending value when
/// there is one, and why. Its text is `file: reason`, the reason naming the key in its sentence.
public struct CampaignFileError: Error, CustomStringConvertible, Equatable {
    public var file: String
    public var key: String
    public var value: String?
    public var reason: String

    public init(file: String, key: String, value: String? = nil, reason: String) {
        (self.file, self.key, self.value, self.reason) = (file, key, value, reason)
    }

    public var description: String { "\(file): \(reason)" }

    /// A path in the file that names no file.
    static func fileNotFound(file: String, key: String, path: String) -> CampaignFileError {
        CampaignFileError(file: file, key: key, value: path, reason: "\(key): file not found: \(path)")
    }

    /// A value outside its choices (`choices`: "fixed, iso or aniso").
    static func notOneOf(file: String, key: String, value: String, choices: String) -> CampaignFileError {
        CampaignFileError(file: file, key: key, value: value, reason: "\(key) is \(choices), got '\(value)'")
    }
}
