import Atomistics
import Foundation
import LinearAlgebra
import Potentials

/// Solves H X = B for many right-hand sides at once with one shared Krylov basis, H symmetric
/// positive definite on the projected space and available only through products H·v.
///
/// All right-hand sides start the basis; each sweep adds the residuals of the columns that have
/// not converged, orthonormalized against the basis and deflated by an SVD (directions already
/// spanned are dropped), then solves the Galerkin system (Vᵀ H V) Y = Vᵀ B with LAPACK. Because
/// H·V is stored, residuals cost no extra products. The mixed-Hessian rows of a SNAP potential
/// are strongly correlated, so the shared basis needs far fewer products than one solve per row.
/// Memory: two n × basis matrices, i.e. O(N · N_D).
public struct KrylovSolver {
    /// Relative residual ‖B_j − H X_j‖ / ‖B_j‖ each column must reach.
    public var tolerance = 1e-5
    /// Relative accuracy of a forward-difference Hessian product (`Hessian.displacement`):
    /// residuals level off near it.
    static let differenceFloor = 1e-6
    /// Most basis vectors (products) before giving up.
    public var maximumBasis = 4000

    /// P⁻¹ r, applied to each new candidate direction (nil: plain Krylov). With it the basis spans
    /// the preconditioned Krylov space, as in preconditioned CG; residuals stay the true ‖B − HX‖.
    public var preconditioner: (([Double]) -> [Double])?

    /// Splits each sweep's products over partitions (nil: all here).
    public var sharing: WorkSharing?
    /// An extra direction of the first sweep (a random start whose Ritz values the curvature check reads).
    public var probe: [Double]?

    public init(tolerance: Double = 1e-5, preconditioner: (([Double]) -> [Double])? = nil, sharing: WorkSharing? = nil) {
        self.tolerance = tolerance
        self.preconditioner = preconditioner
        self.sharing = sharing
    }

    public struct Solution {
        public var x: Matrix
        public var relativeResiduals: [Double]
        public var products: Int
        /// The orthonormal basis V and H V.
        public var basis: Matrix
        public var image: Matrix
        public var converged: Bool { relativeResiduals.allSatisfy { $0.isFinite } }
    }

    /// - Parameter apply: H·v (already projected onto the space where H is invertible).
    public func solve(_ b: Matrix, progress: (String) -> Void = { _ in },
                      apply: ([Double]) throws -> [Double]) throws -> Solution {
        let clock = ProgressClock()
        let norms = (0..<b.columns).map { b.column($0).reduce(0) { $0 + $1 * $1 }.squareRoot() }
        let largest = norms.max() ?? 0
        var basis = Matrix(rows: b.rows, columns: 0)
        var image = Matrix(rows: b.rows, columns: 0)
        var x = Matrix(rows: b.rows, columns: b.columns)
        var residualNorms = norms
        var candidates = preconditioned(b)
        if let probe, norm(probe) > 0 {
            // Unit length, as the (unit) right-hand sides: the deflation keeps it.
            candidates = candidates.appending(columnsOf: Matrix(columns: [probe.map { $0 / norm(probe) * largest }], rows: b.rows))
        }
        var best = (x: x, residualNorms: norms, worst: Double.infinity)
        var stalled = 0, stallReference = Double.infinity, productsAtReference = 0
        /// After each Galerkin solve: the basis size, the worst relative residual, the open columns.
        var sweeps: [(products: Int, worst: Double, open: Int)] = []
        while true {
            // A candidate direction whose singular value is below 0.3·tolerance changes no column's
            // residual by more than that, so it need not be resolved: late sweeps add tens of
            // vectors instead of one per open column (the W–Be alloy: 423 products instead of 531).
            let block = try orthonormalized(candidates, against: basis, dropBelow: 0.3 * tolerance * largest)
            if block.columns == 0 { break }
            var products = Matrix(rows: b.rows, columns: block.columns)
            for j in 0..<block.columns where sharing?.takes(j) ?? true {
                products.setColumn(j, try apply(block.column(j)))
                if clock.isDue() {
                    // Residuals are known after the first Galerkin solve.
                    let last = sweeps.last
                    let residual = last.map { String(format: "worst residual %.2e", $0.worst) } ?? "first sweep"
                    let done = basis.columns + j + 1
                    let left = Self.productsLeft(sweeps.map { ($0.products, $0.worst) }, tolerance: tolerance, cap: maximumBasis)
                        .map { String(format: ", about %.0f s left", Double(clock.elapsed) / Double(done) * Double(max($0 - done, 0))) } ?? ""
                    progress(String(format: "  sparse: %d products, %d of %d columns open, %@, %d s%@",
                                    done, last?.open ?? b.columns, b.columns, residual, clock.elapsed, left))
                }
            }
            if let sharing { products = try sharing.combine(products) }
            basis = basis.appending(columnsOf: block)
            image = image.appending(columnsOf: products)

            // Galerkin: (Vᵀ H V) Y = Vᵀ B, then R = B − (H V) Y without further products.
            var projected = basis.multiplied(by: image, transposingSelf: true)
            projected.symmetrize()
            let y = try LAPACK.solveSymmetric(projected, basis.multiplied(by: b, transposingSelf: true))
            x = basis.multiplied(by: y)
            let residual = b - image.multiplied(by: y)
            residualNorms = (0..<b.columns).map { residual.column($0).reduce(0) { $0 + $1 * $1 }.squareRoot() }
            let open = (0..<b.columns).filter { norms[$0] > 0 && residualNorms[$0] > tolerance * norms[$0] }
            let worst = zip(residualNorms, norms).map { $1 > 0 ? $0 / $1 : 0 }.max() ?? 0
            if worst < best.worst { best = (x, residualNorms, worst) }
            sweeps.append((basis.columns, worst, open.count))
            // Forward-difference products floor the residual (near 1e-6, higher along soft modes;
            // sometimes just above the tolerance): once three sweeps in a row do not lower the worst residual by 10 %, more
            // basis only adds noise, so stop with the best solution and let the caller judge it.
            // Far above that floor a Galerkin (CG-like) residual is not monotone and a large soft
            // system (a dislocation) plateaus for tens of products: there a stall must also span
            // 50 products before it counts.
            if worst < 0.9 * stallReference {
                (stalled, stallReference, productsAtReference) = (0, worst, basis.columns)
            } else {
                stalled += 1
            }
            let nearFloor = worst < 10 * KrylovSolver.differenceFloor
            let stuck = stalled >= 3 && (nearFloor || basis.columns - productsAtReference >= 50)
            if open.isEmpty || basis.columns >= maximumBasis || stuck { break }
            candidates = preconditioned(Matrix(columns: open.map { residual.column($0) }, rows: b.rows))
        }
        if best.worst.isFinite { (x, residualNorms) = (best.x, best.residualNorms) }
        let relative = zip(residualNorms, norms).map { $1 > 0 ? $0 / $1 : 0 }
        return Solution(x: x, relativeResiduals: relative, products: basis.columns, basis: basis, image: image)
    }

    /// The products the basis will hold when the worst residual reaches the tolerance, if the
    /// geometric rate of the last two sweeps holds (at most `cap`); nil before there is a rate.
    public static func productsLeft(_ sweeps: [(products: Int, worst: Double)], tolerance: Double, cap: Int) -> Int? {
        guard sweeps.count >= 2 else { return nil }
        let (previous, last) = (sweeps[sweeps.count - 2], sweeps[sweeps.count - 1])
        guard last.worst < previous.worst, last.products > previous.products, last.worst > 0 else { return nil }
        let rate = log(previous.worst / last.worst) / Double(last.products - previous.products)
        let needed = log(max(last.worst / tolerance, 1)) / rate
        return min(cap, last.products + Int(needed.rounded(.up)))
    }

    /// Each column replaced by P⁻¹ times it, rescaled to its own norm so that the deflation
    /// threshold keeps its meaning.
    private func preconditioned(_ candidates: Matrix) -> Matrix {
        guard let preconditioner else { return candidates }
        var result = candidates
        for j in 0..<candidates.columns {
            let r = candidates.column(j)
            let z = preconditioner(r)
            let (rNorm, zNorm) = (norm(r), norm(z))
            result.setColumn(j, zNorm > 0 ? z.map { $0 * rNorm / zNorm } : r)
        }
        return result
    }

    /// An orthonormal basis of the part of `candidates` outside span(`basis`), two passes of
    /// block Gram-Schmidt then an SVD that drops directions with singular value below `dropBelow`.
    private func orthonormalized(_ candidates: Matrix, against basis: Matrix, dropBelow: Double) throws -> Matrix {
        var w = candidates
        if basis.columns > 0 {
            for _ in 0..<2 { w = w - basis.multiplied(by: basis.multiplied(by: w, transposingSelf: true)) }
        }
        let (u, singularValues) = try LAPACK.leftSingularVectors(w)
        let kept = singularValues.prefix { $0 > dropBelow }.count
        return Matrix(rows: w.rows, columns: kept, storage: Array(u.storage.prefix(w.rows * kept)))
    }
}

/// Products (or columns) shared out over the partitions of an MPI job: partition `index` of
/// `count` computes every `count`-th item, and `sum` adds up what each filled (zeros elsewhere),
/// so that every partition continues with the same, complete numbers.
extension WorkSharing {
    /// The columns every partition computed, in all partitions.
    func combine(_ partial: Matrix) throws -> Matrix {
        Matrix(rows: partial.rows, columns: partial.columns, storage: try sum(partial.storage))
    }
}
