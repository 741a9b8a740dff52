import Atomistics
import Foundation
import LAMMPSLibrary

/// Alchemical substitution (paper section II H): chosen atoms become a new element X that starts
/// as an exact copy of the element they were, with its own SNAP coefficients, so that X's
/// parameters can vary while the host's stay fixed.
public struct AlchemicalSubstitution: Sendable {
    /// The new element's name (a new block in the `.snapcoeff`, a new atom type in the system).
    public var element: String
    /// The atoms that become `element`.
    public var atoms: AtomSelection

    public init(element: String, atoms: AtomSelection) {
        self.element = element
        self.atoms = atoms
    }

    /// How far the substituted system is from the unmodified one before any parameter changes
    /// (must be round-off: the copy is exact).
    public struct CopyCheck: Sendable, Codable {
        public var energyBefore: Double
        public var energyAfter: Double
        public var largestForceDifference: Double
        public var substitutedAtoms: [Int]
        public var copiedElement: String
    }

    /// Applies the substitution to `simulation` (an empty selection substitutes nothing but gives
    /// the system the same Θ), which was made with one extra atom type
    /// (`Simulation(…, extraAtomTypes: 1)`): writes a coefficient file with the copied block into
    /// `scratch`, gives the new type the mass and every pair coefficient of the atoms' old type,
    /// retypes the atoms and checks that energy and forces did not change.
    /// - Returns: the SNAP energy of the substituted system (Θ: `varyingElements`, default the new element).
    public func apply(to simulation: Simulation, coefficientFile: URL? = nil, parameterFile: URL? = nil,
                      varyingElements: [String]? = nil, scratch: URL) throws -> (energy: SNAPEnergy, check: CopyCheck) {
        let lammps = simulation.lammps
        let declared = try PairCoeffScanner(simulation: simulation).snapPairCoeff()
        let newType = declared.elements.count + 1
        guard lammps.setting("ntypes") == newType else {
            throw PotentialError.substitution("""
                \(simulation.input.lastPathComponent): pair_coeff maps \(declared.elements.count) types to elements, \
                but the box has \(lammps.setting("ntypes")) types; a substitution adds exactly one
                """)
        }
        let chosen = try simulation.defineGroup("ilmp_alchemy", of: atoms)
        let ids = chosen.indices.filter { chosen[$0] }.map { $0 + 1 }
        let types = try lammps.gatherIntegers("type")
        // A system without substituted atoms (a bulk reference, say) copies its first element.
        let oldTypes = ids.isEmpty ? [1] : Set(ids.map { Int(types[$0 - 1]) })
        guard oldTypes.count == 1, let oldType = oldTypes.first, oldType < newType,
              let oldElement = declared.elements[oldType - 1] as String?, oldElement != "NULL" else {
            throw PotentialError.substitution("""
                the atoms that become \(element) (IDs \(ids.prefix(10).map(String.init).joined(separator: " "))…) \
                must all be of one SNAP element; they have types \(oldTypes.sorted())
                """)
        }
        // The new element: a copy of the old one's block, radius and weight included.
        let sourceFile = coefficientFile ?? declared.coefficientFile
        if try SNAPParameters(contentsOf: parameterFile ?? declared.parameterFile).chemflag != 0 {
            throw PotentialFileError(file: (parameterFile ?? declared.parameterFile).path, line: nil, message: """
                alchemical substitution copies an element's block, which explicit multi-element SNAP (chemflag 1) \
                cannot do: each element's descriptors run over all ordered element triples (K·n³), so a new \
                element changes every block
                """)
        }
        var coefficients = try SNAPCoefficients(contentsOf: sourceFile)
        guard coefficients.element(named: element) == nil else {
            throw PotentialFileError(file: sourceFile.path, line: nil, message: """
                already defines element \(element); choose a new name for the substituted atoms, or vary \(element) \
                directly if the input already has atoms of it
                """)
        }
        guard var copy = coefficients.element(named: oldElement) else {
            throw PotentialFileError(file: sourceFile.path, line: nil, message: "defines no element \(oldElement)")
        }
        copy.name = element
        coefficients.elements.append(copy)
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        let newFile = scratch.appendingPathComponent(sourceFile.deletingPathExtension().lastPathComponent + "_\(element).snapcoeff")
        try coefficients.write(to: newFile)

        try simulation.setMass(ofType: newType, to: lammps.masses()[oldType - 1])
        try simulation.redefinePotential(try copiedPairCoefficients(simulation, from: oldType, to: newType,
                                                                     typeCount: declared.elements.count))
        let energy = try SNAPEnergy(simulation: simulation, coefficientFile: newFile, parameterFile: parameterFile,
                                    varyingElements: varyingElements ?? [element],
                                    typeElements: declared.elements + [element])
        try simulation.evaluate()
        let (energyBefore, forcesBefore) = (try simulation.energy(), try simulation.forces())
        try simulation.setType(ofGroup: "ilmp_alchemy", to: newType)
        try simulation.evaluate()
        let (energyAfter, forcesAfter) = (try simulation.energy(), try simulation.forces())
        let check = CopyCheck(energyBefore: energyBefore, energyAfter: energyAfter,
                              largestForceDifference: zip(forcesBefore, forcesAfter).map { abs($0 - $1) }.max() ?? 0,
                              substitutedAtoms: ids, copiedElement: oldElement)
        guard abs(energyAfter - energyBefore) <= 1e-9 * max(1, abs(energyBefore)), check.largestForceDifference <= 1e-9 else {
            throw PotentialError.substitution(String(format: """
                the substituted system is not an exact copy of the original: energy %.12g → %.12g eV, forces differ \
                by up to %.3g eV/Å. Does another part of the potential (a hybrid sub-style with per-type files) \
                distinguish the new type?
                """, energyBefore, energyAfter, check.largestForceDifference))
        }
        return (energy, check)
    }

    /// Every explicit `pair_coeff I J style …` of the input (ZBL in hybrid/overlay, say) that covers
    /// the old type, issued again for the new type; wildcard lines already cover it.
    private func copiedPairCoefficients(_ simulation: Simulation, from old: Int, to new: Int, typeCount: Int) throws
        -> [PotentialCommand]
    {
        let script = InputScript(simulation)
        var commands: [PotentialCommand] = []
        for line in try script.lines() where line.split(whereSeparator: \.isWhitespace).first == "pair_coeff" {
            let words = try script.expandedWords(line)
            guard words.count >= 3, !(words[1] == "*" && words[2] == "*") else { continue }
            let (i, j) = (try typeRange(words[1], typeCount, line), try typeRange(words[2], typeCount, line))
            for k in 1...new {
                let original = [k == new ? old : k, old].sorted()
                if i.contains(original[0]) && j.contains(original[1]) {
                    commands.append(.pairCoeff(["\(min(k, new))", "\(max(k, new))"] + words.dropFirst(3)))
                }
            }
        }
        return commands
    }

    /// A LAMMPS type range (`3`, `*`, `2*`, `*4`, `2*4`) over `count` types.
    private func typeRange(_ word: String, _ count: Int, _ line: String) throws -> ClosedRange<Int> {
        let parts = word.split(separator: "*", omittingEmptySubsequences: false)
        let low = parts[0].isEmpty ? 1 : Int(parts[0])
        let high = parts.count == 1 ? low : (parts[1].isEmpty ? count : Int(parts[1]))
        guard let low, let high, parts.count <= 2, low <= high else {
            throw PotentialError.typeRange(line: line, word: word)
        }
        return low...high
    }
}
