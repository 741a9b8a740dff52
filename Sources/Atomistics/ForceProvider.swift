import Foundation
import LAMMPSLibrary
// The cell is part of every structure a force provider hands out: code that only knows force
// providers (the engine) names it without importing the LAMMPS binding.
@_exported import struct LAMMPSLibrary.Box

/// What the implicit-derivative engine asks of a system, and nothing more: the calculator side
/// of the ASE calculator/optimizer split plus its own minimizer. Keeping the engine to this lets
/// it run on LAMMPS (`Simulation`) or on a potential written in Swift (unit tests without LAMMPS).
/// Positions and forces are 3 per atom in atom-ID order; energies, forces and virials are those
/// of the last evaluation at the current positions and cell.
public protocol ForceProvider: AnyObject {
    var atomCount: Int { get }

    /// The cell, wrapped positions, image flags, types and masses now.
    func structure() throws -> Structure
    /// Puts the cell, positions and image flags back exactly as in `structure`.
    func restore(_ structure: Structure) throws
    /// Puts the system in the state a fresh one reaches by restoring `structure`, whatever ran
    /// before (campaigns start every checkpointed step with it, so that a resumed campaign repeats
    /// the uninterrupted one bit for bit). A provider with no hidden state: `restore`.
    func reset(to structure: Structure) throws

    /// Evaluates energy, forces and virial at the current positions.
    func evaluate() throws
    func energy() throws -> Double
    /// Held components (fixed atoms) read exactly zero: that is how the engine finds them.
    func forces() throws -> [Double]
    /// Moves the atoms to `positions` and returns their forces (the inner loop of Hessian products).
    func forces(at positions: [Double]) throws -> [Double]
    /// Moves the atoms to `positions` with image counts `images` (positions continued from
    /// wrapped ones across periodic faces are fine: unwrapped = positions + images · cell stays
    /// right, which fixes on unwrapped coordinates — the energy method's bias — need) and evaluates
    /// the energy and forces there, and the virial W if asked: one step of a minimizer.
    func evaluation(at positions: [Double], images: [Int32], virial: Bool) throws -> PointEvaluation
    /// W = Σ r ⊗ f (energy units, 3×3; ∂U/∂F = −W F⁻ᵀ for a deformation F): evaluates.
    func virial() throws -> [[Double]]
    /// Deforms the orthogonal cell `reference` by the Voigt strain `e`, atoms following at fixed
    /// scaled coordinates (see `Voigt`).
    func deform(_ reference: Box, by e: [Double]) throws

    /// Relaxes from the current state as `settings` ask. Named apart from `Simulation.relax`,
    /// which also returns the commands it sent, so that a call never has two candidates.
    func minimize(_ settings: RelaxationSettings, label: String, progress: (String) -> Void) throws -> RelaxationResult
    /// Evaluates at the current state and reports it as the end of a relaxation by the rule every
    /// minimizer shares (largest per-atom force and cell residual |P|·V within `settings.ftol`):
    /// how a minimizer outside the provider reports its result.
    func relaxationReport(_ settings: RelaxationSettings, steps: Int) throws -> RelaxationResult
    /// Adds the energy b·(X − reference) (b starts at zero) until the bias is removed: the energy
    /// method's constrained minimizations.
    func linearBias(about reference: [Double]) throws -> any LinearBias

    /// Force evaluations outside LAMMPS's own minimizer, and minimizer iterations, so far.
    var forceEvaluations: Int { get }
    var relaxationIterations: Int { get }
    /// Every force evaluation so far, those inside LAMMPS's own minimizer included (its line
    /// searches too): the cost figures campaigns report (history.csv, uq's truth rows, `Phases`).
    var allForceEvaluations: Int { get }

    /// One energy unit per volume unit in GPa (eV/Å³ = 160.2 GPa): elastic constants. Throws for
    /// unit systems that have no such conversion.
    func gigapascalsPerEnergyDensity() throws -> Double

    /// Whether this process writes the files of the whole job (one process per job does).
    var isRoot: Bool { get }
    /// How independent pieces of work (Krylov products, columns) are shared out, when the job
    /// runs several partitions each with its own copy of the system (nil: one copy, no sharing).
    var workSharing: WorkSharing? { get }
}

extension ForceProvider {
    public func reset(to structure: Structure) throws { try restore(structure) }
}

/// Energy, forces (3 per atom, held components zero) and, when asked, the virial W = Σ r ⊗ f
/// (energy units) of one evaluation.
public struct PointEvaluation: Sendable {
    public var energy: Double
    public var forces: [Double]
    public var virial: [[Double]]?

    public init(energy: Double, forces: [Double], virial: [[Double]]?) {
        (self.energy, self.forces, self.virial) = (energy, forces, virial)
    }
}

/// A linear energy term b·(X − X0) added to a system's potential.
public protocol LinearBias: AnyObject {
    /// Sets the gradient b (3 per atom): the added force is −b.
    func set(_ b: [Double]) throws
    func remove() throws
}

extension Simulation: ForceProvider {
    public var atomCount: Int { lammps.natoms }
    public var allForceEvaluations: Int { forceEvaluations + minimizerEvaluations }

    public func minimize(_ settings: RelaxationSettings, label: String, progress: (String) -> Void) throws -> RelaxationResult {
        try relax(settings, label: label, progress: progress).result
    }

    public func linearBias(about reference: [Double]) throws -> any LinearBias {
        try BiasForce(self, reference: reference)
    }

    public func relaxationReport(_ settings: RelaxationSettings, steps: Int) throws -> RelaxationResult {
        try evaluate()
        var result = try summarize(settings, cycles: 1, steps: steps)
        if !result.converged { result.stop = steps >= settings.maxIterations ? .iterationLimit : .stagnated }
        return result
    }

    public var workSharing: WorkSharing? {
        guard let partitions, partitions.count > 1 else { return nil }
        return WorkSharing(partitions: partitions)
    }

    /// LAMMPS's own conversion to its pressure unit (nktv2p), then that unit in GPa.
    public func gigapascalsPerEnergyDensity() throws -> Double {
        let table = ["metal": 1e-4, "real": 1.01325e-4, "si": 1e-9, "cgs": 1e-10, "electron": 1e-9,
                     "micro": 1e-6, "nano": 1e-3]
        guard let gigapascals = table[units] else {
            throw InputError.unsupportedSystem("elastic constants in GPa need physical units; the input uses `units \(units)`")
        }
        return try lammps.global("nktv2p") * gigapascals
    }
}

extension BiasForce: LinearBias {}

extension RelaxationResult {
    /// For force providers other than `Simulation`, which make their own relaxations (the
    /// synthesized initializer is internal to this module).
    public static func finished(energy: Double, volume: Double, cell: [[Double]], natoms: Int, maxForce: Double, cellResidual: Double,
                pressure: [Double], steps: Int, cycles: Int, converged: Bool, stop: RelaxationStop, units: String,
                settings: RelaxationSettings) -> RelaxationResult {
        RelaxationResult(energy: energy, volume: volume, cell: cell, natoms: natoms, maxForce: maxForce,
                         cellResidual: cellResidual, pressure: pressure, steps: steps, cycles: cycles,
                         converged: converged, stop: stop, units: units, settings: settings)
    }
}
