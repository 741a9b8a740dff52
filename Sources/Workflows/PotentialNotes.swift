import Potentials

/// What a user should know about a SNAP potential: files that change more than Θ, unusual units.
/// `files` says how the user gave the SNAP files (`--potential/--snapparam`, `potential.snapcoeff/snapparam`).
public func reportSNAPNotes(_ system: SNAPEnergy, files: String) {
    if !system.hyperparameterChanges.isEmpty {
        progress("note: the files given with \(files) change the input's potential itself, not only Θ:\n"
                 + system.hyperparameterChanges.map { "  \($0)" }.joined(separator: "\n"))
    }
    if system.simulation.units != "metal" {
        progress("warning: the input uses `units \(system.simulation.units)`; distributed SNAP potentials are fit in metal units, "
                 + "and files without a UNITS tag cannot be checked by LAMMPS")
    }
}
