import Atomistics
import ImplicitDerivative
import LinearAlgebra
import XCTest

/// The exponential and lattice preconditioners on bcc and fcc crystals, without LAMMPS.
final class PreconditionerTests: XCTestCase {
    static let bccBasis = [[0.0, 0, 0], [0.5, 0.5, 0.5]]
    static let fccBasis = [[0.0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]]

    private func bccCrystal(cells: Int, a: Double) -> Structure { crystal(cells: [cells, cells, cells], a: a, basis: Self.bccBasis) }

    private func crystal(cells: [Int], a: Double, basis: [[Double]], origin: [Double] = [0, 0, 0]) -> Structure {
        var positions: [Double] = []
        for x in 0..<cells[0] { for y in 0..<cells[1] { for z in 0..<cells[2] {
            for b in basis {
                positions += [(Double(x) + b[0]) * a + origin[0], (Double(y) + b[1]) * a + origin[1], (Double(z) + b[2]) * a + origin[2]]
            }
        } } }
        let n = positions.count / 3
        return Structure(box: Box(low: [0, 0, 0], high: cells.map { Double($0) * a }), positions: positions,
                         images: [Int32](repeating: 0, count: 3 * n), types: [Int32](repeating: 1, count: n), masses: [183.84])
    }

    private func removing(_ atoms: Set<Int>, from s: Structure) -> Structure {
        let kept = (0..<s.count).filter { !atoms.contains($0) }
        return Structure(box: s.box, positions: kept.flatMap { s.positions[3 * $0..<3 * $0 + 3] },
                         images: kept.flatMap { s.images[3 * $0..<3 * $0 + 3] }, types: kept.map { s.types[$0] }, masses: s.masses)
    }

    /// H v of central springs k(r) = exp(−r) between atoms closer than `cutoff`: a crystal's
    /// Hessian with the translation invariance and symmetry of a real one.
    private func springHessianProduct(_ s: Structure, cutoff: Double) -> ([Double]) -> [Double] {
        let springs = s.pairs(within: cutoff).map { i, j, r -> (Int, Int, [Double]) in
            let d = minimumImage((0..<3).map { s.positions[3 * i + $0] - s.positions[3 * j + $0] }, in: s.box)
            return (i, j, d.map { $0 / r * exp(-r / 2) })
        }
        return { v in
            var result = [Double](repeating: 0, count: v.count)
            for (i, j, e) in springs {
                let stretch = (0..<3).reduce(0.0) { $0 + e[$1] * (v[3 * i + $1] - v[3 * j + $1]) }
                for axis in 0..<3 {
                    result[3 * i + axis] += e[axis] * stretch
                    result[3 * j + axis] -= e[axis] * stretch
                }
            }
            return result
        }
    }

    func testSymmetricPositiveAndZeroOnHeldComponents() throws {
        let crystal = bccCrystal(cells: 4, a: 3.18)
        // The first 10 atoms held entirely, atom 11 only along z (as `fix setforce NULL NULL 0`).
        var mobile = [Bool](repeating: true, count: 3 * crystal.count)
        for index in 0..<30 { mobile[index] = false }
        mobile[3 * 10 + 2] = false
        let dofs = DegreesOfFreedom(mobile: mobile, translationAxes: [])
        let p = try ExponentialPreconditioner(minimum: crystal, degreesOfFreedom: dofs)
        XCTAssertEqual(p.nearestNeighbourDistance, 3.18 * 3.0.squareRoot() / 2, accuracy: 1e-9)
        var generator = SplitMix64(seed: 3)
        let u = (0..<3 * crystal.count).map { _ in Double.random(in: -1...1, using: &generator) }
        let v = (0..<3 * crystal.count).map { _ in Double.random(in: -1...1, using: &generator) }
        let pu = p.apply(dofs.project(u)), pv = p.apply(dofs.project(v))
        XCTAssertEqual(dot(dofs.project(v), pu), dot(dofs.project(u), pv), accuracy: 1e-10 * norm(pu) * norm(v))
        XCTAssertGreaterThan(dot(dofs.project(u), pu), 0)
        for index in mobile.indices where !mobile[index] { XCTAssertEqual(pu[index], 0) }
    }

    func testLatticeSitesOfDefectiveCrystals() throws {
        // bcc, 4 cells, a vacancy, atoms displaced up to 0.15 Å, the lattice shifted off the origin.
        var generator = SplitMix64(seed: 7)
        var bcc = removing([37], from: crystal(cells: [4, 4, 4], a: 3.18, basis: Self.bccBasis, origin: [0.4, 0.7, 1.1]))
        bcc.positions = bcc.positions.map { $0 + Double.random(in: -0.08...0.08, using: &generator) }
        let sites = try LatticeSites.recognize(bcc).get()
        XCTAssertEqual(sites.kind, .bcc)
        XCTAssertEqual(sites.cells, [4, 4, 4])
        XCTAssertEqual(sites.vacantSites.count, 1)
        XCTAssertEqual(Set(sites.siteOfAtom).count, bcc.count)

        let fcc = removing([0, 50], from: crystal(cells: [3, 3, 4], a: 3.6, basis: Self.fccBasis))
        let fccSites = try LatticeSites.recognize(fcc).get()
        XCTAssertEqual(fccSites.kind, .fcc)
        XCTAssertEqual(fccSites.cells, [3, 3, 4])
        XCTAssertEqual(fccSites.vacantSites.count, 2)

        // An interstitial between sites, and a tilted box, are not point defects on a lattice.
        var interstitial = crystal(cells: [4, 4, 4], a: 3.18, basis: Self.bccBasis)
        interstitial.positions += [0.5 * 3.18, 0.25 * 3.18, 0]
        interstitial.images += [0, 0, 0]
        interstitial.types.append(1)
        XCTAssertThrowsError(try LatticeSites.recognize(interstitial).get())
        var tilted = crystal(cells: [4, 4, 4], a: 3.18, basis: Self.bccBasis)
        tilted.box.xy = 1.0
        XCTAssertThrowsError(try LatticeSites.recognize(tilted).get())
    }

    /// On a perfect crystal P is the Hessian itself: P⁻¹ H v = v for every v without rigid
    /// translation, from one measured column per symmetry-distinct axis.
    func testLatticePreconditionerInvertsThePerfectCrystalsHessian() throws {
        for (cells, basis, a) in [([4, 4, 4], Self.bccBasis, 3.18), ([3, 3, 2], Self.fccBasis, 3.6)] {
            let perfect = crystal(cells: cells, a: a, basis: basis)
            let product = springHessianProduct(perfect, cutoff: 1.2 * a)
            let dofs = DegreesOfFreedom(mobile: [Bool](repeating: true, count: 3 * perfect.count), translationAxes: [0, 1, 2])
            let p = try LatticePreconditioner(sites: LatticeSites.recognize(perfect).get(), types: perfect.types,
                                              degreesOfFreedom: dofs, product: product)
            XCTAssertEqual(p.probeEvaluations, cells[0] == cells[2] ? 1 : 2)
            var generator = SplitMix64(seed: 5)
            let v = dofs.project((0..<3 * perfect.count).map { _ in Double.random(in: -1...1, using: &generator) })
            let back = p.apply(product(v))
            XCTAssertLessThan(norm(zip(back, v).map { $0 - $1 }), 1e-9 * norm(v), "\(cells)")
        }
    }

    /// With a vacancy and a substituted atom P⁻¹ stays symmetric and positive definite, and it is
    /// close to H⁻¹: P⁻¹ H − I is small away from the defects.
    func testLatticePreconditionerOfADefectiveCrystal() throws {
        var defective = removing([0], from: crystal(cells: [4, 4, 4], a: 3.18, basis: Self.bccBasis))
        defective.types[40] = 2
        let product = springHessianProduct(defective, cutoff: 1.2 * 3.18)
        let dofs = DegreesOfFreedom(mobile: [Bool](repeating: true, count: 3 * defective.count), translationAxes: [0, 1, 2])
        let p = try LatticePreconditioner(sites: LatticeSites.recognize(defective).get(), types: defective.types,
                                          degreesOfFreedom: dofs, product: product)
        XCTAssertNotEqual(p.probeAtom, 40)
        var generator = SplitMix64(seed: 9)
        let u = dofs.project((0..<3 * defective.count).map { _ in Double.random(in: -1...1, using: &generator) })
        let v = dofs.project((0..<3 * defective.count).map { _ in Double.random(in: -1...1, using: &generator) })
        let (pu, pv) = (p.apply(u), p.apply(v))
        XCTAssertEqual(dot(v, pu), dot(u, pv), accuracy: 1e-10 * norm(pu) * norm(v))
        XCTAssertGreaterThan(dot(u, pu), 0)
        let error = zip(p.apply(product(u)), u).map { $0 - $1 }
        XCTAssertLessThan(norm(error), 0.5 * norm(u))
    }
}
