import Foundation
import LAMMPSLibrary

/// Which cell degrees of freedom relax with the atoms (LAMMPS `fix box/relax`).
public enum CellRelaxation: String, CaseIterable, Codable, Sendable {
    case fixed, iso, aniso
}

/// LAMMPS `min_style` choices offered for relaxations.
public enum MinimizerStyle: String, CaseIterable, Codable, Sendable {
    case cg, fire, sd
}

public struct RelaxationSettings: Codable, Sendable {
    public var cell: CellRelaxation = .fixed
    /// Force tolerance: the largest per-atom force norm at convergence (`min_modify norm max`).
    public var ftol: Double = 1e-6
    public var minStyle: MinimizerStyle = .cg
    /// Iterations of one `minimize` call.
    public var maxIterations: Int = 100_000
    /// `minimize` calls at most; a cell relaxation restarts from the new cell each time.
    public var maxCycles: Int = 10

    public init(cell: CellRelaxation = .fixed, ftol: Double = 1e-6, minStyle: MinimizerStyle = .cg) {
        self.cell = cell
        self.ftol = ftol
        self.minStyle = minStyle
    }

    /// The LAMMPS commands of one relaxation cycle: small, explicit, and replayable with `lmp`.
    public var cycleCommands: [String] {
        var commands = ["min_style \(minStyle.rawValue)", "min_modify norm max"]
        if cell != .fixed { commands.append("fix ilmp_cell all box/relax \(cell.rawValue) 0.0 vmax 0.001") }
        commands.append("minimize 0.0 \(ftol) \(maxIterations) \(10 * maxIterations)")
        if cell != .fixed { commands.append("unfix ilmp_cell") }
        // Fresh energy, forces and pressure at the final geometry, for reporting.
        commands.append("run 0")
        return commands
    }
}

public struct RelaxationResult: Codable, Sendable {
    public var energy: Double
    public var volume: Double
    /// Rows are the cell vectors a, b, c.
    public var cell: [[Double]]
    public var natoms: Int
    /// Largest per-atom force norm at the end.
    public var maxForce: Double
    /// Diagonal pressure components at the end.
    public var pressure: [Double]
    /// Minimizer iterations, summed over cycles.
    public var steps: Int
    public var cycles: Int
    public var converged: Bool
    public var units: String
    public var settings: RelaxationSettings
}

extension Simulation {
    /// The thermo output written to LAMMPS's log during relaxations.
    static let thermoCommands = ["thermo_style custom step pe press vol fmax fnorm", "thermo 50", "thermo_modify flush yes"]

    /// Relaxes positions (and the cell, if asked) with LAMMPS's minimizer until the largest
    /// per-atom force is below `ftol` and, for cell relaxations, the cell residual |P|·V is too.
    /// - Parameter progress: called after each cycle (on every rank).
    /// - Returns: the result and the exact commands sent, so the run can be replayed natively.
    @discardableResult
    public func relax(_ settings: RelaxationSettings,
                      progress: (Int, RelaxationResult) -> Void = { _, _ in }) throws
        -> (result: RelaxationResult, commands: [String])
    {
        try tallyEnergy(true)
        var commands = Simulation.thermoCommands
        try lammps.commands(commands.joined(separator: "\n"))
        let firstStep = try lammps.global("ntimestep")
        var result: RelaxationResult?
        for cycle in 1...settings.maxCycles {
            try lammps.commands(settings.cycleCommands.joined(separator: "\n"))
            commands += settings.cycleCommands
            let current = try summarize(settings, cycles: cycle, steps: Int(try lammps.global("ntimestep") - firstStep))
            progress(cycle, current)
            result = current
            // A fixed cell has nothing to restart: a second minimize from a converged state is a no-op.
            if current.converged || settings.cell == .fixed { break }
        }
        return (result!, commands)
    }

    private func summarize(_ settings: RelaxationSettings, cycles: Int, steps: Int) throws -> RelaxationResult {
        let forces = try forces()
        let maxForce = largestAtomNorm(forces)
        let pressure = try pressureDiagonal()
        let box = lammps.box()
        // |P|·V in energy units is the force conjugate to the cell that box/relax drives to zero:
        // the mean pressure for an isotropic cell, each diagonal component for an anisotropic one.
        let drivenPressure: Double
        switch settings.cell {
        case .fixed: drivenPressure = 0
        case .iso: drivenPressure = abs(pressure.reduce(0, +) / 3)
        case .aniso: drivenPressure = pressure.map(abs).max()!
        }
        let cellResidual = drivenPressure * box.volume / (try lammps.global("nktv2p"))
        return RelaxationResult(
            energy: try energy(), volume: box.volume, cell: box.cell, natoms: lammps.natoms,
            maxForce: maxForce, pressure: pressure, steps: steps, cycles: cycles,
            converged: maxForce <= settings.ftol && cellResidual <= settings.ftol,
            units: units, settings: settings)
    }
}
