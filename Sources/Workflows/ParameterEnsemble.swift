import Atomistics
import Foundation
import ImplicitDerivative
import LinearAlgebra
import Potentials

/// An ensemble of parameter vectors (a posterior, a committee of fits) and the scaled family of
/// eq. 13: Θ(λ, m) = Θ̄ + λ(Θ_m − Θ̄).
public struct ParameterEnsemble: Sendable {
    /// M rows of N_D parameters, in the order of Θ.
    public var samples: [[Double]]
    /// Θ̄, where the derivatives are taken.
    public var mean: [Double]
    public var lambdas: [Double]

    public init(samples: [[Double]], mean: [Double], lambdas: [Double]) {
        (self.samples, self.mean, self.lambdas) = (samples, mean, lambdas)
    }

    public func theta(sample m: Int, lambda: Double) -> [Double] {
        zip(mean, samples[m]).map { $0 + lambda * ($1 - $0) }
    }

    /// Rows of `width` numbers from a text file (whitespace separated, `#` comments) or a 2-D
    /// `.npy` array; a file of one row is a vector.
    public static func readRows(_ url: URL, width: Int) throws -> [[Double]] {
        if url.pathExtension.lowercased() == "npy" {
            let array = try NPY.read(url)
            let shape = array.shape.count == 1 ? [1, array.shape[0]] : array.shape
            guard shape.count == 2, shape[1] == width, shape[0] > 0 else {
                throw InputError.fileFormat(file: url.path, line: nil, reason: """
                    an array of shape \(array.shape) where one or more rows of \(width) parameters (one per \
                    parameter of Θ) are needed
                    """)
            }
            if let index = array.values.firstIndex(where: { !$0.isFinite }) {
                throw InputError.fileFormat(file: url.path, line: nil,
                                            reason: "row \(index / width), column \(index % width) is \(array.values[index]), not a finite number")
            }
            return (0..<shape[0]).map { Array(array.values[$0 * width..<($0 + 1) * width]) }
        }
        let text: String
        do { text = try String(contentsOf: url, encoding: .utf8) } catch { throw InputError.fileNotFound(url.path) }
        let rows = try TextRow.rows(of: text).map { row in
            if let bad = row.words.first(where: { Double($0)?.isFinite != true }) {
                throw InputError.fileFormat(file: url.path, line: row.line, reason: "'\(bad)' is not a finite number")
            }
            guard row.words.count == width else {
                throw InputError.fileFormat(file: url.path, line: row.line, reason: """
                    \(row.words.count) numbers where \(width) are needed (one per parameter of Θ)
                    """)
            }
            return row.values!
        }
        guard !rows.isEmpty else { throw InputError.fileFormat(file: url.path, line: nil, reason: "no rows of numbers") }
        return rows
    }

    /// `count` draws from the normal distribution N(mean, covariance), reproducible from `seed`
    /// (covariance square root by LAPACK's eigen-decomposition; a clearly negative eigenvalue is refused).
    public static func draws(count: Int, mean: [Double], covariance: Matrix, seed: UInt64) throws -> [[Double]] {
        let n = mean.count
        guard covariance.rows == n, covariance.columns == n else {
            throw CampaignError.covarianceShape(rows: covariance.rows, columns: covariance.columns, parameters: n)
        }
        var symmetric = covariance
        symmetric.symmetrize()
        let (values, vectors) = try LAPACK.symmetricEigen(symmetric)
        let largest = values.map(abs).max() ?? 0
        if let lowest = values.first, lowest < -1e-10 * largest {
            throw CampaignError.covarianceNotPositiveSemidefinite(lowestEigenvalue: lowest)
        }
        let roots = values.map { max($0, 0).squareRoot() }
        var generator = SplitMix64(seed: seed)
        return (0..<count).map { _ in
            let z = (0..<n).map { _ in standardNormal(&generator) }
            return (0..<n).map { i in mean[i] + (0..<n).reduce(0) { $0 + vectors[i, $1] * roots[$1] * z[$1] } }
        }
    }

    /// Box–Muller.
    private static func standardNormal(_ generator: inout SplitMix64) -> Double {
        let u = Double.random(in: Double.leastNonzeroMagnitude..<1, using: &generator)
        let v = Double.random(in: 0..<1, using: &generator)
        return (-2 * log(u)).squareRoot() * cos(2 * .pi * v)
    }
}
