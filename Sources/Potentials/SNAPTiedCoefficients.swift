/// Explicit multi-element SNAP (chemflag 1) has identical descriptors: B^{abc}_{j1 j2 j} equals
/// B^{bac}_{j1 j2 j} when j1 = j2, B^{cba}_{j1 j2 j} when j1 = j, and so every permutation of
/// (a, b, c) when j1 = j2 = j (checked against the descriptors LAMMPS computes). The
/// energy depends only on the sum of their coefficients, but LAMMPS's pair snap computes forces
/// as if those coefficients were equal (its adjoint sum counts one of them with a multiplicity):
/// for a file whose tied coefficients differ, its forces are not the gradient of its energy
/// (measured on InP: 0.1 % random changes of all coefficients, forces off by 1e-3 eV/Å against
/// differences of the energy). FitSNAP writes them equal; every file written here is too.
extension SNAPPotential {
    /// Groups of indices into one element's coefficients after beta0 whose descriptors are
    /// identical (only groups of two or more; empty without chemflag).
    public var tiedCoefficients: [[Int]] {
        guard parameters.chemflag != 0 else { return [] }
        let n = coefficients.elements.count, k = bispectrumCount
        let index = { (a: Int, b: Int, c: Int, component: Int) in ((a * n + b) * n + c) * k + component }
        var groups: [[Int]] = []
        for (component, (j1, j2, j)) in bispectrumIndices.enumerated() where j1 == j2 || j1 == j {
            var seen = Set<Int>()
            for a in 0..<n {
                for b in 0..<n {
                    for c in 0..<n where !seen.contains(index(a, b, c, component)) {
                        // The element orders reached by the swaps these j's allow.
                        var equivalent: Set<[Int]> = [[a, b, c]], frontier = [[a, b, c]]
                        while let e = frontier.popLast() {
                            let swaps = (j1 == j2 ? [[e[1], e[0], e[2]]] : []) + (j1 == j ? [[e[2], e[1], e[0]]] : [])
                            for swapped in swaps where equivalent.insert(swapped).inserted { frontier.append(swapped) }
                        }
                        let group = equivalent.map { index($0[0], $0[1], $0[2], component) }.sorted()
                        seen.formUnion(group)
                        if group.count > 1 { groups.append(group) }
                    }
                }
            }
        }
        return groups
    }

    /// One element's coefficients with each tied group set to its mean: the same energy, and the
    /// forces LAMMPS computes are its gradient.
    public func tyingIdenticalDescriptors(_ values: [Double]) -> [Double] {
        var result = values
        for group in tiedCoefficients {
            let mean = group.reduce(0) { $0 + values[$1] } / Double(group.count)
            for index in group { result[index] = mean }
        }
        return result
    }

    /// "In:32 = 0.05 but In:122 = 0.06" for the first tied group a coefficient file breaks, or nil.
    public func untiedCoefficients(in other: SNAPCoefficients) -> String? {
        for element in other.elements {
            let values = Array(element.coefficients.dropFirst())
            guard values.count == descriptorCount else { continue }
            for group in tiedCoefficients where group.contains(where: { values[$0] != values[group[0]] }) {
                let other = group.first { values[$0] != values[group[0]] }!
                return "\(element.name):\(group[0] + 1) = \(values[group[0]]) but \(element.name):\(other + 1) = \(values[other])"
            }
        }
        return nil
    }
}
