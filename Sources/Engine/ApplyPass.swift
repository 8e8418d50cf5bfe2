import Foundation
import Placement

/// What a pass tells its caller while it runs, in order. The CLI presents them (console lines
/// for `apply`, JSON log lines for `reconcile`); the engine prints nothing.
public enum PassEvent: Sendable {
    /// A large journal with nothing unfinished in it was set aside (docs/operations.md).
    case journalRotated(Journal.Rotation)
    /// The journal ended in a torn line: what was found and what was done (or, in a dry run,
    /// what the next apply will do).
    case journalRepaired(String)
    /// `--abandon INSTANCE`: forgotten (`found`), or nothing unfinished was found for it.
    case abandoned(instance: String, found: Bool)
    /// Actions earlier runs left unfinished that are worth showing (they changed something,
    /// or the journal does not say what they were). The others are closed quietly.
    case unfinished([UnfinishedAction])
    /// How recovery dealt with every unfinished action; `shown` are the instances of the
    /// `unfinished` event.
    case recovered(RecoveryReport, shown: Set<String>)
    /// Observation begins (`again`: the re-check of a plan before it runs).
    case observing(hosts: Int, again: Bool)
    /// A host that did not answer (or was not contacted: `resting`); actions touching it are
    /// blocked.
    case hostUnreachable(ObservedHost)
    /// The plan the pass will run (made now, or the saved one that still holds).
    case planned(Plan)
    /// Nothing to run: the plan has no scheduled action.
    case nothingToRun(Plan)
    /// A dry run: the plan's steps are what would run; nothing changes.
    case dryRun(Plan)
    /// The plan's scheduled actions start.
    case executing(Plan)
    /// Progress of recovery or of the plan's actions, from the executor (several tasks at once).
    case execution(ExecutionEvent)
    /// A maintenance move failed that nothing the file allows could make (one line per move:
    /// `INSTANCE on HOST needs manual migration: WHY`).
    case manualMigrationNeeded(String)
    /// The `--events` file could not be written (the run went on).
    case eventsFileError(String)
    /// The plan's actions ended.
    case executed(ExecutionReport, Plan)
    /// The transfer history (`HistoryFile`) could not be read (estimates fall back on the
    /// declared and assumed rates) or written (the run's figures are not kept): why.
    case historyProblem(String)
}

/// What a pass asks before it changes anything, when it asks at all (`ApplyPass.ask`).
public enum PassQuestion: Sendable, Equatable {
    /// Deal with the unfinished actions shown (the count of all of them).
    case recovery(actions: Int)
    /// Run the plan's scheduled actions.
    case plan(actions: Int)
}

/// Receives a pass's events and answers its questions. Called from several tasks at once.
public protocol PassObserver: Sendable {
    func handle(_ event: PassEvent)
    /// The operator's answer: only `true` goes on.
    func approve(_ question: PassQuestion) async -> Bool
    /// A maintenance move's record (`maintenance-move-started`/`-finished`, the fields of
    /// `MaintenanceEvents`), as it is written to the `--events` file.
    func maintenanceRecord(_ fields: [String: Any])
}

extension PassObserver {
    public func approve(_ question: PassQuestion) async -> Bool { true }
    public func maintenanceRecord(_ fields: [String: Any]) {}
}

/// What a pass did, from the lock to the report.
public struct PassReport: Sendable {
    /// How the earlier runs' unfinished actions were dealt with (empty when there were none).
    public var recovery: RecoveryReport
    /// What the hosts showed (hosts not contacted included, unreachable).
    public var observed: ObservedFleet
    /// The plan made (or the saved plan applied).
    public var plan: Plan
    /// How each scheduled action ended; nil when nothing ran (nothing scheduled, a dry run).
    public var execution: ExecutionReport?
    /// Instances the pass did not touch, with why (recovery could not decide; backing off).
    public var held: [String: String]
    /// Maintenance moves that ran, by final state (`succeeded`, `failed`, `canceled`).
    public var maintenanceMoves: [String: Int] = [:]
    public var outcome: PassOutcome
}

/// One pass from the lock to the report, as `apply` runs it once and `reconcile` on each
/// pass: lock → rotate the journal → read what earlier runs left unfinished → recover it →
/// observe → plan (or check a saved plan is not stale) → confirm → execute → report.
///
/// Every decision is here; what the caller sees comes as `PassEvent`s to its observer.
public struct ApplyPass: Sendable {
    /// What to apply: a placement (planned now) or a saved plan (re-checked).
    public enum Desired: Sendable {
        case placement(PlacementSpec)
        case savedPlan(Plan)
    }

    public var desired: Desired
    /// Every host of the fleet.
    public var targets: [ObserveTarget]
    public var state: StateDirectory
    public var options: ExecutionOptions
    /// Change nothing: no lock, no rotation, no repair; show what would run.
    public var dryRun = false
    /// Ask (`PassObserver.approve`) before recovery that changes hosts and before the plan runs.
    public var ask = false
    /// `--abandon`: instances whose unfinished actions the operator has put right by hand.
    public var abandon: [String] = []
    /// Hosts not contacted in this pass, with why (reconcile's host backoff): they count as
    /// unreachable.
    public var resting: [String: String] = [:]
    /// Instances not run in this pass, with why (reconcile's per-instance backoff): their
    /// actions are reported blocked with that reason.
    public var holding: [String: String] = [:]
    /// How old the observation a plan was made from (or checked against) may be when it starts
    /// to run, when nobody was asked; older, and the hosts are observed again and the plan
    /// refused if stale. After a question, always. Nil: never observed again (reconcile, whose
    /// plan is made afresh each pass).
    public var freshObservation: Duration? = .seconds(1)
    /// Whether unreachable hosts alone make the pass incomplete (reconcile: yes; apply: only
    /// the actions they block count).
    public var unreachableIsIncomplete = false
    /// What time it is for the planner (maintenance due dates), and the instances to move
    /// early (`apply --now`).
    public var planningClock = PlanningClock()
    /// `--events FILE`: maintenance moves' records are appended there.
    public var eventsFile: String?
    /// `--until`: the end of the maintenance window. Moves whose estimate does not fit before
    /// it are deferred (`Plan.windowed`), and the executor starts none that no longer fits
    /// when its turn comes (`ExecutionOptions.deadline`). nil: no window.
    public var until: Date?
    /// The fleet for the hosts contacted in this pass.
    public var connect: @Sendable ([ObserveTarget]) -> any FleetDriver = { LibvirtFleet(targets: $0) }

    /// A pass over `targets`; the other settings keep their defaults (an apply that does not ask).
    public init(desired: Desired, targets: [ObserveTarget], state: StateDirectory, options: ExecutionOptions) {
        self.desired = desired; self.targets = targets; self.state = state; self.options = options
    }

    /// Runs the pass.
    /// - Throws: `EngineError` (state directory, lock, journal), `PassError` (stale plan,
    ///   unreadable journal, not confirmed); nothing was changed unless `changedHosts` says so.
    public func run(_ observer: any PassObserver) async throws -> PassReport {
        // The lock for the whole pass (a dry run changes nothing and takes none).
        var lock: StateLock?
        if !dryRun {
            try state.prepare()
            lock = try StateLock(state: state)
        } else {
            try state.checkIfPresent()
        }
        defer { withExtendedLifetime(lock) {} }

        // The journal, read once for the whole pass; a large one with nothing unfinished in it
        // is set aside (docs/operations.md).
        let contents = try Self.readJournal(state, repair: !dryRun) { observer.handle(.journalRepaired($0)) }
        if !dryRun, let rotation = try Journal.rotate(path: state.journalPath, contents: contents, run: options.run) {
            observer.handle(.journalRotated(rotation))
        }

        let contacted = targets.filter { resting[$0.name] == nil }
        let fleet = connect(contacted)
        let executor = LazyExecutor(pass: self, contents: contents, fleet: fleet, observer: observer)

        // What an earlier run left unfinished comes first: finished, rolled back, or held.
        let unfinished = contents.unfinished
        var recovery = RecoveryReport()
        if dryRun {
            let shown = unfinished.filter(\.worthShowing)
            if !shown.isEmpty { observer.handle(.unfinished(shown)) }
        } else {
            recovery = try await recover(unfinished, executor: executor, observer: observer)
        }

        observer.handle(.observing(hosts: targets.count, again: false))
        let observed = merged(await fleet.observe(refreshingPools: true))
        let observedAt = ContinuousClock.now
        for host in observed.hosts where !host.reachable { observer.handle(.hostUnreachable(host)) }

        var plan: Plan
        var hosts: [String: HostSpec] = [:]
        switch desired {
        case .placement(let spec):
            let history = HistoryFile.read(state)
            if let problem = history.problem { observer.handle(.historyProblem(problem)) }
            // The journal's own volumes as recovery left them (as read, when nothing was opened).
            plan = makePlan(desired: spec, observed: observed, ownVolumes: executor.opened?.ownVolumes ?? contents.ownVolumes,
                            clock: planningClock, history: history.history)
            hosts = spec.hosts
        case .savedPlan(let saved):
            try Self.refuseIfStale(saved, observed: observed, afterRecovery: !recovery.actions.isEmpty)
            plan = saved
        }
        // The window counts from now: what does not fit is deferred before anything starts.
        var options = options
        if let until {
            let left = until.timeIntervalSinceNow
            plan = plan.windowed(seconds: left)
            options.deadline = ContinuousClock.now + .milliseconds(Int64((max(0, min(left, 1e9)) * 1000).rounded(.down)))
        }
        observer.handle(.planned(plan))

        var held = holding
        for (name, why) in recovery.held { held[name] = "an earlier run left it unfinished and recovery could not decide (\(why))" }
        func report(_ execution: ExecutionReport?, maintenance: [String: Int] = [:], outcome: PassOutcome? = nil) -> PassReport {
            let problems = (execution.map { $0.failed + $0.blocked } ?? 0) + plan.summary.blocked > 0 || !recovery.clean
                || (unreachableIsIncomplete && observed.hosts.contains { !$0.reachable })
            return PassReport(recovery: recovery, observed: observed, plan: plan, execution: execution, held: held,
                              maintenanceMoves: maintenance, outcome: outcome ?? (problems ? .incomplete : .success))
        }

        let scheduled = plan.actions.filter(\.isScheduled)
        if scheduled.isEmpty {
            observer.handle(.nothingToRun(plan))
            return report(nil)
        }
        if dryRun {
            observer.handle(.dryRun(plan))
            return report(nil, outcome: .success)
        }
        if ask, !(await observer.approve(.plan(actions: scheduled.count))) {
            throw PassError.declined("apply cancelled: nothing was changed")
        }
        // The plan must still hold when it runs: unless it was just checked against an
        // observation under `freshObservation` old (nobody asked), observe again and compare.
        // After a question, always: the fleet may have changed however quickly the answer came.
        if let fresh = freshObservation, ask || ContinuousClock.now - observedAt > fresh {
            observer.handle(.observing(hosts: targets.count, again: true))
            try Self.refuseIfStale(plan, observed: merged(await fleet.observe(refreshingPools: true)), afterRecovery: !recovery.actions.isEmpty)
        }

        observer.handle(.executing(plan))
        // Maintenance moves are recorded as the executor starts and ends them.
        let records = MaintenanceEvents(plan: plan, hosts: hosts, path: eventsFile) { observer.maintenanceRecord($0) }
        let execution = try await executor.get(also: { records.handle($0) }).run(plan, holding: held, deadline: options.deadline)
        do {
            try HistoryFile.record(execution, plan: plan, observed: observed, state: state)
        } catch {
            observer.handle(.historyProblem("the transfer history could not be written: \(error)"))
        }
        for line in records.manualNeeded { observer.handle(.manualMigrationNeeded(line)) }
        for problem in records.errors { observer.handle(.eventsFileError(problem)) }
        observer.handle(.executed(execution, plan))
        return report(execution, maintenance: records.counts)
    }

    /// Gives up what the operator named with `abandon`, then finishes, rolls back or holds every
    /// other unfinished action (asking first when `ask` and some are worth showing).
    private func recover(_ found: [UnfinishedAction], executor: LazyExecutor,
                         observer: any PassObserver) async throws -> RecoveryReport {
        var unfinished = found
        if !abandon.isEmpty {
            let given = try await executor.get().abandon(abandon, among: unfinished)
            for name in given { observer.handle(.abandoned(instance: name, found: true)) }
            for name in abandon where !given.contains(name) { observer.handle(.abandoned(instance: name, found: false)) }
            unfinished.removeAll { given.contains($0.instance) }
        }
        guard !unfinished.isEmpty else { return RecoveryReport() }
        // Actions that had changed nothing yet are closed quietly (the plan decides afresh);
        // the others are shown, and asked about when the pass asks.
        let shown = unfinished.filter(\.worthShowing)
        if !shown.isEmpty { observer.handle(.unfinished(shown)) }
        if ask && !shown.isEmpty, !(await observer.approve(.recovery(actions: unfinished.count))) {
            throw PassError.declined("apply cancelled: nothing was changed (the unfinished actions stay in the journal)")
        }
        let uris = Dictionary(targets.map { ($0.name, $0.uri) }, uniquingKeysWith: { a, _ in a })
        let report = try await executor.get().recover(unfinished, hosts: targets.map(\.name), uris: uris)
        observer.handle(.recovered(report, shown: Set(shown.map(\.instance))))
        return report
    }

    /// The observation of the contacted hosts, with the resting ones added as unreachable, in
    /// the order of `targets`.
    private func merged(_ seen: ObservedFleet) -> ObservedFleet {
        guard !resting.isEmpty else { return seen }
        let byName = Dictionary(seen.hosts.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        return ObservedFleet(hosts: targets.map { t in
            if resting[t.name] == nil, let host = byName[t.name] { return host }
            return ObservedHost(name: t.name, uri: HostURI.redacted(t.uri), reachable: false,
                                error: resting[t.name] ?? "not observed", faultDomain: t.faultDomain)
        })
    }

    private static func refuseIfStale(_ plan: Plan, observed: ObservedFleet, afterRecovery: Bool) throws(PassError) {
        let changes = staleness(of: plan, against: observed)
        guard changes.isEmpty else { throw .stalePlan(changes: changes, afterRecovery: afterRecovery) }
    }

    /// Reads the journal once, under the lock (`Journal.load`): a line that cannot be read
    /// holds the whole pass (nothing is changed, not even a torn last line); a torn last line
    /// (a write cut short) is then repaired and reported through `warn` (with `repair` false,
    /// a dry run, only reported). What it returns stays true of the journal after the repair.
    /// The one place a pass reads the journal. See docs/recovery.md.
    /// - Throws: `EngineError` when the journal cannot be read (a symlink, not a regular file);
    ///   `PassError.unreadableJournal` when a line of it cannot be read.
    public static func readJournal(_ state: StateDirectory, repair: Bool, warn: (String) -> Void) throws -> Journal.Contents {
        let path = state.journalPath
        var contents = try Journal.load(path: path)
        guard contents.unreadable.isEmpty else { throw PassError.unreadableJournal(path: path, lines: contents.unreadable) }
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
}

extension UnfinishedAction {
    /// Whether the operator is shown it: it changed something, or the journal does not say
    /// what it was. The others are closed quietly and planned afresh.
    public var worthShowing: Bool { changedSomething || action == nil }
}

/// One journal for the whole pass, opened when first needed (a pass with nothing unfinished
/// and nothing to run opens, and creates, none), and executors over it.
private final class LazyExecutor: @unchecked Sendable {
    // Safe: used from the pass's own task only, never concurrently.
    private let pass: ApplyPass
    private let contents: Journal.Contents
    private let fleet: any FleetDriver
    private let observer: any PassObserver
    /// The journal, once opened.
    private(set) var opened: Journal?

    init(pass: ApplyPass, contents: Journal.Contents, fleet: any FleetDriver, observer: any PassObserver) {
        self.pass = pass; self.contents = contents; self.fleet = fleet; self.observer = observer
    }

    /// An executor whose events go to the observer, and to `also`.
    func get(also: @escaping @Sendable (ExecutionEvent) -> Void = { _ in }) throws -> Executor {
        let journal = try opened ?? Journal(path: pass.state.journalPath, contents: contents)
        opened = journal
        let observer = observer
        return Executor(driver: fleet, state: pass.state, journal: journal, options: pass.options) { event in
            observer.handle(.execution(event))
            also(event)
        }
    }
}
