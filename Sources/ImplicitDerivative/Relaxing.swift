import Atomistics

extension ForceProvider {
    /// Relaxes with the minimizer `settings.minStyle` names: LAMMPS's own `minimize` styles run
    /// inside the provider (`minimize`), the preconditioned L-BFGS here in the engine. Every
    /// relaxation a command or campaign makes goes through this one choice.
    public func relaxation(_ settings: RelaxationSettings, label: String = "relax",
                           progress: (String) -> Void = { _ in }) throws -> RelaxationResult {
        guard settings.minStyle.isLAMMPS else {
            return try PreconditionedLBFGS(settings: settings).relax(self, label: label, progress: progress)
        }
        return try minimize(settings, label: label, progress: progress)
    }
}
