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
        /// A `createVolume` record carried into a fresh journal when the old one was rotated
        /// (`Journal.rotate`): the volume is still one virtplace created. Belongs to no
        /// unfinished action.
        case carried
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
        Array(records(path: path))
    }

    /// The records of the journal at `path` as `read` gives them, read from the file as they
    /// are iterated: a pass that only looks for what is unfinished or which volumes were
    /// created holds 64 KiB of the file and one record at a time, not the whole journal
    /// (up to `rotationSize`) decoded. Reading it whole on every reconcile pass raised the
    /// process's resident size with the journal's size, some 9 bytes per byte (`bench/soak`).
    public static func records(path: String) -> JournalRecords {
        JournalRecords(path: path)
    }

    /// The volumes virtplace created or may have created (`host/pool/volume`), each with the
    /// last record that names it: `createVolume` intents and successes add a volume, a
    /// failure (nothing was created) removes it. A later copy may overwrite only these.
    public static func createdVolumes(_ records: some Sequence<JournalRecord>) -> [String: JournalRecord] {
        var created: [String: JournalRecord] = [:]
        for r in records where r.op == "createVolume" {
            guard let host = r.detail["host"], let pool = r.detail["pool"], let volume = r.detail["volume"] else { continue }
            switch r.phase {
            case .intent, .done, .carried: created["\(host)/\(pool)/\(volume)"] = r
            case .failed: created["\(host)/\(pool)/\(volume)"] = nil
            default: break
            }
        }
        return created
    }

    /// The journal's size past which `rotate` starts a fresh one: 8 MiB, some 25 000 records,
    /// read on every run in a few tenths of a second.
    public static let rotationSize = 8 << 20

    /// What `rotate` did.
    public struct Rotation: Equatable, Sendable {
        /// The size of the journal that was set aside, in bytes.
        public var bytes: Int
        /// Where it was set aside (`journal.jsonl.1`).
        public var previous: String
        /// How many `createVolume` records were carried into the fresh journal.
        public var carried: Int
    }

    /// Sets the journal at `path` aside as `PATH.1` (replacing an older one) and starts a
    /// fresh one, when it has grown past `limit` bytes and no action in it is unfinished; nil
    /// when it did nothing. The fresh journal begins with the `createVolume` records that
    /// still name volumes virtplace created (phase `carried`), so that forgetting the old
    /// journal never makes a volume virtplace created look like someone else's, nor the
    /// other way round.
    ///
    /// Call it under the state lock, before anything reads the journal. `path` names the old
    /// journal or the fresh one at every moment (the fresh one is written and `fsync`ed
    /// beside it, then renamed over it), so a crash leaves one or the other, both whole.
    /// - Throws: `EngineError.journal` when the files cannot be written; the journal is then
    ///   as it was.
    public static func rotate(
        path: String, limit: Int = rotationSize, run: String, time: String = ISO8601DateFormatter().string(from: Date())
    ) throws(EngineError) -> Rotation? {
        var info = stat()
        guard stat(path, &info) == 0, Int(info.st_size) > limit else { return nil }
        guard unfinishedActions(records(path: path)).isEmpty else { return nil }
        let carried = createdVolumes(records(path: path)).sorted { $0.key < $1.key }
            .map { _, r in
                var detail = r.detail
                detail["carriedFrom"] = r.run
                return JournalRecord(time: time, run: run, instance: r.instance, uuid: r.uuid, action: r.action, step: r.step,
                                     op: r.op, phase: .carried, detail: detail)
            }
        func fail(_ what: String) -> EngineError {
            .journal(path: path, reason: "\(what): \(String(cString: strerror(errno)))")
        }
        let fresh = path + ".new"
        let previous = path + ".1"
        let staged = previous + ".new"
        unlink(fresh)
        unlink(staged)
        // The fresh journal, whole and on disk before it takes the journal's name.
        do {
            let journal = try Journal(path: fresh)
            for record in carried { try journal.append(record) }
        } catch {
            unlink(fresh)
            throw error
        }
        // The old journal stays reachable under `.1` (a second name first, then the swap).
        guard link(path, staged) == 0, rename(staged, previous) == 0 else {
            let error = fail("cannot keep the old journal as \(previous)")
            unlink(staged)
            unlink(fresh)
            throw error
        }
        guard rename(fresh, path) == 0 else {
            let error = fail("cannot start a fresh journal")
            unlink(fresh)
            throw error
        }
        syncDirectory(of: path)
        return Rotation(bytes: Int(info.st_size), previous: previous, carried: carried.count)
    }

    /// `fsync`s the directory holding `path`, so that renames in it are on disk.
    private static func syncDirectory(of path: String) {
        let directory = (path as NSString).deletingLastPathComponent
        let fd = open(directory.isEmpty ? "." : directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { return }
        fsync(fd)
        close(fd)
    }
}

/// The records of a journal file, decoded one line at a time as they are iterated
/// (`Journal.records(path:)`). Lines that do not decode (a torn last line) are skipped; a
/// missing or unreadable file has no records. Each iteration reads the file afresh.
public struct JournalRecords: Sequence {
    public let path: String

    public func makeIterator() -> Iterator { Iterator(lines: JournalLines(path: path)) }

    public struct Iterator: IteratorProtocol {
        fileprivate let lines: JournalLines?
        private let decoder = JSONDecoder()

        fileprivate init(lines: JournalLines?) { self.lines = lines }

        public mutating func next() -> JournalRecord? {
            while let line = lines?.next() {
                if let record = try? decoder.decode(JournalRecord.self, from: line) { return record }
            }
            return nil
        }
    }
}

/// The lines of a file, read 64 KiB at a time; the file is closed with the last reference.
private final class JournalLines {
    private let fd: Int32
    /// Bytes read and not yet returned start at `start`.
    private var buffer: [UInt8] = []
    private var start = 0
    private var chunk = [UInt8](repeating: 0, count: 64 << 10)
    private var ended = false

    init?(path: String) {
        fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
    }

    deinit { close(fd) }

    /// The next line without its line feed (the last one even without); nil at the end or on
    /// a read error.
    func next() -> Data? {
        while true {
            if let end = buffer[start...].firstIndex(of: UInt8(ascii: "\n")) {
                defer { start = end + 1 }
                return Data(buffer[start..<end])
            }
            if ended {
                guard start < buffer.count else { return nil }
                defer { start = buffer.count }
                return Data(buffer[start...])
            }
            buffer.removeFirst(start)
            start = 0
            var count = -1
            repeat {
                count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            } while count < 0 && errno == EINTR
            if count > 0 { buffer.append(contentsOf: chunk[..<count]) }
            if count <= 0 { ended = true }
        }
    }
}
