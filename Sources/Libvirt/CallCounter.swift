import Foundation
import Synchronization

/// Counts the libvirt calls this process made that change something on a host: a domain's
/// definition, state, devices, metadata or autostart; a migration or its job; a volume created,
/// written or deleted. Reads (lookups, XML, state, stats, lists, pool refreshes) are not
/// counted.
///
/// It is a process-wide tally on purpose: it is the witness that an operation which should
/// change nothing (a converged `apply`) made no such call, whichever code path it took.
/// Nothing decides anything by it.
public enum MutatingCalls {
    private static let counts = Mutex<[String: Int]>([:])

    /// Notes one call of the C function `function`.
    static func record(_ function: StaticString) {
        let name = "\(function)"
        let total = counts.withLock { counts in
            counts[name, default: 0] += 1
            return counts.values.reduce(0, +)
        }
        #if DEBUG
        if let n = killBefore.withLock({ $0 }), total == n { _ = kill(getpid(), SIGKILL) }
        #else
        _ = total
        #endif
    }

    #if DEBUG
    /// Tests only (`VIRTPLACE_TEST_KILL_BEFORE_CALL=N`, debug builds only): the process kills
    /// itself (SIGKILL) just before its Nth mutating libvirt call (from 1), so that a test can
    /// stop it between any two changes on the hosts, inside a step too (a roll-back's define,
    /// undefine and start). Every mutating call comes here first (MutatingCallCoverageTests).
    public static let killBefore = Mutex<Int?>(nil)
    #endif

    /// Calls so far, in all.
    public static var total: Int {
        counts.withLock { $0.values.reduce(0, +) }
    }

    /// Calls so far, per C function name (`virDomainMigrate3` → 2).
    public static var byFunction: [String: Int] {
        counts.withLock { $0 }
    }
}
