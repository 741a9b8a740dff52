import Atomistics
import Foundation
import LAMMPSLibrary
import LinearAlgebra

/// A system whose potential is an ML-IAP linear or quadratic model (`pair_style mliap model
/// linear|quadratic FILE descriptor sna|so3 FILE`, alone or in `hybrid/overlay`): linear in its
/// parameters, so `compute mliap` gives every derivative exactly. Its global array has one row of
/// dE/dθ, 3N rows of dF/dθ (atoms by ID) and 6 of d(virial)/dθ (xx yy zz yz xz xy), one column per
/// parameter of each element (the constant first), and the reference values in a last column.
///
/// Θ holds, element by element in the descriptor's order, each selected element's parameters after
/// its constant. NN and Python models are refused: they are not linear in their parameters.
public final class MLIAPEnergy: ParametrizedEnergy {
    public let simulation: Simulation
    public private(set) var model: MLIAPModel
    public let declaration: MLIAPDeclaration
    /// Indices into the descriptor's elements whose parameters vary.
    public let varying: [Int]
    /// Where `setTheta` writes the model file LAMMPS reads.
    public var scratch: URL

    public var lammps: LAMMPS { simulation.lammps }
    private var each: Int { model.parametersPerElement }
    public var theta: [Double] { varying.flatMap { model.parameters[$0].dropFirst() } }
    public var parameterNames: [String] {
        varying.flatMap { element in (1..<each).map { "\(declaration.elements[element]):\($0)" } }
    }

    public init(simulation: Simulation, declaration: MLIAPDeclaration, varyingElements: [String]? = nil,
                scratch: URL? = nil) throws {
        self.simulation = simulation
        self.declaration = declaration
        self.scratch = scratch ?? FileManager.default.temporaryDirectory
            .appendingPathComponent("implicit-lammps-\(ProcessInfo.processInfo.processIdentifier)-\(simulation.lammps.mpiRank)")
        model = try MLIAPModel(contentsOf: declaration.modelFile)
        guard model.parameters.count == declaration.elements.count else {
            throw PotentialFileError(file: declaration.modelFile.path, line: nil, message: """
                has \(model.parameters.count) elements, but its descriptor \(declaration.descriptorFile.lastPathComponent) \
                lists \(declaration.elements.count) (\(declaration.elements.joined(separator: " ")))
                """)
        }
        varying = try (varyingElements ?? declaration.elements).map { name in
            guard let index = declaration.elements.firstIndex(of: name) else {
                throw PotentialFileError(file: declaration.descriptorFile.path, line: nil, message: """
                    element \(name) is not in this descriptor (it has \(declaration.elements.joined(separator: ", ")))
                    """)
            }
            return index
        }.sorted()
        try checkColumns()
    }

    /// The compute's columns must be the model file's parameters: a model file written for
    /// another descriptor would silently pair parameters with the wrong derivatives.
    private func checkColumns() throws {
        let columns = try rows().first?.count ?? 0
        guard columns == model.parameters.count * each + 1 else {
            throw PotentialFileError(file: declaration.modelFile.path, line: nil, message: """
                has \(each) parameters per element, but the \(declaration.modelStyle) model on descriptor \
                \(declaration.descriptorFile.lastPathComponent) has \((columns - 1) / max(model.parameters.count, 1))
                """)
        }
    }

    // MARK: - Θ and files

    public func setTheta(_ theta: [Double]) throws {
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        let file = scratch.appendingPathComponent("theta.mliap.model")
        model = with(theta: theta)
        try model.write(to: file)
        try simulation.redefinePotential(try declaration.commands(modelFile: file))
    }

    /// The model with Θ replaced (constants and fixed elements unchanged).
    public func with(theta newTheta: [Double]) -> MLIAPModel {
        precondition(newTheta.count == parameterCount, "Θ has \(parameterCount) entries")
        var result = model
        for (slot, element) in varying.enumerated() {
            result.parameters[element].replaceSubrange(1..., with: newTheta[slot * (each - 1)..<(slot + 1) * (each - 1)])
        }
        return result
    }

    private func modelFile(in directory: URL) -> URL {
        directory.appendingPathComponent(declaration.modelFile.lastPathComponent)
    }

    public func writePotential(theta: [Double], to directory: URL) throws -> [URL] {
        let file = modelFile(in: directory)
        try with(theta: theta).write(to: file)
        return [file]
    }

    public func loadingCommands(theta: [Double], writtenTo directory: URL) throws -> [String] {
        try declaration.commands(modelFile: modelFile(in: directory)).map(\.text)
    }

    public func parameterChange(readingPotentialFrom url: URL) throws -> ParameterChange {
        let other = try MLIAPModel(contentsOf: url)
        guard other.parameters.count == model.parameters.count, other.parametersPerElement == each else {
            throw PotentialFileError(file: url.path, line: nil, message: """
                needs \(model.parameters.count) elements of \(each) parameters like \(declaration.modelFile.lastPathComponent)
                """)
        }
        for element in model.parameters.indices where !varying.contains(element)
            && other.parameters[element].dropFirst() != model.parameters[element].dropFirst() {
            throw PotentialFileError(file: url.path, line: nil, message: """
                changes the parameters of element \(declaration.elements[element]), which is not in Θ; add it with --elements
                """)
        }
        // Each element's constant is an energy per atom: its change shifts the energy exactly.
        let counts = try atomsPerElement()
        let shift = model.parameters.indices.reduce(0.0) { $0 + counts[$1] * (other.parameters[$1][0] - model.parameters[$1][0]) }
        return ParameterChange(theta: varying.flatMap { other.parameters[$0].dropFirst() }, energyShift: shift)
    }

    public var summary: PotentialDescription {
        PotentialDescription(kind: "ML-IAP \(declaration.modelStyle) (\(declaration.descriptorStyle))",
                             files: [declaration.modelFile.path, declaration.descriptorFile.path],
                             parameterNames: parameterNames,
                             hyperparameters: ["descriptor": (try? String(contentsOf: declaration.descriptorFile, encoding: .utf8)) ?? ""])
    }

    // MARK: - Derivatives (compute mliap at the current positions)

    /// The compute's rows at the current positions (the reference column last).
    private func rows() throws -> [[Double]] {
        // compute mliap creates its pressure compute at every run's set-up and fails at the
        // second run (LAMMPS 2025.7.22): it lives for one evaluation only.
        try lammps.command("compute ilmp_mliap all mliap model \(declaration.modelStyle) descriptor "
                           + "\(declaration.descriptorStyle) \(try lammpsQuoted(declaration.descriptorFile.path))")
        defer { try? lammps.command("uncompute ilmp_mliap") }
        try simulation.evaluate()
        let array = try lammps.computeArray("ilmp_mliap")
        guard array.count == 1 + 3 * atomCount + 6 else {
            throw PotentialFileError(file: declaration.modelFile.path, line: nil,
                                     message: "compute mliap gave \(array.count) rows for \(atomCount) atoms")
        }
        return array
    }

    /// Θ's columns of a row (each varying element's parameters after its constant).
    private func thetaColumns(_ row: [Double]) -> [Double] {
        varying.flatMap { row[($0 * each + 1)..<(($0 + 1) * each)] }
    }

    /// Atoms of each element: dE/d(constant) in the first row.
    private func atomsPerElement() throws -> [Double] {
        let first = try rows()[0]
        return model.parameters.indices.map { first[$0 * each] }
    }

    public func energyGradient() throws -> [Double] { thetaColumns(try rows()[0]) }

    /// ∇²ΘX U = −dF/dΘ: the compute's force rows.
    public func mixedHessian() throws -> Matrix {
        let array = try rows()
        return Matrix(rows: (1...(3 * atomCount)).map { thetaColumns(array[$0]).map { -$0 } })
    }

    /// U is linear in the parameters of a linear or quadratic model.
    public func parameterHessian() throws -> Matrix { Matrix(rows: parameterCount, columns: parameterCount) }

    /// ∂²U/∂Θ∂e_g = −dW_g/dΘ for the virial rows (Voigt order, as `Voigt`).
    public func strainMixedDerivative(strains generators: [[Double]]) throws -> Matrix {
        let array = try rows()
        let virial = (0..<6).map { thetaColumns(array[1 + 3 * atomCount + $0]) }
        var result = Matrix(rows: parameterCount, columns: generators.count)
        for (g, generator) in generators.enumerated() {
            for axis in 0..<6 where generator[axis] != 0 {
                for l in 0..<parameterCount { result[l, g] -= generator[axis] * virial[axis][l] }
            }
        }
        return result
    }
}

/// The `pair_style … mliap …` of an input and its `pair_coeff` lines, as LAMMPS expanded them.
public struct MLIAPDeclaration: Sendable {
    public var modelStyle: String
    public var modelFile: URL
    public var descriptorStyle: String
    public var descriptorFile: URL
    /// The descriptor file's elements (the model file's element order).
    public var elements: [String]
    /// The pair_style words (expanded), and the input's pair_coeff lines as written.
    var pairStyle: [String]
    var modelWord: Int
    var descriptorWord: Int
    var pairCoeffLines: [String]

    /// The input's last `pair_style` that uses mliap, or nil when it has none.
    public static func scan(_ simulation: Simulation) throws -> MLIAPDeclaration? {
        let script = InputScript(simulation)
        let lines = try script.lines()
        guard let line = lines.last(where: { $0.split(whereSeparator: \.isWhitespace).first == "pair_style" && $0.contains("mliap") })
        else { return nil }
        let words = try script.expandedWords(line)
        guard let start = words.firstIndex(of: "mliap") else { return nil }
        let input = simulation.input.path
        func value(after keyword: String, _ offset: Int) throws -> (String, Int) {
            guard let index = words[start...].firstIndex(of: keyword), index + offset < words.count else {
                throw PotentialFileError(file: input, line: nil, message: "'\(line)': pair_style mliap without '\(keyword)'")
            }
            return (words[index + offset], index + offset)
        }
        let (modelStyle, _) = try value(after: "model", 1)
        guard modelStyle == "linear" || modelStyle == "quadratic" else {
            throw PotentialFileError(file: input, line: nil, message: """
                '\(line)': the ML-IAP \(modelStyle) model is not supported: only linear and quadratic models are linear in \
                their parameters, which is what compute mliap's derivatives and Θ assume (an NN's weights enter its energy \
                nonlinearly); name LAMMPS variables with --parameters to differentiate other potentials
                """)
        }
        let (model, modelWord) = try value(after: "model", 2)
        let (descriptorStyle, _) = try value(after: "descriptor", 1)
        let (descriptor, descriptorWord) = try value(after: "descriptor", 2)
        let descriptorFile = script.resolve(descriptor)
        let elements = try Self.elements(of: descriptorFile)
        let pairCoeff = lines.filter { $0.split(whereSeparator: \.isWhitespace).first == "pair_coeff" }
        return MLIAPDeclaration(modelStyle: modelStyle, modelFile: script.resolve(model), descriptorStyle: descriptorStyle,
                                descriptorFile: descriptorFile, elements: elements, pairStyle: words, modelWord: modelWord,
                                descriptorWord: descriptorWord, pairCoeffLines: pairCoeff)
    }

    /// The `elems` of a descriptor file.
    static func elements(of file: URL) throws -> [String] {
        guard let text = try? String(contentsOf: file, encoding: .utf8) else {
            throw PotentialFileError(file: file.path, line: nil, message: "cannot be read")
        }
        for line in InputScript.commandLines(text) {
            let words = line.split(whereSeparator: \.isWhitespace).map(String.init)
            if words.first == "elems", words.count > 1 { return Array(words.dropFirst()) }
        }
        throw PotentialFileError(file: file.path, line: nil, message: "has no 'elems' line naming the model's elements")
    }

    /// The pair_style with another model file (paths absolute, for a native run from anywhere),
    /// then the input's pair_coeff lines (pair_style clears every coefficient).
    func commands(modelFile file: URL) throws -> [PotentialCommand] {
        var words = pairStyle
        words[modelWord] = try lammpsQuoted(file.path)
        words[descriptorWord] = try lammpsQuoted(descriptorFile.path)
        return [.inputLine(words.joined(separator: " "))] + pairCoeffLines.map { .inputLine($0) }
    }
}
