import Atomistics
import Foundation
import ImplicitDerivative
import LAMMPSLibrary
import LinearAlgebra
import Potentials
import Workflows

// Solver benchmarks for large systems (issue 10): preconditioned Krylov solves, all columns of
// ∇Θ X* on the dislocation, the preconditioner's memory against N.

/// Krylov products per solve on the dislocation, plain against the exponential preconditioner:
/// the adjoint solve of one fit iteration (H v = ∂L/∂X at the relaxed easy core) and `columns`
/// single rows of ∇Θ X* (each solved alone), to relative residual 1e-5 and to the 1e-3 a
/// gradient needs.
func preconditionBenchmark(source: String, columns: Int) throws {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("bench-precondition")
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    let (energy, target, label) = try dislocationSystem(source, folder: folder)
    let fit = try FitCampaign(systems: [FitSystem(name: "dislocation", energy: energy, target: .structure(target))],
                              settings: FitSettings(), method: SparseMethod())
    let progress: (String) -> Void = { FileHandle.standardError.write(Data(($0 + "\n").utf8)) }
    let state = try fit.initialState(key: "benchmark", progress: progress)
    let structure = state.structures["dislocation"]!
    try energy.simulation.restore(structure)
    try energy.simulation.evaluate()
    let hessian = try Hessian(system: energy.simulation)
    var preconditioner: ExponentialPreconditioner?
    let buildSeconds = try seconds {
        preconditioner = try ExponentialPreconditioner(minimum: hessian.minimum, degreesOfFreedom: hessian.degreesOfFreedom)
    }
    print("precondition (\(label)): \(energy.atomCount) atoms, \(hessian.degreesOfFreedom.mobileCount) mobile components; "
          + String(format: "exponential preconditioner: r_nn %.4f Å, band half-width %d, built in %.2f s",
                   preconditioner!.nearestNeighbourDistance, preconditioner!.bandwidth, buildSeconds))
    let adjoint = removingTranslations(minimumImage(zip(structure.unwrappedPositions, target).map { $0 - $1 }, in: structure.box),
                                       axes: [0, 1, 2])
    let mixed = try energy.mixedHessian()
    var rightHandSides = [("adjoint ∂L/∂X", adjoint)]
    let norms = (0..<mixed.columns).map { norm(hessian.degreesOfFreedom.project(mixed.column($0))) }
    for l in (0..<mixed.columns).sorted(by: { norms[$0] > norms[$1] }).prefix(columns) {
        rightHandSides.append(("∇²ΘX U column \(l)", mixed.column(l)))
    }
    print("  right-hand side          tolerance  plain: products  residual  s      exponential: products  residual  s")
    for (name, b) in rightHandSides {
        for tolerance in [1e-3, 1e-5] {
            var line = name.padding(toLength: 24, withPad: " ", startingAt: 0) + String(format: " %9.0e", tolerance)
            for preconditioning in [Preconditioning.none, .exponential] {
                let before = hessian.forceEvaluations
                var result: (x: Matrix, relativeResiduals: [Double])?
                let time = try seconds {
                    result = try SparseMethod(tolerance: tolerance, preconditioning: preconditioning)
                        .solve(hessian, hessian.degreesOfFreedom.project(Matrix(rows: b.count, columns: 1, storage: b)),
                               progress: progress)
                }
                try hessian.restoreMinimum()
                line += String(format: "  %15d  %8.1e  %5.1f", hessian.forceEvaluations - before, result!.relativeResiduals[0], time)
            }
            print(line)
        }
    }
}

/// All 55 X columns of ∇Θ X* on the dislocation (issue 10): force evaluations, wall time and peak
/// memory of the sparse method's strategies, with and without the exponential preconditioner, and
/// `checked` columns against central differences of true re-relaxations.
func dislocationDerivativeBenchmark(source: String, runs: [(KrylovStrategy, Preconditioning)], checked: Int) throws {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("bench-derivative-dislocation")
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    let (energy, _, label) = try dislocationSystem(source, folder: folder)
    let progress: (String) -> Void = { FileHandle.standardError.write(Data(($0 + "\n").utf8)) }
    let (relaxation, _) = try energy.simulation.relax(RelaxationSettings(ftol: 1e-10, minStyle: .cg), progress: progress)
    try energy.simulation.evaluate()
    let hessian = try Hessian(system: energy.simulation)
    let mixed = try energy.mixedHessian()
    print("derivative-dislocation (\(label)): \(energy.atomCount) atoms, \(hessian.degreesOfFreedom.mobileCount) mobile components, "
          + "\(mixed.columns) columns; relaxed in \(relaxation.steps) steps (max|F| \(relaxation.maxForce))")
    print("  strategy  preconditioner  evaluations  per parameter  worst residual  seconds  peak RSS (MB)")
    var results: [Matrix] = []
    for (strategy, preconditioning) in runs {
        let method = SparseMethod(preconditioning: preconditioning, strategy: strategy)
        var derivative: PositionDerivative?
        let time = try seconds {
            derivative = try ImplicitDifferentiation.positionDerivative(energy, hessian: hessian, mixedHessian: mixed,
                                                                        method: method, progress: progress)
        }
        results.append(derivative!.matrix)
        print(String(format: "  %-8@  %-14@  %11d  %13.1f  %14.1e  %7.0f  %13.0f", strategy.rawValue, preconditioning.rawValue,
                     derivative!.forceEvaluations, Double(derivative!.forceEvaluations) / Double(mixed.columns),
                     derivative!.residuals.max() ?? 0, time, peakResidentMegabytes()))
    }
    guard checked > 0, !results.isEmpty else { return }
    let norms = (0..<mixed.columns).map { norm(mixed.column($0)) }
    let columns = Array((0..<mixed.columns).sorted { norms[$0] > norms[$1] }.prefix(checked))
    var truth: Matrix?
    let fdSeconds = try seconds {
        truth = try ImplicitDifferentiation.finiteDifferenceDerivative(energy, mixedHessian: mixed, parameters: columns,
                                                                        translationAxes: hessian.degreesOfFreedom.translationAxes,
                                                                        ftol: 1e-10)
    }
    for (index, l) in columns.enumerated() {
        let reference = truth!.column(index)
        let errors = results.map { result in norm(zip(result.column(l), reference).map { $0 - $1 }) / norm(reference) }
        print("  column \(l) against central differences of true re-relaxations (\(String(format: "%.0f", fdSeconds)) s): relative errors "
              + errors.map { String(format: "%.1e", $0) }.joined(separator: ", "))
    }
}

/// The process's peak resident memory (getrusage, Linux reports kilobytes).
func peakResidentMegabytes() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Double(usage.ru_maxrss) / 1024
}

/// The exponential preconditioner's band factor on a periodic bcc cube of `cells`³ cells (no
/// LAMMPS): its half-width and memory against N, for the memory budget of large systems.
func preconditionerBandBenchmark(cells: [Int]) throws {
    print("exponential preconditioner on periodic bcc cubes: atoms, band half-width, factor MB, build s")
    for n in cells {
        let a = 3.1805
        var positions: [Double] = []
        for x in 0..<n { for y in 0..<n { for z in 0..<n {
            positions += [Double(x) * a, Double(y) * a, Double(z) * a, (Double(x) + 0.5) * a, (Double(y) + 0.5) * a, (Double(z) + 0.5) * a]
        } } }
        let count = positions.count / 3
        let length = Double(n) * a
        let crystal = Structure(box: Box(low: [0, 0, 0], high: [length, length, length]), positions: positions,
                                images: [Int32](repeating: 0, count: 3 * count), types: [Int32](repeating: 1, count: count),
                                masses: [183.84])
        let dofs = DegreesOfFreedom(mobile: [Bool](repeating: true, count: 3 * count), translationAxes: [0, 1, 2])
        var p: ExponentialPreconditioner?
        let time = try seconds { p = try ExponentialPreconditioner(minimum: crystal, degreesOfFreedom: dofs) }
        print(String(format: "  %6d  %5d  %8.1f  %5.1f  %@", count, p!.bandwidth, Double(count * (p!.bandwidth + 1) * 8) / 1e6, time,
                     p!.inverse))
    }
}
