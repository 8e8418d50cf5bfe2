import CLibvirt
import Foundation

/// Process-wide libvirt set-up, done once before the first connection: library init, error
/// printing silenced, and libvirt's default event loop running on a thread of its own (without
/// it, keepalive, close callbacks and domain events do nothing on remote connections).
enum LibvirtLibrary {
    /// Runs the set-up on first use; Swift initialises a static `let` exactly once, thread-safely.
    static func ensureInitialized() {
        _ = initialized
    }

    private static let initialized: Bool = {
        guard virInitialize() == 0 else { return false }
        // libvirt prints every error to stderr unless a handler is installed; NULL would restore
        // printing, so install one that does nothing. Errors are read with virGetLastError.
        virSetErrorFunc(nil) { _, _ in }
        guard virEventRegisterDefaultImpl() == 0 else { return false }
        let loop = Thread {
            while true {
                // Returns after each dispatched event (or error); loop forever.
                _ = virEventRunDefaultImpl()
            }
        }
        loop.name = "libvirt-event-loop"
        loop.start()
        return true
    }()
}

/// The process's heap, as a long-running reconcile needs it kept.
public enum ProcessMemory {
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
}
