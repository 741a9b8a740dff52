import Atomistics

extension ForceProvider {
    /// Relaxes with the minimizer `settings.minStyle` names: LAMMPS's own `minimize` styles run
    /// inside the provider (`minimize`), the preconditioned L-BFGS here in the engine. Every
    /// relaxation a command or campaign makes goes through this one choice.
    public func relaxation(_ settings: RelaxationSettings, label: String = "relax",
                           progress: (String) -> Void = { _ in }) throws -> RelaxationResult {
        try relaxationKeepingScales(settings, label: label, progress: progress).result
    }

    /// The same, starting from what an earlier precon-lbfgs relaxation measured (`reusing`, when
    /// it applies: a warm start near that relaxation's minimum), and returning what this one
    /// measured (nil for LAMMPS's minimizers, which keep nothing).
    public func relaxationKeepingScales(_ settings: RelaxationSettings, label: String = "relax",
                                        reusing: PreconditionedLBFGS.Reuse? = nil, progress: (String) -> Void = { _ in })
        throws -> (result: RelaxationResult, reuse: PreconditionedLBFGS.Reuse?)
    {
        guard settings.minStyle.isLAMMPS else {
            let (result, reuse) = try PreconditionedLBFGS(settings: settings, reusing: reusing)
                .relaxKeepingScales(self, label: label, progress: progress)
            return (result, reuse)
        }
        return (try minimize(settings, label: label, progress: progress), nil)
    }
}
