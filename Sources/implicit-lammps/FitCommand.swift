import ArgumentParser
import Foundation
import Workflows

struct FitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fit",
        abstract: "Change potential parameters until target structures become the relaxed minima (inverse design).",
        discussion: """
            Minimizes the implicit loss L(Θ) = Σ_s w_s ½‖X*_s(Θ) − X_s,target‖² (+ ½μ‖Θ − Θ0‖²) with the paper's \
            Algorithm 1: the gradient from one adjoint solve per system (or all of ∇Θ X*), the adaptive step of \
            eq. 43, positions updated by eq. 44 or re-relaxed by LAMMPS. The campaign is a YAML file (see the \
            README for every key). Writes history.csv, summary.json, final.* (the potential's files), \
            iterations/NNNN/ (potential files and structures per iteration) and log files to DIR. An interrupted \
            campaign continues with --resume.
            """)

    @Option(help: ArgumentHelp("The campaign file.", valueName: "campaign.yaml")) var config: String
    @Flag(help: "Continue an interrupted campaign in --out from its last completed iteration.") var resume = false
    @OptionGroup var output: OutputOptions
    @OptionGroup var lammpsOptions: LammpsOptions

    func run() throws {
        try runWritingOutputs(output, resumable: resume ? ["iterations"] : nil, keepOnFailure: ["iterations"]) { run in
            let fit = FitRun(config: URL(fileURLWithPath: config).standardizedFileURL, lammpsArguments: lammpsOptions.arguments,
                             resume: resume)
            try wordingCampaignErrors(config) { try fit.run(in: run) }
            return nil
        }
    }
}
