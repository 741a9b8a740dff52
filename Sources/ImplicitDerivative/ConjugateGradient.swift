import Foundation
import LinearAlgebra

/// Preconditioned conjugate gradients for one right-hand side, H symmetric positive definite
/// and available only through products: short recurrences, so memory and work per iteration are
/// O(n) whatever the number of iterations (the shared Krylov basis costs O(n·k²) per sweep).
///
/// Hessian products by forward force differences carry ~1e-6 relative noise: the recursively
/// updated residual keeps falling below that floor while the true one does not, so every
/// `checkInterval` iterations the true residual b − Hx is measured with one extra product, and
/// the solve stops when it reaches the tolerance or stops falling (the best iterate is kept).
public struct ConjugateGradient: Sendable {
    public var tolerance: Double
    public var maximumIterations = 2000
    /// Products between true-residual checks once the recursive residual has claimed convergence.
    public var checkInterval = 10

    public init(tolerance: Double) { self.tolerance = tolerance }

    public struct Solution: Sendable {
        public var x: [Double]
        /// ‖b − Hx‖/‖b‖, measured with a product (not the recursive estimate).
        public var relativeResidual: Double
        public var products: Int
    }

    /// - Parameters:
    ///   - start: initial guess (a warm start from another solver), zero when nil.
    ///   - preconditioner: P⁻¹ r (nil: plain CG).
    ///   - iterationDone: after each product, with the recursive relative residual.
    public func solve(_ b: [Double], start: [Double]? = nil, preconditioner: (([Double]) -> [Double])? = nil,
                      iterationDone: (Int, Double) -> Void = { _, _ in },
                      apply: ([Double]) throws -> [Double]) throws -> Solution {
        let bNorm = norm(b)
        guard bNorm > 0 else { return Solution(x: [Double](repeating: 0, count: b.count), relativeResidual: 0, products: 0) }
        var products = 0
        func product(_ v: [Double]) throws -> [Double] {
            products += 1
            return try apply(v)
        }
        var x = start ?? [Double](repeating: 0, count: b.count)
        var r = start == nil ? b : zip(b, try product(x)).map { $0 - $1 }
        var best = (x: x, residual: norm(r) / bNorm)
        if best.residual <= tolerance { return Solution(x: x, relativeResidual: best.residual, products: products) }
        var z = preconditioner?(r) ?? r
        var p = z
        var rz = dot(r, z)
        var checksWithoutGain = 0, claimed = false
        while products < maximumIterations {
            let hp = try product(p)
            let curvature = dot(p, hp)
            guard curvature > 0 else { break }  // not positive definite along p (noise at convergence, or a saddle)
            let alpha = rz / curvature
            for i in x.indices { x[i] += alpha * p[i]; r[i] -= alpha * hp[i] }
            let estimate = norm(r) / bNorm
            iterationDone(products, estimate)
            if estimate <= tolerance { claimed = true }
            if claimed && (estimate <= tolerance || products % checkInterval == 0) {
                // The recursive residual claims convergence: measure the true one, which the noise
                // of the products floors, and continue from it (residual replacement keeps p).
                r = zip(b, try product(x)).map { $0 - $1 }
                let measured = norm(r) / bNorm
                checksWithoutGain = measured < 0.9 * best.residual ? 0 : checksWithoutGain + 1
                if measured < best.residual { best = (x, measured) }
                if measured <= tolerance || checksWithoutGain >= 3 { break }
            }
            z = preconditioner?(r) ?? r
            let next = dot(r, z)
            let beta = next / rz
            rz = next
            for i in p.indices { p[i] = z[i] + beta * p[i] }
        }
        if !claimed {  // stopped early (iteration limit or no curvature): report the true residual
            let measured = norm(zip(b, try product(x)).map { $0 - $1 }) / bNorm
            if measured < best.residual { best = (x, measured) }
        }
        return Solution(x: best.x, relativeResidual: best.residual, products: products)
    }
}
