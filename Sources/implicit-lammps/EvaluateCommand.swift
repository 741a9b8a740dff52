import ArgumentParser
import Foundation
import LAMMPSLibrary
import Workflows

struct EvaluateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "evaluate",
        abstract: "Errors of a SNAP potential (plus a reference potential) on DFT data.",
        discussion: """
            Predicts every configuration of the datasets (FitSNAP JSON folders, a folder being a group, or extended XYZ \
            files with energy= and forces, a file or each config_type being a group) with \
            one LAMMPS instance, cells rotated into LAMMPS's restricted triclinic form with the DFT forces \
            rotated alike. Writes metrics.csv and metrics.md (MAE and RMSE of energy per atom, eV/atom, and force \
            components, eV/Å, per group and *ALL), configurations.csv, parity_energy and parity_force \
            (PNG, SVG, CSV) and summary.json to DIR. Under mpiexec, --partitions N spreads the configurations \
            over N LAMMPS instances (each on its share of the ranks); without it every rank shares each configuration.
            """)

    @Option(help: "SNAP coefficient file (.snapcoeff); its elements are the potential's.") var potential: String
    @Option(help: "SNAP parameter file (.snapparam).") var snapparam: String
    @Option(help: "Reference potential added to SNAP: \"zbl INNER OUTER\" (ZBL between every pair of elements) or none.")
    var reference: String = "none"
    @Option(help: "LAMMPS snippet defining the whole pair style instead of --reference; ${snapcoeff}, ${snapparam} and ${elements} are set.")
    var referenceFile: String?
    @Option(help: "Split the MPI job into N partitions, each predicting every N-th configuration.") var partitions: Int?
    @Option(parsing: .upToNextOption, help: "FitSNAP JSON folders (or single JSON files) and extended XYZ files (.xyz, .extxyz).") var data: [String]
    @OptionGroup var output: OutputOptions

    func parsedReference() throws -> EvaluateReference {
        if let referenceFile {
            guard reference == "none" else { throw ValidationError("give --reference or --reference-file, not both") }
            return .file(referenceFile)
        }
        guard let parsed = EvaluateReference(parsing: reference) else {
            throw ValidationError("--reference must be \"zbl INNER OUTER\" with 0 < INNER < OUTER (Å) or none, got \"\(reference)\"")
        }
        return parsed
    }

    func validate() throws {
        _ = try parsedReference()
        if let partitions, partitions < 1 { throw ValidationError("--partitions must be at least 1, got \(partitions)") }
        guard !data.isEmpty else { throw ValidationError("--data needs at least one dataset") }
    }

    func run() throws {
        try runWritingOutputs(output) { run in
            var evaluate = EvaluateRun(snapcoeff: URL(fileURLWithPath: potential), snapparam: URL(fileURLWithPath: snapparam),
                                       reference: try parsedReference(), datasets: data)
            evaluate.partitions = try partitions.map { try Partitions(count: $0) }
            let metrics = try evaluate.run(in: run)
            if MPIJob.isRoot { print(metrics.markdown, terminator: "") }
            return nil
        }
    }
}
