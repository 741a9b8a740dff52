import Atomistics
import Foundation
import LinearAlgebra

/// How the Krylov solves are preconditioned.
public enum Preconditioning: String, Sendable, CaseIterable {
    /// The lattice preconditioner when the structure is a cubic crystal with point defects in a
    /// periodic box and every atom moves, else the exponential one.
    case auto
    /// The perfect host crystal's Hessian (`LatticePreconditioner`): point defects only.
    case lattice
    /// The exponential preconditioner of Packwood et al., J. Chem. Phys. 144, 164109 (2016), as
    /// ASE's preconditioned optimizers build it: a graph Laplacian of the atoms with bond weights
    /// exp(−A (r/r_nn − 1)) within r_cut = 2 r_nn, A = 3, plus c_stab = 0.1 on the diagonal.
    case exponential
    /// Plain (unpreconditioned) Krylov: residuals extend the basis.
    case none
}

/// P ≈ H up to scale for a solid: long-wavelength (soft, elastic) modes, which take plain Krylov
/// many iterations in a large system, are resolved by one solve with P. Built once at X* from
/// neighbour distances only (no force evaluation), the same scalar matrix for x, y and z; atoms
/// held along an axis drop out of that axis's matrix (a Dirichlet boundary). Its overall scale
/// does not matter: a preconditioned Galerkin/CG solve is unchanged by scaling P.
public struct ExponentialPreconditioner: Sendable {
    public static let a = 3.0
    public static let cutoffFactor = 2.0
    public static let stabilization = 0.1

    /// P⁻¹ over the mobile atoms of one axis: exact by a band Cholesky factor while it fits in
    /// `bandMemory`, else by a degree-30 Chebyshev polynomial in P (memory of P only: the band of a
    /// periodic 16 000-atom cube would take 430 MB).
    enum Inverse: Sendable {
        case band(SparseCholesky)
        case chebyshev(ChebyshevInverse)

        func solve(_ r: [Double]) -> [Double] {
            switch self {
            case .band(let factor): return factor.solve(r)
            case .chebyshev(let polynomial): return polynomial.solve(r)
            }
        }
        var bandwidth: Int? { if case .band(let factor) = self { return factor.bandwidth } else { return nil } }
    }
    public static let bandMemory = 100_000_000
    public static let chebyshevDegree = 30

    /// Per Cartesian axis: the atoms mobile along it and P⁻¹ over them.
    private let axes: [(atoms: [Int], factor: Inverse)]
    private let degreesOfFreedom: DegreesOfFreedom
    /// Nearest-neighbour distance r_nn (median) used for the weights.
    public let nearestNeighbourDistance: Double
    /// Largest band half-width of the factors (memory: atoms × (bandwidth + 1) per distinct axis).
    public var bandwidth: Int { axes.compactMap(\.factor.bandwidth).max() ?? 0 }
    /// How P⁻¹ is applied: "band Cholesky" or "Chebyshev (degree 30)".
    public var inverse: String {
        axes.contains { $0.factor.bandwidth == nil } ? "Chebyshev (degree \(Self.chebyshevDegree))" : "band Cholesky"
    }

    public init(minimum: Structure, degreesOfFreedom: DegreesOfFreedom) throws {
        let rnn = minimum.closePairs().typicalDistance
        guard rnn > 0 else { throw DerivativeError.invalidSetting("the exponential preconditioner needs at least two atoms") }
        nearestNeighbourDistance = rnn
        self.degreesOfFreedom = degreesOfFreedom
        let bonds = minimum.pairs(within: ExponentialPreconditioner.cutoffFactor * rnn).map { pair in
            (pair.0, pair.1, exp(-ExponentialPreconditioner.a * (pair.2 / rnn - 1)))
        }
        let atomCount = minimum.count
        var built: [(atoms: [Int], factor: Inverse)] = []
        for axis in 0..<3 {
            let atoms = (0..<atomCount).filter { degreesOfFreedom.mobile[3 * $0 + axis] }
            if let same = built.first(where: { $0.atoms == atoms }) {
                built.append(same)
                continue
            }
            built.append((atoms, try ExponentialPreconditioner.factor(bonds: bonds, atoms: atoms, atomCount: atomCount)))
        }
        axes = built
    }

    /// P restricted to `atoms`: −w_ij off the diagonal, Σ_j w_ij (over all neighbours, held ones
    /// included) + c_stab on it.
    private static func factor(bonds: [(Int, Int, Double)], atoms: [Int], atomCount: Int) throws -> Inverse {
        var index = [Int](repeating: -1, count: atomCount)
        for (k, atom) in atoms.enumerated() { index[atom] = k }
        var diagonal = [Double](repeating: stabilization, count: atoms.count)
        var entries: [(Int, Int, Double)] = []
        for (i, j, w) in bonds {
            if index[i] >= 0 { diagonal[index[i]] += w }
            if index[j] >= 0 { diagonal[index[j]] += w }
            if index[i] >= 0, index[j] >= 0 { entries.append((index[i], index[j], -w)) }
        }
        entries += diagonal.enumerated().map { ($0.offset, $0.offset, $0.element) }
        do {
            return .band(try SparseCholesky(size: atoms.count, entries: entries, maximumBytes: bandMemory))
        } catch is SparseCholesky.TooWide {
            // P = (a graph Laplacian, positive semi-definite) + c_stab I: its spectrum starts at c_stab or above.
            return .chebyshev(ChebyshevInverse(size: atoms.count, entries: entries, lower: stabilization, degree: chebyshevDegree))
        }
    }

    /// P⁻¹ r on the mobile components, projected like every vector of the solve.
    public func apply(_ r: [Double]) -> [Double] {
        var z = [Double](repeating: 0, count: r.count)
        for (axis, part) in axes.enumerated() {
            let solved = part.factor.solve(part.atoms.map { r[3 * $0 + axis] })
            for (k, atom) in part.atoms.enumerated() { z[3 * atom + axis] = solved[k] }
        }
        return degreesOfFreedom.project(z)
    }
}
