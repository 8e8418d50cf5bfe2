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
                // work holds every thread of the cooperative pool. The race cancels it when it
                // ends, so that it does not hold its handler (and the race) until the deadline:
                // with `asyncAfter`, every call kept some 600 bytes for the whole timeout (2
                // minutes for an observation), which a reconcile loop saw as growth
                // (`bench/soak`).
                let timer = DispatchSource.makeTimerSource(queue: .global())
                timer.schedule(deadline: .now() + timeout.timeInterval)
                timer.setEventHandler { [weak race] in race?.finish(.failure(timeoutError())) }
                race.install(timer)
                timer.resume()
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
        /// The deadline's timer, cancelled when the race ends.
        var timer: DeadlineTimer?
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

    /// Keeps the deadline's timer to cancel it when the race ends (at once if it has ended).
    func install(_ timer: any DispatchSourceTimer) {
        let over: Bool = state.withLock { state in
            if !state.finished { state.timer = DeadlineTimer(source: timer) }
            return state.finished
        }
        if over { timer.cancel() }
    }

    func finish(_ result: Result<T, any Error>) {
        let (continuation, timer): (CheckedContinuation<T, any Error>?, DeadlineTimer?) = state.withLock { state in
            guard !state.finished else { return (nil, nil) }
            state.finished = true
            defer { state.continuation = nil; state.timer = nil }
            if state.continuation == nil { state.early = result }
            return (state.continuation, state.timer)
        }
        timer?.source.cancel()
        continuation?.resume(with: result)
    }
}

/// A race's deadline timer. `@unchecked Sendable`: a dispatch source may be cancelled from any
/// thread (dispatch objects are thread-safe); nothing else is done with it once stored.
private struct DeadlineTimer: @unchecked Sendable {
    let source: any DispatchSourceTimer
}

extension Duration {
    /// The duration in seconds, for dispatch deadlines.
    var timeInterval: TimeInterval {
        let (seconds, attoseconds) = components
        return TimeInterval(seconds) + TimeInterval(attoseconds) / 1e18
    }
}
