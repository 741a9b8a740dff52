import Atomistics
import Foundation
import ImplicitDerivative
import LinearAlgebra
import Potentials
import Workflows
import XCTest

/// The inverse loop of `fit` on real LAMMPS: gradients against finite differences of the true
/// loss, and reachable targets reached.
final class FitTests: XCTestCase {
    /// A system whose target is its own minimum for Θ + δΘ: reachable by construction.
    private func campaign(_ energy: any ParametrizedEnergy, delta: [Double], settings: FitSettings = FitSettings())
        throws -> FitCampaign
    {
        let simulation = energy.simulation
        let theta = energy.theta
        let start = try simulation.structure()
        try energy.setTheta(zip(theta, delta).map { $0 + $1 })
        try simulation.relax(RelaxationSettings(ftol: 1e-11, minStyle: .cg))
        let target = try simulation.structure().unwrappedPositions
        try energy.setTheta(theta)
        try simulation.restore(start)
        return try FitCampaign(systems: [FitSystem(name: "vacancy", energy: energy, target: .structure(target))],
                               settings: settings, method: SparseMethod())
    }

    private func silicon() throws -> FiniteDifferenceEnergy { try Fixtures.silicon(fields: ["sigma", "B", "p"]) }

    /// ∂L/∂Θ_l by central differences (step 1e-4 |Θ_l|) of the true loss, every system re-relaxed.
    private func trueLossGradient(_ fit: FitCampaign, _ state: FitState, parameters: [Int]) throws -> [Double] {
        try parameters.map { l in
            let h = 1e-4 * abs(state.theta[l])
            var plus = state.theta, minus = state.theta
            plus[l] += h
            minus[l] -= h
            return (try fit.trueLoss(theta: plus, from: state) - fit.trueLoss(theta: minus, from: state)) / (2 * h)
        }
    }

    private func relativeDifference(_ a: [Double], _ b: [Double]) -> Double {
        let norm = b.reduce(0) { $0 + $1 * $1 }.squareRoot()
        return zip(a, b).reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) }.squareRoot() / norm
    }

    /// Adjoint = full gradient, and both = central differences of the true (re-relaxed) loss.
    private func checkGradients(_ fit: FitCampaign, parameters: [Int], file: StaticString = #filePath, line: UInt = #line) throws {
        let state = try fit.initialState(key: "test")
        let adjoint = try fit.lossGradient(state)
        // The two routes are the same algebra: with exact (dense) solves they agree to round-off;
        // with Krylov solves each carries its own 1e-5 tolerance.
        var settings = fit.settings
        let exactAdjoint = try FitCampaign(systems: fit.systems, settings: settings, method: DenseMethod()).lossGradient(state)
        settings.gradient = .full
        let exactFull = try FitCampaign(systems: fit.systems, settings: settings, method: DenseMethod()).lossGradient(state)
        XCTAssertLessThan(relativeDifference(exactAdjoint, exactFull), 1e-6, "adjoint against full", file: file, line: line)
        XCTAssertLessThan(relativeDifference(adjoint, exactAdjoint), 1e-3, "sparse adjoint against dense", file: file, line: line)
        let truth = try trueLossGradient(fit, state, parameters: parameters)
        let chosen = parameters.map { adjoint[$0] }
        print("gradient: adjoint \(chosen), finite differences of the true loss \(truth)")
        XCTAssertLessThan(relativeDifference(chosen, truth), 1e-4, "against finite differences", file: file, line: line)
    }

    func testGradientsOfAStillingerWeberVacancy() throws {
        let energy = try silicon()
        try checkGradients(try campaign(energy, delta: [0.01, 0.003, 0.02]), parameters: [0, 1, 2])
    }

    /// Per-atom weights (ten atoms count 5×, one not at all) in the loss and its gradient.
    func testGradientsWithAtomWeights() throws {
        let energy = try silicon()
        let plain = try campaign(energy, delta: [0.01, 0.003, 0.02])
        var weights = [Double](repeating: 1, count: energy.atomCount)
        for i in 0..<10 { weights[3 * i] = 5 }
        weights[1] = 0
        var system = plain.systems[0]
        system.atomWeights = weights
        try checkGradients(try FitCampaign(systems: [system], settings: plain.settings, method: plain.method), parameters: [0, 1, 2])
    }

    func testGradientsOfASNAPVacancy() throws {
        let system = try Fixtures.relaxedVacancy()
        var generator = SplitMix64(seed: 5)
        let delta = system.theta.map { 0.02 * $0 * Double.random(in: -1...1, using: &generator) }
        try checkGradients(try campaign(system, delta: delta), parameters: [0, 7, 30])
    }

    /// An elastic-constant target: the gradient (∇Θ C by central differences of C) against central
    /// differences of the true loss, each side relaxing the cell and measuring C again.
    func testElasticTargetGradient() throws {
        let energy = try Fixtures.silicon("Si_diamond.lammps", fields: ["epsilon", "lambda"], cells: nil)
        let fit = try FitCampaign(systems: [FitSystem(name: "si", energy: energy,
                                                      target: try .elastic(["C11": 153.2, "C12": 56.8, "C44": 74.8]))],
                                  settings: FitSettings(), method: SparseMethod())
        let state = try fit.initialState(key: "test")
        let gradient = try fit.lossGradient(state)
        let truth = try trueLossGradient(fit, state, parameters: [0, 1])
        print("elastic-target gradient \(gradient), finite differences of the true loss \(truth)")
        XCTAssertLessThan(relativeDifference(gradient, truth), 1e-4)
    }

    /// A vacancy formation energy E_vac − (N−1)/N E_bulk as an energy target of two systems that
    /// have no target of their own: gradient against the true loss, and a reachable value reached.
    func testVacancyFormationPropertyTarget() throws {
        func campaign(_ fields: [String], value: Double?) throws -> (FitCampaign, FitState) {
            let systems = [FitSystem(name: "bulk", energy: try Fixtures.silicon("Si_diamond.lammps", fields: fields), target: .none),
                           FitSystem(name: "vacancy", energy: try Fixtures.silicon(fields: fields), target: .none)]
            var target = PropertyTarget(name: "E_f", coefficients: ["vacancy": 1, "bulk": -63.0 / 64], value: 0)
            var fit = try FitCampaign(systems: systems, settings: FitSettings(), method: SparseMethod(), propertyTargets: [target])
            let state = try fit.initialState(key: "test")
            target.value = value ?? fit.combination(target, state) * 1.1
            fit = try FitCampaign(systems: systems, settings: FitSettings(), method: SparseMethod(), propertyTargets: [target])
            return (fit, try fit.initialState(key: "test"))
        }
        let (fit, state) = try campaign(["epsilon", "sigma"], value: nil)
        let formation = state.history[0].properties["E_f"]!
        XCTAssertEqual(1.1 * formation, fit.propertyTargets[0].value, accuracy: 1e-9 * formation)  // SW, fixed cell: 4.34 eV
        let gradient = try fit.lossGradient(state)
        let truth = try trueLossGradient(fit, state, parameters: [0, 1])
        print("formation energy \(formation) eV; gradient \(gradient), finite differences of the true loss \(truth)")
        XCTAssertLessThan(relativeDifference(gradient, truth), 1e-4)
        // ε alone scales E_f: 10 % more is reached.
        var (reach, start) = try campaign(["epsilon"], value: nil)
        var settings = FitSettings()
        settings.relaxEach = true
        reach = try FitCampaign(systems: reach.systems, settings: settings, method: SparseMethod(), propertyTargets: reach.propertyTargets)
        var current = start
        while !current.done { current = try reach.step(current) }
        XCTAssertLessThan(current.history.last!.lossRelaxed!, start.history[0].lossRelaxed! / 100)
        XCTAssertEqual(current.theta[0], 1.1 * 2.1683, accuracy: 1e-3)
    }

    /// A vacancy formation volume V_vac − (N−1)/N V_bulk (cells relaxed isotropically) as a property
    /// target: gradient (from the strain derivative, h+ih) against central differences of the true
    /// loss with re-relaxed cells, and a changed value reached.
    func testVacancyFormationVolumeTarget() throws {
        let fields = ["sigma", "lambda"]
        let systems = [FitSystem(name: "bulk", energy: try Fixtures.silicon("Si_diamond.lammps", fields: fields), target: .none, cell: .iso),
                       FitSystem(name: "vacancy", energy: try Fixtures.silicon(fields: fields), target: .none, cell: .iso)]
        var target = PropertyTarget(name: "V_f", coefficients: [:], volumeCoefficients: ["vacancy": 1, "bulk": -63.0 / 64], value: 0)
        var fit = try FitCampaign(systems: systems, settings: FitSettings(), method: SparseMethod(), propertyTargets: [target])
        let volume = fit.combination(target, try fit.initialState(key: "test"))
        target.value = volume + 2  // Å³
        var settings = FitSettings()
        settings.relaxEach = true
        fit = try FitCampaign(systems: systems, settings: settings, method: SparseMethod(), propertyTargets: [target])
        let state = try fit.initialState(key: "test")
        let gradient = try fit.lossGradient(state)
        let truth = try trueLossGradient(fit, state, parameters: [0, 1])
        print("formation volume \(volume) Å³; gradient \(gradient), finite differences of the true loss \(truth)")
        XCTAssertLessThan(relativeDifference(gradient, truth), 1e-3)
        var current = state
        while !current.done { current = try fit.step(current) }
        XCTAssertLessThan(current.history.last!.lossRelaxed!, state.history[0].lossRelaxed! / 100)
        XCTAssertThrowsError(try FitCampaign(systems: [FitSystem(name: "bulk", energy: systems[0].energy, target: .none)],
                                             settings: settings, method: SparseMethod(),
                                             propertyTargets: [PropertyTarget(name: "V", coefficients: [:], volumeCoefficients: ["bulk": 1], value: 1)]))
    }

    /// A reachable target: the true loss falls at least 100-fold within 10 iterations.
    private func checkReached(_ fit: FitCampaign, file: StaticString = #filePath, line: UInt = #line) throws {
        var state = try fit.initialState(key: "test")
        while !state.done { state = try fit.step(state) }
        let (final, best, _) = try fit.finish(state)
        let initial = state.history[0].lossRelaxed!
        print("fit: initial loss \(initial), final true loss \(final.lossRelaxed!), \(state.history.count - 1) iterations")
        XCTAssertLessThanOrEqual(state.history.count - 1, 10, file: file, line: line)
        XCTAssertLessThan(best.lossRelaxed!, initial / 100, file: file, line: line)
    }

    func testReachableTargetIsReachedWithSNAP() throws {
        let system = try Fixtures.relaxedVacancy()
        var generator = SplitMix64(seed: 9)
        let delta = system.theta.map { 0.03 * $0 * Double.random(in: -1...1, using: &generator) }
        var settings = FitSettings()
        settings.iterations = 10
        settings.relaxEach = true
        try checkReached(try campaign(system, delta: delta, settings: settings))
    }

    /// Linear constraints: A Θ stays at A Θ0 to round-off while the loss falls.
    func testConstraintsHoldToRoundOff() throws {
        let system = try Fixtures.relaxedVacancy()
        var generator = SplitMix64(seed: 9)
        let delta = system.theta.map { 0.03 * $0 * Double.random(in: -1...1, using: &generator) }
        var a = Matrix(rows: 2, columns: system.parameterCount)
        for l in 0..<5 { a[0, l] = 1 }  // the sum of the first five coefficients
        a[1, 7] = 1                      // and coefficient 8 alone
        var settings = FitSettings()
        settings.iterations = 5
        settings.relaxEach = true
        let plain = try campaign(system, delta: delta, settings: settings)
        let fit = try FitCampaign(systems: plain.systems, settings: settings, method: SparseMethod(), constraints: a)
        var state = try fit.initialState(key: "test")
        while !state.done { state = try fit.step(state) }
        let before = a.multiplied(by: Matrix(rows: state.thetaInitial.count, columns: 1, storage: state.thetaInitial)).storage
        let after = a.multiplied(by: Matrix(rows: state.theta.count, columns: 1, storage: state.theta)).storage
        for (x, y) in zip(before, after) { XCTAssertEqual(x, y, accuracy: 1e-13 * max(abs(x), 1)) }
        XCTAssertNotEqual(state.theta, state.thetaInitial)
        XCTAssertLessThan(state.history.last!.lossRelaxed!, state.history[0].lossRelaxed! / 2)
        XCTAssertThrowsError(try FitCampaign(systems: plain.systems, settings: settings, method: SparseMethod(),
                                             constraints: Matrix(rows: 1, columns: 3))) {
            XCTAssertTrue("\($0)".contains("3 columns; Θ has 55 parameters"), "\($0)")
        }
    }

    func testReachableTargetIsReachedWithStillingerWeberFields() throws {
        var settings = FitSettings()
        settings.iterations = 10
        try checkReached(try campaign(try silicon(), delta: [0.01, 0.003, 0.02], settings: settings))
    }

    /// A fixed step 8× the line minimum overshoots: Algorithm 1 takes it and the true loss rises;
    /// with backtracking the step is halved until the true loss falls.
    func testBacktrackingKeepsTheTrueLossFromRising() throws {
        var settings = FitSettings()
        settings.relaxEach = true
        settings.iterations = 1
        let probe = try campaign(try silicon(), delta: [0.01, 0.003, 0.02], settings: settings)
        let adaptive = try probe.step(try probe.initialState(key: "test")).history[1].step
        settings.step = 8 * adaptive
        settings.iterations = 3
        let plain = try FitCampaign(systems: probe.systems, settings: settings, method: SparseMethod())
        let start = try plain.initialState(key: "test")
        let overshoot = try plain.step(start)
        XCTAssertGreaterThan(overshoot.history[1].lossRelaxed!, start.history[0].lossRelaxed!)
        settings.backtrack = true
        let careful = try FitCampaign(systems: probe.systems, settings: settings, method: SparseMethod())
        var state = try careful.initialState(key: "test")
        while !state.done { state = try careful.step(state) }
        let losses = state.history.map { $0.lossRelaxed! }
        print("backtracking: losses \(losses), steps \(state.history.map(\.step)) (line minimum \(adaptive))")
        for k in 1..<losses.count { XCTAssertLessThanOrEqual(losses[k], losses[k - 1]) }
        XCTAssertLessThan(abs(state.history[1].step), abs(8 * adaptive))
        XCTAssertLessThan(losses.last!, losses[0] / 2)
    }
}
