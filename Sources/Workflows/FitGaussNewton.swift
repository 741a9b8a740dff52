import Atomistics
import Foundation
import ImplicitDerivative
import LinearAlgebra
import Potentials

/// `loop.step: gauss-newton`: Levenberg–Marquardt on the stacked residuals of the loss. The
/// structure residuals P(X* − X_target) have the columns of ∇Θ X* as their Jacobian, elastic
/// residuals ∇Θ C, property residuals Σ c_s ∇Θ U_s + Σ d_s ∇Θ V_s; the curvature JᵀJ that
/// steepest descent throws away makes the step. Every step is judged by the true loss of
/// re-relaxed systems: one that raises it is rejected, the damping raised and the step
/// recomputed from the same derivatives.
extension FitCampaign {
    /// The Gauss–Newton model of the loss at a state: L(Θ + δ) ≈ L + gᵀδ + ½ δᵀGδ with G = JᵀWJ,
    /// and per structure system ∇Θ X*, which moves its atoms with a step (eq. 44) before it re-relaxes.
    public struct GaussNewtonModel {
        public internal(set) var gradient: [Double]
        public internal(set) var curvature: Matrix
        public internal(set) var positionDerivatives: [String: Matrix] = [:]

        public func predictedChange(_ delta: [Double]) -> Double {
            let product = curvature.multiplied(by: Matrix(rows: delta.count, columns: 1, storage: delta)).storage
            return dot(gradient, delta) + 0.5 * dot(delta, product)
        }

        /// Adds w·(jᵀr) to the gradient and w·JᵀJ to the curvature for residuals r whose
        /// derivative in Θ_l is `columns[l]`.
        mutating func add(residual r: [Double], columns: [[Double]], weight w: Double, weighting: ([Double]) -> [Double] = { $0 }) {
            let weighted = columns.map(weighting)
            for l in columns.indices {
                gradient[l] += w * dot(weighted[l], r)
                for m in 0...l {
                    let value = w * dot(weighted[l], columns[m])
                    curvature[l, m] += value
                    if m != l { curvature[m, l] += value }
                }
            }
        }
    }

    public func gaussNewtonModel(_ state: FitState, progress: (String) -> Void = { _ in }) throws -> GaussNewtonModel {
        let n = state.theta.count
        let mu = settings.regularization
        var model = GaussNewtonModel(gradient: zip(state.theta, state.thetaInitial).map { mu * ($0 - $1) },
                                     curvature: Matrix(rows: n, columns: n))
        for l in 0..<n { model.curvature[l, l] = mu }
        if let training {
            // Its rows are linear in Θ: the term's own gradient and Hessian are exact.
            model.gradient = zip(model.gradient, training.gradient(state.theta)).map { $0 + $1 }
            model.curvature = model.curvature + training.hessian()
        }
        for system in systems {
            let energy = system.energy
            try place(system, at: state)
            switch system.target {
            case .structure(let target):
                let hessian = try Hessian(system: system.provider)
                let d = try ImplicitDifferentiation.positionDerivative(
                    energy, hessian: hessian, mixedHessian: try energy.mixedHessian(), method: method,
                    checks: DerivativeChecks(), progress: progress).matrix
                model.positionDerivatives[system.name] = d
                let columns = (0..<n).map { removingTranslations(d.column($0), axes: [0, 1, 2]) }
                model.add(residual: residual(state.structures[system.name]!, target: target), columns: columns,
                          weight: system.weight, weighting: system.weighted)
            case .elastic(let target, let mask):
                let dC = try ElasticParameterDerivative(cell: .aniso, ftol: settings.ftol)
                    .compute(energy, reference: state.structures[system.name]!, method: method, progress: progress).derivative
                model.add(residual: elasticDifference(state.elastic[system.name]!, target, mask),
                          columns: dC.map { mandelComponents($0, mask) }, weight: system.weight)
            case .none:
                break
            }
        }
        for target in propertyTargets {
            var column = [Double](repeating: 0, count: n)
            for (name, c) in target.quantity.energyTerms {
                let system = systems.first { $0.name == name }!
                try place(system, at: state, evaluating: false)
                let gradient = try system.energy.energyGradient()
                for l in 0..<n { column[l] += c * gradient[l] }
            }
            for (name, d) in target.quantity.volumeTerms {
                let system = systems.first { $0.name == name }!
                try place(system, at: state, evaluating: false)
                let gradient = try volumeGradient(system, progress: progress)
                for l in 0..<n { column[l] += d * gradient[l] }
            }
            model.add(residual: [combination(target, state) - target.value], columns: column.map { [$0] },
                      weight: target.weight)
        }
        return model
    }

    /// The damped step: (Π(G + λ·max diag(G)·I)Π + (I − Π)) δ = −Π g, with Π the projection that
    /// keeps the linear constraints. Levenberg's damping (the identity), not Marquardt's (diag G):
    /// a loss is often nearly flat along some combination of parameters (two Morse parameters that
    /// move the atoms alike, SNAP coefficients the targets hardly see), and Marquardt's scaling lets a
    /// step run far along it, away from Θ0, into another valley of the true loss. Measured on the
    /// reference model's reachable vacancy: Marquardt 8.4e-8 after 5 iterations (α 1.5 → 2.62, the
    /// target's 1.545), Levenberg 1.3e-10 after 3.
    func dampedStep(_ model: GaussNewtonModel, damping: Double) throws -> [Double] {
        let n = model.gradient.count
        let largest = max((0..<n).map { model.curvature[$0, $0] }.max() ?? 0, 1e-300)
        var system = model.curvature
        for l in 0..<n { system[l, l] += damping * largest }
        let rhs = projectOntoConstraints(model.gradient.map { -$0 })
        if constraints != nil {
            // Π M Π + (I − Π): column by column, then row by row (Π is symmetric).
            var projected = Matrix(rows: n, columns: n)
            for j in 0..<n { projected.setColumn(j, projectOntoConstraints(system.column(j))) }
            projected = projected.transposed
            for j in 0..<n { projected.setColumn(j, projectOntoConstraints(projected.column(j))) }
            for j in 0..<n {
                var unit = [Double](repeating: 0, count: n)
                unit[j] = 1
                let kept = projectOntoConstraints(unit)
                for i in 0..<n { projected[i, j] += unit[i] - kept[i] }
            }
            system = projected
        }
        system.symmetrize()
        return try LAPACK.solveSymmetric(system, Matrix(rows: n, columns: 1, storage: rhs)).storage
    }

    /// One Levenberg–Marquardt iteration from `state`: the model once, then steps of rising
    /// damping (a halved trust radius where atoms move) until one lowers the true loss (at most
    /// `FitSettings.maxRejections` rejected).
    func gaussNewtonStep(_ state: FitState, progress: (String) -> Void) throws -> FitState {
        try resetSystems(to: state)
        let start = Date()
        let before = evaluationCount
        let current = loss(state)
        let model = try gaussNewtonModel(state, progress: progress)
        // A loss of the training term and the regularizer alone is exactly quadratic: its model is
        // the loss, and the (all but) undamped step its minimum.
        let exact = systems.isEmpty && propertyTargets.isEmpty
        var damping = exact ? FitSettings.exactDamping : state.damping ?? FitSettings.initialDamping
        var radius = state.trustRadius ?? settings.trustRadius
        var growth = 2.0
        var rejections = 0
        while true {
            let delta = exact ? try dampedStep(model, damping: damping)
                : try trustedStep(model, damping: &damping, radius: radius, state: state, progress: progress)
            let predicted = current + model.predictedChange(delta)
            var next = state
            next.theta = zip(state.theta, delta).map { $0 + $1 }
            var largest = 0.0
            for (name, d) in model.positionDerivatives {
                let change = d.multiplied(by: Matrix(rows: delta.count, columns: 1, storage: delta)).storage
                largest = max(largest, largestAtomNorm(change))
                next.structures[name]!.positions = zip(next.structures[name]!.positions, change).map { $0 + $1 }  // eq. 44
            }
            next = try relaxAll(next, progress: progress)
            let trueLoss = loss(next)
            if trueLoss <= current {
                // Nielsen's update: less damping when the model predicted the decrease well.
                let ratio = current > predicted ? (current - trueLoss) / (current - predicted) : 0
                next.damping = damping * max(1.0 / 3, 1 - pow(2 * ratio - 1, 3))
                next.trustRadius = updatedRadius(radius, ratio: ratio, largest: largest, progress: progress)
                next.history.append(FitRecord(iteration: state.history.count, lossPredicted: predicted, lossRelaxed: trueLoss,
                                              step: norm(delta) / max(norm(state.theta), .leastNonzeroMagnitude),
                                              maxDisplacement: largest, forceEvaluations: evaluationCount - before,
                                              seconds: Date().timeIntervalSince(start), theta: next.theta,
                                              properties: properties(next), energies: next.energies, damping: damping,
                                              rejections: rejections, training: trainingColumns(next.theta)))
                next.done = isFinished(next, previousLoss: current, newLoss: trueLoss, largest: largest,
                                       hasPositions: !model.positionDerivatives.isEmpty)
                return next
            }
            rejections += 1
            progress(String(format: "  step rejected: true loss %.6g above %.6g (predicted %.6g) at damping %.3g",
                            trueLoss, current, predicted, damping))
            if rejections > FitSettings.maxRejections {
                return stalled(state, current: current, damping: damping, rejections: rejections, before: before,
                               start: start)
            }
            if largest > 0 {
                // The linear prediction failed at this displacement: trust half of it.
                radius = largest / 2
            } else {
                damping *= growth
                growth *= 2
            }
        }
    }

    /// The trust radius after an accepted step, judged by the ratio of true to predicted decrease:
    /// doubled (to `largestTrustRadius`) when the prediction held for a step that used the radius,
    /// halved when it did not.
    private func updatedRadius(_ radius: Double, ratio: Double, largest: Double, progress: (String) -> Void) -> Double {
        var next = radius
        if ratio > 0.75 && largest > radius / 2 {
            next = min(2 * radius, FitSettings.largestTrustRadius)
        } else if ratio < 0.25 {
            next = radius / 2
        }
        if next != radius {
            progress(String(format: "  trust radius %.3g → %.3g Å (true decrease %.2f of the predicted)", radius, next, ratio))
        }
        return next
    }

    /// The damped step, with the damping raised until the linear prediction can be trusted for
    /// it: no atom moves more than `radius` (Å), the parameters by at most `maxParameterStep` of
    /// |Θ|. (Raising λ rather than shortening the step keeps it a Levenberg–Marquardt step: it
    /// turns towards −g as it shrinks.)
    private func trustedStep(_ model: GaussNewtonModel, damping: inout Double, radius: Double, state: FitState,
                             progress: (String) -> Void) throws -> [Double] {
        let start = damping
        var delta = try dampedStep(model, damping: damping)
        for _ in 0..<60 {
            let atomStep = model.positionDerivatives.values.map { d in
                largestAtomNorm(d.multiplied(by: Matrix(rows: delta.count, columns: 1, storage: delta)).storage)
            }.max() ?? 0
            let thetaStep = norm(delta) / max(norm(state.theta), .leastNonzeroMagnitude)
            guard atomStep > radius || thetaStep > FitSettings.maxParameterStep else { break }
            damping *= 2
            delta = try dampedStep(model, damping: damping)
        }
        if damping > start {
            progress(String(format: "  damping raised %.3g → %.3g: at most %.2g Å per atom and %.2g of |Θ| per step",
                            start, damping, radius, FitSettings.maxParameterStep))
        }
        return delta
    }

    /// Every step was rejected: the campaign stops where it was, saying so in the history.
    private func stalled(_ state: FitState, current: Double, damping: Double, rejections: Int, before: Int,
                         start: Date) -> FitState {
        var next = state
        let warning = String(format: """
            iteration %d: %d steps in a row raised the true loss (damping up to %.3g): the Gauss–Newton model no \
            longer predicts the loss here; the campaign stops at the previous iterate
            """, state.history.count, rejections, damping)
        next.history.append(FitRecord(iteration: state.history.count, lossPredicted: current, lossRelaxed: current,
                                      step: 0, maxDisplacement: 0, forceEvaluations: evaluationCount - before,
                                      seconds: Date().timeIntervalSince(start), theta: state.theta, properties: properties(next),
                                      energies: next.energies, damping: damping, rejections: rejections, warning: warning,
                                      training: trainingColumns(state.theta)))
        next.done = true
        return next
    }

    /// Whether a campaign stops after an iteration: its loss reached the tolerance, nothing moved
    /// (structure targets: no atom by `tolerance`; property targets: the loss no longer changes),
    /// or the iterations are spent.
    func isFinished(_ next: FitState, previousLoss: Double, newLoss: Double, largest: Double, hasPositions: Bool) -> Bool {
        let hasProperties = systems.contains { $0.cell != .fixed } || !propertyTargets.isEmpty || training != nil
        let moved = (hasPositions && largest >= settings.tolerance)
            || (hasProperties && abs(previousLoss - newLoss) > 1e-10 * abs(previousLoss))
        // history.count − 1 steps are done (row 0 is the start).
        return !moved || newLoss <= settings.lossTolerance || next.history.count - 1 >= settings.iterations
    }
}
