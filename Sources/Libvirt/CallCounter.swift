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
        counts.withLock { $0[name, default: 0] += 1 }
    }

    /// Calls so far, in all.
    public static var total: Int {
        counts.withLock { $0.values.reduce(0, +) }
    }

    /// Calls so far, per C function name (`virDomainMigrate3` → 2).
    public static var byFunction: [String: Int] {
        counts.withLock { $0 }
    }
}
