import Foundation
import Libvirt
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
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyyMMdd'T'HHmmss'Z'"
        return "\(formatter.string(from: Date()))-\(getpid())"
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

/// Runs a plan's scheduled actions: wave after wave, the actions of a wave concurrently within
/// the `parallel` limits; the steps of an action in order, each one first checking whether its
/// postcondition already holds (then it is skipped) and re-reading what it touches. Every step
/// is journalled before (intent) and after (done, skipped or failed), `fsync`ed.
///
/// An action that fails stops only itself: the rest of its wave goes on. Later actions that
/// counted on it (the second hop of the same instance, or a move into the room it was to free
/// on its source) are reported as blocked, as are actions whose hosts cannot be reached.
/// No step deletes a volume.
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
    /// Waves are not barriers. An action starts as soon as the `parallel` limits allow and
    /// every action of an earlier wave that it depends on has ended: the earlier actions of
    /// the same instance (a relay's first hop), and the earlier actions that leave, or shrink
    /// in place on, the host it needs room on (its target; its own host for an update). That
    /// is all the planner's capacity accounting counts on — a move takes its room on the
    /// target when it starts and frees its source when it ends — so no host exceeds its
    /// capacity at any moment, while a wave's slow migration no longer holds up the next
    /// wave's moves between other hosts. A dependency that did not succeed blocks the action.
    ///
    /// Actions of instances in `holding` (instance → why, as the report says it after "not
    /// run: "; recovery could not decide about them, or reconcile backs off from them) are
    /// not run: they are reported as blocked with that reason.
    public func run(_ plan: Plan, holding: [String: String] = [:]) async -> ExecutionReport {
        let shared = RunState(journal: journal.path)
        var items: [Item] = []
        for (index, wave) in plan.waves.enumerated() {
            for action in wave { items.append(Item(action: action, uuid: Self.uuid(of: action, in: plan), wave: index + 1)) }
        }
        return ExecutionReport(actions: await schedule(items, shared: shared, holding: holding), run: options.run)
    }

    /// An action to run, with its identity and wave.
    struct Item: Sendable {
        var action: Action
        var uuid: String?
        var wave: Int
    }

    /// For each item, the earlier-wave items it waits for (see `run`).
    static func dependencies(_ items: [Item]) -> [[Int]] {
        items.indices.map { i in
            let a = items[i]
            let needsRoomOn = a.action.kind.isMove ? a.action.to : a.action.from
            return items.indices.filter { j in
                let b = items[j]
                guard b.wave < a.wave else { return false }
                return b.action.instance == a.action.instance || (needsRoomOn != nil && b.action.from == needsRoomOn)
            }
        }
    }

    private func blocked(_ action: Action, _ message: String) -> ActionReport {
        let report = ActionReport(instance: action.instance, kind: action.kind, from: action.from, to: action.to,
                                  status: .blocked, message: message)
        events(.actionFinished(report))
        return report
    }

    /// Runs the items concurrently: each starts, in order, once its dependencies have ended
    /// and the limits allow; returns the reports in the order the actions ended.
    private func schedule(_ items: [Item], shared: RunState, holding: [String: String]) async -> [ActionReport] {
        let total = max(1, options.parallel.total)
        let perHost = max(1, options.parallel.perHost)
        let dependencies = Self.dependencies(items)
        return await withTaskGroup(of: (Int, ActionReport).self) { group in
            var pending = Array(items.indices)
            var outcome: [Int: ActionReport.Status] = [:]
            var running = 0
            var busy: [String: Int] = [:]
            var reports: [ActionReport] = []
            var wavesStarted = Set<Int>()

            func hosts(_ action: Action) -> [String] {
                guard action.kind.isMove else { return [] }
                return Array(Set([action.from, action.to].compactMap { $0 }))
            }
            func fits(_ action: Action) -> Bool {
                guard action.kind.isMove else { return true }
                return running < total && hosts(action).allSatisfy { busy[$0, default: 0] < perHost }
            }
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
                    guard deps.allSatisfy({ outcome[$0] != nil }) else { rest.append(i); continue }
                    if let failed = deps.first(where: { outcome[$0] != .done && items[$0].action.instance == action.instance }) {
                        end(i, blocked(action, "not run: an earlier action of \(items[failed].action.instance) did not succeed"))
                        continue
                    }
                    if let failed = deps.first(where: { outcome[$0] != .done && items[$0].action.kind.isMove }) {
                        let host = items[failed].action.from ?? "its host"
                        end(i, blocked(action, "not run: it needs the room on \(host) that the move of \(items[failed].action.instance) off \(host) was to free, and that move did not succeed"))
                        continue
                    }
                    guard fits(action) else { rest.append(i); continue }
                    if action.kind.isMove {
                        running += 1
                        for h in hosts(action) { busy[h, default: 0] += 1 }
                    }
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
                let action = items[i].action
                if action.kind.isMove {
                    running -= 1
                    for h in hosts(action) { busy[h, default: 0] -= 1 }
                }
                startWhatCan()
            }
            // Nothing left running: whatever still waits has a dependency cycle (not possible
            // with waves; kept as a guard) and is reported rather than dropped.
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

    /// Starts from the volumes the journal at `path` says earlier runs created, or may have
    /// created (`Journal.createdVolumes`): the only existing volumes a copy may overwrite.
    init(journal path: String) { created = Mutex(Set(Journal.createdVolumes(Journal.records(path: path)).keys)) }

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
