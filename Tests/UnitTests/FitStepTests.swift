import Atomistics
import ImplicitDerivative
import LinearAlgebra
import ReferenceModel
import Workflows
import XCTest

/// The fit campaign (Algorithm 1) on the reference model, against true re-relaxations of the
/// model: no LAMMPS, no stand-ins for the parts being checked.
final class FitStepTests: XCTestCase {
    /// Θ of the target structure: α and r0 moved (D scales the energy alone and moves no atom).
    static let targetTheta = [0.5, 1.5 * 1.03, 2.75 * 0.99]

    /// The vacancy crystal relaxed at the default Θ, aiming at itself relaxed at `targetTheta`: a
    /// target the fit can reach exactly.
    static func reachable(_ settings: FitSettings = FitSettings()) throws -> (fit: FitCampaign, state: FitState) {
        let crystal = try Fixtures.relaxedVacancy()
        let start = try crystal.structure(), theta = crystal.theta
        try crystal.setTheta(targetTheta)
        try Fixtures.relax(crystal)
        let target = try crystal.structure().unwrappedPositions
        try crystal.setTheta(theta)
        try crystal.restore(start)
        let fit = try FitCampaign(systems: [FitSystem(name: "vacancy", energy: crystal, target: .structure(target))],
                                  settings: settings, method: DenseMethod())
        return (fit, try fit.initialState(key: "unit"))
    }

    /// ∂L/∂Θ_l by central differences of the true loss (every system re-relaxed at Θ ± h).
    static func trueSlopes(_ fit: FitCampaign, _ state: FitState, relativeStep: Double = 1e-4) throws -> [Double] {
        try state.theta.indices.map { l in
            let h = relativeStep * abs(state.theta[l])
            var plus = state.theta, minus = state.theta
            plus[l] += h
            minus[l] -= h
            return (try fit.trueLoss(theta: plus, from: state) - fit.trueLoss(theta: minus, from: state)) / (2 * h)
        }
    }

    /// Iterates until the campaign stops or `limit` steps; the states after each.
    static func iterate(_ fit: FitCampaign, from state: FitState, limit: Int) throws -> [FitState] {
        var states = [state]
        while !states.last!.done, states.count <= limit { states.append(try fit.step(states.last!)) }
        return states
    }

    /// The adjoint gradient (one solve) is the slope of the loss of true re-relaxations, and the
    /// full one (all columns of ∇Θ X*) agrees with it.
    func testAdjointGradientIsTheSlopeOfTheTrueLoss() throws {
        let (fit, state) = try Self.reachable()
        let adjoint = try fit.lossGradient(state)
        let slopes = try Self.trueSlopes(fit, state)
        var full = FitSettings()
        full.gradient = .full
        let columns = try FitCampaign(systems: fit.systems, settings: full, method: DenseMethod()).lossGradient(state)
        print("fit unit: adjoint \(adjoint), finite differences of the true loss \(slopes), full \(columns)")
        XCTAssertGreaterThan(norm(adjoint), 0)
        XCTAssertLessThan(Fixtures.relativeDifference(adjoint, slopes), 1e-5, "adjoint \(adjoint), true slopes \(slopes)")
        XCTAssertLessThan(Fixtures.relativeDifference(columns, adjoint), 1e-10, "full \(columns), adjoint \(adjoint)")
    }

    /// With re-relaxation each step, the true loss of a reachable target falls by orders of
    /// magnitude within a few iterations, and Θ moves towards the target's.
    func testReachableTargetIsApproached() throws {
        var settings = FitSettings()
        settings.relaxEach = true
        let (fit, state) = try Self.reachable(settings)
        let states = try Self.iterate(fit, from: state, limit: 6)
        let losses = states.last!.history.map { $0.lossRelaxed! }
        print("fit unit: true losses \(losses), Θ \(states.last!.theta)")
        XCTAssertLessThan(losses.last!, 1e-3 * losses[0], "true losses \(losses)")
        let before = abs(state.theta[2] - Self.targetTheta[2]), after = abs(states.last!.theta[2] - Self.targetTheta[2])
        XCTAssertLessThan(after, 0.1 * before, "r0 \(states.last!.theta[2]) against the target's \(Self.targetTheta[2])")
    }

    /// The step eq. 43 takes from the start of the reachable campaign.
    static func lineSearchStep() throws -> Double {
        let (fit, state) = try reachable()
        return try fit.step(state).history.last!.step
    }

    /// One step of length `h` with eq. 44: its largest predicted displacement, and how far the
    /// predicted positions are from the true minimum (re-relaxed with the new Θ).
    static func equation44Error(step h: Double) throws -> (displacement: Double, error: Double) {
        var settings = FitSettings()
        settings.step = h
        let (fit, state) = try reachable(settings)
        let next = try fit.step(state)
        let crystal = fit.systems[0].energy as! MorseCrystal
        try crystal.setTheta(next.theta)
        try crystal.restore(state.structures["vacancy"]!)
        try Fixtures.relax(crystal, ftol: 1e-10)
        let truth = try crystal.structure()
        let difference = zip(next.structures["vacancy"]!.unwrappedPositions, truth.unwrappedPositions).map { $0 - $1 }
        return (next.history.last!.maxDisplacement, largestAtomNorm(minimumImage(difference, in: truth.box)))
    }

    /// Eq. 44 moves the atoms to where re-relaxation with the new Θ puts them, to second order in
    /// the step: halving the step halves the displacement and quarters the error.
    func testEquation44FollowsTheReRelaxedMinimum() throws {
        let h = try Self.lineSearchStep()
        let (long, short) = (try Self.equation44Error(step: h / 2), try Self.equation44Error(step: h / 4))
        print("fit unit: eq. 44 at h/2 and h/4 (h = \(h)): displacements \(long.displacement), \(short.displacement) Å; "
              + "distances from the re-relaxed minima \(long.error), \(short.error) Å")
        XCTAssertEqual(long.displacement / short.displacement, 2, accuracy: 1e-6)
        XCTAssertEqual(long.error / short.error, 4, accuracy: 0.6)
        XCTAssertLessThan(short.error, 0.05 * short.displacement)
    }

    /// A fixed step far longer than eq. 43's raises the true loss; backtracking halves it until
    /// the true loss falls (within its `maxBacktracks` halvings), so the true loss never rises.
    func testBacktrackingNeverLetsTheTrueLossRise() throws {
        var settings = FitSettings()
        settings.relaxEach = true
        settings.backtrack = true
        settings.step = 6 * (try Self.lineSearchStep())
        let (fit, state) = try Self.reachable(settings)
        let states = try Self.iterate(fit, from: state, limit: 4)
        let history = states.last!.history
        let losses = history.map { $0.lossRelaxed! }
        let halvings = history.compactMap(\.backtracks)
        print("fit unit: backtracked true losses \(losses), halvings \(halvings), steps \(history.map(\.step))")
        XCTAssertGreaterThan(halvings.reduce(0, +), 0, "no step needed halving: the test checks nothing")
        XCTAssertTrue(halvings.allSatisfy { $0 < FitSettings.maxBacktracks }, "halvings \(halvings)")
        for k in 1..<losses.count { XCTAssertLessThanOrEqual(losses[k], losses[k - 1], "true losses \(losses)") }
        XCTAssertLessThan(losses.last!, 0.01 * losses[0])
    }

    /// A property target (the vacancy formation energy and volume of the perfect crystal and
    /// the vacancy, both cells relaxed): its gradient is the slope of the true loss.
    func testPropertyTargetGradientIsTheSlopeOfTheTrueLoss() throws {
        let (bulk, vacancy, atoms) = Fixtures.bulkAndVacancy()
        let systems = [FitSystem(name: "bulk", energy: bulk, target: .none, cell: .iso),
                       FitSystem(name: "vacancy", energy: vacancy, target: .none, cell: .iso)]
        let formation = SystemQuantity.vacancyFormation(bulk: "bulk", vacancy: "vacancy", bulkAtoms: atoms)
        func campaign(_ values: [Double]) throws -> FitCampaign {
            let targets = zip(formation, values).map { quantity, value in
                PropertyTarget(name: quantity.name, coefficients: quantity.energy, volumeCoefficients: quantity.volume, value: value)
            }
            return try FitCampaign(systems: systems, settings: FitSettings(), method: DenseMethod(), propertyTargets: targets)
        }
        let probe = try campaign([0, 0])
        let start = try probe.initialState(key: "unit")
        let now = probe.propertyTargets.map { probe.combination($0, start) }
        // Targets away from the current values, so that both terms pull.
        let fit = try campaign([now[0] + 0.05, now[1] - 1.0])
        let state = try fit.initialState(key: "unit")
        let gradient = try fit.lossGradient(state)
        let slopes = try Self.trueSlopes(fit, state)
        print("fit unit: E_f \(now[0]) eV, V_f \(now[1]) Å³; gradient \(gradient), true slopes \(slopes)")
        XCTAssertGreaterThan(norm(gradient), 0)
        XCTAssertLessThan(Fixtures.relativeDifference(gradient, slopes), 1e-5, "gradient \(gradient), true slopes \(slopes)")
    }
}

/// `loop.step: gauss-newton` on the reference model: its model against finite differences of the
/// true loss, its convergence against Algorithm 1's on the same campaign.
final class GaussNewtonStepTests: XCTestCase {
    static func settings() -> FitSettings {
        var settings = FitSettings()
        settings.rule = .gaussNewton
        settings.relaxEach = true
        return settings
    }

    /// Jᵀr is the slope of the true loss; at the target's Θ (residuals zero) JᵀJ is its curvature.
    func testModelAgainstFiniteDifferencesOfTheTrueLoss() throws {
        let (fit, state) = try FitStepTests.reachable(Self.settings())
        let model = try fit.gaussNewtonModel(state)
        let slopes = try FitStepTests.trueSlopes(fit, state)
        print("gauss-newton unit: Jᵀr \(model.gradient), true slopes \(slopes)")
        XCTAssertLessThan(Fixtures.relativeDifference(model.gradient, slopes), 1e-5)

        var atTarget = state
        atTarget.theta = FitStepTests.targetTheta
        atTarget = try fit.relaxedState(atTarget)
        let curvature = try fit.gaussNewtonModel(atTarget).curvature
        // Central second differences of the true loss around the target's Θ (D, index 0, moves no atom).
        for (l, m) in [(1, 1), (2, 2), (1, 2)] {
            let (hl, hm) = (1e-4 * atTarget.theta[l], 1e-4 * atTarget.theta[m])
            func loss(_ sl: Double, _ sm: Double) throws -> Double {
                var theta = atTarget.theta
                theta[l] += sl * hl
                theta[m] += sm * hm
                return try fit.trueLoss(theta: theta, from: atTarget)
            }
            let second = (try loss(1, 1) - loss(1, -1) - loss(-1, 1) + loss(-1, -1)) / (4 * hl * hm)
            print("gauss-newton unit: JᵀJ[\(l),\(m)] \(curvature[l, m]), true second derivative \(second)")
            XCTAssertEqual(curvature[l, m], second, accuracy: 1e-3 * abs(curvature[l, l] * curvature[m, m]).squareRoot())
        }
    }

    /// The reachable target to 1e-4 of its start within 5 iterations, the true loss never rising,
    /// and at least as low as Algorithm 1's (re-relaxed, backtracking) after as many. (On this
    /// model Algorithm 1 does not zig-zag: the comparison that matters is on LAMMPS.)
    func testReachesAReachableTarget() throws {
        let (fit, state) = try FitStepTests.reachable(Self.settings())
        let history = try FitStepTests.iterate(fit, from: state, limit: 5).last!.history
        let losses = history.map { $0.lossRelaxed! }
        var steepest = FitSettings()
        steepest.relaxEach = true
        steepest.backtrack = true
        let (sd, sdState) = try FitStepTests.reachable(steepest)
        let sdLosses = try FitStepTests.iterate(sd, from: sdState, limit: 5).last!.history.map { $0.lossRelaxed! }
        print("gauss-newton unit: true losses \(losses), damping \(history.compactMap(\.damping)), "
              + "rejections \(history.compactMap(\.rejections)); Algorithm 1: \(sdLosses)")
        XCTAssertLessThanOrEqual(losses.count, 6)
        XCTAssertLessThan(losses.last!, 1e-4 * losses[0], "true losses \(losses)")
        for k in 1..<losses.count { XCTAssertLessThanOrEqual(losses[k], losses[k - 1], "true losses \(losses)") }
        XCTAssertLessThan(losses.last!, 2 * sdLosses.last!, "Gauss–Newton \(losses), Algorithm 1 \(sdLosses)")
    }

    /// A trust radius small enough to bind: no step predicts a larger displacement than the radius
    /// it was taken under, the radius doubles after each well-predicted step (this model is smooth),
    /// and the target is still reached, never raising the true loss.
    func testTrustRadiusBindsAndGrowsOnWellPredictedSteps() throws {
        var settings = Self.settings()
        settings.trustRadius = 1e-3
        settings.iterations = 12
        let (fit, state) = try FitStepTests.reachable(settings)
        let states = try FitStepTests.iterate(fit, from: state, limit: 12)
        let radii = [settings.trustRadius] + states.dropFirst().map { $0.trustRadius! }
        let history = states.last!.history
        print("gauss-newton unit: radii \(radii), displacements \(history.map(\.maxDisplacement)), "
              + "true losses \(history.map { $0.lossRelaxed! })")
        for k in 1..<history.count {
            XCTAssertLessThanOrEqual(history[k].maxDisplacement, radii[k - 1] * (1 + 1e-12), "step \(k)")
            XCTAssertLessThanOrEqual(history[k].lossRelaxed!, history[k - 1].lossRelaxed!, "step \(k)")
        }
        XCTAssertEqual(history[1].maxDisplacement, 1e-3, accuracy: 5e-4, "the first step uses the radius")
        XCTAssertEqual(radii[1], 2e-3, "a well-predicted step that used the radius doubles it")
        XCTAssertLessThan(history.last!.lossRelaxed!, 1e-4 * history[0].lossRelaxed!)
    }

    /// `loop.explore`: the first iterations take Algorithm 1's step (no damping, no rejection,
    /// the eq. 43 step length recorded), then Gauss–Newton takes over from where they left off.
    func testExploringIterationsTakeAlgorithmOnesStepThenGaussNewton() throws {
        var settings = Self.settings()
        settings.explore = 2
        let (fit, state) = try FitStepTests.reachable(settings)
        let history = try FitStepTests.iterate(fit, from: state, limit: 4).last!.history
        XCTAssertGreaterThanOrEqual(history.count, 4)
        for k in 1...2 {
            XCTAssertNil(history[k].damping, "iteration \(k) explores")
            XCTAssertNotEqual(history[k].step, 0)
        }
        XCTAssertNotNil(history[3].damping, "iteration 3 is Gauss–Newton's")
        XCTAssertLessThan(history.last!.lossRelaxed!, history[2].lossRelaxed!)
    }
}

/// `loop.step: lbfgs` on the reference model: steps accepted on the true loss only.
final class LBFGSStepTests: XCTestCase {
    /// The reachable target to 1e-4 of its start, the true loss never rising, and the memory
    /// carried in the state (checkpointed) from the second iteration on.
    func testReachesAReachableTargetWithoutRaisingTheTrueLoss() throws {
        var settings = FitSettings()
        settings.rule = .lbfgs
        settings.relaxEach = true
        settings.backtrack = true
        settings.tolerance = 1e-9
        let (fit, state) = try FitStepTests.reachable(settings)
        let states = try FitStepTests.iterate(fit, from: state, limit: 8)
        let losses = states.last!.history.map { $0.lossRelaxed! }
        print("lbfgs unit: true losses \(losses), steps \(states.last!.history.map(\.step)), "
              + "memory \(states.map { $0.lbfgs?.steps.count ?? -1 })")
        XCTAssertLessThan(losses.last!, 1e-4 * losses[0], "true losses \(losses)")
        for k in 1..<losses.count { XCTAssertLessThanOrEqual(losses[k], losses[k - 1], "true losses \(losses)") }
        XCTAssertGreaterThan(states.compactMap { $0.lbfgs?.steps.count }.max() ?? 0, 0, "no pair was ever remembered")
    }
}
