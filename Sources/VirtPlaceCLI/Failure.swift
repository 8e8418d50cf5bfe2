/// Errors the commands raise themselves: nothing was changed (exit 1). The message is ready
/// for the terminal (values in it escaped).
struct CLIError: Error, Sendable {
    let message: String
}

/// A failure whose details were already printed: only the summary remains to say (exit 1).
struct ReportedFailure: Error, Sendable {
    let summary: String
}
