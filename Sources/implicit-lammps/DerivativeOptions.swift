import ArgumentParser
import Atomistics
import Foundation
import ImplicitDerivative
import LAMMPSLibrary

extension DerivativeMethod: ExpressibleByArgument {}

/// Which SNAP potential and which of its parameters Θ.
struct PotentialOptions: ParsableArguments {
    @Option(help: ArgumentHelp("SNAP coefficients to use instead of the file named by the input's pair_coeff.",
                               valueName: "FILE.snapcoeff"))
    var potential: String?
    @Option(help: ArgumentHelp("SNAP hyperparameters to use instead of the input's.", valueName: "FILE.snapparam"))
    var snapparam: String?
    @Option(parsing: .upToNextOption, help: "Elements whose coefficients form Θ (default: every element of the file).")
    var elements: [String] = []
}

/// How the minimum X* and its derivatives are computed.
struct MinimumOptions: ParsableArguments {
    @Option(help: "Cell degrees of freedom of the minimum: fixed, iso or aniso.") var box: CellRelaxation = .fixed
    @Option(help: "Force tolerance of the relaxation to X* (eV/Å); derivatives are only as good as the minimum.")
    var ftol: Double = 1e-10
    @Option(help: "∇Θ X* method: sparse (shared Krylov), energy (constrained minimization), dense (LAPACK).")
    var method: DerivativeMethod = .sparse
    @Option(help: "Minimizer of the energy method: cg, fire or sd.") var minStyle: MinimizerStyle = .cg
    @Option(help: "Bias scale α0 of the energy method (α_l = α0 / max|[∇²ΘX U]_l|).") var alpha0: Double = 1e-4
    @Option(help: "Relative residual of the sparse solves (the finite-difference floor is ~1e-5).") var tolerance: Double = 1e-5
    @Option(help: ArgumentHelp("Dense method: only atoms within --radius of this point move.", valueName: "x,y,z"))
    var center: String?
    @Option(help: "Dense method: radius (Å) of the moving region around --center.") var radius: Double?

    var settings: DerivativeSettings {
        var settings = DerivativeSettings(method: method)
        settings.minStyle = minStyle
        settings.alpha0 = alpha0
        settings.tolerance = tolerance
        settings.center = center?.split(separator: ",").compactMap { Double($0) }
        settings.radius = radius
        return settings
    }

    func validate() throws {
        guard ftol > 0, alpha0 > 0, tolerance > 0 else { throw ValidationError("--ftol, --alpha0 and --tolerance must be positive") }
        if let center, center.split(separator: ",").compactMap({ Double($0) }).count != 3 {
            throw ValidationError("--center expects x,y,z, got '\(center)'")
        }
        if (center == nil) != (radius == nil) { throw ValidationError("--center and --radius go together") }
    }
}

/// A relaxed SNAP system, ready for derivatives: shared by `derivative` and `predict`.
func relaxedSystem(input: String, out: URL, potential: PotentialOptions, minimum: MinimumOptions,
                   lammps: LammpsOptions) throws -> (SNAPSystem, RelaxationResult) {
    let simulation = try Simulation(input: input, logFile: out.appendingPathComponent("log.lammps"),
                                    extraArguments: lammps.arguments)
    try MPIEnvironment.check(lammpsSize: simulation.lammps.mpiSize)
    let system = try SNAPSystem(simulation: simulation,
                                coefficientFile: potential.potential.map { URL(fileURLWithPath: $0).standardizedFileURL },
                                parameterFile: potential.snapparam.map { URL(fileURLWithPath: $0).standardizedFileURL },
                                varyingElements: potential.elements.isEmpty ? nil : potential.elements)
    progress("minimum: \(system.atomCount) atoms, SNAP \(system.potential.coefficientFile.lastPathComponent), "
             + "Θ = \(system.parameterCount) coefficients of \(system.potential.varyingElementNames.joined(separator: " ")); "
             + "relaxing (cell \(minimum.box.rawValue), ftol \(minimum.ftol))")
    let (result, _) = try simulation.relax(RelaxationSettings(cell: minimum.box, ftol: minimum.ftol))
    progress("  E* = \(result.energy) eV, V* = \(result.volume) Å³, max|F| = \(result.maxForce), \(result.steps) steps"
             + (result.converged ? "" : " (NOT converged to ftol)"))
    return (system, result)
}
