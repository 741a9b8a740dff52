import Atomistics
import Foundation
import ImplicitDerivative
import Potentials
import Yams

/// What the YAML files of `fit` and `uq` share: every key checked against a schema before
/// decoding (an unknown key is named, never ignored), type errors reported with the key path the
/// user wrote, and a content hash for --resume.
enum YAMLConfig {
    /// Decodes `text` after checking its keys; `what` says what the file is when it is not a mapping.
    static func decode<T: Decodable>(_ text: String, file: String, schema: [String: Set<String>], what: String) throws -> T {
        let tree: Any?
        do { tree = try Yams.load(yaml: text) } catch { throw CampaignFileError(file: file, key: "",
                                                                                reason: "not valid YAML: \(error)") }
        try checkKeys(tree, path: "", file: file, schema: schema, what: what)
        do { return try YAMLDecoder().decode(T.self, from: text) } catch let error as DecodingError {
            throw CampaignFileError(file: file, key: keyPath(of: error), reason: describe(error))
        } catch {
            throw CampaignFileError(file: file, key: "", reason: "\(error)")
        }
    }

    /// The key path as the YAML user writes it (`systems[0].cell`).
    private static func path(_ keys: [CodingKey]) -> String {
        keys.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined().trimmingCharacters(in: ["."])
    }

    /// Where in the file a decoding error is.
    static func keyPath(of error: DecodingError) -> String {
        switch error {
        case .typeMismatch(_, let context), .valueNotFound(_, let context), .dataCorrupted(let context):
            return path(context.codingPath)
        case .keyNotFound(let key, let context):
            return path(context.codingPath + [key])
        @unknown default:
            return ""
        }
    }

    /// A type or missing-key error, with the key path the YAML user wrote.
    static func describe(_ error: DecodingError) -> String {
        switch error {
        case .typeMismatch(let type, let context), .valueNotFound(let type, let context):
            return "'\(path(context.codingPath))' must be \(type == String.self ? "text" : "\(type)".lowercased())"
        case .keyNotFound(let key, let context):
            return "'\(path(context.codingPath + [key]))' is required"
        case .dataCorrupted(let context):
            return "'\(path(context.codingPath))': \(context.debugDescription)"
        @unknown default:
            return "\(error)"
        }
    }

    /// Keys of mappings must be in `schema[path]`; `schema[path + "[]"]` marks a list of mappings.
    private static func checkKeys(_ node: Any?, path: String, file: String, schema: [String: Set<String>], what: String) throws {
        if let dictionary = node as? [String: Any] {
            let allowed = schema[path] ?? []
            for (key, value) in dictionary {
                let name = path.isEmpty ? key : "\(path).\(key)"
                guard allowed.contains(key) else {
                    throw CampaignFileError(file: file, key: name, reason: """
                        unknown key '\(name)'; \(path.isEmpty ? "the file" : "'\(path)'") takes \
                        \(allowed.sorted().joined(separator: ", "))
                        """)
                }
                if schema[name + "[]"] != nil, !(value is [Any]) {
                    throw CampaignFileError(file: file, key: name, reason: "'\(name)' is a list (each entry starts with '- ')")
                }
                if schema[name] != nil || schema[name + "[]"] != nil {
                    try checkKeys(value, path: name, file: file, schema: schema, what: what)
                }
            }
        } else if let list = node as? [Any] {
            guard schema[path + "[]"] != nil else { throw CampaignFileError(file: file, key: path,
                                                                            reason: "'\(path)' is a mapping of keys, not a list") }
            for item in list { try checkKeys(item, path: path + "[]", file: file, schema: schema, what: what) }
        } else if path.isEmpty {
            throw CampaignFileError(file: file, key: "", reason: what)
        } else if schema[path] != nil || path.hasSuffix("[]") {
            throw CampaignFileError(file: file, key: path,
                                    reason: "'\(path.replacingOccurrences(of: "[]", with: ""))' must be a mapping of keys")
        }
    }

    /// The text of a campaign file, or an error naming the missing file.
    static func text(of url: URL) throws -> String {
        do { return try String(contentsOf: url, encoding: .utf8) } catch { throw InputError.fileNotFound(url.path) }
    }

    /// A path written in the file at `file`: absolute, or relative to that file's folder.
    static func resolve(_ path: String, beside file: URL) -> URL {
        path.hasPrefix("/") ? URL(fileURLWithPath: path)
            : file.deletingLastPathComponent().appendingPathComponent(path).standardizedFileURL
    }

    /// What identifies a campaign for --resume: its text, the LAMMPS arguments, and the bytes of every
    /// file it names (binary `.npy` files included; a file that cannot be read counts by its path).
    static func key(text: String, lammpsArguments: [String], files: [URL]) -> String {
        var content = Data((text + "\u{0}" + lammpsArguments.joined(separator: " ")).utf8)
        for file in files { content += Data("\u{0}".utf8) + ((try? Data(contentsOf: file)) ?? Data(file.path.utf8)) }
        return Files.fingerprint(content)
    }
}

/// A campaign file type: its keys, what it is (for a file that is not a mapping), and the checks
/// that need no LAMMPS, run once as it is read.
protocol CampaignFileSchema: Decodable {
    /// The keys each level accepts (`YAMLConfig.decode`).
    static var schema: [String: Set<String>] { get }
    static var what: String { get }
    /// The file it was read from (paths resolve against its folder) and its text.
    var url: URL { get set }
    var text: String { get set }
    func validate() throws
}

extension CampaignFileSchema {
    static func read(_ url: URL) throws -> Self {
        let text = try YAMLConfig.text(of: url)
        var file: Self = try YAMLConfig.decode(text, file: url.path, schema: schema, what: what)
        file.url = url
        file.text = text
        try file.validate()
        return file
    }

    func resolve(_ path: String) -> URL { YAMLConfig.resolve(path, beside: url) }
}

/// `potential:` SNAP files replacing the input's.
struct PotentialFilesSection: Decodable {
    var snapcoeff: String?
    var snapparam: String?
    static let keys: Set<String> = ["snapcoeff", "snapparam"]
}

/// `vary:` which parameters form Θ.
struct VarySection: Decodable {
    var elements: [String]?
    var parameters: [String]?
    var fields: [String]?
    var step: Double?
    static let keys: Set<String> = ["elements", "parameters", "fields", "step"]

    func choice(potential: PotentialFilesSection?, file: String, resolve: (String) -> URL) throws -> PotentialChoice {
        for (key, list) in [("elements", elements), ("parameters", parameters), ("fields", fields)] where list?.isEmpty == true {
            throw CampaignFileError(file: file, key: "vary.\(key)", reason: """
                vary.\(key) is an empty list, so Θ would have no parameter and the campaign nothing to do; \
                name at least one, or leave 'vary' out (every coefficient of the SNAP file)
                """)
        }
        if let parameters { return .variables(parameters) }
        if let fields {
            var selections: [(entry: String, fields: [String])] = []
            for name in fields {
                guard let field = FieldSelection(argument: name), field.fields.count == 1 else {
                    throw CampaignFileError(file: file, key: "vary.fields", reason: "vary.fields: '\(name)' is not E1,E2,E3:FIELD")
                }
                selections.append((field.entry, field.fields))
            }
            return .fields(selections)
        }
        return .snap(coefficients: potential?.snapcoeff.map(resolve), parameters: potential?.snapparam.map(resolve),
                     elements: elements)
    }
}

/// `derivative:` the ∇Θ X* method and its settings.
struct DerivativeSection: Decodable {
    var method: String?
    var tolerance: Double?
    var alpha0: Double?
    var minStyle: String?
    var preconditioner: String?
    var krylov: String?
    enum CodingKeys: String, CodingKey { case method, tolerance, alpha0, minStyle = "min_style", preconditioner, krylov }
    static let keys: Set<String> = ["method", "tolerance", "alpha0", "min_style", "preconditioner", "krylov"]

    func method(file: String) throws -> any DerivativeMethod {
        func parsed<T: RawRepresentable & CaseIterable>(_ key: String, _ value: String?) throws -> T? where T.RawValue == String {
            try value.map { name in
                guard let parsed = T(rawValue: name) else {
                    throw CampaignFileError.notOneOf(file: file, key: "derivative.\(key)", value: name,
                                                     choices: T.allCases.map(\.rawValue).joined(separator: ", "))
                }
                return parsed
            }
        }
        let choice = MethodChoice(method: try parsed("method", method), minStyle: try parsed("min_style", minStyle), alpha0: alpha0,
                                  tolerance: tolerance, preconditioner: try parsed("preconditioner", preconditioner),
                                  krylov: try parsed("krylov", krylov))
        if let problem = choice.problem(spelling: \.campaignKey, methodSpelling: "method") { throw CampaignFileError(file: file, key: "derivative", reason: problem) }
        return choice.derivativeMethod()
    }
}

/// `relax:` how a campaign's relaxations run: their force tolerance and minimizer (`min_style`,
/// as `relax --min-style`: LAMMPS's cg by default, fire, sd, or precon-lbfgs).
struct RelaxSection: Decodable {
    var ftol: Double?
    var minStyle: String?
    enum CodingKeys: String, CodingKey { case ftol, minStyle = "min_style" }
    static let keys: Set<String> = ["ftol", "min_style"]

    /// The minimizer, checked (nil: the default).
    func style(file: String) throws -> MinimizerStyle? {
        try minStyle.map { name in
            guard let style = MinimizerStyle(rawValue: name) else {
                throw CampaignFileError.notOneOf(file: file, key: "relax.min_style", value: name,
                                                 choices: MinimizerStyle.allCases.map(\.rawValue).joined(separator: ", "))
            }
            return style
        }
    }
}

extension CellRelaxation {
    /// A cell key of a campaign file (`systems[…].cell` of fit, `box` of uq), `fallback` when the
    /// key is absent: each campaign says its own default.
    static func named(_ name: String?, fallback: CellRelaxation, file: String, key: String) throws -> CellRelaxation {
        guard let name else { return fallback }
        guard let cell = CellRelaxation(rawValue: name) else {
            throw CampaignFileError.notOneOf(file: file, key: key, value: name, choices: "fixed, iso or aniso")
        }
        return cell
    }
}
