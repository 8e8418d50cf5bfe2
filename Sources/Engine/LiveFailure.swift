/// Why a live migration failed, as far as the kind of the host's error (`HostFailure`, which
/// `LibvirtFleet` maps from libvirt's code and domain) and what the watchdog did tell. Decides whether a fallback to a reboot move can help: only for causes a
/// reboot move does not meet again (STYLE.md rule 4: by code, never by the message text).
public enum LiveFailureCause: Equatable, Sendable {
    /// The watchdog aborted the job after `live.timeoutSeconds`: the guest dirtied memory
    /// faster than it could be sent (no convergence), or the link was too slow.
    case timeout
    /// The convergence controller aborted the job: it stalled with every rung of the
    /// instance's ladder taken (the largest downtime, auto-converge when allowed), and
    /// post-copy not allowed.
    case noConvergence
    /// libvirt refused something only live migration needs: storage it cannot prove shared
    /// (`VIR_ERR_MIGRATE_UNSAFE`), a feature or flag live migration does not support
    /// (`VIR_ERR_OPERATION_UNSUPPORTED`, `VIR_ERR_ARGUMENT_UNSUPPORTED`), QEMU's own timeout
    /// (`VIR_ERR_OPERATION_TIMEOUT`).
    case liveOnly
    /// The target cannot run the guest's CPU (`VIR_ERR_CPU_INCOMPATIBLE`).
    case cpuIncompatible
    /// The target lacks a network the guest uses (`VIR_ERR_NO_NETWORK`).
    case networkMissing
    /// The target lacks a pool or volume the guest's disks use (`VIR_ERR_NO_STORAGE_POOL`,
    /// `VIR_ERR_NO_STORAGE_VOL`).
    case storageMissing
    /// The target cannot provide what the definition asks for (machine type, emulator,
    /// device model: `VIR_ERR_CONFIG_UNSUPPORTED`).
    case targetUnsupported
    /// The target stopped answering, or could not be reached (connection, RPC, auth errors;
    /// the watchdog saw its connection go).
    case targetUnreachable
    /// Someone else cancelled the job (`VIR_ERR_OPERATION_ABORTED` without our timeout).
    case cancelled
    /// Anything else, e.g. QEMU failing on the target (`VIR_ERR_OPERATION_FAILED`,
    /// `VIR_ERR_INTERNAL_ERROR`, a system error). A full target disk has no code of its own
    /// (only `errno` text inside a system error), so it lands here too.
    case unknown

    /// Whether a reboot move avoids the cause: it moves the definition and copies storage
    /// with the guest shut down, so it needs no convergence and none of live migration's own
    /// features — but it needs the same CPU, networks, storage and target as the live move,
    /// and a cause not understood is not bet on (the guest keeps running on its source).
    public var rebootAvoids: Bool {
        switch self {
        case .timeout, .noConvergence, .liveOnly: true
        case .cpuIncompatible, .networkMissing, .storageMissing, .targetUnsupported, .targetUnreachable, .cancelled, .unknown: false
        }
    }

    /// A few words for reports.
    public var summary: String {
        switch self {
        case .timeout: "it did not converge in time"
        case .noConvergence: "it did not converge (stalled at the largest downtime, every rung of its ladder taken)"
        case .liveOnly: "a limitation of live migration only"
        case .cpuIncompatible: "the target cannot run the guest's CPU"
        case .networkMissing: "the target lacks a network the guest uses"
        case .storageMissing: "the target lacks storage the guest uses"
        case .targetUnsupported: "the target cannot provide what the definition asks for"
        case .targetUnreachable: "the target stopped answering"
        case .cancelled: "the job was cancelled by someone else"
        case .unknown: "a cause a reboot move is not known to avoid"
        }
    }

    /// Classifies a failed migration call.
    /// - Parameters:
    ///   - error: what the migration call threw.
    ///   - timedOut: the watchdog aborted the job (or switched it to post-copy) at the timeout.
    ///   - lostDestination: the watchdog saw the destination's connection go.
    ///   - stalled: the convergence controller aborted the job at a stall, its ladder done.
    public static func classify(_ error: any Error, timedOut: Bool, lostDestination: Bool, stalled: Bool = false) -> LiveFailureCause {
        if lostDestination { return .targetUnreachable }
        let ours: LiveFailureCause? = timedOut ? .timeout : stalled ? .noConvergence : nil
        guard case let .failed(kind, _)? = error as? DriverError else { return ours ?? .unknown }
        switch kind {
        case .aborted: return ours ?? .cancelled
        case .timedOut, .liveUnsupported: return .liveOnly
        case .cpuIncompatible: return .cpuIncompatible
        case .noNetwork: return .networkMissing
        case .noStorage: return .storageMissing
        case .configUnsupported: return .targetUnsupported
        case .connection: return .targetUnreachable
        case .badDefinition, .other: return ours ?? .unknown
        }
    }
}
