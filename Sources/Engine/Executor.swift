import Foundation
import Placement
import Synchronization

/// How the executor runs.
public struct ExecutionOptions: Sendable {
    /// Concurrent moves, fleet-wide and per host (as source or target). Updates, starts and
    /// stops take no slot. Values below 1 count as 1.
    public var parallel: ParallelSpec
    /// How often a live migration's job statistics are read (progress and the timeout watchdog).
    public var jobPollInterval: Duration
    /// How often a domain's state is read while waiting for a shutdown.
    public var statePollInterval: Duration
    /// How long to wait for a device to show in the XML after libvirt accepted it.
    public var deviceConfirmTimeout: Duration
    /// The run's id, in every journal record.
    public var run: String
    /// Asked before each action starts and before each step: when it says true (SIGTERM to
    /// `reconcile`), the step in progress finishes, no new step or action starts, and the
    /// interrupted actions stay unfinished in the journal for the next run to finish.
    public var stopRequested: @Sendable () -> Bool = { false }
    /// Fault domains by host name, written into the records moves make.
    public var faultDomains: [String: String]
    /// Every host of the fleet (names as in the placement): before a step defines or starts a
    /// copy of a guest, its UUID is looked up on each of them (besides the move's own hosts).
    public var hosts: [String]
    /// Tests only: where to stop as if the process had died (`VIRTPLACE_TEST_KILL_*`).
    public var crashPoint: CrashPoint?
    /// The clock a live migration's watchdog reads and sleeps on (the convergence controller's
    /// time); tests give a stepping clock.
    public var pollClock: any PollClock = SystemPollClock()
    /// The end of the maintenance window (`--until`): a move whose estimated time would end
    /// after it is not started (reported deferred), nor is what waits on it. Nothing running is
    /// cut short. nil: no window.
    public var deadline: ContinuousClock.Instant?

    /// Options; the defaults suit an apply.
    public init(parallel: ParallelSpec = .init(), jobPollInterval: Duration = .milliseconds(500),
                statePollInterval: Duration = .milliseconds(250), deviceConfirmTimeout: Duration = .seconds(5),
                run: String = ExecutionOptions.newRunID(), faultDomains: [String: String] = [:],
                hosts: [String] = [], crashPoint: CrashPoint? = nil) {
        self.parallel = parallel; self.jobPollInterval = jobPollInterval; self.statePollInterval = statePollInterval
        self.deviceConfirmTimeout = deviceConfirmTimeout; self.run = run
        self.faultDomains = faultDomains; self.hosts = hosts; self.crashPoint = crashPoint
    }

    /// A run id: UTC time and process id (`20250101T120000Z-4242`).
    public static func newRunID() -> String {
        "\(UTCTimestamp.compact(Date()))-\(getpid())"
    }
}

/// Fault injection for tests: a step boundary of every action (its index in the action,
/// 0-based, as in the journal) where the executor stops as if its process had been killed.
/// `VIRTPLACE_TEST_KILL_AFTER_STEP=N` (after step N's outcome is journalled) and
/// `VIRTPLACE_TEST_KILL_BEFORE_STEP=N` (after its intent, before it runs) set it in the CLI,
/// whose `crash` sends SIGKILL to its own process. Never set otherwise.
public struct CrashPoint: Sendable {
    /// Where in a step the process stops.
    public enum Moment: Sendable, Equatable {
        /// The intent is journalled; the step has not run.
        case afterIntent
        /// The outcome is journalled; the next step has not begun.
        case afterOutcome
        /// Not a crash: once its intent is journalled, the step fails without running, as if
        /// libvirt had refused it (`VIRTPLACE_TEST_FAIL_STEP=N`), and the action goes on as
        /// after any failure (roll-back, fallback). `crash` is not called.
        case failInstead
    }

    public var step: Int
    public var moment: Moment
    /// What stopping means. If it returns (a unit test), the action stops at once and writes
    /// nothing more, as a killed process would.
    public var crash: @Sendable () -> Void

    /// A crash point at step `step` (0-based), `moment`, stopping by calling `crash`.
    public init(step: Int, moment: Moment, crash: @escaping @Sendable () -> Void) {
        self.step = step; self.moment = moment; self.crash = crash
    }
}

/// Runs a plan's scheduled actions: each once the actions it depends on (`Action.dependsOn`)
/// are done, concurrently within the `parallel` limits; the steps of an action in order, each
/// one first checking whether its postcondition already holds (then it is skipped) and
/// re-reading what it touches. Every step is journalled before (intent) and after (done,
/// skipped or failed), `fsync`ed.
///
/// Failures stay local: an action that fails stops only itself. The actions that depend on it,
/// directly or through others (the second hop of the same instance, a move into the room it
/// was to free), are reported as blocked, naming it; every other action goes on, so an
/// evacuation carries on past the guests that cannot move. Actions whose hosts cannot be
/// reached are blocked too. No step deletes a volume.
public struct Executor: Sendable {
    /// Where the steps act.
    public let driver: any FleetDriver
    /// Where definitions are recorded.
    public let state: StateDirectory
    /// Where every step is journalled.
    public let journal: Journal
    /// Limits, polling intervals, the run id, the stop request.
    public let options: ExecutionOptions
    /// Receives progress; called from several tasks at once.
    public let events: @Sendable (ExecutionEvent) -> Void

    /// An executor; nothing runs until `run` or `recover`.
    public init(driver: any FleetDriver, state: StateDirectory, journal: Journal, options: ExecutionOptions,
                events: @escaping @Sendable (ExecutionEvent) -> Void = { _ in }) {
        self.driver = driver; self.state = state; self.journal = journal; self.options = options; self.events = events
    }

    /// Runs every scheduled action of `plan` (blocked and deferred ones are not run: the plan
    /// already reports them) and returns how each ended.
    ///
    /// Waves are not barriers and the executor derives no order of its own: an action starts
    /// as soon as every action it depends on has ended done and the `parallel` limits allow.
    /// The planner lists exactly what its capacity accounting counts on (a move takes its room
    /// on the target when it starts and frees its source when it ends), so no host exceeds its
    /// capacity at any moment. A dependency that did not succeed blocks the action, and in turn
    /// whatever depends on it; nothing else.
    ///
    /// Actions of instances in `holding` (instance → why, as the report says it after "not
    /// run: "; recovery could not decide about them, or reconcile backs off from them) are
    /// not run: they are reported as blocked with that reason.
    ///
    /// `deadline` (else `options.deadline`) is the end of a maintenance window: see
    /// `ExecutionOptions.deadline`.
    public func run(_ plan: Plan, holding: [String: String] = [:], deadline: ContinuousClock.Instant? = nil) async -> ExecutionReport {
        let shared = RunState(journal: journal)
        var items: [Item] = []
        for (index, wave) in plan.waves.enumerated() {
            for action in wave { items.append(Item(action: action, uuid: Self.uuid(of: action, in: plan), wave: index + 1)) }
        }
        return ExecutionReport(actions: await schedule(items, shared: shared, holding: holding, deadline: deadline ?? options.deadline),
                               run: options.run)
    }

    /// An action to run, with its identity and wave.
    struct Item: Sendable {
        var action: Action
        var uuid: String?
        var wave: Int
    }

    /// What an item waits on: the items it depends on, and the ids of dependencies that are
    /// not among the items at all (not run by this plan: the item cannot be run either).
    struct Waits: Equatable, Sendable {
        var items: [Int]
        var missing: [Int]
    }

    /// For each item, the items its action depends on (`Action.dependsOn`, by action id).
    static func dependencies(_ items: [Item]) -> [Waits] {
        var byID: [Int: Int] = [:]
        for (i, item) in items.enumerated() where byID[item.action.id] == nil { byID[item.action.id] = i }
        return items.map { item in
            var waits = Waits(items: [], missing: [])
            for id in item.action.dependsOn {
                if let j = byID[id] { waits.items.append(j) } else { waits.missing.append(id) }
            }
            return waits
        }
    }

    /// Why an action is not run when `failed` (an item it depends on) did not succeed.
    static func blockedBy(_ action: Action, _ failed: Action, status: ActionReport.Status) -> String {
        let how = status == .blocked ? "was blocked" : "did not succeed"
        if failed.instance == action.instance {
            return "not run: an earlier action of \(failed.instance) (#\(failed.id)) \(how)"
        }
        let host = (action.kind.isMove ? action.to : action.from) ?? "its host"
        let route = failed.from == failed.to || failed.to == nil ? (failed.from ?? "-") : "\(failed.from ?? "-") → \(failed.to ?? "-")"
        let what = failed.kind.isMove ? "move" : failed.kind.rawValue
        return "not run: it needs room on \(host) that the \(what) of \(failed.instance) (#\(failed.id), \(route)) was to free, and that \(what) \(how)"
    }

    /// Why a move is not started at the window's end; nil when it fits (or is no move).
    static func pastWindow(_ action: Action, now: ContinuousClock.Instant, deadline: ContinuousClock.Instant?) -> String? {
        guard action.kind.isMove, let deadline else { return nil }
        guard let seconds = action.estimate?.seconds else {
            return "not started: its time cannot be estimated, so it cannot be shown to fit before the window ends (order.window-unknown)"
        }
        let left = max(0, (deadline - now).seconds)
        guard seconds > left else { return nil }
        return "not started: it would take about \(formatSeconds(seconds)) and the window ends in \(formatSeconds(left)) (order.window)"
    }

    private func deferredReport(_ action: Action, _ message: String) -> ActionReport {
        let report = ActionReport(instance: action.instance, kind: action.kind, from: action.from, to: action.to,
                                  status: .deferred, message: message, estimate: action.estimate)
        events(.actionFinished(report))
        return report
    }

    private func blocked(_ action: Action, _ message: String) -> ActionReport {
        let report = ActionReport(instance: action.instance, kind: action.kind, from: action.from, to: action.to,
                                  status: .blocked, message: message)
        events(.actionFinished(report))
        return report
    }

    /// Runs the items concurrently: each starts, in order, once its dependencies have ended
    /// and the limits allow; returns the reports in the order the actions ended.
    private func schedule(_ items: [Item], shared: RunState, holding: [String: String],
                          deadline: ContinuousClock.Instant?) async -> [ActionReport] {
        var slots = MoveSlots(options.parallel)
        let dependencies = Self.dependencies(items)
        return await withTaskGroup(of: (Int, ActionReport).self) { group in
            var pending = Array(items.indices)
            var outcome: [Int: ActionReport.Status] = [:]
            var reports: [ActionReport] = []
            var wavesStarted = Set<Int>()

            func end(_ i: Int, _ report: ActionReport) {
                reports.append(report)
                outcome[i] = report.status
            }
            func startWhatCan() {
                var rest: [Int] = []
                for i in pending {
                    let item = items[i]
                    let action = item.action
                    if let why = holding[action.instance] {
                        end(i, blocked(action, "not run: \(why)"))
                        continue
                    }
                    if options.stopRequested() {
                        end(i, blocked(action, "not started: a stop was requested; the next run takes it up"))
                        continue
                    }
                    let deps = dependencies[i]
                    if let id = deps.missing.first {
                        end(i, blocked(action, "not run: it waits on action #\(id), which this plan does not run"))
                        continue
                    }
                    guard deps.items.allSatisfy({ outcome[$0] != nil }) else { rest.append(i); continue }
                    if let failed = deps.items.first(where: { outcome[$0] != .done }) {
                        if outcome[failed] == .deferred {
                            end(i, deferredReport(action, "not started: it waits on #\(items[failed].action.id) \(items[failed].action.instance), which was deferred (order.window)"))
                        } else {
                            end(i, blocked(action, Self.blockedBy(action, items[failed].action, status: outcome[failed] ?? .failed)))
                        }
                        continue
                    }
                    if let why = Self.pastWindow(action, now: .now, deadline: deadline) {
                        end(i, deferredReport(action, why))
                        continue
                    }
                    guard slots.take(action) else { rest.append(i); continue }
                    if wavesStarted.insert(item.wave).inserted {
                        events(.waveStarted(wave: item.wave, actions: items.filter { $0.wave == item.wave }.count))
                    }
                    let uuid = item.uuid
                    group.addTask {
                        var runner = ActionRunner(executor: self, action: action, uuid: uuid, shared: shared)
                        return (i, await runner.run())
                    }
                }
                pending = rest
            }

            startWhatCan()
            while let (i, report) = await group.next() {
                end(i, report)
                slots.give(items[i].action)
                startWhatCan()
            }
            // Nothing left running: whatever still waits has a dependency cycle (a saved plan
            // is checked for none; kept as a guard) and is reported rather than dropped.
            for i in pending { end(i, blocked(items[i].action, "not run: its dependencies never ended")) }
            return reports
        }
    }

    /// The instance's UUID as the plan's basis recorded it (where the action starts, else
    /// wherever it was seen).
    static func uuid(of action: Action, in plan: Plan) -> String? {
        let entries = plan.basis.domains.filter { $0.name == action.instance && $0.uuid != nil }
        return (entries.first { $0.host == action.from } ?? entries.first)?.uuid
    }
}

/// What the actions of one run share.
final class RunState: Sendable {
    private let created: Mutex<Set<String>>

    /// Starts from the volumes the journal says virtplace created, or may have created
    /// (`Journal.ownVolumes`, kept as it is appended to: nothing is read again): the only
    /// existing volumes a copy may overwrite.
    init(journal: Journal) { created = Mutex(journal.ownVolumes) }

    func markCreated(host: String, pool: String, volume: String) {
        _ = created.withLock { $0.insert("\(host)/\(pool)/\(volume)") }
    }

    /// After virtplace deleted a volume it had created (an incomplete copy).
    func forget(host: String, pool: String, volume: String) {
        _ = created.withLock { $0.remove("\(host)/\(pool)/\(volume)") }
    }

    func wasCreated(host: String, pool: String, volume: String) -> Bool {
        created.withLock { $0.contains("\(host)/\(pool)/\(volume)") }
    }
}
