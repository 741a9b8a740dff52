import Atomistics
import Foundation

extension ImplicitDifferentiation {
    /// ∇Θ X* by central finite differences of true re-relaxations: the independent ground truth
    /// every method is checked against. For each parameter l, Θ_l ± h_l with
    /// h_l = `forceChange` / max|[∇²ΘX U]_l| (the largest force changes by `forceChange` eV/Å,
    /// displacements ~1e-4 Å), relaxed from X* with CG to `ftol`; rigid drift removed.
    /// Leaves the system at X* with its original potential.
    public static func finiteDifferenceDerivative(_ system: SNAPSystem, mixedHessian: Matrix, parameters: [Int],
                                                  translationAxes: [Int] = [0, 1, 2], ftol: Double = 1e-11,
                                                  forceChange: Double = 1e-3) throws -> Matrix {
        let simulation = system.simulation
        let minimum = try simulation.structure()
        let reference = minimum.unwrappedPositions
        let theta = system.potential.theta
        let originalFile = system.potential.coefficientFile
        let file = FileManager.default.temporaryDirectory
            .appendingPathComponent("implicit-lammps-\(ProcessInfo.processInfo.processIdentifier)-fd.snapcoeff")
        defer { try? FileManager.default.removeItem(at: file) }
        var result = Matrix(rows: reference.count, columns: parameters.count)
        for (column, l) in parameters.enumerated() {
            let h = forceChange / (mixedHessian.column(l).map(abs).max() ?? 1)
            var relaxed: [[Double]] = []
            for sign in [1.0, -1.0] {
                var perturbed = theta
                perturbed[l] += sign * h
                try system.use(system.potential.with(theta: perturbed), writingTo: file)
                try simulation.restore(minimum)
                try simulation.relax(RelaxationSettings(ftol: ftol))
                relaxed.append(try simulation.structure().unwrappedPositions)
            }
            let difference = zip(relaxed[0], relaxed[1]).map { ($0 - $1) / (2 * h) }
            result.setColumn(column, removingTranslations(difference, axes: translationAxes))
        }
        try system.use(coefficientsAt: originalFile)
        try simulation.restore(minimum)
        return result
    }
}
