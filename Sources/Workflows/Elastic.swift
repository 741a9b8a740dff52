import Atomistics
import Foundation
import ImplicitDerivative
import LinearAlgebra
import Potentials

/// The elastic constants of a relaxed crystal, from second derivatives at the minimum:
///   clamped-ion  C⁰ = (1/V) ∂²U/∂e²                       (atoms follow the cell)
///   relaxed-ion  C  = (1/V) [∂²U/∂e² − (∂F/∂e)ᵀ H⁻¹ (∂F/∂e)]  (atoms relax inside the cell)
/// with Voigt strains e (engineering shears, as LAMMPS's ELASTIC example applies them).
/// ∂²U/∂e² comes from central differences of LAMMPS's virial, ∂F/∂e from its forces, and
/// H⁻¹(∂F/∂e) from the derivative method's own linear solver.
public struct ElasticConstants: Codable, Sendable {
    /// 6×6, Voigt order xx yy zz yz xz xy, GPa.
    public var relaxedIon: [[Double]]
    public var clampedIon: [[Double]]
    public var volume: Double
    /// Force evaluations of the measurement (strains and the linear solve).
    public var forceEvaluations: Int

    /// Mandel notation: shear rows and columns scaled by √2 (C44 doubles), the form whose
    /// Frobenius norm is the tensor's.
    public static func mandel(_ voigt: [[Double]]) -> [[Double]] {
        let w = [1, 1, 1, 2.0.squareRoot(), 2.0.squareRoot(), 2.0.squareRoot()]
        return (0..<6).map { i in (0..<6).map { j in voigt[i][j] * w[i] * w[j] } }
    }

    /// Measures C at the current state of `energy`'s simulation, which must be a minimum with
    /// its cell relaxed (the stress enters C at first order otherwise).
    public static func measure(_ energy: any ParameterDerivatives, hessian: Hessian, method: any DerivativeMethod,
                               progress: (String) -> Void = { _ in }) throws -> ElasticConstants {
        let before = hessian.forceEvaluations
        let box = hessian.minimum.box
        guard box.xy == 0, box.xz == 0, box.yz == 0 else {
            throw InputError.unsupportedSystem("elastic constants need an orthogonal reference cell; this one is triclinic")
        }
        let gigapascalsPerEnergyDensity = try energy.forceProvider.gigapascalsPerEnergyDensity()
        // Central-difference Hessian products (a handful of them): C to ~1e-8 rather than the ~1e-5
        // of forward differences, which C(Θ ± h) in ∇Θ C would amplify by 1/(2h) (seen: 0.2% in
        // dC44/dσ of SW silicon).
        let previous = hessian.centralDifferences
        hessian.centralDifferences = true
        defer { hessian.centralDifferences = previous }
        let strains = (0..<6).map(Voigt.unit)
        let response = try StrainResponse.measure(hessian, generators: strains)
        // A strain whose induced forces stay below 1e-7 eV/Å per unit strain relaxes no atom (every
        // atom of bcc W is a centre of inversion): its column is round-off, set to exactly zero.
        var g = response.forceDerivative
        for j in 0..<g.columns where (g.column(j).map(abs).max() ?? 0) < 1e-7 {
            g.setColumn(j, [Double](repeating: 0, count: g.rows))
        }
        let (w, residuals) = try method.solve(hessian, g, progress: progress)
        try hessian.restoreMinimum()
        if let worst = residuals.max(), !(worst <= 1e-3) {
            throw DerivativeError.inaccurate("the internal-relaxation solve H w = ∂F/∂e reached a relative residual of \(worst). \(method.advice)")
        }
        let relaxed = response.curvature - g.multiplied(by: w, transposingSelf: true)
        let volume = box.volume
        // energy/volume → LAMMPS pressure units (nktv2p) → GPa.
        let scale = gigapascalsPerEnergyDensity / volume
        func table(_ m: Matrix) -> [[Double]] { (0..<6).map { i in (0..<6).map { j in m[i, j] * scale } } }
        // The strained states are evaluated outside the Hessian: one at rest and two per strain.
        return ElasticConstants(relaxedIon: table(relaxed), clampedIon: table(response.curvature), volume: volume,
                                forceEvaluations: hessian.forceEvaluations - before + 1 + 2 * strains.count)
    }

    /// The table the command prints.
    public var text: String {
        func rows(_ m: [[Double]]) -> [String] {
            m.enumerated().map { i, row in
                "  C\(i + 1)j " + row.map { String(format: "%10.3f", $0) }.joined(separator: " ")
            }
        }
        return (["Relaxed-ion elastic constants (GPa, Voigt):"] + rows(relaxedIon)
                + ["Clamped-ion (atoms follow the cell):"] + rows(clampedIon)).joined(separator: "\n")
    }
}

/// The `elastic` command's work at a relaxed minimum: check that it is one, then measure C.
public enum ElasticWorkflow {
    public static func run(_ energy: any ParametrizedEnergy, relaxation: RelaxationResult, method: any DerivativeMethod,
                           checks: DerivativeChecks, progress: (String) -> Void = { _ in })
        throws -> (constants: ElasticConstants, check: MinimumCheck, minimum: Structure)
    {
        if let dense = method as? DenseMethod, dense.region != nil {
            throw DerivativeError.invalidSetting("""
                --center/--radius let only part of the crystal relax: the result would be neither the clamped- nor the \
                relaxed-ion tensor; elastic constants use every atom
                """)
        }
        let hessian = try Hessian(system: energy.simulation)
        let check = try MinimumCheck.verify(hessian, relaxation: relaxation, checks: checks, progress: progress)
        let constants = try ElasticConstants.measure(energy, hessian: hessian, method: method, progress: progress)
        return (constants, check, hessian.minimum)
    }
}

/// ∇Θ C by central differences of C in Θ: for each parameter, Θ_l ± h_l with
/// h_l = `relativeStep`·|Θ_l| (forward differences at Θ_l = 0), the cell and atoms re-relaxed
/// from the reference minimum, and C measured there. Costs 2 relaxations and 2 C measurements
/// per parameter; the reference state is restored at the end.
public struct ElasticParameterDerivative: Sendable {
    public var relativeStep = 1e-3
    public var cell: CellRelaxation
    public var ftol: Double
    public var minStyle: MinimizerStyle

    public init(cell: CellRelaxation, ftol: Double, minStyle: MinimizerStyle = .cg) {
        (self.cell, self.ftol, self.minStyle) = (cell, ftol, minStyle)
    }

    public struct Result: Sendable {
        /// N_D × 6 × 6, GPa per unit of each parameter.
        public var derivative: [[[Double]]]
        public var steps: [Double]
        /// Of the C measurements (virial strains, Hessian products); the relaxations count apart.
        public var forceEvaluations: Int
        public var relaxationIterations: Int
        public var seconds: Double
    }

    public func compute(_ energy: any ParameterDerivatives, reference: Structure, method: any DerivativeMethod,
                        progress: (String) -> Void = { _ in }) throws -> Result {
        let start = Date()
        let clock = ProgressClock()
        let theta = energy.theta
        let system = energy.forceProvider
        var evaluations = 0, iterations = 0
        var derivative: [[[Double]]] = []
        var steps: [Double] = []
        // Left at the reference structure with the original Θ, also when a relaxation fails.
        try system.restore(reference)
        return try energy.preservingParameters { _ in
            func constants(at values: [Double]) throws -> [[Double]] {
                try energy.setTheta(values)
                try system.restore(reference)
                let relaxation = try system.relaxation(RelaxationSettings(cell: cell, ftol: ftol, minStyle: minStyle), label: "relax",
                                                        progress: { _ in })
                if let shortfall = relaxation.shortfall {
                    throw DerivativeError.notAMinimum("re-relaxing for ∇Θ C: \(shortfall)")
                }
                iterations += relaxation.steps
                let hessian = try Hessian(system: system)
                let measured = try ElasticConstants.measure(energy, hessian: hessian, method: method)
                evaluations += measured.forceEvaluations + 2  // and the Hessian's set-up
                return measured.relaxedIon
            }
            var base: [[Double]]?  // C(Θ), shared by the one-sided stencils of parameters at zero
            for l in theta.indices {
                let h = theta[l] == 0 ? relativeStep : relativeStep * abs(theta[l])
                steps.append(h)
                let stencil = DifferenceStencil(value: theta[l], step: h)
                let states = try stencil.offsets.map { offset -> [Double] in
                    if offset == 0 {
                        if base == nil { base = try constants(at: theta) }
                        return base!.flatMap { $0 }
                    }
                    var shifted = theta
                    shifted[l] += offset
                    return try constants(at: shifted).flatMap { $0 }
                }
                let d = stencil.derivative(states)
                derivative.append((0..<6).map { i in Array(d[6 * i..<6 * i + 6]) })
                if clock.isDue() || l + 1 == theta.count {
                    progress("  ∇Θ C: parameter \(l + 1)/\(theta.count), \(evaluations) force evaluations, \(clock.elapsed) s")
                }
            }
            return Result(derivative: derivative, steps: steps, forceEvaluations: evaluations,
                          relaxationIterations: iterations, seconds: Date().timeIntervalSince(start))
        }
    }
}
