import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// One run per output folder: an advisory lock (`flock`) on the file `DIR.lock` beside `--out DIR`,
/// held by the writing process from before it touches `DIR` or `DIR.incomplete` until its run has
/// committed or abandoned the folder (or, when a partition must abort the job, until it ends).
/// The kernel drops the lock when its holder dies (even by SIGKILL), so a lock file left by a dead
/// run never blocks `--resume`: it is taken over, and `staleNote` says whose it was.
public final class OutputLock: @unchecked Sendable {
    public let url: URL
    /// Set when the lock file of an earlier run that no longer runs was found and taken over.
    public let staleNote: String?
    private let descriptor: Int32
    private var released = false

    public init(for destination: URL) throws {
        url = URL(fileURLWithPath: destination.path + ".lock")
        // A holder deletes the file when it ends; a file opened just before that is not the lock
        // anymore, so the inode is compared after locking and the attempt repeated.
        for _ in 0..<10 {
            let fd = open(url.path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
            guard fd >= 0 else {
                throw InputError.badValue(.out, value: destination.path, reason: "cannot create its lock file \(url.path): \(OutputLock.reason())")
            }
            guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
                let busy = errno == EWOULDBLOCK
                let holder = OutputLock.content(of: fd)
                close(fd)
                guard busy else { throw InputError.badValue(.out, value: destination.path, reason: "cannot lock \(url.path): \(OutputLock.reason())") }
                throw InputError.badValue(.out, value: destination.path, reason: """
                    is in use by another run that is still going: \
                    \(holder.isEmpty ? "a process that has not yet said which" : holder) (lock file \(url.path)). \
                    Wait for it to finish, stop it, or choose another \(setting: .out).
                    """)
            }
            var held = stat(), named = stat()
            guard fstat(fd, &held) == 0, stat(url.path, &named) == 0,
                  held.st_ino == named.st_ino, held.st_dev == named.st_dev else {
                close(fd)
                continue
            }
            let previous = OutputLock.content(of: fd)
            staleNote = previous.isEmpty ? nil : """
                --out \(destination.path) was locked by \(previous), which is no longer running (it was interrupted \
                or killed); its lock is taken over
                """
            descriptor = fd
            OutputLock.write(OutputLock.describeThisProcess(), to: fd)
            return
        }
        throw InputError.badValue(.out, value: destination.path, reason: "its lock file \(url.path) keeps being replaced by other runs")
    }

    /// Removes the lock file, then unlocks: whoever opened the file meanwhile sees it is gone and
    /// retries. Only once: a second call must not remove the lock file of the next run.
    public func release() {
        guard !released else { return }
        released = true
        unlink(url.path)
        close(descriptor)
    }

    /// What a refused run names: the holder's process ID, host, start time and command line.
    private static func describeThisProcess() -> String {
        let started = ISO8601DateFormatter().string(from: Date())
        return "process \(getpid()) on \(ProcessInfo.processInfo.hostName), started \(started): "
            + CommandLine.arguments.joined(separator: " ")
    }

    private static func content(of fd: Int32) -> String {
        var bytes = [UInt8](repeating: 0, count: 4096)
        let count = pread(fd, &bytes, bytes.count, 0)
        guard count > 0 else { return "" }
        return String(decoding: bytes[..<count], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    private static func write(_ text: String, to fd: Int32) {
        _ = ftruncate(fd, 0)
        let bytes = Array((text + "\n").utf8)
        _ = pwrite(fd, bytes, bytes.count, 0)
    }

    private static func reason() -> String { String(cString: strerror(errno)) }
}

/// Checks of an `--out` path that can be made before any work.
public enum OutputPath {
    public static func check(_ destination: URL) throws {
        let path = destination.path
        // Refused before any work rather than at the first `write_data` into it.
        try requireLAMMPSOpenable(path, setting: .out)
        if destination.lastPathComponent.hasSuffix(".incomplete") {
            let run = String(path.dropLast(".incomplete".count))
            throw InputError.badValue(.out, value: path, reason: """
                is the staging folder of a run into \(run): use \(setting: .out) \(run) (with \(setting: .resume) to continue it)
                """)
        }
        // The first folder that exists above DIR must be a writable folder.
        let ancestor = Files.nearestExisting(destination.deletingLastPathComponent()).existing
        var isFolder: ObjCBool = false
        _ = FileManager.default.fileExists(atPath: ancestor.path, isDirectory: &isFolder)
        guard isFolder.boolValue else {
            throw InputError.badValue(.out, value: path, reason: "\(ancestor.path) is a file, not a folder, so nothing can be created under it")
        }
        guard access(ancestor.path, W_OK | X_OK) == 0 else {
            throw InputError.badValue(.out, value: path, reason: "cannot create it: no permission to write in \(ancestor.path)")
        }
    }
}
