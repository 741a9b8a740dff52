import Foundation

/// Judges a relaxed structure by itself, not by how far it moved from the start: a cell that
/// relaxes from a poor lattice constant to the right one may change its volume twofold (diamond
/// Si from a0 = 4.3 Å to 5.431 Å), while a potential read with the wrong units or a wrong
/// element makes a cell collapse onto itself or expand until no atom feels another.
public enum RelaxedStructureCheck {
    /// Below this median nearest-neighbour distance (Å) no solid exists: the H₂ bond, the shortest
    /// there is, is 0.74 Å.
    static let collapsedDistance = 0.7

    /// What is wrong with the relaxed state of `simulation` (evaluates once), or nil.
    public static func problem(of simulation: Simulation) throws -> String? {
        let structure = try simulation.structure()
        guard structure.count > 1 else { return nil }
        if let overlap = structure.overlapReport() { return "the atoms fell onto each other: \(overlap)" }
        let median = structure.closePairs().typicalDistance
        if ["metal", "real"].contains(simulation.units), median > 0, median < collapsedDistance {
            return String(format: "the structure collapsed: its median nearest-neighbour distance is %.3g Å", median)
        }
        // Atoms beyond every other's cutoff feel nothing: forces and virial are then exactly zero,
        // which no interacting minimum reaches bit for bit.
        let virial = try simulation.virialPressure()
        let forces = try simulation.forces()
        if virial.allSatisfy({ $0 == 0 }), forces.allSatisfy({ $0 == 0 }) {
            return String(format: """
                the structure fell apart: no atom interacts with another at the relaxed cell (forces and virial are \
                exactly zero; median nearest-neighbour distance %.4g)
                """, median)
        }
        return nil
    }
}
