import ArgumentParser
import Foundation
import Workflows
import LAMMPSLibrary

struct InfoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "info",
        abstract: "Show which LAMMPS library is used and whether it has what implicit-lammps needs.")

    func run() throws {
        try runReportingErrors {
            let library = try Library.shared()
            let packages = ["ML-SNAP", "EXTRA-FIX", "MANYBODY", "OPENMP"]
            var lines = ["library: \(library.path) (\(library.origin.rawValue))"]
            var version = "unknown"
            var ranks = 1
            if library.hasExceptions {
                let lammps = try LAMMPS(library: library)
                version = String(lammps.version)
                ranks = lammps.mpiSize
                lammps.close()
            }
            lines.append("LAMMPS version: \(version)")
            for package in packages {
                lines.append("\(package): \(library.hasPackage(package) ? "yes" : "no")")
            }
            lines.append("exceptions: \(library.hasExceptions ? "yes" : "no")")
            lines.append("MPI support: \(library.hasMPISupport ? "yes" : "no"), ranks: \(ranks)")
            if MPIJob.isRoot { print(lines.joined(separator: "\n")) }
            try library.requireUsable()
        }
    }
}
