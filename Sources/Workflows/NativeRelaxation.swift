import Atomistics
import ImplicitDerivative

extension Simulation {
    /// A relaxation with the minimizer `settings` names, and the commands with which the native
    /// `lmp` repeats it (LAMMPS's styles: exactly the commands sent; the engine's minimizer:
    /// LAMMPS's CG to the same minimum, `RelaxationSettings.nativeCommands`). The `relax` command
    /// and fit's replay script both write these.
    public func relaxationWithReplay(_ settings: RelaxationSettings, label: String = "relax",
                                     progress: (String) -> Void = { _ in }) throws -> (result: RelaxationResult, commands: [String]) {
        guard settings.minStyle.isLAMMPS else {
            return (try relaxation(settings, label: label, progress: progress), settings.nativeCommands)
        }
        return try relax(settings, label: label, progress: progress)
    }
}
