import Foundation
import Placement

/// Consecutive failures of one thing (a host that did not answer, an instance whose action
/// failed) and when it may be tried again.
public struct Backoff: Equatable, Sendable {
    /// Consecutive failures, 1 or more.
    public var failures: Int
    /// Not tried before this time.
    public var until: Date
    /// The last failure's message (instances).
    public var message: String?

    public init(failures: Int, until: Date, message: String? = nil) {
        self.failures = failures; self.until = until; self.message = message
    }

    /// The wait after `failures` consecutive failures: `base × 2^(failures − 1)` seconds with
    /// `doubleFirst` false (hosts: the next pass after a failure still tries it), else
    /// `base × 2^failures` (instances: at least the next pass is skipped); at most `limit`.
    /// Bounded before the arithmetic (a long run's count never overflows).
    public static func wait(base: Double, failures: Int, doubleFirst: Bool, limit: Double) -> Double {
        let exponent = min(max(failures - (doubleFirst ? 0 : 1), 0), 30)
        return min(max(base, 0) * Double(1 << exponent), limit)
    }
}

/// What one reconcile pass came to.
public struct ReconcilePassResult {
    /// How the pass ended when it ran to its end; nil when it stopped early (`error`).
    public var outcome: PassOutcome?
    /// Why the pass stopped early (an invalid placement, the lock held, a journal that cannot
    /// be read…): nothing was changed unless the error says so (`PassError.changedHosts`).
    public var error: (any Error)?
    /// The pass itself (nil when it stopped early). The loop drops it once the observer has seen it.
    public var report: PassReport?
    /// The fleet's name (`metadata.name`), empty when the placement did not load.
    public var fleet = ""
    /// What the metrics file gets.
    public var metrics = PassMetrics()
    /// The metrics file could not be written: the pass counts as incomplete.
    public var metricsError: EngineError?
    /// Hosts not contacted in this pass (backing off), by name.
    public var restingHosts: [String: Backoff] = [:]
    /// Instances backing off after this pass (not run until `until`), by name: those held in
    /// this pass and those whose action failed in it.
    public var backingOff: [String: Backoff] = [:]
    /// Instances held in this pass because they were backing off.
    public var held: [String] = []
    /// When the next pass is due (`--interval`); nil: this was the only pass.
    public var requeueAfter: Double?

    /// A result with nothing in it yet.
    public init() {}
}

/// What the reconcile loop tells its caller besides each pass's own events.
public enum ReconcileEvent {
    case passStarted
    /// An instance not run in this pass: it is backing off after failed attempts.
    case holding(instance: String, Backoff)
    /// The metrics file could not be written (the pass counts as incomplete).
    case metricsError(EngineError)
    case passEnded(ReconcilePassResult)
    /// The loop waits this long for the next pass.
    case sleeping(seconds: Double)
    /// A stop was requested (SIGTERM): no further pass.
    case stopped
    /// The state directory's backoff file could not be read or written (`BackoffFile`): the
    /// pass goes on; at worst an instance is tried that the backoff would have held.
    case backoffFileProblem(String)
}

/// Receives the reconcile loop's events and each pass's.
public protocol ReconcileObserver: PassObserver {
    func reconcile(_ event: ReconcileEvent)
}

/// `reconcile`: one `ApplyPass` after another, level-based in the manner of controller-runtime:
/// each pass reads the placement and the hosts afresh and acts on what differs; between passes
/// it keeps only what makes it patient — hosts that keep failing rest (interval × 2ⁿ⁻¹, at most
/// an hour) and instances whose action failed back off (interval × 2ⁿ, at most an hour; reset
/// when the instance's action succeeds, it needs nothing any more, or its declaration changes)
/// — and the metric totals.
public struct ReconcileLoop {
    /// How the loop runs.
    public struct Configuration: Sendable {
        public var state: StateDirectory
        /// Seconds between passes; nil: one pass.
        public var interval: Double?
        /// `--until`: the end of the maintenance window, for every pass (`ApplyPass.until`).
        public var until: Date?
        /// `--max-moves`: at most this many moves per pass (with `policy.maxMovesPerRun`, the
        /// smaller applies); nil or 0: no cap of its own.
        public var maxMoves: Int?
        /// Prometheus text after each pass (atomically).
        public var metricsFile: String?
        /// `--events FILE`: maintenance moves' records are appended there.
        public var eventsFile: String?
        /// Whether host URIs may use the test driver (virtplace's own tests).
        public var allowTestDriver = false
        public var crashPoint: CrashPoint?
        /// Asked between steps and between passes: true ends the loop after the step in progress.
        public var stopRequested: @Sendable () -> Bool = { false }
        /// The base of the backoffs when there is no interval (one pass per process).
        public var backoffBase: Double = 60
        /// The longest backoff, seconds.
        public var backoffLimit: Double = 3600
        public var clock: @Sendable () -> Date = Date.init
        /// How often the loop looks for a stop while it waits.
        public var sleepSlice: Duration = .milliseconds(200)
        /// The fleet for the hosts a pass contacts.
        public var connect: @Sendable ([ObserveTarget]) -> any FleetDriver = { LibvirtFleet(targets: $0) }
        /// Called after each pass, before the loop sleeps: the CLI hands freed memory back to
        /// the kernel (`ProcessMemory.releaseFreed`), or RSS creeps up pass by pass.
        public var releaseMemory: @Sendable () -> Void = {}
        /// Execution settings other than those the loop sets (tests: shorter polls).
        public var execution = ExecutionOptions()

        public init(state: StateDirectory) { self.state = state }
    }

    public let configuration: Configuration
    /// Hosts that did not answer, and when they are tried again.
    public private(set) var hostBackoff: [String: Backoff] = [:]
    /// Instances whose action failed, and when they are tried again; with the declaration
    /// they failed under (a changed declaration is tried at once).
    public private(set) var instanceBackoff: [String: Backoff] = [:]
    /// The declaration (`DesiredInstance.declarationDigest`) each backing-off instance failed under.
    private var declarations: [String: String] = [:]
    /// The backoffs and declarations as `STATE/backoff.json` last held them (read or written):
    /// a pass that changed neither writes nothing. nil: not known (the file could not be read).
    private var persisted: (backoffs: [String: Backoff], declarations: [String: String])?
    public private(set) var totals = MetricsTotals()

    public init(_ configuration: Configuration) { self.configuration = configuration }

    private var base: Double { configuration.interval ?? configuration.backoffBase }

    /// Runs passes until the last one (no interval) or a stop; returns the last pass's result.
    /// `load` reads the placement afresh for each pass (and reports its diagnostics).
    public mutating func run(load: () throws -> PlacementSpec, observer: some ReconcileObserver) async -> ReconcilePassResult {
        let stop = configuration.stopRequested
        var last: ReconcilePassResult
        repeat {
            last = await pass(load: load, observer: observer)
            last.report = nil
            // What the pass freed goes back to the kernel while the loop sleeps.
            configuration.releaseMemory()
            guard let wait = last.requeueAfter, !stop() else { break }
            observer.reconcile(.sleeping(seconds: wait))
            let wake = ContinuousClock.now + .milliseconds(Int64((wait * 1000).rounded()))
            while ContinuousClock.now < wake && !stop() { try? await Task.sleep(for: configuration.sleepSlice) }
        } while !stop()
        if stop() { observer.reconcile(.stopped) }
        return last
    }

    /// One pass: the placement, the holds (hosts resting, instances backing off), the
    /// `ApplyPass`, then the backoffs, metrics and metrics file updated from what it did.
    public mutating func pass(load: () throws -> PlacementSpec, observer: some ReconcileObserver) async -> ReconcilePassResult {
        let clock = configuration.clock
        let started = clock()
        observer.reconcile(.passStarted)
        var result = ReconcilePassResult()
        result.requeueAfter = configuration.interval
        do {
            var spec = try load()
            result.fleet = spec.metadata.name
            if let cap = configuration.maxMoves, cap > 0 {
                spec.policy.maxMovesPerRun = spec.policy.maxMovesPerRun == 0 ? cap : min(spec.policy.maxMovesPerRun, cap)
            }
            let now = clock()
            restoreBackoffs(now: now, observer: observer)
            let targets = observeTargets(spec, allowTestDriver: configuration.allowTestDriver)
            result.restingHosts = hostBackoff.filter { $0.value.until > now && spec.hosts[$0.key] != nil }
            let holding = holds(spec, now: now)
            for name in holding.keys.sorted() {
                if let b = instanceBackoff[name] { observer.reconcile(.holding(instance: name, b)) }
            }
            result.held = holding.keys.sorted()

            var options = configuration.execution
            options.parallel = spec.policy.parallel
            options.faultDomains = Dictionary(targets.compactMap { t in t.faultDomain.map { (t.name, $0) } }, uniquingKeysWith: { a, _ in a })
            options.hosts = targets.map(\.name)
            options.crashPoint = configuration.crashPoint
            options.stopRequested = configuration.stopRequested
            options.run = ExecutionOptions.newRunID()
            var pass = ApplyPass(desired: .placement(spec), targets: targets, state: configuration.state, options: options)
            pass.resting = result.restingHosts.mapValues { b in
                "not contacted: backing off until \(Self.iso(b.until)) after \(b.failures) failures"
            }
            pass.holding = holding
            pass.freshObservation = nil
            pass.unreachableIsIncomplete = true
            pass.connect = configuration.connect
            pass.eventsFile = configuration.eventsFile
            pass.planningClock = PlanningClock(now: Int64(now.timeIntervalSince1970))
            pass.until = configuration.until
            let report = try await pass.run(observer)

            noteHosts(report.observed, resting: Set(result.restingHosts.keys))
            noteInstances(spec, report: report)
            saveBackoffs(observer: observer)
            result.metrics = Self.metrics(spec, report: report)
            result.outcome = report.outcome
            result.report = report
        } catch {
            result.error = error
        }
        result.backingOff = instanceBackoff.filter { $0.value.until > clock() }
        let ended = clock()
        result.metrics.durationSeconds = ended.timeIntervalSince(started)
        result.metrics.endedAt = ended.timeIntervalSince1970
        result.metrics.success = result.outcome == .success
        totals.add(result.metrics)
        if let path = configuration.metricsFile {
            do {
                try writeMetrics(renderMetrics(result.metrics, totals: totals, fleet: result.fleet), to: path)
            } catch {
                // A write that failed is an error of the pass (it ran: incomplete, not "nothing changed").
                result.metricsError = error
                observer.reconcile(.metricsError(error))
                if result.outcome == .success { result.outcome = .incomplete }
            }
        }
        observer.reconcile(.passEnded(result))
        return result
    }

    /// Instances backing off now under the declaration they failed under, with the reason
    /// their actions are reported blocked (after "not run: ").
    private mutating func holds(_ spec: PlacementSpec, now: Date) -> [String: String] {
        var holding: [String: String] = [:]
        for (name, b) in instanceBackoff {
            // A declaration that changed (or went away) is tried at once.
            guard let desired = spec.desired(name), desired.declarationDigest == declarations[name] else {
                instanceBackoff[name] = nil
                declarations[name] = nil
                continue
            }
            guard b.until > now else { continue }
            let last = b.message.map { " (the last: \($0))" } ?? ""
            holding[name] = "reconcile backs off from it after \(b.failures) failed attempt\(b.failures == 1 ? "" : "s")\(last); "
                + "the next attempt is not before \(Self.iso(b.until)), or at once when its declaration changes"
        }
        return holding
    }

    /// The instance backoffs of `STATE/backoff.json`, which a reconcile started afresh (a timer,
    /// cron) holds to as one that keeps running does, and which two reconcilers of one state
    /// directory share. The file is the authority when it can be read (an operator who removes
    /// it lets every instance be tried at once); when it cannot, the loop keeps what it knows.
    private mutating func restoreBackoffs(now: Date, observer: some ReconcileObserver) {
        let read = BackoffFile.read(configuration.state, now: now, limit: configuration.backoffLimit)
        if let problem = read.problem { observer.reconcile(.backoffFileProblem(problem)) }
        guard let file = read.result else { persisted = nil; return }
        instanceBackoff = file.backoffs
        declarations = file.declarations
        // A file with values out of range is written again with them in range.
        persisted = file.exact ? (file.backoffs, file.declarations) : nil
    }

    /// Writes the instance backoffs after a pass that ran (one that stopped early changed none),
    /// when the pass changed them: most passes of a long loop write nothing.
    private mutating func saveBackoffs(observer: some ReconcileObserver) {
        if let persisted, persisted.backoffs == instanceBackoff, persisted.declarations == declarations { return }
        do {
            try BackoffFile.write(instanceBackoff, declarations: declarations, state: configuration.state)
            persisted = (instanceBackoff, declarations)
        } catch {
            observer.reconcile(.backoffFileProblem("the reconcile backoffs could not be written: \(error); a reconcile started afresh tries every instance"))
        }
    }

    /// Host backoff from what the pass observed: an answer clears it; a host contacted that
    /// did not answer rests longer.
    private mutating func noteHosts(_ observed: ObservedFleet, resting: Set<String>) {
        for host in observed.hosts where !resting.contains(host.name) {
            if host.reachable {
                hostBackoff[host.name] = nil
            } else {
                let failures = (hostBackoff[host.name]?.failures ?? 0) + 1
                let wait = Backoff.wait(base: base, failures: failures, doubleFirst: false, limit: configuration.backoffLimit)
                hostBackoff[host.name] = Backoff(failures: failures, until: configuration.clock().addingTimeInterval(wait))
            }
        }
    }

    /// Instance backoff from what the pass did: a failed action backs off longer; a done one,
    /// or nothing to do, resets it; a blocked one (not tried) leaves it as it was.
    private mutating func noteInstances(_ spec: PlacementSpec, report: PassReport) {
        let planned = Set(report.plan.actions.map(\.instance))
        for name in instanceBackoff.keys where !planned.contains(name) {
            instanceBackoff[name] = nil
            declarations[name] = nil
        }
        for r in report.execution?.actions ?? [] {
            switch r.status {
            case .done:
                instanceBackoff[r.instance] = nil
                declarations[r.instance] = nil
            case .failed:
                let failures = (instanceBackoff[r.instance]?.failures ?? 0) + 1
                let wait = Backoff.wait(base: base, failures: failures, doubleFirst: true, limit: configuration.backoffLimit)
                instanceBackoff[r.instance] = Backoff(failures: failures, until: configuration.clock().addingTimeInterval(wait),
                                                      message: r.message)
                declarations[r.instance] = spec.desired(r.instance)?.declarationDigest
            case .blocked, .deferred:
                break
            }
        }
    }

    /// The metrics of a pass that ran to its end.
    static func metrics(_ spec: PlacementSpec, report: PassReport) -> PassMetrics {
        var metrics = PassMetrics()
        for r in report.recovery.actions {
            metrics.actions[.init(kind: r.kind.rawValue, outcome: r.status.rawValue), default: 0] += 1
        }
        for host in report.observed.hosts {
            if host.reachable { metrics.hostsReachable += 1 } else { metrics.hostsUnreachable += 1 }
        }
        var status: [String: String] = [:]
        for name in spec.instances.keys { status[name] = "converged" }
        // A migration someone else runs: waited for, not a failure.
        for note in report.plan.notes where note.code == .instanceMigrating { status[note.instance] = "deferred" }
        for action in report.plan.actions {
            if action.kind == .blocked {
                status[action.instance] = "blocked"
                metrics.actions[.init(kind: "blocked", outcome: "blocked"), default: 0] += 1
            } else if action.deferred {
                status[action.instance] = "deferred"
                metrics.actions[.init(kind: action.kind.rawValue, outcome: "deferred"), default: 0] += 1
            }
        }
        for r in report.execution?.actions ?? [] {
            metrics.actions[.init(kind: r.kind.rawValue, outcome: r.status.rawValue), default: 0] += 1
            status[r.instance] = r.status == .done ? "changed" : (r.status == .failed ? "failed" : "blocked")
            if let ms = r.downtimeMs { metrics.downtimes[r.instance] = Double(ms) / 1000 }
            if r.status == .done, let actual = r.actual {
                var figures = ["actual": PassMetrics.MoveFigure(bytes: actual.bytes.map(Double.init), seconds: actual.seconds,
                                                                downtime: actual.downtimeMs.map { Double($0) / 1000 })]
                if let e = r.estimate {
                    figures["estimate"] = PassMetrics.MoveFigure(bytes: e.bytes.map(Double.init), seconds: e.seconds,
                                                                 downtime: e.downtimeMs.map { Double($0) / 1000 })
                }
                metrics.moveFigures[r.instance] = figures
            }
        }
        metrics.maintenanceMoves = report.maintenanceMoves
        for s in status.values { metrics.instances[s, default: 0] += 1 }
        return metrics
    }

    /// A time as the log and messages show it (ISO 8601, UTC).
    public static func iso(_ date: Date) -> String { UTCTimestamp.iso8601(date) }
}
