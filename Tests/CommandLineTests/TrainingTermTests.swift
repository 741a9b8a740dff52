import Atomistics
import Foundation
import LinearAlgebra
import Potentials
import Workflows
import XCTest

/// The training term for linear SNAP against real LAMMPS, on the two groups of the W–Be training
/// set shipped in inputs/WBe_PRB2019: its errors are `evaluate`'s, its linear model is exact for a
/// changed potential that LAMMPS evaluates anew, and its Newton step is the least-squares fit.
final class TrainingTermTests: XCTestCase {
    static let folder = Toolbox.root.appendingPathComponent("inputs/WBe_PRB2019")
    static let snapcoeff = folder.appendingPathComponent("WBe_pot.snapcoeff")
    static let snapparam = folder.appendingPathComponent("WBe_pot.snapparam")
    static let reference = EvaluateReference.zbl(inner: 4.0, outer: 4.8)
    static func datasets(_ groups: [String]) -> [String] { groups.map { folder.appendingPathComponent("JSON/\($0)").path } }
    static let bothGroups = datasets(["BCC_ForceLib_W111", "Divacancy"])

    /// Both groups with the published group weights, W and Be varied: reduced once for the tests that read it.
    nonisolated(unsafe) private static var shared: TrainingTerm?
    private func bothGroupsTerm() throws -> TrainingTerm {
        if let term = Self.shared { return term }
        let started = Date()
        let term = try TrainingTermReduction(
            snapcoeff: Self.snapcoeff, snapparam: Self.snapparam, reference: Self.reference, datasets: Self.bothGroups,
            groupWeights: try GroupWeights(contentsOf: Self.folder.appendingPathComponent("groups.csv")), weight: 2).reduce()
        print(String(format: "training term: both groups reduced in %.1f s", Date().timeIntervalSince(started)))
        Self.shared = term
        return term
    }

    /// group → (energy RMSE, force RMSE) of an `evaluate` run in process.
    private func evaluate(snapcoeff: URL) throws -> [String: (energy: Double, force: Double)] {
        let run = EvaluateRun(snapcoeff: snapcoeff, snapparam: Self.snapparam, reference: Self.reference, datasets: Self.bothGroups)
        let metrics = try run.run(in: try RunDirectory("/nonexistent", overwrite: false, writes: false))
        var result: [String: (energy: Double, force: Double)] = [:]
        for row in metrics.rows {
            var entry = result[row.group] ?? (0, 0)
            if row.quantity == "energy" { entry.energy = row.rmse } else { entry.force = row.rmse }
            result[row.group] = entry
        }
        return result
    }

    private func assertErrors(_ term: TrainingTerm, at theta: [Double], equal truth: [String: (energy: Double, force: Double)],
                              relative: Double, line: UInt = #line) throws {
        let errors = term.errors(theta)
        XCTAssertEqual(Set(errors.map(\.group)), Set(truth.keys), line: line)
        for error in errors {
            let expected = try XCTUnwrap(truth[error.group], line: line)
            XCTAssertEqual(error.energyRMSE, expected.energy, accuracy: relative * expected.energy, "\(error.group) energy", line: line)
            XCTAssertEqual(error.forceRMSE, expected.force, accuracy: relative * expected.force, "\(error.group) force", line: line)
            print(String(format: "  %@: energy %.3e relative, force %.3e relative", error.group,
                         abs(error.energyRMSE / expected.energy - 1), abs(error.forceRMSE / expected.force - 1)))
        }
    }

    func testErrorsAtTheStartAreEvaluates() throws {
        let term = try bothGroupsTerm()
        XCTAssertEqual(term.groups.map(\.name), ["BCC_ForceLib_W111", "Divacancy"])
        XCTAssertEqual(term.groups.map(\.configurations), [3, 39])
        XCTAssertEqual(term.groups.map(\.force.rows), [3 * 3 * 129, 39 * 3 * 52])
        XCTAssertEqual(term.groups[1].energyWeight, 0.0269003754)
        XCTAssertEqual(term.groups[1].forceWeight, 0.2379420856)
        XCTAssertEqual(term.parameterNames.count, 2 * 55)
        XCTAssertEqual(term.parameterNames.first, "W:1")
        XCTAssertEqual(term.parameterNames.last, "Be:55")
        try assertErrors(term, at: term.theta0, equal: try evaluate(snapcoeff: Self.snapcoeff), relative: 1e-10)
    }

    /// Θ1 = Θ0 + a random change of 1 % of each W coefficient: LAMMPS evaluating the potential
    /// written with Θ1 is the independent truth for the linear model (which also fixes the sign of
    /// compute snap's force columns: the other sign moves the errors far beyond the tolerance).
    func testLinearModelIsExactForAChangedPotential() throws {
        let term = try bothGroupsTerm()
        var random = SplitMix64(seed: 2019)
        var theta1 = term.theta0
        for (index, name) in term.parameterNames.enumerated() where name.hasPrefix("W:") {
            theta1[index] += 0.01 * abs(theta1[index]) * random.nextSign()
        }
        let potential = try SNAPPotential(coefficientFile: Self.snapcoeff, parameterFile: Self.snapparam, typeElements: ["W", "Be"])
        let changed = try Toolbox.temporaryDirectory(self).appendingPathComponent("changed.snapcoeff")
        try potential.with(theta: theta1).write(to: changed)
        let truth = try evaluate(snapcoeff: changed)
        let before = term.errors(term.theta0)[1]
        print(String(format: "training term: Divacancy RMSE energy %.6g → %.6g eV/atom, force %.6g → %.6g eV/Å", before.energyRMSE,
                     truth["Divacancy"]!.energy, before.forceRMSE, truth["Divacancy"]!.force))
        XCTAssertGreaterThan(abs(truth["Divacancy"]!.force / before.forceRMSE - 1), 1e-3, "a visible change")
        try assertErrors(term, at: theta1, equal: truth, relative: 1e-8)
    }

    /// One Newton step with the exact Hessian and gradient lands on the least-squares fit of the
    /// explicitly stacked weighted rows, solved independently by an SVD.
    func testNewtonStepIsTheLeastSquaresFit() throws {
        var rows: [[Double]] = [], residuals: [Double] = []
        let weights = try GroupWeights(contentsOf: Self.folder.appendingPathComponent("groups.csv")).weights(of: "Divacancy")
        let term = try TrainingTermReduction(
            snapcoeff: Self.snapcoeff, snapparam: Self.snapparam, varyingElements: ["W"], reference: Self.reference,
            datasets: Self.datasets(["Divacancy"]), groupWeights: GroupWeights(file: "test", groups: ["Divacancy": weights]),
            weight: 3
        ).reduce { configuration in
            for (a, r0, w) in [(configuration.energy, configuration.energyResiduals, weights.energy),
                               (configuration.force, configuration.forceResiduals, weights.force)] {
                rows += (0..<a.rows).map { i in (0..<a.columns).map { w * a[i, $0] } }
                residuals += r0.map { w * $0 }
            }
        }
        let newton = try LAPACK.solveSymmetric(term.hessian(), Matrix(rows: term.theta0.count, columns: 1,
                                                                       storage: term.gradient(term.theta0).map { -$0 }))
        let (fit, rank, singular) = try LAPACK.leastSquares(Matrix(rows: rows), Matrix(rows: residuals.count, columns: 1,
                                                                                       storage: residuals.map { -$0 }))
        XCTAssertEqual(rank, term.theta0.count)
        let thetaNewton = add(term.theta0, newton.storage), thetaFit = add(term.theta0, fit.storage)
        let difference = norm(zip(thetaNewton, thetaFit).map { $0 - $1 })
        print(String(format: "training term: ‖Θ_Newton − Θ_lstsq‖/‖Θ_lstsq‖ = %.2e, ‖δΘ‖/‖Θ0‖ = %.2e, condition of the rows %.2e",
                     difference / norm(thetaFit), norm(fit.storage) / norm(term.theta0), singular.first! / singular.last!))
        XCTAssertLessThan(difference, 1e-8 * norm(thetaFit))
        // The fit is the minimum: the loss there is half the weighted residual sum of squares, and its gradient vanishes.
        let minimum = 0.5 * 3 * zip(Matrix(rows: rows).multiplied(by: fit).storage, residuals).reduce(0) { $0 + ($1.0 + $1.1) * ($1.0 + $1.1) }
        XCTAssertEqual(term.loss(thetaFit), minimum, accuracy: 1e-9 * minimum)
        XCTAssertLessThan(term.loss(thetaFit), term.loss(term.theta0))
    }

    /// Quadratic SNAP: WBe_pot with small seeded quadratic coefficients added (55 + 1 540 per
    /// element, as FitSNAP writes a quadratic SNAP). LAMMPS's pair snap is the truth: the training
    /// term's errors are `evaluate`'s at Θ0 and at a Θ1 that changes linear and quadratic parts.
    func testQuadraticSNAPTermIsEvaluates() throws {
        try checkAgainstEvaluate(flag: "quadraticflag", count: 1595, changed: [0, 10, 54, 55, 56, 700, 1594]) { linear in
            var random = SplitMix64(seed: 7)
            return linear + (0..<1540).map { _ in 1e-3 * random.nextSign() }
        }
    }

    /// Explicit multi-element SNAP: WBe_pot's descriptors made chemflag (bnormflag 1: 55·2³ = 440
    /// per element), each element's block its linear coefficients repeated over the element
    /// triples and scaled by 1/8 ± 10 %, written with tied coefficients equal.
    func testChemflagSNAPTermIsEvaluates() throws {
        try checkAgainstEvaluate(flag: "chemflag", extra: "bnormflag 1\n", count: 440, changed: [0, 10, 54, 100, 300, 439]) { linear in
            var random = SplitMix64(seed: 11)
            return (0..<8).flatMap { _ in linear.map { $0 / 8 * (1 + 0.1 * random.nextSign()) } }
        }
    }

    /// WBe_pot with `flag` set to 1 and each element's coefficients after beta0 made by `extend`;
    /// W varied. The term's errors against `evaluate` at Θ0 and after changing `changed`.
    private func checkAgainstEvaluate(flag: String, extra: String = "", count: Int, changed indices: [Int],
                                      extend: ([Double]) -> [Double], line: UInt = #line) throws {
        let directory = try Toolbox.temporaryDirectory(self)
        let snapparam = directory.appendingPathComponent("\(flag).snapparam")
        try (String(contentsOf: Self.snapparam, encoding: .utf8).replacingOccurrences(of: "\(flag) 0", with: "\(flag) 1") + extra)
            .write(to: snapparam, atomically: true, encoding: .utf8)
        var coefficients = try SNAPCoefficients(contentsOf: Self.snapcoeff)
        for element in coefficients.elements.indices {
            let values = coefficients.elements[element].coefficients
            coefficients.elements[element].coefficients = [values[0]] + extend(Array(values.dropFirst()))
        }
        // Tied as FitSNAP writes them (chemflag), through the potential's own writer.
        let untied = directory.appendingPathComponent("untied.snapcoeff")
        try coefficients.write(to: untied)
        let written = try SNAPPotential(coefficientFile: untied, parameterFile: snapparam, typeElements: ["W", "Be"])
        let snapcoeff = directory.appendingPathComponent("\(flag).snapcoeff")
        try written.with(theta: written.theta).write(to: snapcoeff)
        let datasets = Self.datasets(["BCC_ForceLib_W111"])
        let term = try TrainingTermReduction(snapcoeff: snapcoeff, snapparam: snapparam, varyingElements: ["W"],
                                             reference: Self.reference, datasets: datasets).reduce()
        XCTAssertEqual(term.parameterNames.count, count, line: line)
        func evaluate(_ file: URL) throws -> [String: (energy: Double, force: Double)] {
            let run = EvaluateRun(snapcoeff: file, snapparam: snapparam, reference: Self.reference, datasets: datasets)
            let rows = try run.run(in: try RunDirectory("/nonexistent", overwrite: false, writes: false)).rows
            return Dictionary(grouping: rows, by: \.group).mapValues { rows in
                (rows.first { $0.quantity == "energy" }!.rmse, rows.first { $0.quantity == "force" }!.rmse)
            }
        }
        try assertErrors(term, at: term.theta0, equal: try evaluate(snapcoeff), relative: 1e-10, line: line)
        var random = SplitMix64(seed: 3)
        var theta1 = term.theta0
        for index in indices { theta1[index] += 2e-3 * random.nextSign() }
        let potential = try SNAPPotential(coefficientFile: snapcoeff, parameterFile: snapparam, typeElements: ["W", "Be"],
                                          varyingElements: ["W"])
        theta1 = potential.tyingIdenticalDescriptors(theta1)
        let file = directory.appendingPathComponent("changed.snapcoeff")
        try potential.with(theta: theta1).write(to: file)
        let truth = try evaluate(file)
        XCTAssertEqual(term.errors(term.theta0)[0].group, "BCC_ForceLib_W111", line: line)
        XCTAssertGreaterThan(abs(truth["BCC_ForceLib_W111"]!.force / term.errors(term.theta0)[0].forceRMSE - 1), 1e-4,
                             "a visible change", line: line)
        try assertErrors(term, at: theta1, equal: truth, relative: 1e-8, line: line)
    }

    /// Refusals come before LAMMPS starts: a quadratic `.snapparam` with a linear coefficient file
    /// (the count does not match), and a group table that lacks a group of the data.
    func testMismatchedQuadraticFileAndUnweightedGroupsRefused() throws {
        let directory = try Toolbox.temporaryDirectory(self)
        let quadratic = directory.appendingPathComponent("quadratic.snapparam")
        try String(contentsOf: Self.snapparam, encoding: .utf8).replacingOccurrences(of: "quadraticflag 0", with: "quadraticflag 1")
            .write(to: quadratic, atomically: true, encoding: .utf8)
        let datasets = Self.datasets(["BCC_ForceLib_W111"])
        XCTAssertThrowsError(try TrainingTermReduction(snapcoeff: Self.snapcoeff, snapparam: quadratic, reference: Self.reference,
                                                       datasets: datasets).reduce()) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains(Self.snapcoeff.path) && text.contains("twojmax 8, quadraticflag 1 in quadratic.snapparam give 1595 descriptors")
, text)
        }
        let table = directory.appendingPathComponent("groups.csv")
        try "group,energy_weight,force_weight\nDivacancy,1,1\n".write(to: table, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try TrainingTermReduction(snapcoeff: Self.snapcoeff, snapparam: Self.snapparam, reference: Self.reference,
                                                       datasets: datasets, groupWeights: try GroupWeights(contentsOf: table)).reduce()) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains(table.path) && text.contains("BCC_ForceLib_W111"), text)
        }
    }
}

/// A small seeded generator (SplitMix64), so that the random change is the same on every run.
struct SplitMix64 {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE5_E4B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    /// +1 or −1, scaled by a uniform number in [0.5, 1): a change of random direction and visible size.
    mutating func nextSign() -> Double {
        let u = Double(next() >> 11) / Double(1 << 53)
        return (next() & 1 == 0 ? 1 : -1) * (0.5 + 0.5 * u)
    }
}
