import Foundation
import Placement
import YAMLDecoding

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
///
/// It is opened with `O_NOFOLLOW` and must be a regular file; a torn last line (a write cut
/// short by a crash or a full disk) is repaired before the first append, so that a record is
/// never merged into it; an append that fails is cut off again. See docs/recovery.md.
public final class Journal: @unchecked Sendable {
    // Safe: appends are serialised by `lock`; `fd` is set once and closed in deinit.
    private let fd: Int32
    private let lock = NSLock()
    private let encoder: JSONEncoder
    /// Where `record` runs its `fsync`s: off Swift's cooperative pool (a slow disk would hold
    /// a pool thread for the length of each one).
    private let queue = DispatchQueue(label: "virtplace.journal")
    public let path: String
    /// The torn last line that opening the journal repaired, if there was one.
    public let repaired: TornTail?

    /// Opens (creating, mode 0600) the journal for appending, and repairs a torn last line.
    /// - Throws: `EngineError.journal` when it cannot be opened, is a symlink or not a
    ///   regular file, or cannot be repaired.
    public init(path: String) throws(EngineError) {
        self.path = path
        let fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0o600)
        guard fd >= 0 else { throw Self.openError(path, errno) }
        do {
            try Self.requireRegular(fd, path: path)
            repaired = try Self.repairTornTail(fd, path: path)
            // A journal just created: its name on disk too, or an fsynced record could vanish
            // with the directory entry of its file.
            var info = stat()
            if fstat(fd, &info) == 0 && info.st_size == 0 {
                SafeFile.syncDirectory((path as NSString).deletingLastPathComponent)
            }
        } catch {
            close(fd)
            throw error
        }
        self.fd = fd
        encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    }

    /// A journal on a descriptor already open (tests: one whose writes fail).
    init(descriptor: Int32, path: String) {
        fd = descriptor
        self.path = path
        repaired = nil
        encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    }

    deinit { close(fd) }

    /// Appends one record durably. A write cut short (a full disk) is cut off the file again,
    /// so that no torn line stays behind.
    /// - Throws: `EngineError.journal` when it cannot be written: the caller must not go on
    ///   with the step it was about to run.
    public func append(_ record: JournalRecord) throws(EngineError) {
        let data: Data
        do { data = try encoder.encode(record) + Data("\n".utf8) } catch {
            throw .journal(path: path, reason: "cannot encode a record: \(error)")
        }
        lock.lock()
        defer { lock.unlock() }
        var info = stat()
        let before = fstat(fd, &info) == 0 ? info.st_size : -1
        guard SafeFile.writeAll(data, to: fd), fsync(fd) == 0 else {
            let reason = String(cString: strerror(errno))
            if before >= 0 { _ = ftruncate(fd, before) }
            throw .journal(path: path, reason: reason)
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

    /// The largest journal read: 128 MiB (rotation keeps it near 8 MiB; it grows past that
    /// only while an action stays unfinished).
    public static let readLimit = 128 << 20

    /// A line of the journal that is not a record: it is reported and holds the run, never
    /// dropped silently (it may be the record of a move half done).
    public struct UnreadableLine: Equatable, Sendable {
        /// 1-based.
        public var line: Int
        public var reason: String
        /// Its first bytes, control characters shown as `?`.
        public var excerpt: String
    }

    /// A last line without its newline: a write cut short.
    public struct TornTail: Equatable, Sendable {
        /// Its length in bytes.
        public var bytes: Int
        /// Its line number.
        public var line: Int
        /// Whether it held a whole record (only the newline was missing): then it is kept and
        /// terminated; otherwise it is cut off (its append never returned, so no step ran after
        /// it).
        public var whole: Bool
    }

    /// What `load` found.
    public struct Contents: Equatable, Sendable {
        /// The records, oldest first (with a torn last line when it is a whole record).
        public var records: [JournalRecord] = []
        /// Lines that are not records, in order.
        public var unreadable: [UnreadableLine] = []
        /// A last line without its newline.
        public var tornTail: TornTail?
    }

    /// Reads the journal at `path` (a missing file is an empty journal) and says what is wrong
    /// with it: unreadable lines (with their numbers), a torn last line. Empty lines are
    /// skipped.
    /// - Throws: `EngineError.journal` when it cannot be read, is a symlink or not a regular
    ///   file, or is larger than `readLimit`.
    public static func load(path: String) throws(EngineError) -> Contents {
        let bytes: [UInt8]
        do {
            bytes = try FileInput.read(atPath: path, limit: readLimit, noFollow: true)
        } catch {
            var info = stat()
            if lstat(path, &info) != 0 && errno == ENOENT { return Contents() }
            throw .journal(path: path, reason: error.reason)
        }
        var contents = Contents()
        let decoder = JSONDecoder()
        var start = 0
        var line = 0
        while start < bytes.count {
            line += 1
            let end = bytes[start...].firstIndex(of: UInt8(ascii: "\n")) ?? bytes.count
            let text = bytes[start..<end]
            let torn = end == bytes.count
            defer { start = end + 1 }
            if text.allSatisfy({ $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\r") }) {
                if torn && !text.isEmpty { contents.tornTail = TornTail(bytes: text.count, line: line, whole: false) }
                continue
            }
            do {
                contents.records.append(try decoder.decode(JournalRecord.self, from: Data(text)))
                if torn { contents.tornTail = TornTail(bytes: text.count, line: line, whole: true) }
            } catch {
                if torn {
                    contents.tornTail = TornTail(bytes: text.count, line: line, whole: false)
                } else {
                    contents.unreadable.append(UnreadableLine(line: line, reason: describeDecoding(error), excerpt: excerpt(text)))
                }
            }
        }
        return contents
    }

    /// The records of the journal at `path` that can be read, oldest first; nothing when it
    /// cannot be read at all. Commands call `load` first and refuse a journal with unreadable
    /// lines; this is for what comes after (and for tests).
    public static func read(path: String) -> [JournalRecord] {
        (try? load(path: path))?.records ?? []
    }

    /// Repairs a torn last line of the journal at `path` (see `TornTail`): a whole record is
    /// given its newline, anything else is cut off; both `fsync`ed. Nil when the journal
    /// ends in a newline (or does not exist).
    /// - Throws: `EngineError.journal` when it cannot be opened or written.
    public static func repairTornTail(path: String) throws(EngineError) -> TornTail? {
        let fd = open(path, O_RDWR | O_APPEND | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK)
        guard fd >= 0 else {
            if errno == ENOENT { return nil }
            throw openError(path, errno)
        }
        defer { close(fd) }
        try requireRegular(fd, path: path)
        return try repairTornTail(fd, path: path)
    }

    private static func repairTornTail(_ fd: Int32, path: String) throws(EngineError) -> TornTail? {
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw .journal(path: path, reason: String(cString: strerror(errno))) }
        let size = Int(info.st_size)
        guard size > 0 else { return nil }
        // Back from the end to the last newline, a chunk at a time.
        var tail: [UInt8] = []
        var position = size
        var lineStart = 0
        var found = false
        while position > 0 && !found {
            let length = min(64 * 1024, position)
            var chunk = [UInt8](repeating: 0, count: length)
            let n = chunk.withUnsafeMutableBytes { pread(fd, $0.baseAddress, length, off_t(position - length)) }
            guard n == length else { throw .journal(path: path, reason: "cannot read its end: \(String(cString: strerror(errno)))") }
            if let newline = chunk.lastIndex(of: UInt8(ascii: "\n")) {
                tail = Array(chunk[(newline + 1)...]) + tail
                lineStart = position - length + newline + 1
                found = true
            } else {
                tail = chunk + tail
                position -= length
            }
        }
        guard !tail.isEmpty else { return nil }
        var line = 1
        if lineStart > 0 {
            // Its line number, for the report (the journal is read whole later anyway).
            line = (try? FileInput.read(atPath: path, limit: readLimit, noFollow: true))
                .map { $0[..<lineStart].reduce(1) { $0 + ($1 == UInt8(ascii: "\n") ? 1 : 0) } } ?? 0
        }
        let whole = (try? JSONDecoder().decode(JournalRecord.self, from: Data(tail))) != nil
        if whole {
            guard SafeFile.writeAll(Data("\n".utf8), to: fd) else {
                throw .journal(path: path, reason: "cannot end its torn last line: \(String(cString: strerror(errno)))")
            }
        } else if ftruncate(fd, off_t(lineStart)) != 0 {
            throw .journal(path: path, reason: "cannot cut off its torn last line: \(String(cString: strerror(errno)))")
        }
        guard fsync(fd) == 0 else { throw .journal(path: path, reason: String(cString: strerror(errno))) }
        return TornTail(bytes: tail.count, line: line, whole: whole)
    }

    private static func openError(_ path: String, _ code: Int32) -> EngineError {
        .journal(path: path, reason: code == ELOOP ? "it is a symbolic link: refused (virtplace does not follow links in the state directory)"
                                                   : String(cString: strerror(code)))
    }

    private static func requireRegular(_ fd: Int32, path: String) throws(EngineError) {
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw .journal(path: path, reason: String(cString: strerror(errno))) }
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            throw .journal(path: path, reason: "it is \(FileInput.kind(info.st_mode)), not a regular file: refused")
        }
    }

    private static func excerpt(_ bytes: ArraySlice<UInt8>) -> String {
        let text = String(decoding: bytes.prefix(80), as: UTF8.self)
        let shown = String(text.unicodeScalars.map { $0.properties.generalCategory == .control ? "?" : Character($0) })
        return bytes.count > 80 ? shown + "…" : shown
    }

    private static func describeDecoding(_ error: any Error) -> String {
        guard let error = error as? DecodingError else { return "not a record" }
        switch error {
        case .dataCorrupted(let context) where !context.codingPath.isEmpty:
            return "a wrong value at '\(context.codingPath.map(\.stringValue).joined(separator: "."))'"
        case .dataCorrupted: return "not JSON"
        case .keyNotFound(let key, _): return "no '\(key.stringValue)'"
        case .typeMismatch(_, let context), .valueNotFound(_, let context):
            return "a wrong value at '\(context.codingPath.map(\.stringValue).joined(separator: "."))'"
        @unknown default: return "not a record"
        }
    }

    /// The records of the journal at `path` (unreadable lines skipped: the commands `load` it
    /// first and refuse such a journal), read from the file as they are iterated: a pass that only looks for what is unfinished or which volumes were
    /// created holds 64 KiB of the file and one record at a time, not the whole journal
    /// (up to `rotationSize`) decoded. Reading it whole on every reconcile pass raised the
    /// process's resident size with the journal's size, some 9 bytes per byte (`bench/soak`).
    public static func records(path: String) -> JournalRecords {
        JournalRecords(path: path)
    }

    /// The volumes virtplace created or may have created (`host/pool/volume`), each with the
    /// last record that names it: `createVolume` intents and successes add a volume, a
    /// failure (nothing was created) removes it, and so does a `deleteVolume` that removed it
    /// (an incomplete copy). A later copy may overwrite only these.
    public static func createdVolumes(_ records: some Sequence<JournalRecord>) -> [String: JournalRecord] {
        var created: [String: JournalRecord] = [:]
        for r in records where r.op == "createVolume" || r.op == "deleteVolume" {
            guard let host = r.detail["host"], let pool = r.detail["pool"], let volume = r.detail["volume"] else { continue }
            let key = "\(host)/\(pool)/\(volume)"
            if r.op == "deleteVolume" {
                if r.phase == .done { created[key] = nil }
                continue
            }
            switch r.phase {
            case .intent, .done, .carried: created[key] = r
            case .failed: created[key] = nil
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
    /// beside it, then renamed over it: `SafeFile`), so a crash leaves one or the other, both
    /// whole. A journal with an unreadable or torn line is left alone.
    /// - Throws: `EngineError.journal` when the files cannot be written; the journal is then
    ///   as it was.
    public static func rotate(
        path: String, limit: Int = rotationSize, run: String, time: String = ISO8601DateFormatter().string(from: Date())
    ) throws(EngineError) -> Rotation? {
        var info = stat()
        guard lstat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG, Int(info.st_size) > limit else { return nil }
        // A journal with a line that cannot be read is never set aside: that line is held
        // (see `load`) until an operator has dealt with it.
        let contents = try load(path: path)
        guard contents.unreadable.isEmpty, contents.tornTail == nil else { return nil }
        let records = contents.records
        guard unfinishedActions(records).isEmpty else { return nil }
        let carried = createdVolumes(records).sorted { $0.key < $1.key }
            .map { _, r in
                var detail = r.detail
                detail["carriedFrom"] = r.run
                return JournalRecord(time: time, run: run, instance: r.instance, uuid: r.uuid, action: r.action, step: r.step,
                                     op: r.op, phase: .carried, detail: detail)
            }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var fresh = Data()
        for record in carried {
            do { fresh += try encoder.encode(record) + Data("\n".utf8) } catch {
                throw .journal(path: path, reason: "cannot encode a record: \(error)")
            }
        }
        let previous = path + ".1"
        let staged = previous + ".new"
        unlink(path + ".new")  // what an older virtplace's interrupted rotation left
        unlink(staged)
        // The old journal stays reachable under `.1` (a second name first, then the swap).
        guard link(path, staged) == 0, rename(staged, previous) == 0 else {
            let error = EngineError.journal(path: path, reason: "cannot keep the old journal as \(previous): \(String(cString: strerror(errno)))")
            unlink(staged)
            throw error
        }
        // The fresh journal takes the name whole, or not at all (`SafeFile`).
        do {
            try SafeFile.write(fresh, to: path, permissions: SafeFile.privateMode)
        } catch {
            throw .journal(path: path, reason: "cannot start a fresh journal: \(error.reason)")
        }
        return Rotation(bytes: Int(info.st_size), previous: previous, carried: carried.count)
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
