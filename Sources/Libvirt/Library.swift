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
