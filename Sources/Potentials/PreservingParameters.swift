import Atomistics

extension ParameterDerivatives {
    /// `preservingConfiguration` that also puts Θ back: runs `body` (given the structure as it is
    /// now), which may change the
    /// parameters and move the system, then restores Θ and, with it in place, the structure (and
    /// evaluates there again, with `reevaluating`), whether `body` returns or throws. Finite
    /// differences in Θ and mixed Hessian products leave the potential as they found it through it.
    public func preservingParameters<T>(reevaluating: Bool = false, _ body: (Structure) throws -> T) throws -> T {
        let reference = theta
        return try forceProvider.preservingConfiguration(reevaluating: reevaluating) { saved in
            let result: T
            do { result = try body(saved) } catch {
                try? setTheta(reference)
                throw error
            }
            try setTheta(reference)
            return result
        }
    }
}
