import Atomistics
import Foundation
import LinearAlgebra

/// The reference model's own relaxation: FIRE (Bitzek et al., PRL 97, 170201 (2006)) down to a
/// loose residual, then Newton steps with the analytic Hessian, which reach the floating-point
/// floor in a few steps, far below any tolerance the tests ask of LAMMPS.
extension MorseCrystal {
    public func minimize(_ settings: RelaxationSettings, label: String, progress: (String) -> Void) throws -> RelaxationResult {
        guard settings.cell == .fixed else {
            throw InputError.invalid("the reference model relaxes at fixed cell only")
        }
        var steps = try fire(until: max(settings.ftol, 1e-4), maxSteps: settings.maxIterations)
        var newtonSteps = 0
        while try largestForce() > settings.ftol, newtonSteps < 20, steps < settings.maxIterations {
            try newtonStep()
            newtonSteps += 1
            steps += 1
        }
        wrap()
        let maxForce = try largestForce()
        let converged = maxForce <= settings.ftol
        let virial = try virial()
        return RelaxationResult.finished(
            energy: try energy(), volume: box.volume, cell: box.cell, natoms: atomCount, maxForce: maxForce,
            cellResidual: 0, pressure: (0..<3).map { virial[$0][$0] / box.volume }, steps: steps, cycles: 1,
            converged: converged, stop: converged ? .converged : (steps >= settings.maxIterations ? .iterationLimit : .stagnated),
            units: "metal", settings: settings)
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
