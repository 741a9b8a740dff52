import Foundation

/// A SNAP potential, linear or quadratic, as used by one LAMMPS system: its two files, which
/// element each atom type is, and which elements' coefficients form the parameter vector Θ.
///
/// Θ holds, element by element in `.snapcoeff` order, each selected element's coefficients after
/// beta0 (2J = 8 gives 55 per element). beta0 is a constant energy per atom: it moves no atom.
///
/// Quadratic SNAP (`quadraticflag 1`) is linear in its coefficients too: E_i = β0 + Σ β_k B_k +
/// ½ Σ α_kk B_k² + Σ_{k<l} α_kl B_k B_l. With `quadraticflag 1` the descriptor computes add the
/// columns ½B_k², B_k B_l in the order the file lists α (k, then l > k), so Θ = (β, α) per element
/// in file order (2J = 8: 55 + 1 540 = 1 595) and every derivative stays exact.
///
/// Explicit multi-element SNAP (`chemflag 1`) has one bispectrum component per ordered triple of
/// elements (K·n³ per element, 30·8 = 240 for InP); the computes take the `chem` keyword with the
/// element of each type, and Θ is again each element's coefficients after beta0 in file order.
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
        if parameters.chemflag != 0 && parameters.quadraticflag != 0 {
            throw PotentialFileError(file: parameterFile.path, line: nil, message: """
                quadratic explicit multi-element SNAP (chemflag 1 with quadraticflag 1) is not supported: \
                its products of identical descriptors are not worked out
                """)
        }
        let expected = descriptorCount + 1
        guard coefficients.coefficientsPerElement == expected else {
            let settings = ["twojmax \(parameters.twojmax)"] + (parameters.quadraticflag != 0 ? ["quadraticflag 1"] : [])
                + (parameters.chemflag != 0 ? ["chemflag 1 with \(coefficients.elements.count) elements"] : [])
            throw PotentialFileError(file: coefficientFile.path, line: nil, message: """
                \(coefficients.coefficientsPerElement) coefficients per element, but \(settings.joined(separator: ", ")) in \
                \(parameterFile.lastPathComponent) \(settings.count == 1 ? "gives" : "give") \(descriptorCount) descriptors \
                + beta0 = \(expected)
                """)
        }
        for case let name? in typeElements where coefficients.element(named: name) == nil {
            throw PotentialFileError(file: coefficientFile.path, line: nil,
                                     message: "pair_coeff maps a type to element \(name), which this file does not define")
        }
    }

    /// Coefficients per element after beta0: the bispectrum components (K, or K·n³ for n elements
    /// with chemflag), and for quadratic SNAP their products (k(k+1)/2 more for k of those).
    public var descriptorCount: Int {
        let elements = coefficients.elements.count
        let k = bispectrumCount * (parameters.chemflag != 0 ? elements * elements * elements : 1)
        return parameters.quadraticflag != 0 ? k + k * (k + 1) / 2 : k
    }

    /// Bispectrum components per atom for 2J = twojmax (55 for 2J = 8).
    public var bispectrumCount: Int { bispectrumIndices.count }

    /// (2j1, 2j2, 2j) of each bispectrum component, in LAMMPS's order (j2 ≤ j1 ≤ j).
    public var bispectrumIndices: [(j1: Int, j2: Int, j: Int)] {
        let twojmax = parameters.twojmax
        var indices: [(j1: Int, j2: Int, j: Int)] = []
        for j1 in 0...twojmax {
            for j2 in 0...j1 {
                for j in stride(from: j1 - j2, through: min(twojmax, j1 + j2), by: 2) where j >= j1 {
                    indices.append((j1, j2, j))
                }
            }
        }
        return indices
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
            let values = tyingIdenticalDescriptors(Array(newTheta[slot * descriptorCount..<(slot + 1) * descriptorCount]))
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
            "quadraticflag", "\(p.quadraticflag)", "bnormflag", "\(p.bnormflag)", "wselfallflag", "\(p.wselfallflag)",
        ]
        if p.chemflag != 0 {
            // Each type's element as its index in the coefficient file (LAMMPS's pair snap map).
            let names = coefficients.elements.map(\.name)
            let map = typeElements.map { $0.flatMap { names.firstIndex(of: $0) } ?? 0 }
            arguments += ["chem", "\(names.count)"] + map.map(String.init)
        }
        if p.switchinnerflag != 0 {
            let inner = elementOfType.map { $0?.extra.first ?? "0" }
            let depth = elementOfType.map { $0?.extra.dropFirst().first ?? "0" }
            arguments += ["switchinnerflag", "1", "sinner"] + inner + ["dinner"] + depth
        }
        return arguments.joined(separator: " ")
    }
}
