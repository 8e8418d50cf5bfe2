import Foundation
import Placement

/// How a pass that ran to its end came out. The CLI maps it to an exit code in one place
/// (`ExitCode.init(_:)`); errors that stop a pass early are `PassError` (or the layers' own).
public enum PassOutcome: Equatable, Sendable {
    /// Every scheduled action done, or nothing to do (deferred moves are not failures), or a
    /// dry run.
    case success
    /// The pass ran to its end, but something is not as declared: an action failed or was
    /// blocked (in the plan, held, backing off, or at run time), an earlier run's unfinished
    /// action was not dealt with, or (reconcile) a host was unreachable or the metrics file
    /// could not be written.
    case incomplete
}

/// Why a pass stopped before it ran to its end. The message says what to do.
public enum PassError: Error, Sendable, CustomStringConvertible {
    /// A saved plan no longer holds: the hosts changed since it was made. `afterRecovery`: the
    /// pass had first dealt with an earlier run's unfinished actions, so hosts may have changed.
    case stalePlan(changes: [String], afterRecovery: Bool)
    /// Lines of the journal that cannot be read: such a line may be the record of a move left
    /// half done, so nothing runs until an operator has looked at it.
    case unreadableJournal(path: String, lines: [Journal.UnreadableLine])
    /// The operator did not confirm (nothing was changed).
    case declined(String)

    /// Whether hosts may have changed before the pass stopped (then it is not "nothing was
    /// changed": the exit code says so).
    public var changedHosts: Bool {
        if case .stalePlan(_, true) = self { return true }
        return false
    }

    public var description: String {
        switch self {
        case let .stalePlan(changes, afterRecovery):
            let list = changes.map { "  - \(Escape.terminal($0))" }.joined(separator: "\n")
            return "the plan is stale: the hosts changed since it was made; nothing was changed. Plan again.\n\(list)"
                + (afterRecovery ? "\n(the earlier run's unfinished actions above were dealt with first)" : "")
        case let .unreadableJournal(path, lines):
            let shown = lines.prefix(5).map { "  line \($0.line): \($0.reason): \($0.excerpt)" }.joined(separator: "\n")
            let more = lines.count > 5 ? "\n  … and \(lines.count - 5) more" : ""
            return """
                the journal '\(path)' has \(lines.count) line\(lines.count == 1 ? "" : "s") that cannot be read:
                \(shown)\(more)
                Such a line may be the record of a move left half done, so nothing was changed. Look at the line (the instance \
                it names), check that instance on every host (virsh list --all), then repair the line or delete it, and run again \
                (docs/recovery.md).
                """
        case let .declined(message):
            return message
        }
    }
}
