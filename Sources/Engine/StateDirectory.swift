import Foundation

/// The state directory: journal, lock and saved domain definitions. What is in it decides
/// what apply does to guests, so no other user may be able to change it: it must be a real
/// directory (not a symlink), owned by the user running virtplace, and not writable by group
/// or others; `prepare` refuses anything else. See docs/security.md.
public struct StateDirectory: Sendable {
    public let path: String

    public init(path: String) { self.path = path }

    public var lockPath: String { path + "/lock" }
    public var journalPath: String { path + "/journal.jsonl" }
    /// Saved domain definitions and records of manual moves, by domain UUID.
    public var recordsPath: String { path + "/records" }

    /// The volumes the journal says virtplace created for copies (`host/pool/volume`), for
    /// the planner (`makePlan(ownVolumes:)`) of a run that reads the journal for nothing else
    /// (`plan`): a leftover of a failed copy is reused, not a blocker. Empty when there is no
    /// journal (a plan preview without a state directory) or it cannot be read. A run that
    /// recovers takes them from its one `Journal.load` instead.
    public func ownVolumes() -> Set<String> {
        (try? Journal.load(path: journalPath))?.ownVolumes ?? []
    }

    /// Creates the directory (its missing parents too) and `records/` with mode 0700 when
    /// missing, and checks both (see the type).
    /// - Throws: `EngineError.stateDirectory` when one cannot be created, is not a directory,
    ///   is a symlink, belongs to another user, or is writable by group or others.
    public func prepare() throws(EngineError) {
        try Self.ensure(path, parents: true)
        try Self.ensure(recordsPath, parents: false)
        guard access(path, W_OK) == 0 else {
            throw .stateDirectory(path: path, reason: String(cString: strerror(errno)))
        }
    }

    /// Checks the directory when it exists, creating nothing (a dry run reads the journal).
    /// - Throws: `EngineError.stateDirectory` as `prepare` does.
    public func checkIfPresent() throws(EngineError) {
        var info = stat()
        guard lstat(path, &info) == 0 else { return }
        try Self.check(path, info)
    }

    private static func ensure(_ dir: String, parents: Bool) throws(EngineError) {
        var info = stat()
        if lstat(dir, &info) != 0 {
            guard errno == ENOENT else { throw .stateDirectory(path: dir, reason: String(cString: strerror(errno))) }
            if parents {
                let parent = (dir as NSString).deletingLastPathComponent
                if !parent.isEmpty {
                    do {
                        try FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: true,
                                                                attributes: [.posixPermissions: 0o700])
                    } catch {
                        throw .stateDirectory(path: dir, reason: error.localizedDescription)
                    }
                }
            }
            if mkdir(dir, 0o700) != 0 && errno != EEXIST {
                throw .stateDirectory(path: dir, reason: String(cString: strerror(errno)))
            }
            guard lstat(dir, &info) == 0 else { throw .stateDirectory(path: dir, reason: String(cString: strerror(errno))) }
        }
        try check(dir, info)
    }

    private static func check(_ dir: String, _ info: stat) throws(EngineError) {
        let type = info.st_mode & S_IFMT
        guard type != S_IFLNK else {
            throw .stateDirectory(path: dir, reason: "it is a symbolic link: give the real directory (virtplace does not follow links here)")
        }
        guard type == S_IFDIR else { throw .stateDirectory(path: dir, reason: "it is not a directory") }
        guard info.st_uid == geteuid() else {
            throw .stateDirectory(path: dir, reason: "it belongs to uid \(info.st_uid), not to the user running virtplace (uid \(geteuid())): another user could change what apply does")
        }
        guard info.st_mode & 0o022 == 0 else {
            throw .stateDirectory(path: dir, reason: "it is writable by \(info.st_mode & 0o020 != 0 ? "its group" : "others") (mode \(String(info.st_mode & 0o7777, radix: 8))): make it private with 'chmod 700 \(dir)'")
        }
    }
}

/// Errors of the engine layer.
public enum EngineError: Error, Equatable, Sendable, CustomStringConvertible {
    case stateDirectory(path: String, reason: String)
    case locked(pid: Int32, since: String, host: String)
    case lockFailed(path: String, reason: String)
    case journal(path: String, reason: String)
    case metrics(path: String, reason: String)

    public var description: String {
        switch self {
        case let .stateDirectory(path, reason):
            "cannot use the state directory '\(path)': \(reason) (set --state-dir or VIRTPLACE_STATE_DIR)"
        case let .locked(pid, since, host):
            "locked by PID \(pid) on \(host) since \(since): another apply or reconcile is running (it holds the lock until it ends)"
        case let .lockFailed(path, reason):
            "cannot take the lock '\(path)': \(reason)"
        case let .journal(path, reason):
            "cannot write the journal '\(path)': \(reason)"
        case let .metrics(path, reason):
            "cannot write the metrics file '\(path)': \(reason)"
        }
    }
}
