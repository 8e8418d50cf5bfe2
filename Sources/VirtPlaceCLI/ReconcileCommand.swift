import Dispatch
import Engine
import Foundation
import Libvirt
import Placement
import Synchronization

/// `virtplace reconcile`: `apply --auto-approve` made safe for unattended runs.
struct ReconcileCommand: Command {
    static let name = "reconcile"
    static let abstract = "unattended drift correction: apply --auto-approve, locked, capped, logged"
    static let usage = ["reconcile -f PATH... [--interval DURATION] [--max-moves N] [--until TIME|DURATION] [--metrics-file PATH] [--events FILE]"]
    static let options: [OptionSpec] = [
        fileOption,
        .value("interval", "DURATION", help: "keep running: one pass per interval (30s, 5m, 1h30m) until SIGTERM or SIGINT"),
        .value("max-moves", "N", help: "at most N moves per pass (with policy.maxMovesPerRun, the smaller applies)"),
        .value("metrics-file", "PATH", help: "write Prometheus text metrics to PATH after each pass (atomically)"),
        eventsOption,
        untilOption,
    ]
    static let discussion = """
    Each pass: take the state directory's lock (a pass that finds it held exits 1 and says who
    holds it), read the placement, observe the hosts, plan, and apply without asking. Moves are
    capped per pass (--max-moves, policy.maxMovesPerRun); the rest wait for the next pass.
    Manual moves happen only for instances whose file lists them (as for apply). Each pass
    writes one JSON object per line on standard output: one per pass start and end, per action
    and per step, with durations; a finished move's line carries its estimate and its actual
    bytes, seconds and downtime.

    --until TIME|DURATION is a maintenance window for every pass (a duration counts from the
    start of the command): a move whose estimate would end after it is not started; its
    action line says `deferred` (order.window). Nothing running is cut short.

    Before it plans, each pass finishes (or rolls back) what an earlier run left unfinished,
    as apply does, with one `recovery` line per such action; an instance virtplace cannot
    decide about is left alone and the line says what to do (docs/recovery.md).

    With --interval, a pass runs every DURATION until SIGTERM (or SIGINT): the step in progress
    finishes, nothing new starts, and what was interrupted stays in the journal for the next
    run to finish. A host that keeps failing is retried with backoff (interval × 2^n, at most
    an hour), not hammered; the other hosts are reconciled meanwhile. An instance whose action
    failed backs off too (interval × 2^n after n failures in a row, at most an hour; reported
    blocked meanwhile), until its action succeeds, it needs nothing, or its declaration changes.

    Hosts under maintenance (hosts.NAME.maintenance) are evacuated: live and cold moves at once,
    moves with downtime from the due date on; each maintenance move logs a
    maintenance-move-started and a maintenance-move-finished line (and, with --events FILE,
    appends them there). See docs/operations.md.

    Exit codes (of the last pass): 0 converged or every action done; 1 nothing was changed
    (invalid file, lock held); 3 an action failed or was blocked, or a host was unreachable.
    """

    var files: [String]
    var interval: Double?
    var maxMoves: Int?
    var metricsFile: String?
    var eventsFile: String?
    var until: Date?

    init(arguments: ParsedArguments, common: CommonOptions) throws(UsageError) {
        try rejectPositionals(arguments, command: Self.name)
        files = try requireFiles(arguments, command: Self.name)
        if let text = arguments.value("interval") {
            guard let seconds = parseDuration(text) else {
                throw UsageError(message: "invalid --interval '\(text)' (examples: 30s, 5m, 1h, 1h30m)", command: Self.name)
            }
            interval = seconds
        }
        if let text = arguments.value("max-moves") {
            guard let n = Int(text), n >= 0 else {
                throw UsageError(message: "invalid --max-moves '\(text)' (a whole number, 0 for no cap)", command: Self.name)
            }
            maxMoves = n
        }
        metricsFile = arguments.value("metrics-file")
        eventsFile = arguments.value("events")
        until = try parseUntilOption(arguments, command: Self.name)
    }

    func run(_ context: CommandContext) async throws -> ExitCode {
        let stop = StopSignal()
        let log = JSONLog(console: context.console)
        var configuration = ReconcileLoop.Configuration(state: StateDirectory(path: context.common.stateDir))
        configuration.interval = interval
        configuration.maxMoves = maxMoves
        configuration.metricsFile = metricsFile
        configuration.eventsFile = eventsFile
        configuration.until = until
        configuration.allowTestDriver = context.allowTestDriver
        configuration.crashPoint = try testCrashPoint(context.environment)
        try installTestFaults(context.environment)
        configuration.stopRequested = { stop.requested }
        // What a pass freed goes back to the kernel while the loop sleeps: otherwise malloc
        // arenas keep it and RSS creeps up pass by pass (see ProcessMemory).
        configuration.releaseMemory = { ProcessMemory.releaseFreed() }
        var loop = ReconcileLoop(configuration)
        let last = await loop.run(load: { try placement(context, log: log) }, observer: ReconcileLog(log: log, context: context))
        return ExitCode(last)
    }

    /// The placement for one pass, its diagnostics logged: a file that does not load stops the
    /// pass before anything changes.
    private func placement(_ context: CommandContext, log: JSONLog) throws -> PlacementSpec {
        let loaded = loadPlacement(try readSources(files), options: context.loadOptions)
        for d in loaded.diagnostics {
            log.write(["event": "diagnostic", "level": d.severity.rawValue, "message": d.formatted])
        }
        guard let spec = loaded.spec else {
            throw CLIError(message: "the placement has errors (above); nothing was changed")
        }
        try checkEventsFile(eventsFile)
        return spec
    }
}

/// How `reconcile` shows its passes: one JSON log line per event (docs/operations.md).
struct ReconcileLog: ReconcileObserver {
    let log: JSONLog
    let context: CommandContext

    func handle(_ event: PassEvent) {
        switch event {
        case .journalRotated(let rotation):
            log.write(["event": "journal-rotated", "bytes": rotation.bytes, "previous": rotation.previous, "carried": rotation.carried])
        case .journalRepaired(let warning):
            log.write(["event": "journal-repaired", "level": "warning", "message": warning])
            context.console.err("warning: " + warning)
        case .recovered(let report, _):
            for r in report.actions {
                let outcome = r.status == .done ? "recovered" : (r.status == .failed ? "failed" : "held")
                var f: [String: Any] = ["event": "recovery", "instance": r.instance, "kind": r.kind.rawValue, "outcome": outcome]
                if let message = r.message { f["message"] = message }
                if !r.notes.isEmpty { f["notes"] = r.notes }
                if r.status != .done { f["level"] = r.status == .failed ? "error" : "warning" }
                log.write(f)
            }
        case .hostUnreachable(let host):
            log.write(["event": "host-unreachable", "level": "warning", "host": host.name, "message": host.error ?? "no answer"])
        case .planned(let plan):
            log.write(["event": "plan", "summary": summaryLine(plan), "actions": plan.actions.count])
            // A migration someone else runs: waited for (the next pass sees where it ended), not a failure.
            for note in plan.notes where note.code == .instanceMigrating {
                log.write(["event": "waiting", "instance": note.instance, "code": note.code.rawValue, "message": note.message])
            }
            for action in plan.actions {
                if action.kind == .blocked {
                    log.write(["event": "action", "level": "warning", "instance": action.instance, "kind": "blocked", "outcome": "blocked",
                               "message": action.reasons.map(\.message).joined(separator: "; ")])
                } else if action.deferred {
                    let why = action.reasons.first { [.orderDeferred, .orderWindow, .orderWindowUnknown].contains($0.code) }
                    var f: [String: Any] = ["event": "action", "instance": action.instance, "kind": action.kind.rawValue, "outcome": "deferred",
                                            "message": why?.message ?? "over the move cap for this pass: the next pass takes it up"]
                    if let why { f["code"] = why.code.rawValue }
                    if let e = action.estimate { f["estimate"] = estimateFields(e) }
                    log.write(f)
                }
            }
        case .execution(let event):
            log.event(event)
        case .eventsFileError(let problem):
            log.write(["event": "events-error", "level": "error", "message": problem])
        case .historyProblem(let problem):
            log.write(["event": "history-error", "level": "warning", "message": problem])
        case .abandoned, .unfinished, .observing, .nothingToRun, .dryRun, .executing, .manualMigrationNeeded, .executed:
            break
        }
    }

    /// Maintenance moves' records go to the log as they are (`MaintenanceEvents` wrote them to
    /// the events file).
    func maintenanceRecord(_ fields: [String: Any]) {
        log.write(fields)
    }

    func reconcile(_ event: ReconcileEvent) {
        switch event {
        case .passStarted:
            log.write(["event": "pass-start"])
        case let .holding(instance, backoff):
            var f: [String: Any] = ["event": "backoff", "level": "warning", "instance": instance, "failures": backoff.failures,
                                    "until": ReconcileLoop.iso(backoff.until)]
            if let message = backoff.message { f["message"] = message }
            log.write(f)
        case .metricsError(let error):
            log.write(["event": "metrics-error", "level": "error", "message": "\(error)"])
        case .passEnded(let pass):
            if let error = pass.error {
                log.write(["event": "pass-error", "level": "error", "message": MessageInfo(error).message])
            }
            var f: [String: Any] = ["event": "pass-end", "exitCode": Int(ExitCode(pass).rawValue), "seconds": rounded(pass.metrics.durationSeconds)]
            if !pass.backingOff.isEmpty { f["backingOff"] = pass.backingOff.keys.sorted() }
            log.write(f)
            if context.environment["VIRTPLACE_DEBUG_CALLS"] == "1" {
                // A diagnostic: tests judge "nothing changed" with virsh, and show this beside it.
                context.console.err("libvirt mutating calls: \(MutatingCalls.total)")
            }
        case .sleeping(let seconds):
            log.write(["event": "sleep", "seconds": seconds])
        case .stopped:
            log.write(["event": "stopped", "reason": "signal"])
        case .backoffFileProblem(let problem):
            log.write(["event": "backoff-error", "level": "warning", "message": problem])
        }
    }
}

/// Structured log lines: one JSON object per line, sorted keys, with the time.
final class JSONLog: Sendable {
    let console: Console
    init(console: Console) { self.console = console }

    func write(_ fields: [String: Any]) {
        var object = fields
        object["time"] = ReconcileLoop.iso(Date())
        if object["level"] == nil { object["level"] = "info" }
        guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]) else { return }
        // One JSON rule (`Escape.hardenedJSON`): no raw DEL, C1, bidi or separator character either.
        console.out(Escape.hardenedJSON(String(decoding: data, as: UTF8.self)) + "\n")
    }

    /// An executor event as a log line: steps and actions with their durations; transfers are
    /// not logged line by line.
    func event(_ event: ExecutionEvent) {
        switch event {
        case let .stepFinished(instance, index, step, outcome, seconds):
            var f: [String: Any] = ["event": "step", "instance": instance, "step": index + 1, "op": step.op,
                                    "summary": step.summary, "seconds": rounded(seconds)]
            switch outcome {
            case .done(let note): f["outcome"] = "done"; if let note { f["message"] = note }
            case .skipped(let why): f["outcome"] = "skipped"; f["message"] = why
            case .failed(let why): f["outcome"] = "failed"; f["message"] = why; f["level"] = "error"
            }
            write(f)
        case let .actionFinished(r):
            var f: [String: Any] = ["event": "action", "instance": r.instance, "kind": r.kind.rawValue, "outcome": r.status.rawValue,
                                    "seconds": rounded(r.elapsedSeconds)]
            if let from = r.from { f["from"] = from }
            if let to = r.to { f["to"] = to }
            if let ms = r.downtimeMs { f["downtimeMs"] = Int(ms) }
            if let e = r.estimate { f["estimate"] = estimateFields(e) }
            if let a = r.actual {
                var actual: [String: Any] = ["seconds": rounded(a.seconds)]
                actual["bytes"] = a.bytes.map { $0 as Any } ?? NSNull()
                actual["downtimeMs"] = a.downtimeMs.map { $0 as Any } ?? NSNull()
                f["actual"] = actual
            }
            if let message = r.message { f["message"] = message }
            if !r.notes.isEmpty { f["notes"] = r.notes }
            if r.status != .done && r.status != .deferred { f["level"] = r.status == .failed ? "error" : "warning" }
            write(f)
        case let .convergence(instance, d):
            write(convergenceFields(instance, d))
        case .waveStarted, .actionStarted, .stepStarted, .transfer:
            break
        }
    }
}

/// Set by SIGTERM or SIGINT; read between steps.
// @unchecked: the dispatch sources are created in init and only kept alive afterwards; the
// flag itself is behind a Mutex.
final class StopSignal: @unchecked Sendable {
    private let flag = Mutex(false)
    private var sources: [any DispatchSourceSignal] = []

    init() {
        for sig in [SIGTERM, SIGINT] {
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler { [weak self] in self?.flag.withLock { $0 = true } }
            source.resume()
            sources.append(source)
        }
    }

    var requested: Bool { flag.withLock { $0 } }
}

func rounded(_ seconds: Double) -> Double { (seconds * 1000).rounded() / 1000 }

/// A convergence decision as a log line's fields: `event: converge`, what was done
/// (`action`: `downtime`, `autoConverge`, `postcopy`, `abort`), why (`cause`: `stall`,
/// `timeout`), and the figures it was taken on.
func convergenceFields(_ instance: String, _ d: ConvergenceController.Decision) -> [String: Any] {
    var f: [String: Any] = ["event": "converge", "instance": instance, "cause": d.cause.rawValue, "attempt": d.attempt,
                            "seconds": rounded(d.atSeconds), "stalledSeconds": rounded(d.stalledSeconds),
                            "downtimeMs": Int(clamping: d.downtimeMs), "message": d.summary]
    switch d.action {
    case .setDowntime(let ms): f["action"] = "downtime"; f["newDowntimeMs"] = Int(clamping: ms)
    case .restartWithAutoConverge: f["action"] = "autoConverge"
    case .startPostCopy: f["action"] = "postcopy"
    case .abort: f["action"] = "abort"; f["level"] = "warning"
    }
    if let v = d.remainingBytes { f["remainingBytes"] = Int(clamping: v) }
    if let v = d.lowestBytes { f["lowestBytes"] = Int(clamping: v) }
    if let v = d.bytesPerSecond { f["bytesPerSecond"] = Int(clamping: v) }
    if let v = d.dirtyBytesPerSecond { f["dirtyBytesPerSecond"] = Int(clamping: v) }
    if let v = d.iteration { f["iteration"] = Int(clamping: v) }
    if let v = d.throttlePercent { f["throttlePercent"] = v }
    return f
}

/// A move's estimate as log fields (`bytes`, `seconds`, `downtimeMs`; null when unknown).
func estimateFields(_ e: MoveEstimate) -> [String: Any] {
    ["bytes": e.bytes.map { $0 as Any } ?? NSNull(), "seconds": e.seconds.map { $0 as Any } ?? NSNull(),
     "downtimeMs": e.downtimeMs.map { $0 as Any } ?? NSNull()]
}
