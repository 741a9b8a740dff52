/// A finite difference in one parameter: central, f′ ≈ (f(h) − f(−h)) / 2h; or, at a parameter
/// that is 0 (often a bound, such as SW's q, which LAMMPS refuses negative), the second-order
/// forward formula f′ ≈ (−3 f(0) + 4 f(h) − f(2h)) / 2h, which never steps below zero.
public struct DifferenceStencil: Sendable {
    /// Where to evaluate, relative to the parameter's value.
    public let offsets: [Double]
    private let weights: [Double]

    /// The stencil for a parameter whose current value is `value` (one-sided when it is 0).
    public init(value: Double, step h: Double) { self.init(step: h, oneSided: value == 0) }

    public init(step h: Double, oneSided: Bool) {
        if oneSided {
            offsets = [0, h, 2 * h]
            weights = [-3 / (2 * h), 4 / (2 * h), -1 / (2 * h)]
        } else {
            offsets = [h, -h]
            weights = [1 / (2 * h), -1 / (2 * h)]
        }
    }

    /// The derivative, element by element, of values measured at `offsets` (one array per offset).
    public func derivative(_ values: [[Double]]) -> [Double] {
        precondition(values.count == offsets.count)
        var result = [Double](repeating: 0, count: values[0].count)
        for (weight, value) in zip(weights, values) {
            for i in result.indices { result[i] += weight * value[i] }
        }
        return result
    }
}
