import Atomistics
import Foundation
import ImplicitDerivative
import LinearAlgebra
import Potentials

/// A linear combination of the relaxed energies and volumes of named systems, e.g. the vacancy
/// formation energy E_vac − (N−1)/N E_bulk.
public struct SystemQuantity: Codable, Sendable, Equatable {
    public var name: String
    /// eV or Å³ (or both mixed, "").
    public var unit: String
    public var energy: [String: Double]
    public var volume: [String: Double]

    public init(name: String, unit: String, energy: [String: Double] = [:], volume: [String: Double] = [:]) {
        (self.name, self.unit, self.energy, self.volume) = (name, unit, energy, volume)
    }

    public var systems: Set<String> { Set(energy.keys).union(volume.keys) }

    /// The coefficients by system name, in name order. A dictionary's own order differs from one
    /// process to the next: on MPI ranks it would place the systems (collective LAMMPS calls) in
    /// different orders and deadlock (seen), and sum round-off differently everywhere.
    public var energyTerms: [(system: String, coefficient: Double)] { energy.sorted { $0.key < $1.key }.map { ($0.key, $0.value) } }
    public var volumeTerms: [(system: String, coefficient: Double)] { volume.sorted { $0.key < $1.key }.map { ($0.key, $0.value) } }

    public func value(energies: [String: Double], volumes: [String: Double]) -> Double {
        energyTerms.reduce(0) { $0 + $1.coefficient * energies[$1.system]! } + volumeTerms.reduce(0) { $0 + $1.coefficient * volumes[$1.system]! }
    }

    /// E_f = E_vac − (N−1)/N E_bulk and V_f = V_vac − (N−1)/N V_bulk, N the atoms of the bulk cell.
    public static func vacancyFormation(bulk: String, vacancy: String, bulkAtoms: Int) -> [SystemQuantity] {
        let fraction = Double(bulkAtoms - 1) / Double(bulkAtoms)
        return [SystemQuantity(name: "E_f", unit: "eV", energy: [vacancy: 1, bulk: -fraction]),
                SystemQuantity(name: "V_f", unit: "Å³", volume: [vacancy: 1, bulk: -fraction])]
    }
}

/// One system of an uncertainty campaign: a relaxed minimum whose energy and volume enter the
/// quantities. Its energy as the engine sees it (derivatives in Θ, and through them its force
/// provider): the campaign runs on LAMMPS and on the reference model alike.
public struct UncertaintySystem {
    public var name: String
    public var energy: any ParameterDerivatives
    public var cell: CellRelaxation
    /// Also require positive-definite relaxed-ion elastic constants of every true minimum (a
    /// perfect crystal that a shear would destabilize stays put under an iso relaxation).
    public var checkElastic: Bool

    public init(name: String, energy: any ParameterDerivatives, cell: CellRelaxation, checkElastic: Bool = false) {
        (self.name, self.energy, self.cell, self.checkElastic) = (name, energy, cell, checkElastic)
    }
}

/// A member Θ(λ, m) of the scaled ensemble.
public struct EnsemblePoint: Codable, Sendable, Hashable {
    public var sample: Int
    public var lambda: Double
    public init(sample: Int, lambda: Double) { (self.sample, self.lambda) = (sample, lambda) }
}

/// What a true relaxation of one ensemble member gave.
public struct TruthOutcome: Codable, Sendable {
    public var point: EnsemblePoint
    public var energies: [String: Double]
    public var volumes: [String: Double]
    /// Quantity name → value (empty when a system failed).
    public var quantities: [String: Double]
    /// Why the member is excluded from the statistics (nil: a good minimum).
    public var failure: String?
    /// Relaxation iterations and force evaluations (checks included), per system and in all.
    public var systemEvaluations: [String: Int] = [:]
    public var forceEvaluations: Int
    public var seconds: Double
}
