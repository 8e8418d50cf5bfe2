import Engine
import Foundation
import Libvirt
import Placement

// How apply shows what an earlier run left unfinished and how recovery (in `ApplyPass`) dealt
// with it; the test hook that kills the process at a step. See docs/recovery.md.

/// `VIRTPLACE_TEST_KILL_AFTER_STEP=N` / `VIRTPLACE_TEST_KILL_BEFORE_STEP=N`: tests only, and
/// debug builds only (the lab tests run debug builds): a release build reads neither variable,
/// and the executor's check is compiled out too (`scripts/check-release-hooks` proves it). The
/// process kills itself (SIGKILL) at that step boundary of any action (N counts from 0, as
/// the journal's `step`): after step N's outcome is journalled, or after its intent is
/// journalled and before it runs. Unset (or empty), nil: nothing happens.
/// - Throws: `CLIError` when the value is not a step index.
func testCrashPoint(_ environment: [String: String]) throws -> CrashPoint? {
    #if DEBUG
    let kill: @Sendable () -> Void = { _ = Foundation.kill(getpid(), SIGKILL) }
    for (name, moment) in [("VIRTPLACE_TEST_KILL_AFTER_STEP", CrashPoint.Moment.afterOutcome),
                           ("VIRTPLACE_TEST_KILL_BEFORE_STEP", .afterIntent),
                           ("VIRTPLACE_TEST_FAIL_STEP", .failInstead)] {
        guard let value = environment[name], !value.isEmpty else { continue }
        guard let step = Int(value), step >= 0 else {
            throw CLIError(message: "\(name)=\(Escape.terminal(value)): expected a step index (0, 1, …)")
        }
        return CrashPoint(step: step, moment: moment, crash: kill)
    }
    #endif
    return nil
}

/// The other fault-injection hooks of the tests, debug builds only (a release build reads none
/// of these variables; `scripts/check-release-hooks` proves it on the binary). Each takes a
/// count from 1, process-wide; unset (or empty): nothing happens.
///
/// | variable | the process |
/// | --- | --- |
/// | `VIRTPLACE_TEST_KILL_AFTER_RECORD=N` | is killed right after its Nth journal record is on disk |
/// | `VIRTPLACE_TEST_JOURNAL_FULL_AT_RECORD=N` | finds the disk full from its Nth journal append on (ENOSPC) |
/// | `VIRTPLACE_TEST_KILL_BEFORE_CALL=N` | is killed just before its Nth mutating libvirt call |
/// | `VIRTPLACE_TEST_KILL_AFTER_BYTES=N` | is killed in a volume copy once N bytes are copied |
/// - Throws: `CLIError` when a value is not a count.
func installTestFaults(_ environment: [String: String]) throws {
    #if DEBUG
    func count(_ name: String) throws -> Int? {
        guard let value = environment[name], !value.isEmpty else { return nil }
        guard let n = Int(value), n >= 1 else {
            throw CLIError(message: "\(name)=\(Escape.terminal(value)): expected a count (1, 2, …)")
        }
        return n
    }
    let faults = Journal.TestFaults(killAfterRecord: try count("VIRTPLACE_TEST_KILL_AFTER_RECORD"),
                                    fullFromRecord: try count("VIRTPLACE_TEST_JOURNAL_FULL_AT_RECORD"))
    Journal.testFaults.withLock { $0 = faults }
    let call = try count("VIRTPLACE_TEST_KILL_BEFORE_CALL")
    MutatingCalls.killBefore.withLock { $0 = call }
    let bytes = try count("VIRTPLACE_TEST_KILL_AFTER_BYTES").map(UInt64.init)
    VolumeTransfer.killAfterBytes.withLock { $0 = bytes }
    #endif
}

/// The unfinished actions, one line each: instance, move, how far it got.
func renderUnfinished(_ unfinished: [UnfinishedAction], intro: String) -> String {
    var s = intro + "\n"
    for u in unfinished {
        let what = u.action.map { a in Escape.terminal("\(a.kind.rawValue) \(a.from ?? "-") → \(a.to ?? "-")") } ?? "an action the journal does not describe"
        s += "  \(Escape.terminal(u.instance)): \(what), run \(Escape.terminal(u.origin)), stopped \(Escape.terminal("\(u.progress)"))\n"
    }
    return s
}

/// How recovery dealt with each unfinished action: what was done, and for a held instance
/// the whole message (what was found, what to do).
func renderRecovery(_ report: RecoveryReport, console: Console) -> String {
    let t = Escape.terminal
    var s = ""
    for r in report.actions {
        switch r.status {
        case .done:
            s += "  \(t(r.instance)): " + console.style("recovered", .green)
            s += r.notes.isEmpty ? "\n" : ": " + t(r.notes.joined(separator: "; ")) + "\n"
        case .failed:
            s += "  \(t(r.instance)): " + console.style("recovery failed", .red) + ": \(t(r.message ?? ""))\n"
        case .blocked, .deferred:
            s += "  \(t(r.instance)): " + console.style("left alone", .yellow) + ": \(t(r.message ?? ""))\n"
        }
    }
    return s.isEmpty ? "" : s + "\n"
}

