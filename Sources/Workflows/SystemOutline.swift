import Atomistics

/// What the checks of a campaign's systems need of each: its name, how its cell relaxes and what
/// kind of target it has. A campaign file knows this before any LAMMPS work, a campaign from its
/// systems: both run the one check below, and only spell what it finds their own way (the file
/// naming its keys, the campaign its targets and quantities).
public struct SystemOutline: Sendable {
    public enum Target: Sendable { case structure, elastic, none }

    public var name: String
    /// How the cell relaxes (an elastic target's: always aniso).
    public var cell: CellRelaxation
    public var target: Target

    public init(name: String, cell: CellRelaxation, target: Target) {
        (self.name, self.cell, self.target) = (name, cell, target)
    }
}

/// Where the systems and the quantities built on them (the fit's property targets, uq's
/// quantities; `quantity` is an index into them) do not fit together.
public enum OutlineProblem: Error, Equatable, Sendable {
    /// The quantity names `system`, none of the systems, among its `key` ("energy" or "volume") coefficients.
    case unknownSystem(quantity: Int, key: String, system: String)
    /// The quantity uses the volume of `system`, whose cell is fixed: that volume cannot change.
    case fixedVolume(quantity: Int, system: String)
    /// `system` has a structure target (a structure in its own cell) but relaxes its cell.
    case structureTargetCell(system: String)
    /// `system` has no target and no quantity uses it.
    case unused(system: String)
}

extension SystemOutline {
    /// The first of `problems`.
    public static func firstProblem(_ systems: [SystemOutline], quantities: [SystemQuantity],
                                    requireUse: Bool) -> OutlineProblem? {
        problems(systems, quantities: quantities, requireUse: requireUse).first
    }

    /// Every problem, in the order they are reported: structure targets on relaxing cells, then
    /// each quantity in turn (its systems known, its volumes changeable), then, with `requireUse`
    /// (the fit: a system is there for a target or a property), systems that nothing uses.
    public static func problems(_ systems: [SystemOutline], quantities: [SystemQuantity],
                                requireUse: Bool) -> [OutlineProblem] {
        var found = systems.filter { $0.target == .structure && $0.cell != .fixed }
            .map { OutlineProblem.structureTargetCell(system: $0.name) }
        let cells = Dictionary(systems.map { ($0.name, $0.cell) }, uniquingKeysWith: { first, _ in first })
        for (index, quantity) in quantities.enumerated() {
            for (key, coefficients) in [("energy", quantity.energy), ("volume", quantity.volume)] {
                if let unknown = coefficients.keys.sorted().first(where: { cells[$0] == nil }) {
                    found.append(.unknownSystem(quantity: index, key: key, system: unknown))
                }
            }
            if let fixed = quantity.volume.keys.sorted().first(where: { cells[$0] == .fixed }) {
                found.append(.fixedVolume(quantity: index, system: fixed))
            }
        }
        if requireUse {
            found += systems.filter { system in system.target == .none && !quantities.contains { $0.systems.contains(system.name) } }
                .map { .unused(system: $0.name) }
        }
        return found
    }
}
