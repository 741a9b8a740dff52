import Atomistics
import Foundation
import LinearAlgebra
import Potentials

/// The files of a saved derivative, readable from Python (`numpy.load`) and by `predict`.
///
/// Arrays are `.npy`, atoms in atom-ID order and parameters in the order of Θ (`parameter_names`
/// in minimum.json; for SNAP element by element in `.snapcoeff` order, beta0 excluded):
///   dX_dTheta.npy       (N_D, N, 3)  ∇Θ X* at fixed cell (ih level)
///   dX_dTheta_hih.npy   (N_D, N, 3)  ∇Θ X* in the cell's frame at the h+ih level (cell relaxations)
///   dU_dTheta.npy       (N_D,)       ∇Θ U
///   dStrain_dTheta.npy  (N_D,) iso or (N_D, 3) aniso: ∇Θ ε at the h+ih level (zeros at fixed cell)
///   dStrain_dTheta_h.npy             the same at the h level (eq. 30)
///   energy_curvature.npy (4, N_D, N_D) H_ζ for ζ = c, h, ih, h+ih (δU = δΘ·∇ΘU + δΘ H_ζ δΘᵀ)
///   theta.npy (N_D,), positions.npy (N, 3) unwrapped X*, types.npy (N,) int32
///   minimum.json        energy, cell, masses and strain curvatures of the reference minimum
extension MinimumDerivatives {
    struct Record: Codable {
        var energy: Double
        var boxLow: [Double]
        var boxHigh: [Double]
        var tilt: [Double]
        var periodic: [Bool]
        var masses: [Double]
        var cell: CellRelaxation
        var translationAxes: [Int]
        var generators: [[Double]]
        var strainCurvature: [Double]
        var strainRelaxedCurvature: [Double]
        var check: MinimumCheck?
        var hyperparameters: [String: String]?
        var parameterNames: [String]?
        var independentParameters: [String]?
    }

    public func write(to directory: URL) throws {
        func url(_ name: String) -> URL { directory.appendingPathComponent(name) }
        let n = structure.count, p = theta.count
        let strainCount = max(strain?.generators.count ?? 1, 1)
        let strainShape = strainCount == 1 ? [p] : [p, strainCount]
        let zeros = [Double](repeating: 0, count: p * strainCount)
        try NPY.write(positionDerivative.matrix.storage, shape: [p, n, 3], to: url("dX_dTheta.npy"))
        try NPY.write(energyGradient, shape: [p], to: url("dU_dTheta.npy"))
        // Column-major n_strain × N_D storage is the row-major (N_D, n_strain) array of the file.
        try NPY.write(strain?.full.storage ?? zeros, shape: strainShape, to: url("dStrain_dTheta.npy"))
        try NPY.write(strain?.homogeneous.storage ?? zeros, shape: strainShape, to: url("dStrain_dTheta_h.npy"))
        if let strain {
            try NPY.write(strain.fullPositionDerivative.storage, shape: [p, n, 3], to: url("dX_dTheta_hih.npy"))
            try NPY.write(strain.mixed.storage, shape: [strainCount, p], to: url("d2U_dTheta_dStrain.npy"))
        }
        try NPY.write(ExpansionLevel.allCases.flatMap { curvatures[$0]!.storage }, shape: [4, p, p],
                      to: url("energy_curvature.npy"))
        try NPY.write(theta, shape: [p], to: url("theta.npy"))
        try NPY.write(structure.unwrappedPositions, shape: [n, 3], to: url("positions.npy"))
        try NPY.write(structure.types, shape: [n], to: url("types.npy"))
        let box = structure.box
        try Files.writeJSON(Record(energy: energy, boxLow: box.low, boxHigh: box.high, tilt: [box.xy, box.xz, box.yz],
                                   periodic: box.periodic, masses: structure.masses, cell: cell,
                                   translationAxes: translationAxes, generators: strain?.generators ?? [],
                                   strainCurvature: strain?.curvature.storage ?? [],
                                   strainRelaxedCurvature: strain?.relaxedCurvature.storage ?? [],
                                   check: check, hyperparameters: hyperparameters, parameterNames: parameterNames,
                                   independentParameters: independentParameters),
                            to: url("minimum.json"))
        try SavedArrays.writeManifest(in: directory, atoms: n, parameters: p, types: structure.types)
    }

    /// Reads what `write(to:)` wrote, trusting nothing: the manifest's checksums, every array's
    /// dtype and shape against the others and against minimum.json, and finiteness.
    public init(contentsOf directory: URL) throws {
        let folder = try SavedArrays(directory)
        let record = try folder.record()
        let theta = try folder.array("theta.npy", shape: [nil], meaning: "Θ: one value per parameter").values
        let p = theta.count
        if let names = record.parameterNames, !names.isEmpty, names.count != p {
            throw DerivativeError.unusableSavedDerivative("""
                \(folder.url("minimum.json").path) names \(names.count) parameters, but \(folder.url("theta.npy").path) \
                holds \(p): the folder mixes two derivatives; rerun \(setting: .derivativeOutput)
                """)
        }
        let positions = try folder.array("positions.npy", shape: [nil, 3], meaning: "X*: N atoms × 3")
        let n = positions.shape[0]
        let types = try folder.array("types.npy", shape: [n], integer: true, meaning: "one atom type per atom of positions.npy")
            .values.map { Int32($0) }
        try folder.requireManifestAgrees(atoms: n, parameters: p, types: types)
        try SavedArrays.requireCount(record.boxLow, 3, "box_low", in: folder)
        try SavedArrays.requireCount(record.boxHigh, 3, "box_high", in: folder)
        try SavedArrays.requireCount(record.tilt, 3, "tilt", in: folder)
        try SavedArrays.requireCount(record.periodic, 3, "periodic", in: folder)
        let typeCount = Int(types.max() ?? 0)
        guard record.masses.count >= typeCount, types.allSatisfy({ $0 >= 1 }) else {
            throw DerivativeError.unusableSavedDerivative("""
                \(folder.url("types.npy").path) holds atom types up to \(typeCount) (and none below 1 allowed), but \
                \(folder.url("minimum.json").path) gives \(record.masses.count) masses
                """)
        }
        let box = Box(low: record.boxLow, high: record.boxHigh, xy: record.tilt[0], yz: record.tilt[2], xz: record.tilt[1],
                      periodic: record.periodic)
        let structure = Structure(box: box, positions: positions.values, images: [Int32](repeating: 0, count: 3 * n),
                                  types: types, masses: record.masses)
        let perParameter = "N_D = \(p) parameters (theta.npy) × N = \(n) atoms (positions.npy) × 3"
        let d = try folder.matrix("dX_dTheta.npy", shape: [p, n, 3], rows: 3 * n, columns: p, meaning: perParameter)
        let curvatureValues = try folder.array("energy_curvature.npy", shape: [4, p, p],
                                               meaning: "4 levels × N_D × N_D, N_D = \(p) (theta.npy)").values
        var curvatures: [ExpansionLevel: Matrix] = [:]
        for (index, level) in ExpansionLevel.allCases.enumerated() {
            curvatures[level] = Matrix(rows: p, columns: p, storage: Array(curvatureValues[index * p * p..<(index + 1) * p * p]))
        }
        var strain: StrainDerivatives?
        // Strains are Voigt 6-vectors; records of earlier versions hold the 3 diagonal components.
        let generators = record.generators.map { $0.count == 3 ? Voigt.diagonal($0) : $0 }
        let ng = generators.count
        if ng > 0 {
            guard generators.allSatisfy({ $0.count == 6 }) else {
                throw InputError.fileFormat(file: folder.url("minimum.json").path, line: nil, reason: "generators must be strains of 6 (or 3) components")
            }
            try SavedArrays.requireCount(record.strainCurvature, ng * ng, "strain_curvature", in: folder)
            try SavedArrays.requireCount(record.strainRelaxedCurvature, ng * ng, "strain_relaxed_curvature", in: folder)
            let strainShape: [Int] = ng == 1 ? [p] : [p, ng]
            let perStrain = "N_D = \(p) parameters (theta.npy) × \(ng) strain(s) (minimum.json)"
            func strainMatrix(_ name: String) throws -> Matrix {
                try folder.matrix(name, shape: strainShape, rows: ng, columns: p, meaning: perStrain)
            }
            strain = StrainDerivatives(
                generators: generators,
                mixed: try folder.matrix("d2U_dTheta_dStrain.npy", shape: [ng, p], rows: p, columns: ng,
                                         meaning: "\(ng) strain(s) (minimum.json) × N_D = \(p) parameters (theta.npy)"),
                curvature: Matrix(rows: ng, columns: ng, storage: record.strainCurvature),
                relaxedCurvature: Matrix(rows: ng, columns: ng, storage: record.strainRelaxedCurvature),
                homogeneous: try strainMatrix("dStrain_dTheta_h.npy"), full: try strainMatrix("dStrain_dTheta.npy"),
                fullPositionDerivative: try folder.matrix("dX_dTheta_hih.npy", shape: [p, n, 3], rows: 3 * n, columns: p,
                                                          meaning: perParameter))
        }
        self.init(energy: record.energy, structure: structure, theta: theta,
                  energyGradient: try folder.array("dU_dTheta.npy", shape: [p], meaning: "∇Θ U: N_D = \(p) (theta.npy)").values,
                  positionDerivative: PositionDerivative(matrix: d, residuals: [], iterations: [], forceEvaluations: 0, seconds: 0),
                  cell: record.cell, translationAxes: record.translationAxes, strain: strain, curvatures: curvatures)
        check = record.check ?? MinimumCheck()
        hyperparameters = record.hyperparameters ?? [:]
        parameterNames = record.parameterNames ?? []
        independentParameters = record.independentParameters ?? []
        try requireFinite()
    }
}
