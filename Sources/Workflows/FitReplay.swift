import Atomistics
import Foundation
import Potentials

/// A fit campaign's relaxations on LAMMPS, keeping the commands of each system's last one: the
/// replay script repeats them, and the campaign itself knows nothing of LAMMPS commands.
public final class RelaxationJournal {
    let simulations: [String: Simulation]
    /// Per system, the commands of its last relaxation.
    public private(set) var commands: [String: [String]] = [:]

    public init(simulations: [String: Simulation]) { self.simulations = simulations }

    /// A `FitCampaign.Relaxer`.
    public func relax(_ system: FitSystem, _ settings: RelaxationSettings, _ progress: (String) -> Void) throws -> RelaxationResult {
        let (result, commands) = try simulations[system.name]!.relaxationWithReplay(settings, label: "fit \(system.name)",
                                                                                     progress: progress)
        self.commands[system.name] = commands
        return result
    }
}

/// `commands.lammps` of a campaign: the LAMMPS commands it issued, for the native `lmp` (run
/// from anywhere: paths are absolute). Per system: its set-up exactly as the tool ran it (the
/// input, a substitution, the potential), then per iteration the iteration's potential (files
/// in iterations/NNNN), the previous iteration's structure (`read_dump`), and the relaxation
/// (or, for a structure predicted by eq. 44, one evaluation), each followed by a `print` of the
/// energy to compare with the tool's. Force evaluations at displaced positions (Hessian
/// products), which the library interface sets directly, are not in it.
public struct FitReplay {
    /// Per system, the commands of its set-up (`Simulation(…, journal: true)`).
    public var setup: [String: [String]]
    /// The run's output folder, and the folder it is written in first (paths are rewritten).
    public var destination: URL
    public var staging: URL
    /// Per system, the potential whose files each iteration loads.
    public var potentials: [String: any PotentialFiles]
    public var journal: RelaxationJournal

    public init(setup: [String: [String]], destination: URL, staging: URL, potentials: [String: any PotentialFiles],
                journal: RelaxationJournal) {
        self.setup = setup
        self.destination = destination
        self.staging = staging
        self.potentials = potentials
        self.journal = journal
    }

    public static func iterationFolder(_ iteration: Int) -> String { String(format: "iterations/%04d", iteration) }
    /// Where the final relaxation's starts from the target are (`loop.relax_from_target`).
    public static let finalFolder = "iterations/final"

    /// The start of a relaxation that began at the target's positions (`loop.relax_from_target`).
    public static func startDump(_ system: String, in folder: URL) -> URL {
        folder.appendingPathComponent("\(system).start.dump")
    }

    /// `read_dump` of the start from the target in `folder`, if that relaxation began there.
    private func startFromTarget(_ system: String, in folder: URL, box: String) -> [String] {
        let dump = Self.startDump(system, in: folder)
        guard FileManager.default.fileExists(atPath: dump.path) else { return [] }
        return ["# relaxed from the target's positions (loop.relax_from_target), whose minimum lies closer to the target",
                "read_dump \(dump.path) 0 x y z box \(box) replace yes"]
    }

    /// The script for `history` (row 0 the start) and, when given, the final relaxation with the
    /// potential of iteration `best`.
    public func script(_ campaign: FitCampaign, history: [FitRecord], best: Int? = nil) throws -> String {
        var lines = [
            "# LAMMPS commands of the fit campaign in \(destination.path), written by implicit-lammps fit.",
            "# Replay with the native executable: lmp -in \(destination.appendingPathComponent("commands.lammps").path)",
            "# Compare the printed energies with the tool's (iterations/NNNN, history.csv). Hessian products",
            "# (forces at displaced positions, set through the library interface) are not replayed.",
        ]
        for system in campaign.systems {
            let relax = journal.commands[system.name] ?? []
            let potential = potentials[system.name]!
            let dumps = { (iteration: Int) in
                staging.appendingPathComponent(Self.iterationFolder(iteration)).appendingPathComponent("\(system.name).dump").path
            }
            let box = system.cell == .fixed ? "no" : "yes"
            lines += ["", "# ==== system \(system.name): set-up as implicit-lammps ran it ====", "clear"]
            lines += setup[system.name] ?? []
            lines += ["# iteration 0: relaxed with the initial potential"]
                + startFromTarget(system.name, in: staging.appendingPathComponent(Self.iterationFolder(0)), box: box)
                + relax + [print(system.name, "iteration 0")]
            for record in history.dropFirst() {
                let folder = staging.appendingPathComponent(Self.iterationFolder(record.iteration))
                let relaxed = record.lossRelaxed != nil || system.cell != .fixed
                lines.append("# iteration \(record.iteration): its potential, from the structure of iteration \(record.iteration - 1)"
                             + (relaxed ? ", relaxed" : ", evaluated at the structure eq. 44 predicts (iterations/.../\(system.name).dump)"))
                lines += try potential.loadingCommands(theta: record.theta, writtenTo: folder)
                let start = relaxed ? record.iteration - 1 : record.iteration
                lines.append("read_dump \(dumps(start)) 0 x y z box \(box) replace yes")
                lines += relaxed ? startFromTarget(system.name, in: folder, box: box) + relax : ["run 0"]
                lines.append(print(system.name, "iteration \(record.iteration)"))
            }
            if let best, let last = history.last {
                let folder = staging.appendingPathComponent(Self.iterationFolder(best))
                lines.append("# final: the potential of iteration \(best) (final.*), relaxed from the last structure")
                lines += try potential.loadingCommands(theta: history[best].theta, writtenTo: folder)
                lines += ["read_dump \(dumps(last.iteration)) 0 x y z box \(box) replace yes"]
                    + startFromTarget(system.name, in: staging.appendingPathComponent(Self.finalFolder), box: box) + relax
                lines.append(print(system.name, "final"))
            }
        }
        return lines.joined(separator: "\n").replacingOccurrences(of: staging.path, with: destination.path) + "\n"
    }

    private func print(_ system: String, _ label: String) -> String {
        "print \"replay: \(system) \(label) energy $(pe:%.10f) eV\""
    }
}
