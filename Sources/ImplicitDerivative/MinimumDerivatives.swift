import Atomistics
import Foundation
import LinearAlgebra
import Potentials

/// The levels of the implicit Taylor expansion (main text II B).
public enum ExpansionLevel: String, CaseIterable, Codable, Sendable {
    /// Nothing relaxes: δU = δΘ·∇ΘU + δΘ H_c δΘ (H_c = ½∇²ΘΘU, zero for linear SNAP).
    case c
    /// Only the homogeneous strain relaxes.
    case h
    /// Only the atoms relax, at fixed cell.
    case ih
    /// Both, solved together: asymptotically exact for cell relaxations.
    case hih = "h+ih"
}

/// Derivatives of the cell strain of a minimum with respect to Θ.
public struct StrainDerivatives: Sendable {
    public var generators: [[Double]]
    /// ∂²U/∂Θ∂ε, N_D × n_strain.
    public var mixed: Matrix
    /// ∂²U/∂ε², n_strain × n_strain, at fixed scaled coordinates.
    public var curvature: Matrix
    /// The same with the internal relaxation of the atoms: ∂²U/∂ε² − (∂F/∂ε)ᵀ H⁻¹ (∂F/∂ε).
    public var relaxedCurvature: Matrix
    /// ∇Θ ε at the h level (eq. 30): n_strain × N_D.
    public var homogeneous: Matrix
    /// ∇Θ ε at the h+ih level: n_strain × N_D.
    public var full: Matrix
    /// ∇Θ X* at the h+ih level (positions relative to the cell, in its reference frame): 3N × N_D.
    public var fullPositionDerivative: Matrix
}

/// Everything the implicit Taylor expansion needs at one minimum X*(Θ).
public struct MinimumDerivatives: Sendable {
    public var energy: Double
    public var structure: Structure
    public var theta: [Double]
    /// ∇Θ U, N_D.
    public var energyGradient: [Double]
    /// ∇Θ X* at fixed cell (ih level), 3N × N_D.
    public var positionDerivative: PositionDerivative
    public var cell: CellRelaxation
    /// Axes along which a rigid translation is a zero mode (no atom held along it).
    public var translationAxes: [Int]
    public var strain: StrainDerivatives?
    /// H_ζ of δU = δΘ·∇ΘU + δΘ H_ζ δΘᵀ (supplement eq. 35, 36), N_D × N_D each.
    public var curvatures: [ExpansionLevel: Matrix]
    /// How X* was checked (convergence, curvature) and any warning that it is not a minimum.
    public var check = MinimumCheck()
    /// What fixes the meaning of Θ (`PotentialDescription.hyperparameters`, e.g. SNAP's): a saved
    /// derivative applies only to a potential with the same ones.
    public var hyperparameters: [String: String] = [:]
    /// Names of the parameters, in Θ order.
    public var parameterNames: [String] = []
    /// Parameters the energy does not depend on at X* (∇Θ U and ∇²ΘX U both exactly zero).
    public var independentParameters: [String] = []

    public var volume: Double { structure.box.volume }

    /// Computes the derivatives at the current (relaxed) state of `system`, after checking that
    /// it is a minimum: `relaxation` converged, and the Hessian has no negative curvature.
    public static func compute(_ system: any ParameterDerivatives, cell: CellRelaxation, method: any DerivativeMethod,
                               checks: DerivativeChecks = DerivativeChecks(), relaxation: RelaxationResult? = nil,
                               phases: Phases = Phases(), progress: (String) -> Void = { _ in }) throws -> MinimumDerivatives {
        let provider = system.forceProvider
        let box = try provider.structure().box
        if cell != .fixed, box.xy != 0 || box.xz != 0 || box.yz != 0 {
            throw InputError.unsupportedSystem("strain derivatives need an orthogonal cell; this one is triclinic")
        }
        let generators = cell.strainGenerators
        let (energy, gradient, mixedHessian, strainMixed, parameterHessian) = try phases.measure("descriptors") {
            try provider.evaluate()
            let energy = try provider.energy()
            return (energy, try system.energyGradient(), try system.mixedHessian(),
                    generators.isEmpty ? nil : try system.strainMixedDerivative(strains: generators), try system.parameterHessian())
        }
        let hessian = try phases.measure("start_checks") {
            try provider.evaluate()
            return try Hessian(system: provider)
        }
        // An unconverged X* is refused before any solve. The curvature check comes after the
        // solves: a shared Krylov basis seeded with its random start gives it most of its Ritz
        // space for nothing. A solve that fails at a saddle is diagnosed by the Lanczos check,
        // whose refusal says what is wrong.
        try MinimumCheck.requireConverged(relaxation, checks: checks)
        if checks.curvatureSteps > 0 { hessian.spectrumProbe = hessian.randomStart() }
        progress("solves: \(system.atomCount) atoms, \(hessian.degreesOfFreedom.mobileCount) mobile components, "
                 + "\(system.parameterCount) parameters, method \(method.name)")
        let derivative: PositionDerivative
        do {
            derivative = try phases.measure("solves") {
                try ImplicitDifferentiation.positionDerivative(system, hessian: hessian, mixedHessian: mixedHessian,
                                                               method: method, checks: checks, progress: progress)
            }
        } catch {
            hessian.probedSpace = nil
            _ = try phases.measure("curvature_check") {
                try MinimumCheck.verify(hessian, relaxation: relaxation, checks: checks, progress: progress)
            }
            throw error
        }
        let check = try phases.measure("curvature_check") {
            try MinimumCheck.verify(hessian, relaxation: relaxation, checks: checks, progress: progress)
        }
        // The basis is the size of the solve's: not kept through the strain derivatives.
        (hessian.spectrumProbe, hessian.probedSpace) = (nil, nil)
        let d = derivative.matrix
        // ½∇²ΘΘU at fixed positions (zero for SNAP) enters every level.
        let direct = scaled(parameterHessian, by: 0.5)
        let ih = add(direct, scaled(mixedHessian.multiplied(by: d, transposingSelf: true), by: 0.5))
        var curvatures: [ExpansionLevel: Matrix] = [.c: direct, .ih: ih]
        var strain: StrainDerivatives?
        if let strainMixed {
            progress("strain derivatives: \(generators.count) strain(s)")
            strain = try phases.measure("strain_derivatives") {
                let response = try StrainResponse.measure(hessian, generators: generators)
                return try strainDerivatives(response, mixed: strainMixed, positionDerivative: d, hessian: hessian, method: method)
            }
            curvatures[.h] = add(direct, scaled(strainMixed.multiplied(by: strain!.homogeneous), by: 0.5))
            curvatures[.hih] = add(direct, scaled(
                add(mixedHessian.multiplied(by: strain!.fullPositionDerivative, transposingSelf: true),
                    strainMixed.multiplied(by: strain!.full)), by: 0.5))
        } else {
            curvatures[.h] = curvatures[.c]
            curvatures[.hih] = ih
        }
        let structure = try provider.structure()
        var result = MinimumDerivatives(energy: energy, structure: structure, theta: system.theta,
                                        energyGradient: gradient, positionDerivative: derivative, cell: cell,
                                        translationAxes: hessian.degreesOfFreedom.translationAxes,
                                        strain: strain, curvatures: curvatures)
        result.check = check
        result.hyperparameters = system.summary.hyperparameters
        result.parameterNames = system.parameterNames
        result.independentParameters = (0..<system.parameterCount).filter { l in
            gradient[l] == 0 && mixedHessian.column(l).allSatisfy { $0 == 0 }
        }.map { system.parameterNames[$0] }
        try result.requireFinite()
        return result
    }

    /// Every array of the expansion must be finite before anything is written or predicted.
    func requireFinite() throws {
        var arrays: [(String, [Double])] = [("∇Θ U", energyGradient), ("∇Θ X*", positionDerivative.matrix.storage)]
        arrays += ExpansionLevel.allCases.map { ("energy curvature H_\($0.rawValue)", curvatures[$0]!.storage) }
        if let strain {
            arrays += [("∇Θ ε (h)", strain.homogeneous.storage), ("∇Θ ε (h+ih)", strain.full.storage),
                       ("∂²U/∂ε²", strain.curvature.storage), ("∇Θ X* (h+ih)", strain.fullPositionDerivative.storage)]
        }
        for (name, values) in arrays {
            if let index = values.firstIndex(where: { !$0.isFinite }) {
                throw InputError.nonFinite("\(name) has the non-finite value \(values[index]) at flat index \(index)")
            }
        }
    }

    /// Solves the coupled system of eq. 5 for positions and strain:
    ///   H dX − g dε = −∇²XΘ U,   −gᵀ dX + ∂²U/∂ε² dε = −∇²εΘ U,   g = ∂F/∂ε,
    /// as dX = D + w dε with w = H⁻¹ g and (∂²U/∂ε² − gᵀ w) dε = gᵀ D − ∇²εΘ U.
    /// Eq. 33 of the paper drops gᵀ w (the atoms' relaxation under strain); keeping it makes
    /// the h+ih level asymptotically exact.
    private static func strainDerivatives(_ response: StrainResponse, mixed: Matrix, positionDerivative d: Matrix,
                                          hessian: Hessian, method: any DerivativeMethod) throws -> StrainDerivatives {
        let g = response.forceDerivative
        let w = try ImplicitDifferentiation.solve(hessian, g, method: method).x
        try hessian.restoreMinimum()
        let relaxed = response.curvature - g.multiplied(by: w, transposingSelf: true)
        let homogeneous = try LAPACK.solveSymmetric(response.curvature, scaled(mixed.transposed, by: -1))
        let full = try LAPACK.solveSymmetric(relaxed, g.multiplied(by: d, transposingSelf: true) - mixed.transposed)
        let fullPositions = add(d, w.multiplied(by: full))
        return StrainDerivatives(generators: response.generators, mixed: mixed, curvature: response.curvature,
                                 relaxedCurvature: relaxed, homogeneous: homogeneous, full: full,
                                 fullPositionDerivative: fullPositions)
    }
}

// MARK: - Predictions

/// What one expansion level predicts for a parameter change δΘ.
public struct Prediction: Codable, Sendable {
    public var level: ExpansionLevel
    public var energy: Double
    public var energyChange: Double
    public var volume: Double
    /// Strain per generator (iso: one number).
    public var strain: [Double]
    /// Predicted unwrapped positions, 3 per atom.
    public var positions: [Double]
}

extension MinimumDerivatives {
    /// Predictions of every level for Θ + δΘ (eq. 6, 7, 35–37); `energyShift` is an exact
    /// change of the energy that moves no atom (SNAP's beta0 times the atoms of its element).
    public func predict(_ deltaTheta: [Double], energyShift: Double = 0) -> [Prediction] {
        precondition(deltaTheta.count == theta.count)
        let delta = Matrix(rows: theta.count, columns: 1, storage: deltaTheta)
        let linear = zip(energyGradient, deltaTheta).reduce(0) { $0 + $1.0 * $1.1 } + energyShift
        let reference = structure.unwrappedPositions
        return ExpansionLevel.allCases.map { level in
            let curvature = curvatures[level]!
            let quadratic = delta.multiplied(by: curvature.multiplied(by: delta), transposingSelf: true)[0, 0]
            var positions = reference
            // Without strain degrees of freedom h+ih is ih, and h is c.
            if level == .ih || (level == .hih && strain == nil) {
                positions = add(reference, positionDerivative.matrix.multiplied(by: delta).storage)
            }
            var strainValues = [Double](repeating: 0, count: strain?.generators.count ?? 0)
            if let strain, level == .h || level == .hih {
                let derivative = level == .h ? strain.homogeneous : strain.full
                strainValues = derivative.multiplied(by: delta).storage
                if level == .hih { positions = add(reference, strain.fullPositionDerivative.multiplied(by: delta).storage) }
                positions = scaledAboutCenter(positions, strain: strainValues, generators: strain.generators)
            }
            let scales = axisScales(strainValues, generators: strain?.generators ?? [])
            return Prediction(level: level, energy: energy + linear + quadratic, energyChange: linear + quadratic,
                              volume: volume * scales.reduce(1, *), strain: strainValues, positions: positions)
        }
    }

    /// Where a true relaxation for Θ + δΘ should start: the h+ih prediction (predicted atoms in
    /// the predicted cell), when it lies within the range where the expansion is to be trusted —
    /// no strain beyond `maximumStrain` and no atom displaced beyond `maximumDisplacement` Å
    /// relative to the strained X* — else nil (start from X*: far outside that range, as for a
    /// member that destroys the crystal, the prediction is no better a start and may lead into
    /// another basin).
    public func warmStart(for deltaTheta: [Double], maximumStrain: Double = 0.01,
                          maximumDisplacement: Double = 0.25) -> Structure? {
        guard let prediction = predict(deltaTheta).first(where: { $0.level == .hih }),
              prediction.strain.allSatisfy({ abs($0) <= maximumStrain }) else { return nil }
        let followed = strained(structure.unwrappedPositions, by: prediction.strain)
        let moved = largestAtomNorm(zip(prediction.positions, followed).map { $0 - $1 })
        return moved <= maximumDisplacement ? predictedStructure(prediction) : nil
    }

    /// The predicted atoms in the predicted cell (scaled about the reference cell's centre, as
    /// `fix box/relax` deforms it), ready to be restored in LAMMPS.
    public func predictedStructure(_ prediction: Prediction) -> Structure {
        let scales = axisScales(prediction.strain, generators: strain?.generators ?? [])
        var box = structure.box
        for axis in 0..<3 {
            let center = (box.low[axis] + box.high[axis]) / 2, half = (box.high[axis] - box.low[axis]) / 2
            (box.low[axis], box.high[axis]) = (center - scales[axis] * half, center + scales[axis] * half)
        }
        // Wrapped into the predicted cell with the minimum's image counts carried on: an atom
        // several periods from its wrapped place would otherwise be lost to LAMMPS.
        var predicted = structure
        predicted.box = box
        let cell = box.cell
        var continued = prediction.positions
        for k in continued.indices {
            let (atom, component) = (k / 3, k % 3)
            for axis in 0..<3 { continued[k] -= Double(structure.images[3 * atom + axis]) * cell[axis][component] }
        }
        return predicted.wrapping(continued)
    }

    private func axisScales(_ strain: [Double], generators: [[Double]]) -> [Double] {
        (0..<3).map { axis in 1 + zip(strain, generators).reduce(0) { $0 + $1.0 * $1.1[axis] } }
    }

    /// `positions` deformed by `strain` (one value per strain generator of this minimum) about the
    /// cell's centre, as `fix box/relax` deforms a cell.
    public func strained(_ positions: [Double], by strain: [Double]) -> [Double] {
        scaledAboutCenter(positions, strain: strain, generators: self.strain?.generators ?? [])
    }

    /// Homogeneous deformation about the box center, as `fix box/relax` applies it.
    private func scaledAboutCenter(_ positions: [Double], strain: [Double], generators: [[Double]]) -> [Double] {
        let scales = axisScales(strain, generators: generators)
        let box = structure.box
        return positions.enumerated().map { index, value in
            let axis = index % 3
            let center = (box.low[axis] + box.high[axis]) / 2
            return center + scales[axis] * (value - center)
        }
    }
}


extension MinimumDerivatives {
    /// Supplement eq. 40: ‖δX_true − δX_pred‖ / ‖δX_true‖ for displacements from X*, with
    /// rigid translations along the zero-mode axes removed from both.
    public func relativePositionError(predicted: [Double], truth: [Double]) -> Double {
        let reference = structure.unwrappedPositions
        func displacement(_ positions: [Double]) -> [Double] {
            removingTranslations(zip(positions, reference).map { $0 - $1 }, axes: translationAxes)
        }
        let trueChange = displacement(truth), predictedChange = displacement(predicted)
        let norm = trueChange.reduce(0) { $0 + $1 * $1 }.squareRoot()
        let error = zip(trueChange, predictedChange).reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) }.squareRoot()
        return norm > 0 ? error / norm : error
    }
}
