import Atomistics
import Foundation
import ImplicitDerivative
import LinearAlgebra
import Potentials

/// An ensemble of parameter vectors (a posterior, a committee of fits) and the scaled family of
/// eq. 13: Θ(λ, m) = Θ̄ + λ(Θ_m − Θ̄).
public struct ParameterEnsemble: Sendable {
    /// M rows of N_D parameters, in the order of Θ.
    public var samples: [[Double]]
    /// Θ̄, where the derivatives are taken.
    public var mean: [Double]
    public var lambdas: [Double]

    public init(samples: [[Double]], mean: [Double], lambdas: [Double]) {
        (self.samples, self.mean, self.lambdas) = (samples, mean, lambdas)
    }

    public func theta(sample m: Int, lambda: Double) -> [Double] {
        zip(mean, samples[m]).map { $0 + lambda * ($1 - $0) }
    }

    /// Rows of `width` numbers from a text file (whitespace separated, `#` comments) or a 2-D
    /// `.npy` array; a file of one row is a vector.
    public static func readRows(_ url: URL, width: Int) throws -> [[Double]] {
        if url.pathExtension.lowercased() == "npy" {
            let array = try NPY.read(url)
            let shape = array.shape.count == 1 ? [1, array.shape[0]] : array.shape
            guard shape.count == 2, shape[1] == width, shape[0] > 0 else {
                throw InputError.invalid("""
                    \(url.path): an array of shape \(array.shape) where one or more rows of \(width) parameters (one per \
                    parameter of Θ) are needed
                    """)
            }
            if let index = array.values.firstIndex(where: { !$0.isFinite }) {
                throw InputError.invalid("\(url.path): row \(index / width), column \(index % width) is \(array.values[index]), not a finite number")
            }
            return (0..<shape[0]).map { Array(array.values[$0 * width..<($0 + 1) * width]) }
        }
        let text: String
        do { text = try String(contentsOf: url, encoding: .utf8) } catch { throw InputError.fileNotFound(url.path) }
        var rows: [[Double]] = []
        for (index, line) in text.components(separatedBy: "\n").enumerated() {
            let words = (line.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first ?? "")
                .split(whereSeparator: \.isWhitespace)
            guard !words.isEmpty else { continue }
            if let bad = words.first(where: { Double($0)?.isFinite != true }) {
                throw InputError.invalid("\(url.path):\(index + 1): '\(bad)' is not a finite number")
            }
            guard words.count == width else {
                throw InputError.invalid("""
                    \(url.path):\(index + 1): \(words.count) numbers where \(width) are needed (one per parameter of Θ)
                    """)
            }
            rows.append(words.map { Double($0)! })
        }
        guard !rows.isEmpty else { throw InputError.invalid("\(url.path): no rows of numbers") }
        return rows
    }

    /// `count` draws from the normal distribution N(mean, covariance), reproducible from `seed`
    /// (covariance square root by LAPACK's eigen-decomposition; a clearly negative eigenvalue is refused).
    public static func draws(count: Int, mean: [Double], covariance: Matrix, seed: UInt64) throws -> [[Double]] {
        let n = mean.count
        guard covariance.rows == n, covariance.columns == n else {
            throw InputError.invalid("the covariance is \(covariance.rows) × \(covariance.columns); Θ has \(n) parameters")
        }
        var symmetric = covariance
        symmetric.symmetrize()
        let (values, vectors) = try LAPACK.symmetricEigen(symmetric)
        let largest = values.map(abs).max() ?? 0
        if let lowest = values.first, lowest < -1e-10 * largest {
            throw InputError.invalid("the covariance is not positive semi-definite (eigenvalue \(lowest))")
        }
        let roots = values.map { max($0, 0).squareRoot() }
        var generator = SplitMix64(seed: seed)
        return (0..<count).map { _ in
            let z = (0..<n).map { _ in standardNormal(&generator) }
            return (0..<n).map { i in mean[i] + (0..<n).reduce(0) { $0 + vectors[i, $1] * roots[$1] * z[$1] } }
        }
    }

    /// Box–Muller.
    private static func standardNormal(_ generator: inout SplitMix64) -> Double {
        let u = Double.random(in: Double.leastNonzeroMagnitude..<1, using: &generator)
        let v = Double.random(in: 0..<1, using: &generator)
        return (-2 * log(u)).squareRoot() * cos(2 * .pi * v)
    }
}

/// A linear combination of the relaxed energies and volumes of named systems, e.g. the vacancy
/// formation energy E_vac − (N−1)/N E_bulk.
public struct SystemQuantity: Codable, Sendable, Equatable {
    public var name: String
    /// eV or Å³ (or both mixed, "").
    public var unit: String
    public var energy: [String: Double]
    public var volume: [String: Double]

    public init(name: String, unit: String, energy: [String: Double] = [:], volume: [String: Double] = [:]) {
        (self.name, self.unit, self.energy, self.volume) = (name, unit, energy, volume)
    }

    public var systems: Set<String> { Set(energy.keys).union(volume.keys) }

    public func value(energies: [String: Double], volumes: [String: Double]) -> Double {
        energy.reduce(0) { $0 + $1.value * energies[$1.key]! } + volume.reduce(0) { $0 + $1.value * volumes[$1.key]! }
    }

    /// E_f = E_vac − (N−1)/N E_bulk and V_f = V_vac − (N−1)/N V_bulk, N the atoms of the bulk cell.
    public static func vacancyFormation(bulk: String, vacancy: String, bulkAtoms: Int) -> [SystemQuantity] {
        let fraction = Double(bulkAtoms - 1) / Double(bulkAtoms)
        return [SystemQuantity(name: "E_f", unit: "eV", energy: [vacancy: 1, bulk: -fraction]),
                SystemQuantity(name: "V_f", unit: "Å³", volume: [vacancy: 1, bulk: -fraction])]
    }
}

/// One system of an uncertainty campaign: a relaxed minimum whose energy and volume enter the quantities.
public struct UncertaintySystem {
    public var name: String
    public var energy: any ParametrizedEnergy
    public var cell: CellRelaxation
    /// Also require positive-definite relaxed-ion elastic constants of every true minimum (a
    /// perfect crystal that a shear would destabilize stays put under an iso relaxation).
    public var checkElastic: Bool

    public init(name: String, energy: any ParametrizedEnergy, cell: CellRelaxation, checkElastic: Bool = false) {
        (self.name, self.energy, self.cell, self.checkElastic) = (name, energy, cell, checkElastic)
    }
}

/// A member Θ(λ, m) of the scaled ensemble.
public struct EnsemblePoint: Codable, Sendable, Hashable {
    public var sample: Int
    public var lambda: Double
    public init(sample: Int, lambda: Double) { (self.sample, self.lambda) = (sample, lambda) }
}

/// What a true relaxation of one ensemble member gave.
public struct TruthOutcome: Codable, Sendable {
    public var point: EnsemblePoint
    public var energies: [String: Double]
    public var volumes: [String: Double]
    /// Quantity name → value (empty when a system failed).
    public var quantities: [String: Double]
    /// Why the member is excluded from the statistics (nil: a good minimum).
    public var failure: String?
    /// Relaxation iterations and force evaluations (checks included), per system and in all.
    public var systemEvaluations: [String: Int] = [:]
    public var forceEvaluations: Int
    public var seconds: Double
}

/// Uncertainty propagation (paper section II G): one derivative computation per system at Θ̄, then
/// every member's quantities at the levels c, h, ih, h+ih by linear algebra, an error indicator
/// from a few force evaluations at the predicted structures, and true relaxations where asked.
public final class UncertaintyCampaign {
    public let systems: [UncertaintySystem]
    public let quantities: [SystemQuantity]
    public let ensemble: ParameterEnsemble
    public let method: any DerivativeMethod
    public let ftol: Double

    public init(systems: [UncertaintySystem], quantities: [SystemQuantity], ensemble: ParameterEnsemble,
                method: any DerivativeMethod, ftol: Double = 1e-10) throws {
        (self.systems, self.quantities, self.ensemble, self.method, self.ftol) = (systems, quantities, ensemble, method, ftol)
        let names = Set(systems.map(\.name))
        for quantity in quantities {
            if let unknown = quantity.systems.subtracting(names).sorted().first {
                throw InputError.invalid("quantity \(quantity.name) uses system '\(unknown)', which is not among the systems")
            }
            for name in quantity.volume.keys.sorted() where systems.first(where: { $0.name == name })!.cell == .fixed {
                throw InputError.invalid("quantity \(quantity.name) uses the volume of system \(name), whose cell is fixed")
            }
        }
        for system in systems where system.energy.parameterCount != ensemble.mean.count {
            throw InputError.invalid("""
                the ensemble has \(ensemble.mean.count) parameters per sample; system \(system.name) has \
                \(system.energy.parameterCount) (\(system.energy.parameterNames.prefix(3).joined(separator: ", "))…)
                """)
        }
    }

    public var points: [EnsemblePoint] {
        ensemble.lambdas.flatMap { lambda in ensemble.samples.indices.map { EnsemblePoint(sample: $0, lambda: lambda) } }
    }

    /// Every system relaxed with Θ̄ and differentiated there.
    public struct Reference {
        public var derivatives: [String: MinimumDerivatives]
        public var quantities: [String: Double]
        public var forceEvaluations: Int
        public var seconds: Double
    }

    public func reference(progress: @escaping (String) -> Void) throws -> Reference {
        let start = Date()
        var derivatives: [String: MinimumDerivatives] = [:]
        var evaluations = 0
        for system in systems {
            let simulation = system.energy.simulation
            let before = simulation.forceEvaluations + simulation.relaxationIterations
            try system.energy.setTheta(ensemble.mean)
            progress("uq: system \(system.name): relaxing with Θ̄ (cell \(system.cell.rawValue)) and differentiating")
            let (relaxation, _) = try simulation.relax(RelaxationSettings(cell: system.cell, ftol: ftol), progress: progress)
            derivatives[system.name] = try MinimumDerivatives.compute(system.energy, cell: system.cell, method: method,
                                                                      relaxation: relaxation, progress: progress)
            evaluations += simulation.forceEvaluations + simulation.relaxationIterations - before
        }
        let energies = derivatives.mapValues(\.energy), volumes = derivatives.mapValues(\.volume)
        return Reference(derivatives: derivatives,
                         quantities: Dictionary(uniqueKeysWithValues: quantities.map { ($0.name, $0.value(energies: energies, volumes: volumes)) }),
                         forceEvaluations: evaluations, seconds: Date().timeIntervalSince(start))
    }

    /// Quantity → level → predicted value at `point`: linear algebra on the stored derivatives only.
    public func predict(_ point: EnsemblePoint, reference: Reference) -> [String: [ExpansionLevel: Double]] {
        let theta = ensemble.theta(sample: point.sample, lambda: point.lambda)
        var energies: [ExpansionLevel: [String: Double]] = [:], volumes: [ExpansionLevel: [String: Double]] = [:]
        for system in systems {
            let derivatives = reference.derivatives[system.name]!
            for prediction in derivatives.predict(zip(theta, derivatives.theta).map { $0 - $1 }) {
                energies[prediction.level, default: [:]][system.name] = prediction.energy
                volumes[prediction.level, default: [:]][system.name] = prediction.volume
            }
        }
        return Dictionary(uniqueKeysWithValues: quantities.map { quantity in
            (quantity.name, Dictionary(uniqueKeysWithValues: ExpansionLevel.allCases.map { level in
                (level, quantity.value(energies: energies[level]!, volumes: volumes[level]!))
            }))
        })
    }

    /// Every member's quantities at every level beside their indicator and true value, where known.
    public func rows(reference: Reference, indicators: [EnsemblePoint: [String: [ExpansionLevel: Double]]],
                     truths: [EnsemblePoint: TruthOutcome]) -> [UncertaintyRow] {
        var rows: [UncertaintyRow] = []
        for point in points {
            let predicted = predict(point, reference: reference)
            let truth = truths[point]
            for quantity in quantities {
                for level in ExpansionLevel.allCases {
                    rows.append(UncertaintyRow(point: point, quantity: quantity.name, level: level,
                                               predicted: predicted[quantity.name]![level]!,
                                               truth: truth?.quantities[quantity.name],
                                               indicator: indicators[point]?[quantity.name]?[level], excluded: truth?.failure))
                }
            }
        }
        return rows
    }

    /// An error indicator per quantity and level at `point`, from two force evaluations per
    /// distinct predicted structure: relaxing the predicted structure under the member's own
    /// potential would lower its energy by about ½ F·H⁻¹F (estimated along the residual force F
    /// with one Hessian product) and move the cell by −K⁻¹ ∂U/∂ε (K the relaxed strain curvature
    /// at Θ̄). The indicator is |quantity after that one-step correction − quantity predicted|,
    /// an estimate of the expansion's own error; NaN when the curvature along F is not positive
    /// (the member may be unstable there) or LAMMPS cannot evaluate the predicted structure.
    public func indicator(_ point: EnsemblePoint, reference: Reference) throws -> (values: [String: [ExpansionLevel: Double]], forceEvaluations: Int) {
        let theta = ensemble.theta(sample: point.sample, lambda: point.lambda)
        var corrected: [ExpansionLevel: (energies: [String: Double], volumes: [String: Double])] = [:]
        var predicted: [ExpansionLevel: (energies: [String: Double], volumes: [String: Double])] = [:]
        var evaluations = 0
        for system in systems {
            let derivatives = reference.derivatives[system.name]!
            let energy = system.energy
            try energy.setTheta(theta)
            defer { try? energy.setTheta(derivatives.theta) }
            var done: [[Double]: (Double, Double)] = [:]
            for prediction in derivatives.predict(zip(theta, derivatives.theta).map { $0 - $1 }) {
                predicted[prediction.level, default: ([:], [:])].energies[system.name] = prediction.energy
                predicted[prediction.level, default: ([:], [:])].volumes[system.name] = prediction.volume
                let key = prediction.positions + prediction.strain
                if done[key] == nil {
                    // A member whose predicted structure LAMMPS cannot even evaluate (atoms lost, a
                    // neighbour list overflowing at large λ) gets no indicator; the others go on.
                    done[key] = (try? oneStepCorrection(derivatives.predictedStructure(prediction), energy: energy,
                                                        derivatives: derivatives)) ?? (.nan, .nan)
                    evaluations += 2
                }
                corrected[prediction.level, default: ([:], [:])].energies[system.name] = done[key]!.0
                corrected[prediction.level, default: ([:], [:])].volumes[system.name] = done[key]!.1
            }
            try energy.simulation.restore(derivatives.structure)
        }
        let values = Dictionary(uniqueKeysWithValues: quantities.map { quantity in
            (quantity.name, Dictionary(uniqueKeysWithValues: ExpansionLevel.allCases.map { level in
                (level, abs(quantity.value(energies: corrected[level]!.energies, volumes: corrected[level]!.volumes)
                    - quantity.value(energies: predicted[level]!.energies, volumes: predicted[level]!.volumes)))
            }))
        })
        return (values, evaluations)
    }

    /// Energy and volume after one quadratic-model relaxation step from `structure` (2 force evaluations).
    private func oneStepCorrection(_ structure: Structure, energy: any ParametrizedEnergy,
                                   derivatives: MinimumDerivatives) throws -> (Double, Double) {
        let simulation = energy.simulation
        try simulation.restore(structure)
        var strainGradient: [Double] = []
        let generators = derivatives.strain?.generators ?? []
        if !generators.isEmpty {
            // ∂U/∂e_g = −Σ_ab W_ab (G_g)_ab at zero strain (the virial evaluates energy and forces too).
            let w = try simulation.virial()
            strainGradient = generators.map { g in -zip(g, Voigt.entries).reduce(0.0) { $0 + $1.0 * w[$1.1.0][$1.1.1] } }
        } else {
            try simulation.evaluate()
        }
        let e = try simulation.energy()
        let at = try simulation.structure().positions
        let raw = try simulation.forces()
        let f = removingTranslations(raw, axes: derivatives.translationAxes)
        let size = norm(f)
        var drop = 0.0
        if size > 0 {
            let largest = stride(from: 0, to: f.count, by: 3).map { norm(Array(f[$0..<$0 + 3])) }.max()!
            let step = 1e-5 / largest  // atoms move at most 1e-5 Å: the curvature to ~1e-5, ample for an indicator
            let displaced = try simulation.forces(at: zip(at, f).map { $0 + step * $1 })
            let fHf = -dot(f, zip(displaced, raw).map { $0 - $1 }) / step
            // No positive curvature along F: the quadratic model has no minimum there.
            guard fHf > 0 else { return (.nan, .nan) }
            drop = 0.5 * size * size * size * size / fHf
        }
        var volume = structure.box.volume
        if let strain = derivatives.strain, !strainGradient.isEmpty {
            let s = Matrix(rows: strainGradient.count, columns: 1, storage: strainGradient)
            let shift = try LAPACK.solveSymmetric(strain.relaxedCurvature, s).storage  // K⁻¹ s
            drop += 0.5 * dot(strainGradient, shift)
            let trace = generators.map { $0[0] + $0[1] + $0[2] }
            volume -= structure.box.volume * dot(trace, shift)
        }
        return (e - drop, volume)
    }
}

extension UncertaintyCampaign {
    /// True LAMMPS relaxations of every system with Θ(λ, m), from the Θ̄ minima, each checked:
    /// converged, still the same structure (no atom moved more than half a nearest-neighbour
    /// distance beyond the homogeneous strain), positive curvature (Lanczos), and for systems that
    /// ask for it positive-definite relaxed-ion elastic constants. A failed member is reported
    /// with the reason, never used.
    public func truth(_ point: EnsemblePoint, reference: Reference, progress: @escaping (String) -> Void = { _ in }) -> TruthOutcome {
        let start = Date()
        let theta = ensemble.theta(sample: point.sample, lambda: point.lambda)
        var outcome = TruthOutcome(point: point, energies: [:], volumes: [:], quantities: [:], failure: nil,
                                   forceEvaluations: 0, seconds: 0)
        for system in systems {
            let simulation = system.energy.simulation
            let before = simulation.forceEvaluations + simulation.relaxationIterations
            let derivatives = reference.derivatives[system.name]!
            do {
                // From the state the reference structure alone determines (not the box style or
                // timestep the previous member left): a resumed campaign repeats the uninterrupted one.
                try simulation.reset(to: derivatives.structure)
                if let failure = try relaxAndCheck(system, theta: theta, derivatives: derivatives, into: &outcome) {
                    outcome.failure = "system \(system.name): \(failure)"
                }
            } catch {
                outcome.failure = "system \(system.name): the relaxation failed: \(error)"
            }
            try? system.energy.setTheta(derivatives.theta)
            try? simulation.restore(derivatives.structure)
            outcome.systemEvaluations[system.name] = simulation.forceEvaluations + simulation.relaxationIterations - before
            outcome.forceEvaluations += outcome.systemEvaluations[system.name]!
            if outcome.failure != nil { break }
        }
        if outcome.failure == nil {
            for quantity in quantities {
                outcome.quantities[quantity.name] = quantity.value(energies: outcome.energies, volumes: outcome.volumes)
            }
        }
        outcome.seconds = Date().timeIntervalSince(start)
        return outcome
    }

    /// Relaxes one system with `theta`, records its energy and volume, and returns why the
    /// result is not a usable minimum (nil when it is).
    private func relaxAndCheck(_ system: UncertaintySystem, theta: [Double], derivatives: MinimumDerivatives,
                               into outcome: inout TruthOutcome) throws -> String? {
        let minimum = try TrueMinimum.relax(system.energy, theta: theta, from: derivatives, ftol: ftol)
        outcome.energies[system.name] = minimum.energy
        outcome.volumes[system.name] = minimum.volume
        if let shortfall = minimum.relaxation.shortfall { return "the relaxation did not converge (\(shortfall))" }
        if let moved = structuralChange(minimum, derivatives: derivatives) { return moved }
        try system.energy.setTheta(theta)
        try system.energy.simulation.evaluate()
        let hessian = try Hessian(system: system.energy.simulation)
        let curvature = try hessian.curvatureCheck()
        if curvature.isNegative || curvature.vanishes { return "not a minimum: \(curvature.summary)" }
        if system.checkElastic {
            try hessian.restoreMinimum()
            let constants = try ElasticConstants.measure(system.energy, hessian: hessian, method: method)
            var mandel = Matrix(rows: 6, columns: 6)
            for (i, row) in ElasticConstants.mandel(constants.relaxedIon).enumerated() { for (j, v) in row.enumerated() { mandel[i, j] = v } }
            mandel.symmetrize()
            let lowest = try LAPACK.symmetricEigen(mandel).values[0]
            if !(lowest > 0) {
                return String(format: "elastically unstable: the relaxed-ion elastic tensor has the eigenvalue %.4g GPa (Mandel)", lowest)
            }
        }
        return nil
    }

    /// "atom i moved d Å" when some atom of the true minimum is more than half a nearest-neighbour
    /// distance from where the homogeneously strained Θ̄ minimum puts it.
    private func structuralChange(_ minimum: TrueMinimum, derivatives: MinimumDerivatives) -> String? {
        let reference = derivatives.structure
        let expected = derivatives.strained(reference.unwrappedPositions, by: minimum.strain)
        let shift = removingTranslations(zip(minimum.positions, expected).map { $0 - $1 }, axes: derivatives.translationAxes)
        let distances = stride(from: 0, to: shift.count, by: 3).map { norm(Array(shift[$0..<$0 + 3])) }
        let limit = 0.5 * reference.closePairs().typicalDistance
        guard let worst = distances.indices.max(by: { distances[$0] < distances[$1] }), distances[worst] > limit else { return nil }
        return String(format: "it left its structure: atom %d moved %.3g Å (more than half the nearest-neighbour distance)",
                      worst + 1, distances[worst])
    }
}
