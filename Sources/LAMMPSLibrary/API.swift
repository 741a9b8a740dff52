#if canImport(Glibc)
import Glibc
#endif

/// The LAMMPS C library functions the binding calls, declared here by hand (signatures from
/// LAMMPS's `library.h`) and resolved with `dlsym`. Nothing else in the project touches C pointers
/// to LAMMPS.
struct API {
    typealias Handle = UnsafeMutableRawPointer
    typealias CString = UnsafePointer<CChar>

    let open_no_mpi: @convention(c) (Int32, UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?,
                                     UnsafeMutablePointer<UnsafeMutableRawPointer?>?) -> Handle?
    /// An instance on a given communicator (its Fortran handle; MPICH's C handle is the same integer).
    let open_fortran: (@convention(c) (Int32, UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?, Int32) -> Handle?)?
    let close: @convention(c) (Handle?) -> Void
    let mpi_finalize: @convention(c) () -> Void
    let file: @convention(c) (Handle?, CString?) -> Void
    let command: @convention(c) (Handle?, CString?) -> UnsafeMutablePointer<CChar>?
    /// Newer than the rest (LAMMPS 2023): optional, so older libraries still load and report.
    let expand: (@convention(c) (Handle?, CString?) -> UnsafeMutablePointer<CChar>?)?
    let commands_string: @convention(c) (Handle?, CString?) -> Void
    let get_natoms: @convention(c) (Handle?) -> Double
    let get_thermo: @convention(c) (Handle?, CString?) -> Double
    let extract_box: @convention(c) (Handle?, UnsafeMutablePointer<Double>?, UnsafeMutablePointer<Double>?,
                                     UnsafeMutablePointer<Double>?, UnsafeMutablePointer<Double>?,
                                     UnsafeMutablePointer<Double>?, UnsafeMutablePointer<Int32>?,
                                     UnsafeMutablePointer<Int32>?) -> Void
    let extract_setting: @convention(c) (Handle?, CString?) -> Int32
    let extract_global_datatype: @convention(c) (Handle?, CString?) -> Int32
    let extract_global: @convention(c) (Handle?, CString?) -> UnsafeMutableRawPointer?
    let extract_atom: @convention(c) (Handle?, CString?) -> UnsafeMutableRawPointer?
    let extract_compute: @convention(c) (Handle?, CString?, Int32, Int32) -> UnsafeMutableRawPointer?
    let gather: @convention(c) (Handle?, CString?, Int32, Int32, UnsafeMutableRawPointer?) -> Void
    let scatter: @convention(c) (Handle?, CString?, Int32, Int32, UnsafeMutableRawPointer?) -> Void
    let version: @convention(c) (Handle?) -> Int32
    let config_has_package: @convention(c) (CString?) -> Int32
    let config_has_mpi_support: @convention(c) () -> Int32
    let config_has_exceptions: @convention(c) () -> Int32
    let has_style: @convention(c) (Handle?, CString?, CString?) -> Int32
    let has_id: @convention(c) (Handle?, CString?, CString?) -> Int32
    let has_error: @convention(c) (Handle?) -> Int32
    let get_last_error_message: @convention(c) (Handle?, UnsafeMutablePointer<CChar>?, Int32) -> Int32
    let free: @convention(c) (UnsafeMutableRawPointer?) -> Void
    /// `fix external` callbacks (bigint timestep: the default LAMMPS_SMALLBIG and BIGBIG builds).
    typealias StepCallback = @convention(c) (UnsafeMutableRawPointer?, Int64, Int32, UnsafeMutableRawPointer?,
                                             UnsafeMutableRawPointer?, UnsafeMutableRawPointer?) -> Void
    let set_fix_external_callback: @convention(c) (Handle?, CString?, StepCallback?, UnsafeMutableRawPointer?) -> Void

    init(handle: UnsafeMutableRawPointer, path: String) throws {
        func symbol<T>(_ name: String, as _: T.Type = T.self) throws -> T {
            guard let pointer = dlsym(handle, name) else {
                throw LAMMPSError.missingSymbol(name: name, path: path)
            }
            return unsafeBitCast(pointer, to: T.self)
        }
        open_no_mpi = try symbol("lammps_open_no_mpi")
        open_fortran = try? symbol("lammps_open_fortran")
        close = try symbol("lammps_close")
        mpi_finalize = try symbol("lammps_mpi_finalize")
        file = try symbol("lammps_file")
        command = try symbol("lammps_command")
        expand = try? symbol("lammps_expand")
        commands_string = try symbol("lammps_commands_string")
        get_natoms = try symbol("lammps_get_natoms")
        get_thermo = try symbol("lammps_get_thermo")
        extract_box = try symbol("lammps_extract_box")
        extract_setting = try symbol("lammps_extract_setting")
        extract_global_datatype = try symbol("lammps_extract_global_datatype")
        extract_global = try symbol("lammps_extract_global")
        extract_atom = try symbol("lammps_extract_atom")
        extract_compute = try symbol("lammps_extract_compute")
        gather = try symbol("lammps_gather")
        scatter = try symbol("lammps_scatter")
        version = try symbol("lammps_version")
        config_has_package = try symbol("lammps_config_has_package")
        config_has_mpi_support = try symbol("lammps_config_has_mpi_support")
        config_has_exceptions = try symbol("lammps_config_has_exceptions")
        has_style = try symbol("lammps_has_style")
        has_id = try symbol("lammps_has_id")
        has_error = try symbol("lammps_has_error")
        get_last_error_message = try symbol("lammps_get_last_error_message")
        free = try symbol("lammps_free")
        set_fix_external_callback = try symbol("lammps_set_fix_external_callback")
    }
}

/// Constants of `library.h` (enum _LMP_DATATYPE_CONST, _LMP_STYLE_CONST, _LMP_TYPE_CONST).
enum LMP {
    static let int32: Int32 = 0, double: Int32 = 1
    static let globalInt64Datatype: Int32 = 4
    static let styleGlobal: Int32 = 0
    static let typeScalar: Int32 = 0, typeVector: Int32 = 1, typeArray: Int32 = 2
    static let sizeVector: Int32 = 3, sizeRows: Int32 = 4, sizeColumns: Int32 = 5
}
