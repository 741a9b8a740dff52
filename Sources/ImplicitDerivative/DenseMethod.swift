import Atomistics
import Foundation
import LinearAlgebra
import Potentials

/// The finite-difference Hessian over the moving components and a LAPACK solve.
public struct DenseMethod: DerivativeMethod {
    /// Only atoms within `radius` of `center` move (all mobile atoms when nil).
    public var region: (center: [Double], radius: Double)?
    public init(region: (center: [Double], radius: Double)? = nil) { self.region = region }

    public var name: String { "dense" }
    public var settings: [String: String] {
        guard let region else { return [:] }
        return ["center": region.center.map { "\($0)" }.joined(separator: ","), "radius": "\(region.radius)"]
    }
    public var advice: SettingMessage { "The dense solve is exact up to its finite-difference Hessian; the Hessian is nearly singular." }

    public func solve(_ hessian: Hessian, _ b: Matrix, progress: (String) -> Void) throws -> (x: Matrix, relativeResiduals: [Double]) {
        try DenseSolver(region: region).solve(hessian, b, progress: progress)
    }
}

/// Dense finite-difference Hessian over the moving components and a LAPACK solve; rigid
/// translations are removed exactly by constraints (a bordered symmetric system), not by
/// adding arbitrary constants to the Hessian.
struct DenseSolver {
    var region: (center: [Double], radius: Double)?

    func solve(_ hessian: Hessian, _ b: Matrix, progress: (String) -> Void) throws -> (Matrix, [Double]) {
        let dofs = hessian.degreesOfFreedom
        var components = (0..<dofs.mobile.count).filter { dofs.mobile[$0] }
        var axes = dofs.translationAxes
        if let (center, radius) = region {
            let positions = hessian.minimum.unwrappedPositions
            let near = minimumImage((0..<positions.count).map { positions[$0] - center[$0 % 3] }, in: hessian.minimum.box)
            components = components.filter { index in
                let atom = index / 3
                let d = near[3 * atom..<3 * atom + 3].reduce(0) { $0 + $1 * $1 }
                return d <= radius * radius
            }
            axes = []  // atoms outside the region hold the rest in place: no zero modes remain
            guard !components.isEmpty else {
                let centre = center.map { String(format: "%g", $0) }.joined(separator: ",")
                throw DerivativeError.invalidSetting("""
                    \(setting: .center) \(centre) \(setting: .radius) \(String(format: "%g", radius)) leaves no mobile atom: \
                    the region contains no atom that may move
                    """)
            }
        }
        let h = try hessian.dense(components: components, progress: progress)
        let n = components.count, m = axes.count
        var bordered = Matrix(rows: n + m, columns: n + m)
        for j in 0..<n { for i in 0..<n { bordered[i, j] = h[i, j] } }
        for (c, axis) in axes.enumerated() {
            for (i, component) in components.enumerated() where component % 3 == axis {
                bordered[i, n + c] = 1
                bordered[n + c, i] = 1
            }
        }
        var rhs = Matrix(rows: n + m, columns: b.columns)
        for j in 0..<b.columns { for (i, component) in components.enumerated() { rhs[i, j] = b[component, j] } }
        let y = try LAPACK.solveSymmetric(bordered, rhs)
        var x = Matrix(rows: b.rows, columns: b.columns)
        for j in 0..<b.columns { for (i, component) in components.enumerated() { x[component, j] = y[i, j] } }
        // Residuals of the restricted system (exact solve: round-off level).
        let residuals = (0..<b.columns).map { j -> Double in
            var r = 0.0, norm = 0.0
            for i in 0..<n {
                var hx = 0.0
                for k in 0..<n { hx += h[i, k] * y[k, j] }
                for c in 0..<m where components[i] % 3 == axes[c] { hx += y[n + c, j] }
                r += (rhs[i, j] - hx) * (rhs[i, j] - hx)
                norm += rhs[i, j] * rhs[i, j]
            }
            return norm > 0 ? (r / norm).squareRoot() : 0
        }
        return (x, residuals)
    }
}
