import Engine
import Foundation
import Libvirt
import Placement
import Synchronization

/// `virtplace apply`: observe, plan, confirm, then carry the plan out.
struct ApplyCommand: Command {
    static let name = "apply"
    static let abstract = "carry out the plan: move and update instances"
    static let usage = ["apply -f PATH... [--auto-approve] [--dry-run] [--now INSTANCE]... [--events FILE]",
                        "apply PLANFILE [-f PATH...] [--auto-approve] [--dry-run] [--events FILE]"]
    static let options: [OptionSpec] = [
        fileOption,
        .flag("auto-approve", help: "do not ask for confirmation (needed without a terminal)"),
        .flag("dry-run", help: "print what would be done, step by step, and change nothing"),
        .value("abandon", "INSTANCE", repeatable: true,
               help: "forget what an earlier run left unfinished for INSTANCE (after putting it right by hand); repeatable"),
        .value("now", "INSTANCE", repeatable: true,
               help: "move INSTANCE off its host under maintenance now, even with downtime, not at the due date; repeatable"),
        eventsOption,
        untilOption,
    ]
    static let discussion = """
    With -f, observes the hosts, plans, shows the plan and, on a terminal, asks for confirmation
    ('yes'); without a terminal it needs --auto-approve. With PLANFILE (from 'plan --out'),
    applies exactly that plan, and refuses it when the hosts changed since it was made. A saved
    plan is checked whole before any host is contacted: its keys, names, numbers and URIs, and
    its content digest (an edited plan is refused). With PLANFILE and -f PATH..., the plan must
    also have been made from exactly that desired state.
    Before anything runs the hosts are observed again, and a plan that no longer holds is
    refused. The state directory's lock keeps two applies (or reconciles) from interleaving.

    Every step checks first whether its result already holds, so an apply interrupted at any
    point is finished by applying again. No step deletes a volume: a volume copied to another
    host keeps its source copy, reported at the end.

    Before planning, apply finishes (or, where that is impossible, rolls back) what an earlier
    run left unfinished, from the journal and a fresh look at every host. When it cannot decide
    (say, an instance running on two hosts), it leaves that instance alone and says what it
    found and what to do; after putting it right by hand, --abandon INSTANCE makes virtplace
    forget the earlier move. See docs/recovery.md.

    On a host under maintenance (hosts.NAME.maintenance), moves with downtime wait for the due
    date unless --now INSTANCE (or the instance's maintenance.proactive) asks for them earlier;
    --events FILE records each maintenance move's start and end (docs/operations.md).

    --until TIME|DURATION is a maintenance window (20:00, 2026-12-07T20:00:00Z, 45m, 1h30m): a
    move whose estimate (see 'plan -v') would end after it is not started and is reported
    deferred (order.window); nothing running is cut short. Deferred moves are not a failure.

    Ctrl-C (SIGINT) or SIGTERM while steps run lets the step in progress finish, starts nothing
    new, and exits 130 (143 for SIGTERM); the next apply finishes what was left. A second
    Ctrl-C stops at once (the next apply still finishes it, from the journal).

    Exit codes: 0 every action done (or nothing to do); 1 nothing was changed: invalid input,
    a stale plan, the lock held, no confirmation; 3 finished, but an action failed or was
    blocked (the others were applied); 130/143 stopped by Ctrl-C/SIGTERM after a step.
    """

    enum Source: Equatable {
        case files([String])
        /// A saved plan, and the placement files it must have been made from (none: no check).
        case planFile(String, madeFrom: [String] = [])
    }

    var source: Source
    var autoApprove: Bool
    var dryRun: Bool
    var abandon: [String]
    var moveNow: [String]
    var eventsFile: String?
    var until: Date?

    init(arguments: ParsedArguments, common: CommonOptions) throws(UsageError) {
        let files = arguments.all("file")
        if arguments.positionals.count > 1 {
            throw UsageError(message: "unexpected argument '\(arguments.positionals[1])' (apply takes one PLANFILE)", command: Self.name)
        }
        if let plan = arguments.positionals.first {
            source = .planFile(plan, madeFrom: files.isEmpty ? [] : try requireFiles(arguments, command: Self.name))
        } else {
            if files.isEmpty {
                throw UsageError(message: "missing -f PATH (a placement) or PLANFILE (a saved plan)", command: Self.name)
            }
            source = .files(try requireFiles(arguments, command: Self.name))
        }
        autoApprove = arguments.flag("auto-approve")
        dryRun = arguments.flag("dry-run")
        abandon = arguments.all("abandon")
        moveNow = arguments.all("now")
        eventsFile = arguments.value("events")
        until = try parseUntilOption(arguments, command: Self.name)
        if case .planFile = source, !moveNow.isEmpty {
            throw UsageError(message: "--now changes the plan: it applies with -f PATH..., not to a saved plan (plan again instead)", command: Self.name)
        }
        if dryRun && !abandon.isEmpty {
            throw UsageError(message: "--abandon changes the journal: it cannot be combined with --dry-run", command: Self.name)
        }
    }

    func run(_ context: CommandContext) async throws -> ExitCode {
        if !autoApprove && !dryRun && !context.console.stdinIsTerminal {
            throw CLIError(message: "apply asks for confirmation on a terminal, and standard input is not one: pass --auto-approve to apply without asking (or --dry-run to see the steps)")
        }
        // What to apply, and where the hosts are.
        let desired: ApplyPass.Desired
        var targets: [ObserveTarget]
        let parallel: ParallelSpec
        switch source {
        case .files(let files):
            let spec = try loadPlacement(files, context: context).spec
            try checkMoveNow(moveNow, in: spec)
            desired = .placement(spec)
            targets = observeTargets(spec, allowTestDriver: context.allowTestDriver)
            parallel = spec.policy.parallel
        case .planFile(let path, let madeFrom):
            // Everything about the plan is checked before anything else happens: no lock, no
            // journal, no connection for a plan that is not sound.
            let plan = try readSavedPlan(path, context: context)
            if !madeFrom.isEmpty {
                let spec = try loadPlacement(madeFrom, context: context).spec
                guard desiredStateDigest(spec) == plan.desiredDigest else {
                    throw CLIError(message: "the plan '\(path)' was not made from the placement given with -f (its desired state differs); nothing was changed. Plan again.")
                }
            }
            desired = .savedPlan(plan)
            targets = plan.hosts.map { ObserveTarget(name: $0.name, uri: $0.uri, faultDomain: $0.faultDomain, allowTestDriver: context.allowTestDriver) }
            parallel = plan.parallel
        }
        // Only apply, and only on a terminal, answers libvirt's credential prompts (an SSH
        // passphrase, a SASL password, an unknown SSH host key); every other run refuses them.
        if context.console.stdinIsTerminal {
            targets = targets.map { target in
                var target = target
                target.answersPrompts = true
                return target
            }
        }
        if !dryRun { try checkEventsFile(eventsFile) }
        try installTestFaults(context.environment)
        var options = ExecutionOptions(
            parallel: parallel,
            faultDomains: Dictionary(targets.compactMap { t in t.faultDomain.map { (t.name, $0) } }, uniquingKeysWith: { a, _ in a }),
            hosts: targets.map(\.name),
            crashPoint: try testCrashPoint(context.environment))
        // Ctrl-C (or SIGTERM) once anything runs: the step in progress finishes, nothing new
        // starts, exit 130 (143); before that, and a second time, it stops the process at once.
        let interrupt = ApplyInterrupt()
        options.stopRequested = { interrupt.caught != nil }
        var pass = ApplyPass(desired: desired, targets: targets, state: StateDirectory(path: context.common.stateDir), options: options)
        pass.dryRun = dryRun
        pass.ask = !autoApprove
        pass.abandon = abandon
        pass.planningClock = planningClock(moveNow: moveNow)
        pass.eventsFile = eventsFile
        pass.until = until
        let report = try await pass.run(ApplyPresenter(context: context, dryRun: dryRun, interrupt: interrupt))
        debugCalls(context)
        if let signal = interrupt.caught {
            context.console.err("apply stopped on \(signal == SIGTERM ? "SIGTERM" : "Ctrl-C (SIGINT)") after the step in progress; what was left is in the journal, and the next apply finishes it")
            return signal == SIGTERM ? .terminated : .interrupted
        }
        return ExitCode(report.outcome)
    }

    /// `VIRTPLACE_DEBUG_CALLS=1` (or -v): how many libvirt calls changed something, on stderr.
    private func debugCalls(_ context: CommandContext) {
        guard context.environment["VIRTPLACE_DEBUG_CALLS"] == "1" || context.common.verbose else { return }
        let byFunction = MutatingCalls.byFunction
        let detail = byFunction.keys.sorted().map { "\($0)=\(byFunction[$0] ?? 0)" }.joined(separator: " ")
        context.console.err("libvirt mutating calls: \(MutatingCalls.total)\(detail.isEmpty ? "" : " (\(detail))")")
    }
}

/// The dry run: every step of every scheduled action, by wave.
func renderDryRun(_ plan: Plan, console: Console) -> String {
    var s = "\nDry run: nothing is changed. apply would run, in order:\n"
    for (index, wave) in plan.waves.enumerated() where !wave.isEmpty {
        s += "\nwave \(index + 1):\n"
        for action in wave {
            let route = Escape.terminal(action.from == action.to ? (action.from ?? "-") : "\(action.from ?? "-") → \(action.to ?? "-")")
            s += "  \(console.style(action.kind.rawValue, .bold)) \(Escape.terminal(action.instance)) \(route)\n"
            for (i, step) in action.steps.enumerated() {
                s += "    \(i + 1). \(Escape.terminal(step.summary))\n"
            }
        }
    }
    return s
}

/// The end of an apply: per action its outcome, per move its elapsed time and downtime, the
/// notes (copies kept on sources, changes waiting for a restart), then a count. Values are
/// escaped for the terminal (`Escape.terminal`).
func renderApplySummary(_ report: ExecutionReport, plan: Plan?, console: Console) -> String {
    let t = Escape.terminal
    var s = "\n"
    let width = report.actions.map { t($0.instance).count }.max() ?? 0
    for r in report.actions {
        let name = t(r.instance).padding(toLength: width, withPad: " ", startingAt: 0)
        let route = t(r.from == r.to || r.to == nil ? (r.from ?? "-") : "\(r.from ?? "-") → \(r.to ?? "-")")
        var line = "  \(name)  \(r.kind.rawValue.padding(toLength: 6, withPad: " ", startingAt: 0))  \(route)  "
        switch r.status {
        case .done:
            line += console.style("done", .green) + String(format: "  elapsed %.2f s", r.elapsedSeconds)
            if r.kind == .live {
                line += r.downtimeMs.map { ", downtime \($0) ms" } ?? ", downtime not reported"
                if let ms = r.migrationMs { line += " (migration job \(ms) ms)" }
            }
        case .deferred:
            line += console.style("deferred", .yellow) + ": \(t(r.message ?? ""))"
        case .failed:
            line += console.style("failed", .red) + ": \(t(r.message ?? ""))"
        case .blocked:
            line += console.style("blocked", .yellow) + ": \(t(r.message ?? ""))"
        }
        s += line + "\n"
        if r.status == .failed, let tried = r.triedSummary { s += "  \(String(repeating: " ", count: width))    \(t(tried))\n" }
        if r.status == .done, let actual = r.actual {
            s += "  \(String(repeating: " ", count: width))    \(estimateVersusActual(r.estimate, actual))\n"
        }
        for note in r.notes { s += "  \(String(repeating: " ", count: width))    note: \(t(note))\n" }
    }
    let blockedInPlan = plan?.summary.blocked ?? 0
    var counts = ["\(report.done) done", "\(report.failed) failed", "\(report.blocked + blockedInPlan) blocked"]
    let deferred = (plan?.summary.deferred ?? 0) + report.deferred
    if deferred > 0 { counts.append("\(deferred) deferred") }
    let ok = report.failed + report.blocked + blockedInPlan == 0
    let what = plan == nil ? "Unfinished actions" : "Apply"
    s += "\n" + console.style("\(what) \(ok ? "complete" : "finished with problems"): ", .bold) + counts.joined(separator: ", ") + ".\n"
    return s
}

/// `actual 90 MiB, 3.1 s, downtime 246 ms; estimate 88 MiB, 3.0 s, downtime 300 ms`.
func estimateVersusActual(_ estimate: MoveEstimate?, _ actual: MoveActual) -> String {
    let shown = MoveEstimate(bytes: actual.bytes, seconds: (actual.seconds * 10).rounded() / 10, downtimeMs: actual.downtimeMs)
    return "actual \(shown.summary); estimate \(estimate?.summary ?? "none")"
}

/// The line a journal rotation is reported with.
func rotationLine(_ rotation: Journal.Rotation) -> String {
    let mib = String(format: "%.1f", Double(rotation.bytes) / 1_048_576)
    return "journal rotated: \(mib) MiB set aside as \(rotation.previous); "
        + "\(rotation.carried) created-volume record\(rotation.carried == 1 ? "" : "s") carried over"
}

/// SIGINT and SIGTERM during an apply. Once steps run (`arm`, from the first executor event),
/// the first signal asks the executor to stop after the step in progress (`caught` is set and
/// a line says so on standard error); a signal before that, or a second one, ends the process
/// as the signal would by default: nothing is in flight before, and after it the journal lets
/// the next apply finish what is left.
// @unchecked: the dispatch sources are created in init and only kept alive afterwards; the
// state is behind a Mutex.
final class ApplyInterrupt: @unchecked Sendable {
    private let state = Mutex<(armed: Bool, signal: Int32?)>((false, nil))
    private var sources: [any DispatchSourceSignal] = []

    init() {
        for sig in [SIGINT, SIGTERM] {
            Foundation.signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler { [weak self] in self?.received(sig) }
            source.resume()
            sources.append(source)
        }
    }

    /// Steps may run from now on: the first signal waits for the step in progress.
    func arm() { state.withLock { $0.armed = true } }

    /// The first signal received once armed (SIGINT or SIGTERM), nil before.
    var caught: Int32? { state.withLock { $0.signal } }

    private func received(_ sig: Int32) {
        let wait = state.withLock { s -> Bool in
            guard s.armed, s.signal == nil else { return false }
            s.signal = sig
            return true
        }
        guard wait else {
            Foundation.signal(sig, SIG_DFL)
            kill(getpid(), sig)
            return
        }
        let line = "\nvirtplace: \(sig == SIGTERM ? "SIGTERM" : "interrupted"): the step in progress finishes, then apply stops (press Ctrl-C again to stop at once; the next apply finishes what is left)\n"
        FileHandle.standardError.write(Data(line.utf8))
    }
}
