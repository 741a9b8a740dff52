import Atomistics
import Foundation
import ImplicitDerivative
import XCTest

/// The engine's preconditioned L-BFGS against LAMMPS's own CG from the same perturbed start:
/// the same minimum (energy to 1e-8 eV, positions and cell to 1e-5 Å) at fixed, iso and aniso
/// cells, with held atoms, and on a two-element alloy.
final class PreconditionedLBFGSTests: XCTestCase {
    private static let ftol = 1e-9

    /// A copy of the shipped W vacancy input (absolute potential paths) with `extra` lines appended.
    private func vacancyInput(_ extra: String = "") throws -> String {
        let input = Fixtures.temporaryFile("in.vacancy", self)
        try (String(contentsOfFile: Fixtures.input, encoding: .utf8)
            .replacingOccurrences(of: "../potentials/", with: Fixtures.root.path + "/potentials/") + extra)
            .write(to: input, atomically: true, encoding: .utf8)
        return input.path
    }

    /// bcc W with two atoms turned into Be, the W–Be SNAP of Wood et al. 2019 with its ZBL.
    private func alloyInput() throws -> String {
        let input = Fixtures.temporaryFile("in.alloy", self)
        let folder = Fixtures.root.appendingPathComponent("inputs/WBe_PRB2019").path
        try """
            units metal
            boundary p p p
            atom_style atomic
            lattice bcc 3.16
            region cell block 0 3 0 3 0 3
            create_box 2 cell
            create_atoms 1 region cell
            mass 1 183.84
            mass 2 9.012
            set atom 5 type 2
            set atom 31 type 2
            pair_style hybrid/overlay zbl 4.0 4.8 snap
            pair_coeff 1 1 zbl 74 74
            pair_coeff 1 2 zbl 74 4
            pair_coeff 2 2 zbl 4 4
            pair_coeff * * snap \(folder)/WBe_pot.snapcoeff \(folder)/WBe_pot.snapparam W Be
            """.write(to: input, atomically: true, encoding: .utf8)
        return input.path
    }

    /// Relaxes the input twice from the same randomly displaced start, with LAMMPS's CG and with
    /// precon-lbfgs, and compares the minima.
    @discardableResult
    private func compare(_ input: String, arguments: [String] = [], cell: CellRelaxation, displacement: Double = 0.05,
                         file: StaticString = #filePath, line: UInt = #line) throws -> (lammps: RelaxationResult, engine: RelaxationResult) {
        func start() throws -> Simulation {
            let simulation = try Simulation(input: input, extraArguments: arguments)
            var generator = SplitMix64(seed: 11)
            let positions = try simulation.structure().positions.map { $0 + Double.random(in: -displacement...displacement, using: &generator) }
            try simulation.lammps.scatter("x", count: 3, values: positions)
            return simulation
        }
        let native = try start(), engine = try start()
        let lammps = try native.relax(RelaxationSettings(cell: cell, ftol: Self.ftol, minStyle: .cg)).result
        let ours = try engine.relaxation(RelaxationSettings(cell: cell, ftol: Self.ftol, minStyle: .preconLBFGS))
        XCTAssertTrue(lammps.converged, "LAMMPS CG: \(lammps.shortfall ?? "")", file: file, line: line)
        XCTAssertTrue(ours.converged, "precon-lbfgs: \(ours.shortfall ?? "")", file: file, line: line)
        XCTAssertEqual(ours.energy, lammps.energy, accuracy: 1e-8, file: file, line: line)
        let (a, b) = (try native.structure(), try engine.structure())
        for (rowA, rowB) in zip(a.box.cell, b.box.cell) {
            for (x, y) in zip(rowA, rowB) { XCTAssertEqual(x, y, accuracy: 1e-5, "cell", file: file, line: line) }
        }
        // Same atoms at the same places, image flags included (both continue the start's).
        let shift = largestAtomNorm(zip(a.unwrappedPositions, b.unwrappedPositions).map { $0 - $1 })
        XCTAssertLessThan(shift, 1e-5, "largest position difference", file: file, line: line)
        XCTAssertGreaterThan(ours.forceEvaluations, ours.steps, "evaluations are counted", file: file, line: line)
        XCTAssertGreaterThan(lammps.forceEvaluations, lammps.steps, "LAMMPS's evaluations are counted", file: file, line: line)
        print("precon-lbfgs vs CG, cell \(cell): \(ours.forceEvaluations) vs \(lammps.forceEvaluations) force evaluations")
        return (lammps, ours)
    }

    func testFixedCellMinimumIsLAMMPSs() throws {
        let (lammps, ours) = try compare(try vacancyInput(), arguments: ["-var", "ncell", "3"], cell: .fixed, displacement: 0.1)
        // The relaxation sends every evaluation through LAMMPS: no fewer than it reports.
        XCTAssertLessThan(ours.forceEvaluations, lammps.forceEvaluations)
    }

    func testIsotropicCellMinimumIsLAMMPSs() throws {
        let (lammps, ours) = try compare(try vacancyInput(), arguments: ["-var", "ncell", "3", "-var", "a0", "3.15"], cell: .iso)
        XCTAssertLessThan(ours.forceEvaluations, lammps.forceEvaluations / 3, "a cell relaxation is where CG is slowest")
    }

    func testAnisotropicCellOfAnAlloyIsLAMMPSs() throws {
        try compare(try alloyInput(), cell: .aniso)
    }

    /// Atoms held by `fix setforce 0 0 0` (all but those within 4 Å of the vacancy) never move.
    func testHeldAtomsStayAndTheRestReachLAMMPSsMinimum() throws {
        let input = try vacancyInput("""

            region near sphere 0 0 0 4.0 side in units box
            group mobile region near
            group held subtract all mobile
            fix hold held setforce 0.0 0.0 0.0
            """)
        let simulation = try Simulation(input: input, extraArguments: ["-var", "ncell", "3"])
        let held = try simulation.groupMembership("held")
        let before = try simulation.structure().unwrappedPositions
        _ = try simulation.relaxation(RelaxationSettings(ftol: Self.ftol, minStyle: .preconLBFGS))
        let after = try simulation.structure().unwrappedPositions
        for atom in held.indices where held[atom] {
            for k in 0..<3 { XCTAssertEqual(after[3 * atom + k], before[3 * atom + k], "held atom \(atom + 1)") }
        }
        XCTAssertGreaterThan(largestAtomNorm(zip(after, before).map { $0 - $1 }), 1e-3, "mobile atoms relaxed")
        try compare(input, arguments: ["-var", "ncell", "3"], cell: .fixed, displacement: 0)
    }

    /// A cell relaxation of a triclinic cell is refused with the way out, not done wrong.
    func testTriclinicCellRelaxationIsRefused() throws {
        let simulation = try Simulation(input: try vacancyInput("\nchange_box all triclinic xy final 0.3\n"),
                                        extraArguments: ["-var", "ncell", "3"])
        XCTAssertThrowsError(try simulation.relaxation(RelaxationSettings(cell: .iso, ftol: 1e-6, minStyle: .preconLBFGS))) { error in
            XCTAssertTrue("\(error)".contains("orthogonal cells only"), "\(error)")
        }
    }
}
