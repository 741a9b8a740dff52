import Atomistics
import Foundation
import ImplicitDerivative
import LinearAlgebra
import Potentials


/// What a system's minimum should become.
public enum FitTarget: Sendable {
    /// Positions, 3 per atom in atom-ID order: the term ½‖P(X* − X_target)‖².
    case structure([Double])
    /// Elastic constants (6×6 Voigt, GPa; `mask` marks the components that count): the term
    /// ½‖C − C_target‖² in Mandel notation (shear rows and columns weighted by √2), with C the
    /// relaxed-ion tensor of the system's cell relaxed anisotropically.
    case elastic(tensor: [[Double]], mask: [[Bool]])
    /// No target of its own: the system takes part through energy targets only.
    case none

    /// C11, C12, C44 (or any Cij, i ≤ j): a cubic tensor when exactly those three are given, else
    /// the given components alone.
    public static func elastic(_ components: [String: Double]) throws -> FitTarget {
        var tensor = [[Double]](repeating: [Double](repeating: 0, count: 6), count: 6)
        var mask = [[Bool]](repeating: [Bool](repeating: false, count: 6), count: 6)
        func set(_ i: Int, _ j: Int, _ value: Double) {
            (tensor[i][j], tensor[j][i], mask[i][j], mask[j][i]) = (value, value, true, true)
        }
        if Set(components.keys) == ["C11", "C12", "C44"] {
            guard components.values.allSatisfy(\.isFinite) else { throw CampaignError.cubicElasticNotFinite }
            let (c11, c12, c44) = (components["C11"]!, components["C12"]!, components["C44"]!)
            for i in 0..<6 {
                for j in 0..<6 { set(i, j, i < 3 && j < 3 ? (i == j ? c11 : c12) : (i == j ? c44 : 0)) }
            }
        } else {
            guard !components.isEmpty else { throw CampaignError.noElasticComponent }
            for (key, value) in components {
                guard value.isFinite else { throw CampaignError.elasticComponentNotFinite(key: key, value: value) }
                let digits = key.dropFirst().compactMap { $0.wholeNumberValue }
                guard key.first == "C", key.count == 3, digits.count == 2, (1...6).contains(digits[0]),
                      (digits[0]...6).contains(digits[1]) else {
                    throw CampaignError.elasticComponentName(key)
                }
                set(digits[0] - 1, digits[1] - 1, value)
            }
        }
        return .elastic(tensor: tensor, mask: mask)
    }
}

/// One system of a campaign: its energy's derivatives in Θ (all systems share Θ) and, through
/// them, its force provider; what its minimum should become, and its weight in the loss. Only
/// what the engine sees: a campaign computes on LAMMPS and on the reference model alike, and the
/// runner that writes potential files keeps the `ParametrizedEnergy` itself.
public struct FitSystem {
    public var name: String
    public var energy: any ParameterDerivatives
    public var target: FitTarget
    public var weight: Double
    /// Per-atom weights w_i of a structure target's ½ Σ_i w_i ‖r_i‖² (atom-ID order; nil: all 1).
    public var atomWeights: [Double]?

    /// How the cell relaxes (elastic targets: always aniso); volumes change only if it does.
    public var cellRelaxation: CellRelaxation

    public init(name: String, energy: any ParameterDerivatives, target: FitTarget, weight: Double = 1,
                atomWeights: [Double]? = nil, cell: CellRelaxation = .fixed) {
        self.cellRelaxation = cell
        self.name = name
        self.energy = energy
        self.target = target
        self.weight = weight
        self.atomWeights = atomWeights
    }

    /// The system the energy is evaluated on: relaxations, structures, cost counters.
    var provider: any ForceProvider { energy.forceProvider }

    /// W v: each atom's three components times its weight.
    func weighted(_ v: [Double]) -> [Double] {
        guard let atomWeights else { return v }
        return v.enumerated().map { $0.element * atomWeights[$0.offset / 3] }
    }

    var hasNoTarget: Bool {
        if case .none = target { return true }
        return false
    }

    /// What the checks shared with the campaign file see of the system.
    var outline: SystemOutline {
        switch target {
        case .structure: return SystemOutline(name: name, cell: cell, target: .structure)
        case .elastic: return SystemOutline(name: name, cell: cell, target: .elastic)
        case .none: return SystemOutline(name: name, cell: cell, target: .none)
        }
    }

    /// Structure targets relax at fixed cell; elastic ones with their cell (anisotropically);
    /// systems of property targets as chosen.
    var cell: CellRelaxation {
        if case .elastic = target { return .aniso }
        return cellRelaxation
    }
}

/// A linear combination of the relaxed energies and volumes of named systems,
/// P = Σ_s c_s E*_s + Σ_s d_s V*_s, that should equal `value` (e.g. a vacancy formation energy
/// E_vac − (N−1)/N E_bulk, or a formation volume): the term ½ w (P − value)². Its gradient is
/// Σ c_s ∇Θ U_s at the minima (∇X U = 0 there, no position derivative needed) plus
/// Σ d_s V_s tr(∇Θ ε_s) from the strain derivative of each cell-relaxed system.
public struct PropertyTarget: Sendable {
    /// P: c_s the coefficients of the systems' energies (eV), d_s of their cell volumes (Å³; the
    /// systems must relax their cells). The same combination uq propagates.
    public var quantity: SystemQuantity
    public var value: Double
    public var weight: Double

    public init(name: String, coefficients: [String: Double], volumeCoefficients: [String: Double] = [:],
                value: Double, weight: Double = 1) {
        // A combination of energies and volumes has no single unit.
        let unit = volumeCoefficients.isEmpty ? "eV" : coefficients.isEmpty ? "Å³" : ""
        quantity = SystemQuantity(name: name, unit: unit, energy: coefficients, volume: volumeCoefficients)
        self.value = value
        self.weight = weight
    }

    public var name: String { quantity.name }
}
