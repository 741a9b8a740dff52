import Foundation

/// A linear SNAP potential as used by one LAMMPS system: its two files, which element each atom
/// type is, and which elements' coefficients form the parameter vector Θ.
///
/// Θ holds, element by element in `.snapcoeff` order, each selected element's coefficients after
/// beta0 (2J = 8 gives 55 per element). beta0 is a constant energy per atom: it moves no atom.
public struct SNAPPotential: Sendable {
    public var coefficients: SNAPCoefficients
    public var parameters: SNAPParameters
    public var coefficientFile: URL
    public var parameterFile: URL
    /// Element of each LAMMPS atom type (index 0 is type 1); nil for types SNAP does not act on.
    public var typeElements: [String?]
    /// Indices into `coefficients.elements` whose coefficients vary.
    public var varying: [Int]

    public init(coefficientFile: URL, parameterFile: URL, typeElements: [String?], varyingElements: [String]? = nil) throws {
        self.coefficientFile = coefficientFile
        self.parameterFile = parameterFile
        coefficients = try SNAPCoefficients(contentsOf: coefficientFile)
        parameters = try SNAPParameters(contentsOf: parameterFile)
        self.typeElements = typeElements
        varying = []
        try validate()
        let names = coefficients.elements.map(\.name)
        let chosen = varyingElements ?? names
        for name in chosen {
            guard let index = names.firstIndex(of: name) else {
                throw PotentialFileError(file: coefficientFile.path, line: nil,
                                         message: "element \(name) is not in this file (it has \(names.joined(separator: ", ")))")
            }
            varying.append(index)
        }
        varying.sort()
    }

    private func validate() throws {
        let file = parameterFile.path
        if parameters.quadraticflag != 0 {
            throw PotentialFileError(file: file, line: nil, message: """
                quadratic SNAP (quadraticflag 1) is not supported: its energy is not linear in the \
                coefficients, so the descriptor computes do not give its parameter derivatives
                """)
        }
        if parameters.chemflag != 0 {
            throw PotentialFileError(file: file, line: nil,
                                     message: "explicit multi-element SNAP (chemflag 1) is not supported")
        }
        let expected = descriptorCount + 1
        guard coefficients.coefficientsPerElement == expected else {
            throw PotentialFileError(file: coefficientFile.path, line: nil, message: """
                \(coefficients.coefficientsPerElement) coefficients per element, but twojmax \(parameters.twojmax) \
                in \(parameterFile.lastPathComponent) gives \(descriptorCount) descriptors + beta0 = \(expected)
                """)
        }
        for case let name? in typeElements where coefficients.element(named: name) == nil {
            throw PotentialFileError(file: coefficientFile.path, line: nil,
                                     message: "pair_coeff maps a type to element \(name), which this file does not define")
        }
    }

    /// Bispectrum components per atom for linear SNAP: (J+1)(J+2)(J+3/2)/3-type count for 2J = twojmax.
    public var descriptorCount: Int {
        let twojmax = parameters.twojmax
        var count = 0
        for j1 in 0...twojmax {
            for j2 in 0...j1 {
                for j in stride(from: j1 - j2, through: min(twojmax, j1 + j2), by: 2) where j >= j1 {
                    count += 1
                }
            }
        }
        return count
    }

    // MARK: - Parameter vector Θ

    public var varyingElementNames: [String] { varying.map { coefficients.elements[$0].name } }
    public var parameterCount: Int { varying.count * descriptorCount }

    /// Θ: the selected elements' coefficients after beta0, element by element.
    public var theta: [Double] {
        varying.flatMap { coefficients.elements[$0].coefficients.dropFirst() }
    }

    /// The same potential with Θ replaced (beta0 and fixed elements unchanged).
    public func with(theta newTheta: [Double]) -> SNAPCoefficients {
        precondition(newTheta.count == parameterCount, "Θ has \(parameterCount) entries")
        var result = coefficients
        for (slot, element) in varying.enumerated() {
            let values = newTheta[slot * descriptorCount..<(slot + 1) * descriptorCount]
            result.elements[element].coefficients.replaceSubrange(1..., with: values)
        }
        return result
    }

    /// Θ of another coefficient file for the same elements (e.g. a perturbed potential).
    public func theta(of other: SNAPCoefficients, file: String) throws -> [Double] {
        try varying.flatMap { index -> [Double] in
            let name = coefficients.elements[index].name
            guard let element = other.element(named: name),
                  element.coefficients.count == coefficients.coefficientsPerElement
            else {
                throw PotentialFileError(file: file, line: nil, message: """
                    needs element \(name) with \(coefficients.coefficientsPerElement) coefficients like the reference
                    """)
            }
            return Array(element.coefficients.dropFirst())
        }
    }

    /// How another coefficient file differs from this potential, in terms the expansion can use:
    /// δΘ for the varying elements, and each element's change of beta0 (a constant energy per
    /// atom, exact to add). Changes Θ does not cover are refused: another element's descriptor
    /// coefficients, or an element's radius or weight (these change the descriptors themselves).
    public func perturbation(to other: SNAPCoefficients, file: String) throws
        -> (deltaTheta: [Double], beta0Change: [String: Double], unused: [String])
    {
        let delta = zip(try theta(of: other, file: file), theta).map { $0 - $1 }
        var beta0Change: [String: Double] = [:]
        for (index, element) in coefficients.elements.enumerated() {
            let changed = other.element(named: element.name)!
            if changed.radius != element.radius || changed.weight != element.weight || changed.extra != element.extra {
                throw PotentialFileError(file: file, line: nil, message: """
                    element \(element.name) has radius \(changed.radius) and weight \(changed.weight) \
                    (reference: \(element.radius), \(element.weight)): these change the descriptors, which the \
                    expansion in Θ does not cover; predict only changes of the coefficients
                    """)
            }
            if !varying.contains(index), changed.coefficients.dropFirst() != element.coefficients.dropFirst() {
                throw PotentialFileError(file: file, line: nil, message: """
                    changes the coefficients of element \(element.name), which is not in Θ \
                    (Θ holds \(varyingElementNames.joined(separator: ", "))); add it with --elements, \
                    or the prediction would ignore that change
                    """)
            }
            let shift = changed.coefficients[0] - element.coefficients[0]
            if shift != 0 { beta0Change[element.name] = shift }
        }
        let known = Set(coefficients.elements.map(\.name))
        return (delta, beta0Change, other.elements.map(\.name).filter { !known.contains($0) })
    }

    /// For each parameter-vector slot, which LAMMPS atom types contribute to it.
    public var typesOfVaryingElements: [[Int]] {
        varying.map { index in
            let name = coefficients.elements[index].name
            return typeElements.enumerated().compactMap { $0.element == name ? $0.offset + 1 : nil }
        }
    }

    /// What defines the descriptors, as text: every `.snapparam` keyword and each element's
    /// radius, weight and further numbers. Two potentials with the same hyperparameters differ
    /// only in their coefficients, which is all Θ covers.
    public var hyperparameters: [String: String] {
        var result = parameters.values
        for element in coefficients.elements {
            result["\(element.name) radius"] = "\(element.radius)"
            result["\(element.name) weight"] = "\(element.weight)"
            if !element.extra.isEmpty { result["\(element.name) extra"] = element.extra.joined(separator: " ") }
        }
        return result
    }

    /// "key: a → b" for every hyperparameter that differs between two descriptions.
    public static func differences(_ old: [String: String], _ new: [String: String]) -> [String] {
        Set(old.keys).union(new.keys).sorted().compactMap { key in
            let (a, b) = (old[key], new[key])
            if let a, let b, let x = Double(a), let y = Double(b), x == y { return nil }
            return a == b ? nil : "\(key): \(a ?? "(unset)") → \(b ?? "(unset)")"
        }
    }

    // MARK: - LAMMPS descriptor computes

    /// Arguments after `compute ID group sna/atom` (also snad/atom, snav/atom): exactly the
    /// potential's own hyperparameters, per atom type. A different rcutfac gives derivatives that
    /// look plausible but are wrong, so nothing here has a default of its own.
    public var descriptorArguments: String {
        let elementOfType = typeElements.map { $0.flatMap { coefficients.element(named: $0) } }
        // Types SNAP does not act on get weight 0 and the smallest radius: they do not contribute.
        let radii = elementOfType.map { "\($0?.radius ?? 1e-6)" }
        let weights = elementOfType.map { "\($0?.weight ?? 0)" }
        let p = parameters
        var arguments = ["\(p.rcutfac)", "\(p.rfac0)", "\(p.twojmax)"] + radii + weights + [
            "rmin0", "\(p.rmin0)", "switchflag", "\(p.switchflag)", "bzeroflag", "\(p.bzeroflag)",
            "quadraticflag", "0", "bnormflag", "\(p.bnormflag)", "wselfallflag", "\(p.wselfallflag)",
        ]
        if p.switchinnerflag != 0 {
            let inner = elementOfType.map { $0?.extra.first ?? "0" }
            let depth = elementOfType.map { $0?.extra.dropFirst().first ?? "0" }
            arguments += ["switchinnerflag", "1", "sinner"] + inner + ["dinner"] + depth
        }
        return arguments.joined(separator: " ")
    }
}
