import Atomistics
import Foundation
import ImplicitDerivative
import LinearAlgebra
import Potentials
import Workflows
import XCTest

/// Elastic constants of Stillinger–Weber silicon against LAMMPS itself: finite ± strains of the
/// relaxed cell with the atoms re-relaxed at each strain (the method of LAMMPS's ELASTIC example),
/// written here with plain change_box/minimize commands, independent of the tool's strain code.
final class ElasticTests: XCTestCase {
    private func relaxedSilicon(theta: [Double]? = nil) throws -> FiniteDifferenceEnergy {
        let energy = try Fixtures.silicon("Si_diamond.lammps", fields: ["sigma", "lambda"], cells: nil)
        if let theta { try energy.setTheta(theta) }
        try energy.simulation.relax(RelaxationSettings(cell: .aniso, ftol: 1e-11, minStyle: .cg))
        return energy
    }

    /// C_ij = −∂P_i/∂e_j (GPa) by central strains ±δ, atoms relaxed at each strain (Voigt order).
    private func lammpsFiniteStrainConstants(_ simulation: Simulation, delta: Double = 1e-4) throws -> [[Double]] {
        let lammps = simulation.lammps
        let reference = try simulation.structure()
        let lengths = (0..<3).map { reference.box.high[$0] - reference.box.low[$0] }
        try lammps.command("change_box all triclinic")
        var columns: [[Double]] = []
        for j in 0..<6 {
            var pressures: [[Double]] = []
            for sign in [1.0, -1.0] {
                try simulation.restore(reference)
                let d = sign * delta
                let command: String
                switch j {
                case 0, 1, 2:
                    let axis = ["x", "y", "z"][j]
                    command = "\(axis) final \(reference.box.low[j]) \(reference.box.high[j] + d * lengths[j])"
                case 3: command = "yz final \(d * lengths[2])"
                case 4: command = "xz final \(d * lengths[2])"
                default: command = "xy final \(d * lengths[1])"
                }
                try lammps.command("change_box all \(command) remap units box")
                try simulation.relax(RelaxationSettings(ftol: 1e-12, minStyle: .cg))
                pressures.append(try ["pxx", "pyy", "pzz", "pyz", "pxz", "pxy"].map { try lammps.thermo($0) })
            }
            columns.append((0..<6).map { i in -(pressures[0][i] - pressures[1][i]) / (2 * delta) * 1e-4 })
        }
        try simulation.restore(reference)
        return (0..<6).map { i in (0..<6).map { j in columns[j][i] } }
    }

    func testRelaxedIonConstantsMatchLAMMPSFiniteStrains() throws {
        let energy = try relaxedSilicon()
        let hessian = try Hessian(system: energy.simulation)
        let measured = try ElasticConstants.measure(energy, hessian: hessian, method: SparseMethod())
        let dense = try ElasticConstants.measure(energy, hessian: hessian, method: DenseMethod())
        let truth = try lammpsFiniteStrainConstants(energy.simulation)
        print("C11 C12 C44 tool:", measured.relaxedIon[0][0], measured.relaxedIon[0][1], measured.relaxedIon[3][3],
              "LAMMPS finite strains:", truth[0][0], truth[0][1], truth[3][3], "clamped C44:", measured.clampedIon[3][3])
        for (i, j) in [(0, 0), (0, 1), (3, 3), (1, 1), (4, 4)] {
            XCTAssertEqual(measured.relaxedIon[i][j], truth[i][j], accuracy: 0.005 * abs(truth[i][j]), "C\(i + 1)\(j + 1)")
            XCTAssertEqual(dense.relaxedIon[i][j], truth[i][j], accuracy: 0.005 * abs(truth[i][j]), "dense C\(i + 1)\(j + 1)")
        }
        // The diamond lattice relaxes internally under shear: C44 drops well below the clamped value.
        XCTAssertLessThan(measured.relaxedIon[3][3], 0.7 * measured.clampedIon[3][3])
        XCTAssertEqual(measured.clampedIon[0][0], measured.relaxedIon[0][0], accuracy: 1e-3, "no internal relaxation under normal strain")
    }

    /// ∇Θ C (central differences of the tool's C with re-relaxations) against central differences
    /// of LAMMPS's finite-strain constants at Θ ± h, with another step.
    func testParameterDerivativeMatchesFiniteDifferencesOfLAMMPSConstants() throws {
        let energy = try relaxedSilicon()
        let theta = energy.theta
        let reference = try energy.simulation.structure()
        let derivative = try ElasticParameterDerivative(cell: .aniso, ftol: 1e-11)
            .compute(energy, reference: reference, method: SparseMethod())
        for l in theta.indices {
            let h = 3e-3 * abs(theta[l])
            var constants: [[[Double]]] = []
            for sign in [1.0, -1.0] {
                var shifted = theta
                shifted[l] += sign * h
                constants.append(try lammpsFiniteStrainConstants(try relaxedSilicon(theta: shifted).simulation))
            }
            for (i, j) in [(0, 0), (0, 1), (3, 3)] {
                let truth = (constants[0][i][j] - constants[1][i][j]) / (2 * h)
                print("dC\(i + 1)\(j + 1)/d\(energy.parameterNames[l]): tool \(derivative.derivative[l][i][j]), LAMMPS \(truth)")
                XCTAssertEqual(derivative.derivative[l][i][j], truth, accuracy: 1e-3 * abs(truth) + 1e-3,
                               "dC\(i + 1)\(j + 1)/d\(energy.parameterNames[l])")
            }
        }
    }
}
