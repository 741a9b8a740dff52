import Foundation
import LinearAlgebra

/// FitSNAP's training loss for linear SNAP, reduced once from the data so that the fit never
/// runs LAMMPS on it again. Each DFT configuration gives one energy row w_E·(E − E_DFT)/N and a
/// force row w_F·(F − F_DFT) per component; the term is ½·weight·Σ rows². Linear SNAP is linear
/// in its coefficients Θ, so every row is r0 + a·(Θ − Θ0) exactly, and a group's rows are kept
/// only as sums: Σ a aᵀ, Σ a r0 and Σ r0² (O(n²) memory per group, whatever the data's size).
public struct TrainingTerm: Codable, Sendable {
    /// Σ over rows of a aᵀ, a r0, r0² (unweighted), rows relative to Θ0: residual(Θ) = r0 + a·(Θ − Θ0).
    public struct Block: Codable, Sendable {
        public var rows: Int
        /// n×n, row-major (symmetric, so either order).
        public var gram: [Double]
        public var projection: [Double]
        public var squares: Double

        public init(rows: Int, gram: [Double], projection: [Double], squares: Double) {
            precondition(gram.count == projection.count * projection.count, "gram is not n×n for n = projection.count")
            (self.rows, self.gram, self.projection, self.squares) = (rows, gram, projection, squares)
        }

        /// No rows yet, for n parameters.
        public init(parameters n: Int) {
            self.init(rows: 0, gram: [Double](repeating: 0, count: n * n), projection: [Double](repeating: 0, count: n), squares: 0)
        }

        /// Adds rows: `a` has one row per residual and one column per parameter, `residuals` are r0.
        public mutating func add(_ a: Matrix, residuals: [Double]) {
            precondition(a.rows == residuals.count && a.columns == projection.count, "rows and residuals do not match")
            let r0 = Matrix(rows: residuals.count, columns: 1, storage: residuals)
            var product = a.multiplied(by: a, transposingSelf: true)
            // dgemm sums (i, j) and (j, i) in different orders; the solvers read one triangle.
            product.symmetrize()
            gram = zip(gram, product.storage).map { $0 + $1 }
            projection = zip(projection, a.multiplied(by: r0, transposingSelf: true).storage).map { $0 + $1 }
            squares += residuals.reduce(0) { $0 + $1 * $1 }
            rows += residuals.count
        }

        public var matrix: Matrix { Matrix(rows: projection.count, columns: projection.count, storage: gram) }

        /// Σ residual(Θ)² — centered at Θ0 to avoid cancellation.
        public func sumOfSquares(_ delta: [Double]) -> Double {
            // Rounding can take an exact fit a hair below zero.
            max(0, squares + 2 * dot(projection, delta) + dot(delta, gramTimes(delta)))
        }

        /// Σ a·residual(Θ) = Σ a r0 + (Σ a aᵀ) δ: half the gradient of `sumOfSquares`.
        public func correlation(_ delta: [Double]) -> [Double] { zip(projection, gramTimes(delta)).map { $0 + $1 } }

        func gramTimes(_ v: [Double]) -> [Double] {
            let n = projection.count
            return (0..<n).map { i in (0..<n).reduce(0) { $0 + gram[i * n + $1] * v[$1] } }
        }
    }

    /// One group of training data: its FitSNAP weights and its energy and force rows.
    public struct Group: Codable, Sendable {
        public var name: String
        public var energyWeight: Double
        public var forceWeight: Double
        public var configurations: Int
        public var energy: Block
        public var force: Block

        public init(name: String, energyWeight: Double, forceWeight: Double, configurations: Int, energy: Block, force: Block) {
            (self.name, self.energyWeight, self.forceWeight) = (name, energyWeight, forceWeight)
            (self.configurations, self.energy, self.force) = (configurations, energy, force)
        }
    }

    /// `element:k` per entry of Θ, as `SNAPEnergy.parameterNames`.
    public var parameterNames: [String]
    /// The coefficients the data was reduced at: every row is exact relative to them.
    public var theta0: [Double]
    public var groups: [Group]
    /// The term's weight against the other terms of a fit's loss.
    public var weight: Double

    public init(parameterNames: [String], theta0: [Double], groups: [Group], weight: Double) {
        precondition(parameterNames.count == theta0.count, "one name per parameter")
        (self.parameterNames, self.theta0, self.groups, self.weight) = (parameterNames, theta0, groups, weight)
    }

    private func delta(_ theta: [Double]) -> [Double] {
        precondition(theta.count == theta0.count, "Θ has \(theta0.count) entries, got \(theta.count)")
        return zip(theta, theta0).map { $0 - $1 }
    }

    /// ½·weight·Σ_g (wE²·Q_E + wF²·Q_F), Q the sums of squared rows.
    public func loss(_ theta: [Double]) -> Double {
        let d = delta(theta)
        return 0.5 * weight * groups.reduce(0) { sum, g in
            sum + g.energyWeight * g.energyWeight * g.energy.sumOfSquares(d) + g.forceWeight * g.forceWeight * g.force.sumOfSquares(d)
        }
    }

    /// The loss's exact gradient: weight·Σ_g (wE² (p_E + M_E δ) + wF² (p_F + M_F δ)).
    public func gradient(_ theta: [Double]) -> [Double] {
        let d = delta(theta)
        var result = [Double](repeating: 0, count: d.count)
        for g in groups {
            let (e, f) = (g.energy.correlation(d), g.force.correlation(d))
            let (we, wf) = (weight * g.energyWeight * g.energyWeight, weight * g.forceWeight * g.forceWeight)
            for i in result.indices { result[i] += we * e[i] + wf * f[i] }
        }
        return result
    }

    /// weight·Σ_g (wE² M_E + wF² M_F): exact, the loss is quadratic.
    public func hessian() -> Matrix {
        var result = Matrix(rows: theta0.count, columns: theta0.count)
        for g in groups {
            let (we, wf) = (weight * g.energyWeight * g.energyWeight, weight * g.forceWeight * g.forceWeight)
            for i in result.storage.indices { result.storage[i] += we * g.energy.gram[i] + wf * g.force.gram[i] }
        }
        return result
    }

    /// Unweighted errors at Θ, as `evaluate` reports them: energy RMSE per atom (eV/atom) over
    /// configurations, force RMSE over components (eV/Å), per group and "*ALL" over all groups.
    public func errors(_ theta: [Double]) -> [(group: String, energyRMSE: Double, forceRMSE: Double)] {
        let d = delta(theta)
        func rmse(_ blocks: [Block]) -> Double {
            let rows = blocks.reduce(0) { $0 + $1.rows }
            return rows == 0 ? 0 : (blocks.reduce(0) { $0 + $1.sumOfSquares(d) } / Double(rows)).squareRoot()
        }
        return groups.map { ($0.name, rmse([$0.energy]), rmse([$0.force])) }
            + [("*ALL", rmse(groups.map(\.energy)), rmse(groups.map(\.force)))]
    }
}
