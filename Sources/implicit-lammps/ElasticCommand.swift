import ArgumentParser
import Atomistics
import Foundation
import ImplicitDerivative
import LinearAlgebra
import Potentials
import Workflows

/// How ∇Θ C is obtained.
enum ParameterDerivativeMode: String, CaseIterable, ExpressibleByArgument {
    /// Central differences of C in Θ, cell and atoms re-relaxed at each Θ ± h.
    case finiteDifferences = "finite-differences"
    case none
}

struct ElasticCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "elastic",
        abstract: "Relaxed-ion and clamped-ion elastic constants of a relaxed crystal, and their derivatives in Θ.",
        discussion: """
            Relaxes the input's system (cell and atoms, --box aniso by default), then computes \
            C = (1/V)[∂²U/∂e² − (∂F/∂e)ᵀ H⁻¹ (∂F/∂e)] (relaxed-ion) and (1/V) ∂²U/∂e² (clamped-ion) in Voigt \
            notation, GPa, with strains applied as LAMMPS's ELASTIC example applies them. ∇Θ C comes from central \
            differences of C in Θ (--theta-step relative; two re-relaxations and two C measurements per parameter). \
            Works for SNAP (default), --parameters and --vary potentials. Writes elastic.json (both tensors, Voigt \
            and Mandel), C.npy, C_clamped.npy, dC_dTheta.npy (N_D, 6, 6), theta.npy and log.lammps to DIR.
            """)

    @OptionGroup var system: SystemOptions
    @OptionGroup var potential: PotentialOptions
    @OptionGroup var minimum: MinimumOptions
    @Option(help: "∇Θ C: finite-differences (default) or none.") var parameterDerivative: ParameterDerivativeMode = .finiteDifferences
    @Option(parsing: .unconditional, help: "Relative step in Θ of the finite differences of C (default 1e-3).")
    var thetaStep = 1e-3
    @OptionGroup var output: OutputOptions
    @OptionGroup var lammpsOptions: LammpsOptions

    func validate() throws {
        if minimum.method == .energy {
            throw ValidationError("--method energy computes ∇Θ X* by biased minimizations; elastic constants need linear solves: use sparse or dense")
        }
        guard thetaStep > 0, thetaStep < 0.1 else { throw ValidationError("--theta-step must be in (0, 0.1), got \(thetaStep)") }
    }

    func run() throws {
        try runWritingOutputs(output) { run in
            let phases = Phases()
            let cell = minimum.box ?? .aniso
            if cell == .fixed {
                progress("note: --box fixed: the cell is not relaxed, and any residual stress enters C at first order")
            }
            let input = try phases.measure("set_up") { try self.system.inputPath(in: run, potential: potential) }
            let (system, relaxation, _) = try relaxedSystem(input: input, run: run, potential: potential, cell: cell,
                                                         minimum: minimum, lammps: lammpsOptions, phases: phases)
            var elastic = ElasticRun(cell: cell, ftol: minimum.ftol, method: minimum.derivativeMethod(), checks: minimum.checks,
                                     thetaStep: parameterDerivative == .finiteDifferences ? thetaStep : nil)
            elastic.minStyle = minimum.relaxStyle
            let (constants, check) = try elastic.run(system, relaxation: relaxation, phases: phases, in: run)
            if system.simulation.isRoot {
                try writeWarnings(check, to: run)
                print(constants.text)
            }
            system.simulation.lammps.close()
            return nil
        }
    }
}
