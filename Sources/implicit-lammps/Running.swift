import ArgumentParser
import Foundation
import ImplicitDerivative
import Atomistics
import LAMMPSLibrary
import Workflows

/// Runs a command body with uniform failure handling: the error is printed once (rank 0) with
/// LAMMPS's own message, the process exits non-zero, and MPI is finalized unless an error on a
/// single rank makes that impossible.
func runReportingErrors(_ body: () throws -> Void) throws {
    do {
        try body()
        (try? Library.shared())?.finalizeMPI()
    } catch {
        let abortLike: Bool
        let root = (error as? RunFailure)?.underlying ?? error
        if case LAMMPSError.lammps(_, _, let isAbort) = root { abortLike = isAbort } else { abortLike = false }
        if let partitions = Partitions.active, partitions.count > 1 {
            // The other partitions would wait for this one in their next collective call: end the job.
            if partitions.isPartitionRoot {
                FileHandle.standardError.write(Data("error (partition \(partitions.index)): \(describe(error))\n".utf8))
            }
            partitions.abort()
        }
        if MPIJob.isRoot || abortLike {
            FileHandle.standardError.write(Data("error: \(describe(error))\n".utf8))
        }
        if !abortLike { (try? Library.shared())?.finalizeMPI() }
        throw ExitCode.failure
    }
}

private func describe(_ error: Error) -> String {
    let text = error is CocoaError || error is DecodingError ? Files.describe(error)
        : (error as? any SettingError)?.description(settings: option) ?? String(describing: error)
    if text.contains("not enabled in this LAMMPS") {
        return text + "\nFix: run scripts/setup and use the provisioned LAMMPS (unset LAMMPS_LIBRARY)."
    }
    return text
}

/// A run whose outputs form one set in `--out`: written to the staging folder, moved into place
/// when `body` returns. `body` returns nil, or a failure to report after its (marked) outputs
/// were kept, e.g. a relaxation that did not converge. A thrown error leaves `--out` untouched
/// and only the log (and checkpoints) in the staging folder.
/// `resumable`: what an interrupted run keeps for `--resume` besides its checkpoint (nil: start
/// afresh, checkpoint included).
/// `keepOnFailure`: what a failed run keeps in the staging folder besides its logs and checkpoint.
func runWritingOutputs(_ output: OutputOptions, resumable: Set<String>? = [], keepOnFailure: Set<String> = [],
                       _ body: (RunDirectory) throws -> String?) throws {
    try runReportingErrors {
        let run: RunDirectory
        do {
            run = try RunDirectory(output.out, overwrite: output.overwrite, writes: MPIJob.isRoot,
                                   resumable: resumable)
        } catch where MPIJob.launchedSize > 1 {
            // Only the writing rank takes the lock: the others, already on their way into LAMMPS's
            // collective calls, would wait for it forever.
            if MPIJob.isRoot { FileHandle.standardError.write(Data("error: \(describe(error))\n".utf8)) }
            MPIJob.abort()
        }
        if let note = run.lock?.staleNote { progress("note: " + note) }
        var keepsLock = false
        defer { if !keepsLock { run.lock?.release() } }
        let failure: String?
        do { failure = try body(run) } catch {
            run.abandon(keeping: (resumable ?? []).union(keepOnFailure))
            // Other partitions may still write into the staging folder until the abort that follows
            // ends them: their lock is then dropped by the kernel, with the job.
            keepsLock = (Partitions.active?.count ?? 1) > 1
            throw RunFailure(underlying: error, log: run.abandonedLog, destination: run.destination.path)
        }
        try run.commit()
        if let failure { throw RunFailure(underlying: CompletedWithFailure(text: failure), log: nil, destination: nil) }
    }
}

struct CompletedWithFailure: Error, CustomStringConvertible { var text: String; var description: String { text } }

/// An error of a run, with where its log is and what became of `--out`.
struct RunFailure: Error, CustomStringConvertible {
    var underlying: Error
    var log: String?
    var destination: String?
    var description: String {
        var text = describe(underlying)
        if let destination { text += "\nNothing was written to \(destination)." }
        if let log { text += " LAMMPS's log of this run: \(log)" }
        return text
    }
}

/// Runs a campaign, wording a refused --resume for the command-line user and the engine's
/// refusals (any layer's `SettingError`) with the campaign file's keys (its user changes the file, not options).
func wordingCampaignErrors(_ config: String, _ body: () throws -> Void) throws {
    do { try body() } catch let error as any SettingError {
        throw InputError.invalid(error.description(settings: campaignKey))
    } catch is ChangedCampaign {
        throw InputError.invalid("""
            --resume: the campaign in \(config) is not the one that was interrupted (its configuration \
            changed); start it afresh without --resume, or into another --out
            """)
    } catch let error as UnreadableCheckpoint {
        throw InputError.invalid("--resume: the checkpoint \(error.path) cannot be read (\(error.reason)); start afresh")
    }
}
