import Foundation

extension ForceProvider {
    /// Runs `body` with the structure as it is now (so that it need not gather it again), which
    /// may move the atoms or deform the cell, then puts the structure back as it was, whether `body` returns or throws; with `reevaluating`, also evaluates there again,
    /// so that energy, forces and virial are those of the restored structure (LAMMPS keeps the
    /// last evaluation's, which would be the moved structure's). The one save-and-restore of the
    /// system's configuration: finite differences, Hessian products and strained evaluations all
    /// leave the system where they found it through it.
    public func preservingConfiguration<T>(reevaluating: Bool = false, _ body: (Structure) throws -> T) throws -> T {
        let saved = try structure()
        let result: T
        do { result = try body(saved) } catch {
            // The original error says what went wrong; a failure to restore after it says less.
            try? restore(saved)
            if reevaluating { try? evaluate() }
            throw error
        }
        try restore(saved)
        if reevaluating { try evaluate() }
        return result
    }
}
