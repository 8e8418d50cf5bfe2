import Engine
import Placement

/// The process exit codes of SPEC.md, and the one place that maps what a command ended with
/// (a pass's outcome, a reconcile pass, an error) to one of them.
public enum ExitCode: Int32, Sendable {
    /// Success; for `plan --detailed-exitcode`: no changes.
    case success = 0
    /// An error before anything changed (invalid input, usage, stale plan, lock held); for
    /// `observe`: no host answered.
    case failure = 1
    /// `plan --detailed-exitcode`: changes pending.
    case changesPending = 2
    /// `apply`/`reconcile` finished, but at least one action failed or was blocked.
    case partial = 3
    /// `apply` stopped by Ctrl-C (SIGINT) after the step in progress (128 + SIGINT).
    case interrupted = 130
    /// `apply` stopped by SIGTERM after the step in progress (128 + SIGTERM).
    case terminated = 143

    /// A pass that ran to its end: 0 when everything is done, 3 when something is not.
    init(_ outcome: PassOutcome) {
        switch outcome {
        case .success: self = .success
        case .incomplete: self = .partial
        }
    }

    /// A reconcile pass: its outcome, or its error's code.
    init(_ pass: ReconcilePassResult) {
        if let error = pass.error {
            self = MessageInfo(error).exitCode
        } else {
            self.init(pass.outcome ?? .incomplete)
        }
    }
}

/// What the user is told about an error, and the exit code: the one place errors map to both
/// (swift-argument-parser's `MessageInfo`). The message has no `error: ` prefix: the console
/// adds it, a log line does not.
struct MessageInfo {
    let message: String
    let exitCode: ExitCode

    init(_ error: any Error) {
        switch error {
        case let e as UsageError:
            (message, exitCode) = (Escape.terminal(e.message), .failure)
        case let e as ReportedFailure:
            (message, exitCode) = (e.summary, .failure)
        case let e as CLIError:
            (message, exitCode) = (e.message, .failure)
        case let e as PassError:
            // A stale plan after recovery had changed hosts: not "nothing changed".
            (message, exitCode) = (e.description, e.changedHosts ? .partial : .failure)
        default:
            (message, exitCode) = (Escape.terminal("\(error)"), .failure)
        }
    }
}
