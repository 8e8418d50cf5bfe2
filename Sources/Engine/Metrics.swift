import Foundation

/// What one reconcile pass did, for the metrics file.
public struct PassMetrics: Equatable, Sendable {
    /// Declared instances by status after the pass: `converged` (nothing to do), `changed`
    /// (an action ran and succeeded), `deferred` (waits for a later pass), `blocked`, `failed`.
    public var instances: [String: Int] = [:]
    /// Actions by kind (`live`, `update`, …) and outcome (`done`, `failed`, `blocked`, `deferred`).
    public var actions: [ActionKey: Int] = [:]
    public var hostsReachable = 0
    public var hostsUnreachable = 0
    /// Wall time of the pass and when it ended (Unix seconds).
    public var durationSeconds = 0.0
    public var endedAt = 0.0
    /// 1 when the pass ended with exit code 0.
    public var success = false
    /// Downtime of each live migration of the pass, by instance, seconds.
    public var downtimes: [String: Double] = [:]
    /// Maintenance moves of the pass by final state (`succeeded`, `failed`, `canceled`).
    public var maintenanceMoves: [String: Int] = [:]
    /// Each finished move of the pass: its estimate and what it actually sent and took, by
    /// instance, then `estimate` or `actual`.
    public var moveFigures: [String: [String: MoveFigure]] = [:]

    public init() {}

    /// Bytes, seconds and downtime (seconds) of a move, estimated or actual; nil: unknown.
    public struct MoveFigure: Equatable, Sendable {
        public var bytes: Double?
        public var seconds: Double?
        public var downtime: Double?
        public init(bytes: Double?, seconds: Double?, downtime: Double?) {
            self.bytes = bytes; self.seconds = seconds; self.downtime = downtime
        }
    }

    /// An action kind and outcome.
    public struct ActionKey: Hashable, Sendable, Comparable {
        public var kind: String
        public var outcome: String
        public init(kind: String, outcome: String) { self.kind = kind; self.outcome = outcome }
        public static func < (a: ActionKey, b: ActionKey) -> Bool { (a.kind, a.outcome) < (b.kind, b.outcome) }
    }
}

/// Counters over every pass of this process (`reconcile --interval`).
public struct MetricsTotals: Equatable, Sendable {
    public var passes = 0
    public var failedPasses = 0
    public var actions: [PassMetrics.ActionKey: Int] = [:]
    /// Maintenance moves by final state.
    public var maintenanceMoves: [String: Int] = [:]
    public init() {}

    /// Adds a pass.
    public mutating func add(_ pass: PassMetrics) {
        passes += 1
        if !pass.success { failedPasses += 1 }
        for (key, n) in pass.actions { actions[key, default: 0] += n }
        for (state, n) in pass.maintenanceMoves { maintenanceMoves[state, default: 0] += n }
    }
}

/// The Prometheus text exposition format (version 0.0.4) of the last pass and the totals.
/// Deterministic: series sorted by their labels.
public func renderMetrics(_ pass: PassMetrics, totals: MetricsTotals, fleet: String) -> String {
    var out: [String] = []
    func family(_ name: String, _ type: String, _ help: String, _ samples: [(labels: [(String, String)], value: String)]) {
        out.append("# HELP \(name) \(help)")
        out.append("# TYPE \(name) \(type)")
        for s in samples {
            let labels = ([("fleet", fleet)] + s.labels).map { "\($0.0)=\"\(escapeLabel($0.1))\"" }.joined(separator: ",")
            out.append("\(name){\(labels)} \(s.value)")
        }
    }
    let statuses = ["converged", "changed", "deferred", "blocked", "failed"]
    family("virtplace_instances", "gauge", "Declared instances by status after the last pass.",
           statuses.map { ([("status", $0)], "\(pass.instances[$0] ?? 0)") })
    family("virtplace_last_pass_actions", "gauge", "Actions of the last pass by kind and outcome.",
           pass.actions.keys.sorted().map { ([("kind", $0.kind), ("outcome", $0.outcome)], "\(pass.actions[$0] ?? 0)") })
    family("virtplace_actions_total", "counter", "Actions since this process started, by kind and outcome.",
           totals.actions.keys.sorted().map { ([("kind", $0.kind), ("outcome", $0.outcome)], "\(totals.actions[$0] ?? 0)") })
    family("virtplace_hosts", "gauge", "Hosts of the placement by reachability in the last pass.",
           [([("reachable", "true")], "\(pass.hostsReachable)"), ([("reachable", "false")], "\(pass.hostsUnreachable)")])
    family("virtplace_last_pass_duration_seconds", "gauge", "Wall time of the last pass.", [([], format(pass.durationSeconds))])
    family("virtplace_last_pass_timestamp_seconds", "gauge", "When the last pass ended (Unix time).", [([], format(pass.endedAt))])
    family("virtplace_last_pass_success", "gauge", "1 when the last pass ended with exit code 0.", [([], pass.success ? "1" : "0")])
    family("virtplace_passes_total", "counter", "Passes since this process started.", [([], "\(totals.passes)")])
    family("virtplace_failed_passes_total", "counter", "Passes that ended with a non-zero exit code.", [([], "\(totals.failedPasses)")])
    let finals = ["succeeded", "failed", "canceled"]
    family("virtplace_last_pass_maintenance_moves", "gauge", "Maintenance moves of the last pass by final state.",
           finals.map { ([("state", $0)], "\(pass.maintenanceMoves[$0] ?? 0)") })
    family("virtplace_maintenance_moves_total", "counter", "Maintenance moves since this process started, by final state.",
           finals.map { ([("state", $0)], "\(totals.maintenanceMoves[$0] ?? 0)") })
    family("virtplace_migration_downtime_seconds", "gauge", "Downtime libvirt reported for each live migration of the last pass.",
           pass.downtimes.keys.sorted().map { ([("instance", $0)], format(pass.downtimes[$0] ?? 0)) })
    // Estimates beside actuals, per finished move of the last pass.
    let figures = pass.moveFigures.keys.sorted().flatMap { instance in
        ["estimate", "actual"].compactMap { figure in pass.moveFigures[instance]?[figure].map { (instance, figure, $0) } }
    }
    for (name, help, pick) in [
        ("virtplace_move_bytes", "Bytes each finished move of the last pass was estimated to send, and sent.",
         { (f: PassMetrics.MoveFigure) in f.bytes }),
        ("virtplace_move_seconds", "Seconds each finished move of the last pass was estimated to take, and took.",
         { (f: PassMetrics.MoveFigure) in f.seconds }),
        ("virtplace_move_downtime_seconds", "Downtime each finished move of the last pass was estimated to have, and had.",
         { (f: PassMetrics.MoveFigure) in f.downtime }),
    ] {
        family(name, "gauge", help, figures.compactMap { instance, figure, f in
            pick(f).map { ([("instance", instance), ("figure", figure)], format($0)) }
        })
    }
    return out.joined(separator: "\n") + "\n"
}

/// Whole numbers without a fraction; others with every digit that tells them apart (a Unix
/// time with a fraction has 10 digits before the point: 6 significant ones lost minutes).
private func format(_ v: Double) -> String {
    v == v.rounded() && abs(v) < 1e15 ? String(Int64(v)) : "\(v)"
}

private func escapeLabel(_ s: String) -> String {
    s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
        .replacingOccurrences(of: "\n", with: "\\n")
}

/// Writes `text` to `path` atomically (`SafeFile`, mode 0644): a reader (node-exporter's
/// textfile collector) sees the old file or the new one, never half of one; a symlink, device
/// or anything else that is not a regular file at `path` is refused, never replaced.
/// - Throws: `EngineError.metrics` when the file cannot be written.
public func writeMetrics(_ text: String, to path: String) throws(EngineError) {
    do {
        try SafeFile.write(Data(text.utf8), to: path, permissions: SafeFile.publicMode)
    } catch {
        throw .metrics(path: path, reason: error.reason)
    }
}
