import Foundation
import Placement
import Synchronization
import YAMLDecoding

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
    /// The volumes virtplace created (see `createdVolumes`), kept up to date by every append:
    /// the run's own, without reading the journal again. Guarded by `lock`.
    private var ledger: VolumeLedger

    /// Opens (creating, mode 0600) the journal for appending, and repairs a torn last line.
    /// `contents` is what `load` read of it in this run (its volumes are the journal's own);
    /// without it, the journal is read for them.
    /// - Throws: `EngineError.journal` when it cannot be opened, is a symlink or not a
    ///   regular file, or cannot be repaired (or read).
    public init(path: String, contents: Contents? = nil) throws(EngineError) {
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
            if let contents {
                ledger = VolumeLedger(created: contents.createdVolumes)
            } else {
                ledger = VolumeLedger(created: try Self.load(path: path).createdVolumes)
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
        ledger = VolumeLedger()
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
        #if DEBUG
        let fault = Self.testFaults.withLock { faults -> TestFaults.Action in
            faults.appended += 1
            if let n = faults.fullFromRecord, faults.appended >= n { return .full }
            if let n = faults.killAfterRecord, faults.appended == n { return .kill }
            return .none
        }
        if fault == .full {
            // As a full disk does it: part of the line written, then ENOSPC.
            _ = SafeFile.writeAll(data.prefix(data.count / 2), to: fd)
            if before >= 0 { _ = ftruncate(fd, before) }
            throw .journal(path: path, reason: String(cString: strerror(ENOSPC)))
        }
        #endif
        guard SafeFile.writeAll(data, to: fd), fsync(fd) == 0 else {
            let reason = String(cString: strerror(errno))
            if before >= 0 { _ = ftruncate(fd, before) }
            throw .journal(path: path, reason: reason)
        }
        ledger.add(record)
        #if DEBUG
        if fault == .kill { _ = kill(getpid(), SIGKILL) }
        #endif
    }

    #if DEBUG
    /// Tests only, debug builds only: faults injected into this process's appends, counted
    /// over every journal it appends to (from 1).
    public struct TestFaults: Sendable {
        /// `VIRTPLACE_TEST_KILL_AFTER_RECORD=N`: SIGKILL right after the Nth record is on disk.
        public var killAfterRecord: Int?
        /// `VIRTPLACE_TEST_JOURNAL_FULL_AT_RECORD=N`: the Nth append and every later one fail
        /// as on a full disk (half the line written, ENOSPC; the append cuts it off again).
        public var fullFromRecord: Int?
        var appended = 0
        enum Action { case none, kill, full }
        public init(killAfterRecord: Int? = nil, fullFromRecord: Int? = nil) {
            self.killAfterRecord = killAfterRecord; self.fullFromRecord = fullFromRecord
        }
    }

    /// The faults the CLI set from the environment (none unless a test asked).
    public static let testFaults = Mutex(TestFaults())
    #endif

    /// The volumes virtplace created or may have created (`host/pool/volume`), as the journal
    /// says now: what it held when opened, and every append since.
    public var ownVolumes: Set<String> {
        lock.lock()
        defer { lock.unlock() }
        return Set(ledger.created.keys)
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

    /// The longest line read as a record: 4 MiB (a step-0 intent, the largest record, holds
    /// one planned action: some kilobytes). A longer line is an unreadable line, skipped
    /// without being held in memory.
    public static let lineLimit = 4 << 20

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

    /// Everything a run needs from the journal, read once (`load`): what earlier runs left
    /// unfinished, the volumes virtplace created (for the planner, for overwriting and removing
    /// only its own, and what a rotation carries), and what is wrong with the file.
    public struct Contents: Equatable, Sendable {
        /// The actions earlier runs left unfinished, in instance order (`unfinishedActions`).
        public var unfinished: [UnfinishedAction] = []
        /// The volumes virtplace created or may have created (`host/pool/volume`), each with
        /// the last record that names it (`createdVolumes`).
        public var createdVolumes: [String: JournalRecord] = [:]
        /// Lines that are not records, in order: they hold the run.
        public var unreadable: [UnreadableLine] = []
        /// A last line without its newline (a whole record there is read with the others).
        public var tornTail: TornTail?
        /// The journal's size in bytes, and how many records it holds: what `rotate` needs.
        public var bytes = 0
        public var records = 0

        /// A value; empty, as a missing journal reads.
        public init() {}

        /// The keys of `createdVolumes`, for the planner (`makePlan(ownVolumes:)`).
        public var ownVolumes: Set<String> { Set(createdVolumes.keys) }
    }

    /// Reads the journal at `path` once, as a stream (64 KiB and one record at a time: a large
    /// journal is never held decoded), and says what a run needs of it (see `Contents`). A
    /// missing file is an empty journal; empty lines are skipped. Records of format 0 (before
    /// the typed journal) are read and converted; a record of a newer format is an unreadable
    /// line.
    /// - Throws: `EngineError.journal` when it cannot be read, is a symlink or not a regular
    ///   file, or is larger than `readLimit`.
    public static func load(path: String) throws(EngineError) -> Contents {
        guard let lines = try JournalLines.open(path: path) else { return Contents() }
        var contents = Contents()
        contents.bytes = lines.size
        var unfinished = UnfinishedActions()
        var ledger = VolumeLedger()
        let decoder = JSONDecoder()
        while let line = lines.next() {
            let torn = !line.terminated
            guard let text = line.text else {
                if torn {
                    contents.tornTail = TornTail(bytes: line.length, line: line.number, whole: false)
                } else {
                    contents.unreadable.append(UnreadableLine(
                        line: line.number, reason: "longer than the \(lineLimit >> 20) MiB a record may be (\(line.length) bytes)",
                        excerpt: excerpt(line.prefix[...], total: line.length)))
                }
                continue
            }
            if text.allSatisfy({ $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\r") }) {
                if torn && !text.isEmpty { contents.tornTail = TornTail(bytes: text.count, line: line.number, whole: false) }
                continue
            }
            do {
                let record = try decoder.decode(JournalRecord.self, from: Data(text))
                unfinished.add(record)
                ledger.add(record)
                contents.records += 1
                if torn { contents.tornTail = TornTail(bytes: text.count, line: line.number, whole: true) }
            } catch let error as NewerJournalFormat {
                // Never cut off as a torn line: a newer virtplace wrote it.
                contents.unreadable.append(UnreadableLine(line: line.number, reason: error.description, excerpt: excerpt(text[...])))
            } catch {
                if torn {
                    contents.tornTail = TornTail(bytes: text.count, line: line.number, whole: false)
                } else {
                    contents.unreadable.append(UnreadableLine(line: line.number, reason: describeDecoding(error), excerpt: excerpt(text[...])))
                }
            }
        }
        if let failure = lines.failure { throw .journal(path: path, reason: failure) }
        contents.unfinished = unfinished.actions
        contents.createdVolumes = ledger.created
        return contents
    }

    /// The records of the journal at `path`, read from the file as they are iterated, through
    /// the same reader as `load` (lines that are not records skipped: a run `load`s the journal
    /// first and refuses one that has such lines). For tests and tools; a run needs `load`.
    public static func records(path: String) -> JournalRecords {
        JournalRecords(path: path)
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
        // Back from the end to the last newline, a chunk at a time; a tail longer than a
        // record may be is not a whole record, and is not kept in memory.
        var tail: [UInt8] = []
        var tailLength = 0
        var position = size
        var lineStart = 0
        var found = false
        while position > 0 && !found {
            let length = min(64 * 1024, position)
            var chunk = [UInt8](repeating: 0, count: length)
            let n = chunk.withUnsafeMutableBytes { pread(fd, $0.baseAddress, length, off_t(position - length)) }
            guard n == length else { throw .journal(path: path, reason: "cannot read its end: \(String(cString: strerror(errno)))") }
            let newline = chunk.lastIndex(of: UInt8(ascii: "\n"))
            let part = chunk[((newline ?? -1) + 1)...]
            tailLength += part.count
            if tailLength <= lineLimit { tail = Array(part) + tail }
            if let newline {
                lineStart = position - length + newline + 1
                found = true
            } else {
                position -= length
            }
        }
        guard tailLength > 0 else { return nil }
        let line = try countLines(fd, upTo: lineStart, path: path) + 1
        var whole = false
        if tailLength <= lineLimit {
            do {
                _ = try JSONDecoder().decode(JournalRecord.self, from: Data(tail))
                whole = true
            } catch let error as NewerJournalFormat {
                throw .journal(path: path, reason: "its last line (line \(line)) was \(error.description)")
            } catch {
                whole = false
            }
        }
        if whole {
            guard SafeFile.writeAll(Data("\n".utf8), to: fd) else {
                throw .journal(path: path, reason: "cannot end its torn last line: \(String(cString: strerror(errno)))")
            }
        } else if ftruncate(fd, off_t(lineStart)) != 0 {
            throw .journal(path: path, reason: "cannot cut off its torn last line: \(String(cString: strerror(errno)))")
        }
        guard fsync(fd) == 0 else { throw .journal(path: path, reason: String(cString: strerror(errno))) }
        return TornTail(bytes: tailLength, line: line, whole: whole)
    }

    /// How many line feeds the journal has before byte `end`, read a chunk at a time.
    private static func countLines(_ fd: Int32, upTo end: Int, path: String) throws(EngineError) -> Int {
        var count = 0
        var position = 0
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while position < end {
            let length = min(chunk.count, end - position)
            let n = chunk.withUnsafeMutableBytes { pread(fd, $0.baseAddress, length, off_t(position)) }
            guard n > 0 else { throw .journal(path: path, reason: "cannot read it: \(String(cString: strerror(errno)))") }
            count += chunk[..<n].reduce(0) { $0 + ($1 == UInt8(ascii: "\n") ? 1 : 0) }
            position += n
        }
        return count
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

    private static func excerpt(_ bytes: ArraySlice<UInt8>, total: Int? = nil) -> String {
        let text = String(decoding: bytes.prefix(80), as: UTF8.self)
        let shown = String(text.unicodeScalars.map { $0.properties.generalCategory == .control ? "?" : Character($0) })
        return (total ?? bytes.count) > 80 ? shown + "…" : shown
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

    /// The volumes virtplace created or may have created (`host/pool/volume`), each with the
    /// last record that names it: `createVolume` intents and successes add a volume (and so
    /// does a `carried` one), a failure (nothing was created) removes it, and so does a
    /// `deleteVolume` that removed it (an incomplete copy). A later copy may overwrite only
    /// these.
    public static func createdVolumes(_ records: some Sequence<JournalRecord>) -> [String: JournalRecord] {
        var ledger = VolumeLedger()
        for r in records { ledger.add(r) }
        return ledger.created
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
    /// other way round. What the run read of the journal (`contents`, from `load`) stays
    /// true of the fresh one: nothing unfinished, the same volumes.
    ///
    /// Call it under the state lock, after `load` (without `contents`, it loads the journal
    /// itself) and before anything is appended. `path` names the old journal or the fresh one
    /// at every moment (the fresh one is written and `fsync`ed beside it, then renamed over
    /// it: `SafeFile`), so a crash leaves one or the other, both whole. A journal with an
    /// unreadable or torn line is left alone.
    /// - Throws: `EngineError.journal` when the files cannot be written; the journal is then
    ///   as it was.
    public static func rotate(
        path: String, contents: Contents? = nil, limit: Int = rotationSize, run: String, time: String = JournalRecord.now()
    ) throws(EngineError) -> Rotation? {
        var info = stat()
        guard lstat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG, Int(info.st_size) > limit else { return nil }
        // A journal with a line that cannot be read is never set aside: that line is held
        // (see `load`) until an operator has dealt with it.
        let contents = if let contents { contents } else { try load(path: path) }
        guard contents.unreadable.isEmpty, contents.tornTail == nil, contents.unfinished.isEmpty else { return nil }
        let carried = contents.createdVolumes.sorted { $0.key < $1.key }.compactMap { _, r -> JournalRecord? in
            guard case .createVolume(var volume) = r.entry else { return nil }
            volume.phase = .carried
            volume.carriedFrom = volume.carriedFrom ?? r.run
            return JournalRecord(time: time, run: run, instance: r.instance, uuid: r.uuid, kind: r.kind, entry: .createVolume(volume))
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

/// The volumes virtplace created, as the journal's records tell it (`Journal.createdVolumes`).
struct VolumeLedger: Sendable {
    var created: [String: JournalRecord] = [:]

    mutating func add(_ r: JournalRecord) {
        switch r.entry {
        case .createVolume(let v):
            created[v.key] = v.phase == .failed ? nil : r
        case .deleteVolume(let v) where v.phase == .done:
            created[v.key] = nil
        default:
            break
        }
    }
}

/// The records of a journal file, decoded one line at a time as they are iterated
/// (`Journal.records(path:)`). Lines that do not decode are skipped; a missing or unreadable
/// file has no records. Each iteration reads the file afresh.
public struct JournalRecords: Sequence {
    public let path: String

    public func makeIterator() -> Iterator { Iterator(lines: try? JournalLines.open(path: path)) }

    public struct Iterator: IteratorProtocol {
        fileprivate let lines: JournalLines?
        private let decoder = JSONDecoder()

        fileprivate init(lines: JournalLines?) { self.lines = lines }

        public mutating func next() -> JournalRecord? {
            while let line = lines?.next() {
                if let text = line.text, let record = try? decoder.decode(JournalRecord.self, from: Data(text)) { return record }
            }
            return nil
        }
    }
}

/// The one reader of a journal file: its lines, read 64 KiB at a time from a descriptor
/// opened without following a symlink, from a regular file no larger than `Journal.readLimit`;
/// a line longer than `Journal.lineLimit` is passed over without being kept. The file is
/// closed with the last reference.
final class JournalLines {
    struct Line {
        /// 1-based.
        var number: Int
        /// The line without its line feed; nil when it is longer than `Journal.lineLimit`.
        var text: [UInt8]?
        /// Its first bytes (for a line too long to keep).
        var prefix: [UInt8]
        var length: Int
        /// Whether a line feed ended it (the last line of a torn journal has none).
        var terminated: Bool
    }

    private let fd: Int32
    /// The file's size when it was opened.
    let size: Int
    /// Why reading stopped early (a read error, or the file grew past the limit).
    private(set) var failure: String?
    /// Bytes read and not yet returned start at `start`; no line feed before `scanned`.
    private var buffer: [UInt8] = []
    private var start = 0
    private var scanned = 0
    /// The length and first bytes of a line too long to keep, while it is passed over.
    private var skipped = 0
    private var skippedPrefix: [UInt8] = []
    private var chunk = [UInt8](repeating: 0, count: 64 << 10)
    private var total = 0
    private var ended = false
    private var number = 0

    private init(fd: Int32, size: Int) { self.fd = fd; self.size = size }

    #if DEBUG
    /// Tests only: how many times each journal was opened for reading (a run reads its journal
    /// once). Compiled into debug builds only.
    static let reads = Mutex<[String: Int]>([:])
    #endif

    deinit { close(fd) }

    /// The lines of the journal at `path`; nil when there is no file.
    /// - Throws: `EngineError.journal` when it is a symlink, not a regular file, larger than
    ///   `Journal.readLimit`, or cannot be opened.
    static func open(path: String) throws(EngineError) -> JournalLines? {
        let fd = Foundation.open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOFOLLOW)
        guard fd >= 0 else {
            let code = errno
            if code == ENOENT { return nil }
            throw .journal(path: path, reason: code == ELOOP ? "it is a symbolic link: refused (virtplace does not follow links in the state directory)"
                                                             : "cannot read it: \(String(cString: strerror(code)))")
        }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            let reason = String(cString: strerror(errno))
            close(fd)
            throw .journal(path: path, reason: reason)
        }
        guard (info.st_mode & S_IFMT) == S_IFREG, Int(info.st_size) <= Journal.readLimit else {
            close(fd)
            throw .journal(path: path, reason: (info.st_mode & S_IFMT) == S_IFREG
                           ? "it is larger than the \(Journal.readLimit >> 20) MiB limit"
                           : "it is \(FileInput.kind(info.st_mode)), not a regular file: refused")
        }
        #if DEBUG
        reads.withLock { $0[path, default: 0] += 1 }
        #endif
        return JournalLines(fd: fd, size: Int(info.st_size))
    }

    /// The next line; nil at the end (or when reading failed: see `failure`).
    func next() -> Line? {
        while true {
            if let end = buffer[scanned...].firstIndex(of: UInt8(ascii: "\n")) {
                defer { start = end + 1; scanned = start }
                return take(buffer[start..<end], terminated: true)
            }
            scanned = buffer.count
            if buffer.count - start > Journal.lineLimit {
                // Too long to be a record: remember its length and first bytes only.
                if skipped == 0 { skippedPrefix = Array(buffer[start..<(start + 80)]) }
                skipped += buffer.count - start
                buffer.removeAll(keepingCapacity: true)
                start = 0
                scanned = 0
            }
            if ended {
                guard start < buffer.count || skipped > 0 else { return nil }
                defer { start = buffer.count; scanned = start }
                return take(buffer[start...], terminated: false)
            }
            buffer.removeFirst(start)
            scanned -= start
            start = 0
            var count = -1
            repeat {
                count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            } while count < 0 && errno == EINTR
            if count < 0 { failure = "cannot read it: \(String(cString: strerror(errno)))" }
            if count > 0 {
                total += count
                if total > Journal.readLimit {
                    failure = "it is larger than the \(Journal.readLimit >> 20) MiB limit"
                    count = 0
                } else {
                    buffer.append(contentsOf: chunk[..<count])
                }
            }
            if count <= 0 { ended = true }
        }
    }

    private func take(_ bytes: ArraySlice<UInt8>, terminated: Bool) -> Line {
        number += 1
        defer { skipped = 0; skippedPrefix = [] }
        if skipped > 0 || bytes.count > Journal.lineLimit {
            let prefix = skipped > 0 ? skippedPrefix : Array(bytes.prefix(80))
            return Line(number: number, text: nil, prefix: prefix, length: skipped + bytes.count, terminated: terminated)
        }
        return Line(number: number, text: Array(bytes), prefix: [], length: bytes.count, terminated: terminated)
    }
}
