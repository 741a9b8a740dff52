import Atomistics
import Foundation
import LinearAlgebra
import Potentials

/// The Cartesian components that may move (not held by a fix such as `fix setforce 0 0 0`), and
/// the rigid translations that are exact zero modes of the Hessian.
public struct DegreesOfFreedom: Sendable {
    /// 3 flags per atom, atom-ID order.
    public var mobile: [Bool]
    /// Axes along which translating every atom changes nothing (no component along it is held).
    public var translationAxes: [Int]

    public var mobileCount: Int { mobile.filter { $0 }.count }

    public init(mobile: [Bool], translationAxes: [Int]) {
        (self.mobile, self.translationAxes) = (mobile, translationAxes)
    }

    /// Removes rigid translations along the zero-mode axes and zeroes held components, so that
    /// vectors live in the space where the Hessian is invertible.
    public func project(_ vector: [Double]) -> [Double] {
        removingTranslations(zip(vector, mobile).map { $1 ? $0 : 0 }, axes: translationAxes)
    }

    public func project(_ matrix: Matrix) -> Matrix {
        var result = matrix
        for j in 0..<matrix.columns { result.setColumn(j, project(matrix.column(j))) }
        return result
    }
}

/// Second derivatives of the energy at a minimum X*, from forces only: Hessian-vector
/// products by forward force differences, and responses to homogeneous strain.
public final class Hessian {
    public let system: any ForceProvider
    /// The minimum (wrapped positions and their image flags, atom-ID order).
    public let minimum: Structure
    public let degreesOfFreedom: DegreesOfFreedom
    /// Residual forces at X* (≈ 0 at a converged minimum), subtracted from every difference.
    private let residualForces: [Double]
    /// Largest residual force component at X* on the mobile components: the noise floor of
    /// anything measured as a force at the minimum.
    public var largestResidualForce: Double {
        zip(residualForces, degreesOfFreedom.mobile).map { $1 ? abs($0) : 0 }.max() ?? 0
    }
    /// Largest atomic displacement of a finite difference (Å). The forward difference's error is
    /// ~h·|∇³U|/|∇²U| (5e-6 at 1e-5 Å on the W–Be alloy, 5e-7 at 1e-6), its round-off ~1e-15/h
    /// relative to the softest curvatures (3e-6 at 1e-7 Å): 1e-6 Å gives ~1e-6, up to 4e-6 along
    /// the softest mode.
    public var displacement = 1e-6
    public private(set) var forceEvaluations = 0
    /// A random start the next shared-basis solve adds to its basis, so that the curvature check
    /// can use that basis (`curvatureCheck(space:image:)`); the solve takes it (nil afterwards).
    public var spectrumProbe: [Double]?
    /// The basis V and its image H V of the solve that took `spectrumProbe`, the probe and the
    /// solve's preconditioner (nil: none).
    public var probedSpace: ProbedSpace?

    public init(system: any ForceProvider) throws {
        self.system = system
        minimum = try system.structure()
        residualForces = try system.forces(at: minimum.positions)
        degreesOfFreedom = try Hessian.detectDegreesOfFreedom(system, at: minimum)
        forceEvaluations = 2
        try restoreMinimum()
    }

    /// Components whose force a fix sets to zero read exactly 0.0 at a randomly displaced
    /// configuration; no free component does.
    public static func detectDegreesOfFreedom(_ system: any ForceProvider, at minimum: Structure) throws -> DegreesOfFreedom {
        var generator = SplitMix64(seed: 2024)
        let displaced = minimum.positions.map { $0 + Double.random(in: -0.01...0.01, using: &generator) }
        let forces = try system.forces(at: displaced)
        let mobile = forces.map { $0 != 0 }
        let axes = (0..<3).filter { axis in stride(from: axis, to: mobile.count, by: 3).allSatisfy { mobile[$0] } }
        return DegreesOfFreedom(mobile: mobile, translationAxes: axes)
    }

    /// Puts the atoms back exactly at X*, images included.
    public func restoreMinimum() throws { try system.restore(minimum) }

    /// H v with H = ∇²U restricted to the mobile components and projected: one force evaluation.
    public func apply(_ vector: [Double]) throws -> [Double] {
        let v = degreesOfFreedom.project(vector)
        let largest = largestAtomNorm(v)
        guard largest > 0 else { return v }
        let step = centralDifferences ? centralDisplacement : displacement
        return degreesOfFreedom.project(try forceDifference(along: v, step: step / largest))
    }

    /// Central differences (two force evaluations per product, error ~1e-10 relative instead of
    /// ~1e-6): for quantities that are themselves differenced again, such as C(Θ ± h). Their
    /// truncation error is O(h²), so they keep the larger step that halves their round-off.
    public var centralDifferences = false
    public var centralDisplacement = 1e-5

    /// −(F(X* + step·v) − F(X*)) / step ≈ H v: one force evaluation (two when central).
    private func forceDifference(along v: [Double], step: Double) throws -> [Double] {
        let forces = try system.forces(at: zip(minimum.positions, v).map { $0 + step * $1 })
        forceEvaluations += 1
        guard centralDifferences else { return zip(forces, residualForces).map { -($0 - $1) / step } }
        let backward = try system.forces(at: zip(minimum.positions, v).map { $0 - step * $1 })
        forceEvaluations += 1
        return zip(forces, backward).map { -($0 - $1) / (2 * step) }
    }

    /// The dense Hessian over `components` (indices into 3N), one force evaluation per column,
    /// symmetrized. Zero modes are not removed here: the dense solver constrains them.
    public func dense(components: [Int], progress: (String) -> Void = { _ in }) throws -> Matrix {
        var result = Matrix(rows: components.count, columns: components.count)
        let clock = ProgressClock()
        for (column, component) in components.enumerated() {
            if clock.isDue() {
                progress("  dense: Hessian column \(column) of \(components.count), \(clock.elapsed) s")
            }
            var unit = [Double](repeating: 0, count: minimum.positions.count)
            unit[component] = 1
            let hv = try forceDifference(along: unit, step: displacement)
            for (row, index) in components.enumerated() { result[row, column] = hv[index] }
        }
        result.symmetrize()
        return result
    }
}

/// Responses of the minimum to homogeneous strains e_g of the cell (positions follow the cell,
/// scaled coordinates fixed), by central differences of the virial and forces.
public struct StrainResponse: Sendable {
    /// Strain generators, Voigt (xx, yy, zz, yz, xz, xy): iso [1,1,1,0,0,0], aniso the three
    /// axes, elastic constants all six unit strains.
    public var generators: [[Double]]
    /// ∂U/∂e_g at the minimum (≈ 0 after a cell relaxation).
    public var gradient: [Double]
    /// ∂²U/∂e_g∂e_h at fixed scaled coordinates (no internal relaxation).
    public var curvature: Matrix
    /// ∂F/∂e_g, 3N × n_strain: the forces a homogeneous strain induces (−∂²U/∂X∂e).
    public var forceDerivative: Matrix

    /// - Parameter step: strain of the central differences (1e-4: error ~1e-8 relative).
    public static func measure(_ hessian: Hessian, generators: [[Double]], step: Double = 1e-4) throws -> StrainResponse {
        let system = hessian.system
        let box = hessian.minimum.box

        /// ∂U/∂e_g for every g, and the forces, in the cell strained by `e`. With F = I + Σ e_g G_g,
        /// ∂U/∂F = −W F⁻ᵀ (W the virial), so ∂U/∂e_g = −Σ_ab (W F⁻ᵀ)_ab (G_g)_ab exactly at any strain.
        func state(_ e: [Double]) throws -> (dUdStrain: [Double], forces: [Double]) {
            try system.deform(box, by: e)
            let w = try system.virial()
            let inverse = inverseTransposedDeformation(e)
            let dUdF = (0..<3).map { a in (0..<3).map { b in -(0..<3).reduce(0.0) { $0 + w[a][$1] * inverse[$1][b] } } }
            let dU = generators.map { generator in
                zip(generator, Voigt.entries).reduce(0.0) { $0 + $1.0 * dUdF[$1.1.0][$1.1.1] }
            }
            let forces = try system.forces()
            try hessian.restoreMinimum()
            return (dU, forces)
        }

        let n = generators.count
        let atRest = try state([Double](repeating: 0, count: 6))
        var curvature = Matrix(rows: n, columns: n)
        var forceDerivative = Matrix(rows: hessian.minimum.positions.count, columns: n)
        for (h, generator) in generators.enumerated() {
            let plus = try state(generator.map { step * $0 })
            let minus = try state(generator.map { -step * $0 })
            for g in 0..<n { curvature[g, h] = (plus.dUdStrain[g] - minus.dUdStrain[g]) / (2 * step) }
            forceDerivative.setColumn(h, hessian.degreesOfFreedom.project(
                zip(plus.forces, minus.forces).map { ($0 - $1) / (2 * step) }))
        }
        curvature.symmetrize()
        return StrainResponse(generators: generators, gradient: atRest.dUdStrain, curvature: curvature,
                              forceDerivative: forceDerivative)
    }

    /// F⁻ᵀ for the upper-triangular F = I + ∇u of a Voigt strain.
    static func inverseTransposedDeformation(_ e: [Double]) -> [[Double]] {
        let g = Voigt.displacementGradient(e)
        let f = (0..<3).map { a in (0..<3).map { b in (a == b ? 1 : 0) + g[a][b] } }
        // Back substitution for the inverse of an upper-triangular matrix.
        var inverse = [[Double]](repeating: [0, 0, 0], count: 3)
        for column in 0..<3 {
            for row in stride(from: column, through: 0, by: -1) {
                var sum: Double = row == column ? 1 : 0
                for k in (row + 1)..<3 where k <= column { sum -= f[row][k] * inverse[k][column] }
                inverse[row][column] = sum / f[row][row]
            }
        }
        return (0..<3).map { a in (0..<3).map { b in inverse[b][a] } }
    }
}
