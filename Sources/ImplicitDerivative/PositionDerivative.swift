import Atomistics
import Foundation
import LinearAlgebra
import Potentials

/// A way of computing ∇Θ X*: a value that carries its own settings (as JAX-MD's minimizers
/// are values). Every method also solves H X = B for other right-hand sides (strain responses,
/// the adjoint of the inverse loop) in its own way.
public protocol DerivativeMethod: Sendable {
    /// "energy", "sparse" or "dense".
    var name: String { get }
    /// The method's own settings, for summaries.
    var settings: [String: String] { get }
    /// The settings as they apply to this minimum (what an `auto` choice resolves to).
    func settings(for hessian: Hessian) -> [String: String]
    /// What `PositionDerivative.forceEvaluations` counts for this method.
    var costUnit: String { get }
    /// What to try when a residual is too large.
    var advice: SettingMessage { get }
    /// H X = B for projected right-hand sides; returns X and each column's relative residual.
    func solve(_ hessian: Hessian, _ b: Matrix, progress: (String) -> Void) throws -> (x: Matrix, relativeResiduals: [Double])
    /// ∇Θ X* = −H⁻¹ ∇²ΘX U.
    func positionDerivative(_ energy: any ParameterDerivatives, hessian: Hessian, mixedHessian: Matrix,
                            progress: (String) -> Void) throws -> PositionDerivative
}

extension DerivativeMethod {
    public var costUnit: String { "force evaluations" }
    public func settings(for hessian: Hessian) -> [String: String] { settings }

    public func positionDerivative(_ energy: any ParameterDerivatives, hessian: Hessian, mixedHessian: Matrix,
                                   progress: (String) -> Void) throws -> PositionDerivative {
        let (x, residuals) = try solve(hessian, hessian.degreesOfFreedom.project(scaled(mixedHessian, by: -1)), progress: progress)
        return PositionDerivative(matrix: x, residuals: residuals, iterations: Array(repeating: 0, count: mixedHessian.columns),
                                  forceEvaluations: 0, seconds: 0)
    }
}

/// Checks every derivative passes, whatever the method.
public struct DerivativeChecks: Codable, Sendable {
    /// Every parameter's relative residual ‖H x_l + b_l‖/‖b_l‖, measured with an independent
    /// Hessian product, must be below this; otherwise the derivative is refused as inaccurate.
    public var maxResidual: Double = 1e-3
    /// Lanczos steps of the curvature check at X* (0 skips it).
    public var curvatureSteps: Int = 30
    /// Compute the derivative even if X* is not a converged minimum (the result is marked).
    public var allowNonMinimum = false

    public init() {}
}

/// ∇Θ X*, 3N × N_D (column l = ∂X*/∂Θ_l, atoms by ID), with how it was obtained.
public struct PositionDerivative: Sendable {
    /// The derivative of `columns` parameters of which only `placing` were solved (the rest zero).
    func expanded(to columns: Int, placing solved: [Int]) -> PositionDerivative {
        guard solved.count < columns else { return self }
        var result = self
        result.matrix = Matrix(rows: matrix.rows, columns: columns)
        result.residuals = Array(repeating: 0, count: columns)
        result.iterations = Array(repeating: 0, count: columns)
        for (index, column) in solved.enumerated() {
            result.matrix.setColumn(column, matrix.column(index))
            result.residuals[column] = residuals[index]
            result.iterations[column] = iterations[index]
        }
        return result
    }

    public var matrix: Matrix
    /// Per parameter: relative residual ‖H x_l + b_l‖/‖b_l‖ of the linear system (for the energy
    /// method measured afterwards with one Hessian product per parameter: it exposes a bias
    /// outside the linear range as well as an unconverged minimization).
    public var residuals: [Double]
    /// Per parameter: minimizer iterations (energy), else 0.
    public var iterations: [Int]
    public var forceEvaluations: Int
    public var seconds: Double
    /// The method's settings as they applied (`DerivativeMethod.settings(for:)`).
    public var settings: [String: String] = [:]
}

public enum ImplicitDifferentiation {
    /// Solves H · ∇Θ X* = −∇²ΘX U (eq. 5/22, translations projected out, held atoms fixed) with
    /// `method`, and refuses a result whose residuals exceed `checks.maxResidual`.
    public static func positionDerivative(_ energy: any ParameterDerivatives, hessian: Hessian, mixedHessian: Matrix,
                                          method: any DerivativeMethod, checks: DerivativeChecks = DerivativeChecks(),
                                          progress: (String) -> Void = { _ in }) throws -> PositionDerivative {
        let start = Date()
        let evaluationsBefore = hessian.forceEvaluations
        let active = activeColumns(mixedHessian, theta: energy.theta, hessian: hessian)
        if active.count < mixedHessian.columns {
            progress("  \(mixedHessian.columns - active.count) parameters move no atom (their forces at X* are at the level of "
                     + "its residual forces): ∇Θ X* is exactly zero there")
        }
        var result = try method.positionDerivative(energy, hessian: hessian, mixedHessian: mixedHessian.selecting(columns: active),
                                                   progress: progress)
        result = result.expanded(to: mixedHessian.columns, placing: active)
        try hessian.restoreMinimum()
        // The energy method counts minimizer iterations; the others count force evaluations.
        if !(method is EnergyMethod) { result.forceEvaluations = hessian.forceEvaluations - evaluationsBefore }
        if let partitions = hessian.system.workSharing {
            // Each partition counted its own share (and the shared work once each): report the job's total.
            result.forceEvaluations = Int(try partitions.sum([Double(result.forceEvaluations)])[0])
        }
        result.seconds = Date().timeIntervalSince(start)
        result.settings = method.settings(for: hessian)
        try requireAccurate(result, method: method, maxResidual: checks.maxResidual)
        return result
    }

    /// Columns whose forces, for a 100 % change of their parameter, stay within 10× the residual
    /// forces of X* or below 1e-7 (e.g. an energy scale such as SW's ε or Morse's D0, which moves
    /// no atom): their solution is zero, and solving for round-off would only fail the accuracy check.
    /// Also columns 1e-8 below the largest one on the same relative scale (a parameter that
    /// moves atoms only through the minimum's own round-off, such as SW's λ at a vacancy).
    static func activeColumns(_ mixedHessian: Matrix, theta: [Double], hessian: Hessian) -> [Int] {
        // Parameters all at zero have no scale of their own (`ProjectedParameters`' coordinates,
        // where 1 is a member's whole deviation): a unit change.
        let rms = (theta.reduce(0) { $0 + $1 * $1 } / Double(max(theta.count, 1))).squareRoot()
        let typical = rms > 0 ? rms : 1
        let scaled = (0..<mixedHessian.columns).map { l in
            (hessian.degreesOfFreedom.project(mixedHessian.column(l)).map(abs).max() ?? 0) * max(abs(theta[l]), typical)
        }
        // 1e-7 eV/Å for a 100 % change of the parameter moves atoms by ~1e-7 Å: nothing anyone can
        // use, and such a right-hand side (the minimum's own round-off) only exhausts a Krylov
        // solve (seen: SW's λ at a 1727-atom vacancy).
        let floor = max(10 * hessian.largestResidualForce, 1e-7, 1e-8 * (scaled.max() ?? 0))
        return (0..<mixedHessian.columns).filter { scaled[$0] > floor }
    }

    /// Refuses a derivative whose columns do not solve the linear system: a residual above
    /// `maxResidual` or NaN (the energy method outside its linear range, an unconverged solve).
    static func requireAccurate(_ result: PositionDerivative, method: any DerivativeMethod, maxResidual: Double) throws {
        let failing = result.residuals.enumerated().filter { !($0.element <= maxResidual) }
        guard !failing.isEmpty else { return }
        let worst = failing.max { $0.element < $1.element }!
        throw DerivativeError.inaccurate("""
            \(failing.count) of \(result.residuals.count) parameters have a relative residual ‖H x + b‖/‖b‖ above \
            \(maxResidual) (worst: parameter \(worst.offset), \(String(format: "%.3g", worst.element))). \(method.advice)
            """)
    }

    /// H X = B for any number of right-hand sides (columns of B), forward or adjoint, with the
    /// method's own solver (the energy method solves linear systems with the sparse one).
    public static func solve(_ hessian: Hessian, _ b: Matrix, method: any DerivativeMethod,
                             progress: (String) -> Void = { _ in }) throws
        -> (x: Matrix, relativeResiduals: [Double], forceEvaluations: Int)
    {
        let before = hessian.forceEvaluations
        let (x, residuals) = try method.solve(hessian, hessian.degreesOfFreedom.project(b), progress: progress)
        return (x, residuals, hessian.forceEvaluations - before)
    }
}
