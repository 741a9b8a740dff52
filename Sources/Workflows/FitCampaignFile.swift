import Atomistics
import Foundation
import ImplicitDerivative
import LinearAlgebra
import Potentials

/// A fit campaign as a YAML file (every key documented in the README). Paths are relative to the
/// file. Unknown keys, missing files and targets that do not match their system are refused
/// before any LAMMPS work.
struct FitCampaignFile: CampaignFileSchema {
    struct Target: Decodable {
        /// A LAMMPS data or extended XYZ file of the same atoms.
        var structure: String?
        /// Elastic constants (GPa, Voigt): C11, C12, C44 for a cubic tensor, or any Cij.
        var elastic: [String: Double]?
        /// false: trust the pairing of the target's atoms with the system's by atom ID without
        /// checking it against the geometry (a target far from the start by design).
        var checkPairing: Bool?
        enum CodingKeys: String, CodingKey { case structure, elastic, checkPairing = "check_pairing" }
    }
    /// Atoms by IDs, a LAMMPS group or a LAMMPS region of the system's input (exactly one).
    struct Atoms: Decodable {
        var ids: [Int]?
        var group: String?
        var region: String?

        func selection(_ key: String, file: String) throws -> AtomSelection {
            switch (ids, group, region) {
            case (let ids?, nil, nil): return .ids(ids)
            case (nil, let group?, nil): return .group(group)
            case (nil, nil, let region?): return .region(region)
            default: throw CampaignFileError(file: file, key: key, reason: "\(key) takes exactly one of ids, group or region")
            }
        }
    }
    /// Atoms that become a new element, an exact copy of the SNAP element they were.
    struct Alchemy: Decodable {
        var element: String
        var atoms: Atoms?
    }
    struct AtomWeight: Decodable {
        var ids: [Int]?
        var group: String?
        var weight: Double
    }
    struct SystemEntry: Decodable {
        var name: String
        var input: String
        var lammpsArgs: [String]?
        /// Weights of chosen atoms in a structure target (others 1), later entries overriding earlier ones.
        var atomWeights: [AtomWeight]?
        /// None: the system takes part through energy targets only.
        var target: Target?
        var weight: Double?
        /// The atoms of this system that become the alchemical element (default: alchemy.atoms).
        var alchemyAtoms: Atoms?
        /// fixed (default), iso or aniso: how the cell relaxes (elastic targets: aniso).
        var cell: String?

        enum CodingKeys: String, CodingKey {
            case name, input, lammpsArgs = "lammps_args", atomWeights = "atom_weights", target, weight,
                 alchemyAtoms = "alchemy_atoms", cell
        }

        func cellRelaxation(file: String) throws -> CellRelaxation {
            // Fixed unless asked: a structure target is a structure in its own cell (`SystemOutline` checks).
            try CellRelaxation.named(cell, fallback: .fixed, file: file, key: "systems[\(name)].cell")
        }

        /// What the checks shared with `FitCampaign` see of the system.
        func outline(file: String) throws -> SystemOutline {
            if target?.elastic != nil { return SystemOutline(name: name, cell: .aniso, target: .elastic) }
            return SystemOutline(name: name, cell: try cellRelaxation(file: file), target: target?.structure != nil ? .structure : .none)
        }
    }
    struct Loop: Decodable {
        var iterations: Int?
        var step: String?
        var relaxEach: Bool?
        var backtrack: Bool?
        var tolerance: Double?
        var lossTolerance: Double?
        var gradient: String?
        var regularization: Double?
        var relaxFromTarget: Bool?
        var explore: Int?

        enum CodingKeys: String, CodingKey {
            case iterations, step, relaxEach = "relax_each", backtrack, tolerance, lossTolerance = "loss_tolerance", gradient,
                 regularization, relaxFromTarget = "relax_from_target", explore
        }
    }

    struct Property: Decodable {
        var name: String?
        /// Coefficients of the systems' relaxed energies (eV).
        var energy: [String: Double]?
        /// Coefficients of the systems' cell volumes (Å³; the systems relax their cells).
        var volume: [String: Double]?
        var value: Double
        var weight: Double?
    }

    /// FitSNAP's loss on DFT data (`evaluate`'s datasets), for linear SNAP.
    struct Training: Decodable {
        var data: [String]
        /// FitSNAP's group table as CSV (group, energy_weight, force_weight, …); default weights 1, 1.
        var groups: String?
        /// `zbl INNER OUTER` or `none`, as `evaluate --reference`.
        var reference: String?
        /// A LAMMPS snippet defining the whole pair style, as `evaluate --reference-file`.
        var referenceFile: String?
        var weight: Double?
        enum CodingKeys: String, CodingKey { case data, groups, reference, referenceFile = "reference_file", weight }
    }

    var potential: PotentialFilesSection?
    var vary: VarySection?
    /// Optional when there is a training term.
    private var systemList: [SystemEntry]?
    var systems: [SystemEntry] { systemList ?? [] }
    var training: Training?
    var loop: Loop?
    var derivative: DerivativeSection?
    var relax: RelaxSection?
    /// A text file of rows of A (N_D numbers each): A Θ is held at its initial value.
    var constraints: String?
    var properties: [Property]?
    var alchemy: Alchemy?

    /// The file it was read from (paths resolve against its folder) and its text.
    var url = URL(fileURLWithPath: "/")
    var text = ""

    enum CodingKeys: String, CodingKey {
        case potential, vary, systemList = "systems", loop, derivative, relax, constraints, properties, alchemy, training
    }

    /// The keys each level accepts.
    static let schema: [String: Set<String>] = [
        "": ["potential", "vary", "systems", "loop", "derivative", "relax", "constraints", "properties", "alchemy", "training"],
        "training": ["data", "groups", "reference", "reference_file", "weight"],
        "alchemy": ["element", "atoms"],
        "alchemy.atoms": ["ids", "group", "region"],
        "systems[].alchemy_atoms": ["ids", "group", "region"],
        "properties[]": ["name", "energy", "volume", "value", "weight"],
        "potential": PotentialFilesSection.keys,
        "vary": VarySection.keys,
        "systems[]": ["name", "input", "lammps_args", "atom_weights", "target", "weight", "alchemy_atoms", "cell"],
        "systems[].atom_weights[]": ["ids", "group", "weight"],
        "systems[].target": ["structure", "elastic", "check_pairing"],
        "loop": ["iterations", "step", "relax_each", "backtrack", "tolerance", "loss_tolerance", "gradient", "regularization",
                 "relax_from_target", "explore"],
        "derivative": DerivativeSection.keys,
        "relax": RelaxSection.keys,
    ]

    static let what = "a campaign is a mapping of keys (potential, vary, systems, loop, …)"

    /// What identifies the campaign for --resume: the file, every file it names, the LAMMPS arguments.
    func key(lammpsArguments: [String]) -> String {
        let named = systems.flatMap { [$0.input, $0.target?.structure].compactMap { $0 } }
            + [potential?.snapcoeff, potential?.snapparam, constraints, training?.groups, training?.referenceFile].compactMap { $0 }
        // A dataset folder by its files: a changed configuration is another campaign.
        let data = (training?.data ?? []).map(resolve).flatMap { url -> [URL] in
            let files = (try? FileManager.default.contentsOfDirectory(at: url, includingPropertiesForKeys: nil)) ?? [url]
            return files.sorted { $0.path < $1.path }
        }
        return YAMLConfig.key(text: text, lammpsArguments: lammpsArguments, files: named.map(resolve) + data)
    }

    /// Everything that can be checked without LAMMPS.
    func validate() throws {
        guard !systems.isEmpty || training != nil else {
            throw CampaignFileError(file: url.path, key: "systems", reason: "'systems' is empty (and there is no training term)")
        }
        try validateTraining()
        var names = Set<String>()
        for system in systems {
            guard names.insert(system.name).inserted else {
                throw CampaignFileError(file: url.path, key: "systems[\(system.name)].name", value: system.name,
                                        reason: "two systems are named '\(system.name)'")
            }
            guard system.name.range(of: #"^[A-Za-z0-9_.-]+$"#, options: .regularExpression) != nil else {
                throw CampaignFileError(file: url.path, key: "systems[\(system.name)].name", value: system.name,
                                        reason: "system name '\(system.name)' must be letters, digits, '_', '-' or '.'")
            }
            if let target = system.target, (target.structure == nil) == (target.elastic == nil) {
                throw CampaignFileError(file: url.path, key: "systems[\(system.name)].target",
                                        reason: "systems[\(system.name)].target takes one of structure or elastic")
            }
            if let elastic = system.target?.elastic { _ = try FitTarget.elastic(elastic) }
            for entry in system.atomWeights ?? [] {
                guard (entry.ids == nil) != (entry.group == nil), entry.weight >= 0, entry.weight.isFinite else {
                    throw CampaignFileError(file: url.path, key: "systems[\(system.name)].atom_weights",
                                            reason: "systems[\(system.name)].atom_weights entries take ids or group, and a weight ≥ 0")
                }
            }
            if system.atomWeights != nil, system.target?.structure == nil {
                throw CampaignFileError(file: url.path, key: "systems[\(system.name)].atom_weights",
                                        reason: "systems[\(system.name)].atom_weights apply to a structure target")
            }
            for (key, path) in [("input", system.input), ("target.structure", system.target?.structure)] {
                guard let path else { continue }
                guard FileManager.default.fileExists(atPath: resolve(path).path) else {
                    throw CampaignFileError.fileNotFound(file: url.path, key: "systems[\(system.name)].\(key)", path: resolve(path).path)
                }
            }
            _ = try system.cellRelaxation(file: url.path)
            if let weight = system.weight, !(weight > 0 && weight.isFinite) {
                throw CampaignFileError(file: url.path, key: "systems[\(system.name)].weight", value: "\(weight)",
                                        reason: "systems[\(system.name)].weight must be positive, got \(weight)")
            }
        }
        for (key, path) in [("potential.snapcoeff", potential?.snapcoeff), ("potential.snapparam", potential?.snapparam),
                            ("constraints", constraints)] {
            if let path, !FileManager.default.fileExists(atPath: resolve(path).path) {
                throw CampaignFileError.fileNotFound(file: url.path, key: key, path: resolve(path).path)
            }
        }
        let kinds = [vary?.elements != nil, vary?.parameters != nil, vary?.fields != nil].filter { $0 }.count
        guard kinds <= 1 else { throw CampaignFileError(file: url.path, key: "vary",
                                                        reason: "'vary' takes one of elements, parameters or fields") }
        if potential != nil, vary?.parameters != nil || vary?.fields != nil {
            throw CampaignFileError(file: url.path, key: "potential",
                                    reason: "'potential' names SNAP files; it does not apply with vary.parameters or vary.fields")
        }
        if let alchemy {
            guard vary?.parameters == nil, vary?.fields == nil else {
                throw CampaignFileError(file: url.path, key: "alchemy",
                                        reason: "alchemy makes a new SNAP element; it does not apply with vary.parameters or vary.fields")
            }
            guard alchemy.element.range(of: #"^[A-Za-z][A-Za-z0-9_]*$"#, options: .regularExpression) != nil else {
                throw CampaignFileError(file: url.path, key: "alchemy.element",
                                        reason: "alchemy.element '\(alchemy.element)' must be a name (letters, digits, '_')")
            }
            _ = try alchemy.atoms?.selection("alchemy.atoms", file: url.path)
            for system in systems {
                guard let atoms = system.alchemyAtoms ?? alchemy.atoms else {
                    throw CampaignFileError(file: url.path, key: "alchemy.atoms",
                                            reason: "alchemy.atoms (or systems[\(system.name)].alchemy_atoms) is required")
                }
                _ = try atoms.selection("systems[\(system.name)].alchemy_atoms", file: url.path)
            }
        } else if let system = systems.first(where: { $0.alchemyAtoms != nil }) {
            throw CampaignFileError(file: url.path, key: "systems[\(system.name)].alchemy_atoms",
                                    reason: "systems[\(system.name)].alchemy_atoms needs an alchemy section")
        }
        _ = try settings()
        _ = try method()
        let targets = try propertyTargets()
        if let problem = SystemOutline.firstProblem(try systems.map { try $0.outline(file: url.path) },
                                                    quantities: targets.map(\.quantity), requireUse: true) {
            throw fileError(problem)
        }
    }

    /// The training section: SNAP files to reduce the data with, datasets and files that exist,
    /// a reference and a weight that parse.
    private func validateTraining() throws {
        guard let training else { return }
        guard potential?.snapcoeff != nil, potential?.snapparam != nil else {
            throw CampaignFileError(file: url.path, key: "training", reason: """
                training needs the SNAP files it is linear in: potential.snapcoeff and potential.snapparam \
                (other potentials are not supported by the training term yet)
                """)
        }
        if alchemy != nil {
            throw CampaignFileError(file: url.path, key: "training",
                                    reason: "training does not apply with alchemy: the DFT data has no atoms of the new element")
        }
        guard !training.data.isEmpty else {
            throw CampaignFileError(file: url.path, key: "training.data", reason: "training.data lists no dataset")
        }
        for (index, path) in training.data.enumerated() where !FileManager.default.fileExists(atPath: resolve(path).path) {
            throw CampaignFileError.fileNotFound(file: url.path, key: "training.data[\(index)]", path: resolve(path).path)
        }
        for (key, path) in [("training.groups", training.groups), ("training.reference_file", training.referenceFile)] {
            if let path, !FileManager.default.fileExists(atPath: resolve(path).path) {
                throw CampaignFileError.fileNotFound(file: url.path, key: key, path: resolve(path).path)
            }
        }
        if let weight = training.weight, !(weight > 0 && weight.isFinite) {
            throw CampaignFileError(file: url.path, key: "training.weight", value: "\(weight)",
                                    reason: "training.weight must be positive, got \(weight)")
        }
        _ = try trainingReference()
        // Every configuration read and checked, and every group weighted, before LAMMPS starts
        // (seconds for thousands of configurations; the pass over them with LAMMPS takes minutes).
        let elements = try SNAPCoefficients(contentsOf: resolve(potential!.snapcoeff!)).elements.map(\.name)
        let configurations = try TrainingData.read(training.data.map { resolve($0).path }, elements: elements)
        if let groups = training.groups {
            let weights = try GroupWeights(contentsOf: resolve(groups))
            for group in Set(configurations.map(\.group)) { _ = try weights.weights(of: group) }
        }
    }

    /// The reference added to SNAP when predicting the training data.
    func trainingReference() throws -> EvaluateReference {
        guard let training else { return .none }
        if let file = training.referenceFile {
            guard training.reference == nil else {
                throw CampaignFileError(file: url.path, key: "training.reference_file",
                                        reason: "give training.reference or training.reference_file, not both")
            }
            return .file(resolve(file).path)
        }
        guard let reference = EvaluateReference(parsing: training.reference ?? "none") else {
            throw CampaignFileError(file: url.path, key: "training.reference", value: training.reference ?? "", reason: """
                training.reference is "zbl INNER OUTER" with 0 < INNER < OUTER (Å) or none, got "\(training.reference ?? "")"
                """)
        }
        return reference
    }

    /// A problem of the systems and properties, naming the key of this file to change (the
    /// campaign's own wording: `CampaignError.fitOutline`).
    func fileError(_ problem: OutlineProblem) -> CampaignFileError {
        switch problem {
        case .unknownSystem(let index, let key, let system):
            return CampaignFileError(file: url.path, key: "properties[\(index)].\(key)", value: system,
                                     reason: "properties[\(index)].\(key) names system '\(system)', which is not in systems")
        case .fixedVolume(let index, let system):
            return CampaignFileError(file: url.path, key: "properties[\(index)].volume", value: system, reason: """
                properties[\(index)].volume uses system \(system), whose cell is fixed: set systems[\(system)].cell to iso or aniso
                """)
        case .structureTargetCell(let system):
            return CampaignFileError(file: url.path, key: "systems[\(system)].cell",
                                     reason: "systems[\(system)].cell: a structure target needs a fixed cell (the target's)")
        case .unused(let system):
            return CampaignFileError(file: url.path, key: "systems[\(system)]",
                                     reason: "systems[\(system)] has no target and no property uses it")
        }
    }

    func choice() throws -> PotentialChoice {
        try (vary ?? VarySection()).choice(potential: potential, file: url.path, resolve: resolve)
    }

    func method() throws -> any DerivativeMethod { try (derivative ?? DerivativeSection()).method(file: url.path) }

    func settings() throws -> FitSettings {
        var settings = FitSettings()
        if let loop {
            if let iterations = loop.iterations {
                guard iterations >= 0 else { throw CampaignFileError(file: url.path, key: "loop.iterations",
                                                                     reason: "loop.iterations must be ≥ 0") }
                settings.iterations = iterations
            }
            if let step = loop.step, let rule = FitSettings.Rule(rawValue: step), rule != .steepestDescent {
                settings.rule = rule
            } else if let step = loop.step, step != "adaptive" {
                guard let value = Double(step), value > 0, value.isFinite else {
                    throw CampaignFileError(file: url.path, key: "loop.step", value: "\(step)", reason: """
                        loop.step is 'adaptive', 'gauss-newton', 'lbfgs' or a positive number, got '\(step)'
                        """)
                }
                settings.step = value
            }
            if settings.rule != .steepestDescent {
                // Their steps are accepted or rejected on the true loss: every step re-relaxes.
                let name = settings.rule.rawValue
                if loop.relaxEach == false {
                    throw CampaignFileError(file: url.path, key: "loop.relax_each", reason: """
                        loop.step: \(name) accepts a step only if the true loss of re-relaxed systems falls: \
                        it does not apply with loop.relax_each: false
                        """)
                }
                if loop.backtrack != nil {
                    throw CampaignFileError(file: url.path, key: "loop.backtrack", reason: """
                        loop.backtrack halves steepest-descent steps; loop.step: \(name) judges its steps on the true \
                        loss itself
                        """)
                }
                settings.relaxEach = true
            }
            settings.relaxEach = loop.relaxEach ?? settings.relaxEach
            // A re-relaxed step that raises the true loss is halved unless the file asks for the
            // paper's Algorithm 1 (backtrack: false), which takes every step: an overshooting step
            // otherwise lands the structure wherever the relaxation takes it. (L-BFGS's fallback
            // steepest step always backtracks.)
            settings.backtrack = settings.rule == .gaussNewton ? false : settings.rule == .lbfgs ? true
                : loop.backtrack ?? settings.relaxEach
            if settings.backtrack, !settings.relaxEach {
                throw CampaignFileError(file: url.path, key: "loop.backtrack",
                                        reason: "loop.backtrack compares true losses: it needs loop.relax_each: true")
            }
            settings.tolerance = try positive(loop.tolerance, "loop.tolerance") ?? settings.tolerance
            settings.lossTolerance = try nonNegative(loop.lossTolerance, "loop.loss_tolerance") ?? settings.lossTolerance
            settings.regularization = try nonNegative(loop.regularization, "loop.regularization") ?? settings.regularization
            if loop.relaxFromTarget == true {
                guard systems.contains(where: { $0.target?.structure != nil }) else {
                    throw CampaignFileError(file: url.path, key: "loop.relax_from_target", reason: """
                        loop.relax_from_target relaxes each system also from its target structure: no system has one
                        """)
                }
                settings.relaxFromTarget = true
            }
            if let explore = loop.explore {
                guard explore >= 0 else {
                    throw CampaignFileError(file: url.path, key: "loop.explore", value: "\(explore)", reason: "loop.explore must be ≥ 0")
                }
                guard settings.rule != .steepestDescent else {
                    throw CampaignFileError(file: url.path, key: "loop.explore", reason: """
                        loop.explore makes the first iterations of a gauss-newton or lbfgs campaign take Algorithm 1's \
                        step; this campaign takes it throughout (loop.step: \(loop.step ?? "adaptive"))
                        """)
                }
                settings.explore = explore
            }
            if let gradient = loop.gradient {
                guard let value = FitSettings.Gradient(rawValue: gradient) else {
                    throw CampaignFileError(file: url.path, key: "loop.gradient", value: "\(gradient)",
                                            reason: "loop.gradient is adjoint or full, got '\(gradient)'")
                }
                settings.gradient = value
            }
        }
        settings.ftol = try positive(relax?.ftol, "relax.ftol") ?? settings.ftol
        settings.minStyle = try relax?.style(file: url.path) ?? settings.minStyle
        if let step = vary?.step, !(step > 0 && step < 0.1) {
            throw CampaignFileError(file: url.path, key: "vary.step", value: "\(step)",
                                    reason: "vary.step is a relative step in (0, 0.1), got \(step)")
        }
        if vary?.step != nil, vary?.parameters == nil, vary?.fields == nil {
            throw CampaignFileError(file: url.path, key: "vary.step",
                                    reason: "vary.step is the finite-difference step of vary.parameters or vary.fields; SNAP needs none")
        }
        return settings
    }

    private func positive(_ value: Double?, _ key: String) throws -> Double? {
        guard let value else { return nil }
        guard value > 0, value.isFinite else { throw CampaignFileError(file: url.path, key: key, value: "\(value)",
                                                                       reason: "\(key) must be a positive number, got \(value)") }
        return value
    }

    private func nonNegative(_ value: Double?, _ key: String) throws -> Double? {
        guard let value else { return nil }
        guard value >= 0, value.isFinite else { throw CampaignFileError(file: url.path, key: key, value: "\(value)",
                                                                        reason: "\(key) must be ≥ 0, got \(value)") }
        return value
    }

    func propertyTargets() throws -> [PropertyTarget] {
        try (properties ?? []).enumerated().map { index, property in
            let name = property.name ?? "property\(index + 1)"
            let (energy, volume) = (property.energy ?? [:], property.volume ?? [:])
            guard property.value.isFinite, !(energy.isEmpty && volume.isEmpty),
                  energy.values.allSatisfy(\.isFinite), volume.values.allSatisfy(\.isFinite) else {
                throw CampaignFileError(file: url.path, key: "properties[\(index)]",
                                        reason: "properties[\(index)] needs a finite `value` and finite `energy` or `volume` coefficients")
            }
            if let weight = property.weight, !(weight > 0 && weight.isFinite) {
                throw CampaignFileError(file: url.path, key: "properties[\(index)].weight", value: "\(weight)",
                                        reason: "properties[\(index)].weight must be positive, got \(weight)")
            }
            return PropertyTarget(name: name, coefficients: energy, volumeCoefficients: volume, value: property.value,
                                  weight: property.weight ?? 1)
        }
    }
}
