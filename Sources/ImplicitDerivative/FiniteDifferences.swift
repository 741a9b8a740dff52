import Atomistics
import Foundation
import LinearAlgebra
import Potentials

extension ImplicitDifferentiation {
    /// ∇Θ X* by central finite differences of true re-relaxations: the independent ground truth
    /// every method is checked against. For each parameter l, Θ_l ± h_l with
    /// h_l = `forceChange` / max|[∇²ΘX U]_l| (the largest force changes by `forceChange` eV/Å,
    /// displacements ~1e-4 Å), relaxed from X* with CG to `ftol`; rigid drift removed.
    /// Leaves the system at X* with its original potential, also when a relaxation fails.
    public static func finiteDifferenceDerivative(_ system: any ParameterDerivatives, mixedHessian: Matrix, parameters: [Int],
                                                  translationAxes: [Int] = [0, 1, 2], ftol: Double = 1e-11,
                                                  forceChange: Double = 1e-3) throws -> Matrix {
        let provider = system.forceProvider
        let theta = system.theta
        return try system.preservingParameters { minimum in
            let reference = minimum.unwrappedPositions
            var result = Matrix(rows: reference.count, columns: parameters.count)
            for (column, l) in parameters.enumerated() {
                // A parameter that moves no atom (an energy scale) gets a small relative step instead.
                let scale = mixedHessian.column(l).map(abs).max() ?? 0
                // A parameter whose forces are tiny (SW's λ at a vacancy) would get a huge step: at most 1 %.
                var h = scale > 0 ? forceChange / scale : 1e-4 * max(abs(theta[l]), 1e-8)
                if theta[l] != 0 { h = min(h, 1e-2 * abs(theta[l])) }
                // A parameter at zero (often a bound) gets the one-sided stencil; its f(0) is X* itself.
                let stencil = DifferenceStencil(value: theta[l], step: h)
                let relaxed = try stencil.offsets.map { offset -> [Double] in
                    guard offset != 0 else { return reference }
                    var perturbed = theta
                    perturbed[l] += offset
                    try system.setTheta(perturbed)
                    try provider.restore(minimum)
                    _ = try provider.relaxation(RelaxationSettings(ftol: ftol), label: "relax", progress: { _ in })
                    return try provider.structure().unwrappedPositions
                }
                let difference = stencil.derivative(relaxed)
                result.setColumn(column, removingTranslations(difference, axes: translationAxes))
            }
            return result
        }
    }
}
