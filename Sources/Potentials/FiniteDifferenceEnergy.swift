import Atomistics
import Foundation
import LAMMPSLibrary
import LinearAlgebra

/// Where the parameters of a non-SNAP potential live, and how LAMMPS is told new values.
public protocol ParameterSource: AnyObject {
    var names: [String] { get }
    var initialValues: [Double] { get }
    var kind: String { get }
    var files: [String] { get }
    /// The commands that make LAMMPS use `theta` (files written into `scratch` as needed).
    func commands(for theta: [Double], scratch: URL) throws -> [PotentialCommand]
    /// The potential's own files for `theta`, written into `directory`.
    func write(theta: [Double], to directory: URL) throws -> [URL]
    /// Θ of another such file (the inverse of `write`).
    func read(_ url: URL) throws -> [Double]
}

/// Any LAMMPS potential, differentiated in Θ by central differences of LAMMPS's energies,
/// forces and virials: two evaluations per parameter at the current positions, with the step
/// h_l = `relativeStep`·|Θ_l| (`relativeStep` and a one-sided formula when Θ_l = 0), reported
/// in `summary`.
/// Truncation errors are O(h²) ≈ 1e-10 relative; each column costs two force evaluations.
public final class FiniteDifferenceEnergy: ParametrizedEnergy {
    public let simulation: Simulation
    public let source: ParameterSource
    public private(set) var theta: [Double]
    public var relativeStep = 1e-5
    /// Where a line goes at least every ~10 s while the finite differences run (slow potentials).
    public var progress: (String) -> Void = { _ in }
    public var scratch: URL
    /// Force evaluations spent on parameter derivatives so far.
    public private(set) var evaluations = 0

    public var parameterNames: [String] { source.names }
    public var steps: [Double] { theta.map { $0 == 0 ? relativeStep : relativeStep * abs($0) } }

    public init(simulation: Simulation, source: ParameterSource, scratch: URL? = nil) throws {
        self.simulation = simulation
        self.source = source
        theta = source.initialValues
        self.scratch = scratch ?? FileManager.default.temporaryDirectory
            .appendingPathComponent("implicit-lammps-\(ProcessInfo.processInfo.processIdentifier)-\(simulation.lammps.mpiRank)")
    }

    public func setTheta(_ theta: [Double]) throws {
        precondition(theta.count == parameterCount)
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        try simulation.redefinePotential(try source.commands(for: theta, scratch: scratch))
        self.theta = theta
        cache = nil
    }

    public func writePotential(theta: [Double], to directory: URL) throws -> [URL] {
        try source.write(theta: theta, to: directory)
    }

    public func loadingCommands(theta: [Double], writtenTo directory: URL) throws -> [String] {
        try source.commands(for: theta, scratch: directory).map(\.text)
    }

    public func parameterChange(readingPotentialFrom url: URL) throws -> ParameterChange {
        ParameterChange(theta: try source.read(url))
    }

    public var summary: PotentialDescription {
        var settings = ["relative_step": "\(relativeStep)"]
        for (name, (step, value)) in zip(parameterNames, zip(steps, theta)) {
            settings["step \(name)"] = "\(step)" + (value == 0 ? " (forward)" : "")
        }
        return PotentialDescription(kind: source.kind, files: source.files, parameterNames: parameterNames,
                                    settings: settings)
    }

    // MARK: - Derivatives by central differences in Θ

    /// ∂U/∂Θ, ∂F/∂Θ and ∂W/∂Θ at one configuration.
    private struct Differences {
        var positions: [Double]
        var box: Box
        var energy: [Double]
        var forces: Matrix
        /// Per parameter, ∂W/∂Θ_l (3×3, energy units).
        var virial: [[[Double]]]
    }
    private var cache: Differences?

    private func differences() throws -> Differences {
        let positions = try simulation.lammps.gather("x", count: 3)
        let box = simulation.lammps.box()
        if let cache, cache.positions == positions, cache.box == box { return cache }
        let result = try measureDifferences(positions: positions, box: box)
        cache = result
        return result
    }

    private func measureDifferences(positions: [Double], box: Box) throws -> Differences {
        // The reference potential and configuration come back whatever happens (errors included).
        try preservingParameters(reevaluating: true) { saved in
            try measureDifferencesChangingTheta(positions: positions, box: box, images: Structure.encodeImages(saved.images))
        }
    }

    private func measureDifferencesChangingTheta(positions: [Double], box: Box, images: [Int32]) throws -> Differences {
        let reference = theta
        var energy: [Double] = [], virial: [[[Double]]] = []
        var forces = Matrix(rows: positions.count, columns: parameterCount)
        typealias State = (energy: Double, forces: [Double], virial: [[Double]])
        func state(_ theta: [Double], parameter l: Int) throws -> State {
            do {
                try setTheta(theta)
                try simulation.lammps.scatter("x", count: 3, values: positions)
                try simulation.lammps.scatterIntegers("image", values: images)
                let w = try simulation.virial()  // evaluates energy, forces and virial
                evaluations += 1
                return (try simulation.energy(), try simulation.forces(), w)
            } catch {
                throw PotentialError.finiteDifferenceFailed(parameter: parameterNames[l], from: reference[l], to: theta[l],
                                                            underlying: "\(error)")
            }
        }
        var base: State?  // f(0), shared by the one-sided stencils of parameters at zero
        let clock = ProgressClock()
        for l in 0..<parameterCount {
            if clock.isDue() { progress("  finite differences in Θ: parameter \(l + 1)/\(parameterCount), \(clock.elapsed) s") }
            let stencil = DifferenceStencil(value: reference[l], step: steps[l])
            let states = try stencil.offsets.map { offset -> State in
                if offset == 0 {
                    if base == nil { base = try state(reference, parameter: l) }
                    return base!
                }
                var shifted = reference
                shifted[l] += offset
                return try state(shifted, parameter: l)
            }
            energy.append(stencil.derivative(states.map { [$0.energy] })[0])
            forces.setColumn(l, stencil.derivative(states.map(\.forces)))
            let w = stencil.derivative(states.map { $0.virial.flatMap { $0 } })
            virial.append((0..<3).map { a in Array(w[3 * a..<3 * a + 3]) })
        }
        return Differences(positions: positions, box: box, energy: energy, forces: forces, virial: virial)
    }

    public func energyGradient() throws -> [Double] { try differences().energy }

    /// (∇²ΘX U) v by a central difference along v in Θ: two force evaluations, whatever N_D. The
    /// step moves no parameter by more than its own step h_l; parameters at zero (bounds) are
    /// differenced one-sided on their own (three evaluations, the base shared), as in `differences`.
    public func mixedHessianProduct(_ v: [Double]) throws -> [Double] {
        try preservingParameters(reevaluating: true) { saved in try mixedHessianProductChangingTheta(v, positions: saved.positions) }
    }

    private func mixedHessianProductChangingTheta(_ v: [Double], positions: [Double]) throws -> [Double] {
        let reference = theta
        func forces(_ shift: [Double]) throws -> [Double] {
            try setTheta(zip(reference, shift).map { $0 + $1 })
            evaluations += 1
            return try simulation.forces(at: positions)
        }
        var product = [Double](repeating: 0, count: positions.count)
        let atBound = v.indices.filter { reference[$0] == 0 && v[$0] != 0 }
        let central = v.indices.map { atBound.contains($0) ? 0 : v[$0] }
        if let scale = central.indices.filter({ central[$0] != 0 }).map({ steps[$0] / abs(central[$0]) }).min() {
            // Along the direction `central`, scaled so that no parameter moves by more than its step.
            let stencil = DifferenceStencil(step: scale, oneSided: false)
            let derivative = stencil.derivative(try stencil.offsets.map { offset in try forces(central.map { offset * $0 }) })
            for i in product.indices { product[i] -= derivative[i] }
        }
        var base: [Double]?
        for l in atBound {
            let stencil = DifferenceStencil(step: steps[l], oneSided: true)
            let derivative = stencil.derivative(try stencil.offsets.map { offset in
                if offset == 0, let base { return base }
                var shift = [Double](repeating: 0, count: v.count)
                shift[l] = offset
                let values = try forces(shift)
                if offset == 0 { base = values }
                return values
            })
            for i in product.indices { product[i] -= v[l] * derivative[i] }
        }
        return product
    }

    public func mixedHessian() throws -> Matrix {
        let forces = try differences().forces
        return Matrix(rows: forces.rows, columns: forces.columns, storage: forces.storage.map { -$0 })
    }

    /// ∇²ΘΘ U at the current positions by second differences of LAMMPS energies with the steps
    /// ×`hessianStepFactor`, at most 1 % of a parameter (energies need larger steps than forces:
    /// their round-off is divided by h²): 1 + 2 N_D² energy evaluations, e.g. 73 for N_D = 6.
    /// Cross terms with a parameter at zero use a one-sided difference (first order in its step).
    public func parameterHessian() throws -> Matrix {
        // Θ and the configuration come back whatever happens (errors included).
        try preservingParameters(reevaluating: true) { saved in try parameterHessianChangingTheta(at: saved) }
    }

    private func parameterHessianChangingTheta(at saved: Structure) throws -> Matrix {
        let positions = saved.positions, images = Structure.encodeImages(saved.images)
        let reference = theta
        let n = parameterCount
        // Per parameter two offsets (central ±h, or forward h, 2h at Θ_l = 0), as in `differences`.
        let offsets = (0..<n).map { l -> (Double, Double) in
            let h = reference[l] == 0 ? steps[l] * hessianStepFactor : min(steps[l] * hessianStepFactor, 1e-2 * abs(reference[l]))
            return reference[l] == 0 ? (h, 2 * h) : (h, -h)
        }
        func energy(_ shifts: [(Int, Double)]) throws -> Double {
            var shifted = reference
            for (l, offset) in shifts { shifted[l] += offset }
            try setTheta(shifted)
            try simulation.lammps.scatter("x", count: 3, values: positions)
            try simulation.lammps.scatterIntegers("image", values: images)
            try simulation.evaluate()
            evaluations += 1
            return try simulation.energy()
        }
        let base = try energy([])
        var result = Matrix(rows: n, columns: n)
        let clock = ProgressClock()
        for l in 0..<n {
            if clock.isDue() { progress("  ∇²ΘΘ U by finite differences: parameter \(l + 1)/\(n), \(clock.elapsed) s") }
            let (a, b) = offsets[l]
            let (ua, ub) = (try energy([(l, a)]), try energy([(l, b)]))
            // Three points 0, a, b: the second derivative of the parabola through them.
            result[l, l] = 2 * (ua / (a * (a - b)) - ub / (b * (a - b)) + base / (a * b))
            for k in 0..<l {
                let (c, d) = offsets[k]
                let mixed = try energy([(l, a), (k, c)]) - energy([(l, a), (k, d)])
                    - energy([(l, b), (k, c)]) + energy([(l, b), (k, d)])
                result[l, k] = mixed / ((a - b) * (c - d))
                result[k, l] = result[l, k]
            }
        }
        return result
    }

    /// Steps of `parameterHessian` relative to those of the first derivatives.
    public var hessianStepFactor = 100.0

    /// ∂U/∂e_g = −Σ W_ab G_g,ab at the reference cell (F = I), so ∂²U/∂Θ∂e_g = −Σ ∂W_ab/∂Θ G_g,ab.
    public func strainMixedDerivative(strains: [[Double]]) throws -> Matrix {
        let virial = try differences().virial
        var result = Matrix(rows: parameterCount, columns: strains.count)
        for (g, strain) in strains.enumerated() {
            for l in 0..<parameterCount {
                result[l, g] = -zip(strain, Voigt.entries).reduce(0) { $0 + $1.0 * virial[l][$1.1.0][$1.1.1] }
            }
        }
        return result
    }

}
