import Atomistics
import Foundation
import ImplicitDerivative
import LAMMPSLibrary
import LinearAlgebra
import Potentials

/// From a read fit campaign file to systems in LAMMPS: targets read and matched to the systems'
/// atoms, the alchemical substitution made and checked, the constraints file read.
extension FitCampaignFile {
    /// The systems in LAMMPS, their targets read and matched to their atoms.
    struct Built {
        var campaign: FitCampaign
        /// Per system with a substitution, its exact-copy check.
        var copyChecks: [String: AlchemicalSubstitution.CopyCheck]
        /// Per system, the LAMMPS commands of its set-up (for commands.lammps).
        var setup: [String: [String]]
        /// Per system, its potential's files side (the campaign computes through the engine's
        /// protocols only): iteration and final.* potentials, data files, replay commands.
        var potentials: [String: any ParametrizedEnergy]
        /// The commands of each system's last relaxation by the campaign (for commands.lammps).
        var journal: RelaxationJournal
        /// Writes the potential with Θ into a folder (iterations/, final.*), with or without systems.
        var writePotential: (_ theta: [Double], _ directory: URL) throws -> [URL]
        /// The training term's datasets and reference, for the `evaluate` of the final potential.
        var trainingData: (datasets: [String], reference: EvaluateReference)?
    }

    func build(run: RunDirectory, lammpsArguments: [String]) throws -> Built {
        var copyChecks: [String: AlchemicalSubstitution.CopyCheck] = [:]
        var setup: [String: [String]] = [:]
        let targets = try systems.map { try $0.target?.structure.map { try TargetStructure(contentsOf: resolve($0)) } }
        var fitSystems: [FitSystem] = []
        var potentials: [String: any ParametrizedEnergy] = [:]
        for (system, structure) in zip(systems, targets) {
            let simulation = try Simulation(input: resolve(system.input).path, logFile: run.url("log.\(system.name).lammps"),
                                            extraArguments: lammpsArguments + (system.lammpsArgs ?? []),
                                            extraAtomTypes: alchemy == nil ? 0 : 1, journal: true)
            try MPIEnvironment.check(lammpsSize: simulation.lammps.mpiSize)
            try simulation.keepAtomOrder()  // a resumed campaign repeats the uninterrupted one bit for bit
            let target: FitTarget
            if let structure {
                guard structure.count == simulation.lammps.natoms else {
                    throw CampaignError.targetFileAtoms(file: structure.url.path, system: system.name,
                                                        targetAtoms: structure.count, inputAtoms: simulation.lammps.natoms)
                }
                try structure.requireCell(simulation.lammps.box().cell, system: system.name)
                if system.target?.checkPairing ?? true {
                    try requireTrustworthyPairing(structure, simulation: simulation, system: system.name)
                }
                target = .structure(structure.positions)
            } else if let elastic = system.target?.elastic {
                target = try FitTarget.elastic(elastic)
            } else {
                target = .none
            }
            let energy: any ParametrizedEnergy
            if let alchemy, let atoms = system.alchemyAtoms ?? alchemy.atoms {
                let substitution = AlchemicalSubstitution(element: alchemy.element,
                                                          atoms: try atoms.selection("alchemy.atoms", file: url.path))
                let (snap, check) = try substitution.apply(
                    to: simulation, coefficientFile: potential?.snapcoeff.map(resolve), parameterFile: potential?.snapparam.map(resolve),
                    varyingElements: vary?.elements, scratch: run.url("alchemy/\(system.name)"))
                progress(String(format: """
                    fit: system %@: %d atom(s) became %@, a copy of %@; energy %.10f → %.10f eV, forces changed by %.2g eV/Å
                    """, system.name, check.substitutedAtoms.count, alchemy.element, check.copiedElement,
                    check.energyBefore, check.energyAfter, check.largestForceDifference))
                copyChecks[system.name] = check
                energy = snap
            } else {
                energy = try choice().energy(for: simulation, relativeStep: vary?.step, progress: progress)
            }
            if let snap = energy as? SNAPEnergy { reportSNAPNotes(snap, files: "potential.snapcoeff/snapparam") }
            setup[system.name] = simulation.lammps.stopJournal()
            potentials[system.name] = energy
            fitSystems.append(FitSystem(name: system.name, energy: energy, target: target, weight: system.weight ?? 1,
                                        atomWeights: try atomWeights(system, simulation),
                                        cell: try system.cellRelaxation(file: url.path)))
        }
        let training = try trainingTerm(key: key(lammpsArguments: lammpsArguments), cache: run.url("checkpoint/training.json"))
        let campaign = try FitCampaign(systems: fitSystems, settings: try settings(), method: try method(),
                                       constraints: try constraintMatrix(width: fitSystems.first?.energy.parameterCount
                                                                            ?? training?.parameterNames.count ?? 0),
                                       propertyTargets: propertyTargets(), training: training)
        let journal = RelaxationJournal(simulations: potentials.mapValues(\.simulation))
        campaign.relaxer = journal.relax
        let writePotential: ([Double], URL) throws -> [URL]
        if let first = systems.first {
            let energy = potentials[first.name]!
            writePotential = { try energy.writePotential(theta: $0, to: $1) }
        } else {
            writePotential = try snapWriter()
        }
        return Built(campaign: campaign, copyChecks: copyChecks, setup: setup, potentials: potentials, journal: journal,
                     writePotential: writePotential,
                     trainingData: try training.map { _ in (self.training!.data.map { resolve($0).path }, try trainingReference()) })
    }

    /// The training term with the campaign's identity, kept beside the checkpoint.
    struct CachedTraining: Codable {
        var key: String
        var term: TrainingTerm
    }

    /// The training term, reduced from its datasets with the campaign's SNAP files (nil without
    /// one), or read back from `cache` when resuming the same campaign: the pass over the data
    /// (minutes for thousands of configurations) is not repeated, and its numbers are the same bits.
    func trainingTerm(key: String, cache: URL) throws -> TrainingTerm? {
        guard let training, let snapcoeff = potential?.snapcoeff, let snapparam = potential?.snapparam else { return nil }
        if let cached = try loadCheckpoint(CachedTraining.self, from: cache), cached.key == key {
            progress("fit: training term read from \(cache.lastPathComponent) of the checkpoint (no pass over the data)")
            return cached.term
        }
        let weights = try training.groups.map { try GroupWeights(contentsOf: resolve($0)) } ?? .uniform
        let term = try TrainingTermReduction(snapcoeff: resolve(snapcoeff), snapparam: resolve(snapparam), varyingElements: vary?.elements,
                                             reference: try trainingReference(), datasets: training.data.map { resolve($0).path },
                                             groupWeights: weights, weight: training.weight ?? 1).reduce()
        if MPIJob.isRoot {
            try Files.createFolder(cache.deletingLastPathComponent())
            try Files.writeJSON(CachedTraining(key: key, term: term), to: cache)
        }
        return term
    }

    /// Without systems, the potential files are the campaign's SNAP files with Θ written in.
    private func snapWriter() throws -> ([Double], URL) throws -> [URL] {
        let (coefficients, parameters) = (resolve(potential!.snapcoeff!), resolve(potential!.snapparam!))
        let snap = try SNAPPotential(coefficientFile: coefficients, parameterFile: parameters,
                                     typeElements: try SNAPCoefficients(contentsOf: coefficients).elements.map(\.name),
                                     varyingElements: vary?.elements)
        return { theta, directory in
            let (c, p) = (directory.appendingPathComponent(coefficients.lastPathComponent),
                          directory.appendingPathComponent(parameters.lastPathComponent))
            try snap.with(theta: theta).write(to: c)
            try Files.write(try String(contentsOf: parameters, encoding: .utf8), to: p)
            return [c, p]
        }
    }

    /// Per-atom weights of a system (atom-ID order), from IDs and LAMMPS groups of its input.
    func atomWeights(_ system: SystemEntry, _ simulation: Simulation) throws -> [Double]? {
        guard let entries = system.atomWeights else { return nil }
        var weights = [Double](repeating: 1, count: simulation.lammps.natoms)
        for entry in entries {
            let selection: AtomSelection = entry.ids.map { .ids($0) } ?? .group(entry.group ?? "")
            let members: [Bool]
            do { members = try simulation.defineGroup("ilmp_weighted", of: selection) } catch let error as InputError {
                throw CampaignFileError(file: url.path, key: "systems[\(system.name)].atom_weights",
                                        reason: "systems[\(system.name)].atom_weights: \(error)")
            }
            for (index, member) in members.enumerated() where member { weights[index] = entry.weight }
        }
        return weights
    }

    /// Refuses a target whose atom IDs do not name the same atoms as the system's (most often: an
    /// input that numbers its atoms with create_atoms, run on another number of MPI ranks).
    private func requireTrustworthyPairing(_ target: TargetStructure, simulation: Simulation, system: String) throws {
        let (atoms, threshold) = target.mispairedAtoms(in: try simulation.structure())
        // A handful are a rearrangement (an atom hopping into a vacancy): the warning after the
        // first relaxation names the farthest.
        guard atoms.count > max(2, target.count / 20) else { return }
        throw CampaignError.untrustworthyPairing(file: target.url.path, system: system, atoms: atoms.map { $0 + 1 },
                                                 count: target.count, threshold: threshold,
                                                 ranks: simulation.lammps.mpiSize, campaignFile: url.path)
    }

    /// The rows of the constraints file, each `width` numbers (comments after `#`).
    func constraintMatrix(width: Int) throws -> Matrix? {
        guard let constraints else { return nil }
        let file = resolve(constraints)
        let text = try String(contentsOf: file, encoding: .utf8)
        let rows = try TextRow.rows(of: text).map { row in
            guard let values = row.values, values.count == width else {
                throw InputError.fileFormat(file: file.path, line: row.line, reason: """
                    a constraint row needs \(width) numbers (one per parameter of Θ), \
                    found \(row.words.count) words\(row.values == nil ? " that are not all finite numbers" : "")
                    """)
            }
            return values
        }
        guard !rows.isEmpty else { throw InputError.fileFormat(file: file.path, line: nil, reason: "no constraint row") }
        return Matrix(rows: rows)
    }
}
