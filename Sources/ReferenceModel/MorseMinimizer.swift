import Atomistics
import Foundation
import LinearAlgebra

/// The reference model's own relaxation: FIRE (Bitzek et al., PRL 97, 170201 (2006)) down to a
/// loose residual, then Newton steps with the analytic Hessian, which reach the floating-point
/// floor in a few steps, far below any tolerance the tests ask of LAMMPS. A cell relaxation
/// (iso or aniso, to zero pressure) wraps it in Newton steps on the strain.
extension MorseCrystal {
    public func minimize(_ settings: RelaxationSettings, label: String, progress: (String) -> Void) throws -> RelaxationResult {
        let steps = settings.cell == .fixed ? try relaxPositions(settings) : try relaxCell(settings).steps
        wrap()
        relaxationIterations += steps
        return try relaxationReport(settings, steps: steps)
    }

    public func relaxationReport(_ settings: RelaxationSettings, steps: Int) throws -> RelaxationResult {
        let maxForce = try largestForce()
        let w = try virial()
        // |P|·V as LAMMPS's relaxations report it: the mean pressure (iso) or each axis's (aniso).
        let cellResidual = settings.cell.drivenMagnitude((0..<3).map { w[$0][$0] })
        let converged = maxForce <= settings.ftol && cellResidual <= settings.ftol
        var result = RelaxationResult.finished(
            energy: try energy(), volume: box.volume, cell: box.cell, natoms: atomCount, maxForce: maxForce,
            cellResidual: cellResidual, pressure: (0..<3).map { w[$0][$0] / box.volume }, steps: steps, cycles: 1,
            converged: converged, stop: converged ? .converged : (steps >= settings.maxIterations ? .iterationLimit : .stagnated),
            units: "metal", settings: settings)
        result.forceEvaluations = steps
        return result
    }

    public func evaluation(at positions: [Double], images: [Int32], virial withVirial: Bool) throws -> PointEvaluation {
        setPositions(positions, images: images)
        return PointEvaluation(energy: try energy(), forces: try forces(), virial: withVirial ? try virial() : nil)
    }

    /// At fixed cell; returns the steps taken. Newton starts once FIRE has brought the forces to
    /// 1e-2 eV/Å; should it not converge from there (an indefinite Hessian), FIRE goes on to 1e-4 first.
    private func relaxPositions(_ settings: RelaxationSettings) throws -> Int {
        var steps = 0
        for newtonFrom in [1e-2, 1e-4] {
            steps += try fire(until: max(settings.ftol, newtonFrom), maxSteps: settings.maxIterations - steps)
            var newtonSteps = 0
            while try largestForce() > settings.ftol, newtonSteps < 10, steps < settings.maxIterations {
                try newtonStep()
                newtonSteps += 1
                steps += 1
            }
            if try largestForce() <= settings.ftol { break }
        }
        return steps
    }

    /// Newton on the strains e_g of `CellRelaxation.strainGenerators` (positions relaxed at every
    /// cell, the Jacobian by forward differences) until ∂U/∂e_g, the cell residual, is below ftol.
    private func relaxCell(_ settings: RelaxationSettings) throws -> (steps: Int, residual: Double) {
        let generators = settings.cell.strainGenerators
        let reference = box
        var steps = 0
        func gradient(_ e: [Double]) throws -> [Double] {
            let strain = (0..<6).map { k in zip(e, generators).reduce(0) { $0 + $1.0 * $1.1[k] } }
            try deform(reference, by: strain)
            steps += try relaxPositions(settings)
            return settings.cell.strainGradient(virial: try virial(), strain: Array(strain[..<3]))
        }
        var e = [Double](repeating: 0, count: generators.count)
        var g = try gradient(e)
        for _ in 0..<30 where g.map(abs).max()! > settings.ftol {
            let h = 1e-6
            var jacobian = Matrix(rows: e.count, columns: e.count)
            for column in e.indices {
                var shifted = e
                shifted[column] += h
                let moved = try gradient(shifted)
                for row in e.indices { jacobian[row, column] = (moved[row] - g[row]) / h }
            }
            jacobian.symmetrize()
            let step = try LAPACK.solveSymmetric(jacobian, Matrix(rows: e.count, columns: 1, storage: g.map { -$0 }))
            // A trust region: far from the minimum the relaxed energy need not be convex in the strain.
            let largest = step.storage.map(abs).max()!, limit = 0.02
            e = zip(e, step.storage).map { $0 + $1 * min(1, limit / largest) }
            g = try gradient(e)
        }
        return (steps, g.map(abs).max()!)
    }

    func largestForce() throws -> Double { largestAtomNorm(try forces()) }

    /// FIRE with unit masses; returns the steps taken.
    private func fire(until tolerance: Double, maxSteps: Int) throws -> Int {
        var x = currentPositions
        var v = [Double](repeating: 0, count: x.count)
        var (dt, mixing, positiveSteps) = (0.05, 0.1, 0)
        var step = 0
        while step < maxSteps {
            let f = try forces()
            if largestAtomNorm(f) <= tolerance { break }
            let power = dot(f, v)
            if power > 0 {
                let scale = norm(v) / max(norm(f), 1e-300)
                for k in v.indices { v[k] = (1 - mixing) * v[k] + mixing * scale * f[k] }
                positiveSteps += 1
                if positiveSteps > 5 { (dt, mixing) = (min(dt * 1.1, 0.2), mixing * 0.99) }
            } else {
                v = [Double](repeating: 0, count: v.count)
                (dt, mixing, positiveSteps) = (dt * 0.5, 0.1, 0)
            }
            for k in v.indices {
                v[k] += dt * f[k]
                x[k] += dt * v[k]
            }
            setPositions(x)
            step += 1
        }
        return step
    }

    /// One Newton step on the mobile components; the rigid translations (zero modes along axes
    /// where no atom is held) are removed by constraints, as the dense solver does.
    private func newtonStep() throws {
        let f = try forces()
        let mobile = (0..<f.count).filter { !held[$0 / 3] }
        let axes = (0..<3).filter { axis in !held.contains(true) || mobile.filter { $0 % 3 == axis }.count == atomCount }
        let h = hessianMatrix()
        let (n, m) = (mobile.count, axes.count)
        var system = Matrix(rows: n + m, columns: n + m)
        var rhs = Matrix(rows: n + m, columns: 1)
        for (i, p) in mobile.enumerated() {
            rhs[i, 0] = f[p]
            for (j, q) in mobile.enumerated() { system[i, j] = h[p, q] }
            for (c, axis) in axes.enumerated() where p % 3 == axis { system[i, n + c] = 1; system[n + c, i] = 1 }
        }
        let step = try LAPACK.solveSymmetric(system, rhs)
        var x = currentPositions
        for (i, p) in mobile.enumerated() { x[p] += step[i, 0] }
        setPositions(x)
    }
}
