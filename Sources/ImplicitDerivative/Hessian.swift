import Atomistics
import Foundation
import LAMMPSLibrary

/// The Cartesian components that may move (not held by a fix such as `fix setforce 0 0 0`), and
/// the rigid translations that are exact zero modes of the Hessian.
public struct DegreesOfFreedom: Sendable {
    /// 3 flags per atom, atom-ID order.
    public var mobile: [Bool]
    /// Axes along which translating every atom changes nothing (no component along it is held).
    public var translationAxes: [Int]

    public var mobileCount: Int { mobile.filter { $0 }.count }

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

/// Second derivatives of the energy at a minimum X*, from LAMMPS forces only: Hessian-vector
/// products by forward force differences, and responses to homogeneous strain.
public final class Hessian {
    public let simulation: Simulation
    /// The minimum (wrapped positions and their image flags, atom-ID order).
    public let minimum: Structure
    public let degreesOfFreedom: DegreesOfFreedom
    /// Residual forces at X* (≈ 0 at a converged minimum), subtracted from every difference.
    private let residualForces: [Double]
    /// Largest atomic displacement of a finite difference (Å): error ~1e-5 relative.
    public var displacement = 1e-5
    public private(set) var forceEvaluations = 0

    public init(simulation: Simulation) throws {
        self.simulation = simulation
        minimum = try simulation.structure()
        residualForces = try simulation.forces(at: minimum.positions)
        degreesOfFreedom = try Hessian.detectDegreesOfFreedom(simulation, at: minimum)
        forceEvaluations = 2
        try restoreMinimum()
    }

    /// Components whose force a fix sets to zero read exactly 0.0 at a randomly displaced
    /// configuration; no free component does.
    private static func detectDegreesOfFreedom(_ simulation: Simulation, at minimum: Structure) throws -> DegreesOfFreedom {
        var generator = SplitMix64(seed: 2024)
        let displaced = minimum.positions.map { $0 + Double.random(in: -0.01...0.01, using: &generator) }
        let forces = try simulation.forces(at: displaced)
        let mobile = forces.map { $0 != 0 }
        let axes = (0..<3).filter { axis in stride(from: axis, to: mobile.count, by: 3).allSatisfy { mobile[$0] } }
        return DegreesOfFreedom(mobile: mobile, translationAxes: axes)
    }

    /// Puts the atoms back exactly at X*, images included.
    public func restoreMinimum() throws { try simulation.restore(minimum) }

    /// H v with H = ∇²U restricted to the mobile components and projected: one force evaluation.
    public func apply(_ vector: [Double]) throws -> [Double] {
        let v = degreesOfFreedom.project(vector)
        let largest = largestAtomNorm(v)
        guard largest > 0 else { return v }
        return degreesOfFreedom.project(try forceDifference(along: v, step: displacement / largest))
    }

    /// −(F(X* + step·v) − F(X*)) / step ≈ H v: one force evaluation.
    private func forceDifference(along v: [Double], step: Double) throws -> [Double] {
        let forces = try simulation.forces(at: zip(minimum.positions, v).map { $0 + step * $1 })
        forceEvaluations += 1
        return zip(forces, residualForces).map { -($0 - $1) / step }
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

/// Responses of the minimum to homogeneous strains ε_g of the cell (positions follow the cell,
/// scaled coordinates fixed), by central differences of LAMMPS's virial and forces.
public struct StrainResponse: Sendable {
    /// Diagonal strain generators: iso [[1,1,1]], aniso the three axes.
    public var generators: [[Double]]
    /// ∂U/∂ε_g at the minimum (≈ 0 after a cell relaxation).
    public var gradient: [Double]
    /// ∂²U/∂ε_g∂ε_h at fixed scaled coordinates (no internal relaxation).
    public var curvature: Matrix
    /// ∂F/∂ε_g, 3N × n_strain: the forces a homogeneous strain induces (−∂²U/∂X∂ε).
    public var forceDerivative: Matrix

    public static func generators(for cell: CellRelaxation) -> [[Double]] {
        switch cell {
        case .fixed: return []
        case .iso: return [[1, 1, 1]]
        case .aniso: return [[1, 0, 0], [0, 1, 0], [0, 0, 1]]
        }
    }

    /// - Parameter step: strain of the central differences (1e-4: error ~1e-8 relative).
    public static func measure(_ hessian: Hessian, generators: [[Double]], step: Double = 1e-4) throws -> StrainResponse {
        let simulation = hessian.simulation
        let lammps = simulation.lammps
        try lammps.command("compute ilmp_virial all pressure NULL virial")
        defer { try? lammps.command("uncompute ilmp_virial") }
        let box = hessian.minimum.box
        let nktv2p = try lammps.global("nktv2p")

        /// ∂U/∂ε_g for every g and the forces, in the cell strained by `strain` (diagonal).
        func state(_ strain: [Double]) throws -> (dUdStrain: [Double], forces: [Double]) {
            let scales = strain.map { 1 + $0 }
            try lammps.command("change_box all " + (0..<3).map { axis in
                let center = (box.low[axis] + box.high[axis]) / 2
                let half = (box.high[axis] - box.low[axis]) / 2 * scales[axis]
                return "\(["x", "y", "z"][axis]) final \(center - half) \(center + half)"
            }.joined(separator: " ") + " remap units box")
            try simulation.evaluate()
            let pressure = try lammps.computeVector("ilmp_virial")
            guard pressure.allSatisfy(\.isFinite) else {
                throw InputError.nonFinite("the virial at strain \(strain) is \(pressure)")
            }
            let volume = lammps.box().volume
            // Virial W_aa = P_aa V (energy units); ∂U/∂ε_g = −Σ_a G_g,a W_aa / (1 + ε_a) at strain ε.
            let dU = generators.map { generator in
                -(0..<3).reduce(0.0) { $0 + generator[$1] * pressure[$1] * volume / nktv2p / scales[$1] }
            }
            let forces = try simulation.forces()
            try hessian.restoreMinimum()
            return (dU, forces)
        }

        let n = generators.count
        let atRest = try state([0, 0, 0])
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
}
