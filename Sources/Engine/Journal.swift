import Foundation
import Placement

/// One line of the journal (JSON Lines in the state directory): intent before a step runs and
/// its outcome after, so that a later run knows what an interrupted one was doing.
public struct JournalRecord: Codable, Equatable, Sendable {
    public enum Phase: String, Codable, Sendable {
        /// About to run the step.
        case intent
        /// The step ran and its postcondition holds.
        case done
        /// The postcondition already held: nothing was done.
        case skipped
        /// The step failed; `error` says why.
        case failed
        /// The whole action finished (its last record).
        case finished
        /// The action was given up on or rolled back; `error` says why.
        case abandoned
    }

    /// ISO 8601 time.
    public var time: String
    /// The run that wrote it (one per apply/reconcile pass).
    public var run: String
    public var instance: String
    /// The domain's UUID: how recovery finds it on any host.
    public var uuid: String?
    /// The action kind (`live`, `manual`, …).
    public var action: String
    /// The step's index in the action, and its op name; -1 and "" for action-level records.
    public var step: Int
    public var op: String
    public var phase: Phase
    /// What the step needs to be finished or undone (hosts, volume paths, saved XML file).
    public var detail: [String: String]
    public var error: String?
    /// Seconds the step took (outcome records).
    public var seconds: Double?

    public init(time: String, run: String, instance: String, uuid: String?, action: String, step: Int,
                op: String, phase: Phase, detail: [String: String] = [:], error: String? = nil, seconds: Double? = nil) {
        self.time = time; self.run = run; self.instance = instance; self.uuid = uuid; self.action = action
        self.step = step; self.op = op; self.phase = phase; self.detail = detail; self.error = error; self.seconds = seconds
    }
}

/// The append-only journal. Every append is written and `fsync`ed before it returns: a record
/// that `append` returned for is on disk whatever happens next.
public final class Journal: @unchecked Sendable {
    // Safe: appends are serialised by `lock`; `fd` is set once and closed in deinit.
    private let fd: Int32
    private let lock = NSLock()
    private let encoder: JSONEncoder
    /// Where `record` runs its `fsync`s: off Swift's cooperative pool (a slow disk would hold
    /// a pool thread for the length of each one).
    private let queue = DispatchQueue(label: "virtplace.journal")
    public let path: String

    /// Opens (creating) the journal for appending.
    /// - Throws: `EngineError.journal` when it cannot be opened.
    public init(path: String) throws(EngineError) {
        self.path = path
        fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw .journal(path: path, reason: String(cString: strerror(errno))) }
        encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    }

    deinit { close(fd) }

    /// Appends one record durably.
    /// - Throws: `EngineError.journal` when it cannot be written: the caller must not go on
    ///   with the step it was about to run.
    public func append(_ record: JournalRecord) throws(EngineError) {
        let data: Data
        do { data = try encoder.encode(record) + Data("\n".utf8) } catch {
            throw .journal(path: path, reason: "cannot encode a record: \(error)")
        }
        lock.lock()
        defer { lock.unlock() }
        let written = data.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        guard written == data.count, fsync(fd) == 0 else {
            throw .journal(path: path, reason: String(cString: strerror(errno)))
        }
    }

    /// Appends one record durably, from async code: the write and its `fsync` run on the
    /// journal's own queue, not on the cooperative pool.
    /// - Throws: `EngineError.journal` (see `append`).
    public func record(_ record: JournalRecord) async throws(EngineError) {
        let result: Result<Void, EngineError> = await withCheckedContinuation { continuation in
            queue.async {
                do throws(EngineError) {
                    try self.append(record)
                    continuation.resume(returning: .success(()))
                } catch {
                    continuation.resume(returning: .failure(error))
                }
            }
        }
        try result.get()
    }

    /// Every record in the journal at `path`, oldest first. A torn last line (a crash in the
    /// middle of a write) is ignored; a missing file is an empty journal.
    public static func read(path: String) -> [JournalRecord] {
        guard let data = FileManager.default.contents(atPath: path) else { return [] }
        let decoder = JSONDecoder()
        return data.split(separator: UInt8(ascii: "\n")).compactMap { try? decoder.decode(JournalRecord.self, from: Data($0)) }
    }

    /// Actions that an earlier run started and never finished or abandoned, by instance: the
    /// records of each such action's last attempt, oldest first.
    public static func unfinished(_ records: [JournalRecord]) -> [String: [JournalRecord]] {
        var open: [String: [JournalRecord]] = [:]
        for r in records {
            switch r.phase {
            case .finished, .abandoned:
                open[r.instance] = nil
            default:
                if r.step == 0 && r.phase == .intent { open[r.instance] = [] }
                open[r.instance, default: []].append(r)
            }
        }
        return open
    }
}
