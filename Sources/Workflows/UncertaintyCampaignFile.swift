import Atomistics
import Foundation
import ImplicitDerivative
import LAMMPSLibrary
import LinearAlgebra
import Potentials

/// An uncertainty campaign as a YAML file (every key in the README). Paths are relative to the
/// file; everything that can be checked without LAMMPS is checked before any LAMMPS work.
struct UncertaintyCampaignFile: CampaignFileSchema {
    struct Draws: Decodable {
        var count: Int
        var seed: UInt64?
        /// N_D × N_D text or .npy file.
        var covariance: String?
        /// Instead of a covariance: independent parameters with standard deviation r·|Θ̄_l|.
        var relativeSD: Double?
        enum CodingKeys: String, CodingKey { case count, seed, covariance, relativeSD = "relative_sd" }
    }
    struct Ensemble: Decodable {
        var samples: String?
        var draws: Draws?
        /// Θ̄ (text or .npy, N_D numbers): default the reference potential's Θ.
        var mean: String?
        var lambdas: [Double]?
    }
    /// A generated crystal: the bulk cell and the same cell with a vacancy.
    struct Crystal: Decodable {
        var lattice: String
        var a0: Double
        var cells: Int
        var box: String?
        var species: String?
        var zbl: [Double]?
    }
    struct SystemEntry: Decodable {
        var name: String
        var input: String
        var box: String?
        var lammpsArgs: [String]?
        var checkElastic: Bool?
        enum CodingKeys: String, CodingKey { case name, input, box, lammpsArgs = "lammps_args", checkElastic = "check_elastic" }
    }
    struct Quantity: Decodable {
        var name: String
        var unit: String?
        var energy: [String: Double]?
        var volume: [String: Double]?
    }

    var potential: PotentialFilesSection?
    var vary: VarySection?
    var ensemble: Ensemble
    /// `vacancy_formation` (built in), or nil with `quantities`.
    var quantity: String?
    var quantities: [Quantity]?
    var system: Crystal?
    var systems: [SystemEntry]?
    /// none, all, or a number of samples (evenly spread over the rows), or a list of rows.
    var truth: TruthSelection?
    var indicator: Bool?
    var derivative: DerivativeSection?
    var relax: RelaxSection?

    var url = URL(fileURLWithPath: "/")
    var text = ""

    enum CodingKeys: String, CodingKey {
        case potential, vary, ensemble, quantity, quantities, system, systems, truth, indicator, derivative, relax
    }

    static let schema: [String: Set<String>] = [
        "": ["potential", "vary", "ensemble", "quantity", "quantities", "system", "systems", "truth", "indicator",
             "derivative", "relax"],
        "potential": PotentialFilesSection.keys,
        "vary": VarySection.keys,
        "ensemble": ["samples", "draws", "mean", "lambdas"],
        "ensemble.draws": ["count", "seed", "covariance", "relative_sd"],
        "system": ["lattice", "a0", "cells", "box", "species", "zbl"],
        "systems[]": ["name", "input", "box", "lammps_args", "check_elastic"],
        "quantities[]": ["name", "unit", "energy", "volume"],
        "derivative": DerivativeSection.keys,
        "relax": RelaxSection.keys,
    ]

    /// Which ensemble rows are truly relaxed.
    enum TruthSelection: Decodable {
        case none, all
        case count(Int)
        case rows([Int])

        init(from decoder: Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let count = try? container.decode(Int.self) { self = .count(count); return }
            if let rows = try? container.decode([Int].self) { self = .rows(rows); return }
            switch try container.decode(String.self) {
            case "none": self = .none
            case "all": self = .all
            case let other:
                throw DecodingError.dataCorruptedError(in: container, debugDescription: "is none, all, a number or a list of rows, not '\(other)'")
            }
        }

        func rows(of count: Int) -> [Int] {
            switch self {
            case .none: return []
            case .all: return Array(0..<count)
            case .count(let n): return n <= 0 ? [] : (0..<min(n, count)).map { $0 * count / min(n, count) }
            case .rows(let rows): return rows
            }
        }
    }

    static let what = "an uncertainty campaign is a mapping of keys (potential, vary, ensemble, quantity, …)"

    /// What identifies the campaign for --resume: the file, every file it names, the LAMMPS arguments.
    func key(lammpsArguments: [String]) -> String {
        let named = (systems ?? []).map(\.input)
            + [potential?.snapcoeff, potential?.snapparam, ensemble.samples, ensemble.mean, ensemble.draws?.covariance].compactMap { $0 }
        return YAMLConfig.key(text: text, lammpsArguments: lammpsArguments, files: named.map(resolve))
    }

    private func cell(_ name: String?, key: String) throws -> CellRelaxation {
        // uq's own default (README): cells relax isotropically unless a box is given.
        try CellRelaxation.named(name, fallback: .iso, file: url.path, key: key)
    }

    func validate() throws {
        let file = url.path
        guard (system == nil) != (systems == nil) else {
            throw CampaignFileError(file: file, key: "systems",
                                    reason: "give either 'system' (a generated crystal and its vacancy) or 'systems' (inputs)")
        }
        guard (ensemble.samples == nil) != (ensemble.draws == nil) else {
            throw CampaignFileError(file: file, key: "ensemble", reason: "'ensemble' takes either samples (a file) or draws")
        }
        if let draws = ensemble.draws {
            guard draws.count > 0 else { throw CampaignFileError(file: file, key: "ensemble.draws.count",
                                                                 reason: "ensemble.draws.count must be positive") }
            guard (draws.covariance == nil) != (draws.relativeSD == nil) else {
                throw CampaignFileError(file: file, key: "ensemble.draws",
                                        reason: "ensemble.draws takes either covariance (a file) or relative_sd")
            }
            if let sd = draws.relativeSD, !(sd > 0 && sd.isFinite) {
                throw CampaignFileError(file: file, key: "ensemble.draws.relative_sd", value: "\(sd)",
                                        reason: "ensemble.draws.relative_sd must be positive, got \(sd)")
            }
        }
        if let lambdas = ensemble.lambdas, lambdas.isEmpty || !lambdas.allSatisfy(\.isFinite) {
            throw CampaignFileError(file: file, key: "ensemble.lambdas",
                                    reason: "ensemble.lambdas must be a non-empty list of numbers")
        }
        for (key, path) in [("ensemble.samples", ensemble.samples), ("ensemble.mean", ensemble.mean),
                            ("ensemble.draws.covariance", ensemble.draws?.covariance),
                            ("potential.snapcoeff", potential?.snapcoeff), ("potential.snapparam", potential?.snapparam)] {
            if let path, !FileManager.default.fileExists(atPath: resolve(path).path) {
                throw CampaignFileError.fileNotFound(file: file, key: key, path: resolve(path).path)
            }
        }
        if let system {
            guard CrystalInput.Lattice(rawValue: system.lattice) != nil else {
                throw CampaignFileError(file: file, key: "system.lattice", value: "\(system.lattice)",
                                        reason: "system.lattice is bcc, fcc or hcp, got '\(system.lattice)'")
            }
            guard system.a0 > 0, system.cells > 0 else { throw CampaignFileError(file: file, key: "system.a0",
                                                                                 reason: "system.a0 and system.cells must be positive") }
            guard potential?.snapcoeff != nil, potential?.snapparam != nil else {
                throw CampaignFileError(file: file, key: "potential",
                                        reason: "a generated system needs potential.snapcoeff and potential.snapparam")
            }
            if let zbl = system.zbl, zbl.count != 2 { throw CampaignFileError(file: file, key: "system.zbl",
                                                                              reason: "system.zbl is [inner, outer] (Å)") }
            _ = try cell(system.box, key: "system.box")
        }
        var names = Set<String>()
        for entry in systems ?? [] {
            guard names.insert(entry.name).inserted else { throw CampaignFileError(file: file, key: "systems[\(entry.name)].name", value: entry.name,
                                                                                reason: "two systems are named '\(entry.name)'") }
            guard FileManager.default.fileExists(atPath: resolve(entry.input).path) else {
                throw CampaignFileError(file: file, key: "systems[\(entry.name)].input",
                                        reason: "systems[\(entry.name)].input: file not found: \(resolve(entry.input).path)")
            }
            _ = try cell(entry.box, key: "systems[\(entry.name)].box")
        }
        if system != nil { names = ["bulk", "vacancy"] }
        guard (quantity == nil) != (quantities == nil) else {
            throw CampaignFileError(file: file, key: "quantities",
                                    reason: "give either 'quantity: vacancy_formation' or a list of 'quantities'")
        }
        if let quantity {
            guard quantity == "vacancy_formation" else {
                throw CampaignFileError(file: file, key: "quantity",
                                        reason: "quantity is vacancy_formation (built in); other quantities go in 'quantities'")
            }
            for name in ["bulk", "vacancy"] where !names.contains(name) {
                throw CampaignFileError(file: file, key: "quantity",
                                        reason: "quantity vacancy_formation needs systems named bulk and vacancy; '\(name)' is missing")
            }
        }
        var quantityNames = Set<String>()
        for (index, entry) in (quantities ?? []).enumerated() {
            guard entry.name.range(of: #"^[A-Za-z0-9_.+-]+$"#, options: .regularExpression) != nil else {
                throw CampaignFileError(file: file, key: "quantities[\(index)].name",
                                        reason: "quantities[\(index)].name '\(entry.name)' must be letters, digits, '_', '.', '+' or '-' (it names files)")
            }
            guard quantityNames.insert(entry.name).inserted else {
                throw CampaignFileError(file: file, key: "quantities[\(index)].name", value: entry.name,
                                        reason: "two quantities are named '\(entry.name)'")
            }
            guard !(entry.energy ?? [:]).isEmpty || !(entry.volume ?? [:]).isEmpty else {
                throw CampaignFileError(file: file, key: "quantities[\(index)]",
                                        reason: "quantities[\(index)] needs energy or volume coefficients")
            }
        }
        // A volume on a fixed cell is left to the campaign, refused once the ensemble has been read
        // (its refusals come first, as they always did).
        let problems = SystemOutline.problems(try outlines(), quantities: declaredQuantities, requireUse: false)
        if let problem = problems.first(where: { if case .fixedVolume = $0 { return false } else { return true } }) {
            throw fileError(problem)
        }
        if case .rows(let rows) = truth, let bad = rows.first(where: { $0 < 0 }) {
            throw CampaignFileError(file: file, key: "truth", reason: "truth lists row \(bad); rows are 0-based sample numbers")
        }
        _ = try (derivative ?? DerivativeSection()).method(file: file)
        if let ftol = relax?.ftol, !(ftol > 0 && ftol.isFinite) {
            throw CampaignFileError(file: file, key: "relax.ftol", value: "\(ftol)",
                                    reason: "relax.ftol must be positive, got \(ftol)")
        }
        _ = try relax?.style(file: file)
    }

    /// The systems as the checks shared with `UncertaintyCampaign` see them.
    private func outlines() throws -> [SystemOutline] {
        if let system {
            let cell = try cell(system.box, key: "system.box")
            return ["bulk", "vacancy"].map { SystemOutline(name: $0, cell: cell, target: .none) }
        }
        return try (systems ?? []).map {
            SystemOutline(name: $0.name, cell: try cell($0.box, key: "systems[\($0.name)].box"), target: .none)
        }
    }

    /// The quantities as the file gives them (the atoms of the bulk cell do not matter to the checks).
    private var declaredQuantities: [SystemQuantity] {
        if quantity != nil { return SystemQuantity.vacancyFormation(bulk: "bulk", vacancy: "vacancy", bulkAtoms: 2) }
        return (quantities ?? []).map { SystemQuantity(name: $0.name, unit: "", energy: $0.energy ?? [:], volume: $0.volume ?? [:]) }
    }

    /// A problem of the systems and quantities, naming the key of this file to change (the
    /// campaign's own wording: `CampaignError.uqOutline`).
    private func fileError(_ problem: OutlineProblem) -> CampaignFileError {
        switch problem {
        case .unknownSystem(let index, let key, let system):
            return CampaignFileError(file: url.path, key: "quantities[\(index)].\(key)", value: system,
                                     reason: "quantities[\(index)].\(key) names system '\(system)', which is not among the systems")
        case .fixedVolume(_, let system), .structureTargetCell(let system), .unused(let system):
            // Left to the campaign; uq systems have no targets and need no use: never found here.
            return CampaignFileError(file: url.path, key: "systems[\(system)]", reason: "\(problem)")
        }
    }

    /// The systems in LAMMPS, and their parametrized energies (the campaign computes through the
    /// engine's protocols; the runner writes the members' potential files with these).
    func buildSystems(run: RunDirectory, lammpsArguments: [String], partitions: Partitions?) throws
        -> (systems: [UncertaintySystem], potentials: [any ParametrizedEnergy])
    {
        var entries: [(name: String, input: URL, cell: CellRelaxation, arguments: [String], elastic: Bool)] = []
        if let system {
            let coefficients = resolve(potential!.snapcoeff!), parameters = resolve(potential!.snapparam!)
            let species = try system.species ?? SNAPCoefficients(contentsOf: coefficients).elements.first?.name ?? "W"
            for (name, vacancy) in [("bulk", false), ("vacancy", true)] {
                let crystal = try CrystalInput(
                    lattice: CrystalInput.Lattice(rawValue: system.lattice)!, latticeConstant: system.a0,
                    cells: [system.cells, system.cells, system.cells], vacancy: vacancy, species: [species], soluteFraction: 0,
                    seed: 1, coefficientFile: coefficients, parameterFile: parameters, zbl: system.zbl.map { ($0[0], $0[1]) })
                let url = run.url("\(name).lammps")
                try Files.write(try crystal.text, to: url)
                entries.append((name, url, try cell(system.box, key: "system.box"), [], !vacancy))
            }
        } else {
            for entry in systems! {
                entries.append((entry.name, resolve(entry.input), try cell(entry.box, key: "systems[\(entry.name)].box"),
                                entry.lammpsArgs ?? [], entry.checkElastic ?? false))
            }
        }
        let choice = try (vary ?? VarySection()).choice(potential: system == nil ? potential : nil, file: url.path, resolve: resolve)
        let built = try entries.map { entry in
            let simulation = try Simulation(input: entry.input.path, logFile: run.url("log.\(entry.name).lammps"),
                                            extraArguments: lammpsArguments + entry.arguments, partitions: partitions)
            try MPIEnvironment.check(lammpsSize: simulation.lammps.mpiSize * (partitions?.count ?? 1))
            try simulation.keepAtomOrder()
            let energy = try choice.energy(for: simulation, relativeStep: vary?.step, progress: progress)
            if let snap = energy as? SNAPEnergy { reportSNAPNotes(snap, files: "potential.snapcoeff/snapparam") }
            return (UncertaintySystem(name: entry.name, energy: energy, cell: entry.cell, checkElastic: entry.elastic),
                    energy)
        }
        return (built.map(\.0), built.map(\.1))
    }

    func quantityList(_ systems: [UncertaintySystem]) -> [SystemQuantity] {
        if quantity != nil {
            let bulk = systems.first { $0.name == "bulk" }!
            return SystemQuantity.vacancyFormation(bulk: "bulk", vacancy: "vacancy", bulkAtoms: bulk.energy.atomCount)
        }
        return (quantities ?? []).map { entry in
            SystemQuantity(name: entry.name, unit: entry.unit ?? "", energy: entry.energy ?? [:], volume: entry.volume ?? [:])
        }
    }

    /// The ensemble in the order of Θ of `reference` (whose Θ is Θ̄ unless ensemble.mean is given).
    func buildEnsemble(reference: any ParameterDerivatives) throws -> ParameterEnsemble {
        let width = reference.parameterCount
        var mean = reference.theta
        if let path = ensemble.mean {
            let rows = try ParameterEnsemble.readRows(resolve(path), width: width)
            guard rows.count == 1 else {
                throw CampaignFileError(file: url.path, key: "ensemble.mean", value: path, reason: """
                    ensemble.mean: \(resolve(path).path) holds \(rows.count) rows; the mean Θ̄ is one row of \
                    \(width) numbers (a file of samples goes in ensemble.samples)
                    """)
            }
            mean = rows[0]
        }
        let samples: [[Double]]
        if let path = ensemble.samples {
            samples = try ParameterEnsemble.readRows(resolve(path), width: width)
        } else {
            let draws = ensemble.draws!
            var covariance = Matrix(rows: width, columns: width)
            if let path = draws.covariance {
                let rows = try ParameterEnsemble.readRows(resolve(path), width: width)
                guard rows.count == width else {
                    throw InputError.fileFormat(file: resolve(path).path, line: nil,
                                                reason: "a covariance needs \(width) rows of \(width) numbers, found \(rows.count) rows")
                }
                covariance = Matrix(rows: rows)
            } else {
                for l in 0..<width { covariance[l, l] = pow(draws.relativeSD! * abs(mean[l]), 2) }
            }
            samples = try ParameterEnsemble.draws(count: draws.count, mean: mean, covariance: covariance, seed: draws.seed ?? 1)
        }
        return ParameterEnsemble(samples: samples, mean: mean, lambdas: ensemble.lambdas ?? [1])
    }
}
