import Atomistics
import Foundation
import ImplicitDerivative
import LinearAlgebra
import Potentials
import Workflows

/// Stillinger–Weber silicon through the finite-difference conformer: cost of ∇Θ X* (vacancy) and
/// ∇Θ C (bulk) against finite differences of true re-relaxations, at ~200 and ~1700 atoms.
func potentialBenchmark() throws {
    let allFields = ["epsilon", "sigma", "a", "lambda", "gamma", "costheta0", "A", "B", "p", "q"]
    let parameterSets = [["epsilon", "lambda"], allFields]
    print("SW silicon, ∇Θ X* of a vacancy (fixed cell, sparse method) against central differences of true")
    print("re-relaxations (CG, ftol 1e-11). Evaluations of the implicit derivative: FD mixed Hessian (2 per")
    print("parameter) + Hessian products; of the truth: CG iterations of 2 relaxations per parameter.\n")
    print("atoms  N_D  implicit: evals   wall s | truth: CG its   wall s | rel. error (Frobenius)")
    for cells in [3, 6] {
        for fields in parameterSets {
            let energy = try relaxedSilicon("Si_vacancy.lammps", cells: cells, fields: fields, cell: .fixed)
            let simulation = energy.simulation
            try simulation.evaluate()
            var derivative: PositionDerivative!
            var mixed: Matrix!
            var evaluations = 0
            let implicitSeconds = try seconds {
                mixed = try energy.mixedHessian()
                let hessian = try Hessian(system: simulation)
                derivative = try ImplicitDifferentiation.positionDerivative(energy, hessian: hessian, mixedHessian: mixed,
                                                                            method: SparseMethod())
                evaluations = energy.evaluations + hessian.forceEvaluations
            }
            var truth: Matrix!
            var iterations = 0
            let truthSeconds = try seconds {
                let before = simulation.relaxationIterations
                truth = try ImplicitDifferentiation.finiteDifferenceDerivative(
                    energy, mixedHessian: mixed, parameters: Array(0..<energy.parameterCount))
                iterations = simulation.relaxationIterations - before
            }
            let error = truth.frobeniusNorm > 0 ? (derivative.matrix - truth).frobeniusNorm / truth.frobeniusNorm : 0
            print(String(format: "%5d  %3d  %15d  %7.2f | %13d  %7.2f | %.1e", energy.atomCount, energy.parameterCount,
                         evaluations, implicitSeconds, iterations, truthSeconds, error))
        }
    }

    print("\nSW silicon bulk, ∇Θ C (aniso cell relaxation). Implicit: C from virial strains and one linear")
    print("solve per C, ∇Θ C by central differences of C in Θ (2 cell+atom relaxations and 2 C per parameter).")
    print("Truth: LAMMPS's ELASTIC method at each Θ ± h (12 strained relaxations per C).\n")
    print("atoms  N_D  implicit: evals + CG its   wall s | ELASTIC truth: CG its   wall s | max rel. diff of dC11, dC12, dC44")
    for cells in [3, 6] {
        for fields in parameterSets {
            let energy = try relaxedSilicon("Si_diamond.lammps", cells: cells, fields: fields, cell: .aniso)
            let simulation = energy.simulation
            let reference = try simulation.structure()
            var result: ElasticParameterDerivative.Result!
            let implicitSeconds = try seconds {
                result = try ElasticParameterDerivative(cell: .aniso, ftol: 1e-11)
                    .compute(energy, reference: reference, method: SparseMethod())
            }
            let theta = energy.theta
            var iterations = 0
            var worst = 0.0, worstName = ""
            let truthSeconds = try seconds {
                let before = simulation.relaxationIterations
                for l in theta.indices {
                    let h = theta[l] == 0 ? 1e-3 : 1e-3 * abs(theta[l])
                    // At Θ_l = 0 (SW's q) the one-sided stencil, as the tool uses.
                    let stencil = DifferenceStencil(value: theta[l], step: h)
                    var constants: [[[Double]]] = []
                    for offset in stencil.offsets {
                        var shifted = theta
                        shifted[l] += offset
                        try energy.setTheta(shifted)
                        try simulation.restore(reference)
                        try simulation.relax(RelaxationSettings(cell: .aniso, ftol: 1e-11, minStyle: .cg))
                        constants.append(try elasticByFiniteStrains(simulation))
                    }
                    let derivative = stencil.derivative(constants.map { $0.flatMap { $0 } })
                    for (i, j) in [(0, 0), (0, 1), (3, 3)] {
                        let truth = derivative[6 * i + j]
                        let scale = max(abs(truth), 1e-3 * abs(constants[0][i][j]) / max(abs(theta[l]), 1))
                        let difference = abs(result.derivative[l][i][j] - truth) / scale
                        if difference > worst { (worst, worstName) = (difference, "dC\(i + 1)\(j + 1)/d\(fields[l])") }
                    }
                }
                iterations = simulation.relaxationIterations - before
                try energy.setTheta(theta)
            }
            print(String(format: "%5d  %3d  %10d + %8d  %7.2f | %21d  %7.2f | %.1e (%@)", energy.atomCount, energy.parameterCount,
                         result.forceEvaluations, result.relaxationIterations, implicitSeconds, iterations, truthSeconds, worst,
                         worstName))
        }
    }
}

/// A shipped silicon input with `cells`³ conventional cells, Θ = `fields` of its Si entry, relaxed.
func relaxedSilicon(_ input: String, cells: Int, fields: [String], cell: CellRelaxation) throws -> FiniteDifferenceEnergy {
    let simulation = try Simulation(input: root.appendingPathComponent("inputs/\(input)").path,
                                    extraArguments: ["-var", "ncell", "\(cells)"])
    let energy = try FiniteDifferenceEnergy(
        simulation: simulation, source: try FileFieldParameters(selections: [("Si,Si,Si", fields)], simulation: simulation))
    try simulation.relax(RelaxationSettings(cell: cell, ftol: 1e-11, minStyle: .cg))
    return energy
}

/// C_ij = −∂P_i/∂e_j (GPa) by central strains ±1e-4 with the atoms relaxed, as LAMMPS's ELASTIC example.
func elasticByFiniteStrains(_ simulation: Simulation) throws -> [[Double]] {
    let reference = try simulation.structure()
    try simulation.makeTriclinic()
    var columns: [[Double]] = []
    for j in 0..<6 {
        var pressures: [[Double]] = []
        for sign in [1.0, -1.0] {
            try simulation.deform(reference.box, by: Voigt.unit(j).map { $0 * sign * 1e-4 })
            try simulation.relax(RelaxationSettings(ftol: 1e-12, minStyle: .cg))
            pressures.append(try ["pxx", "pyy", "pzz", "pyz", "pxz", "pxy"].map { try simulation.lammps.thermo($0) })
            try simulation.restore(reference)
        }
        columns.append((0..<6).map { i in -(pressures[0][i] - pressures[1][i]) / 2e-4 * 1e-4 })
    }
    return (0..<6).map { i in (0..<6).map { j in columns[j][i] } }
}
