import Atomistics
import ImplicitDerivative
import LAMMPSLibrary
import LinearAlgebra
import XCTest

/// The exponential preconditioner on a bcc crystal with held atoms, without LAMMPS.
final class PreconditionerTests: XCTestCase {
    private func bccCrystal(cells: Int, a: Double) -> Structure {
        var positions: [Double] = []
        for x in 0..<cells { for y in 0..<cells { for z in 0..<cells {
            for basis in [[0.0, 0, 0], [0.5, 0.5, 0.5]] {
                positions += [(Double(x) + basis[0]) * a, (Double(y) + basis[1]) * a, (Double(z) + basis[2]) * a]
            }
        } } }
        let n = positions.count / 3
        let length = Double(cells) * a
        return Structure(box: Box(low: [0, 0, 0], high: [length, length, length]), positions: positions,
                         images: [Int32](repeating: 0, count: 3 * n), types: [Int32](repeating: 1, count: n), masses: [183.84])
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
}
