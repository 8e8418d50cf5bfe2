import Placement

/// What the executor tells its caller while it runs (the CLI draws progress from these). Events
/// come from several tasks at once: the receiver serialises its output.
public enum ExecutionEvent: Sendable {
    /// A wave begins: its number (1-based) and how many actions it runs.
    case waveStarted(wave: Int, actions: Int)
    case actionStarted(instance: String, kind: ActionKind, from: String?, to: String?)
    case stepStarted(instance: String, index: Int, step: Step)
    case stepFinished(instance: String, index: Int, step: Step, outcome: StepOutcome, seconds: Double)
    /// Progress of a long transfer (a live migration or a volume copy).
    case transfer(instance: String, TransferStatus)
    /// The convergence controller of a live migration acted (downtime raised, restart with
    /// auto-converge, post-copy, abort), with the figures it acted on.
    case convergence(instance: String, ConvergenceController.Decision)
    case actionFinished(ActionReport)
}

/// How a step ended.
public enum StepOutcome: Equatable, Sendable {
    /// It ran; what it did, in a few words, when there is something worth saying.
    case done(String?)
    /// Its postcondition already held: nothing was done.
    case skipped(String)
    case failed(String)
}

/// Progress of a transfer, as figures for a bar.
public struct TransferStatus: Equatable, Sendable {
    /// What is being transferred.
    public enum Kind: Equatable, Sendable {
        /// A live migration: memory, and disks when they are copied.
        case migration
        /// A volume copy (`pool/volume`).
        case volume(String)
    }

    /// A migration or a volume copy.
    public var kind: Kind
    /// Bytes done and in all (memory plus disks for a migration); total 0 when unknown.
    public var processedBytes: UInt64
    public var totalBytes: UInt64
    /// For a migration: memory and disk parts, when libvirt reports them.
    public var memoryProcessedBytes: UInt64?
    public var memoryTotalBytes: UInt64?
    public var diskProcessedBytes: UInt64?
    public var diskTotalBytes: UInt64?
    /// Bytes per second now (0 when unknown).
    public var bytesPerSecond: UInt64
    public var elapsedSeconds: Double
    /// Estimated seconds left, when it can be told.
    public var remainingSeconds: Double?

    /// A progress value (the memory and disk parts are set separately).
    public init(kind: Kind, processedBytes: UInt64, totalBytes: UInt64, bytesPerSecond: UInt64,
                elapsedSeconds: Double, remainingSeconds: Double? = nil) {
        self.kind = kind; self.processedBytes = processedBytes; self.totalBytes = totalBytes
        self.bytesPerSecond = bytesPerSecond; self.elapsedSeconds = elapsedSeconds; self.remainingSeconds = remainingSeconds
    }
}

/// How one action ended.
public struct ActionReport: Equatable, Sendable {
    /// How an action ended.
    public enum Status: String, Equatable, Sendable {
        /// Every step ran or was already done.
        case done
        /// A step failed; the steps after it did not run.
        case failed
        /// Not run: a host it needs is unreachable, or an earlier action it depends on failed.
        case blocked
        /// Not started: it does not fit before the end of the maintenance window (`--until`),
        /// or waits on a move that does not. Not a failure: the next run takes it up.
        case deferred
    }

    /// The action's instance, kind, hosts and outcome, as in the plan.
    public var instance: String
    public var kind: ActionKind
    public var from: String?
    public var to: String?
    public var status: Status
    /// Why it failed or was blocked.
    public var message: String?
    /// Wall time of the whole action.
    public var elapsedSeconds: Double
    /// For a live move: libvirt's job time and the guest's downtime (completed job statistics,
    /// read on the destination).
    public var migrationMs: UInt64?
    public var downtimeMs: UInt64?
    /// Things the operator should know: copies kept on the source, changes that wait for the
    /// next restart, a lost reply that hid a successful migration…
    public var notes: [String]
    public var stepsDone: Int
    public var stepsSkipped: Int
    /// What was tried, in order: the planned move, then its fallback when it ran. At most
    /// `ActionReport.maxAttempts`: an action is never retried within a run. Empty when the
    /// action was not run (blocked).
    public var attempts: [Attempt]
    /// For a move: the plan's estimate, and what the move actually sent and took (a move that
    /// ended done only), side by side in the summary, the logs and the metrics.
    public var estimate: MoveEstimate?
    public var actual: MoveActual?

    /// Attempts per action and run: the planned rung and, for a live move, one fallback.
    public static let maxAttempts = 2

    /// One try at an action: the move kind (or in-place kind) and how it ended.
    public struct Attempt: Equatable, Sendable {
        public var kind: ActionKind
        /// nil when it succeeded; else what failed.
        public var failure: String?
        /// An attempt value.
        public init(kind: ActionKind, failure: String?) { self.kind = kind; self.failure = failure }
    }

    /// A report value.
    public init(instance: String, kind: ActionKind, from: String?, to: String?, status: Status, message: String? = nil,
                elapsedSeconds: Double = 0, migrationMs: UInt64? = nil, downtimeMs: UInt64? = nil, notes: [String] = [],
                stepsDone: Int = 0, stepsSkipped: Int = 0, attempts: [Attempt] = [],
                estimate: MoveEstimate? = nil, actual: MoveActual? = nil) {
        self.instance = instance; self.kind = kind; self.from = from; self.to = to; self.status = status
        self.message = message; self.elapsedSeconds = elapsedSeconds; self.migrationMs = migrationMs
        self.downtimeMs = downtimeMs; self.notes = notes; self.stepsDone = stepsDone; self.stepsSkipped = stepsSkipped
        self.attempts = attempts; self.estimate = estimate; self.actual = actual
    }

    /// `tried live (failed: …), then reboot (failed: …)` for a report with attempts; nil when
    /// nothing was tried.
    public var triedSummary: String? {
        guard !attempts.isEmpty else { return nil }
        return "tried " + attempts.map { a in
            a.kind.rawValue + (a.failure.map { " (failed: \($0))" } ?? " (done)")
        }.joined(separator: ", then ")
    }
}

/// What a finished move sent and took, to set beside its estimate and to add to the history.
public struct MoveActual: Equatable, Sendable {
    /// Bytes sent: the migration's data (libvirt's completed job statistics) plus the volume
    /// bytes copied; nil for a live move whose job statistics were not reported.
    public var bytes: Int64?
    /// Wall time of the whole action.
    public var seconds: Double
    /// The guest's downtime: libvirt's for a live move, the clock's from the shutdown to the
    /// start for a reboot or manual move, 0 for a cold move.
    public var downtimeMs: Int?
    /// For a live move: memory bytes sent and the migration job's time.
    public var memoryBytes: Int64?
    public var migrationSeconds: Double?
    /// Volume bytes copied by streams and the time the copies took, when any were.
    public var copiedBytes: Int64?
    public var copySeconds: Double?

    /// An actuals value.
    public init(bytes: Int64?, seconds: Double, downtimeMs: Int?, memoryBytes: Int64? = nil, migrationSeconds: Double? = nil,
                copiedBytes: Int64? = nil, copySeconds: Double? = nil) {
        self.bytes = bytes; self.seconds = seconds; self.downtimeMs = downtimeMs; self.memoryBytes = memoryBytes
        self.migrationSeconds = migrationSeconds; self.copiedBytes = copiedBytes; self.copySeconds = copySeconds
    }
}

/// Everything a run did, action by action, in the order the actions finished within each wave.
public struct ExecutionReport: Equatable, Sendable {
    /// One report per action that was to run.
    public var actions: [ActionReport]
    /// The run's id (in every journal record it wrote).
    public var run: String

    /// A run's report.
    public init(actions: [ActionReport], run: String) { self.actions = actions; self.run = run }

    /// The reports of the actions that did not succeed, failed ones first, by instance.
    public var failures: [ActionReport] {
        actions.filter { $0.status == .failed || $0.status == .blocked }.sorted { ($0.status == .blocked ? 1 : 0, $0.instance) < ($1.status == .blocked ? 1 : 0, $1.instance) }
    }

    /// Actions done, failed, blocked.
    public var done: Int { actions.filter { $0.status == .done }.count }
    public var failed: Int { actions.filter { $0.status == .failed }.count }
    public var blocked: Int { actions.filter { $0.status == .blocked }.count }
    public var deferred: Int { actions.filter { $0.status == .deferred }.count }
}
