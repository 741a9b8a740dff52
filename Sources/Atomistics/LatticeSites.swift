import Foundation

/// The sites of a cubic Bravais crystal (bcc or fcc) filling an orthogonal periodic box, and the
/// site each atom sits on: what a structure with point defects only (vacancies, substitutions,
/// relaxation displacements) looks like. Interstitials, dislocations, surfaces and tilted boxes
/// are not such structures.
///
/// Sites are numbered by conventional cell and basis atom, site = b + m·(cx + nx·(cy + ny·cz)),
/// with integer coordinates in half lattice constants, h = 2c + τ_b (bcc τ: 000, 111; fcc τ: 000,
/// 110, 101, 011), so that the difference of two sites is an exact lattice vector.
public struct LatticeSites: Sendable {
    public enum Kind: String, Sendable { case bcc, fcc }

    public let kind: Kind
    /// Conventional cells along x, y, z.
    public let cells: [Int]
    /// Lattice constant along each axis (Å): box length / cells.
    public let spacing: [Double]
    /// The site (index as above) of each atom, atom-ID order.
    public let siteOfAtom: [Int]

    /// Basis atoms of the conventional cell in half lattice constants.
    public var basis: [[Int]] {
        switch kind {
        case .bcc: return [[0, 0, 0], [1, 1, 1]]
        case .fcc: return [[0, 0, 0], [1, 1, 0], [1, 0, 1], [0, 1, 1]]
        }
    }
    public var siteCount: Int { basis.count * cells.reduce(1, *) }
    /// Conventional cell (cx, cy, cz) of cell index cx + nx(cy + ny cz).
    public func cellCoordinates(_ cell: Int) -> [Int] {
        [cell % cells[0], (cell / cells[0]) % cells[1], cell / (cells[0] * cells[1])]
    }
    /// The site index of basis atom `basis` in cell `c`.
    public func site(cell c: [Int], basis b: Int) -> Int {
        b + basis.count * (c[0] + cells[0] * (c[1] + cells[1] * c[2]))
    }
    /// Half-lattice coordinates of a site, each in 0..<2n.
    public func coordinates(ofSite site: Int) -> [Int] {
        let m = basis.count
        let c = cellCoordinates(site / m)
        return (0..<3).map { 2 * c[$0] + basis[site % m][$0] }
    }
    /// Sites no atom sits on.
    public var vacantSites: [Int] {
        var occupied = [Bool](repeating: false, count: siteCount)
        for site in siteOfAtom { occupied[site] = true }
        return (0..<siteCount).filter { !occupied[$0] }
    }

    /// The lattice of `structure`, or why it has none. Atoms must lie within a quarter of the
    /// nearest-neighbour distance of distinct sites; at most a tenth of the sites may be vacant.
    public static func recognize(_ structure: Structure) -> Result<LatticeSites, NotALattice> {
        let box = structure.box
        guard box.periodic.allSatisfy({ $0 }) else { return .failure(NotALattice("the box is not periodic along every axis")) }
        guard box.xy == 0, box.xz == 0, box.yz == 0 else { return .failure(NotALattice("the box is tilted")) }
        let nearest = structure.closePairs().typicalDistance
        guard nearest > 0 else { return .failure(NotALattice("it has fewer than two atoms")) }
        let lengths = (0..<3).map { box.high[$0] - box.low[$0] }
        var reasons: [String] = []
        for kind in [Kind.bcc, .fcc] {
            let constant = kind == .bcc ? 2 * nearest / 3.0.squareRoot() : 2.0.squareRoot() * nearest
            let cells = lengths.map { max(1, Int(($0 / constant).rounded())) }
            guard zip(lengths, cells).allSatisfy({ abs($0 / (Double($1) * constant) - 1) < 0.05 }) else {
                reasons.append("\(kind.rawValue): the box is not a whole number of cells of \(String(format: "%.4g", constant)) Å")
                continue
            }
            let candidate = LatticeSites(kind: kind, cells: cells, spacing: zip(lengths, cells).map { $0 / Double($1) }, siteOfAtom: [])
            let sites = candidate.siteCount
            guard structure.count <= sites, structure.count >= sites - max(1, sites / 10) else {
                reasons.append("\(kind.rawValue): \(structure.count) atoms for \(sites) sites")
                continue
            }
            // The lattice's origin: on one of the first atoms (a substituted or displaced atom may
            // sit off its site, so a few are tried); the first attempt's failure is reported.
            var failure: String?
            for origin in 0..<min(structure.count, 8) {
                switch candidate.assign(structure, origin: origin, tolerance: 0.25 * nearest) {
                case .success(let assigned): return .success(assigned)
                case .failure(let reason): failure = failure ?? "with a site on atom \(origin + 1), \(reason)"
                }
            }
            reasons.append("\(kind.rawValue): \(failure ?? "no atoms")")
        }
        return .failure(NotALattice(reasons.joined(separator: "; ")))
    }

    /// Each atom on its nearest site, the lattice placed with a site on atom `origin`.
    private func assign(_ structure: Structure, origin: Int, tolerance: Double) -> Result<LatticeSites, NotALattice> {
        var siteOfAtom: [Int] = []
        var taken = [Bool](repeating: false, count: siteCount)
        for atom in 0..<structure.count {
            // Position relative to the origin atom in half lattice constants (minimum image).
            let difference = minimumImage((0..<3).map { structure.positions[3 * atom + $0] - structure.positions[3 * origin + $0] },
                                          in: structure.box)
            let h = (0..<3).map { difference[$0] / (spacing[$0] / 2) }
            let point = nearestSite(to: h)
            let offset = sqrt((0..<3).reduce(0.0) { $0 + pow((h[$1] - Double(point[$1])) * spacing[$1] / 2, 2) })
            guard offset < tolerance else {
                return .failure(NotALattice(String(format: "atom %d is %.3g Å from the nearest site", atom + 1, offset)))
            }
            let wrapped = (0..<3).map { ((point[$0] % (2 * cells[$0])) + 2 * cells[$0]) % (2 * cells[$0]) }
            let cell = wrapped.map { $0 / 2 }
            let tau = wrapped.map { $0 % 2 }
            guard let b = basis.firstIndex(of: tau) else { return .failure(NotALattice("internal: site off the lattice")) }
            let index = site(cell: cell, basis: b)
            guard !taken[index] else { return .failure(NotALattice("two atoms share the site of atom \(atom + 1)")) }
            taken[index] = true
            siteOfAtom.append(index)
        }
        return .success(LatticeSites(kind: kind, cells: cells, spacing: spacing, siteOfAtom: siteOfAtom))
    }

    /// The lattice point (half-lattice integer coordinates) nearest to h: bcc points have all
    /// coordinates even or all odd, fcc points an even sum.
    private func nearestSite(to h: [Double]) -> [Int] {
        func distance(_ p: [Int]) -> Double { (0..<3).reduce(0.0) { $0 + pow((h[$1] - Double(p[$1])) * spacing[$1], 2) } }
        switch kind {
        case .bcc:
            let even = h.map { 2 * Int(($0 / 2).rounded()) }
            let odd = h.map { 2 * Int((($0 - 1) / 2).rounded()) + 1 }
            return distance(even) <= distance(odd) ? even : odd
        case .fcc:
            var p = h.map { Int($0.rounded()) }
            if p.reduce(0, +) % 2 != 0 {
                // Move the coordinate that was rounded furthest to its other neighbour.
                let axis = (0..<3).max { abs(h[$0] - Double(p[$0])) < abs(h[$1] - Double(p[$1])) }!
                p[axis] += h[axis] > Double(p[axis]) ? 1 : -1
            }
            return p
        }
    }

    public struct NotALattice: Error, CustomStringConvertible {
        public let description: String
        init(_ description: String) { self.description = description }
    }
}
