import Atomistics
import LinearAlgebra
import Potentials

/// A potential seen through M directions of its parameter space: Θ = Θ0 + D φ with D an N_D × M
/// matrix, φ the new parameters. An ensemble of M members around Θ0 needs ∇Θ X* only along their
/// deviations, so when M is well below N_D the derivative takes M columns (M directional solves,
/// M mixed-Hessian products) instead of N_D — the same predictions for those members, cheaper.
public final class ProjectedParameters: ParameterDerivatives {
    public let base: any ParameterDerivatives
    /// Θ0 and the directions D (column m: member m's deviation from Θ0).
    public let origin: [Double]
    public let directions: Matrix
    public private(set) var theta: [Double]

    public init(_ base: any ParameterDerivatives, origin: [Double], directions: [[Double]]) {
        precondition(directions.allSatisfy { $0.count == origin.count }, "each direction has one entry per parameter")
        self.base = base
        self.origin = origin
        self.directions = Matrix(columns: directions, rows: origin.count)
        theta = [Double](repeating: 0, count: directions.count)
    }

    public var forceProvider: any ForceProvider { base.forceProvider }
    public var parameterNames: [String] { (1...directions.columns).map { "direction \($0)" } }

    /// Θ0 + D φ.
    public func fullTheta(_ phi: [Double]) -> [Double] {
        add(origin, directions.multiplied(by: Matrix(rows: phi.count, columns: 1, storage: phi)).storage)
    }

    public func setTheta(_ phi: [Double]) throws {
        try base.setTheta(fullTheta(phi))
        theta = phi
    }

    private func projected(_ v: [Double]) -> [Double] {
        directions.multiplied(by: Matrix(rows: v.count, columns: 1, storage: v), transposingSelf: true).storage
    }

    public func energyGradient() throws -> [Double] { projected(try base.energyGradient()) }

    /// (∇²ΘX U) D, one product per direction.
    public func mixedHessian() throws -> Matrix {
        Matrix(columns: try (0..<directions.columns).map { try base.mixedHessianProduct(directions.column($0)) },
               rows: 3 * base.atomCount)
    }

    public func mixedHessianProduct(_ v: [Double]) throws -> [Double] {
        try base.mixedHessianProduct(directions.multiplied(by: Matrix(rows: v.count, columns: 1, storage: v)).storage)
    }

    public func mixedHessianTransposedProduct(_ w: [Double]) throws -> [Double] {
        projected(try base.mixedHessianTransposedProduct(w))
    }

    public func parameterHessian() throws -> Matrix {
        directions.multiplied(by: try base.parameterHessian().multiplied(by: directions), transposingSelf: true)
    }

    public func strainMixedDerivative(strains: [[Double]]) throws -> Matrix {
        directions.multiplied(by: try base.strainMixedDerivative(strains: strains), transposingSelf: true)
    }

    public var summary: PotentialDescription {
        var description = base.summary
        description.parameterNames = parameterNames
        return description
    }
}
