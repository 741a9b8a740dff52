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

/// How the minimum X* and its derivatives are computed. Method options are optional so that an
/// option the chosen method does not read is refused rather than silently ignored.
struct MinimumOptions: ParsableArguments {
    @Option(help: "Cell degrees of freedom of the minimum: fixed, iso or aniso (default fixed).") var box: CellRelaxation?
    @Option(parsing: .unconditional,
            help: "Force tolerance of the relaxation to X* (eV/Å); derivatives are only as good as the minimum.")
    var ftol: Double = 1e-10
    @Option(help: "∇Θ X* method: sparse (shared Krylov, default), energy (constrained minimization), dense (LAPACK).")
    var method: DerivativeMethod?
    @Option(help: "Energy method: minimizer, cg (default), fire or sd.") var minStyle: MinimizerStyle?
    @Option(parsing: .unconditional,
            help: "Energy method: bias scale α0, α_l = α0/max|[∇²ΘX U]_l| (default 1e-4; linear range about 1e-6 to 1e-3).")
    var alpha0: Double?
    @Option(parsing: .unconditional, help: "Sparse method: relative residual of the solves (default 1e-5, the finite-difference floor).")
    var tolerance: Double?
    @Option(parsing: .unconditional, help: ArgumentHelp("Dense method: only atoms within --radius of this point move.", valueName: "x,y,z"))
    var center: Point3?
    @Option(parsing: .unconditional, help: "Dense method: radius (Å) of the moving region around --center.") var radius: Double?
    @Flag(help: "Differentiate X* even if it is not a converged minimum (unconverged, or a saddle); every output is marked.")
    var allowNonMinimum = false

    var cell: CellRelaxation { box ?? .fixed }
    var resolvedMethod: DerivativeMethod { method ?? .sparse }

    var settings: DerivativeSettings {
        var settings = DerivativeSettings(method: resolvedMethod)
        settings.minStyle = minStyle ?? settings.minStyle
        settings.alpha0 = alpha0 ?? settings.alpha0
        settings.tolerance = tolerance ?? settings.tolerance
        settings.center = center?.values
        settings.radius = radius
        settings.allowNonMinimum = allowNonMinimum
        return settings
    }

    /// Options that only apply when a derivative is computed here (not read from --derivative).
    var methodOptionsGiven: [String] {
        [("--method", method != nil), ("--min-style", minStyle != nil), ("--alpha0", alpha0 != nil),
         ("--tolerance", tolerance != nil), ("--center", center != nil), ("--radius", radius != nil),
         ("--allow-non-minimum", allowNonMinimum)].filter(\.1).map(\.0)
    }

    func validate() throws {
        guard ftol > 0, ftol.isFinite else { throw ValidationError("--ftol must be a positive number, got \(ftol)") }
        if let alpha0, !(alpha0 > 0 && alpha0.isFinite) { throw ValidationError("--alpha0 must be a positive number, got \(alpha0)") }
        if let tolerance, !(tolerance > 0 && tolerance < 1) {
            throw ValidationError("--tolerance must be a relative residual in (0, 1), got \(tolerance)")
        }
        if let radius, !(radius > 0 && radius.isFinite) { throw ValidationError("--radius must be a positive length, got \(radius)") }
        if (center == nil) != (radius == nil) { throw ValidationError("--center and --radius go together") }
        let method = resolvedMethod
        let foreign: [(String, Bool, DerivativeMethod)] = [
            ("--min-style", minStyle != nil, .energy), ("--alpha0", alpha0 != nil, .energy),
            ("--tolerance", tolerance != nil, .sparse), ("--center/--radius", center != nil, .dense),
        ]
        for (option, given, owner) in foreign where given && owner != method {
            throw ValidationError("\(option) applies only to --method \(owner.rawValue), not to --method \(method.rawValue)")
        }
    }
}

/// A relaxed SNAP system, ready for derivatives: shared by `derivative` and `predict`.
func relaxedSystem(input: String, run: RunDirectory, potential: PotentialOptions, minimum: MinimumOptions,
                   lammps: LammpsOptions) throws -> (SNAPSystem, RelaxationResult) {
    let system = try snapSystem(input: input, run: run, potential: potential, lammps: lammps)
    progress("minimum: \(system.atomCount) atoms, SNAP \(system.potential.coefficientFile.lastPathComponent), "
             + "Θ = \(system.parameterCount) coefficients of \(system.potential.varyingElementNames.joined(separator: " ")); "
             + "relaxing (cell \(minimum.cell.rawValue), ftol \(minimum.ftol))")
    let startVolume = system.lammps.box().volume
    let (result, _) = try system.simulation.relax(RelaxationSettings(cell: minimum.cell, ftol: minimum.ftol), progress: progress)
    progress("  E* = \(result.energy) eV, V* = \(result.volume) Å³, max|F| = \(result.maxForce), \(result.steps) steps"
             + (result.converged ? "" : " (NOT converged: \(result.stop.rawValue))"))
    let ratio = result.volume / startVolume
    if !(0.5...2).contains(ratio) {
        throw DerivativeError.notAMinimum(String(format: """
            the cell relaxation changed the volume %.3g-fold (%.6g → %.6g Å³): the structure fell apart or collapsed \
            instead of relaxing. Check the potential's units against the input's `units %@` and the lattice constant.
            """, ratio, startVolume, result.volume, system.simulation.units))
    }
    return (system, result)
}

/// The input's system with its SNAP potential (or the files given instead), with notes on how
/// given files change the potential.
func snapSystem(input: String, run: RunDirectory, potential: PotentialOptions, lammps: LammpsOptions) throws -> SNAPSystem {
    let simulation = try Simulation(input: input, logFile: run.url("log.lammps"), extraArguments: lammps.arguments)
    try MPIEnvironment.check(lammpsSize: simulation.lammps.mpiSize)
    let system = try SNAPSystem(simulation: simulation,
                                coefficientFile: potential.potential.map { URL(fileURLWithPath: $0).standardizedFileURL },
                                parameterFile: potential.snapparam.map { URL(fileURLWithPath: $0).standardizedFileURL },
                                varyingElements: potential.elements.isEmpty ? nil : potential.elements)
    if !system.hyperparameterChanges.isEmpty {
        progress("note: the files given with --potential/--snapparam change the input's potential itself, not only Θ:\n"
                 + system.hyperparameterChanges.map { "  \($0)" }.joined(separator: "\n"))
    }
    if simulation.units != "metal" {
        progress("warning: the input uses `units \(simulation.units)`; distributed SNAP potentials are fit in metal units, "
                 + "and files without a UNITS tag cannot be checked by LAMMPS")
    }
    return system
}
