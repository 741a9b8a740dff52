import Atomistics
import Foundation
import LinearAlgebra
import Potentials

/// The paper's constrained minimization (methods IV A, supplement 3 B): for each parameter l,
/// minimize U(X) + α_l b_l·(X − X*) (in LAMMPS with `fix addforce`), b_l = [∇²ΘX U]_l, and take
/// (X_l − X*)/α_l, with α_l = α0 / max|b_l| (eq. 39).
public struct EnergyMethod: DerivativeMethod {
    public var minStyle: MinimizerStyle = .cg
    /// Bias scale α0 of eq. 39.
    public var alpha0 = 1e-4
    /// Where finished parameters are saved, so that an interrupted run resumes.
    public var checkpoint: URL?
    /// Other linear systems (strain responses) are solved by the sparse method.
    public var linearSolver = SparseMethod()
    /// Force tolerance and iteration limit of each biased minimization (default: 1e-6 of the bias,
    /// at most 20 000 iterations). The paper's published example uses FIRE, α0 = 0.5, 1e-4, 500.
    public var ftol: Double?
    public var maxIterations = 20_000

    public init(minStyle: MinimizerStyle = .cg, alpha0: Double = 1e-4, checkpoint: URL? = nil) {
        self.minStyle = minStyle
        self.alpha0 = alpha0
        self.checkpoint = checkpoint
    }

    public var name: String { "energy" }
    public var settings: [String: String] {
        var result = ["min_style": minStyle.rawValue, "alpha0": "\(alpha0)"]
        if let ftol { result["ftol"] = "\(ftol)" }
        if maxIterations != 20_000 { result["max_iterations"] = "\(maxIterations)" }
        return result
    }
    public var costUnit: String { "minimizer iterations" }
    public var advice: SettingMessage {
        """
        The bias α_l = α0/max|b_l| (α0 = \(alpha0)) moved the atoms outside the range where their \
        response is linear, or the biased minimization did not converge. Use α0 in [1e-6, 1e-3] \
        (default 1e-4), or \(setting: .method("sparse")).
        """
    }

    public func solve(_ hessian: Hessian, _ b: Matrix, progress: (String) -> Void) throws -> (x: Matrix, relativeResiduals: [Double]) {
        try linearSolver.solve(hessian, b, progress: progress)
    }

    public func positionDerivative(_ energy: any ParameterDerivatives, hessian: Hessian, mixedHessian: Matrix,
                                   progress: (String) -> Void) throws -> PositionDerivative {
        let system = energy.forceProvider
        let dofs = hessian.degreesOfFreedom
        let reference = hessian.minimum.unwrappedPositions
        let bias = try system.linearBias(about: reference)
        defer { try? bias.remove() }
        // Relative accuracy 1e-6 of the displacement: the residual force must be 1e-6 of α max|b| = α0,
        // but not below 1e-12 eV/Å, well above the ~3e-14 floating-point floor of the forces (a tiny α0
        // would otherwise only stagnate there); the residual check below judges the result.
        var relaxation = RelaxationSettings(ftol: ftol ?? max(alpha0 * 1e-6, 1e-12), minStyle: minStyle)
        relaxation.maxIterations = maxIterations
        let checkpoint = self.checkpoint.map { Checkpoint(directory: $0, writes: system.isRoot) }
        // Settings left at their defaults keep the key of checkpoints written before they existed.
        let key = "energy \(minStyle.rawValue) alpha0 \(alpha0) parameters \(mixedHessian.columns)"
            + (ftol.map { " ftol \($0)" } ?? "") + (maxIterations != 20_000 ? " max_iterations \(maxIterations)" : "")
        var done: [Int: Checkpoint.Column] = [:]
        if let checkpoint {
            let (saved, discarded) = checkpoint.load(reference: reference, key: key)
            done = saved
            if let discarded { progress("  energy method: checkpoint in \(checkpoint.directory.path) discarded: \(discarded)") }
        }
        if !done.isEmpty { progress("  energy method: resuming, \(done.count) of \(mixedHessian.columns) parameters already done") }
        let clock = ProgressClock()
        for l in 0..<mixedHessian.columns where done[l] == nil {
            let b = dofs.project(mixedHessian.column(l))
            let largest = b.map(abs).max() ?? 0
            guard largest > 0 else {
                done[l] = Checkpoint.Column(values: [Double](repeating: 0, count: b.count), residual: 0, iterations: 0)
                continue
            }
            let alpha = alpha0 / largest
            try bias.set(b.map { alpha * $0 })
            try hessian.restoreMinimum()
            let result = try system.relaxation(relaxation, label: "energy method, parameter \(l + 1)/\(mixedHessian.columns)", progress: progress)
            let displaced = try system.structure().unwrappedPositions
            done[l] = Checkpoint.Column(values: dofs.project(zip(displaced, reference).map { ($0 - $1) / alpha }),
                                        residual: result.maxForce / alpha0, iterations: result.steps)
            try checkpoint?.save(done, reference: reference, key: key)
            if clock.isDue() || l + 1 == mixedHessian.columns {
                progress("  energy method: parameter \(l + 1)/\(mixedHessian.columns), \(result.steps) iterations, \(clock.elapsed) s")
            }
        }
        try bias.remove()
        // The minimizer's own residual says nothing about linearity: measure each column's residual
        // of H x = −b with one small-step Hessian product (exposes α0 outside the linear range).
        for l in 0..<mixedHessian.columns {
            let b = dofs.project(mixedHessian.column(l))
            let bNorm = b.reduce(0) { $0 + $1 * $1 }.squareRoot()
            guard bNorm > 0 else { continue }
            let hx = try hessian.apply(done[l]!.values)
            done[l]!.residual = zip(hx, b).reduce(0) { $0 + ($1.0 + $1.1) * ($1.0 + $1.1) }.squareRoot() / bNorm
        }
        let columns = (0..<mixedHessian.columns).map { done[$0]! }
        return PositionDerivative(matrix: Matrix(columns: columns.map(\.values), rows: mixedHessian.rows),
                                  residuals: columns.map(\.residual), iterations: columns.map(\.iterations),
                                  forceEvaluations: columns.reduce(0) { $0 + $1.iterations }, seconds: 0)
    }
}
