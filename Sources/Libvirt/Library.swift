import CLibvirt
import Foundation
import Synchronization

/// Process-wide libvirt set-up, done once before the first connection: library init, error
/// printing silenced, and, unless the process asked otherwise first, libvirt's default event
/// loop running on a thread of its own (without it, keepalive, close callbacks and domain
/// events do nothing on remote connections).
public enum LibvirtLibrary {
    /// nil until set up; then whether the event loop runs.
    private static let state = Mutex<Bool?>(nil)

    /// Sets libvirt up for a process that only makes short calls and then exits (`observe`,
    /// `plan`): no event loop. With one, every call wakes the loop thread (the client detaches
    /// its socket from the loop and re-attaches it, and each reply re-arms the keepalive
    /// timer): some 6,000 wake-ups and a fifth of the process's CPU for 1,000 domains
    /// (`bench/observe`). Without it a host that dies in the middle of a call is noticed by the
    /// caller's own deadline (`Observer.observeTimeout`) rather than by keepalive.
    ///
    /// Only the first set-up counts: after a connection was opened it changes nothing.
    /// Returns whether the event loop runs.
    @discardableResult
    public static func initializeWithoutEventLoop() -> Bool {
        initialize(eventLoop: false)
    }

    /// Runs the set-up on first use (with the event loop); later calls return at once.
    static func ensureInitialized() {
        initialize(eventLoop: true)
    }

    @discardableResult
    private static func initialize(eventLoop: Bool) -> Bool {
        state.withLock { state in
            if let running = state { return running }
            state = false
            guard virInitialize() == 0 else { return false }
            // libvirt prints every error to stderr unless a handler is installed; NULL would
            // restore printing, so install one that does nothing. Errors are read with
            // virGetLastError.
            virSetErrorFunc(nil) { _, _ in }
            guard eventLoop, virEventRegisterDefaultImpl() == 0 else { return false }
            let loop = Thread {
                while true {
                    // Returns after each dispatched event (or error); loop forever.
                    _ = virEventRunDefaultImpl()
                }
            }
            loop.name = "libvirt-event-loop"
            loop.start()
            state = true
            return true
        }
    }
}

/// The process's heap, as a long-running reconcile needs it kept.
public enum ProcessMemory {
    /// The glibc tunable that turns off malloc's per-thread caches.
    static let threadCachesOff = "glibc.malloc.tcache_count=0"

    /// Starts the program again (same process id, arguments, descriptors and environment) with
    /// glibc's per-thread malloc caches off (`GLIBC_TUNABLES=glibc.malloc.tcache_count=0`),
    /// unless `GLIBC_TUNABLES` already sets `tcache_count` (the restarted process, or an
    /// operator's own choice); if `execv` fails, returns and the process goes on with them.
    /// Only `reconcile --interval` calls it, before it has opened anything: glibc reads its
    /// tunables once, at start-up, and `mallopt` has no setting for these caches.
    ///
    /// Each thread keeps up to 7 freed chunks of each of 64 sizes (up to 1 KiB) for itself,
    /// some 240 KiB at most, which its arena counts as in use: `malloc_trim` cannot give back
    /// the pages they sit on, and other threads cannot reuse them. A reconcile pass allocates on
    /// a dozen long-lived threads (libdispatch's workers, the cooperative pool), whose caches
    /// fill slowly with the sizes a pass happens to free, and RSS followed: with the caches,
    /// `bench/soak test` grew 0.8–1.4 MiB in 250 passes after warm-up, the heap in use
    /// (`mallinfo2`, between passes) by about 650 KB; without them 0.4 MiB and 80 KB, the
    /// same binary. A reconcile pass is not bound by malloc's speed.
    public static func restartWithoutThreadCaches() {
        #if os(Linux)
        let name = "GLIBC_TUNABLES"
        let current = getenv(name).map { String(cString: $0) }
        if let current, current.contains("glibc.malloc.tcache_count") { return }
        let value = current.map { $0.isEmpty ? threadCachesOff : $0 + ":" + threadCachesOff } ?? threadCachesOff
        guard setenv(name, value, 1) == 0 else { return }
        execv("/proc/self/exe", CommandLine.unsafeArgv)
        // Not restarted (no /proc, say): as it was.
        if let current { setenv(name, current, 1) } else { unsetenv(name) }
        #endif
    }

    /// Gives the memory the process has freed back to the kernel: glibc's `malloc_trim(0)`,
    /// which releases free pages inside every malloc arena, not only at the top of the heap.
    ///
    /// `reconcile --interval` calls it after each pass. A pass allocates on many threads
    /// (each host's queue, connection threads, the cooperative pool), glibc gives threads
    /// arenas of their own (up to 8 per core), and what a pass freed stayed resident in them:
    /// at 500 test-driver hosts RSS rose by about 1 MB a pass (168 to 216 MiB in 40 passes;
    /// flat at 152 MiB with `MALLOC_ARENA_MAX=1`). It takes a few milliseconds.
    public static func releaseFreed() {
        #if os(Linux)
        _ = malloc_trim(0)
        #endif
    }

    /// Keeps glibc to one malloc arena per core, at most 8, for the threads started from now
    /// on (`mallopt M_ARENA_MAX`; glibc's default is 8 per core). `VirtPlace.main` calls it
    /// first. virtplace's threads mostly wait on libvirt: every blocking call runs on a thread
    /// of its own, so an observation or a pass starts dozens, and with an arena each what they
    /// allocate is spread over fresh memory (page faults) and what they leave behind is
    /// scattered where `malloc_trim` cannot hand it back. Threads beyond the cores cannot run
    /// at once anyway. On 2 cores, the same binary: `bench/soak test 500` grew 2.29 MiB after
    /// warm-up with glibc's default and 0.79 MiB with two arenas; `observe -o json` of 1,000
    /// domains took 3,391 page faults and 89 ms of CPU with the default, 2,905 and 83 ms.
    public static func limitArenasToCores() {
        #if os(Linux)
        _ = mallopt(M_ARENA_MAX, Int32(min(max(ProcessInfo.processInfo.activeProcessorCount, 1), 8)))
        #endif
    }
}
