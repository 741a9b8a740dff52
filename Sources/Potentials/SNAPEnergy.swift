import Atomistics
import Foundation
import LAMMPSLibrary
import LinearAlgebra

/// A system whose energy is linear in SNAP coefficients Θ (plus any Θ-independent terms such as
/// ZBL in `hybrid/overlay`): the simulation and the potential, with the parameter derivatives
/// LAMMPS's descriptor computes (sna/atom, snad/atom, snav/atom) give exactly.
public final class SNAPEnergy: ParametrizedEnergy {
    public let simulation: Simulation
    public private(set) var potential: SNAPPotential
    /// `pair_coeff * * snap …` inside `hybrid/overlay` rather than `pair_coeff * * …`.
    let isHybrid: Bool
    /// Where `setTheta` writes the coefficient file LAMMPS reads.
    public var scratch: URL
    /// The coefficient file that defines the reference potential (the input's, or the one given):
    /// `setTheta` points LAMMPS at copies in `scratch`, never at this file.
    public let referenceCoefficientFile: URL

    public var lammps: LAMMPS { simulation.lammps }
    public var theta: [Double] { potential.theta }
    /// `element:k` for the k-th bispectrum coefficient of each varying element (beta0 is not in Θ).
    public var parameterNames: [String] {
        potential.varyingElementNames.flatMap { element in (1...potential.descriptorCount).map { "\(element):\($0)" } }
    }
    /// How files given in place of the input's own change its potential (empty if none were
    /// given or they define the same descriptors): "key: old → new" per hyperparameter.
    public private(set) var hyperparameterChanges: [String] = []

    /// - Parameters:
    ///   - coefficientFile, parameterFile: override the files of the input's `pair_coeff`.
    ///   - varyingElements: elements whose coefficients form Θ (default: all in the file).
    ///   - typeElements: the element of each atom type, in place of the input's `pair_coeff` (an
    ///     alchemical substitution adds a type).
    public init(simulation: Simulation, coefficientFile: URL? = nil, parameterFile: URL? = nil,
                varyingElements: [String]? = nil, typeElements: [String]? = nil, scratch: URL? = nil) throws {
        self.simulation = simulation
        self.scratch = scratch ?? FileManager.default.temporaryDirectory
            .appendingPathComponent("implicit-lammps-\(ProcessInfo.processInfo.processIdentifier)-\(simulation.lammps.mpiRank)")
        let declared = try PairCoeffScanner(simulation: simulation).snapPairCoeff()
        isHybrid = declared.isHybrid
        referenceCoefficientFile = coefficientFile ?? declared.coefficientFile
        potential = try SNAPPotential(coefficientFile: coefficientFile ?? declared.coefficientFile,
                                      parameterFile: parameterFile ?? declared.parameterFile,
                                      typeElements: declared.typeElements(typeCount: simulation.lammps.setting("ntypes"),
                                                                          elements: typeElements),
                                      varyingElements: varyingElements)
        if typeElements != nil {
            try reissuePairCoeff()
        } else if coefficientFile != nil || parameterFile != nil {
            // Files given in place of the input's change the potential itself, not only Θ: say how.
            if let declaredPotential = try? SNAPPotential(coefficientFile: declared.coefficientFile,
                                                          parameterFile: declared.parameterFile,
                                                          typeElements: potential.typeElements) {
                hyperparameterChanges = SNAPPotential.differences(declaredPotential.hyperparameters, potential.hyperparameters)
            }
            try reissuePairCoeff()
        }
        let arguments = potential.descriptorArguments
        for style in ["sna", "snad", "snav"] {
            try simulation.definePerAtomCompute(id: "ilmp_\(style)", style: "\(style)/atom", arguments: arguments)
        }
    }

    /// U is linear in the coefficients.
    public func parameterHessian() throws -> Matrix { Matrix(rows: parameterCount, columns: parameterCount) }

    public func setTheta(_ theta: [Double]) throws {
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        try use(potential.with(theta: theta), writingTo: scratch.appendingPathComponent("theta.snapcoeff"))
    }

    /// Where `writePotential` puts the coefficient and parameter files in `directory`.
    private func potentialFiles(in directory: URL) -> (coefficients: URL, parameters: URL) {
        (directory.appendingPathComponent(referenceCoefficientFile.lastPathComponent),
         directory.appendingPathComponent(potential.parameterFile.lastPathComponent))
    }

    public func writePotential(theta: [Double], to directory: URL) throws -> [URL] {
        let (coefficients, parameters) = potentialFiles(in: directory)
        try potential.with(theta: theta).write(to: coefficients)
        if parameters.standardizedFileURL != potential.parameterFile.standardizedFileURL {
            try Files.write(try String(contentsOf: potential.parameterFile, encoding: .utf8), to: parameters)
        }
        return [coefficients, parameters]
    }

    public func loadingCommands(theta: [Double], writtenTo directory: URL) throws -> [String] {
        let (coefficients, parameters) = potentialFiles(in: directory)
        return [PotentialCommand.pairCoeff(try pairCoeffWords(coefficients: coefficients, parameters: parameters)).text]
    }

    public func parameterChange(readingPotentialFrom url: URL) throws -> ParameterChange {
        let other = try SNAPCoefficients(contentsOf: url)
        let change = try potential.perturbation(to: other, file: url.path)
        var notes: [String] = []
        if let broken = potential.untiedCoefficients(in: other) {
            notes.append("""
                \(url.lastPathComponent): coefficients of identical descriptors differ (\(broken)); LAMMPS's forces \
                for such a file are not the gradient of its energy, so the prediction and its validation use the \
                file with each tied group at its mean (the same energy)
                """)
        }
        if !change.unused.isEmpty {
            notes.append("\(url.lastPathComponent) also defines \(change.unused.joined(separator: ", ")), which this system's potential does not use")
        }
        // β0 is a constant energy per atom of its element: its change shifts the energy exactly.
        var shift = 0.0
        if !change.beta0Change.isEmpty {
            for type in try lammps.gatherIntegers("type") {
                shift += potential.typeElements[Int(type) - 1].flatMap { change.beta0Change[$0] } ?? 0
            }
        }
        return ParameterChange(theta: zip(theta, change.deltaTheta).map { $0 + $1 }, energyShift: shift, notes: notes)
    }

    public var summary: PotentialDescription {
        PotentialDescription(kind: "SNAP", files: [referenceCoefficientFile.path, potential.parameterFile.path],
                             parameterNames: parameterNames, hyperparameters: potential.hyperparameters)
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
        try simulation.redefinePotential([.pairCoeff(
            try pairCoeffWords(coefficients: potential.coefficientFile, parameters: potential.parameterFile))])
    }

    private func pairCoeffWords(coefficients: URL, parameters: URL) throws -> [String] {
        ["*", "*"] + (isHybrid ? ["snap"] : []) + [try lammpsQuoted(coefficients.path), try lammpsQuoted(parameters.path)]
            + potential.typeElements.map { $0 ?? "NULL" }
    }

    // MARK: - Parameter derivatives at the current positions (after an evaluation)

    private var descriptorCount: Int { potential.descriptorCount }

    // The descriptor computes hold the values of the last run, and LAMMPS recomputes them on a
    // gather with stale ghost atoms after positions were scattered: every derivative evaluates at
    // the current positions first (seen: a mixed Hessian read after Hessian products 1 % off).

    /// ∇Θ U: per parameter, the bispectrum component summed over the atoms of its element.
    public func energyGradient() throws -> [Double] {
        try simulation.evaluate()
        return try descriptorSums()
    }

    private func descriptorSums() throws -> [Double] {
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
        try simulation.evaluate()
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

    /// (∇²ΘX U) v without the matrix: U is linear in Θ, so −[F(Θ + s v) − F(Θ)]/s is exact for any
    /// s (s makes the change as large as Θ, far above round-off). Two force evaluations.
    public func mixedHessianProduct(_ v: [Double]) throws -> [Double] {
        guard norm(v) > 0 else { return [Double](repeating: 0, count: 3 * atomCount) }
        let scale = max(norm(theta), 1) / norm(v)
        let reference = theta
        return try preservingParameters(reevaluating: true) { saved in
            let positions = saved.positions
            try simulation.evaluate()
            let forces = try simulation.forces()
            try setTheta(zip(reference, v).map { $0 + scale * $1 })
            let shifted = try simulation.forces(at: positions)
            return zip(shifted, forces).map { -($0 - $1) / scale }
        }
    }

    /// (∇²ΘX U)ᵀ w without the matrix: the derivative of ∇Θ U along w, by central differences of
    /// `sna/atom` with the largest atom moving 1e-4 Å (error ~1e-8 relative). Two evaluations.
    public func mixedHessianTransposedProduct(_ w: [Double]) throws -> [Double] {
        let largest = largestAtomNorm(w)
        guard largest > 0 else { return [Double](repeating: 0, count: parameterCount) }
        let step = 1e-4 / largest
        // Moved atoms may be wrapped into the box (new image flags): restore both afterwards.
        return try simulation.preservingConfiguration(reevaluating: true) { saved in
            let positions = saved.positions
            func gradient(_ sign: Double) throws -> [Double] {
                try lammps.scatter("x", count: 3, values: zip(positions, w).map { $0 + sign * step * $1 })
                return try energyGradient()
            }
            let (plus, minus) = (try gradient(1), try gradient(-1))
            return zip(plus, minus).map { ($0 - $1) / (2 * step) }
        }
    }

    /// ∂²U/∂Θ∂e_g for homogeneous strains e_g (Voigt, 6 components each). `snav/atom` summed
    /// over atoms gives −∂B/∂e per Voigt component (xx, yy, zz, yz, xz, xy), per atom type.
    public func strainMixedDerivative(strains generators: [[Double]]) throws -> Matrix {
        try simulation.evaluate()
        let k = descriptorCount, ntypes = potential.typeElements.count
        let columns = 6 * k * ntypes
        let snav = try lammps.gather("c_ilmp_snav", count: columns)
        var summed = [Double](repeating: 0, count: columns)
        for atom in 0..<atomCount { for c in 0..<columns { summed[c] += snav[atom * columns + c] } }
        var result = Matrix(rows: parameterCount, columns: generators.count)
        for (g, generator) in generators.enumerated() {
            for (slot, slotTypes) in potential.typesOfVaryingElements.enumerated() {
                for type in slotTypes {
                    for axis in 0..<6 where generator[axis] != 0 {
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

        func typeElements(typeCount: Int, elements given: [String]? = nil) -> [String?] {
            let elements = given ?? elements
            return (0..<typeCount).map { $0 < elements.count && elements[$0] != "NULL" ? elements[$0] : nil }
        }
    }

    let simulation: Simulation

    func snapPairCoeff() throws -> Declaration {
        var found: [Declaration] = []
        try scan(into: &found)
        guard let declaration = found.last else {
            throw PotentialError.noSNAPPairCoeff(input: simulation.input.path)
        }
        return declaration
    }

    private func scan(into found: inout [Declaration]) throws {
        let script = InputScript(simulation)
        for line in try script.lines() where line.split(whereSeparator: \.isWhitespace).first == "pair_coeff" {
            let expanded = try script.expandedWords(line)
            guard expanded.count >= 6, expanded[1] == "*", expanded[2] == "*" else { continue }
            let isHybrid = expanded[3] == "snap"
            let first = isHybrid ? 4 : 3
            guard expanded.count >= first + 3, expanded[first].hasSuffix("snapcoeff") || isHybrid else { continue }
            found.append(Declaration(coefficientFile: script.resolve(expanded[first]),
                                     parameterFile: script.resolve(expanded[first + 1]),
                                     elements: Array(expanded[(first + 2)...]), isHybrid: isHybrid))
        }
    }
}
