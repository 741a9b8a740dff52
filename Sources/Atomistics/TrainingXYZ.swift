import Foundation

/// Training configurations from an extended XYZ file as ASE writes it (`energy=` in the comment
/// line, `forces` among the Properties columns), any number of frames. A separate reader from
/// TargetStructure's, which takes one frame's positions only and needs neither energy nor forces.
public enum TrainingXYZ {
    /// Frames grouped by their `config_type` when they carry one, else by the file's name.
    public static func read(_ url: URL) throws -> [Configuration] {
        let file = url.path
        guard let text = try? String(contentsOf: url, encoding: .utf8) else { throw InputError.fileNotFound(file) }
        let lines = text.components(separatedBy: "\n")
        let stem = url.deletingPathExtension().lastPathComponent
        var configurations: [Configuration] = []
        var index = 0
        while index < lines.count {
            if lines[index].trimmingCharacters(in: .whitespaces).isEmpty { index += 1; continue }
            func invalid(_ line: Int, _ reason: String) -> InputError { .fileFormat(file: file, line: line, reason: reason) }
            guard let count = Int(lines[index].trimmingCharacters(in: .whitespaces)), count > 0,
                  index + 1 + count < lines.count else {
                throw invalid(index + 1, "expected an atom count followed by a comment line and that many atom lines")
            }
            let header = Self.keyValues(lines[index + 1])
            let headerLine = index + 2
            func numbers(_ key: String) -> [Double]? {
                header[key]?.split(whereSeparator: \.isWhitespace).map { Double($0) ?? .nan }
            }
            guard let energy = numbers("energy"), energy.count == 1 else { throw invalid(headerLine, "no energy= key") }
            guard let lattice = numbers("lattice"), lattice.count == 9 else { throw invalid(headerLine, "no Lattice= key with 9 numbers") }
            var column = 0, species: Int?, position: Int?, force: Int?
            let properties = (header["properties"] ?? "species:S:1:pos:R:3").split(separator: ":").map(String.init)
            for start in stride(from: 0, to: properties.count - 2, by: 3) {
                switch properties[start].lowercased() {
                case "species": species = column
                case "pos": position = column
                case "forces", "force": force = column
                default: break
                }
                column += Int(properties[start + 2]) ?? 1
            }
            guard let species, let position else { throw invalid(headerLine, "Properties lacks species or pos") }
            guard let force else { throw invalid(headerLine, "Properties has no forces column") }
            var symbols: [String] = [], positions: [[Double]] = [], forces: [[Double]] = []
            for atom in 0..<count {
                let line = index + 2 + atom
                let words = lines[line].split(whereSeparator: \.isWhitespace).map(String.init)
                guard words.count >= column else { throw invalid(line + 1, "expected \(column) columns (Properties)") }
                symbols.append(words[species])
                positions.append(words[position..<position + 3].map { Double($0) ?? .nan })
                forces.append(words[force..<force + 3].map { Double($0) ?? .nan })
            }
            let frame = configurations.count
            configurations.append(Configuration(
                group: header["config_type"] ?? stem, name: "\(file)#\(frame)",
                lattice: [Array(lattice[0..<3]), Array(lattice[3..<6]), Array(lattice[6..<9])],
                species: symbols, positions: positions, forces: forces, energy: energy[0]))
            index += count + 2
        }
        guard !configurations.isEmpty else { throw InputError.fileFormat(file: file, line: nil, reason: "no frames") }
        return configurations
    }

    /// key=value and key="quoted value" pairs of a comment line, keys lowercased (ASE is case-insensitive).
    static func keyValues(_ line: String) -> [String: String] {
        var result: [String: String] = [:]
        var rest = Substring(line)
        while let equals = rest.firstIndex(of: "=") {
            let key = rest[..<equals].split(whereSeparator: \.isWhitespace).last.map { String($0).lowercased() } ?? ""
            rest = rest[rest.index(after: equals)...]
            let value: Substring
            if rest.first == "\"" {
                rest = rest.dropFirst()
                let end = rest.firstIndex(of: "\"") ?? rest.endIndex
                value = rest[..<end]
                rest = end < rest.endIndex ? rest[rest.index(after: end)...] : ""
            } else {
                let end = rest.firstIndex(where: \.isWhitespace) ?? rest.endIndex
                value = rest[..<end]
                rest = rest[end...]
            }
            result[key] = String(value)
        }
        return result
    }
}
