import Foundation

/// The state directory: journal, lock and saved domain definitions.
public struct StateDirectory: Sendable {
    public let path: String

    public init(path: String) { self.path = path }

    public var lockPath: String { path + "/lock" }
    public var journalPath: String { path + "/journal.jsonl" }
    /// Saved domain definitions and records of manual moves, by domain UUID.
    public var recordsPath: String { path + "/records" }

    /// The volumes the journal says virtplace created for copies (`host/pool/volume`), for
    /// the planner (`makePlan(ownVolumes:)`): a leftover of a failed copy is reused, not a
    /// blocker. Empty when there is no journal (a plan preview without a state directory).
    public func ownVolumes() -> Set<String> {
        Set(Journal.createdVolumes(Journal.read(path: journalPath)).keys)
    }

    /// Creates the directory (and `records/`) with mode 0700 when missing.
    /// - Throws: `EngineError.stateDirectory` when it cannot be created or written.
    public func prepare() throws(EngineError) {
        for dir in [path, recordsPath] {
            do {
                try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true,
                                                        attributes: [.posixPermissions: 0o700])
            } catch {
                throw .stateDirectory(path: dir, reason: error.localizedDescription)
            }
        }
        guard access(path, W_OK) == 0 else {
            throw .stateDirectory(path: path, reason: String(cString: strerror(errno)))
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
