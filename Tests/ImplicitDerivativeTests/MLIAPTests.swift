import Atomistics
import Foundation
import ImplicitDerivative
import LAMMPSLibrary
import LinearAlgebra
import Potentials
import XCTest

/// ML-IAP linear and quadratic models, analytic through compute mliap, on the models LAMMPS
/// distributes: Ta06A (linear, SNAP descriptor, with ZBL), W.quadratic (quadratic, SNAP
/// descriptor, with ZBL) and Ni_Mo (linear, SO3 descriptor, two elements). Independent truths:
/// LAMMPS's own energy, forces and virial of pair mliap at changed parameters, and true
/// re-relaxations.
final class MLIAPTests: XCTestCase {
    struct Kind {
        var name: String
        var lines: String
        var parameterCount: Int
        var spread: [Int]
    }

    static func potentials() throws -> String {
        URL(fileURLWithPath: try Library.shared().path).deletingLastPathComponent().appendingPathComponent("share/lammps/potentials").path
    }

    static let tantalum = Kind(name: "Ta06A", lines: """
        lattice bcc 3.316
        region cell block 0 3 0 3 0 3
        create_box 1 cell
        create_atoms 1 region cell
        mass 1 180.95
        pair_style hybrid/overlay zbl 4 4.8 mliap model linear POT/Ta06A.mliap.model descriptor sna POT/Ta06A.mliap.descriptor
        pair_coeff 1 1 zbl 73 73
        pair_coeff * * mliap Ta
        """, parameterCount: 30, spread: [0, 5, 17, 29])

    static let quadraticTungsten = Kind(name: "W.quadratic", lines: """
        lattice bcc 3.1803
        region cell block 0 3 0 3 0 3
        create_box 1 cell
        create_atoms 1 region cell
        mass 1 183.84
        pair_style hybrid/overlay zbl 4 4.8 mliap model quadratic POT/W.quadratic.mliap.model descriptor sna POT/W.quadratic.mliap.descriptor
        pair_coeff 1 1 zbl 74 74
        pair_coeff * * mliap W
        """, parameterCount: 495, spread: [0, 12, 29, 30, 31, 200, 494])

    static let nickelMolybdenum = Kind(name: "Ni_Mo", lines: """
        lattice fcc 3.52
        region cell block 0 3 0 3 0 3
        create_box 2 cell
        create_atoms 2 region cell
        set type 2 type/fraction 1 0.1 5
        mass 1 95.95
        mass 2 58.69
        pair_style mliap model linear POT/Ni_Mo.mliap.model descriptor so3 POT/Ni_Mo.mliap.descriptor
        pair_coeff * * Mo Ni
        """, parameterCount: 36, spread: [7, 17, 25, 35])

    private func system(_ kind: Kind, relaxed: Bool = true) throws -> MLIAPEnergy {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("ilmp-mliap-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: folder) }
        let input = folder.appendingPathComponent("vacancy.lammps")
        try """
            units metal
            boundary p p p
            atom_style atomic
            \(kind.lines.replacingOccurrences(of: "POT", with: try Self.potentials()))
            displace_atoms all random 0.02 0.02 0.02 7
            group vacancy id 1
            delete_atoms group vacancy
            """.write(to: input, atomically: true, encoding: .utf8)
        let simulation = try Simulation(input: input.path)
        let energy = try PotentialChoice.snap(coefficients: nil, parameters: nil, elements: nil).energy(for: simulation)
        let system = try XCTUnwrap(energy as? MLIAPEnergy)
        XCTAssertEqual(system.parameterCount, kind.parameterCount)
        system.scratch = folder.appendingPathComponent("scratch")
        if relaxed { try simulation.relax(RelaxationSettings(ftol: 1e-11, minStyle: .cg)) }
        try simulation.evaluate()
        return system
    }

    /// Θ is the model file's parameters after each constant, and U changes by Σ δθ·∇Θ U exactly
    /// when half of them double.
    private func checkEnergyIsLinear(_ kind: Kind) throws {
        let system = try system(kind, relaxed: false)
        XCTAssertEqual(system.theta, system.model.parameters.flatMap { $0.dropFirst() })
        try PotentialKindChecks.energyChangeIsLinear(system, tolerance: 1e-9)
    }

    /// ∇²ΘX U against LAMMPS's force change and ∂²U/∂Θ∂e against its virial change.
    private func checkMixedDerivatives(_ kind: Kind) throws {
        try PotentialKindChecks.mixedDerivativesMatchLAMMPS(try system(kind, relaxed: false), spread: kind.spread, minimumChange: 1e-6)
    }

    /// ∇Θ X* by the sparse solve against central differences of true re-relaxations.
    private func checkPositionDerivative(_ kind: Kind) throws {
        try PotentialKindChecks.positionDerivativeMatchesReRelaxations(try system(kind), spread: kind.spread, label: "ML-IAP \(kind.name)")
    }

    func testLinearSNAPModel() throws {
        try checkEnergyIsLinear(Self.tantalum)
        try checkMixedDerivatives(Self.tantalum)
        try checkPositionDerivative(Self.tantalum)
    }

    func testQuadraticSNAPModel() throws {
        try checkEnergyIsLinear(Self.quadraticTungsten)
        try checkMixedDerivatives(Self.quadraticTungsten)
        try checkPositionDerivative(Self.quadraticTungsten)
    }

    func testLinearSO3Model() throws {
        try checkEnergyIsLinear(Self.nickelMolybdenum)
        try checkMixedDerivatives(Self.nickelMolybdenum)
        try checkPositionDerivative(Self.nickelMolybdenum)
    }

}
