import Foundation
import Placement
import YAMLDecoding

/// The state directory's instance backoffs (`backoff.json`): which instances' actions failed,
/// how often in a row, until when reconcile leaves them alone, and the declaration (its
/// digest) they failed under. It lets a reconcile started afresh by a timer or cron hold an
/// instance that failed a minute ago, as a long-running `reconcile --interval` does, instead
/// of trying (and perhaps rebooting) it again on every run.
///
/// Input like any other: read without following a link, a regular file only, at most
/// `readLimit` bytes, decoded strictly and bounded (`sound`): a count or time out of range is
/// brought into range (a time never later than the longest backoff from now), a message cut
/// short. A file that cannot be read is set aside and said so, never fatal: the worst it can
/// cause is an attempt the backoff would have skipped. Written whole or not at all through
/// `SafeFile`, mode 0600.
public enum BackoffFile {
    /// The largest file read: far above what a fleet's backoffs take.
    public static let readLimit = 1 << 20
    /// The longest message kept, characters.
    static let messageLimit = 1_000
    /// The highest count kept (the wait stops growing long before).
    static let failuresLimit = 1_000_000

    /// One instance's backoff, as written.
    struct Entry: Codable, Equatable {
        var failures: Int
        /// Seconds since the epoch.
        var until: Double
        var message: String?
        /// `DesiredInstance.declarationDigest` of the declaration it failed under.
        var declaration: String
    }

    struct Document: Codable, Equatable {
        var version: Int
        var instances: [String: Entry]
    }

    static let version = 1

    /// `STATE/backoff.json`.
    public static func path(_ state: StateDirectory) -> String { state.path + "/backoff.json" }

    /// What the file holds: backoffs and declaration digests by instance (both empty when there
    /// is no file), and whether they are exactly what it says (false when a value was brought
    /// into range: the file wants writing again); or nil and why, when it cannot be used.
    public static func read(_ state: StateDirectory, now: Date, limit: Double)
        -> (result: (backoffs: [String: Backoff], declarations: [String: String], exact: Bool)?, problem: String?) {
        let path = path(state)
        var info = stat()
        if lstat(path, &info) != 0 && errno == ENOENT { return (([:], [:], true), nil) }
        let bytes: [UInt8]
        do {
            bytes = try FileInput.read(atPath: path, limit: readLimit, noFollow: true)
        } catch {
            return (nil, "the reconcile backoffs \(path) cannot be read (\(error.reason)): instances are tried as if none had failed")
        }
        guard let document = try? JSONDecoder().decode(Document.self, from: Data(bytes)), document.version == version else {
            return (nil, "the reconcile backoffs \(path) are not a backoff file of this version: instances are tried as if none had failed; the next failure writes a new one")
        }
        var backoffs: [String: Backoff] = [:]
        var declarations: [String: String] = [:]
        var exact = true
        for (name, entry) in document.instances {
            let sound = sound(entry, now: now, limit: limit)
            if sound != entry { exact = false }
            backoffs[name] = Backoff(failures: sound.failures, until: Date(timeIntervalSince1970: sound.until), message: sound.message)
            declarations[name] = sound.declaration
        }
        return ((backoffs, declarations, exact), nil)
    }

    /// `entry` within bounds: a count of 1 to `failuresLimit`, a time no later than `limit`
    /// seconds from `now` (and a number), a message of at most `messageLimit` characters.
    static func sound(_ entry: Entry, now: Date, limit: Double) -> Entry {
        var e = entry
        e.failures = min(max(e.failures, 1), failuresLimit)
        let latest = now.timeIntervalSince1970 + max(0, limit)
        e.until = e.until.isFinite ? min(e.until, latest) : now.timeIntervalSince1970
        if let m = e.message, m.count > messageLimit { e.message = String(m.prefix(messageLimit)) + "…" }
        return e
    }

    /// Writes the backoffs, the whole file (the loop calls it only when they changed).
    /// - Throws: `SafeFile.Failure` when the file cannot be written.
    public static func write(_ backoffs: [String: Backoff], declarations: [String: String], state: StateDirectory) throws(SafeFile.Failure) {
        var document = Document(version: version, instances: [:])
        for (name, b) in backoffs {
            document.instances[name] = Entry(failures: b.failures, until: b.until.timeIntervalSince1970, message: b.message,
                                             declaration: declarations[name] ?? "")
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        guard var data = try? encoder.encode(document) else { return }
        data.append(0x0A)
        try SafeFile.write(data, to: path(state), permissions: SafeFile.privateMode)
    }
}
