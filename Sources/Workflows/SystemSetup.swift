import Atomistics
import Foundation
import ImplicitDerivative
import LAMMPSLibrary
import Potentials

/// A LAMMPS input as a parametrized system, relaxed and checked to be a physical minimum before
/// any derivative is taken (`derivative`, `predict` and `elastic` start here).
public enum SystemSetup {
    /// A relaxed system with its parametrized energy, ready for derivatives.
    public static func relaxed(input: String, run: RunDirectory, choice: PotentialChoice, relativeStep: Double?, snapFiles: String,
                               cell: CellRelaxation, ftol: Double, minStyle: MinimizerStyle = .cg, lammpsArguments: [String],
                               partitions: Partitions? = nil, phases: Phases = Phases()) throws
        -> (any ParametrizedEnergy, RelaxationResult, PreconditionedLBFGS.Reuse?)
    {
        let system = try phases.measure("set_up") {
            try parametrized(input: input, run: run, choice: choice, relativeStep: relativeStep, snapFiles: snapFiles,
                             lammpsArguments: lammpsArguments, partitions: partitions)
        }
        phases.evaluationCount = { [provider = system.forceProvider] in provider.allForceEvaluations }
        let description = system.summary
        progress("minimum: \(system.atomCount) atoms, \(description.kind) \(description.files.map { URL(fileURLWithPath: $0).lastPathComponent }.joined(separator: " ")), "
                 + "Θ = \(system.parameterCount) parameters; relaxation (cell \(cell.rawValue), \(minStyle.rawValue), ftol \(ftol))")
        let (result, reuse) = try phases.measure("relaxation") {
            try system.simulation.relaxationKeepingScales(RelaxationSettings(cell: cell, ftol: ftol, minStyle: minStyle),
                                                          progress: progress)
        }
        progress("  E* = \(result.energy) eV, V* = \(result.volume) Å³, max|F| = \(result.maxForce), \(result.steps) steps"
                 + (result.converged ? "" : " (NOT converged: \(result.stop.rawValue))"))
        if let problem = try RelaxedStructureCheck.problem(of: system.simulation) {
            throw DerivativeError.notAMinimum("""
                \(problem). Check the potential's units against the input's `units \(system.simulation.units)`, its \
                elements and the lattice constant.
                """)
        }
        return (system, result, reuse)
    }

    /// The input's system with its parametrized energy (`snapFiles`: how the user gave SNAP files, for the notes).
    public static func parametrized(input: String, run: RunDirectory, choice: PotentialChoice, relativeStep: Double?, snapFiles: String,
                                    lammpsArguments: [String], partitions: Partitions? = nil) throws -> any ParametrizedEnergy {
        let simulation: Simulation
        do {
            simulation = try Simulation(input: input, logFile: run.url("log.lammps"), extraArguments: lammpsArguments,
                                        partitions: partitions)
        } catch {
            // LAMMPS's own message may not name the potential file it could not read.
            throw FileFieldParameters.diagnose(input: URL(fileURLWithPath: input)) ?? error
        }
        try MPIEnvironment.check(lammpsSize: simulation.lammps.mpiSize * (partitions?.count ?? 1))
        let energy = try choice.energy(for: simulation, relativeStep: relativeStep, progress: progress)
        if let snap = energy as? SNAPEnergy { reportSNAPNotes(snap, files: snapFiles) }
        return energy
    }
}
