import Atomistics
import Foundation
import ImplicitDerivative
import LAMMPSLibrary
import LinearAlgebra
import Potentials

/// What a system's minimum should become.
public enum FitTarget: Sendable {
    /// Positions, 3 per atom in atom-ID order: the term ½‖P(X* − X_target)‖².
    case structure([Double])
    /// Elastic constants (6×6 Voigt, GPa; `mask` marks the components that count): the term
    /// ½‖C − C_target‖² in Mandel notation (shear rows and columns weighted by √2), with C the
    /// relaxed-ion tensor of the system's cell relaxed anisotropically.
    case elastic(tensor: [[Double]], mask: [[Bool]])
    /// No target of its own: the system takes part through energy targets only.
    case none

    /// C11, C12, C44 (or any Cij, i ≤ j): a cubic tensor when exactly those three are given, else
    /// the given components alone.
    public static func elastic(_ components: [String: Double]) throws -> FitTarget {
        var tensor = [[Double]](repeating: [Double](repeating: 0, count: 6), count: 6)
        var mask = [[Bool]](repeating: [Bool](repeating: false, count: 6), count: 6)
        func set(_ i: Int, _ j: Int, _ value: Double) {
            (tensor[i][j], tensor[j][i], mask[i][j], mask[j][i]) = (value, value, true, true)
        }
        if Set(components.keys) == ["C11", "C12", "C44"] {
            guard components.values.allSatisfy(\.isFinite) else { throw InputError.invalid("elastic targets must be finite numbers") }
            let (c11, c12, c44) = (components["C11"]!, components["C12"]!, components["C44"]!)
            for i in 0..<6 {
                for j in 0..<6 { set(i, j, i < 3 && j < 3 ? (i == j ? c11 : c12) : (i == j ? c44 : 0)) }
            }
        } else {
            guard !components.isEmpty else { throw InputError.invalid("an elastic target needs at least one Cij") }
            for (key, value) in components {
                guard value.isFinite else { throw InputError.invalid("elastic target \(key) is \(value), not a finite number") }
                let digits = key.dropFirst().compactMap { $0.wholeNumberValue }
                guard key.first == "C", key.count == 3, digits.count == 2, (1...6).contains(digits[0]),
                      (digits[0]...6).contains(digits[1]) else {
                    throw InputError.invalid("elastic target '\(key)' is not Cij with 1 ≤ i ≤ j ≤ 6 (Voigt)")
                }
                set(digits[0] - 1, digits[1] - 1, value)
            }
        }
        return .elastic(tensor: tensor, mask: mask)
    }
}

/// One system of a campaign: its parametrized energy (all systems share Θ), what its minimum
/// should become, and its weight in the loss.
public struct FitSystem {
    public var name: String
    public var energy: any ParametrizedEnergy
    public var target: FitTarget
    public var weight: Double
    /// Per-atom weights w_i of a structure target's ½ Σ_i w_i ‖r_i‖² (atom-ID order; nil: all 1).
    public var atomWeights: [Double]?

    /// How the cell relaxes (elastic targets: always aniso); volumes change only if it does.
    public var cellRelaxation: CellRelaxation

    public init(name: String, energy: any ParametrizedEnergy, target: FitTarget, weight: Double = 1,
                atomWeights: [Double]? = nil, cell: CellRelaxation = .fixed) {
        self.cellRelaxation = cell
        self.name = name
        self.energy = energy
        self.target = target
        self.weight = weight
        self.atomWeights = atomWeights
    }

    /// W v: each atom's three components times its weight.
    func weighted(_ v: [Double]) -> [Double] {
        guard let atomWeights else { return v }
        return v.enumerated().map { $0.element * atomWeights[$0.offset / 3] }
    }

    var hasNoTarget: Bool {
        if case .none = target { return true }
        return false
    }

    /// Structure targets relax at fixed cell; elastic ones with their cell (anisotropically);
    /// systems of property targets as chosen.
    var cell: CellRelaxation {
        if case .elastic = target { return .aniso }
        return cellRelaxation
    }
}

/// A linear combination of the relaxed energies and volumes of named systems,
/// P = Σ_s c_s E*_s + Σ_s d_s V*_s, that should equal `value` (e.g. a vacancy formation energy
/// E_vac − (N−1)/N E_bulk, or a formation volume): the term ½ w (P − value)². Its gradient is
/// Σ c_s ∇Θ U_s at the minima (∇X U = 0 there, no position derivative needed) plus
/// Σ d_s V_s tr(∇Θ ε_s) from the strain derivative of each cell-relaxed system.
public struct PropertyTarget: Sendable {
    public var name: String
    /// c_s: coefficients of the systems' energies (eV).
    public var coefficients: [String: Double]
    /// d_s: coefficients of the systems' cell volumes (Å³); the systems must relax their cells.
    public var volumeCoefficients: [String: Double]
    public var value: Double
    public var weight: Double

    public init(name: String, coefficients: [String: Double], volumeCoefficients: [String: Double] = [:],
                value: Double, weight: Double = 1) {
        self.name = name
        self.coefficients = coefficients
        self.volumeCoefficients = volumeCoefficients
        self.value = value
        self.weight = weight
    }

    /// Every system the property depends on.
    var systems: Set<String> { Set(coefficients.keys).union(volumeCoefficients.keys) }
}

/// How the implicit loss is minimized (paper Algorithm 1, supplement eq. 41–44).
public struct FitSettings: Codable, Sendable {
    public enum Gradient: String, Codable, Sendable {
        /// One adjoint solve H v = ∂L/∂X, then ∇Θ L = −(∇²ΘX U)ᵀ v: a fixed number of solves per
        /// iteration whatever N_D.
        case adjoint
        /// All N_D columns of ∇Θ X*, then eq. 10 (the paper's way).
        case full
    }
    public var iterations = 20
    /// nil: the adaptive step of eq. 43 (the minimum of the predicted loss along −∇Θ L).
    public var step: Double?
    /// Re-relax every system with LAMMPS after each step (else positions follow eq. 44).
    public var relaxEach = false
    /// With re-relaxation: a step whose true loss is above the current one is halved and relaxed
    /// again (at most `maxBacktracks` times), so that the true loss never rises. Off: the paper's
    /// Algorithm 1, which takes every step.
    public var backtrack = false
    public static let maxBacktracks = 4
    /// Stop when the largest atomic displacement of a step is below this (Å).
    public var tolerance = 1e-4
    /// Stop when the loss (true when relaxed, else predicted) is at most this.
    public var lossTolerance = 0.0
    public var gradient = Gradient.adjoint
    /// μ of the regularizer ½μ‖Θ − Θ0‖².
    public var regularization = 0.0
    /// Largest atomic displacement (Å) and relative parameter change a step may make (beyond, the
    /// linear prediction of eq. 44 is not to be trusted and the step is shortened).
    public static let maxAtomStep = 0.2
    public static let maxParameterStep = 0.2
    /// Force tolerance of every relaxation (eV/Å).
    public var ftol = 1e-10

    public init() {}
}

/// One row of `history.csv`.
public struct FitRecord: Codable, Sendable, Equatable {
    public var iteration: Int
    public var lossPredicted: Double
    /// The loss of true LAMMPS relaxations with this iteration's Θ (relax_each, and iteration 0).
    public var lossRelaxed: Double?
    public var step: Double
    public var maxDisplacement: Double
    public var forceEvaluations: Int
    public var seconds: Double
    public var theta: [Double]
    /// Property targets' values after the step (e.g. `si_C11` in GPa), for the history's columns.
    public var properties: [String: Double] = [:]
    /// Each system's energy (eV) at this iteration's structure and Θ (relaxed, or predicted by eq. 44).
    public var energies: [String: Double]?
    /// How often the step was halved because the true loss rose (backtrack).
    public var backtracks: Int?
    /// Set when the true loss landed far above the prediction and above the previous loss: the
    /// step left the range where eq. 44 holds (the structure may have rearranged).
    public var warning: String?

    /// The true loss over the predicted one (1: the linear prediction held), when both exist.
    public var trueOverPredicted: Double? {
        guard let lossRelaxed, lossPredicted > 0 else { return nil }
        return lossRelaxed / lossPredicted
    }
    /// Beyond this ratio (and a true loss that rose) a step is reported as a runaway.
    public static let runawayRatio = 3.0
}

/// Everything needed to continue a campaign after its last completed iteration.
public struct FitState: Codable, Sendable {
    /// Identifies the campaign: a resume with another configuration is refused.
    public var key: String
    public var thetaInitial: [Double]
    public var theta: [Double]
    /// Per system (by name), the current structure: relaxed, or predicted by eq. 44.
    public var structures: [String: Structure]
    /// Per elastic-target system, its measured relaxed-ion tensor (Voigt, GPa).
    public var elastic: [String: [[Double]]] = [:]
    /// Per system, its energy at its current structure and Θ (eV).
    public var energies: [String: Double] = [:]
    public var history: [FitRecord]
    public var done = false
}

/// The implicit loss L(Θ) = Σ_s w_s ½‖P(X*_s(Θ) − X_s,target)‖² + ½μ‖Θ − Θ0‖², displacements by
/// minimum image and P removing the mean displacement of each system (a rigid shift is not a
/// structural difference), minimized by Algorithm 1.
public final class FitCampaign {
    public let systems: [FitSystem]
    public let settings: FitSettings
    public let method: any DerivativeMethod
    /// Linear constraints: A Θ stays at A Θ0 (rows of A, N_D wide); steps are projected onto the
    /// null space of A.
    public let constraints: Matrix?
    /// (A Aᵀ)⁻¹ A, for the projection I − Aᵀ (A Aᵀ)⁻¹ A.
    private let constraintSolve: Matrix?

    public let propertyTargets: [PropertyTarget]
    /// Per system, the LAMMPS commands of its relaxations (for the replay script).
    public private(set) var relaxationCommands: [String: [String]] = [:]

    public init(systems: [FitSystem], settings: FitSettings, method: any DerivativeMethod,
                constraints: Matrix? = nil, propertyTargets: [PropertyTarget] = []) throws {
        guard let first = systems.first else { throw InputError.invalid("a campaign needs at least one system") }
        for system in systems.dropFirst() where system.energy.parameterNames != first.energy.parameterNames {
            throw InputError.invalid("""
                system \(system.name) varies other parameters than \(first.name) \
                (\(system.energy.parameterCount) against \(first.energy.parameterCount)): every system must share Θ
                """)
        }
        for system in systems.dropFirst() where system.energy.theta != first.energy.theta {
            throw InputError.invalid("""
                system \(system.name) starts from other parameter values than \(first.name): every system must start \
                from the same Θ (the same potential files or variable values)
                """)
        }
        for system in systems {
            if system.atomWeights != nil, case .structure = system.target {} else if system.atomWeights != nil {
                throw InputError.invalid("system \(system.name): atom weights apply to structure targets only")
            }
            if let weights = system.atomWeights, weights.count != system.energy.atomCount || weights.contains(where: { !($0 >= 0) }) {
                throw InputError.invalid("system \(system.name): \(weights.count) atom weights for \(system.energy.atomCount) atoms, or a negative one")
            }
            if case .structure(let target) = system.target, target.count != 3 * system.energy.atomCount {
                throw InputError.invalid("""
                    the target of system \(system.name) has \(target.count / 3) atoms, the system \(system.energy.atomCount)
                    """)
            }
        }
        let names = Set(systems.map(\.name))
        for target in propertyTargets {
            if let unknown = target.systems.sorted().first(where: { !names.contains($0) }) {
                throw InputError.invalid("property target \(target.name) names system '\(unknown)', which the campaign does not have")
            }
            for name in target.volumeCoefficients.keys.sorted() where systems.first(where: { $0.name == name })!.cell == .fixed {
                throw InputError.invalid("""
                    property target \(target.name) uses the volume of system \(name), whose cell is fixed (its volume cannot \
                    change): relax its cell (cell: iso or aniso)
                    """)
            }
        }
        for system in systems where system.cell != .fixed {
            if case .structure = system.target {
                throw InputError.invalid("system \(system.name): a structure target needs a fixed cell (the target's cell)")
            }
        }
        for system in systems where system.hasNoTarget && !propertyTargets.contains(where: { $0.systems.contains(system.name) }) {
            throw InputError.invalid("system \(system.name) has no target and no energy target uses it")
        }
        self.systems = systems
        self.settings = settings
        self.method = method
        self.propertyTargets = propertyTargets
        self.constraints = constraints
        if let a = constraints {
            guard a.columns == first.energy.parameterCount else {
                throw InputError.invalid("""
                    the constraint matrix has \(a.columns) columns; Θ has \(first.energy.parameterCount) parameters
                    """)
            }
            guard a.rows < a.columns else {
                throw InputError.invalid("""
                    the \(a.rows) constraint rows hold all \(a.columns) parameters of Θ fixed: no direction is left for \
                    the fit to move in; remove rows or vary more parameters
                    """)
            }
            let singular = try LAPACK.leftSingularVectors(a).singularValues
            guard let largest = singular.max(), (singular.min() ?? 0) > 1e-10 * largest else {
                throw InputError.invalid("""
                    the \(a.rows) constraint rows are (nearly) linearly dependent (singular values \(singular)); \
                    remove the redundant rows
                    """)
            }
            var gram = a.multiplied(by: a, transposingOther: true)
            gram.symmetrize()
            constraintSolve = try LAPACK.solveSymmetric(gram, a)
        } else {
            constraintSolve = nil
        }
    }

    /// v − Aᵀ (A Aᵀ)⁻¹ A v: the part of a parameter change that keeps A Θ.
    func projectOntoConstraints(_ v: [Double]) -> [Double] {
        guard let a = constraints, let solve = constraintSolve else { return v }
        let y = solve.multiplied(by: Matrix(rows: v.count, columns: 1, storage: v))
        let correction = a.multiplied(by: y, transposingSelf: true).storage
        return zip(v, correction).map { $0 - $1 }
    }

    public var parameterNames: [String] { systems[0].energy.parameterNames }

    /// P(X − X_target): minimum-image displacements with their mean removed.
    func residual(_ structure: Structure, target: [Double]) -> [Double] {
        let d = minimumImage(zip(structure.unwrappedPositions, target).map { $0 - $1 }, in: structure.box)
        return removingTranslations(d, axes: [0, 1, 2])
    }

    /// The target's components of a tensor in Mandel notation (`ElasticConstants.mandel`), flattened
    /// (others zero): ½‖components(C) − components(C_target)‖² is an elastic term of the loss.
    func mandelComponents(_ c: [[Double]], _ mask: [[Bool]]) -> [Double] {
        zip(ElasticConstants.mandel(c).joined(), mask.joined()).map { $1 ? $0 : 0 }
    }

    func elasticDifference(_ c: [[Double]], _ target: [[Double]], _ mask: [[Bool]]) -> [Double] {
        zip(mandelComponents(c, mask), mandelComponents(target, mask)).map { $0 - $1 }
    }

    func loss(_ state: FitState, theta: [Double]? = nil) -> Double {
        let theta = theta ?? state.theta
        var total = 0.5 * settings.regularization * zip(theta, state.thetaInitial).reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) }
        for system in systems {
            switch system.target {
            case .structure(let target):
                let r = residual(state.structures[system.name]!, target: target)
                total += system.weight * 0.5 * dot(r, system.weighted(r))
            case .elastic(let target, let mask):
                let e = elasticDifference(state.elastic[system.name]!, target, mask)
                total += system.weight * 0.5 * dot(e, e)
            case .none:
                break
            }
        }
        for target in propertyTargets {
            let u = combination(target, state) - target.value
            total += target.weight * 0.5 * u * u
        }
        return total
    }

    /// Σ_s c_s E_s + Σ_s d_s V_s of a property target.
    public func combination(_ target: PropertyTarget, _ state: FitState) -> Double {
        target.coefficients.reduce(0) { $0 + $1.value * (state.energies[$1.key] ?? .nan) }
            + target.volumeCoefficients.reduce(0) { $0 + $1.value * (state.structures[$1.key]?.box.volume ?? .nan) }
    }

    /// Relaxes every system with `state.theta` from `state`'s structures (or, without them, from
    /// its current state), and measures the elastic constants of the elastic-target systems.
    func relaxAll(_ state: FitState, fromCurrent: Bool = false, only chosen: ((FitSystem) -> Bool)? = nil,
                  progress: (String) -> Void) throws -> FitState {
        var result = state
        for system in systems where chosen?(system) ?? true {
            let simulation = system.energy.simulation
            try system.energy.setTheta(state.theta)
            if !fromCurrent, let start = state.structures[system.name] { try simulation.restore(start) }
            let (relaxation, commands) = try simulation.relax(RelaxationSettings(cell: system.cell, ftol: settings.ftol),
                                                              label: "fit \(system.name)", progress: progress)
            relaxationCommands[system.name] = commands
            if let shortfall = relaxation.shortfall {
                throw DerivativeError.notAMinimum("relaxing system \(system.name) during the fit: \(shortfall)")
            }
            result.structures[system.name] = try simulation.structure()
            result.energies[system.name] = relaxation.energy
            if case .elastic = system.target {
                let hessian = try Hessian(system: simulation)
                result.elastic[system.name] = try ElasticConstants.measure(system.energy, hessian: hessian, method: method).relaxedIon
            }
        }
        return result
    }

    /// The history columns of the property targets, for a state.
    func properties(_ state: FitState) -> [String: Double] {
        var values: [String: Double] = [:]
        for target in propertyTargets { values[target.name] = combination(target, state) }
        for system in systems {
            guard let c = state.elastic[system.name] else { continue }
            for column in elasticColumns(system) { values[column.name] = c[column.i][column.j] }
        }
        return values
    }

    /// Each property column of the history with the value it aims at and its unit ("" when the
    /// combination mixes energies and volumes): the goals of the loss figure.
    public var propertyGoals: [(name: String, goal: Double, unit: String)] {
        var goals = propertyTargets.map { target in
            (name: target.name, goal: target.value,
             unit: target.volumeCoefficients.isEmpty ? "eV" : target.coefficients.isEmpty ? "Å³" : "")
        }
        for system in systems {
            guard case .elastic(let tensor, _) = system.target else { continue }
            goals += elasticColumns(system).map { (name: $0.name, goal: tensor[$0.i][$0.j], unit: "GPa") }
        }
        return goals
    }

    /// The components of an elastic target that the history reports: a cubic target (every
    /// component set) by its three constants, another by the components it sets.
    private func elasticColumns(_ system: FitSystem) -> [(name: String, i: Int, j: Int)] {
        guard case .elastic(_, let mask) = system.target else { return [] }
        let cubic = mask.joined().allSatisfy { $0 }
        var columns: [(name: String, i: Int, j: Int)] = []
        for i in 0..<6 {
            for j in i..<6 where cubic ? [(0, 0), (0, 1), (3, 3)].contains(where: { $0 == (i, j) }) : mask[i][j] {
                columns.append((name: "\(system.name)_C\(i + 1)\(j + 1)", i: i, j: j))
            }
        }
        return columns
    }

    /// The starting state: every system relaxed with its own Θ (iteration 0 of the history).
    public func initialState(key: String, progress: (String) -> Void = { _ in }) throws -> FitState {
        let theta = systems[0].energy.theta
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
                                    theta: theta, properties: properties(state), energies: state.energies)]
        result.done = settings.iterations == 0 || l <= settings.lossTolerance
        return result
    }

    var evaluationCount: Int {
        systems.reduce(0) { $0 + $1.energy.simulation.forceEvaluations + $1.energy.simulation.relaxationIterations }
    }

    /// ∇Θ L at `state` (adjoint or full, as `settings.gradient` says).
    public func lossGradient(_ state: FitState, progress: (String) -> Void = { _ in }) throws -> [Double] {
        try gradient(state, progress: progress).g
    }

    /// The true loss of `theta`: every system relaxed with it from `state`'s structures.
    public func trueLoss(theta: [Double], from state: FitState) throws -> Double {
        var shifted = state
        shifted.theta = theta
        return loss(try relaxAll(shifted, progress: { _ in }))
    }

    /// What one iteration needs: ∇Θ L, per structure system the position change per unit step
    /// ΔX⁽⁰⁾ = −(∇Θ X*)·∇Θ L, and per elastic system the tensor change per unit step −(∇Θ C)·∇Θ L.
    struct Direction {
        var g: [Double]
        var dx: [String: [Double]] = [:]
        var dc: [String: [[Double]]] = [:]
        /// Per system in a property target, ∇Θ U at its structure.
        var energyGradients: [String: [Double]] = [:]
        /// Per system whose volume is in a property target, ∇Θ V (cell relaxed, h+ih).
        var volumeGradients: [String: [Double]] = [:]
    }

    func gradient(_ state: FitState, progress: (String) -> Void) throws -> Direction {
        var g = zip(state.theta, state.thetaInitial).map { settings.regularization * ($0 - $1) }
        var hessians: [String: Hessian] = [:]
        var derivatives: [String: Matrix] = [:]
        var elasticDerivatives: [String: [[[Double]]]] = [:]
        for system in systems {
            let energy = system.energy
            try energy.setTheta(state.theta)
            try energy.simulation.restore(state.structures[system.name]!)
            try energy.simulation.evaluate()
            switch system.target {
            case .elastic(let target, let mask):
                // ∇Θ C by central differences of C in Θ (re-relaxed cells): ∇Θ ½‖E‖² = Σ E_ij M_ij ∇Θ C_ij.
                let dC = try ElasticParameterDerivative(cell: .aniso, ftol: settings.ftol)
                    .compute(energy, reference: state.structures[system.name]!, method: method, progress: progress).derivative
                elasticDerivatives[system.name] = dC
                let e = elasticDifference(state.elastic[system.name]!, target, mask)
                for l in g.indices {
                    g[l] += system.weight * dot(e, mandelComponents(dC[l], mask))
                }
            case .none:
                // Only moved along (eq. 44) so that it stays near its minimum.
                let hessian = try Hessian(system: energy.simulation)
                hessians[system.name] = hessian
            case .structure(let target):
                let hessian = try Hessian(system: energy.simulation)
                hessians[system.name] = hessian
                // ∂L/∂X = P W r (P removes the mean displacement).
                let r = removingTranslations(system.weighted(residual(state.structures[system.name]!, target: target)),
                                             axes: [0, 1, 2])
                switch settings.gradient {
                case .adjoint:
                    // ∇Θ L = (∇Θ X*)ᵀ r = −(∇²ΘX U)ᵀ H⁻¹ r: one solve, one transposed product.
                    let v = try solve(hessian, r, progress: progress)
                    try hessian.restoreMinimum()
                    let product = try energy.mixedHessianTransposedProduct(v)
                    for l in g.indices { g[l] -= system.weight * product[l] }
                case .full:
                    let d = try ImplicitDifferentiation.positionDerivative(
                        energy, hessian: hessian, mixedHessian: try energy.mixedHessian(), method: method,
                        checks: DerivativeChecks(), progress: progress).matrix
                    derivatives[system.name] = d
                    let product = d.multiplied(by: Matrix(rows: r.count, columns: 1, storage: r), transposingSelf: true).storage
                    for l in g.indices { g[l] += system.weight * product[l] }
                }
            }
        }
        var energyGradients: [String: [Double]] = [:]
        var volumeGradients: [String: [Double]] = [:]
        for system in systems where propertyTargets.contains(where: { $0.systems.contains(system.name) }) {
            try system.energy.setTheta(state.theta)
            try system.energy.simulation.restore(state.structures[system.name]!)
            energyGradients[system.name] = try system.energy.energyGradient()
            if propertyTargets.contains(where: { $0.volumeCoefficients[system.name] != nil }) {
                volumeGradients[system.name] = try volumeGradient(system, progress: progress)
            }
        }
        for target in propertyTargets {
            let u = combination(target, state) - target.value
            for (name, c) in target.coefficients {
                for l in g.indices { g[l] += target.weight * u * c * energyGradients[name]![l] }
            }
            for (name, d) in target.volumeCoefficients {
                for l in g.indices { g[l] += target.weight * u * d * volumeGradients[name]![l] }
            }
        }
        g = projectOntoConstraints(g)
        var direction = Direction(g: g)
        direction.energyGradients = energyGradients
        direction.volumeGradients = volumeGradients
        for system in systems {
            if let dC = elasticDerivatives[system.name] {
                direction.dc[system.name] = (0..<6).map { i in (0..<6).map { j in
                    -g.indices.reduce(0) { $0 + dC[$1][i][j] * g[$1] }
                } }
            } else if let d = derivatives[system.name] {
                direction.dx[system.name] = d.multiplied(by: Matrix(rows: g.count, columns: 1, storage: g)).storage.map { -$0 }
            } else if let hessian = hessians[system.name] {
                // −(∇Θ X*)·g = H⁻¹ (∇²ΘX U) g: one product, one forward solve.
                try hessian.restoreMinimum()
                direction.dx[system.name] = try solve(hessian, try system.energy.mixedHessianProduct(g), progress: progress)
            }
        }
        return direction
    }

    /// ∇Θ V of a cell-relaxed system at its current minimum: V Σ_g tr(e_g) ∇Θ ε_g (h+ih level).
    private func volumeGradient(_ system: FitSystem, progress: (String) -> Void) throws -> [Double] {
        let derivatives = try MinimumDerivatives.compute(system.energy, cell: system.cell, method: method, progress: progress)
        guard let strain = derivatives.strain else { return [Double](repeating: 0, count: system.energy.parameterCount) }
        let volume = derivatives.volume
        return (0..<system.energy.parameterCount).map { l in
            strain.generators.enumerated().reduce(0) { total, generator in
                total + volume * (generator.element[0] + generator.element[1] + generator.element[2]) * strain.full[generator.offset, l]
            }
        }
    }

    private func solve(_ hessian: Hessian, _ b: [Double], progress: (String) -> Void) throws -> [Double] {
        let solution = try ImplicitDifferentiation.solve(hessian, Matrix(rows: b.count, columns: 1, storage: b),
                                                         method: method, progress: progress)
        if let residual = solution.relativeResiduals.first, !(residual <= 1e-3) {
            throw DerivativeError.inaccurate("a linear solve of the fit reached a relative residual of \(residual). \(method.advice)")
        }
        return solution.x.column(0)
    }

    /// Each system's LAMMPS in the state its checkpointed structure alone determines, whatever the
    /// previous iteration left (a triclinic box after elastic strains, the timestep): an iteration
    /// of a resumed campaign then repeats the uninterrupted one bit for bit.
    private func resetSystems(to state: FitState) throws {
        for system in systems {
            if let structure = state.structures[system.name] { try system.energy.simulation.reset(to: structure) }
        }
    }

    /// One iteration of Algorithm 1 from `state`.
    public func step(_ state: FitState, progress: (String) -> Void = { _ in }) throws -> FitState {
        try resetSystems(to: state)
        let start = Date()
        let before = evaluationCount
        let current = loss(state)
        let direction = try gradient(state, progress: progress)
        let g = direction.g
        // Predicted loss along Θ − h g (eq. 42): L + h A + ½ h² B.
        var a = -settings.regularization * zip(g, zip(state.theta, state.thetaInitial)).reduce(0) { $0 + $1.0 * ($1.1.0 - $1.1.1) }
        var b = settings.regularization * dot(g, g)
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
            let change = -target.coefficients.reduce(0) { total, term in
                total + term.value * dot(direction.energyGradients[term.key]!, g)
            } - target.volumeCoefficients.reduce(0) { total, term in
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
                try system.energy.simulation.restore(next.structures[system.name]!)
                try system.energy.simulation.evaluate()
                next.energies[system.name] = try system.energy.simulation.energy()
            }
        }
        next.history.append(FitRecord(iteration: state.history.count, lossPredicted: predicted, lossRelaxed: relaxedLoss,
                                      step: h, maxDisplacement: largest, forceEvaluations: evaluationCount - before,
                                      seconds: Date().timeIntervalSince(start), theta: next.theta, properties: properties(next),
                                      energies: next.energies, backtracks: settings.backtrack ? backtracks : nil,
                                      warning: warning))
        let newLoss = relaxedLoss ?? predicted
        let reachedLoss = newLoss <= settings.lossTolerance
        // Structure targets stop when no atom moves, property targets when the loss stops changing;
        // a campaign with both goes on while either still changes.
        let hasProperties = systems.contains { $0.cell != .fixed } || !propertyTargets.isEmpty
        let moved = (!direction.dx.isEmpty && largest >= settings.tolerance)
            || (hasProperties && abs(current - newLoss) > 1e-10 * abs(current))
        // history.count − 1 steps are done (row 0 is the start).
        next.done = !moved || reachedLoss || next.history.count - 1 >= settings.iterations
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
                              energies: relaxed.energies)
        let candidates = state.history.filter { $0.lossRelaxed != nil } + [final]
        let best = candidates.min { $0.lossRelaxed! < $1.lossRelaxed! }!
        return (final, best, relaxed)
    }
}
