import Foundation

/// The Morse pair energy φ(r) = D[(1 − e^{−α(r−r0)})² − 1], tapered to zero between `inner` and
/// `cutoff` by s(x) = 1 − 10x³ + 15x⁴ − 6x⁵ (continuous to the second derivative, so forces and
/// the Hessian are continuous). Θ = (D, α, r0): not linear in Θ, so ∇²ΘΘU ≠ 0 and every term of
/// the expansion is exercised. The taper does not depend on Θ.
public struct MorsePair: Sendable {
    public var depth: Double
    public var alpha: Double
    public var r0: Double
    public var inner: Double
    public var cutoff: Double

    public init(depth: Double = 0.5, alpha: Double = 1.5, r0: Double = 2.75, inner: Double = 3.2, cutoff: Double = 3.8) {
        (self.depth, self.alpha, self.r0, self.inner, self.cutoff) = (depth, alpha, r0, inner, cutoff)
    }

    public static let parameterNames = ["D", "alpha", "r0"]
    public var theta: [Double] {
        get { [depth, alpha, r0] }
        set { (depth, alpha, r0) = (newValue[0], newValue[1], newValue[2]) }
    }

    /// f = φ s and its derivatives at one distance.
    struct Terms {
        var value = 0.0, dr = 0.0, drr = 0.0
        /// ∂f/∂Θ, ∂²f/∂r∂Θ (3 each), ∂²f/∂Θ∂Θ (3×3, row-major).
        var dTheta = [0.0, 0, 0], drTheta = [0.0, 0, 0], dThetaTheta = [Double](repeating: 0, count: 9)
    }

    /// f, f′, f″ alone: the forces' inner loop needs no parameter derivatives.
    func radial(_ r: Double) -> (value: Double, dr: Double, drr: Double) {
        guard r < cutoff else { return (0, 0, 0) }
        let (s, ds, dds) = taper(r)
        let u = exp(-alpha * (r - r0))
        let phi = depth * (u * u - 2 * u)
        let phiR = 2 * alpha * depth * (u - u * u)
        let phiRR = 2 * alpha * alpha * depth * (2 * u * u - u)
        return (phi * s, phiR * s + phi * ds, phiRR * s + 2 * phiR * ds + phi * dds)
    }

    func terms(_ r: Double) -> Terms {
        guard r < cutoff else { return Terms() }
        let (s, ds, dds) = taper(r)
        let (d, a, rho) = (depth, alpha, r - r0)
        let u = exp(-a * rho)
        let phi = d * (u * u - 2 * u)
        let phiR = 2 * a * d * (u - u * u)
        let phiRR = 2 * a * a * d * (2 * u * u - u)
        let phiTheta = [u * u - 2 * u, -2 * d * rho * (u * u - u), 2 * d * a * (u * u - u)]
        let phiRTheta = [2 * a * (u - u * u),
                         2 * d * (u - u * u) - 2 * a * d * rho * (1 - 2 * u) * u,
                         2 * a * a * d * (1 - 2 * u) * u]
        let dAlpha = 2 * rho * (u - u * u), dR0 = 2 * a * (u * u - u)
        let alphaAlpha = 2 * d * rho * rho * (2 * u - 1) * u
        let alphaR0 = 2 * d * (u * u - u) - 2 * d * rho * (2 * u - 1) * a * u
        let r0R0 = 2 * d * a * a * (2 * u - 1) * u
        let phiThetaTheta = [0, dAlpha, dR0, dAlpha, alphaAlpha, alphaR0, dR0, alphaR0, r0R0]
        var t = Terms()
        t.value = phi * s
        t.dr = phiR * s + phi * ds
        t.drr = phiRR * s + 2 * phiR * ds + phi * dds
        t.dTheta = phiTheta.map { $0 * s }
        t.drTheta = (0..<3).map { phiRTheta[$0] * s + phiTheta[$0] * ds }
        t.dThetaTheta = phiThetaTheta.map { $0 * s }
        return t
    }

    /// s, s′, s″ at r.
    private func taper(_ r: Double) -> (Double, Double, Double) {
        guard r > inner else { return (1, 0, 0) }
        let w = cutoff - inner, x = (r - inner) / w
        let s = 1 - x * x * x * (10 - 15 * x + 6 * x * x)
        let ds = -30 * x * x * (1 - x) * (1 - x) / w
        let dds = -60 * x * (1 - x) * (1 - 2 * x) / (w * w)
        return (s, ds, dds)
    }
}
