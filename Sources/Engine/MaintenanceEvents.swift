import Foundation
import Placement
import Synchronization

/// The records of maintenance moves: `maintenance-move-started` when the executor starts a
/// move off a host under maintenance, `maintenance-move-finished` when it ends, with its final
/// state (`succeeded`, `failed`, `canceled`). They go to the `--events FILE` (JSON lines,
/// appended) and to a sink (reconcile's JSON log); the counts feed the metrics.
/// docs/operations.md lists the fields.
public final class MaintenanceEvents: Sendable {
    /// A maintenance move of the plan, by instance.
    struct Move: Sendable {
        let host: String
        let due: String?
        let reason: String?
    }

    private let moves: [String: Move]
    private let path: String?
    private let sink: @Sendable ([String: Any]) -> Void
    private let state = Mutex<(counts: [String: Int], errors: [String], manual: [String])>(([:], [], []))

    /// Records for the scheduled moves of `plan` caused by a maintenance event (reason
    /// `place.maintenance`); `hosts` gives each host's event (due date, reason). Records are
    /// appended to the file at `path` (when given) and passed to `sink`.
    public init(plan: Plan, hosts: [String: HostSpec], path: String?, sink: @escaping @Sendable ([String: Any]) -> Void = { _ in }) {
        var moves: [String: Move] = [:]
        for a in plan.actions where a.isScheduled && a.kind.isMove && a.reasons.contains(where: { $0.code == .placeMaintenance }) {
            guard let from = a.from, moves[a.instance] == nil else { continue }
            let m = hosts[from]?.maintenance
            moves[a.instance] = Move(host: from, due: m.map { $0.dueSeconds.map(MaintenanceTime.format) ?? $0.due }, reason: m?.reason)
        }
        self.moves = moves
        self.path = path
        self.sink = sink
    }

    /// Whether the plan has maintenance moves at all.
    public var isEmpty: Bool { moves.isEmpty }

    /// Moves by final state, for the metrics.
    public var counts: [String: Int] { state.withLock { $0.counts } }

    /// `INSTANCE on HOST needs manual migration: WHY`, per failed move with downtime.
    public var manualNeeded: [String] { state.withLock { $0.manual } }

    /// Events file writes that failed (the run goes on; the command reports them).
    public var errors: [String] { state.withLock { $0.errors } }

    /// Turns an executor event into a record, when it is about a maintenance move.
    public func handle(_ event: ExecutionEvent) {
        switch event {
        case let .actionStarted(instance, kind, from, to):
            guard let move = moves[instance], from == move.host else { return }
            var f: [String: Any] = ["event": "maintenance-move-started", "kind": kind.rawValue]
            if let to { f["to"] = to }
            write(move, instance: instance, fields: f)
        case .actionFinished(let r):
            guard let move = moves[r.instance], r.from == move.host else { return }
            let final: String
            switch r.status {
            case .done: final = "succeeded"
            case .failed: final = "failed"
            case .blocked, .deferred: final = "canceled"
            }
            var f: [String: Any] = ["event": "maintenance-move-finished", "kind": r.kind.rawValue, "state": final,
                                    "seconds": (r.elapsedSeconds * 1000).rounded() / 1000]
            if let to = r.to { f["to"] = to }
            if let message = r.message { f["message"] = message }
            if r.status == .failed && r.kind != .live {
                // A move with downtime that failed (the guest still runs where it was, or the
                // next run finishes it): nothing the file allows moved it off the host.
                f["manualNeeded"] = true
                f["message"] = "needs manual migration: \(r.message ?? "the move failed")"
                let line = "\(r.instance) on \(move.host) needs manual migration: \(r.message ?? "the move failed")"
                state.withLock { $0.manual.append(line) }
            }
            state.withLock { $0.counts[final, default: 0] += 1 }
            write(move, instance: r.instance, fields: f)
        case .waveStarted, .stepStarted, .stepFinished, .transfer, .convergence:
            break
        }
    }

    private func write(_ move: Move, instance: String, fields: [String: Any]) {
        var record = fields
        record["instance"] = instance
        record["host"] = move.host
        if let due = move.due { record["due"] = due }
        if let reason = move.reason { record["reason"] = reason }
        sink(record)
        guard let path else { return }
        record["time"] = UTCTimestamp.iso8601(Date())
        guard let data = try? JSONSerialization.data(withJSONObject: record, options: [.sortedKeys, .withoutEscapingSlashes]) else { return }
        do {
            try Self.append(Escape.hardenedJSON(String(decoding: data, as: UTF8.self)) + "\n", to: path)
        } catch {
            state.withLock { $0.errors.append("\(error)") }
        }
    }

    /// Appends one line to the events file: created 0644 when missing; a symbolic link,
    /// device, FIFO or anything but a regular file is refused, never written to.
    /// - Throws: `SafeFile.Failure`.
    public static func append(_ line: String, to path: String) throws(SafeFile.Failure) {
        let fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, SafeFile.publicMode)
        guard fd >= 0 else { throw SafeFile.Failure(path: path, reason: SafeFile.errorText(errno)) }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else {
            throw SafeFile.Failure(path: path, reason: "not a regular file: virtplace appends events only to a regular file")
        }
        guard SafeFile.writeAll(Data(line.utf8), to: fd) else {
            throw SafeFile.Failure(path: path, reason: SafeFile.errorText(errno))
        }
    }
}
