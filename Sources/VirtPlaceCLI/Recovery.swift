import Engine
import Foundation
import Placement

// What apply (and reconcile) do before they plan: deal with what an earlier run left
// unfinished. See docs/recovery.md.

/// Gives up what the operator named with `--abandon`, then finishes, rolls back or holds every
/// other action an earlier run left unfinished (asking first when `ask`), and prints how each
/// ended. The report's `held` instances are not to be touched by this run.
/// - Throws: `CLIError` when the user does not confirm (nothing was changed).
func recoverUnfinished(_ found: [UnfinishedAction], abandon: [String], ask: Bool, executor: Executor,
                       targets: [ObserveTarget], console: Console) async throws -> RecoveryReport {
    var unfinished = found
    if !abandon.isEmpty {
        let given = await executor.abandon(abandon, among: unfinished)
        for name in given {
            console.line("Forgot the unfinished move of \(Escape.terminal(name)) (--abandon): it is planned afresh from what the hosts show.")
        }
        for name in abandon where !given.contains(name) {
            console.err(console.style("warning:", .yellow) + " --abandon \(Escape.terminal(name)): no earlier run left anything unfinished for it")
        }
        unfinished.removeAll { given.contains($0.instance) }
    }
    guard !unfinished.isEmpty else { return RecoveryReport() }
    // Actions that had changed nothing yet are closed quietly (the plan decides afresh); the
    // others are shown, and asked about on a terminal.
    let shown = unfinished.filter { $0.changedSomething || $0.action == nil }
    if !shown.isEmpty {
        console.line(describeUnfinished(shown, intro: "An earlier run left unfinished (finished first, or rolled back where finishing is impossible):"))
    }
    if ask && !shown.isEmpty {
        console.out("Do you want to deal with \(unfinished.count == 1 ? "it" : "them") now? Only 'yes' will be accepted: ")
        let answer = readLine(strippingNewline: true)?.trimmingCharacters(in: .whitespaces)
        guard answer == "yes" else {
            throw CLIError(message: "apply cancelled: nothing was changed (the unfinished actions stay in the journal)")
        }
    }
    let uris = Dictionary(targets.map { ($0.name, $0.uri) }, uniquingKeysWith: { a, _ in a })
    let report = await executor.recover(unfinished, hosts: targets.map(\.name), uris: uris)
    // Every problem is shown; a quiet give-up of an action that changed nothing is not.
    let names = Set(shown.map(\.instance))
    let worth = report.actions.filter { names.contains($0.instance) || $0.status != .done }
    console.out(renderRecovery(RecoveryReport(actions: worth, held: report.held), console: console))
    return report
}

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
                           ("VIRTPLACE_TEST_KILL_BEFORE_STEP", .afterIntent)] {
        guard let value = environment[name], !value.isEmpty else { continue }
        guard let step = Int(value), step >= 0 else {
            throw CLIError(message: "\(name)=\(Escape.terminal(value)): expected a step index (0, 1, …)")
        }
        return CrashPoint(step: step, moment: moment, crash: kill)
    }
    #endif
    return nil
}

/// Reads the journal for an apply or reconcile, once, under the lock (`Journal.load`): a line
/// that cannot be read holds the whole run (nothing is changed, not even a torn last line); a
/// torn last line (a write cut short) is then repaired and reported through `warn` (with
/// `repair` false, a dry run, only reported). What it returns stays true of the journal after
/// the repair. See docs/recovery.md.
/// - Throws: `EngineError` when the journal cannot be read (a symlink, not a regular file);
///   `CLIError` (exit 1, nothing changed) when a line of it cannot be read.
func readJournal(_ state: StateDirectory, repair: Bool, warn: (String) -> Void) throws -> Journal.Contents {
    let path = state.journalPath
    var contents = try Journal.load(path: path)
    if !contents.unreadable.isEmpty {
        let lines = contents.unreadable.prefix(5).map { "  line \($0.line): \($0.reason): \($0.excerpt)" }.joined(separator: "\n")
        let more = contents.unreadable.count > 5 ? "\n  … and \(contents.unreadable.count - 5) more" : ""
        throw CLIError(message: """
            the journal '\(path)' has \(contents.unreadable.count) line\(contents.unreadable.count == 1 ? "" : "s") that cannot be read:
            \(lines)\(more)
            Such a line may be the record of a move left half done, so nothing was changed. Look at the line (the instance \
            it names), check that instance on every host (virsh list --all), then repair the line or delete it, and run again \
            (docs/recovery.md).
            """)
    }
    if let torn = contents.tornTail {
        let what = "the journal '\(path)' ends in a torn line (line \(torn.line), \(torn.bytes) bytes, no newline: a write cut short by a crash or a full disk)"
        let fix = torn.whole ? "it holds a whole record, which is kept and given its newline" : "it is not a whole record (its write never finished, so no step ran after it) and is cut off"
        if repair {
            if let done = try Journal.repairTornTail(path: path) {
                warn("\(what): \(done.whole ? "kept it and added the newline" : "cut it off")")
            }
            // What was read holds the whole record it kept and nothing of a line it cut off.
            contents.tornTail = nil
        } else {
            warn("\(what): \(fix) by the next apply")
        }
    }
    return contents
}

/// The unfinished actions, one line each: instance, move, how far it got.
func describeUnfinished(_ unfinished: [UnfinishedAction], intro: String) -> String {
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
        case .blocked:
            s += "  \(t(r.instance)): " + console.style("left alone", .yellow) + ": \(t(r.message ?? ""))\n"
        }
    }
    return s.isEmpty ? "" : s + "\n"
}

