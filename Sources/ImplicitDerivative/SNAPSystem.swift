import Atomistics
import Foundation
import LAMMPSLibrary
import Potentials

/// A system whose energy is linear in SNAP coefficients Θ (plus any Θ-independent terms such as
/// ZBL in `hybrid/overlay`): the simulation and the potential, with the parameter derivatives
/// LAMMPS's descriptor computes give.
public final class SNAPSystem {
    public let simulation: Simulation
    public private(set) var potential: SNAPPotential
    /// `pair_coeff * * snap …` inside `hybrid/overlay` rather than `pair_coeff * * …`.
    let isHybrid: Bool

    public var lammps: LAMMPS { simulation.lammps }
    public var atomCount: Int { lammps.natoms }
    public var parameterCount: Int { potential.parameterCount }
    /// How files given in place of the input's own change its potential (empty if none were
    /// given or they define the same descriptors): "key: old → new" per hyperparameter.
    public private(set) var hyperparameterChanges: [String] = []

    /// - Parameters:
    ///   - coefficientFile, parameterFile: override the files of the input's `pair_coeff`.
    ///   - varyingElements: elements whose coefficients form Θ (default: all in the file).
    public init(simulation: Simulation, coefficientFile: URL? = nil, parameterFile: URL? = nil,
                varyingElements: [String]? = nil) throws {
        self.simulation = simulation
        let declared = try PairCoeffScanner(simulation: simulation).snapPairCoeff()
        isHybrid = declared.isHybrid
        potential = try SNAPPotential(coefficientFile: coefficientFile ?? declared.coefficientFile,
                                      parameterFile: parameterFile ?? declared.parameterFile,
                                      typeElements: declared.typeElements(typeCount: simulation.lammps.setting("ntypes")),
                                      varyingElements: varyingElements)
        if coefficientFile != nil || parameterFile != nil {
            // Files given in place of the input's change the potential itself, not only Θ: say how.
            if let declaredPotential = try? SNAPPotential(coefficientFile: declared.coefficientFile,
                                                          parameterFile: declared.parameterFile,
                                                          typeElements: potential.typeElements) {
                hyperparameterChanges = SNAPPotential.differences(declaredPotential.hyperparameters, potential.hyperparameters)
            }
            try reissuePairCoeff()
        }
        let arguments = potential.descriptorArguments
        try lammps.commands("""
            compute ilmp_sna all sna/atom \(arguments)
            compute ilmp_snad all snad/atom \(arguments)
            compute ilmp_snav all snav/atom \(arguments)
            """)
    }

    /// Makes LAMMPS use `coefficients` (written to `file`) for the SNAP part of the potential.
    public func use(_ coefficients: SNAPCoefficients, writingTo file: URL) throws {
        try coefficients.write(to: file)
        try use(coefficientsAt: file)
    }

    /// Makes LAMMPS use the coefficient file `file` (same elements and hyperparameters).
    public func use(coefficientsAt file: URL) throws {
        potential.coefficients = try SNAPCoefficients(contentsOf: file)
        potential.coefficientFile = file
        try reissuePairCoeff()
    }

    private func reissuePairCoeff() throws {
        let elements = potential.typeElements.map { $0 ?? "NULL" }.joined(separator: " ")
        try lammps.command("pair_coeff * * \(isHybrid ? "snap " : "")\(try lammpsQuoted(potential.coefficientFile.path)) "
                           + "\(try lammpsQuoted(potential.parameterFile.path)) \(elements)")
    }

    // MARK: - Parameter derivatives at the current positions (after an evaluation)

    private var descriptorCount: Int { potential.descriptorCount }

    /// ∇Θ U: per parameter, the bispectrum component summed over the atoms of its element.
    public func energyGradient() throws -> [Double] {
        let perAtom = try lammps.gather("c_ilmp_sna", count: descriptorCount)
        let types = try lammps.gatherIntegers("type")
        let k = descriptorCount
        var gradient = [Double](repeating: 0, count: parameterCount)
        for (slot, slotTypes) in potential.typesOfVaryingElements.enumerated() {
            for atom in 0..<atomCount where slotTypes.contains(Int(types[atom])) {
                for component in 0..<k { gradient[slot * k + component] += perAtom[atom * k + component] }
            }
        }
        return gradient
    }

    /// The mixed Hessian ∇²ΘX U as 3N × N_D (column l = ∂²U/∂X∂Θ_l, atoms by ID, x y z).
    /// `snad/atom` holds, per atom and per atom type t, −∂(Σ_{j of type t} B_j)/∂x_i in blocks of K
    /// x-, then y-, then z-components (checked against finite differences).
    public func mixedHessian() throws -> Matrix {
        let k = descriptorCount, ntypes = potential.typeElements.count
        let columns = 3 * k * ntypes
        let snad = try lammps.gather("c_ilmp_snad", count: columns)
        var result = Matrix(rows: 3 * atomCount, columns: parameterCount)
        for (slot, slotTypes) in potential.typesOfVaryingElements.enumerated() {
            for type in slotTypes {
                for atom in 0..<atomCount {
                    let base = atom * columns + (type - 1) * 3 * k
                    for axis in 0..<3 {
                        for component in 0..<k {
                            result[3 * atom + axis, slot * k + component] -= snad[base + axis * k + component]
                        }
                    }
                }
            }
        }
        return result
    }

    /// ∂²U/∂Θ∂ε_g for homogeneous strains ε_g: column g is the strain generator's diagonal
    /// (iso: (1,1,1); aniso: one axis each). `snav/atom` summed over atoms gives −∂B/∂ε per
    /// Voigt component (xx, yy, zz, yz, xz, xy), per atom type.
    public func strainMixedDerivative(generators: [[Double]]) throws -> Matrix {
        let k = descriptorCount, ntypes = potential.typeElements.count
        let columns = 6 * k * ntypes
        let snav = try lammps.gather("c_ilmp_snav", count: columns)
        var summed = [Double](repeating: 0, count: columns)
        for atom in 0..<atomCount { for c in 0..<columns { summed[c] += snav[atom * columns + c] } }
        var result = Matrix(rows: parameterCount, columns: generators.count)
        for (g, generator) in generators.enumerated() {
            for (slot, slotTypes) in potential.typesOfVaryingElements.enumerated() {
                for type in slotTypes {
                    for axis in 0..<3 where generator[axis] != 0 {
                        for component in 0..<k {
                            result[slot * k + component, g] -=
                                generator[axis] * summed[(type - 1) * 6 * k + axis * k + component]
                        }
                    }
                }
            }
        }
        return result
    }
}

/// Finds the SNAP `pair_coeff` of an input: scans it and its `include`d files and lets LAMMPS
/// expand variables, so the files LAMMPS actually read are found.
struct PairCoeffScanner {
    struct Declaration {
        var coefficientFile: URL
        var parameterFile: URL
        var elements: [String]
        var isHybrid: Bool

        func typeElements(typeCount: Int) -> [String?] {
            (0..<typeCount).map { $0 < elements.count && elements[$0] != "NULL" ? elements[$0] : nil }
        }
    }

    let simulation: Simulation

    func snapPairCoeff() throws -> Declaration {
        var found: [Declaration] = []
        try scan(simulation.input, depth: 0, into: &found)
        guard let declaration = found.last else {
            throw InputError.invalid("""
                no SNAP pair_coeff found in \(simulation.input.path) or its included files \
                (expected pair_coeff * * [snap] FILE.snapcoeff FILE.snapparam ELEMENTS…); \
                name the files with --potential and --snapparam
                """)
        }
        return declaration
    }

    private func scan(_ file: URL, depth: Int, into found: inout [Declaration]) throws {
        guard depth < 10, let text = try? String(contentsOf: file, encoding: .utf8) else { return }
        let folder = simulation.input.deletingLastPathComponent()
        for line in Self.commandLines(text) {
            let words = line.split(whereSeparator: \.isWhitespace).map(String.init)
            guard let command = words.first, command == "include" || command == "pair_coeff" else { continue }
            let expanded = try simulation.lammps.expand(line).split(whereSeparator: \.isWhitespace).map(String.init)
            if command == "include", expanded.count >= 2 {
                try scan(Self.resolve(expanded[1], in: folder), depth: depth + 1, into: &found)
            } else if expanded.count >= 6, expanded[1] == "*", expanded[2] == "*" {
                let isHybrid = expanded[3] == "snap"
                let first = isHybrid ? 4 : 3
                guard expanded.count >= first + 3, expanded[first].hasSuffix("snapcoeff") || isHybrid else { continue }
                found.append(Declaration(coefficientFile: Self.resolve(expanded[first], in: folder),
                                         parameterFile: Self.resolve(expanded[first + 1], in: folder),
                                         elements: Array(expanded[(first + 2)...]), isHybrid: isHybrid))
            }
        }
    }

    /// Input lines with comments removed and `&` continuations joined, as LAMMPS reads them.
    static func commandLines(_ text: String) -> [String] {
        var lines: [String] = []
        var pending = ""
        for raw in text.components(separatedBy: "\n") {
            var line = String(raw.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first ?? "")
                .trimmingCharacters(in: .whitespaces)
            let continues = line.hasSuffix("&")
            if continues { line.removeLast() }
            pending += (pending.isEmpty ? "" : " ") + line
            if !continues {
                if !pending.trimmingCharacters(in: .whitespaces).isEmpty { lines.append(pending) }
                pending = ""
            }
        }
        return lines
    }

    static func resolve(_ path: String, in folder: URL) -> URL {
        path.hasPrefix("/") ? URL(fileURLWithPath: path) : folder.appendingPathComponent(path).standardizedFileURL
    }
}
