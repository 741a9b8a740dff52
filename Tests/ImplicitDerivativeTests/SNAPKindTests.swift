import Atomistics
import Foundation
import ImplicitDerivative
import LAMMPSLibrary
import LinearAlgebra
import Potentials
import XCTest

/// Quadratic and explicit multi-element SNAP through the same analytic derivatives as linear SNAP,
/// on potentials LAMMPS distributes:
/// - Mo_Zuo_JPCA2020.quadratic (2J = 6: 30 linear + 465 quadratic coefficients), a 53-atom bcc Mo vacancy;
/// - InP_JCPA2020 (chemflag 1, bnormflag 1, wselfallflag 1: 240 per element, 480 in all) overlaid with
///   its ZBL as LAMMPS's InP_JCPA2020.mliap does, a 63-atom zincblende InP with an In vacancy.
/// Independent truths: LAMMPS's own energy, forces and virial of pair snap at changed
/// coefficients, and true re-relaxations.
final class SNAPKindTests: XCTestCase {
    struct Kind {
        var files: String
        var elements: [String]
        /// Structure commands (lattice, box, atoms, masses, the vacancy).
        var structure: String
        /// `pair_style` and `pair_coeff` lines; FILES stands for the potential's two files.
        var potential: String
        var parameterCount: Int
        /// Parameters checked against re-relaxations: both kinds of coefficient, both elements.
        var spread: [Int]
    }

    static let quadratic = Kind(files: "Mo_Zuo_JPCA2020.quadratic", elements: ["Mo"], structure: """
        lattice bcc 3.16
        region cell block 0 3 0 3 0 3
        create_box 1 cell
        create_atoms 1 region cell
        mass 1 95.95
        """, potential: "pair_style snap\npair_coeff * * FILES Mo", parameterCount: 495, spread: [0, 7, 29, 30, 31, 95, 300, 494])

    static let chemflag = Kind(files: "InP_JCPA2020", elements: ["In", "P"], structure: """
        lattice diamond 5.87
        region cell block 0 2 0 2 0 2
        create_box 2 cell
        create_atoms 1 region cell basis 1 1 basis 2 1 basis 3 1 basis 4 1 basis 5 2 basis 6 2 basis 7 2 basis 8 2
        mass 1 114.818
        mass 2 30.974
        displace_atoms all random 0.02 0.02 0.02 7
        """, potential: """
        pair_style hybrid/overlay zbl 4.0 4.2 snap
        pair_coeff 1 1 zbl 49 49
        pair_coeff 1 2 zbl 49 15
        pair_coeff 2 2 zbl 15 15
        pair_coeff * * snap FILES In P
        """, parameterCount: 480, spread: [0, 13, 100, 239, 240, 251, 400, 479])

    private func vacancy(_ kind: Kind, relaxed: Bool = true) throws -> SNAPEnergy {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("ilmp-snapkind-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: folder) }
        let potentials = URL(fileURLWithPath: try Library.shared().path).deletingLastPathComponent()
            .appendingPathComponent("share/lammps/potentials/\(kind.files)").path
        let input = folder.appendingPathComponent("vacancy.lammps")
        try """
            units metal
            boundary p p p
            atom_style atomic
            \(kind.structure)
            group vacancy id 1
            delete_atoms group vacancy
            \(kind.potential.replacingOccurrences(of: "FILES", with: "\(potentials).snapcoeff \(potentials).snapparam"))
            """.write(to: input, atomically: true, encoding: .utf8)
        let simulation = try Simulation(input: input.path)
        let system = try SNAPEnergy(simulation: simulation, scratch: folder.appendingPathComponent("scratch"))
        XCTAssertEqual(system.parameterCount, kind.parameterCount)
        if relaxed { try simulation.relax(RelaxationSettings(ftol: 1e-11, minStyle: .cg)) }
        try simulation.evaluate()
        return system
    }

    /// Θ is the file's coefficients after each beta0, and U = U_ref + Σ_i β0(i) + Θ·∇Θ U to
    /// round-off: the descriptor columns are exactly what pair snap weights with each coefficient
    /// (for quadratic SNAP ½B_k² and B_k B_l; for chemflag one component per element triple).
    private func checkEnergyIsLinear(_ kind: Kind) throws {
        let system = try vacancy(kind, relaxed: false)
        let elements = system.potential.coefficients.elements
        XCTAssertEqual(system.theta, elements.flatMap { $0.coefficients.dropFirst() })
        let types = try system.lammps.gatherIntegers("type")
        let beta0 = types.reduce(0) { $0 + system.potential.coefficients.element(named: kind.elements[Int($1) - 1])!.coefficients[0] }
        let energy = try system.simulation.energy()
        let reference = kind.potential.contains("zbl") ? try zblEnergy(system) : 0
        XCTAssertEqual(reference + beta0 + dot(system.theta, try system.energyGradient()), energy, accuracy: 1e-10 * abs(energy))
        try PotentialKindChecks.energyChangeIsLinear(system, tolerance: 1e-10)
    }

    /// ∇²ΘX U (snad/atom) against LAMMPS's force change, and ∂²U/∂Θ∂e (snav/atom) against its
    /// virial change, for a change of the spread's coefficients.
    private func checkMixedDerivatives(_ kind: Kind) throws {
        try PotentialKindChecks.mixedDerivativesMatchLAMMPS(try vacancy(kind, relaxed: false), spread: kind.spread, minimumChange: 1e-5)
    }

    /// ∇Θ X* by the sparse solve against central differences of true re-relaxations.
    private func checkPositionDerivative(_ kind: Kind) throws {
        // Re-relaxations are the cost: every other parameter of the spread (both kinds, both elements).
        let spread = stride(from: 0, to: kind.spread.count, by: 2).map { kind.spread[$0] }
        try PotentialKindChecks.positionDerivativeMatchesReRelaxations(try vacancy(kind), spread: spread, label: kind.files)
    }

    /// chemflag's tied coefficients are exactly the descriptors that are identical on every atom
    /// of a structure without symmetry (the displaced InP).
    func testChemflagTiedCoefficientsAreTheIdenticalDescriptors() throws {
        let system = try vacancy(Self.chemflag, relaxed: false)
        let k = system.potential.descriptorCount
        let perAtom = try system.lammps.gather("c_ilmp_sna", count: k)
        let columns = (0..<k).map { c in (0..<system.atomCount).map { perAtom[$0 * k + c] } }
        var identical = Set<[Int]>()
        for a in 0..<k {
            for b in (a + 1)..<k where distance(columns[a], columns[b]) <= 1e-12 * norm(columns[a]) { identical.insert([a, b]) }
        }
        var tied = Set<[Int]>()
        for group in system.potential.tiedCoefficients {
            for (n, a) in group.enumerated() { for b in group.dropFirst(n + 1) { tied.insert([a, b]) } }
        }
        XCTAssertEqual(identical.count, 60)
        XCTAssertEqual(identical, tied)
    }

    /// A random change of every chemflag coefficient, written by `setTheta`, keeps LAMMPS's forces
    /// the gradient of its energy (untied, they are off by ~1e-3 eV/Å for a 0.1 % change).
    func testChemflagForcesStayTheGradientOfTheEnergyForAnyTheta() throws {
        let system = try vacancy(Self.chemflag, relaxed: false)
        var state: UInt64 = 3
        let theta = system.theta.map { value -> Double in
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return value * (1 + 0.01 * (Double(state >> 11) / Double(1 << 53) * 2 - 1))
        }
        try system.setTheta(theta)
        try system.simulation.evaluate()
        let forces = try system.simulation.forces()
        let positions = try system.simulation.structure().positions
        for component in [9, 31, 100] {
            func energy(_ shift: Double) throws -> Double {
                var moved = positions
                moved[component] += shift
                try system.lammps.scatter("x", count: 3, values: moved)
                try system.simulation.evaluate()
                return try system.simulation.energy()
            }
            let h = 1e-5
            let difference = -(try energy(h) - energy(-h)) / (2 * h)
            XCTAssertEqual(forces[component], difference, accuracy: 1e-6 * max(1, abs(difference)), "component \(component)")
        }
    }

    func testQuadraticEnergyIsLinearInTheFileCoefficients() throws { try checkEnergyIsLinear(Self.quadratic) }
    func testQuadraticMixedDerivativesMatchLAMMPS() throws { try checkMixedDerivatives(Self.quadratic) }
    func testQuadraticPositionDerivativeMatchesReRelaxations() throws { try checkPositionDerivative(Self.quadratic) }
    func testChemflagEnergyIsLinearInTheFileCoefficients() throws { try checkEnergyIsLinear(Self.chemflag) }
    func testChemflagMixedDerivativesMatchLAMMPS() throws { try checkMixedDerivatives(Self.chemflag) }
    func testChemflagPositionDerivativeMatchesReRelaxations() throws { try checkPositionDerivative(Self.chemflag) }

    /// The ZBL part of the overlay (`compute pair zbl`).
    private func zblEnergy(_ system: SNAPEnergy) throws -> Double {
        try system.lammps.command("compute ilmp_test_zbl all pair zbl")
        try system.simulation.evaluate()
        return try system.lammps.computeScalar("ilmp_test_zbl")
    }

    private func distance(_ a: [Double], _ b: [Double]) -> Double { norm(zip(a, b).map { $0 - $1 }) }
}
