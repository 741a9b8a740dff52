import Atomistics
import Foundation
import ImplicitDerivative
import Potentials

/// A true relaxation (LAMMPS, or the reference model) with changed parameters, started from the
/// reference minimum: the independent check of every prediction (predict --validate, and the fit
/// and uq truth runs).
public struct TrueMinimum: Sendable {
    public var energy: Double
    public var volume: Double
    /// Strain per generator of the reference's cell relaxation (iso: one number).
    public var strain: [Double]
    public var positions: [Double]
    public var relaxation: RelaxationResult

    /// Relaxes `energy` with parameters `theta` (cell as it was relaxed at the minimum of
    /// `derivatives`), then puts the reference parameters back. It starts from `start` — a warm
    /// start, the h+ih prediction for `theta`, nearer the new minimum than X* is — or from X*.
    public static func relax(_ energy: any ParameterDerivatives, theta: [Double], from derivatives: MinimumDerivatives,
                             start: Structure? = nil, ftol: Double, minStyle: MinimizerStyle = .cg,
                             reusing: PreconditionedLBFGS.Reuse? = nil,
                             progress: @escaping (String) -> Void = { _ in }) throws -> TrueMinimum {
        let reference = energy.theta
        try energy.setTheta(theta)
        defer { try? energy.setTheta(reference) }
        let system = energy.forceProvider
        try system.restore(start ?? derivatives.structure)
        let result = try system.relaxationKeepingScales(RelaxationSettings(cell: derivatives.cell, ftol: ftol, minStyle: minStyle),
                                                        label: "validate", reusing: reusing, progress: progress).result
        let relaxed = try system.structure()
        let box = relaxed.box, start = derivatives.structure.box
        let strain = derivatives.cell.strainGenerators.map { generator -> Double in
            // Strain along the generator's first axis: cell lengths scale as 1 + e.
            let axis = generator.firstIndex { $0 != 0 }!
            return (box.high[axis] - box.low[axis]) / (start.high[axis] - start.low[axis]) - 1
        }
        return TrueMinimum(energy: result.energy, volume: result.volume, strain: strain,
                           positions: relaxed.unwrappedPositions, relaxation: result)
    }
}
