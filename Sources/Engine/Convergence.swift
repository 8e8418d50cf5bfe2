import Foundation
import Placement
import Synchronization

/// The convergence controller of a live migration: a pure state machine fed with the job's
/// statistics (about twice a second) and the seconds since the `migrateLive` step began; it
/// says what to do next. No clock, no I/O: `ExecutorLive` reads the job, asks, and acts.
///
/// The ladder, one rung per stall (docs/moves.md, "The convergence controller"):
/// 1. **Downtime ramp.** The allowed downtime starts at `maxDowntimeMs / downtimeSteps` and
///    rises by that much at each stall, up to `maxDowntimeMs`: a guest that converges with a
///    short pause gets one.
/// 2. **Auto-converge** (when `autoConverge`): libvirt fixes `VIR_MIGRATE_AUTO_CONVERGE` when
///    the job starts and has no call to turn it on later, and with it on from the start QEMU
///    throttles the guest from its second pass — before a larger downtime was tried. So the
///    first attempt runs without it; a stall at the largest downtime aborts that attempt (a
///    pre-copy abort rolls back: the guest runs on, on its source only) and a second attempt
///    starts with it, at the largest downtime. In that attempt a rising throttle counts as
///    progress: a stall is declared only once QEMU stopped raising it.
/// 3. **Post-copy** (when `onTimeout: postcopy`; the job was started with `POSTCOPY`).
/// 4. **Abort**: the guest stays on its source; the executor falls back to the next move kind
///    the instance allows (reboot, …).
///
/// The timeout (`timeoutSeconds`, counted from the step's start across attempts) ends the
/// ladder wherever it is: post-copy when allowed, else abort.
public struct ConvergenceController: Sendable {
    /// What the controller works with (from the plan's `migrateLive` step).
    public struct Settings: Equatable, Sendable {
        public var maxDowntimeMs: Int
        public var downtimeSteps: Int
        public var stallSeconds: Double
        public var timeoutSeconds: Double
        public var autoConverge: Bool
        public var postcopy: Bool

        /// Settings; steps and windows below 1 count as 1.
        public init(maxDowntimeMs: Int, downtimeSteps: Int, stallSeconds: Double, timeoutSeconds: Double,
                    autoConverge: Bool, postcopy: Bool) {
            self.maxDowntimeMs = max(0, maxDowntimeMs); self.downtimeSteps = max(1, downtimeSteps)
            self.stallSeconds = max(0.5, stallSeconds); self.timeoutSeconds = max(1, timeoutSeconds)
            self.autoConverge = autoConverge; self.postcopy = postcopy
        }

        /// The settings of a plan's live migration.
        public init(_ m: LiveMigration) {
            self.init(maxDowntimeMs: m.maxDowntimeMs, downtimeSteps: m.downtimeSteps, stallSeconds: Double(m.stallSeconds),
                      timeoutSeconds: Double(m.timeoutSeconds), autoConverge: m.autoConverge, postcopy: m.onTimeout == .postcopy)
        }
    }

    /// What the executor is to do.
    public enum Action: Equatable, Sendable {
        /// Set the allowed downtime (`virDomainMigrateSetMaxDowntime`).
        case setDowntime(milliseconds: UInt64)
        /// Abort this attempt and start again with auto-converge.
        case restartWithAutoConverge
        /// Switch to post-copy (`virDomainMigrateStartPostCopy`).
        case startPostCopy
        /// Abort the migration: the guest stays on its source.
        case abort
    }

    /// Why the controller acted.
    public enum Cause: String, Equatable, Sendable {
        /// Remaining bytes did not shrink for `stallSeconds`.
        case stall
        /// `timeoutSeconds` passed.
        case timeout
    }

    /// One decision with the figures it was taken on: logged and shown as it happens.
    public struct Decision: Equatable, Sendable {
        public var action: Action
        public var cause: Cause
        /// Seconds since the step began.
        public var atSeconds: Double
        /// The attempt (1, or 2 after an auto-converge restart).
        public var attempt: Int
        /// Remaining bytes now, and the lowest level seen in this attempt.
        public var remainingBytes: UInt64?
        public var lowestBytes: UInt64?
        /// Seconds without a new low.
        public var stalledSeconds: Double
        /// The allowed downtime before the decision (and after it, for `setDowntime`).
        public var downtimeMs: UInt64
        /// The job's figures when they were reported: transfer and dirty rates, bytes/s,
        /// pass number, auto-converge throttle %.
        public var bytesPerSecond: UInt64?
        public var dirtyBytesPerSecond: UInt64?
        public var iteration: UInt64?
        public var throttlePercent: Int?

        /// A line for people: `stalled 10.0 s at 24.1 MiB remaining (lowest 21.0 MiB, dirtied
        /// 7.6 MiB/s, sent 7.9 MiB/s): downtime 75 → 150 ms`.
        public var summary: String {
            func mib(_ b: UInt64) -> String { String(format: "%.1f MiB", Double(b) / 1_048_576) }
            var why: String
            switch cause {
            case .timeout:
                why = String(format: "timeout after %.1f s", atSeconds)
            case .stall:
                why = String(format: "stalled %.1f s", stalledSeconds)
                if let r = remainingBytes { why += " at \(mib(r)) remaining" }
                var details: [String] = []
                if let l = lowestBytes { details.append("lowest \(mib(l))") }
                if let d = dirtyBytesPerSecond { details.append("dirtied \(mib(d))/s") }
                if let b = bytesPerSecond { details.append("sent \(mib(b))/s") }
                if let t = throttlePercent, t > 0 { details.append("throttle \(t) %") }
                if !details.isEmpty { why += " (" + details.joined(separator: ", ") + ")" }
            }
            let what: String
            switch action {
            case .setDowntime(let ms): what = "downtime \(downtimeMs) → \(ms) ms"
            case .restartWithAutoConverge: what = "restart with auto-converge at downtime \(downtimeMs) ms"
            case .startPostCopy: what = "switch to post-copy"
            case .abort: what = "abort (downtime \(downtimeMs) ms)"
            }
            return "\(why): \(what)"
        }
    }

    public let settings: Settings
    /// The downtime step in force, 1…`downtimeSteps`.
    public private(set) var step: Int
    /// This attempt runs with auto-converge.
    public private(set) var autoConverging: Bool
    public private(set) var attempt = 1
    /// Post-copy or abort was decided: nothing more to do.
    public private(set) var ended = false
    /// A restart with auto-converge was decided: nothing more until `restarted()`.
    public private(set) var restarting = false
    /// Every decision so far, in order.
    public private(set) var decisions: [Decision] = []

    private var lowest: UInt64?
    private var lowestAt: Double?
    private var throttle: Int?

    /// A controller at the bottom of the ramp (first attempt, no auto-converge).
    public init(_ settings: Settings) {
        self.settings = settings
        step = 1
        autoConverging = false
    }

    /// The allowed downtime of the step in force, ms (at least 1: QEMU refuses 0).
    public var downtimeMs: UInt64 {
        UInt64(max(1, settings.maxDowntimeMs * step / settings.downtimeSteps))
    }

    /// The attempt after `restartWithAutoConverge`: auto-converge, the largest downtime, the
    /// stall window measured afresh.
    public mutating func restarted() {
        attempt += 1
        restarting = false
        autoConverging = true
        step = settings.downtimeSteps
        lowest = nil
        lowestAt = nil
        throttle = nil
    }

    /// Takes in one reading of the job (nil figures: not reported; the whole job nil: none
    /// running) at `seconds` since the step began; returns what to do, if anything.
    public mutating func observe(_ job: MigrationJob?, at seconds: Double) -> Decision? {
        guard !ended, !restarting else { return nil }
        let remaining = job.flatMap { $0.dataRemaining ?? $0.memoryRemaining }
        if seconds >= settings.timeoutSeconds {
            return decide(settings.postcopy ? .startPostCopy : .abort, .timeout, job, remaining, at: seconds)
        }
        // Zero remaining is a job not started yet (libvirt reports 0 before the first pass is
        // set up) or one completing: never a level to measure progress against (a lowest of 0
        // would make every later reading a stall: seen on the lab, `lowest 0.0 MiB`).
        guard let remaining, remaining > 0 else { return nil }
        // A rising auto-converge throttle is QEMU still acting: progress, like a new low.
        if let t = job?.autoConvergeThrottle, t > (throttle ?? 0) {
            throttle = t
            lowestAt = seconds
        }
        // A new low only when at least 5 % below the last one: noise near the bottom of each pass
        // is not progress (and a slow but steady fall makes a new low every few readings).
        if lowest == nil || remaining < (lowest ?? 0) - (lowest ?? 0) / 20 {
            lowest = remaining
            lowestAt = seconds
            return nil
        }
        guard let since = lowestAt, seconds - since >= settings.stallSeconds else { return nil }
        let action: Action
        if step < settings.downtimeSteps {
            action = .setDowntime(milliseconds: UInt64(max(1, settings.maxDowntimeMs * (step + 1) / settings.downtimeSteps)))
        } else if settings.autoConverge && !autoConverging {
            action = .restartWithAutoConverge
        } else if settings.postcopy {
            action = .startPostCopy
        } else {
            action = .abort
        }
        return decide(action, .stall, job, remaining, at: seconds)
    }

    private mutating func decide(_ action: Action, _ cause: Cause, _ job: MigrationJob?, _ remaining: UInt64?, at seconds: Double) -> Decision {
        let decision = Decision(
            action: action, cause: cause, atSeconds: seconds, attempt: attempt, remainingBytes: remaining, lowestBytes: lowest,
            stalledSeconds: lowestAt.map { seconds - $0 } ?? 0, downtimeMs: downtimeMs, bytesPerSecond: job?.memoryBps,
            dirtyBytesPerSecond: job?.memoryDirtyBps, iteration: job?.memoryIteration, throttlePercent: job?.autoConvergeThrottle)
        decisions.append(decision)
        switch action {
        case .setDowntime:
            step += 1
            lowestAt = seconds
        case .restartWithAutoConverge:
            restarting = true
        case .startPostCopy, .abort:
            ended = true
        }
        return decision
    }
}

/// The clock a live migration's watchdog reads and sleeps on: the real one in apply, a
/// stepping one in unit tests (each sleep moves its time on at once), so that a scripted
/// sequence of job statistics meets the controller at exact times.
public protocol PollClock: Sendable {
    /// Seconds since a fixed origin.
    func now() -> Double
    /// Waits that long (or, for a test clock, moves its time on by that much).
    func sleep(for duration: Duration) async throws
}

/// The monotonic system clock.
public struct SystemPollClock: PollClock {
    private let origin = ContinuousClock.now
    public init() {}
    public func now() -> Double { (ContinuousClock.now - origin).seconds }
    public func sleep(for duration: Duration) async throws { try await Task.sleep(for: duration) }
}
