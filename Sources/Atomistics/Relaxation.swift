import Foundation
import LAMMPSLibrary

/// Which cell degrees of freedom relax with the atoms (LAMMPS `fix box/relax`).
public enum CellRelaxation: String, CaseIterable, Codable, Sendable {
    case fixed, iso, aniso
}

/// The minimizers offered for relaxations: LAMMPS's own `min_style`s, run by its `minimize`
/// command, and the engine's preconditioned L-BFGS (`PreconditionedLBFGS`), which drives LAMMPS
/// one force evaluation at a time through the library.
public enum MinimizerStyle: String, CaseIterable, Codable, Sendable {
    case cg, fire, sd
    case preconLBFGS = "precon-lbfgs"

    /// Whether LAMMPS's `minimize` runs this style (else the engine's minimizer does).
    public var isLAMMPS: Bool { self != .preconLBFGS }
    /// The `min_style` a native replay uses: the style itself, or CG for the engine's minimizer
    /// (another path to the same minimum within the tolerance).
    public var lammpsStyle: MinimizerStyle { isLAMMPS ? self : .cg }
}

public struct RelaxationSettings: Codable, Sendable {
    public var cell: CellRelaxation = .fixed
    /// Force tolerance: the largest per-atom force norm at convergence (`min_modify norm max`).
    public var ftol: Double = 1e-6
    /// LAMMPS's CG unless asked otherwise: the minimizer of the native replays (relax.lammps, a
    /// fit's commands.lammps), so that a replay reaches the same minimum. precon-lbfgs reaches
    /// CG's minimum in 3–35× fewer evaluations from a relaxed or near-relaxed start (README,
    /// `benchmarks relaxation`), but from a perturbed one it follows another path and may end in
    /// another basin (seen: SW silicon's vacancy from a fit step's predicted structure).
    public var minStyle: MinimizerStyle = .cg
    /// Minimizer iterations in total.
    public var maxIterations: Int = 100_000
    /// Iterations of one `minimize` command. Between commands the tool checks progress, and a
    /// cell relaxation restarts `fix box/relax` from the new cell. Long enough that restarting
    /// CG costs nothing measurable (a vacancy converges within one).
    public var chunkIterations: Int = 250
    /// Consecutive `minimize` commands that fail to halve the best residual before the
    /// relaxation is declared stagnated (the floating-point floor, or a minimizer that is stuck).
    public var stallLimit: Int = 3

    public init(cell: CellRelaxation = .fixed, ftol: Double = 1e-6, minStyle: MinimizerStyle = .cg) {
        self.cell = cell
        self.ftol = ftol
        self.minStyle = minStyle
    }

    /// The LAMMPS commands of one `minimize` chunk: small, explicit, and replayable with `lmp`.
    var chunkCommands: [String] {
        var commands = ["min_style \(minStyle.lammpsStyle.rawValue)", "min_modify norm max"]
        if cell != .fixed { commands.append("fix ilmp_cell all box/relax \(cell.rawValue) 0.0 vmax 0.001") }
        commands.append("minimize 0.0 \(ftol) \(chunkIterations) \(10 * chunkIterations)")
        if cell != .fixed { commands.append("unfix ilmp_cell") }
        // Fresh energy, forces and pressure at the final geometry, for reporting.
        commands.append("run 0")
        return commands
    }

    /// How many `minimize` commands a native replay issues after a relaxation by the engine's
    /// minimizer: CG restarted this often converges wherever it did here (one that has
    /// converged returns at once).
    public static let nativeReplayCycles = 10

    /// Commands with which the native `lmp` relaxes as these settings ask: the relaxation itself
    /// for LAMMPS's styles is replayed by the commands `relax` returns; for the engine's
    /// minimizer, LAMMPS's CG restarted `nativeReplayCycles` times reaches the same minimum
    /// within the tolerance by another path.
    public var nativeCommands: [String] {
        Simulation.thermoCommands + ["# relaxed by \(minStyle.rawValue) through the library; here LAMMPS's CG reaches the same minimum"]
            + (0..<RelaxationSettings.nativeReplayCycles).flatMap { _ in chunkCommands }
    }
}

/// Why a relaxation ended.
public enum RelaxationStop: String, Codable, Sendable {
    /// Every residual is below the tolerance.
    case converged
    /// The minimizer stopped making progress above the tolerance: the tolerance is below the
    /// floating-point floor of this system, or the minimizer is stuck.
    case stagnated
    /// The iteration limit was reached while the residual still fell.
    case iterationLimit = "iteration_limit"
}

public struct RelaxationResult: Codable, Sendable {
    public var energy: Double
    public var volume: Double
    /// Rows are the cell vectors a, b, c.
    public var cell: [[Double]]
    public var natoms: Int
    /// Largest per-atom force norm at the end.
    public var maxForce: Double
    /// |P|·V in energy units for the pressure components the cell relaxation drives (0 at fixed cell).
    public var cellResidual: Double
    /// Diagonal pressure components at the end.
    public var pressure: [Double]
    /// Minimizer iterations in total.
    public var steps: Int
    /// Energy and force evaluations the relaxation made (line searches and the final report included).
    public var forceEvaluations: Int = 0
    /// `minimize` commands issued (1 for the engine's minimizer).
    public var cycles: Int
    public var converged: Bool
    public var stop: RelaxationStop
    public var units: String
    public var settings: RelaxationSettings

    /// What went wrong, for a message: nil when converged.
    public var shortfall: String? {
        guard !converged else { return nil }
        let residual = cellResidual > settings.ftol
            ? String(format: "max|F| = %.3g and cell residual |P|·V = %.3g", maxForce, cellResidual)
            : String(format: "max|F| = %.3g", maxForce)
        switch stop {
        case .converged: return nil
        case .stagnated:
            return "the minimizer stagnated at \(residual), above the tolerance \(settings.ftol) after \(steps) iterations "
                + "(the residual stopped falling: the tolerance is below what floating point reaches for this system, "
                + "or the minimizer is stuck)"
        case .iterationLimit:
            return "the minimizer reached its limit of \(settings.maxIterations) iterations at \(residual), "
                + "above the tolerance \(settings.ftol)"
        }
    }
}

extension Simulation {
    /// The thermo output written to LAMMPS's log during relaxations.
    static let thermoCommands = ["thermo_style custom step pe press vol fmax fnorm", "thermo 50", "thermo_modify flush yes"]

    /// Relaxes positions (and the cell, if asked) with LAMMPS's minimizer until the largest
    /// per-atom force is below `ftol` and, for cell relaxations, the cell residual |P|·V is too;
    /// or until the residual stagnates, or the iteration limit. The starting structure is checked
    /// first (overlapping atoms, non-finite energy or forces are refused).
    /// - Parameter progress: receives a line at least every ~10 s while LAMMPS minimizes.
    /// - Returns: the result and the exact commands sent, so the run can be replayed natively.
    @discardableResult
    public func relax(_ settings: RelaxationSettings, label: String = "relax",
                      progress: (String) -> Void = { _ in }) throws -> (result: RelaxationResult, commands: [String]) {
        // The engine's minimizer lives above this layer: `ForceProvider.relaxation` chooses.
        precondition(settings.minStyle.isLAMMPS, "relax runs LAMMPS's minimize; use relaxation(_:) for \(settings.minStyle)")
        let evaluationsBefore = allForceEvaluations
        try tallyEnergy(true)
        try lammps.commands(Simulation.thermoCommands.joined(separator: "\n"))
        try checkStartingStructure()
        // LAMMPS calls the observer only while this function runs: it is removed before returning.
        return try withoutActuallyEscaping(progress) { progress in
            let clock = ProgressClock()
            let firstStep = try lammps.global("ntimestep")
            // The observer is a `fix external` whose callback runs at every force evaluation of the
            // minimizer (line-search trials included): the only count LAMMPS gives the library.
            var evaluations = 0
            try lammps.observeSteps { step in
                evaluations += 1
                if clock.isDue() { progress("  \(label): iteration \(Int(Double(step) - firstStep)), \(clock.elapsed) s") }
            }
            defer { try? lammps.stopObservingSteps() }
            var relaxed = try minimizeInChunks(settings, label: label, firstStep: firstStep, clock: clock, progress: progress)
            minimizerEvaluations += evaluations
            relaxed.result.forceEvaluations = allForceEvaluations - evaluationsBefore
            relaxationIterations += relaxed.result.steps
            return relaxed
        }
    }

    private func minimizeInChunks(_ settings: RelaxationSettings, label: String, firstStep: Double,
                                  clock: ProgressClock, progress: (String) -> Void) throws
        -> (result: RelaxationResult, commands: [String])
    {
        var commands = Simulation.thermoCommands
        var best = Double.infinity, stalls = 0, cycle = 0
        while true {
            cycle += 1
            try lammps.commands(settings.chunkCommands.joined(separator: "\n"))
            commands += settings.chunkCommands
            var result = try summarize(settings, cycles: cycle, steps: Int(try lammps.global("ntimestep") - firstStep))
            let residual = max(result.maxForce, result.cellResidual)
            stalls = residual > 0.5 * best ? stalls + 1 : 0
            best = min(best, residual)
            if result.converged {
                result.stop = .converged
            } else if result.steps >= settings.maxIterations {
                result.stop = .iterationLimit
            } else if stalls >= settings.stallLimit {
                result.stop = .stagnated
            } else {
                if clock.isDue() {
                    progress("  \(label): iteration \(result.steps), E = \(result.energy), max|F| = \(result.maxForce)"
                             + (settings.cell == .fixed ? "" : ", cell residual \(result.cellResidual)") + ", \(clock.elapsed) s")
                }
                continue
            }
            return (result, commands)
        }
    }

    /// The state now as a relaxation result, by the rule every minimizer shares: converged when
    /// the largest per-atom force and the cell residual |P|·V are both within `settings.ftol`.
    /// Reads the last evaluation (a `run 0` made it: pressure needs it).
    func summarize(_ settings: RelaxationSettings, cycles: Int, steps: Int) throws -> RelaxationResult {
        let forces = try forces()
        let energy = try energy()
        try requireFinite(energy: energy, forces: forces, context: "after \(steps) minimizer iterations")
        let maxForce = largestAtomNorm(forces)
        let pressure = try pressureDiagonal()
        let box = lammps.box()
        // |P|·V in energy units is the force conjugate to the cell that box/relax drives to zero:
        // the mean pressure for an isotropic cell, each diagonal component for an anisotropic one.
        let cellResidual = settings.cell.drivenMagnitude(pressure) * box.volume / (try lammps.global("nktv2p"))
        let converged = maxForce <= settings.ftol && cellResidual <= settings.ftol
        return RelaxationResult(
            energy: energy, volume: box.volume, cell: box.cell, natoms: lammps.natoms,
            maxForce: maxForce, cellResidual: cellResidual, pressure: pressure, steps: steps, cycles: cycles,
            converged: converged, stop: converged ? .converged : .iterationLimit, units: units, settings: settings)
    }

    /// Refuses a structure no minimizer can start from: atoms on top of each other (the energy
    /// is infinite or huge, and LAMMPS's line search never returns) or non-finite energy or forces.
    public func checkStartingStructure() throws {
        let structure = try self.structure()
        if let report = structure.overlapReport() {
            throw InputError.unsupportedSystem("\(report). Overlapping atoms make the energy infinite or meaningless; "
                                     + "fix the structure of \(input.lastPathComponent) (a duplicated atom, a wrong "
                                     + "coordinate, or a data file read with the wrong units).")
        }
        try evaluate()
        try requireFinite(energy: try energy(), forces: try forces(), context: "at the starting positions")
    }

    /// Throws, naming the atoms, if the energy or any force is NaN or infinite.
    func requireFinite(energy: Double? = nil, forces: [Double], context: String) throws {
        let badAtoms = stride(from: 0, to: forces.count, by: 3).filter { !forces[$0..<$0 + 3].allSatisfy(\.isFinite) }
            .map { $0 / 3 + 1 }
        var problems: [String] = []
        if let energy, !energy.isFinite { problems.append("the energy \(context) is \(energy)") }
        if !badAtoms.isEmpty { problems.append("non-finite forces \(context) on atom IDs \(Simulation.list(badAtoms))") }
        guard problems.isEmpty else { throw InputError.nonFinite(problems.joined(separator: "; ")) }
    }

    public static func list(_ ids: [Int]) -> String {
        ids.prefix(10).map(String.init).joined(separator: ", ") + (ids.count > 10 ? " … (\(ids.count) atoms)" : "")
    }
}

/// Says when another progress line is due: at most one every `interval` seconds. A class, so
/// that a LAMMPS callback and the loop around it share one clock.
public final class ProgressClock {
    public let interval: Double
    private let start = Date()
    private var last = Date()

    public init(interval: Double = 10) { self.interval = interval }

    public func isDue() -> Bool {
        guard Date().timeIntervalSince(last) >= interval else { return false }
        last = Date()
        return true
    }

    /// Seconds since the clock started, rounded.
    public var elapsed: Int { Int(Date().timeIntervalSince(start).rounded()) }
}
