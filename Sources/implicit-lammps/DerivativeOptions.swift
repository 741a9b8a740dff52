import ArgumentParser
import Atomistics
import Foundation
import Workflows
import ImplicitDerivative
import LAMMPSLibrary
import Potentials

extension MethodName: ExpressibleByArgument {}

extension MethodChoice.Setting {
    /// How the command line spells it.
    var option: String {
        switch self {
        case .minStyle: return "--min-style"
        case .alpha0: return "--alpha0"
        case .tolerance: return "--tolerance"
        case .preconditioner: return "--preconditioner"
        case .krylov: return "--krylov"
        case .region: return "--center/--radius"
        }
    }
}
extension Preconditioning: ExpressibleByArgument {}
extension KrylovStrategy: ExpressibleByArgument {}

extension FieldSelection: ExpressibleByArgument {}

/// A comma-separated list of names.
struct NameList: ExpressibleByArgument {
    var names: [String]
    init?(argument: String) {
        let names = argument.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        guard !names.contains(where: \.isEmpty) else { return nil }
        self.names = names
    }
}

/// Which potential and which of its parameters Θ: SNAP coefficients (the default, analytic), or
/// for any other potential LAMMPS variables (--parameters) or fields of its parameter file
/// (--vary), differentiated by finite differences in Θ.
struct PotentialOptions: ParsableArguments {
    @Option(help: ArgumentHelp("SNAP coefficients to use instead of the file named by the input's pair_coeff.",
                               valueName: "FILE.snapcoeff"))
    var potential: String?
    @Option(help: ArgumentHelp("SNAP hyperparameters to use instead of the input's.", valueName: "FILE.snapparam"))
    var snapparam: String?
    @Option(parsing: .upToNextOption, help: "SNAP: elements whose coefficients form Θ (default: every element of the file).")
    var elements: [String] = []
    @Option(help: ArgumentHelp("Any potential: LAMMPS variables of the input, used in its pair_style/pair_coeff lines, that form Θ.",
                               valueName: "NAME,NAME…"))
    var parameters: NameList?
    @Option(help: ArgumentHelp("Any .sw/.tersoff potential: fields of its parameter file that form Θ (repeatable).",
                               valueName: "E1,E2,E3:FIELD,FIELD…"))
    var vary: [FieldSelection] = []
    @Option(parsing: .unconditional,
            help: "--parameters/--vary: relative step of the central differences in Θ (default 1e-5).")
    var parameterStep: Double?

    var isSNAP: Bool { parameters == nil && vary.isEmpty }

    func validate() throws {
        if parameters != nil, !vary.isEmpty { throw ValidationError("give either --parameters or --vary, not both") }
        if !isSNAP, potential != nil || snapparam != nil || !elements.isEmpty {
            throw ValidationError("--potential, --snapparam and --elements choose SNAP coefficients; they do not apply with "
                                  + (parameters != nil ? "--parameters" : "--vary"))
        }
        if isSNAP, parameterStep != nil { throw ValidationError("--parameter-step applies only with --parameters or --vary") }
        if let parameterStep, !(parameterStep > 0 && parameterStep < 0.1) {
            throw ValidationError("--parameter-step must be a relative step in (0, 0.1), got \(parameterStep)")
        }
    }

    var choice: PotentialChoice {
        if let parameters { return .variables(parameters.names) }
        if !vary.isEmpty { return .fields(vary.map { ($0.entry, $0.fields) }) }
        return .snap(coefficients: potential.map { URL(fileURLWithPath: $0).standardizedFileURL },
                     parameters: snapparam.map { URL(fileURLWithPath: $0).standardizedFileURL },
                     elements: elements.isEmpty ? nil : elements)
    }
}

/// How the minimum X* and its derivatives are computed. Method options are optional so that an
/// option the chosen method does not read is refused rather than silently ignored.
struct MinimumOptions: ParsableArguments {
    @Option(help: "Cell degrees of freedom of the minimum: fixed, iso or aniso (default fixed).") var box: CellRelaxation?
    @Option(parsing: .unconditional,
            help: "Force tolerance of the relaxation to X* (eV/Å); derivatives are only as good as the minimum.")
    var ftol: Double = 1e-10
    @Option(help: """
        Minimizer of every relaxation (to X*, --validate's, elastic's re-relaxations): LAMMPS's cg (default), fire, \
        sd, or precon-lbfgs, as relax --min-style.
        """)
    var relaxStyle: MinimizerStyle = .cg
    @Option(help: "∇Θ X* method: sparse (shared Krylov, default), energy (constrained minimization), dense (LAPACK).")
    var method: MethodName?
    @Option(help: "Energy method: minimizer of its constrained relaxations, cg (default), fire, sd or precon-lbfgs.") var minStyle: MinimizerStyle?
    @Option(parsing: .unconditional,
            help: "Energy method: bias scale α0, α_l = α0/max|[∇²ΘX U]_l| (default 1e-4; linear range about 1e-6 to 1e-3).")
    var alpha0: Double?
    @Option(parsing: .unconditional, help: "Sparse method: relative residual of the solves (default 1e-5, the finite-difference floor).")
    var tolerance: Double?
    @Option(help: "Sparse method: preconditioner of the Krylov solves: auto (default: lattice for point defects in a periodic cubic crystal, else exponential), lattice (the perfect host crystal's Hessian), exponential (Packwood et al. 2016) or none.")
    var preconditioner: Preconditioning?
    @Option(help: "Sparse method: auto (default; shared basis while small, then CG per column), shared or cg.")
    var krylov: KrylovStrategy?
    @Option(parsing: .unconditional, help: ArgumentHelp("Dense method: only atoms within --radius of this point move.", valueName: "x,y,z"))
    var center: Point3?
    @Option(parsing: .unconditional, help: "Dense method: radius (Å) of the moving region around --center.") var radius: Double?
    @Flag(help: "Differentiate X* even if it is not a converged minimum (unconverged, or a saddle); every output is marked.")
    var allowNonMinimum = false

    var cell: CellRelaxation { box ?? .fixed }

    var choice: MethodChoice {
        MethodChoice(method: method, minStyle: minStyle, alpha0: alpha0, tolerance: tolerance, preconditioner: preconditioner,
                     krylov: krylov, region: center.flatMap { c in radius.map { (c.values, $0) } })
    }
    var resolvedMethod: MethodName { choice.resolvedMethod }

    /// The chosen method with its own settings (`checkpoint`: where the energy method saves
    /// finished parameters).
    func derivativeMethod(checkpoint: URL? = nil) -> any DerivativeMethod { choice.derivativeMethod(checkpoint: checkpoint) }

    var checks: DerivativeChecks {
        var checks = DerivativeChecks()
        checks.allowNonMinimum = allowNonMinimum
        return checks
    }

    /// Options that only apply when a derivative is computed here (not read from --derivative).
    var methodOptionsGiven: [String] {
        (method != nil ? ["--method"] : []) + MethodChoice.Setting.allCases.filter(choice.isGiven).map(\.option)
            + (allowNonMinimum ? ["--allow-non-minimum"] : [])
    }

    func validate() throws {
        guard ftol > 0, ftol.isFinite else { throw ValidationError("--ftol must be a positive number, got \(ftol)") }
        if (center == nil) != (radius == nil) { throw ValidationError("--center and --radius go together") }
        if let problem = choice.problem(spelling: \.option, methodSpelling: "--method") { throw ValidationError(problem) }
    }
}

/// A relaxed system with its parametrized energy, ready for derivatives: shared by `derivative`,
/// `predict` and `elastic`.
func relaxedSystem(input: String, run: RunDirectory, potential: PotentialOptions, cell: CellRelaxation, minimum: MinimumOptions,
                   lammps: LammpsOptions, partitions: Partitions? = nil, phases: Phases) throws
    -> (any ParametrizedEnergy, RelaxationResult, PreconditionedLBFGS.Reuse?)
{
    try SystemSetup.relaxed(input: input, run: run, choice: potential.choice, relativeStep: potential.parameterStep,
                            snapFiles: "--potential/--snapparam", cell: cell, ftol: minimum.ftol, minStyle: minimum.relaxStyle,
                            lammpsArguments: lammps.arguments, partitions: partitions, phases: phases)
}

/// The input's system with its parametrized energy.
func parametrizedSystem(input: String, run: RunDirectory, potential: PotentialOptions,
                        lammps: LammpsOptions, partitions: Partitions? = nil) throws -> any ParametrizedEnergy {
    try SystemSetup.parametrized(input: input, run: run, choice: potential.choice, relativeStep: potential.parameterStep,
                                 snapFiles: "--potential/--snapparam",
                                 lammpsArguments: lammps.arguments, partitions: partitions)
}
