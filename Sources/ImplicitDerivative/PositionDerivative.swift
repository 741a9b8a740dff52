import Atomistics
import Foundation
import LAMMPSLibrary

/// How ∇Θ X* is computed.
public enum DerivativeMethod: String, CaseIterable, Codable, Sendable {
    /// The paper's constrained minimization in LAMMPS (eq. 15, 16, 39).
    case energy
    /// Hessian-vector products from force differences, shared block-Krylov solve.
    case sparse
    /// Finite-difference Hessian and a LAPACK solve.
    case dense
}

public struct DerivativeSettings: Codable, Sendable {
    public var method: DerivativeMethod = .sparse
    /// energy: minimizer and bias scale α0 of eq. 39.
    public var minStyle: MinimizerStyle = .cg
    public var alpha0: Double = 1e-4
    /// sparse: relative residual of each solve. Hessian-vector products by forward force
    /// differences are accurate to ~1e-5, so tighter tolerances only meet that floor.
    public var tolerance: Double = 1e-5
    /// dense: only atoms within `radius` of `center` move (all atoms when nil).
    public var center: [Double]?
    public var radius: Double?
    /// energy: where finished parameters are saved, so that an interrupted run resumes.
    public var checkpoint: URL?
    /// Every parameter's relative residual ‖H x_l + b_l‖/‖b_l‖, measured with an independent
    /// Hessian product, must be below this; otherwise the derivative is refused as inaccurate.
    public var maxResidual: Double = 1e-3
    /// Lanczos steps of the curvature check at X* (0 skips it).
    public var curvatureSteps: Int = 30
    /// Compute the derivative even if X* is not a converged minimum (the result is marked).
    public var allowNonMinimum = false

    public init(method: DerivativeMethod = .sparse) { self.method = method }
}

/// Why a derivative is refused.
public enum DerivativeError: Error, CustomStringConvertible {
    /// X* is not a minimum: unconverged, a saddle, or no interactions at all.
    case notAMinimum(String)
    /// The linear solve did not reach the accuracy the results need.
    case inaccurate(String)
    /// A setting that cannot work for this system.
    case invalidSetting(String)

    public var description: String {
        switch self {
        case .notAMinimum(let text): return "not a minimum: \(text)"
        case .inaccurate(let text): return "inaccurate derivative: \(text)"
        case .invalidSetting(let text): return text
        }
    }
}

/// ∇Θ X*, 3N × N_D (column l = ∂X*/∂Θ_l, atoms by ID), with how it was obtained.
public struct PositionDerivative: Sendable {
    public var matrix: Matrix
    /// Per parameter: relative residual ‖H x_l + b_l‖/‖b_l‖ of the linear system (for the energy
    /// method measured afterwards with one Hessian product per parameter: it exposes a bias
    /// outside the linear range as well as an unconverged minimization).
    public var residuals: [Double]
    /// Per parameter: minimizer iterations (energy), else 0.
    public var iterations: [Int]
    public var forceEvaluations: Int
    public var seconds: Double
}

public enum ImplicitDifferentiation {
    /// Solves H · ∇Θ X* = −∇²ΘX U (eq. 5/22, translations projected out, held atoms fixed).
    public static func positionDerivative(_ system: SNAPSystem, hessian: Hessian, mixedHessian: Matrix,
                                          settings: DerivativeSettings,
                                          progress: (String) -> Void = { _ in }) throws -> PositionDerivative {
        let start = Date()
        let evaluationsBefore = hessian.forceEvaluations
        var result: PositionDerivative
        switch settings.method {
        case .energy:
            result = try EnergyMethod(settings: settings).solve(system, hessian: hessian, mixedHessian: mixedHessian,
                                                                progress: progress)
        case .sparse, .dense:
            let (x, residuals, evaluations) = try solve(hessian, scaled(mixedHessian, by: -1), settings: settings,
                                                        progress: progress)
            result = PositionDerivative(matrix: x, residuals: residuals,
                                        iterations: Array(repeating: 0, count: mixedHessian.columns),
                                        forceEvaluations: evaluations, seconds: 0)
        }
        try hessian.restoreMinimum()
        // The energy method counts minimizer iterations; the others count force evaluations.
        if settings.method != .energy { result.forceEvaluations = hessian.forceEvaluations - evaluationsBefore }
        result.seconds = Date().timeIntervalSince(start)
        try requireAccurate(result, settings: settings)
        return result
    }

    /// Refuses a derivative whose columns do not solve the linear system: a residual above
    /// `maxResidual` or NaN (the energy method outside its linear range, an unconverged solve).
    static func requireAccurate(_ result: PositionDerivative, settings: DerivativeSettings) throws {
        let failing = result.residuals.enumerated().filter { !($0.element <= settings.maxResidual) }
        guard !failing.isEmpty else { return }
        let worst = failing.max { $0.element < $1.element }!
        let advice: String
        switch settings.method {
        case .energy:
            advice = """
                The bias α_l = α0/max|b_l| (α0 = \(settings.alpha0)) moved the atoms outside the range where their \
                response is linear, or the biased minimization did not converge. Use α0 in [1e-6, 1e-3] \
                (default 1e-4), or --method sparse.
                """
        case .sparse:
            advice = "The Krylov solve did not converge; lower --tolerance or try --method dense."
        case .dense:
            advice = "The dense solve is exact up to its finite-difference Hessian; the Hessian is nearly singular."
        }
        throw DerivativeError.inaccurate("""
            \(failing.count) of \(result.residuals.count) parameters have a relative residual ‖H x + b‖/‖b‖ above \
            \(settings.maxResidual) (worst: parameter \(worst.offset), \(String(format: "%.3g", worst.element))). \(advice)
            """)
    }

    /// H X = B for any number of right-hand sides (columns of B), forward or adjoint: the one
    /// linear solve the expansions and the inverse loop use. Returns the residuals of each column.
    public static func solve(_ hessian: Hessian, _ b: Matrix, settings: DerivativeSettings,
                             progress: (String) -> Void = { _ in }) throws
        -> (x: Matrix, relativeResiduals: [Double], forceEvaluations: Int)
    {
        let before = hessian.forceEvaluations
        let rhs = hessian.degreesOfFreedom.project(b)
        switch settings.method {
        case .sparse, .energy:
            let solution = try KrylovSolver(tolerance: settings.tolerance).solve(rhs, progress: progress) { try hessian.apply($0) }
            // Round-off of the orthogonalizations reaches held components: project them to exactly zero.
            return (hessian.degreesOfFreedom.project(solution.x), solution.relativeResiduals,
                    hessian.forceEvaluations - before)
        case .dense:
            let (x, residuals) = try DenseSolver(settings: settings).solve(hessian, rhs, progress: progress)
            return (x, residuals, hessian.forceEvaluations - before)
        }
    }
}

/// Dense finite-difference Hessian over the moving components and a LAPACK solve; rigid
/// translations are removed exactly by constraints (a bordered symmetric system), not by
/// adding arbitrary constants to the Hessian.
struct DenseSolver {
    var settings: DerivativeSettings

    func solve(_ hessian: Hessian, _ b: Matrix, progress: (String) -> Void) throws -> (Matrix, [Double]) {
        let dofs = hessian.degreesOfFreedom
        var components = (0..<dofs.mobile.count).filter { dofs.mobile[$0] }
        var axes = dofs.translationAxes
        if let center = settings.center, let radius = settings.radius {
            let positions = hessian.minimum.unwrappedPositions
            let near = minimumImage((0..<positions.count).map { positions[$0] - center[$0 % 3] }, in: hessian.minimum.box)
            components = components.filter { index in
                let atom = index / 3
                let d = near[3 * atom..<3 * atom + 3].reduce(0) { $0 + $1 * $1 }
                return d <= radius * radius
            }
            axes = []  // atoms outside the region hold the rest in place: no zero modes remain
            guard !components.isEmpty else {
                throw DerivativeError.invalidSetting(String(
                    format: "--center %@ --radius %g leaves no mobile atom: the region contains no atom that may move",
                    center.map { String(format: "%g", $0) }.joined(separator: ","), radius))
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
        let y = try LinearAlgebra.solveSymmetric(bordered, rhs)
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

/// The paper's constrained minimization (methods IV A, supplement 3 B): for each parameter l,
/// minimize U(X) + α_l b_l·(X − X*) in LAMMPS with `fix addforce`, b_l = [∇²ΘX U]_l, and take
/// (X_l − X*)/α_l, with α_l = α0 / max|b_l| (eq. 39).
struct EnergyMethod {
    var settings: DerivativeSettings

    func solve(_ system: SNAPSystem, hessian: Hessian, mixedHessian: Matrix,
               progress: (String) -> Void) throws -> PositionDerivative {
        let lammps = system.lammps
        let dofs = hessian.degreesOfFreedom
        let reference = hessian.minimum.unwrappedPositions
        try system.simulation.evaluate()  // minimizers need LAMMPS's energy tallying back
        // The bias energy makes the minimizer's line search consistent with the added forces.
        try lammps.commands("""
            fix ilmp_bias_data all property/atom d_ilmp_bx d_ilmp_by d_ilmp_bz d_ilmp_x0 d_ilmp_y0 d_ilmp_z0
            compute ilmp_unwrapped all property/atom xu yu zu
            variable ilmp_fx atom -d_ilmp_bx
            variable ilmp_fy atom -d_ilmp_by
            variable ilmp_fz atom -d_ilmp_bz
            variable ilmp_bias_energy atom "d_ilmp_bx*(c_ilmp_unwrapped[1]-d_ilmp_x0) + d_ilmp_by*(c_ilmp_unwrapped[2]-d_ilmp_y0) + d_ilmp_bz*(c_ilmp_unwrapped[3]-d_ilmp_z0)"
            """)
        for (axis, name) in ["x", "y", "z"].enumerated() {
            try lammps.scatter("d_ilmp_\(name)0", count: 1, values: stride(from: axis, to: reference.count, by: 3).map { reference[$0] })
        }
        try lammps.command("fix ilmp_bias all addforce v_ilmp_fx v_ilmp_fy v_ilmp_fz energy v_ilmp_bias_energy")
        try lammps.command("fix_modify ilmp_bias energy yes")
        var biasActive = true
        func removeBias() throws {
            guard biasActive else { return }
            biasActive = false
            try lammps.commands("""
                unfix ilmp_bias
                unfix ilmp_bias_data
                uncompute ilmp_unwrapped
                """)
        }
        defer { try? removeBias() }
        // Relative accuracy 1e-6 of the displacement: the residual force must be 1e-6 of α max|b| = α0,
        // but not below 1e-12 eV/Å, well above the ~3e-14 floating-point floor of the forces (a tiny α0
        // would otherwise only stagnate there); the residual check below judges the result.
        var relaxation = RelaxationSettings(ftol: max(settings.alpha0 * 1e-6, 1e-12), minStyle: settings.minStyle)
        relaxation.maxIterations = 20_000
        let checkpoint = settings.checkpoint.map { Checkpoint(directory: $0, writes: system.simulation.isRoot) }
        let key = "energy \(settings.minStyle.rawValue) alpha0 \(settings.alpha0) parameters \(mixedHessian.columns)"
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
            let alpha = settings.alpha0 / largest
            for (axis, name) in ["x", "y", "z"].enumerated() {
                try lammps.scatter("d_ilmp_b\(name)", count: 1,
                                   values: stride(from: axis, to: b.count, by: 3).map { alpha * b[$0] })
            }
            try hessian.restoreMinimum()
            let (result, _) = try system.simulation.relax(relaxation, label: "energy method, parameter \(l + 1)/\(mixedHessian.columns)", progress: progress)
            let displaced = try system.simulation.structure().unwrappedPositions
            done[l] = Checkpoint.Column(values: dofs.project(zip(displaced, reference).map { ($0 - $1) / alpha }),
                                        residual: result.maxForce / settings.alpha0, iterations: result.steps)
            try checkpoint?.save(done, reference: reference, key: key)
            if clock.isDue() || l + 1 == mixedHessian.columns {
                progress("  energy method: parameter \(l + 1)/\(mixedHessian.columns), \(result.steps) iterations, \(clock.elapsed) s")
            }
        }
        try removeBias()
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
