/// The process exit codes of SPEC.md, in one place.
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
}
