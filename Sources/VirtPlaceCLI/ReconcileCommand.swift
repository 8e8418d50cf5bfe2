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
    static let usage = ["reconcile -f PATH... [--interval DURATION] [--max-moves N] [--metrics-file PATH] [--events FILE]"]
    static let options: [OptionSpec] = [
        fileOption,
        .value("interval", "DURATION", help: "keep running: one pass per interval (30s, 5m, 1h30m) until SIGTERM or SIGINT"),
        .value("max-moves", "N", help: "at most N moves per pass (with policy.maxMovesPerRun, the smaller applies)"),
        .value("metrics-file", "PATH", help: "write Prometheus text metrics to PATH after each pass (atomically)"),
        eventsOption,
    ]
    static let discussion = """
    Each pass: take the state directory's lock (a pass that finds it held exits 1 and says who
    holds it), read the placement, observe the hosts, plan, and apply without asking. Moves are
    capped per pass (--max-moves, policy.maxMovesPerRun); the rest wait for the next pass.
    Manual moves happen only for instances whose file lists them (as for apply). Each pass
    writes one JSON object per line on standard output: one per pass start and end, per action
    and per step, with durations.

    Before it plans, each pass finishes (or rolls back) what an earlier run left unfinished,
    as apply does, with one `recovery` line per such action; an instance virtplace cannot
    decide about is left alone and the line says what to do (docs/recovery.md).

    With --interval, a pass runs every DURATION until SIGTERM (or SIGINT): the step in progress
    finishes, nothing new starts, and what was interrupted stays in the journal for the next
    run to finish. A host that keeps failing is retried with backoff (interval × 2^n, at most
    an hour), not hammered; the other hosts are reconciled meanwhile.

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
    }

    func run(_ context: CommandContext) async throws -> ExitCode {
        let stop = StopSignal()
        let log = JSONLog(console: context.console)
        var reconciler = Reconciler(command: self, context: context, log: log, stop: stop)
        var code = ExitCode.success
        repeat {
            code = await reconciler.pass()
            // What the pass freed goes back to the kernel while the loop sleeps (see
            // ProcessMemory): otherwise malloc arenas keep it and RSS creeps up pass by pass.
            ProcessMemory.releaseFreed()
            guard let interval, !stop.requested else { break }
            log.write(["event": "sleep", "seconds": interval])
            let wake = Date().addingTimeInterval(interval)
            while Date() < wake && !stop.requested { try? await Task.sleep(for: .milliseconds(200)) }
        } while !stop.requested
        if stop.requested { log.write(["event": "stopped", "reason": "signal"]) }
        return code
    }
}

/// One reconcile pass after another, with what passes share: host backoff and metric totals.
struct Reconciler {
    let command: ReconcileCommand
    let context: CommandContext
    let log: JSONLog
    let stop: StopSignal
    var totals = MetricsTotals()
    /// Consecutive failed observations of a host, and when it may be tried again.
    var backoff: [String: (failures: Int, next: Date)] = [:]

    init(command: ReconcileCommand, context: CommandContext, log: JSONLog, stop: StopSignal) {
        self.command = command; self.context = context; self.log = log; self.stop = stop
    }

    mutating func pass() async -> ExitCode {
        let started = Date()
        var metrics = PassMetrics()
        log.write(["event": "pass-start"])
        let code: ExitCode
        var fleetName = ""
        do {
            (code, fleetName) = try await run(&metrics)
        } catch {
            let (message, failure) = describe(error)
            log.write(["event": "pass-error", "level": "error", "message": message.hasPrefix("error: ") ? String(message.dropFirst(7)) : message])
            code = failure
        }
        metrics.durationSeconds = Date().timeIntervalSince(started)
        metrics.endedAt = Date().timeIntervalSince1970
        metrics.success = code == .success
        totals.add(metrics)
        log.write(["event": "pass-end", "exitCode": Int(code.rawValue), "seconds": rounded(metrics.durationSeconds)])
        if context.environment["VIRTPLACE_DEBUG_CALLS"] == "1" {
            // A diagnostic: tests judge "nothing changed" with virsh, and show this beside it.
            context.console.err("libvirt mutating calls: \(MutatingCalls.total)")
        }
        if let path = command.metricsFile {
            do {
                try writeMetrics(renderMetrics(metrics, totals: totals, fleet: fleetName), to: path)
            } catch {
                log.write(["event": "metrics-error", "level": "error", "message": "\(error)"])
                // A write that failed is an error of the pass (exit 3: the pass itself ran).
                if code == .success { return .partial }
            }
        }
        return code
    }

    private mutating func run(_ metrics: inout PassMetrics) async throws -> (ExitCode, String) {
        // The placement: a file that does not load stops the pass before anything changes.
        let sources = try readSources(command.files)
        let loaded = loadPlacement(sources, options: context.loadOptions)
        for d in loaded.diagnostics {
            log.write(["event": "diagnostic", "level": d.severity.rawValue, "message": d.formatted])
        }
        guard var spec = loaded.spec else {
            throw CLIError(message: "the placement has errors (above); nothing was changed")
        }
        if let cap = command.maxMoves, cap > 0 {
            spec.policy.maxMovesPerRun = spec.policy.maxMovesPerRun == 0 ? cap : min(spec.policy.maxMovesPerRun, cap)
        }

        try checkEventsFile(command.eventsFile)
        let state = StateDirectory(path: context.common.stateDir)
        try state.prepare()
        let lock = try StateLock(state: state)
        defer { withExtendedLifetime(lock) {} }

        // Hosts in backoff are not contacted this pass: they count as unreachable.
        let now = Date()
        let all = observeTargets(spec, allowTestDriver: context.allowTestDriver)
        let resting = Set(all.filter { (backoff[$0.name]?.next ?? .distantPast) > now }.map(\.name))
        let fleet = LibvirtFleet(targets: all.filter { !resting.contains($0.name) })
        var options = ExecutionOptions(
            parallel: spec.policy.parallel,
            faultDomains: Dictionary(all.compactMap { t in t.faultDomain.map { (t.name, $0) } }, uniquingKeysWith: { a, _ in a }),
            hosts: all.map(\.name),
            crashPoint: try testCrashPoint(context.environment))
        let stop = self.stop
        options.stopRequested = { stop.requested }

        // What an earlier run left unfinished comes first: finished, rolled back, or held (a
        // host in backoff counts as unreachable). See docs/recovery.md.
        var held: [String: String] = [:]
        var recoveryClean = true
        // The journal, read once for the pass; a large one with nothing unfinished in it is
        // set aside.
        let log = self.log, console = context.console
        let contents = try readJournal(state, repair: true) { warning in
            log.write(["event": "journal-repaired", "level": "warning", "message": warning])
            console.err("warning: " + warning)
        }
        if let rotation = try Journal.rotate(path: state.journalPath, contents: contents, run: options.run) {
            log.write(["event": "journal-rotated", "bytes": rotation.bytes, "previous": rotation.previous,
                       "carried": rotation.carried])
        }
        let unfinished = contents.unfinished
        // Opened (created when missing) only when something is to be appended.
        var journal: Journal?
        if !unfinished.isEmpty {
            let opened = try Journal(path: state.journalPath, contents: contents)
            journal = opened
            let executor = Executor(driver: fleet, state: state, journal: opened, options: options) { log.event($0) }
            let uris = Dictionary(all.map { ($0.name, $0.uri) }, uniquingKeysWith: { a, _ in a })
            let report = await executor.recover(unfinished, hosts: all.map(\.name), uris: uris)
            for r in report.actions {
                metrics.actions[.init(kind: r.kind.rawValue, outcome: r.status.rawValue), default: 0] += 1
                let outcome = r.status == .done ? "recovered" : (r.status == .failed ? "failed" : "held")
                var f: [String: Any] = ["event": "recovery", "instance": r.instance, "kind": r.kind.rawValue, "outcome": outcome]
                if let message = r.message { f["message"] = message }
                if !r.notes.isEmpty { f["notes"] = r.notes }
                if r.status != .done { f["level"] = r.status == .failed ? "error" : "warning" }
                log.write(f)
            }
            held = report.held
            recoveryClean = report.clean
        }

        let seen = await fleet.observe(observer: Observer(refreshPools: true))
        let byName = Dictionary(seen.hosts.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        let observed = ObservedFleet(hosts: all.map { t in
            byName[t.name] ?? ObservedHost(name: t.name, uri: HostURI.redacted(t.uri), reachable: false,
                                           error: "not contacted: backing off until \(iso(backoff[t.name]?.next ?? now)) after \(backoff[t.name]?.failures ?? 0) failures",
                                           faultDomain: t.faultDomain)
        })
        for host in observed.hosts {
            if host.reachable {
                backoff[host.name] = nil
                metrics.hostsReachable += 1
            } else {
                metrics.hostsUnreachable += 1
                if !resting.contains(host.name) {
                    let failures = (backoff[host.name]?.failures ?? 0) + 1
                    let base = command.interval ?? 60
                    let wait = min(base * pow(2, Double(failures - 1)), 3600)
                    backoff[host.name] = (failures, Date().addingTimeInterval(wait))
                }
                log.write(["event": "host-unreachable", "level": "warning", "host": host.name, "message": host.error ?? "no answer"])
            }
        }

        let plan = makePlan(desired: spec, observed: observed, ownVolumes: journal?.ownVolumes ?? contents.ownVolumes,
                            clock: planningClock())
        log.write(["event": "plan", "summary": summaryLine(plan), "actions": plan.actions.count])
        var statusByInstance: [String: String] = [:]
        for name in spec.instances.keys { statusByInstance[name] = "converged" }
        // A migration someone else runs: waited for (the next pass sees where it ended), not a failure.
        for note in plan.notes where note.code == .instanceMigrating {
            statusByInstance[note.instance] = "deferred"
            log.write(["event": "waiting", "instance": note.instance, "code": note.code.rawValue, "message": note.message])
        }
        for action in plan.actions {
            if action.kind == .blocked {
                statusByInstance[action.instance] = "blocked"
                metrics.actions[.init(kind: "blocked", outcome: "blocked"), default: 0] += 1
                log.write(["event": "action", "level": "warning", "instance": action.instance, "kind": "blocked", "outcome": "blocked",
                           "message": action.reasons.map(\.message).joined(separator: "; ")])
            } else if action.deferred {
                statusByInstance[action.instance] = "deferred"
                metrics.actions[.init(kind: action.kind.rawValue, outcome: "deferred"), default: 0] += 1
                log.write(["event": "action", "instance": action.instance, "kind": action.kind.rawValue, "outcome": "deferred",
                           "message": action.reasons.first { $0.code == .orderDeferred }?.message
                               ?? "over the move cap for this pass: the next pass takes it up"])
            }
        }

        var failed = false
        if plan.actions.contains(where: \.isScheduled) {
            let journal = try journal ?? Journal(path: state.journalPath, contents: contents)
            let log = self.log
            let records = MaintenanceEvents(plan: plan, hosts: spec.hosts, path: command.eventsFile) { log.write($0) }
            let executor = Executor(driver: fleet, state: state, journal: journal, options: options) { event in
                log.event(event)
                records.handle(event)
            }
            let report = await executor.run(plan, holding: held)
            for (final, n) in records.counts { metrics.maintenanceMoves[final, default: 0] += n }
            for problem in records.errors { log.write(["event": "events-error", "level": "error", "message": problem]) }
            for r in report.actions {
                metrics.actions[.init(kind: r.kind.rawValue, outcome: r.status.rawValue), default: 0] += 1
                statusByInstance[r.instance] = r.status == .done ? "changed" : (r.status == .failed ? "failed" : "blocked")
                if let ms = r.downtimeMs { metrics.downtimes[r.instance] = Double(ms) / 1000 }
                if r.status != .done { failed = true }
            }
        }
        for status in statusByInstance.values { metrics.instances[status, default: 0] += 1 }
        let problems = failed || !recoveryClean || plan.summary.blocked > 0 || metrics.hostsUnreachable > 0
        return (problems ? .partial : .success, spec.metadata.name)
    }
}

/// Structured log lines: one JSON object per line, sorted keys, with the time.
final class JSONLog: Sendable {
    let console: Console
    init(console: Console) { self.console = console }

    func write(_ fields: [String: Any]) {
        var object = fields
        object["time"] = iso(Date())
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
            if let message = r.message { f["message"] = message }
            if !r.notes.isEmpty { f["notes"] = r.notes }
            if r.status != .done { f["level"] = r.status == .failed ? "error" : "warning" }
            write(f)
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

func iso(_ date: Date) -> String { ISO8601DateFormatter().string(from: date) }
func rounded(_ seconds: Double) -> Double { (seconds * 1000).rounded() / 1000 }
