import Engine
import Foundation
import Placement

/// Maps any error a command throws to the message the user sees and the exit code: the one
/// place that does this.
func describe(_ error: any Error) -> (String, ExitCode) {
    switch error {
    case let e as UsageError:
        return ("error: \(Escape.terminal(e.message))", .failure)
    case let e as ReportedFailure:
        return ("error: \(e.summary)", e.exitCode)
    case let e as CLIError:
        return ("error: \(e.message)", e.exitCode)
    case let e as EngineError:
        return ("error: \(Escape.terminal("\(e)"))", .failure)
    default:
        return ("error: \(Escape.terminal("\(error)"))", .failure)
    }
}

/// Errors the commands raise themselves.
struct CLIError: Error, Sendable {
    var message: String
    var exitCode: ExitCode = .failure
}
