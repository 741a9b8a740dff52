import Atomistics
import Foundation
import LinearAlgebra

/// What L-BFGS carries from one iteration to the next (checkpointed: a resumed campaign takes the
/// same steps).
public struct LBFGSMemory: Codable, Sendable {
    /// The last pairs, oldest first: s = Θ_k+1 − Θ_k and y = ∇L_k+1 − ∇L_k.
    public var steps: [[Double]] = []
    public var changes: [[Double]] = []
    /// Θ and ∇Θ L where the last step started.
    public var theta: [Double]
    public var gradient: [Double]
}

/// `loop.step: lbfgs`: limited-memory BFGS on the adjoint gradient, for parameter counts too large
/// for the N_D columns Gauss–Newton needs. Each iteration costs one adjoint gradient plus the
/// relaxations of its trial steps; a trial is accepted when the true loss falls by at least 1e-4
/// of the first-order prediction (Armijo), else halved. The first iteration, and any whose memory
/// gives no descent, is Algorithm 1's (eq. 43, backtracking).
extension FitCampaign {
    func lbfgsStep(_ state: FitState, progress: (String) -> Void) throws -> FitState {
        try resetSystems(to: state)
        let start = Date()
        let before = evaluationCount
        let direction = try gradient(state, progress: progress)
        let g = direction.g
        let memory = state.lbfgs.map { remembering($0, theta: state.theta, gradient: g) }
        let p = memory.flatMap { searchDirection(g, memory: $0) }
        guard let memory = memory, let p else {
            // Nothing learnt yet (or no descent from it): a steepest-descent step.
            var next = try steepestStep(state, given: (direction, start, before), progress: progress)
            next.lbfgs = LBFGSMemory(steps: memory?.steps ?? [], changes: memory?.changes ?? [], theta: state.theta, gradient: g)
            return next
        }
        let current = loss(state)
        let slope = dot(g, p)
        // A step longer than `maxParameterStep` of |Θ| is shortened, as every rule does.
        var t = min(1, FitSettings.maxParameterStep * max(norm(state.theta), .leastNonzeroMagnitude) / norm(p))
        var halvings = 0
        while true {
            var trial = state
            trial.theta = zip(state.theta, p).map { $0 + t * $1 }
            trial = try relaxAll(trial, progress: progress)
            let trueLoss = loss(trial)
            if trueLoss <= current + 1e-4 * t * slope {
                let largest = largestMove(from: state, to: trial)
                trial.lbfgs = LBFGSMemory(steps: memory.steps, changes: memory.changes, theta: state.theta, gradient: g)
                trial.history.append(FitRecord(iteration: state.history.count, lossPredicted: current + t * slope,
                                               lossRelaxed: trueLoss, step: t, maxDisplacement: largest,
                                               forceEvaluations: evaluationCount - before, seconds: Date().timeIntervalSince(start),
                                               theta: trial.theta, properties: properties(trial), energies: trial.energies,
                                               backtracks: halvings, training: trainingColumns(trial.theta)))
                trial.done = isFinished(trial, previousLoss: current, newLoss: trueLoss, largest: largest,
                                        hasPositions: systems.contains { if case .structure = $0.target { true } else { false } })
                return trial
            }
            halvings += 1
            progress(String(format: "  L-BFGS step %.4g raised the true loss to %.6g (from %.6g): halved", t, trueLoss, current))
            if halvings > FitSettings.maxBacktracks {
                // The memory misleads here: forget it and take Algorithm 1's step.
                progress("  L-BFGS memory cleared after \(halvings) halvings; a steepest-descent step instead")
                try resetSystems(to: state)
                var next = try steepestStep(state, given: (direction, start, before), progress: progress)
                next.lbfgs = LBFGSMemory(theta: state.theta, gradient: g)
                return next
            }
            t /= 2
        }
    }

    /// The memory with the pair of the last step added (when its curvature sᵀy is positive, as
    /// BFGS needs), at most `lbfgsMemory` pairs.
    private func remembering(_ memory: LBFGSMemory, theta: [Double], gradient: [Double]) -> LBFGSMemory {
        var result = memory
        let s = zip(theta, memory.theta).map { $0 - $1 }, y = zip(gradient, memory.gradient).map { $0 - $1 }
        if dot(s, y) > 1e-12 * norm(s) * norm(y) {
            result.steps.append(s)
            result.changes.append(y)
        }
        if result.steps.count > FitSettings.lbfgsMemory {
            result.steps.removeFirst()
            result.changes.removeFirst()
        }
        return result
    }

    /// −H g by the two-loop recursion (H0 = sᵀy/yᵀy of the newest pair), kept on the constraints;
    /// nil without pairs or when it is not a descent direction.
    private func searchDirection(_ g: [Double], memory: LBFGSMemory) -> [Double]? {
        guard let s = memory.steps.last, let y = memory.changes.last else { return nil }
        var q = g
        var alphas: [Double] = []
        for (s, y) in zip(memory.steps, memory.changes).reversed() {
            let alpha = dot(s, q) / dot(y, s)
            alphas.append(alpha)
            q = zip(q, y).map { $0 - alpha * $1 }
        }
        var r = q.map { $0 * dot(s, y) / dot(y, y) }
        for ((s, y), alpha) in zip(zip(memory.steps, memory.changes), alphas.reversed()) {
            let beta = dot(y, r) / dot(y, s)
            r = zip(r, s).map { $0 + (alpha - beta) * $1 }
        }
        let p = projectOntoConstraints(r.map { -$0 })
        return dot(p, g) < 0 ? p : nil
    }

    /// The largest atomic displacement between two states' structures (minimum image).
    private func largestMove(from old: FitState, to new: FitState) -> Double {
        systems.compactMap { system -> Double? in
            guard let a = old.structures[system.name], let b = new.structures[system.name] else { return nil }
            return largestAtomNorm(minimumImage(zip(b.unwrappedPositions, a.unwrappedPositions).map { $0 - $1 }, in: b.box))
        }.max() ?? 0
    }
}
