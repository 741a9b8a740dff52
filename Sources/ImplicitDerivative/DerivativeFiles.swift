import Atomistics
import Foundation
import LAMMPSLibrary
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
    }

    /// Reads what `write(to:)` wrote.
    public init(contentsOf directory: URL) throws {
        func url(_ name: String) -> URL { directory.appendingPathComponent(name) }
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        let recordData: Data
        do { recordData = try Data(contentsOf: url("minimum.json")) } catch {
            throw InputError.invalid("\(directory.path) holds no saved derivative (minimum.json missing); run `derivative --out` first")
        }
        let record: Record
        do { record = try decoder.decode(Record.self, from: recordData) } catch {
            throw InputError.invalid("\(url("minimum.json").path) is not a derivative record this tool wrote: \(Files.describe(error))")
        }
        let theta = try NPY.read(url("theta.npy")).values
        let positions = try NPY.read(url("positions.npy"))
        let p = theta.count, n = positions.shape[0]
        let box = Box(low: record.boxLow, high: record.boxHigh, xy: record.tilt[0], yz: record.tilt[2], xz: record.tilt[1],
                      periodic: record.periodic)
        let structure = Structure(box: box, positions: positions.values, images: [Int32](repeating: 0, count: 3 * n),
                                  types: try NPY.read(url("types.npy")).values.map { Int32($0) }, masses: record.masses)
        let d = Matrix(rows: 3 * n, columns: p, storage: try NPY.read(url("dX_dTheta.npy")).values)
        let curvatureValues = try NPY.read(url("energy_curvature.npy")).values
        var curvatures: [ExpansionLevel: Matrix] = [:]
        for (index, level) in ExpansionLevel.allCases.enumerated() {
            curvatures[level] = Matrix(rows: p, columns: p, storage: Array(curvatureValues[index * p * p..<(index + 1) * p * p]))
        }
        var strain: StrainDerivatives?
        // Strains are Voigt 6-vectors; records of earlier versions hold the 3 diagonal components.
        let generators = record.generators.map { $0.count == 3 ? Voigt.diagonal($0) : $0 }
        let ng = generators.count
        if ng > 0 {
            func strainMatrix(_ name: String) throws -> Matrix {
                Matrix(rows: ng, columns: p, storage: try NPY.read(url(name)).values)
            }
            strain = StrainDerivatives(
                generators: generators,
                mixed: Matrix(rows: p, columns: ng, storage: try NPY.read(url("d2U_dTheta_dStrain.npy")).values),
                curvature: Matrix(rows: ng, columns: ng, storage: record.strainCurvature),
                relaxedCurvature: Matrix(rows: ng, columns: ng, storage: record.strainRelaxedCurvature),
                homogeneous: try strainMatrix("dStrain_dTheta_h.npy"), full: try strainMatrix("dStrain_dTheta.npy"),
                fullPositionDerivative: Matrix(rows: 3 * n, columns: p, storage: try NPY.read(url("dX_dTheta_hih.npy")).values))
        }
        self.init(energy: record.energy, structure: structure, theta: theta,
                  energyGradient: try NPY.read(url("dU_dTheta.npy")).values,
                  positionDerivative: PositionDerivative(matrix: d, residuals: [], iterations: [], forceEvaluations: 0, seconds: 0),
                  cell: record.cell, translationAxes: record.translationAxes, strain: strain, curvatures: curvatures)
        check = record.check ?? MinimumCheck()
        hyperparameters = record.hyperparameters ?? [:]
        parameterNames = record.parameterNames ?? []
        independentParameters = record.independentParameters ?? []
        try requireFinite()
    }
}
