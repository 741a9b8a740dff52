import Atomistics
import Foundation
import ImplicitDerivative
import LinearAlgebra
import Potentials


/// Algorithm 1 step by step: the start, one iteration (line search, backtracking), the end.
extension FitCampaign {
    /// The starting state: every system relaxed with its own Θ (iteration 0 of the history).
    public func initialState(key: String, progress: (String) -> Void = { _ in }) throws -> FitState {
        let theta = thetaStart
        let start = Date()
        let before = evaluationCount
        let state = try relaxAll(FitState(key: key, thetaInitial: theta, theta: theta, structures: [:], history: []),
                                 fromCurrent: true, progress: progress)
        for system in systems {
            guard case .structure(let target) = system.target else { continue }
            // Several ångströms mean the wrong atoms are paired far more often than a target far away.
            let r = residual(state.structures[system.name]!, target: target)
            let norms: [Double] = stride(from: 0, to: r.count, by: 3).map { i -> Double in
                let (x, y, z) = (r[i], r[i + 1], r[i + 2])
                return (x * x + y * y + z * z).squareRoot()
            }
            if let worst = norms.indices.max(by: { norms[$0] < norms[$1] }), norms[worst] > 1.5 {
                progress(String(format: """
                    warning: system %@: atom ID %d is %.2f Å from its target. Do the target's atom IDs match the \
                    system's? (create_atoms numbers atoms differently on different numbers of MPI ranks; read_data keeps IDs)
                    """, system.name, worst + 1, norms[worst]))
            }
        }
        let l = loss(state)
        var result = state
        result.history = [FitRecord(iteration: 0, lossPredicted: l, lossRelaxed: l, step: 0, maxDisplacement: 0,
                                    forceEvaluations: evaluationCount - before, seconds: Date().timeIntervalSince(start),
                                    theta: theta, properties: properties(state), energies: state.energies,
                                    training: trainingColumns(theta))]
        result.done = settings.iterations == 0 || l <= settings.lossTolerance
        return result
    }

    var evaluationCount: Int {
        systems.reduce(0) { $0 + $1.provider.allForceEvaluations }
    }

    /// One iteration from `state`, by the campaign's rule.
    public func step(_ state: FitState, progress: (String) -> Void = { _ in }) throws -> FitState {
        if state.history.count <= settings.explore && settings.rule != .steepestDescent {
            progress("  iteration \(state.history.count) explores (loop.explore): Algorithm 1's step")
            return try steepestStep(state, progress: progress)
        }
        switch settings.rule {
        case .gaussNewton: return try gaussNewtonStep(state, progress: progress)
        case .lbfgs: return try lbfgsStep(state, progress: progress)
        case .steepestDescent: return try steepestStep(state, progress: progress)
        }
    }

    /// One iteration of Algorithm 1 from `state`; `given` is ∇Θ L there when already computed
    /// (since `started`, at `evaluations`).
    func steepestStep(_ state: FitState, given: (direction: Direction, started: Date, evaluations: Int)? = nil,
                      progress: (String) -> Void) throws -> FitState {
        try resetSystems(to: state)
        let start = given?.started ?? Date()
        let before = given?.evaluations ?? evaluationCount
        let current = loss(state)
        let direction = try given?.direction ?? gradient(state, progress: progress)
        let g = direction.g
        // Predicted loss along Θ − h g (eq. 42): L + h A + ½ h² B.
        var a = -settings.regularization * zip(g, zip(state.theta, state.thetaInitial)).reduce(0) { $0 + $1.0 * ($1.1.0 - $1.1.1) }
        var b = settings.regularization * dot(g, g)
        if let training {
            // Exactly quadratic: the slope −∇L_trainingᵀ g and curvature gᵀ H g along −g.
            a -= dot(training.gradient(state.theta), g)
            b += dot(g, training.hessian().multiplied(by: Matrix(rows: g.count, columns: 1, storage: g)).storage)
        }
        for system in systems {
            let (u, change): ([Double], [Double])
            switch system.target {
            case .structure(let target):
                u = residual(state.structures[system.name]!, target: target)
                change = removingTranslations(direction.dx[system.name]!, axes: [0, 1, 2])
            case .elastic(let target, let mask):
                u = elasticDifference(state.elastic[system.name]!, target, mask)
                change = mandelComponents(direction.dc[system.name]!, mask)
            case .none:
                (u, change) = ([], [])
            }
            a += system.weight * dot(change, system.weighted(u))
            b += system.weight * dot(change, system.weighted(change))
        }
        for target in propertyTargets {
            // To first order the combination changes by −Σ c_s (∇Θ U_s · g) − Σ d_s (∇Θ V_s · g) per unit step.
            let u = combination(target, state) - target.value
            let change = -target.quantity.energy.reduce(0) { total, term in
                total + term.value * dot(direction.energyGradients[term.key]!, g)
            } - target.quantity.volume.reduce(0) { total, term in
                total + term.value * dot(direction.volumeGradients[term.key]!, g)
            }
            a += target.weight * u * change
            b += target.weight * change * change
        }
        var h = settings.step ?? (b > 0 ? -a / b : 0)  // eq. 43
        // A step the linear prediction cannot be trusted for is shortened: no atom moves more than
        // `maxAtomStep`, no parameter by more than `maxParameterStep` of Θ's size.
        let atomStep = direction.dx.values.map(largestAtomNorm).max() ?? 0
        let thetaSize = max(norm(state.theta), .leastNonzeroMagnitude)
        let thetaStep = norm(g) / thetaSize
        let cap = min(atomStep > 0 ? FitSettings.maxAtomStep / atomStep : .infinity,
                      thetaStep > 0 ? FitSettings.maxParameterStep / thetaStep : .infinity)
        if abs(h) > cap {
            progress(String(format: "  step %.4g shortened to %.4g (at most %.2g Å per atom, %.2g of |Θ|)",
                            h, cap * (h < 0 ? -1 : 1), FitSettings.maxAtomStep, FitSettings.maxParameterStep))
            h = cap * (h < 0 ? -1 : 1)
        }
        /// Θ − h g with positions moved by eq. 44, its largest atomic displacement, and (when
        /// relaxed) its true loss.
        func take(_ h: Double) throws -> (next: FitState, largest: Double, relaxedLoss: Double?) {
            var next = state
            next.theta = zip(state.theta, g).map { $0 - h * $1 }
            var largest = 0.0
            for system in systems {
                guard let dx = direction.dx[system.name] else { continue }
                var structure = state.structures[system.name]!
                let change = dx.map { h * $0 }
                structure.positions = zip(structure.positions, change).map { $0 + $1 }  // eq. 44
                largest = max(largest, largestAtomNorm(change))
                next.structures[system.name] = structure
            }
            if settings.relaxEach || systems.allSatisfy({ $0.cell != .fixed }) {
                next = try relaxAll(next, progress: progress)
                return (next, largest, loss(next))
            }
            // Elastic constants are only defined at a minimum: those systems always re-relax.
            return (try relaxAll(next, only: { $0.cell != .fixed }, progress: progress), largest, nil)
        }
        var (next, largest, relaxedLoss) = try take(h)
        var backtracks = 0
        while settings.backtrack, let true_ = relaxedLoss, true_ > current, backtracks < FitSettings.maxBacktracks {
            backtracks += 1
            h /= 2
            progress(String(format: "  the true loss rose to %.6g (from %.6g): step halved to %.4g", true_, current, h))
            (next, largest, relaxedLoss) = try take(h)
        }
        let predicted = current + h * a + 0.5 * h * h * b
        var warning: String?
        if let true_ = relaxedLoss, true_ > current, true_ > FitRecord.runawayRatio * max(predicted, 0) {
            warning = String(format: """
                iteration %d: the true loss %.6g is above the previous %.6g and %@ the predicted %.6g: the step \
                (h = %.4g, %.3g Å largest predicted displacement) left the range where the linear prediction holds, and \
                the relaxation may have rearranged the structure%@
                """, state.history.count, true_, current,
                predicted > 0 ? String(format: "%.3g×", true_ / predicted) : "far above", predicted, h, largest,
                settings.backtrack ? " (after \(backtracks) halvings of the step)"
                    : "; loop.backtrack: true halves such steps")
            progress("  WARNING: " + warning!)
        }
        if relaxedLoss == nil {
            // The energies of the predicted structures with the new Θ (their error is second order).
            for system in systems where next.structures[system.name] != nil && system.cell == .fixed {
                try system.energy.setTheta(next.theta)
                try system.provider.restore(next.structures[system.name]!)
                try system.provider.evaluate()
                next.energies[system.name] = try system.provider.energy()
            }
        }
        next.history.append(FitRecord(iteration: state.history.count, lossPredicted: predicted, lossRelaxed: relaxedLoss,
                                      step: h, maxDisplacement: largest, forceEvaluations: evaluationCount - before,
                                      seconds: Date().timeIntervalSince(start), theta: next.theta, properties: properties(next),
                                      energies: next.energies, backtracks: settings.backtrack ? backtracks : nil,
                                      warning: warning, training: trainingColumns(next.theta)))
        next.done = isFinished(next, previousLoss: current, newLoss: relaxedLoss ?? predicted, largest: largest,
                               hasPositions: !direction.dx.isEmpty)
        return next
    }

    /// Positions that follow eq. 44 can drift from the true minima over many steps: a message
    /// when the final relaxation's true loss is more than twice the last predicted one.
    public static func driftWarning(history: [FitRecord], final: FitRecord, best: FitRecord) -> String? {
        guard let last = history.last else { return nil }
        guard last.lossRelaxed == nil, final.lossRelaxed! > 2 * last.lossPredicted + 1e-12 else { return nil }
        return String(format: """
            the final relaxation's true loss %.6g is far above the predicted %.6g: the positions predicted by \
            eq. 44 drifted from the true minima; rerun with loop.relax_each: true (final.* holds the best true \
            iterate, %d)
            """, final.lossRelaxed!, last.lossPredicted, best.iteration)
    }

    /// The end of a campaign: every system relaxed with the final Θ, and the iterate with the
    /// lowest true loss (the final relaxation or a relaxed iteration).
    public func finish(_ state: FitState, progress: (String) -> Void = { _ in })
        throws -> (final: FitRecord, best: FitRecord, state: FitState)
    {
        try resetSystems(to: state)
        let start = Date()
        let before = evaluationCount
        let relaxed = try relaxAll(state, progress: progress)
        let last = state.history.last!
        let final = FitRecord(iteration: last.iteration, lossPredicted: last.lossPredicted, lossRelaxed: loss(relaxed),
                              step: 0, maxDisplacement: 0, forceEvaluations: evaluationCount - before,
                              seconds: Date().timeIntervalSince(start), theta: state.theta, properties: properties(relaxed),
                              energies: relaxed.energies, training: trainingColumns(state.theta))
        let candidates = state.history.filter { $0.lossRelaxed != nil } + [final]
        let best = candidates.min { $0.lossRelaxed! < $1.lossRelaxed! }!
        return (final, best, relaxed)
    }
}
