import Foundation
import Testing
@testable import Libvirt

/// `raceDeadline`, under every call with a timeout (each connection opened, each host
/// observed): a call that ends in time must not leave anything behind until its deadline.
@Suite("Deadlines")
struct DeadlineTests {
    final class Token: Sendable {}

    @Test("a call that ends before its deadline releases the deadline's handler at once")
    func deadlineReleasedWhenTheCallEnds() async throws {
        weak var watched: Token?
        do {
            let token = Token()
            watched = token
            // The timeout handler holds the token; the deadline is far away.
            let value = try await raceDeadline(
                timeout: .seconds(600), timeoutError: { withExtendedLifetime(token) { CancellationError() } }
            ) { complete in
                complete(.success(7))
            }
            #expect(value == 7)
        }
        // Dispatch drops a cancelled timer's handler on its queue, soon after: wait a little.
        let clock = ContinuousClock()
        let giveUp = clock.now + .seconds(20)
        while watched != nil && clock.now < giveUp { try await Task.sleep(for: .milliseconds(10)) }
        #expect(watched == nil, "the timeout handler (and what it holds) is kept until the deadline")
    }

    @Test("the deadline still fires for a call that does not end")
    func deadlineFires() async throws {
        let never = DispatchSemaphore(value: 0)
        defer { never.signal() }
        await #expect {
            _ = try await raceDeadline(timeout: .milliseconds(50), timeoutError: { LibvirtError(code: .operationTimeout, message: "late") }) {
                (complete: @escaping @Sendable (Result<Int, any Error>) -> Void) in
                Thread { never.wait(); complete(.success(1)) }.start()
            }
        } throws: { error in
            (error as? LibvirtError)?.code == .operationTimeout
        }
    }
}
