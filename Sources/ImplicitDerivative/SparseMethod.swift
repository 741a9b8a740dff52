import Atomistics
import Foundation
import LinearAlgebra
import Potentials

/// How the sparse method's Krylov solves are organized.
public enum KrylovStrategy: String, Sendable, CaseIterable {
    /// One shared basis for all columns while it stays small, then conjugate gradients per open column.
    case auto
    /// One shared Galerkin basis for all columns (few products when the columns are correlated,
    /// O(n·k²) algebra per sweep when the basis k grows).
    case shared
    /// Conjugate gradients per column: short recurrences, O(n) memory and work per product.
    case cg
}

/// Hessian-vector products from force differences and Krylov solves (`strategy`).
public struct SparseMethod: DerivativeMethod {
    /// Relative residual of each solve. Hessian-vector products by forward force differences are
    /// accurate to ~1e-6, so much tighter tolerances only meet that floor.
    public var tolerance = 1e-5
    /// `auto` by default: the lattice preconditioner for point defects in a crystal, the
    /// exponential one otherwise (it cuts the products of a dislocation 3–5×; without any, a
    /// 16 000-atom vacancy's shared basis stalls at 3e-2).
    public var preconditioning = Preconditioning.auto
    public var strategy = KrylovStrategy.auto
    /// Where columns finished by conjugate gradients are saved, so that an interrupted solve resumes.
    public var checkpoint: URL?
    public init(tolerance: Double = 1e-5, preconditioning: Preconditioning = .auto, strategy: KrylovStrategy = .auto,
                checkpoint: URL? = nil) {
        self.tolerance = tolerance
        self.preconditioning = preconditioning
        self.strategy = strategy
        self.checkpoint = checkpoint
    }

    public var name: String { "sparse" }
    public var settings: [String: String] {
        ["tolerance": "\(tolerance)", "preconditioner": preconditioning.rawValue, "strategy": strategy.rawValue]
    }
    public var advice: SettingMessage { "The Krylov solve did not converge; lower \(setting: .tolerance) or try \(setting: .method("dense"))." }

    /// `auto` keeps the shared basis while it holds at most this many vectors per column (and at
    /// least 100): symmetric defects finish far below it; a large unsymmetric system, whose shared
    /// basis would grow towards 3N, continues column by column from the shared solution. (A system
    /// whose whole mobile space is within ~10 products per column of that cap keeps the basis.)
    public static let sharedBasisPerColumn = 4

    public func solve(_ hessian: Hessian, _ b: Matrix, progress: (String) -> Void) throws -> (x: Matrix, relativeResiduals: [Double]) {
        // Columns that vanish by symmetry (e.g. the forces of normal strains in a cubic crystal)
        // hold only round-off: their solution is zero, and no relative residual can be reached.
        let norms = (0..<b.columns).map { norm(b.column($0)) }
        let largest = norms.max() ?? 0
        let active = (0..<b.columns).filter { norms[$0] > 1e-9 * largest }
        var x = Matrix(rows: b.rows, columns: b.columns)
        var residuals = [Double](repeating: 0, count: b.columns)
        guard !active.isEmpty else { return (x, residuals) }
        // Unit columns: the shared basis drops directions below a fraction of the largest column,
        // which would starve a column 1e-6 the size of another.
        let unit = Matrix(columns: active.map { j in b.column(j).map { $0 / norms[j] } }, rows: b.rows)
        let preconditioner = try preconditioner(for: hessian, progress: progress)
        // On partitions each sweep's products, and the CG columns, are shared out.
        let sharing = hessian.system.workSharing
        var solution: (x: Matrix, residuals: [Double])
        switch strategy {
        case .shared:
            var solver = KrylovSolver(tolerance: tolerance, preconditioner: preconditioner, sharing: sharing)
            solver.probe = hessian.spectrumProbe
            let shared = try solver.solve(unit, progress: progress) { try hessian.apply($0) }
            hessian.keepProbedSpace(shared, preconditioner: preconditioner)
            solution = (shared.x, shared.relativeResiduals)
        case .cg:
            solution = try columnByColumn(unit, start: nil, hessian: hessian, preconditioner: preconditioner, sharing: sharing,
                                          progress: progress)
        case .auto:
            var solver = KrylovSolver(tolerance: tolerance, preconditioner: preconditioner, sharing: sharing)
            // A shared basis that can span the whole mobile space for about the price CG would pay
            // per column (~10 products each) is kept to the end: a small unsymmetric system (the
            // W–Be alloy, 3N = 747 for 110 columns) is solved exactly in 3N products.
            let cap = max(100, SparseMethod.sharedBasisPerColumn * active.count)
            let mobile = hessian.degreesOfFreedom.mobileCount
            solver.maximumBasis = mobile <= cap + 10 * active.count ? mobile + active.count : cap
            solver.probe = hessian.spectrumProbe
            let shared = try solver.solve(unit, progress: progress) { try hessian.apply($0) }
            hessian.keepProbedSpace(shared, preconditioner: preconditioner)
            solution = (shared.x, shared.relativeResiduals)
            let open = (0..<active.count).filter { !(shared.relativeResiduals[$0] <= tolerance) }
            // Columns still open when the basis stopped (at its cap, or on a plateau of the
            // Galerkin residual) continue by CG.
            if !open.isEmpty {
                progress("  sparse: the shared basis stopped at \(shared.products) vectors with \(open.count) of \(active.count) columns "
                         + "open; continuing them one by one with conjugate gradients from the shared solution")
                let rest = try columnByColumn(unit.selecting(columns: open), start: shared.x.selecting(columns: open),
                                              hessian: hessian, preconditioner: preconditioner, sharing: sharing, progress: progress)
                for (index, column) in open.enumerated() where rest.residuals[index] < solution.residuals[column] {
                    solution.x.setColumn(column, rest.x.column(index))
                    solution.residuals[column] = rest.residuals[index]
                }
            }
        }
        for (index, column) in active.enumerated() {
            // Round-off of the orthogonalizations reaches held components: project them to exactly zero.
            x.setColumn(column, hessian.degreesOfFreedom.project(solution.x.column(index).map { $0 * norms[column] }))
            residuals[column] = solution.residuals[index]
        }
        return (x, residuals)
    }

    /// `auto` resolved for this minimum: lattice or exponential (none for a lone atom).
    public func settings(for hessian: Hessian) -> [String: String] {
        var result = settings
        if preconditioning == .auto {
            let resolved = hessian.minimum.count < 2 ? "none"
                : (try? LatticePreconditioner.sites(of: hessian).get()) != nil ? "lattice" : "exponential"
            result["preconditioner"] = "auto: \(resolved)"
        }
        return result
    }

    /// P⁻¹ as `preconditioning` asks, saying which was built and, when `auto` could not use the
    /// lattice one, why (nil: none).
    private func preconditioner(for hessian: Hessian, progress: (String) -> Void) throws -> (([Double]) -> [Double])? {
        // A lone atom has no neighbours to build P from: nothing to precondition.
        guard preconditioning != .none, hessian.minimum.count > 1 else { return nil }
        var notLattice = ""
        if preconditioning != .exponential {
            switch LatticePreconditioner.sites(of: hessian) {
            case .success(let sites):
                let lattice = try LatticePreconditioner(sites: sites, hessian: hessian)
                let species = Set(hessian.minimum.types).count
                progress("  sparse: lattice preconditioner (\(sites.kind.rawValue) \(sites.cells.map(String.init).joined(separator: "×")) cells, "
                         + "\(sites.vacantSites.count) vacant sites\(species > 1 ? ", \(species) species" : ""); force constants from atom "
                         + "\(lattice.probeAtom + 1), \(lattice.probeEvaluations) force evaluation\(lattice.probeEvaluations == 1 ? "" : "s"))")
                return lattice.apply
            case .failure(let why):
                guard preconditioning == .auto else { throw why }
                notLattice = "; not a crystal with point defects: \(why.reason)"
            }
        }
        let exponential = try ExponentialPreconditioner(minimum: hessian.minimum, degreesOfFreedom: hessian.degreesOfFreedom)
        progress("  sparse: exponential preconditioner (applied by \(exponential.inverse)\(notLattice))")
        return exponential.apply
    }

    /// Conjugate gradients column by column, with a progress line at least every ~10 s; finished
    /// columns are checkpointed (one folder per set of right-hand sides) when `checkpoint` is set.
    private func columnByColumn(_ b: Matrix, start: Matrix?, hessian: Hessian, preconditioner: (([Double]) -> [Double])?,
                                sharing: WorkSharing?, progress: (String) -> Void) throws -> (x: Matrix, residuals: [Double]) {
        let reference = hessian.minimum.unwrappedPositions
        // The right-hand sides' sketch: a resume must solve the same system. Two seeded random
        // projections of each (unit) column, to 6 decimals of absolute precision: any change
        // above ~1e-6 shows, while the round-off of a restored minimum does not.
        var generator = SplitMix64(seed: 10)
        let probes = (0..<2).map { _ in (0..<b.rows).map { _ in Double.random(in: -1...1, using: &generator) } }
        let scale = (0..<2).map { Double(b.rows).squareRoot() / norm(probes[$0]) }
        let sketch = (0..<b.columns).flatMap { j in
            let column = b.column(j)
            return (0..<2).map { String(format: "%.6f", scale[$0] * dot(probes[$0], column)) }
        }
        let settings = "sparse cg tolerance \(tolerance) preconditioner \(preconditioning.rawValue) columns \(b.columns)"
        let key = settings + " rhs " + sketch.joined(separator: " ")
        // On several partitions each solves (and checkpoints) its share of the columns, then they
        // add up their results.
        let store = checkpoint.map { url in
            Checkpoint(directory: url.appendingPathComponent("sparse-" + Files.fingerprint(settings.utf8) + (sharing.map { "-p\($0.index)" } ?? "")),
                       writes: sharing?.isPartitionRoot ?? hessian.system.isRoot)
        }
        var done: [Int: Checkpoint.Column] = [:]
        if let store {
            let (saved, discarded) = store.load(reference: reference, key: key)
            done = saved
            if let discarded { progress("  sparse (cg): checkpoint in \(store.directory.path) discarded: \(discarded)") }
            if !done.isEmpty { progress("  sparse (cg): resuming, \(done.count) of \(b.columns) columns already done") }
        }
        let clock = ProgressClock()
        var products = 0
        for j in 0..<b.columns where done[j] == nil && sharing?.takes(j) ?? true {
            let solution = try ConjugateGradient(tolerance: tolerance).solve(
                b.column(j), start: start?.column(j), preconditioner: preconditioner,
                iterationDone: { iteration, estimate in
                    guard clock.isDue() else { return }
                    let finished = done.count
                    let perColumn = Double(products + iteration) / (Double(finished) + 0.5)
                    let left = Double(clock.elapsed) / Double(max(products + iteration, 1)) * perColumn * Double(b.columns - finished)
                    progress(String(format: "  sparse (cg): column %d of %d (%d done), iteration %d, residual %.1e, %d products, %d s, about %.0f s left",
                                    j + 1, b.columns, finished, iteration, estimate, products + iteration, clock.elapsed, left))
                }, apply: { try hessian.apply($0) })
            products += solution.products
            done[j] = Checkpoint.Column(values: solution.x, residual: solution.relativeResidual, iterations: solution.products)
            try store?.save(done, reference: reference, key: key)
        }
        guard let sharing else {
            let x = Matrix(columns: (0..<b.columns).map { done[$0]!.values }, rows: b.rows)
            return (x, (0..<b.columns).map { done[$0]!.residual })
        }
        // Each column's values and residual from the partition that solved it (zeros elsewhere).
        var mine = Matrix(rows: b.rows + 1, columns: b.columns)
        for (j, column) in done where sharing.takes(j) { mine.setColumn(j, column.values + [column.residual]) }
        let all = try sharing.combine(mine)
        let x = Matrix(columns: (0..<b.columns).map { Array(all.column($0).dropLast()) }, rows: b.rows)
        return (x, (0..<b.columns).map { all[b.rows, $0] })
    }
}

extension Hessian {
    /// Takes the basis of a solve that carried `spectrumProbe`, for the curvature check.
    func keepProbedSpace(_ solution: KrylovSolver.Solution, preconditioner: (([Double]) -> [Double])?) {
        guard let probe = spectrumProbe else { return }
        spectrumProbe = nil
        probedSpace = ProbedSpace(basis: solution.basis, image: solution.image, probe: probe, preconditioner: preconditioner)
    }
}
