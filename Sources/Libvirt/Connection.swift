import CLibvirt
import Foundation
import Placement

/// An open connection to one libvirt daemon (or the in-process test driver).
///
/// `@unchecked Sendable`: the only state is the immutable `virConnectPtr`, the redacted URI and
/// a queue; libvirt documents a connection as usable from several threads at once (it locks
/// internally and counts references). The daemon serves at most 5 calls per connection at
/// once, which `run` (serial) and `runDedicated` (one thread per long call) respect in practice.
///
/// The synchronous methods block the calling thread: from async code call them inside
/// `run { connection in … }`, which runs them on this connection's serial queue, or
/// `runDedicated` for calls that block for minutes (migration, volume transfer), so that
/// job-stats polling on `run` is not stuck behind them.
public final class Connection: @unchecked Sendable {
    let handle: OpaquePointer
    /// The URI this connection was opened with, without its query (see `HostURI.redacted`).
    public let uri: String
    private let queue: DispatchQueue

    /// Opens a connection (blocking); on remote URIs, sends keepalives every 5 s and drops the
    /// connection after 3 unanswered ones. With `prompts: .refuse` (the default) no credential
    /// prompt is answered and OpenSSH runs in batch mode (`LibvirtURI.unattended`); with
    /// `.terminal`, libvirt's default callbacks answer on the terminal (only `apply` on one).
    ///
    /// The URI must pass `HostURI`'s allow-list first, whatever it came from (a placement file
    /// validated it already; a saved plan or snapshot may not have): no URI reaches libvirt that
    /// could make it run a program, open a local file or start an embedded driver.
    /// `allowTestDriver` admits `test://` URIs (only the tests set it).
    /// - Throws: `LibvirtError` (`.invalidArg` for a URI the allow-list refuses, `.systemError`
    ///   for a refused or unreachable host, `.authFailed` — also for a refused prompt, saying
    ///   what was asked —, `.noConnect`, …). Its message shows the URI redacted: libvirt's own
    ///   messages about a URI are replaced when they quote it.
    public init(uri: String, allowTestDriver: Bool = false, prompts: CredentialPrompts = .refuse) throws {
        if let problem = HostURI.problem(uri, allowTestDriver: allowTestDriver) {
            throw LibvirtError(code: .invalidArg, message: problem)
        }
        LibvirtLibrary.ensureInitialized()
        let opened: OpaquePointer?
        let openedURI: String
        var prompted: [Int32] = []
        switch prompts {
        case .terminal:
            openedURI = uri
            opened = virConnectOpenAuth(uri, defaultAuth(), 0)
        case .refuse:
            openedURI = LibvirtURI.unattended(uri)
            (opened, prompted) = openRefusingPrompts(openedURI)
        }
        guard let handle = opened else {
            let error = LibvirtError.last().redacting(uri: openedURI)
            if prompted.isEmpty { throw error }
            throw LibvirtError(
                code: .authFailed, domain: error.domain,
                message: "\(HostURI.redacted(uri)) asked for \(promptKinds(prompted)), and this run answers no prompts "
                    + "(only apply on a terminal does): use a TLS client certificate, an SSH key without a passphrase "
                    + "or an ssh-agent, and a known host key (docs/operations.md, \"Secure connections\"); libvirt said: \(error.message)")
        }
        self.handle = handle
        self.uri = HostURI.redacted(uri)
        self.queue = DispatchQueue(label: "virtplace.libvirt.\(self.uri)")
        if LibvirtURI.isRemote(uri), virConnectSetKeepAlive(handle, 5, 3) < 0 {
            // Keepalive is a safeguard, not a requirement: a daemon without it still works.
            virResetLastError()
        }
    }

    /// Opens a connection on a thread of its own, giving up after `timeout`.
    /// - Throws: `LibvirtError` from libvirt, or `.operationTimeout` when the daemon did not
    ///   answer in time (a host whose packets are dropped can take minutes to refuse).
    public static func open(
        uri: String, allowTestDriver: Bool = false, prompts: CredentialPrompts = .refuse, timeout: Duration? = nil
    ) async throws -> Connection {
        let redacted = HostURI.redacted(uri)
        return try await runOnDedicatedThread(
            name: "libvirt-open",
            timeout: timeout,
            timeoutError: {
                LibvirtError(code: .operationTimeout, message: "no answer from \(redacted) within \(timeout ?? .zero)")
            },
            { try Connection(uri: uri, allowTestDriver: allowTestDriver, prompts: prompts) }
        )
    }

    deinit {
        virConnectClose(handle)
    }

    /// Runs `body` on this connection's serial queue, off the cooperative thread pool.
    /// - Throws: whatever `body` throws.
    public func run<T: Sendable>(_ body: @escaping @Sendable (Connection) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            queue.async { continuation.resume(with: Result { try body(self) }) }
        }
    }

    /// Runs `body` on this connection's serial queue, but stops waiting after `timeout`
    /// (the call itself cannot be interrupted; its late result is dropped) or on cancellation.
    /// - Throws: whatever `body` throws, `LibvirtError` `.operationTimeout`, or
    ///   `CancellationError`.
    public func run<T: Sendable>(
        timeout: Duration, _ body: @escaping @Sendable (Connection) throws -> T
    ) async throws -> T {
        let uri = self.uri
        return try await raceDeadline(timeout: timeout, timeoutError: {
            LibvirtError(code: .operationTimeout, message: "no answer from \(uri) within \(timeout)")
        }) { complete in
            queue.async { complete(Result { try body(self) }) }
        }
    }

    /// Runs `body` on a new thread of its own: for calls that block for minutes (migration,
    /// volume transfer) while other calls go on through `run`.
    /// - Throws: whatever `body` throws.
    public func runDedicated<T: Sendable>(_ body: @escaping @Sendable (Connection) throws -> T) async throws -> T {
        try await runOnDedicatedThread(name: "libvirt-long-call") { try body(self) }
    }

    /// Whether the connection still works (no RPC: libvirt's own view, updated by keepalive).
    public var isAlive: Bool { virConnectIsAlive(handle) == 1 }

    /// The driver's name, e.g. `QEMU` or `TEST`.
    /// - Throws: `LibvirtError`.
    public func hypervisorType() throws -> String {
        // The returned string is static inside libvirt: not freed.
        String(cString: try check(virConnectGetType(handle)))
    }

    /// The daemon's libvirt version (`virConnectGetLibVersion`), `9.0.0`.
    /// - Throws: `LibvirtError`.
    public func libraryVersion() throws -> String {
        var v: UInt = 0
        try check(virConnectGetLibVersion(handle, &v))
        return versionText(v)
    }

    /// The hypervisor's version (`virConnectGetVersion`; QEMU's for the QEMU driver), `7.2.0`.
    /// - Throws: `LibvirtError`.
    public func hypervisorVersion() throws -> String {
        var v: UInt = 0
        try check(virConnectGetVersion(handle, &v))
        return versionText(v)
    }

    /// The host name the daemon reports.
    /// - Throws: `LibvirtError`.
    public func hostname() throws -> String {
        try takeString(virConnectGetHostname(handle))
    }
}

/// libvirt's version number (`major * 1,000,000 + minor * 1,000 + micro`) as `major.minor.micro`.
func versionText(_ v: UInt) -> String {
    "\(v / 1_000_000).\((v / 1_000) % 1_000).\(v % 1_000)"
}
