import Atomistics
import Foundation
import LinearAlgebra
import Potentials

/// What the Hessian at X* says about X*: the implicit derivative assumes a minimum, i.e. H
/// positive on the mobile space once the projected zero modes (rigid translations) are removed.
public struct CurvatureCheck: Codable, Sendable {
    /// Smallest and largest Ritz values of H (eV/Å² in metal units) after `steps` Lanczos steps
    /// from a seeded random vector. A negative smallest value proves negative curvature (Ritz
    /// values lie inside the spectrum); a non-negative one is evidence, not proof, of a minimum.
    public var lowest: Double
    public var highest: Double
    public var steps: Int
    /// Atom IDs with the largest amplitude in the softest Ritz vector (where a saddle would open).
    public var softestModeAtoms: [Int]

    /// Curvatures this far below zero, relative to the largest, are beyond the ~1e-6 relative
    /// error of forward-difference Hessian products: negative curvature, not noise.
    public static let relativeThreshold = 1e-4

    public var isNegative: Bool { lowest < -Self.relativeThreshold * abs(highest) }
    /// No curvature at all: atoms farther apart than the cutoff, nothing to differentiate.
    public var vanishes: Bool { highest == 0 && lowest == 0 }

    public var summary: String {
        String(format: "lowest curvature %.4g, highest %.4g eV/Å² (%d Lanczos steps)", lowest, highest, steps)
    }
}

extension Hessian {
    /// Lanczos with full reorthogonalization on the projected mobile space: one force
    /// evaluation per step. A saddle point (negative curvature) shows up within a few tens of
    /// steps unless its negative mode is very shallow.
    public func curvatureCheck(steps requested: Int = 30, seed: UInt64 = 7) throws -> CurvatureCheck {
        let dimension = degreesOfFreedom.mobileCount - degreesOfFreedom.translationAxes.count
        let steps = min(requested, max(dimension, 1))
        var generator = SplitMix64(seed: seed)
        var q = degreesOfFreedom.project(minimum.positions.map { _ in Double.random(in: -1...1, using: &generator) })
        var basis: [[Double]] = []
        var alphas: [Double] = [], betas: [Double] = []
        var norm = q.reduce(0) { $0 + $1 * $1 }.squareRoot()
        while basis.count < steps, norm > 0 {
            q = q.map { $0 / norm }
            basis.append(q)
            var w = try apply(q)
            alphas.append(zip(w, q).reduce(0) { $0 + $1.0 * $1.1 })
            // Full reorthogonalization (twice): few steps, and exact Ritz values matter here.
            for _ in 0..<2 {
                for v in basis {
                    let c = zip(w, v).reduce(0) { $0 + $1.0 * $1.1 }
                    for i in w.indices { w[i] -= c * v[i] }
                }
            }
            norm = w.reduce(0) { $0 + $1 * $1 }.squareRoot()
            // The Krylov space of the random start is invariant: every distinct eigenvalue has been
            // seen. Forward-difference products carry ~1e-6 relative noise, so "zero" is 1e-4 here;
            // continuing would build the basis from that noise and report spurious Ritz values
            // (seen: −5e-7 eV/Å² for SW silicon's 8-atom cell, whose spectrum has 4 distinct values).
            if norm <= 1e-4 * (alphas.map(abs).max() ?? 0) { break }
            betas.append(norm)
            q = w
        }
        let k = alphas.count
        guard k > 0 else { return CurvatureCheck(lowest: 0, highest: 0, steps: 0, softestModeAtoms: []) }
        var tridiagonal = Matrix(rows: k, columns: k)
        for i in 0..<k {
            tridiagonal[i, i] = alphas[i]
            if i + 1 < k { tridiagonal[i, i + 1] = betas[i]; tridiagonal[i + 1, i] = betas[i] }
        }
        let (values, vectors) = try LAPACK.symmetricEigen(tridiagonal)
        var mode = [Double](repeating: 0, count: minimum.positions.count)
        for (j, v) in basis.enumerated() { for i in mode.indices { mode[i] += vectors[j, 0] * v[i] } }
        let amplitudes: [Double] = stride(from: 0, to: mode.count, by: 3).map { start -> Double in
            let x: Double = mode[start], y: Double = mode[start + 1], z: Double = mode[start + 2]
            return x * x + y * y + z * z
        }
        let atoms = amplitudes.indices.sorted { amplitudes[$0] > amplitudes[$1] }.prefix(5).map { $0 + 1 }
        return CurvatureCheck(lowest: values.first!, highest: values.last!, steps: k, softestModeAtoms: atoms)
    }
}
