import Atomistics
import ImplicitDerivative
import ReferenceModel
import XCTest

/// Refusals name settings; whoever reports them spells them.
final class DerivativeErrorTests: XCTestCase {
    func testSettingsAreSpelledByTheCaller() {
        let advice: SettingMessage = "lower \(setting: .tolerance) or try \(setting: .method("dense"))"
        let error = DerivativeError.inaccurate("residual \(1e-2). \(advice)")
        XCTAssertEqual(error.description, "inaccurate derivative: residual 0.01. lower tolerance or try method dense")
        let flags = error.description(spelling: { setting in
            switch setting {
            case .method(let value): return "--method \(value)"
            default: return "--" + setting.name
            }
        })
        XCTAssertEqual(flags, "inaccurate derivative: residual 0.01. lower --tolerance or try --method dense")
    }

    func testASaddleIsRefusedNamingTheSettingThatAllowsIt() throws {
        let crystal = MorseCrystal.fcc(vacancies: [], pair: MorsePair(depth: 0.5, alpha: 2, r0: 2.0))
        let hessian = try Hessian(system: crystal)
        XCTAssertThrowsError(try MinimumCheck.verify(hessian, relaxation: nil, checks: DerivativeChecks())) { error in
            let text = (error as! DerivativeError).description(spelling: { "<\($0.name)>" })
            XCTAssertTrue(text.hasPrefix("not a minimum: X* is a saddle point"), text)
            XCTAssertTrue(text.contains("<allow_non_minimum> differentiates the stationary point anyway"), text)
        }
    }
}
