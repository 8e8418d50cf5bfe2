import Foundation
import Synchronization

// Blocking libvirt calls run on threads of their own, never on Swift's cooperative pool: a
// migration call holds its thread for minutes, and a few of those would starve every task.

/// Runs `body` on a new thread and returns its result.
func runOnDedicatedThread<T: Sendable>(
    name: String, _ body: @escaping @Sendable () throws -> T
) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        let thread = Thread { continuation.resume(with: Result { try body() }) }
        thread.name = name
        thread.start()
    }
}

/// Runs a blocking `body` on a new thread, but stops waiting after `timeout` (throwing
/// `timeoutError()`) or when the task is cancelled (throwing `CancellationError`). A blocking
/// C call cannot be interrupted: the thread runs to its end and its late result is dropped
/// (a late `Connection` is closed when released).
func runOnDedicatedThread<T: Sendable>(
    name: String,
    timeout: Duration?,
    timeoutError: @escaping @Sendable () -> any Error,
    _ body: @escaping @Sendable () throws -> T
) async throws -> T {
    try await raceDeadline(timeout: timeout, timeoutError: timeoutError) { complete in
        let thread = Thread { complete(Result { try body() }) }
        thread.name = name
        thread.start()
    }
}

/// Starts work that reports through `complete` exactly once, and returns its result, or
/// throws `timeoutError()` after `timeout`, or `CancellationError` when the task is cancelled,
/// whichever comes first. Later outcomes are dropped.
func raceDeadline<T: Sendable>(
    timeout: Duration?,
    timeoutError: @escaping @Sendable () -> any Error,
    start: (_ complete: @escaping @Sendable (Result<T, any Error>) -> Void) -> Void
) async throws -> T {
    let race = Race<T>()
    return try await withTaskCancellationHandler {
        try await withCheckedThrowingContinuation { continuation in
            race.install(continuation)
            if let timeout {
                // A dispatch timer, not a sleeping task: it fires on time even when blocking
                // work holds every thread of the cooperative pool. When the race is over by
                // then, its outcome is dropped like any late one.
                DispatchQueue.global().asyncAfter(deadline: .now() + timeout.timeInterval) {
                    race.finish(.failure(timeoutError()))
                }
            }
            start { race.finish($0) }
        }
    } onCancel: {
        race.finish(.failure(CancellationError()))
    }
}

/// The first of several outcomes (result, timeout, cancellation) wins; the others are dropped.
private final class Race<T: Sendable>: Sendable {
    private struct State {
        var continuation: CheckedContinuation<T, any Error>?
        var early: Result<T, any Error>?
        var finished = false
    }
    private let state = Mutex(State())

    func install(_ continuation: CheckedContinuation<T, any Error>) {
        let early: Result<T, any Error>? = state.withLock { state in
            if let early = state.early {
                state.early = nil
                return early
            }
            state.continuation = continuation
            return nil
        }
        if let early { continuation.resume(with: early) }
    }

    func finish(_ result: Result<T, any Error>) {
        let continuation: CheckedContinuation<T, any Error>? = state.withLock { state in
            guard !state.finished else { return nil }
            state.finished = true
            defer { state.continuation = nil }
            if state.continuation == nil { state.early = result }
            return state.continuation
        }
        continuation?.resume(with: result)
    }
}

extension Duration {
    /// The duration in seconds, for dispatch deadlines.
    var timeInterval: TimeInterval {
        let (seconds, attoseconds) = components
        return TimeInterval(seconds) + TimeInterval(attoseconds) / 1e18
    }
}
