import ArgumentParser
import Foundation
import Workflows

struct UncertaintyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "uq",
        abstract: "Propagate an ensemble of potential parameters through relaxed systems (uncertainty quantification).",
        discussion: """
            One derivative computation per system at the reference Θ̄, then every ensemble member Θ(λ, m) = \
            Θ̄ + λ(Θ_m − Θ̄) predicted at the levels c, h, ih and h+ih by linear algebra, with an error indicator \
            from two force evaluations per predicted structure, and true LAMMPS relaxations of the members chosen \
            by `truth` (checked: converged, same structure, a minimum, for a bulk crystal elastically stable). \
            The campaign is a YAML file (see the README for every key). Writes samples.csv, truth.csv, \
            summary.json, and per quantity band_Q.* and errors_Q.* (figures as PNG and SVG with their CSV data) \
            to DIR. An interrupted campaign continues with --resume.
            """)

    @Option(help: ArgumentHelp("The campaign file.", valueName: "uq.yaml")) var config: String
    @Flag(help: "Continue an interrupted campaign in --out where it stopped.") var resume = false
    @Option(help: ArgumentHelp("""
        Split the MPI job into N partitions, each a LAMMPS instance on its share of the ranks, taking every N-th \
        member's indicator and true relaxation; N must divide the number of processes.
        """, valueName: "N"))
    var partitions: Int?
    @OptionGroup var output: OutputOptions
    @OptionGroup var lammpsOptions: LammpsOptions

    func validate() throws {
        if let partitions, partitions < 1 { throw ValidationError("--partitions must be at least 1, got \(partitions)") }
    }

    func run() throws {
        try runWritingOutputs(output, resumable: resume ? ["truth"] : nil, keepOnFailure: ["truth"]) { run in
            let uq = UncertaintyRun(config: URL(fileURLWithPath: config).standardizedFileURL, lammpsArguments: lammpsOptions.arguments,
                                    resume: resume, partitions: partitions)
            try wordingCampaignErrors(config) { try uq.run(in: run) }
            return nil
        }
    }
}
