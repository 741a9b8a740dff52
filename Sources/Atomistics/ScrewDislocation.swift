import Foundation
import LAMMPSLibrary

/// A ½⟨111⟩ screw dislocation along z in a cylinder of a bcc crystal (x = [11-2], y = [-110],
/// z = [111], one Burgers vector b = a√3/2 periodic along z), with an outer shell of held atoms:
/// the geometry of the paper's Fig. 4. Positions come from the anisotropic linear-elastic field
/// of `matscipy.dislocation` (run in the provisioned Python), centred on an "easy" or on an
/// adjacent "hard" core site; the two structures have the same atoms with the same IDs.
public struct ScrewDislocation: Sendable {
    public var latticeConstant: Double
    /// Cubic elastic constants (GPa) of the elastic field.
    public var c11: Double, c12: Double, c44: Double
    public var element: String
    /// Radius (Å) of the free region around the core line; atoms up to `radius + heldWidth` are held.
    public var radius: Double
    public var heldWidth: Double
    /// Vacuum (Å) between the cylinder and the non-periodic x and y box faces.
    public var margin = 10.0

    public init(latticeConstant: Double, c11: Double, c12: Double, c44: Double, element: String,
                radius: Double, heldWidth: Double) {
        self.latticeConstant = latticeConstant
        (self.c11, self.c12, self.c44) = (c11, c12, c44)
        self.element = element
        self.radius = radius
        self.heldWidth = heldWidth
    }

    public struct Cylinder: Sendable, Codable {
        /// Box lengths (Å); the box starts at the origin.
        public var lengths: [Double]
        /// 3 per atom, atom-ID order.
        public var easy: [Double]
        public var hard: [Double]
        /// The easy core line's (x, y) and the hard one's, in box coordinates.
        public var easyCore: [Double]
        public var hardCore: [Double]
        public var mass: Double
        /// The atom nearest the easy core line (1-based ID): the paper's substitutional site.
        public var coreAtom: Int
        /// Atoms beyond `radius` from the easy core line.
        public var heldAtoms: Int
        /// The C44 the elastic field used (matscipy's solver is singular for an isotropic crystal).
        public var c44Used: Double
        public var count: Int { easy.count / 3 }
    }

    /// Builds both cores with matscipy in `python` (the provisioned environment's interpreter).
    public func build(python: URL) throws -> Cylinder {
        guard latticeConstant > 0, c11 > c12, c44 > 0, radius > 0, heldWidth > 0 else {
            throw InputError.unsupportedSystem("""
                a dislocation needs a positive lattice constant, radius and held width, C11 > C12 and C44 > 0 \
                (got a0 \(latticeConstant), C11 \(c11), C12 \(c12), C44 \(c44), radius \(radius), held width \(heldWidth))
                """)
        }
        let request: [String: Any] = ["a0": latticeConstant, "C11": c11, "C12": c12, "C44": c44, "element": element,
                                      "radius": radius + heldWidth]
        let reply = try ProvisionedPython.run(python, script: Self.script, input: try JSONSerialization.data(withJSONObject: request),
                                             purpose: "the dislocation generator (matscipy)")
        guard let result = try JSONSerialization.jsonObject(with: reply) as? [String: Any],
              let cellLengths = result["lengths"] as? [Double], let easy = result["easy"] as? [Double],
              let hard = result["hard"] as? [Double], let centres = result["cores"] as? [[Double]],
              let mass = result["mass"] as? Double, let c44Used = result["c44"] as? Double
        else { throw InputError.helperFailed(what: "the dislocation generator", reason: "returned an unexpected answer") }
        // Centre the cylinder in a box with `margin` of vacuum in x and y; wrap z into [0, Lz).
        let low = (0..<2).map { axis in stride(from: axis, to: easy.count, by: 3).map { min(easy[$0], hard[$0]) }.min()! - margin }
        let high = (0..<2).map { axis in stride(from: axis, to: easy.count, by: 3).map { max(easy[$0], hard[$0]) }.max()! + margin }
        let lengths = [high[0] - low[0], high[1] - low[1], cellLengths[2]]
        func place(_ positions: [Double]) -> [Double] {
            positions.enumerated().map { index, value in
                let axis = index % 3
                if axis < 2 { return value - low[axis] }
                let wrapped = value.truncatingRemainder(dividingBy: lengths[2])
                return wrapped < 0 ? wrapped + lengths[2] : wrapped
            }
        }
        let easyCore = [centres[0][0] - low[0], centres[0][1] - low[1]]
        let placed = place(easy)
        let distances = stride(from: 0, to: placed.count, by: 3).map { hypot(placed[$0] - easyCore[0], placed[$0 + 1] - easyCore[1]) }
        return Cylinder(lengths: lengths, easy: placed, hard: place(hard), easyCore: easyCore,
                        hardCore: [centres[1][0] - low[0], centres[1][1] - low[1]], mass: mass,
                        coreAtom: distances.indices.min { distances[$0] < distances[$1] }! + 1,
                        heldAtoms: distances.filter { $0 > radius }.count, c44Used: c44Used)
    }

    /// A LAMMPS data file (atom_style atomic, one type) of the cylinder's `positions`.
    public static func dataFile(_ cylinder: Cylinder, positions: [Double], title: String) -> String {
        var lines = ["# \(title)", "", "\(cylinder.count) atoms", "1 atom types", ""]
        for (axis, name) in ["x", "y", "z"].enumerated() {
            lines.append(String(format: "0.0 %.12f %@lo %@hi", cylinder.lengths[axis], name, name))
        }
        lines += ["", "Masses", "", String(format: "1 %.6f", cylinder.mass), "", "Atoms # atomic", ""]
        for atom in 0..<cylinder.count {
            lines.append(String(format: "%d 1 %.12f %.12f %.12f", atom + 1, positions[3 * atom], positions[3 * atom + 1],
                                positions[3 * atom + 2]))
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// The elastic field of matscipy's `BCCScrew111Dislocation` (no self-consistent relaxation)
    /// on a bcc cylinder of radius `radius` around the easy core; the hard core is the centre of
    /// the adjacent triangle of ⟨111⟩ columns of the other orientation, a√2/3 away along −y.
    static let script = #"""
    import json, sys
    import numpy as np
    from ase.data import atomic_masses, atomic_numbers
    from matscipy.dislocation import BCCScrew111Dislocation
    p = json.load(sys.stdin)
    a0, c11, c12, c44 = p["a0"], p["C11"], p["C12"], p["C44"]
    # matscipy's Stroh solver is singular at Zener ratio 1; the <111> screw field hardly depends on it.
    if abs(2 * c44 / (c11 - c12) - 1) < 0.01:
        c44 = 1.01 * (c11 - c12) / 2
    d = BCCScrew111Dislocation(a0, c11, c12, c44, symbol=p["element"])
    R = p["radius"]
    lengths = d.unit_cell.cell.lengths()
    n = [int(np.ceil(2 * R / lengths[0])) + 4, int(np.ceil(2 * R / lengths[1])) + 4, 1]
    block = d.unit_cell * n
    easy = np.array([n[0] // 2 * lengths[0], n[1] // 2 * lengths[1], 0.0]) + d.unit_cell_core_position
    hard = easy + np.array([0.0, -a0 * np.sqrt(2) / 3, 0.0])
    x = block.positions[np.hypot(*(block.positions[:, :2] - easy[:2]).T) < R]
    x = x[np.lexsort((x[:, 0], x[:, 1]))]
    field = lambda core: x + d.displacements(x, core[None, :], method="adsl", self_consistent=False, verbose=False)
    json.dump({"lengths": lengths.tolist(), "easy": field(easy).ravel().tolist(), "hard": field(hard).ravel().tolist(),
               "cores": [easy.tolist(), hard.tolist()], "mass": float(atomic_masses[atomic_numbers[p["element"]]]),
               "c44": c44}, sys.stdout)
    """#
}
