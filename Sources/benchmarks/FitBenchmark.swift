import Atomistics
import Foundation
import LAMMPSLibrary
import ImplicitDerivative
import LinearAlgebra
import Potentials
import Workflows

/// The paper's Fig. 4 campaign per iteration: force evaluations and wall time of Algorithm 1 with
/// the adjoint gradient, against the paper's energy method at its published example settings
/// (FIRE, α0 = 0.5, ftol 1e-4, ≤ 500 steps per parameter; measured on a few columns and scaled
/// to all 55), and the loss after 5 and 20 iterations.
/// - `shared`: the paper's own structures and WX_milady potential from ../shared (1972 atoms).
/// - `generated`: out/dislocation from the README's `dislocation` command, X by alchemy (2028 atoms).
/// - `preconditioning`, `relaxEach`: the adjoint solves' preconditioner, and re-relaxing after every step.
/// - `fromTarget`: each relaxation also from the target's positions (`loop.relax_from_target`).
/// - `rule`: Algorithm 1 (steepest descent) or Gauss–Newton (which always re-relaxes).
func fitDislocationBenchmark(source: String, iterations: Int, energyColumns: Int, preconditioning: Preconditioning,
                             relaxEach: Bool, fromTarget: Bool = false, rule: FitSettings.Rule,
                             minStyle: MinimizerStyle = .cg, explore: Int = 0) throws {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("bench-fit-dislocation")
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    let (energy, target, label) = try dislocationSystem(source, folder: folder)
    print("fit-dislocation (\(label)): \(energy.atomCount) atoms, \(energy.parameterCount) parameters of X, \(iterations) iterations, "
          + "preconditioner \(preconditioning.rawValue), relax_each \(relaxEach), step \(rule.rawValue), relax_from_target \(fromTarget), "
          + "relaxations \(minStyle.rawValue), explore \(explore)")
    var settings = FitSettings()
    settings.iterations = iterations
    settings.tolerance = 1e-6
    settings.relaxEach = relaxEach || rule == .gaussNewton
    settings.rule = rule
    settings.relaxFromTarget = fromTarget
    settings.minStyle = minStyle
    settings.explore = explore
    let fit = try FitCampaign(systems: [FitSystem(name: "dislocation", energy: energy, target: .structure(target))],
                              settings: settings, method: SparseMethod(preconditioning: preconditioning))
    let progress: (String) -> Void = { FileHandle.standardError.write(Data(($0 + "\n").utf8)) }
    var state = try fit.initialState(key: "benchmark", progress: progress)
    print(String(format: "  start: true loss %.6g Å², relaxation %d evaluations, %.1f s", state.history[0].lossRelaxed!,
                 state.history[0].forceEvaluations, state.history[0].seconds))

    // The energy method's ∇Θ X* at the start, as the paper's example runs it, on a few columns.
    var perColumn = Double.nan
    if energyColumns > 0 {
    try energy.setTheta(state.theta)
    try energy.simulation.restore(state.structures["dislocation"]!)
    try energy.simulation.evaluate()
    let hessian = try Hessian(system: energy.simulation)
    let columns = try energy.mixedHessian().selecting(columns: Array(0..<energyColumns))
    var paper = EnergyMethod(minStyle: .fire, alpha0: 0.5)
    paper.ftol = 1e-4
    paper.maxIterations = 500
    var derivative: PositionDerivative?
    let energySeconds = try seconds {
        derivative = try paper.positionDerivative(energy, hessian: hessian, mixedHessian: columns, progress: progress)
    }
    perColumn = Double(derivative!.forceEvaluations) / Double(energyColumns)
    print(String(format: "  energy method (FIRE, α0 0.5, ftol 1e-4, ≤500 steps): %.0f evaluations and %.1f s per parameter "
                 + "(%d columns, residuals %@) → %.0f evaluations, %.0f s per iteration for %d parameters",
                 perColumn, energySeconds / Double(energyColumns), energyColumns,
                 derivative!.residuals.map { String(format: "%.1e", $0) }.joined(separator: " "),
                 perColumn * Double(energy.parameterCount), energySeconds / Double(energyColumns) * Double(energy.parameterCount),
                 energy.parameterCount))
    }

    print("  iteration  loss_predicted  loss_relaxed  step        max_disp_Å  evaluations  seconds  damping  rejected")
    while !state.done {
        state = try fit.step(state, progress: progress)
        let row = state.history.last!
        print(String(format: "  %9d  %14.6g  %12.6g  %10.4g  %10.4g  %11d  %7.1f  %7.2g  %8d", row.iteration, row.lossPredicted,
                     row.lossRelaxed ?? .nan, row.step,
                     row.maxDisplacement, row.forceEvaluations, row.seconds, row.damping ?? .nan, row.rejections ?? 0))
    }
    let steps = state.history.dropFirst()
    let meanEvaluations = Double(steps.reduce(0) { $0 + $1.forceEvaluations }) / Double(max(steps.count, 1))
    let meanSeconds = steps.reduce(0) { $0 + $1.seconds } / Double(max(steps.count, 1))
    let (final, _, _) = try fit.finish(state, progress: progress)
    let afterFive = state.history.count > 5 ? state.history[5] : state.history.last!
    print(String(format: "  \(rule == .gaussNewton ? "Gauss–Newton" : "adjoint Algorithm 1"): %.0f evaluations, %.1f s per iteration (%.0f× fewer evaluations than the energy method); "
                 + "loss %.4g → %.4g (true %.4g) after 5, %.4g (true %.4g) after %d (predicted), true %.4g after the final relaxation",
                 meanEvaluations, meanSeconds, perColumn * Double(energy.parameterCount) / meanEvaluations,
                 state.history[0].lossRelaxed!, afterFive.lossPredicted, afterFive.lossRelaxed ?? .nan,
                 state.history.last!.lossPredicted, state.history.last!.lossRelaxed ?? .nan, state.history.count - 1,
                 final.lossRelaxed!))
}

/// The dislocation system, its target positions and a label.
/// The shared reference data (the paper's dislocation, WX_milady), when present beside the checkout.
let sharedData = root.deletingLastPathComponent().appendingPathComponent("shared/reference-data")

/// The paper's easy-core dislocation with WX_milady and its held outer shell, as an input written
/// to `folder`; nil when ../shared is not present.
func paperDislocationInput(folder: URL) throws -> URL? {
    guard FileManager.default.fileExists(atPath: sharedData.appendingPathComponent("dislo_sub_easy_core.lammps-data").path) else {
        return nil
    }
    let input = folder.appendingPathComponent("paper.lammps")
    try """
        units metal
        boundary f f p
        atom_style atomic
        read_data \(sharedData.path)/dislo_sub_easy_core.lammps-data
        mass * 183.84
        pair_style snap
        pair_coeff * * \(sharedData.path)/WX_milady.snapcoeff \(sharedData.path)/WX_milady.snapparam W X
        region fixed_cyl cylinder z 70.2259 72.0799 49.9 0.0 2.7587 units box side out
        group held region fixed_cyl
        fix hold held setforce 0.0 0.0 0.0
        """.write(to: input, atomically: true, encoding: .utf8)
    return input
}

func dislocationSystem(_ source: String, folder: URL) throws -> (SNAPEnergy, [Double], String) {
    if source == "shared" {
        guard let input = try paperDislocationInput(folder: folder) else {
            throw InputError.invalid("../shared/reference-data is not present: run `benchmarks fit-dislocation generated`")
        }
        let data = sharedData
        let simulation = try Simulation(input: input.path, logFile: folder.appendingPathComponent("log.lammps"))
        try simulation.keepAtomOrder()
        let energy = try SNAPEnergy(simulation: simulation, varyingElements: ["X"])
        let target = try TargetStructure(contentsOf: data.appendingPathComponent("dislo_sub_hard_core.lammps-data"))
        return (energy, target.positions, "the paper's structures and WX_milady")
    }
    let generated = root.appendingPathComponent("out/dislocation")
    guard FileManager.default.fileExists(atPath: generated.appendingPathComponent("dislocation.lammps").path) else {
        throw InputError.invalid("out/dislocation is missing: make it with the README's `implicit-lammps dislocation` command")
    }
    let simulation = try Simulation(input: generated.appendingPathComponent("dislocation.lammps").path,
                                    logFile: folder.appendingPathComponent("log.lammps"), extraAtomTypes: 1)
    try simulation.keepAtomOrder()
    let (energy, _) = try AlchemicalSubstitution(element: "X", atoms: .group("core"))
        .apply(to: simulation, scratch: folder.appendingPathComponent("alchemy"))
    let target = try TargetStructure(contentsOf: generated.appendingPathComponent("hard.lammps-data"))
    return (energy, target.positions, "generated, shipped W SNAP with an alchemical X")
}
