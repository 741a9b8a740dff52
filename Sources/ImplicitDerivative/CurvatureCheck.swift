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
    /// Where the Ritz values come from: "lanczos" (its own products from a random start) or
    /// "solves" (the Krylov basis the solves built, seeded with the same random start).
    public var source = "lanczos"

    /// Curvatures this far below zero, relative to the largest, are beyond the ~1e-6 relative
    /// error of forward-difference Hessian products: negative curvature, not noise.
    public static let relativeThreshold = 1e-4

    public var isNegative: Bool { lowest < -Self.relativeThreshold * abs(highest) }
    /// No curvature at all: atoms farther apart than the cutoff, nothing to differentiate.
    public var vanishes: Bool { highest == 0 && lowest == 0 }

    public var summary: String {
        String(format: "lowest curvature %.4g, highest %.4g eV/Å² (%d %@)", lowest, highest, steps,
               source == "lanczos" ? "Lanczos steps" : "Ritz values from the solves' Krylov basis")
    }
}

extension Hessian {
    /// Lanczos with full reorthogonalization on the projected mobile space: one force
    /// evaluation per step. A saddle point (negative curvature) shows up within a few tens of
    /// steps unless its negative mode is very shallow.
    public func curvatureCheck(steps requested: Int = 30, seed: UInt64 = 7,
                               progress: (String) -> Void = { _ in }) throws -> CurvatureCheck {
        let steps = min(requested, max(mobileDimension, 1))
        let clock = ProgressClock()
        var q = randomStart(seed: seed)
        var basis: [[Double]] = []
        var alphas: [Double] = [], betas: [Double] = []
        var norm = q.reduce(0) { $0 + $1 * $1 }.squareRoot()
        while basis.count < steps, norm > 0 {
            q = q.map { $0 / norm }
            basis.append(q)
            var w = try apply(q)
            if clock.isDue() { progress("  curvature check: Lanczos step \(basis.count) of \(steps), \(clock.elapsed) s") }
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
        return try ritzCheck(tridiagonal, basis: Matrix(columns: basis, rows: minimum.positions.count), source: "lanczos")
    }

    /// The mobile dimension less the translational zero modes.
    var mobileDimension: Int { degreesOfFreedom.mobileCount - degreesOfFreedom.translationAxes.count }

    /// The seeded random start of the check, projected (not normalized).
    func randomStart(seed: UInt64 = 7) -> [Double] {
        var generator = SplitMix64(seed: seed)
        return degreesOfFreedom.project(minimum.positions.map { _ in Double.random(in: -1...1, using: &generator) })
    }

    /// The check from a space the solves already built: V orthonormal with H V stored (products
    /// made anyway), holding the right-hand sides, their preconditioned residuals and the random
    /// probe. The probe's own preconditioned Krylov sequence, P⁻¹H applied `probeSteps` times (at
    /// least, and until V has `requested` vectors), joins it: the right-hand sides of a symmetric
    /// defect share its symmetry, and a symmetry-breaking negative mode is seen only through the
    /// probe; with P ≈ H a negative eigenvalue is an outlier of P⁻¹H, which Krylov finds in a few
    /// steps (Sylvester: P⁻¹H and H have the same signs of eigenvalues). Rayleigh–Ritz on VᵀHV:
    /// the Ritz values lie inside the spectrum, a negative one proves a saddle.
    public func curvatureCheck(_ space: ProbedSpace, steps requested: Int = 30, probeSteps: Int = 10,
                               progress: (String) -> Void = { _ in }) throws -> CurvatureCheck {
        let clock = ProgressClock()
        progress("  curvature check: Ritz values of the solves' \(space.basis.columns) vectors and \(probeSteps)+ Krylov steps from the probe")
        var (v, hv) = (space.basis, space.image)
        let wanted = min(requested, max(mobileDimension, 1))
        // H·probe from what is stored: the probe lies in span(V).
        let probe = space.probe.map { $0 / norm(space.probe) }
        let coefficients = v.multiplied(by: Matrix(rows: probe.count, columns: 1, storage: probe), transposingSelf: true)
        var last = hv.multiplied(by: coefficients).storage
        var added = 0
        while added < probeSteps || v.columns < wanted, v.columns < max(mobileDimension, 1) {
            let direction = space.preconditioner.map { $0(last) } ?? last
            var w = direction
            for _ in 0..<2 {
                let c = v.multiplied(by: Matrix(rows: w.count, columns: 1, storage: w), transposingSelf: true)
                let along = v.multiplied(by: c).storage
                for i in w.indices { w[i] -= along[i] }
            }
            let size = norm(w)
            // Forward-difference products carry ~1e-6 relative noise: "zero" is 1e-4, as in Lanczos.
            guard size > 1e-4 * norm(direction) else { break }
            let q = w.map { $0 / size }
            last = try apply(q)
            if clock.isDue() {
                progress("  curvature check: \(added + 1) Krylov steps from the probe beside the solves' \(space.basis.columns) vectors, \(clock.elapsed) s")
            }
            v = v.appending(columnsOf: Matrix(columns: [q], rows: q.count))
            hv = hv.appending(columnsOf: Matrix(columns: [last], rows: q.count))
            added += 1
        }
        var projected = v.multiplied(by: hv, transposingSelf: true)
        projected.symmetrize()
        return try ritzCheck(projected, basis: v, source: "solves")
    }

    /// Lowest and highest Ritz values of `projected` (the basis's Rayleigh quotient matrix), and
    /// the atoms where its softest Ritz vector is largest.
    private func ritzCheck(_ projected: Matrix, basis: Matrix, source: String) throws -> CurvatureCheck {
        let (values, vectors) = try LAPACK.symmetricEigen(projected)
        let mode = basis.multiplied(by: Matrix(rows: projected.rows, columns: 1, storage: vectors.column(0))).storage
        let amplitudes: [Double] = stride(from: 0, to: mode.count, by: 3).map { start -> Double in
            let x: Double = mode[start], y: Double = mode[start + 1], z: Double = mode[start + 2]
            return x * x + y * y + z * z
        }
        let atoms = amplitudes.indices.sorted { amplitudes[$0] > amplitudes[$1] }.prefix(5).map { $0 + 1 }
        var check = CurvatureCheck(lowest: values.first!, highest: values.last!, steps: projected.rows, softestModeAtoms: atoms)
        check.source = source
        return check
    }
}

/// What the curvature check reads from a shared-basis solve: its orthonormal basis V, H V, the
/// random probe it carried, and its preconditioner.
public struct ProbedSpace {
    public var basis: Matrix
    public var image: Matrix
    public var probe: [Double]
    public var preconditioner: (([Double]) -> [Double])?
}
