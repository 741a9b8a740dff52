import Foundation
import LAMMPSLibrary

/// Homogeneous strains in Voigt order (xx, yy, zz, yz, xz, xy). A strain e deforms the cell by
/// F = I + [[e1, e6, e5], [0, e2, e4], [0, 0, e3]]: normal strains stretch the axes, shears are
/// LAMMPS tilts (simple shears, engineering strains), as LAMMPS's ELASTIC example applies them.
public enum Voigt {
    public static let labels = ["xx", "yy", "zz", "yz", "xz", "xy"]
    /// (row, column) of F that each Voigt component sets.
    public static let entries = [(0, 0), (1, 1), (2, 2), (1, 2), (0, 2), (0, 1)]

    public static func unit(_ k: Int) -> [Double] { (0..<6).map { $0 == k ? 1 : 0 } }

    /// F − I as a 3×3 matrix.
    public static func displacementGradient(_ e: [Double]) -> [[Double]] {
        var g = [[Double]](repeating: [0, 0, 0], count: 3)
        for (k, (row, column)) in entries.enumerated() { g[row][column] = e[k] }
        return g
    }

    /// A strain given by its 3 diagonal components (the cell relaxations' generators).
    public static func diagonal(_ d: [Double]) -> [Double] { d + [0, 0, 0] }
}

extension CellRelaxation {
    /// The homogeneous strains a cell relaxation moves along (Voigt): iso the one dilation, aniso
    /// the three axes, fixed none. The engine's strain derivatives and every minimizer share them.
    public var strainGenerators: [[Double]] {
        switch self {
        case .fixed: return []
        case .iso: return [Voigt.diagonal([1, 1, 1])]
        case .aniso: return (0..<3).map(Voigt.unit)
        }
    }

    /// The part of a diagonal stress (pressure, or virial W) this cell relaxation drives to zero:
    /// none at fixed cell, the mean's magnitude for iso, the largest component's for aniso. Of W
    /// (or P·V) it is the cell residual |P|·V every relaxation's convergence rule reads.
    public func drivenMagnitude(_ diagonal: [Double]) -> Double {
        switch self {
        case .fixed: return 0
        case .iso: return abs(diagonal.reduce(0, +) / 3)
        case .aniso: return diagonal.map(abs).max()!
        }
    }

    /// ∂U/∂e along each strain generator for a cell deformed by F = I + diag(`strain`) (3 values),
    /// from the virial W: ∂U/∂F = −W F⁻ᵀ.
    public func strainGradient(virial w: [[Double]], strain: [Double]) -> [Double] {
        strainGenerators.map { g in (0..<3).reduce(0) { $0 - g[$1] * w[$1][$1] / (1 + strain[$1]) } }
    }
}

extension Simulation {
    /// Deforms the cell `reference` (orthogonal) by the strain `e` (Voigt), atoms following at
    /// fixed scaled coordinates; normal strains about the cell's centre. The box becomes
    /// triclinic when a shear is applied.
    public func deform(_ reference: Box, by e: [Double]) throws {
        precondition(e.count == 6)
        guard reference.xy == 0, reference.xz == 0, reference.yz == 0 else {
            throw InputError.unsupportedSystem("strains are applied to orthogonal cells; this one is triclinic")
        }
        let lengths = (0..<3).map { reference.high[$0] - reference.low[$0] }
        var command = "change_box all " + (0..<3).map { axis in
            let center = (reference.low[axis] + reference.high[axis]) / 2
            let half = lengths[axis] / 2 * (1 + e[axis])
            return "\(["x", "y", "z"][axis]) final \(center - half) \(center + half)"
        }.joined(separator: " ")
        if e[3...].contains(where: { $0 != 0 }) || lammps.setting("triclinic") == 1 {
            try makeTriclinic()
            // Tilts of F·h for an orthogonal reference h = diag(lx, ly, lz).
            command += " xy final \(e[5] * lengths[1]) xz final \(e[4] * lengths[2]) yz final \(e[3] * lengths[2])"
        }
        try lammps.command(command + " remap units box")
    }

    /// Keeps atoms in their creation order in memory (LAMMPS re-sorts them spatially every 1000
    /// steps by default, so force sums are added in an order that depends on the run's history):
    /// runs that must be reproducible bit for bit after a restart (`fit --resume`) need this.
    public func keepAtomOrder() throws {
        try lammps.command("atom_modify sort 0 0.0")
    }

    /// Which atoms (atom-ID order) belong to the LAMMPS group `name`.
    public func groupMembership(_ name: String) throws -> [Bool] {
        guard lammps.hasID(category: "group", id: name) else {
            throw InputError.undefined(kind: "group", name: name, input: input.lastPathComponent)
        }
        try lammps.commands("""
            fix ilmp_membership all property/atom d_ilmp_member
            set group \(name) d_ilmp_member 1
            """)
        defer { try? lammps.command("unfix ilmp_membership") }
        return try lammps.gather("d_ilmp_member", count: 1).map { $0 == 1 }
    }

    /// Makes the box triclinic (with its current, zero, tilts) so that shears can be applied.
    public func makeTriclinic() throws {
        guard lammps.setting("triclinic") == 0 else { return }
        try lammps.command("change_box all triclinic")
    }

    /// The virial part of the pressure tensor (pxx, pyy, pzz, pxy, pxz, pyz) at the current
    /// positions, in LAMMPS pressure units: evaluates.
    public func virialPressure() throws -> [Double] {
        if !lammps.hasID(category: "compute", id: "ilmp_virial") {
            try lammps.command("compute ilmp_virial all pressure NULL virial")
        }
        try evaluate()
        let pressure = try lammps.computeVector("ilmp_virial")
        guard pressure.count == 6, pressure.allSatisfy(\.isFinite) else {
            throw InputError.nonFinite("the virial is \(pressure)")
        }
        return pressure
    }

    /// The virial tensor W (energy units, 3×3, W = P_virial·V) at the current positions.
    public func virial() throws -> [[Double]] {
        let p = try virialPressure()
        let scale = lammps.box().volume / (try lammps.global("nktv2p"))
        let (xx, yy, zz, xy, xz, yz) = (p[0], p[1], p[2], p[3], p[4], p[5])
        return [[xx, xy, xz], [xy, yy, yz], [xz, yz, zz]].map { $0.map { $0 * scale } }
    }

    /// Redefines the potential with new `pair_style`/`pair_coeff`/variable commands (e.g. the
    /// same lines with other files or values); the next evaluation re-initialises LAMMPS.
    public func redefinePotential(_ commands: [PotentialCommand]) throws {
        // Re-issued input lines resolve relative file names against the input's folder, as at first.
        try Simulation.inFolder(of: input) { try lammps.commands(commands.map(\.text).joined(separator: "\n")) }
    }

    /// A per-atom descriptor compute (`compute ID all STYLE ARGS`), defined once.
    public func definePerAtomCompute(id: String, style: String, arguments: String) throws {
        guard !lammps.hasID(category: "compute", id: id) else { return }
        try lammps.command("compute \(id) all \(style) \(arguments)")
    }
}

/// One command that defines (part of) a potential.
public enum PotentialCommand: Sendable {
    /// `pair_coeff` with its arguments, file paths already quoted where needed.
    case pairCoeff([String])
    /// A line of the user's input re-issued verbatim (LAMMPS expands its variables again).
    case inputLine(String)
    /// `variable NAME equal VALUE` (replacing whatever NAME was).
    case variable(name: String, value: Double)

    public var text: String {
        switch self {
        case .pairCoeff(let words): return "pair_coeff " + words.joined(separator: " ")
        case .inputLine(let line): return line
        case .variable(let name, let value):
            return "variable \(name) delete\nvariable \(name) equal \(String(format: "%.17g", value))"
        }
    }
}

/// The linear bias of the paper's constrained minimization (eq. 15): U(X) + b·(X − X0) through
/// `fix addforce` with a matching energy, so the minimizer's line search sees a consistent energy.
public final class BiasForce {
    private let simulation: Simulation
    private var active = true

    /// Installs a zero bias about the unwrapped positions `reference` (3 per atom, atom-ID order).
    public init(_ simulation: Simulation, reference: [Double]) throws {
        self.simulation = simulation
        let lammps = simulation.lammps
        try simulation.evaluate()  // minimizers need LAMMPS's energy tallying back
        try lammps.commands("""
            fix ilmp_bias_data all property/atom d_ilmp_bx d_ilmp_by d_ilmp_bz d_ilmp_x0 d_ilmp_y0 d_ilmp_z0
            compute ilmp_unwrapped all property/atom xu yu zu
            variable ilmp_fx atom -d_ilmp_bx
            variable ilmp_fy atom -d_ilmp_by
            variable ilmp_fz atom -d_ilmp_bz
            variable ilmp_bias_energy atom "d_ilmp_bx*(c_ilmp_unwrapped[1]-d_ilmp_x0) + d_ilmp_by*(c_ilmp_unwrapped[2]-d_ilmp_y0) + d_ilmp_bz*(c_ilmp_unwrapped[3]-d_ilmp_z0)"
            """)
        for (axis, name) in ["x", "y", "z"].enumerated() {
            try lammps.scatter("d_ilmp_\(name)0", count: 1, values: stride(from: axis, to: reference.count, by: 3).map { reference[$0] })
        }
        try lammps.command("fix ilmp_bias all addforce v_ilmp_fx v_ilmp_fy v_ilmp_fz energy v_ilmp_bias_energy")
        try lammps.command("fix_modify ilmp_bias energy yes")
    }

    /// Sets the bias gradient b (3 per atom): the added force is −b.
    public func set(_ b: [Double]) throws {
        for (axis, name) in ["x", "y", "z"].enumerated() {
            try simulation.lammps.scatter("d_ilmp_b\(name)", count: 1, values: stride(from: axis, to: b.count, by: 3).map { b[$0] })
        }
    }

    public func remove() throws {
        guard active else { return }
        active = false
        try simulation.lammps.commands("""
            unfix ilmp_bias
            unfix ilmp_bias_data
            uncompute ilmp_unwrapped
            """)
    }

    deinit { try? remove() }
}

/// Atoms chosen by the user: by atom ID, by a LAMMPS group of the input, or by a LAMMPS region.
public enum AtomSelection: Sendable, Equatable {
    case ids([Int])
    case group(String)
    case region(String)

    /// The LAMMPS `group` command that makes group `name` of exactly these atoms.
    func groupCommand(_ name: String) -> String {
        switch self {
        case .ids(let ids) where ids.isEmpty: return "group \(name) empty"
        case .ids(let ids): return "group \(name) id " + ids.map(String.init).joined(separator: " ")
        case .group(let group): return "group \(name) union \(group)"
        case .region(let region): return "group \(name) region \(region)"
        }
    }
}

extension Simulation {
    /// Makes group `name` of the selected atoms, and says which atoms (atom-ID order) are in it.
    @discardableResult
    public func defineGroup(_ name: String, of selection: AtomSelection) throws -> [Bool] {
        switch selection {
        case .ids(let ids):
            if let bad = ids.first(where: { !(1...lammps.natoms).contains($0) }) {
                throw InputError.noSuchAtom(id: bad, atoms: lammps.natoms, input: input.lastPathComponent)
            }
        case .group(let group):
            guard lammps.hasID(category: "group", id: group) else {
                throw InputError.undefined(kind: "group", name: group, input: input.lastPathComponent)
            }
        case .region(let region):
            guard lammps.hasID(category: "region", id: region) else {
                throw InputError.undefined(kind: "region", name: region, input: input.lastPathComponent)
            }
        }
        if lammps.hasID(category: "group", id: name) { try lammps.command("group \(name) delete") }
        try lammps.command(selection.groupCommand(name))
        return try groupMembership(name)
    }

    /// Gives the atoms of group `group` the atom type `type` (`set group … type`).
    public func setType(ofGroup group: String, to type: Int) throws {
        try lammps.command("set group \(group) type \(type)")
    }

    /// The mass of atom type `type` (`mass` command).
    public func setMass(ofType type: Int, to mass: Double) throws {
        try lammps.command("mass \(type) \(String(format: "%.17g", mass))")
    }
}
