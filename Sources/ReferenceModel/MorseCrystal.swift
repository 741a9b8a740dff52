import Atomistics
import Foundation
import LinearAlgebra
import Potentials

/// A periodic crystal of atoms interacting by one Morse pair potential (`MorsePair`), in an
/// orthogonal box with minimum-image neighbours (the cutoff must stay below half the box). It is
/// a force provider and a parametrized energy at once, with every derivative analytic: the
/// engine's numerics can be checked against it without LAMMPS, and its derivatives checked
/// against finite differences of its own energy.
public final class MorseCrystal: ForceProvider, ParameterDerivatives {
    public var pair: MorsePair { didSet { evaluation = nil } }
    /// Atoms whose forces read zero (as under LAMMPS's `fix setforce 0 0 0`), by atom index.
    public var held: [Bool] { didSet { evaluation = nil } }
    public private(set) var box: Box
    public let types: [Int32]
    public let masses: [Double]
    private var positions: [Double]
    private var images: [Int32]
    /// The linear bias of the energy method, when installed.
    fileprivate var bias: Bias?
    private var evaluation: Evaluation?
    public private(set) var forceEvaluations = 0
    /// Steps of its own relaxations (FIRE, Newton), as LAMMPS counts minimizer iterations.
    public internal(set) var relaxationIterations = 0

    struct Evaluation {
        var energy: Double
        var forces: [Double]
        var virial: [[Double]]
    }

    public init(box: Box, positions: [Double], pair: MorsePair, held: [Bool]? = nil) {
        precondition(box.xy == 0 && box.xz == 0 && box.yz == 0, "the reference model's box is orthogonal")
        (self.box, self.positions, self.pair) = (box, positions, pair)
        images = [Int32](repeating: 0, count: positions.count)
        types = [Int32](repeating: 1, count: positions.count / 3)
        masses = [1]
        self.held = held ?? [Bool](repeating: false, count: positions.count / 3)
    }

    /// An fcc crystal of `cells`³ conventional cells, with the atoms at `vacancies` (indices of
    /// the perfect crystal) removed.
    public static func fcc(cells: Int = 2, latticeConstant: Double = 4.0, vacancies: [Int] = [0],
                           pair: MorsePair = MorsePair()) -> MorseCrystal {
        let basis = [[0.0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]]
        var positions: [Double] = []
        var index = 0
        for i in 0..<cells { for j in 0..<cells { for k in 0..<cells { for b in basis {
            defer { index += 1 }
            guard !vacancies.contains(index) else { continue }
            positions += [Double(i) + b[0], Double(j) + b[1], Double(k) + b[2]].map { $0 * latticeConstant }
        } } } }
        let length = Double(cells) * latticeConstant
        return MorseCrystal(box: Box(low: [0, 0, 0], high: [length, length, length]), positions: positions, pair: pair)
    }

    public var atomCount: Int { positions.count / 3 }
    private var lengths: [Double] { (0..<3).map { box.high[$0] - box.low[$0] } }

    /// Calls `body` for every pair i < j within the cutoff with d = x_j − x_i (minimum image), r = |d|.
    func forEachPair(_ body: (Int, Int, SIMD3<Double>, Double) -> Void) {
        let l = lengths
        precondition(pair.cutoff < l.min()! / 2, "the cutoff must be below half the box for minimum images")
        for i in 0..<atomCount {
            for j in (i + 1)..<atomCount {
                var d = SIMD3<Double>(), r2 = 0.0
                for a in 0..<3 {
                    let x = positions[3 * j + a] - positions[3 * i + a]
                    d[a] = x - l[a] * (x / l[a]).rounded()
                    r2 += d[a] * d[a]
                }
                let r = r2.squareRoot()
                guard r < pair.cutoff else { continue }
                body(i, j, d, r)
            }
        }
    }

    private func evaluated() -> Evaluation {
        if let evaluation { return evaluation }
        var energy = 0.0
        var forces = [Double](repeating: 0, count: positions.count)
        var virial = [[Double]](repeating: [0, 0, 0], count: 3)
        forEachPair { i, j, d, r in
            let t = pair.radial(r)
            energy += t.value
            for a in 0..<3 {
                forces[3 * i + a] += t.dr * d[a] / r
                forces[3 * j + a] -= t.dr * d[a] / r
                for b in 0..<3 { virial[a][b] -= t.dr * d[a] * d[b] / r }
            }
        }
        if let bias {
            let unwrapped = structureNow().unwrappedPositions
            energy += zip(bias.gradient, zip(unwrapped, bias.reference)).reduce(0) { $0 + $1.0 * ($1.1.0 - $1.1.1) }
            for k in forces.indices { forces[k] -= bias.gradient[k] }
        }
        for (atom, isHeld) in held.enumerated() where isHeld { for a in 0..<3 { forces[3 * atom + a] = 0 } }
        forceEvaluations += 1
        evaluation = Evaluation(energy: energy, forces: forces, virial: virial)
        return evaluation!
    }

    private func structureNow() -> Structure {
        Structure(box: box, positions: positions, images: images, types: types, masses: masses)
    }

    // MARK: - ForceProvider

    public func structure() throws -> Structure { structureNow() }

    public func restore(_ structure: Structure) throws {
        (box, positions, images) = (structure.box, structure.positions, structure.images)
        evaluation = nil
    }

    public func evaluate() throws { _ = evaluated() }
    public func energy() throws -> Double { evaluated().energy }
    public func forces() throws -> [Double] { evaluated().forces }

    public func forces(at positions: [Double]) throws -> [Double] {
        self.positions = positions
        evaluation = nil
        return evaluated().forces
    }

    public func virial() throws -> [[Double]] { evaluated().virial }

    /// Normal strains only: the model's box stays orthogonal.
    public func deform(_ reference: Box, by e: [Double]) throws {
        guard e[3...].allSatisfy({ $0 == 0 }) else {
            throw InputError.unsupportedSystem("the reference model applies normal strains only; its box stays orthogonal")
        }
        var strained = reference
        for a in 0..<3 {
            let center = (reference.low[a] + reference.high[a]) / 2, half = (reference.high[a] - reference.low[a]) / 2
            (strained.low[a], strained.high[a]) = (center - half * (1 + e[a]), center + half * (1 + e[a]))
        }
        let old = box
        for k in positions.indices {
            let a = k % 3
            let scaled = (positions[k] - old.low[a]) / (old.high[a] - old.low[a])
            positions[k] = strained.low[a] + scaled * (strained.high[a] - strained.low[a])
        }
        box = strained
        evaluation = nil
    }

    public func linearBias(about reference: [Double]) throws -> any LinearBias {
        let installed = Bias(crystal: self, reference: reference)
        bias = installed
        evaluation = nil
        return installed
    }

    public var allForceEvaluations: Int { forceEvaluations }
    public var isRoot: Bool { true }
    public var workSharing: WorkSharing? { nil }

    /// Its energies are in eV and lengths in Å (LAMMPS's `units metal`): eV/Å³ in GPa.
    public func gigapascalsPerEnergyDensity() throws -> Double { 160.21766208 }

    /// Moves the positions back into the box, counting images, as LAMMPS's re-neighbouring does.
    func wrap() {
        let l = lengths
        for k in positions.indices {
            let a = k % 3
            let shift = ((positions[k] - box.low[a]) / l[a]).rounded(.down)
            positions[k] -= shift * l[a]
            images[k] += Int32(shift)
        }
    }

    /// Moves the atoms without re-evaluating (the minimizer's steps).
    func setPositions(_ new: [Double]) {
        positions = new
        evaluation = nil
    }

    /// Moves the atoms and sets their image counts (a minimizer's step, as LAMMPS is given it).
    func setPositions(_ new: [Double], images newImages: [Int32]) {
        (positions, images) = (new, newImages)
        evaluation = nil
    }
    var currentPositions: [Double] { positions }

    // MARK: - The analytic Hessian (independent truth for the engine's force differences)

    /// ∇²U, 3N × 3N, atom-index order; rows and columns of held atoms are zero.
    public func hessianMatrix() -> Matrix {
        var h = Matrix(rows: positions.count, columns: positions.count)
        forEachPair { i, j, d, r in
            let t = pair.radial(r)
            for a in 0..<3 {
                for b in 0..<3 {
                    let uu = d[a] * d[b] / (r * r)
                    let k = t.drr * uu + t.dr / r * ((a == b ? 1 : 0) - uu)
                    h[3 * i + a, 3 * i + b] += k
                    h[3 * j + a, 3 * j + b] += k
                    h[3 * i + a, 3 * j + b] -= k
                    h[3 * j + a, 3 * i + b] -= k
                }
            }
        }
        for (atom, isHeld) in held.enumerated() where isHeld {
            for a in 0..<3 {
                for k in 0..<positions.count { h[3 * atom + a, k] = 0; h[k, 3 * atom + a] = 0 }
            }
        }
        return h
    }

    // MARK: - ParameterDerivatives

    public var forceProvider: any ForceProvider { self }
    public var parameterNames: [String] { MorsePair.parameterNames }
    public var theta: [Double] { pair.theta }
    public func setTheta(_ theta: [Double]) throws { pair.theta = theta }

    public func energyGradient() throws -> [Double] {
        var g = [0.0, 0, 0]
        forEachPair { _, _, _, r in
            let t = pair.terms(r)
            for l in 0..<3 { g[l] += t.dTheta[l] }
        }
        return g
    }

    /// Held components are zero, as the forces LAMMPS reports under `fix setforce` are.
    public func mixedHessian() throws -> Matrix {
        var m = Matrix(rows: positions.count, columns: 3)
        forEachPair { i, j, d, r in
            let t = pair.terms(r)
            for l in 0..<3 {
                for a in 0..<3 {
                    m[3 * i + a, l] -= t.drTheta[l] * d[a] / r
                    m[3 * j + a, l] += t.drTheta[l] * d[a] / r
                }
            }
        }
        for (atom, isHeld) in held.enumerated() where isHeld { for a in 0..<3 { for l in 0..<3 { m[3 * atom + a, l] = 0 } } }
        return m
    }

    public func parameterHessian() throws -> Matrix {
        var m = Matrix(rows: 3, columns: 3)
        forEachPair { _, _, _, r in
            let t = pair.terms(r)
            for l in 0..<3 { for k in 0..<3 { m[l, k] += t.dThetaTheta[3 * l + k] } }
        }
        return m
    }

    /// ∂²U/∂Θ∂e_g = Σ_pairs ∂²f/∂r∂Θ · dᵀ G_g d / r, with G_g the displacement gradient of e_g.
    public func strainMixedDerivative(strains: [[Double]]) throws -> Matrix {
        let gradients = strains.map(Voigt.displacementGradient)
        var m = Matrix(rows: 3, columns: strains.count)
        forEachPair { _, _, d, r in
            let t = pair.terms(r)
            for (g, gradient) in gradients.enumerated() {
                var stretch = 0.0
                for a in 0..<3 { for b in 0..<3 { stretch += d[a] * gradient[a][b] * d[b] } }
                for l in 0..<3 { m[l, g] += t.drTheta[l] * stretch / r }
            }
        }
        return m
    }

    public var summary: PotentialDescription {
        PotentialDescription(kind: "Morse (reference model)", files: [], parameterNames: parameterNames,
                             settings: ["inner": "\(pair.inner)", "cutoff": "\(pair.cutoff)"])
    }
}

/// The energy method's bias b·(X − X0) inside the reference model.
final class Bias: LinearBias {
    weak var crystal: MorseCrystal?
    let reference: [Double]
    var gradient: [Double]

    init(crystal: MorseCrystal, reference: [Double]) {
        (self.crystal, self.reference) = (crystal, reference)
        gradient = [Double](repeating: 0, count: reference.count)
    }

    func set(_ b: [Double]) throws {
        gradient = b
        crystal?.biasChanged()
    }

    func remove() throws {
        crystal?.removeBias(self)
    }
}

extension MorseCrystal {
    fileprivate func biasChanged() { evaluation = nil }
    fileprivate func removeBias(_ removed: Bias) {
        if bias === removed { bias = nil }
        evaluation = nil
    }
}
