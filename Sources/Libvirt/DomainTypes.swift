import CLibvirt

/// libvirt's domain state (`virDomainState`).
public enum DomainState: Int32, Sendable, CaseIterable {
    case noState = 0, running, blocked, paused, shutdown, shutoff, crashed, pmSuspended

    /// The lower-case name used in observations: `running`, `paused`, `shutoff`, …
    public var name: String {
        switch self {
        case .noState: "nostate"
        case .running: "running"
        case .blocked: "blocked"
        case .paused: "paused"
        case .shutdown: "shutdown"
        case .shutoff: "shutoff"
        case .crashed: "crashed"
        case .pmSuspended: "pmsuspended"
        }
    }
}

/// A domain's state and libvirt's reason code for it.
public struct DomainStatus: Equatable, Sendable {
    public var state: DomainState
    /// The reason code; its meaning depends on `state` (`virDomainRunningReason`, …).
    public var reason: Int32

    /// A state with libvirt's reason code for it.
    public init(state: DomainState, reason: Int32) { self.state = state; self.reason = reason }

    init(rawState: Int32, reason: Int32) {
        self.init(state: DomainState(rawValue: rawState) ?? .noState, reason: reason)
    }

    /// The reason as a lower-case name (`booted`, `migrated`, `destroyed`, …); nil when
    /// libvirt says "unknown" or uses a code newer than this table.
    public var reasonName: String? {
        let names: [UInt32: String]
        switch state {
        case .running:
            names = [
                VIR_DOMAIN_RUNNING_BOOTED.rawValue: "booted",
                VIR_DOMAIN_RUNNING_MIGRATED.rawValue: "migrated",
                VIR_DOMAIN_RUNNING_RESTORED.rawValue: "restored",
                VIR_DOMAIN_RUNNING_FROM_SNAPSHOT.rawValue: "from-snapshot",
                VIR_DOMAIN_RUNNING_UNPAUSED.rawValue: "unpaused",
                VIR_DOMAIN_RUNNING_MIGRATION_CANCELED.rawValue: "migration-canceled",
                VIR_DOMAIN_RUNNING_SAVE_CANCELED.rawValue: "save-canceled",
                VIR_DOMAIN_RUNNING_WAKEUP.rawValue: "wakeup",
                VIR_DOMAIN_RUNNING_CRASHED.rawValue: "crashed",
                VIR_DOMAIN_RUNNING_POSTCOPY.rawValue: "postcopy",
                VIR_DOMAIN_RUNNING_POSTCOPY_FAILED.rawValue: "postcopy-failed",
            ]
        case .paused:
            names = [
                VIR_DOMAIN_PAUSED_USER.rawValue: "user",
                VIR_DOMAIN_PAUSED_MIGRATION.rawValue: "migration",
                VIR_DOMAIN_PAUSED_SAVE.rawValue: "save",
                VIR_DOMAIN_PAUSED_DUMP.rawValue: "dump",
                VIR_DOMAIN_PAUSED_IOERROR.rawValue: "ioerror",
                VIR_DOMAIN_PAUSED_WATCHDOG.rawValue: "watchdog",
                VIR_DOMAIN_PAUSED_FROM_SNAPSHOT.rawValue: "from-snapshot",
                VIR_DOMAIN_PAUSED_SHUTTING_DOWN.rawValue: "shutting-down",
                VIR_DOMAIN_PAUSED_SNAPSHOT.rawValue: "snapshot",
                VIR_DOMAIN_PAUSED_CRASHED.rawValue: "crashed",
                VIR_DOMAIN_PAUSED_STARTING_UP.rawValue: "starting-up",
                VIR_DOMAIN_PAUSED_POSTCOPY.rawValue: "postcopy",
                VIR_DOMAIN_PAUSED_POSTCOPY_FAILED.rawValue: "postcopy-failed",
            ]
        case .shutdown:
            names = [VIR_DOMAIN_SHUTDOWN_USER.rawValue: "user"]
        case .shutoff:
            names = [
                VIR_DOMAIN_SHUTOFF_SHUTDOWN.rawValue: "shutdown",
                VIR_DOMAIN_SHUTOFF_DESTROYED.rawValue: "destroyed",
                VIR_DOMAIN_SHUTOFF_CRASHED.rawValue: "crashed",
                VIR_DOMAIN_SHUTOFF_MIGRATED.rawValue: "migrated",
                VIR_DOMAIN_SHUTOFF_SAVED.rawValue: "saved",
                VIR_DOMAIN_SHUTOFF_FAILED.rawValue: "failed",
                VIR_DOMAIN_SHUTOFF_FROM_SNAPSHOT.rawValue: "from-snapshot",
                VIR_DOMAIN_SHUTOFF_DAEMON.rawValue: "daemon",
            ]
        case .crashed:
            names = [VIR_DOMAIN_CRASHED_PANICKED.rawValue: "panicked"]
        case .noState, .blocked, .pmSuspended:
            names = [:]
        }
        return names[UInt32(bitPattern: reason)]
    }
}

/// A snapshot of `virDomainGetInfo`.
public struct DomainInfo: Equatable, Sendable {
    public var state: DomainState
    /// Maximum and current memory, KiB.
    public var maxMemoryKiB: UInt64
    public var memoryKiB: UInt64
    public var vcpus: Int
    /// CPU time used, nanoseconds.
    public var cpuTimeNanoseconds: UInt64
}

/// Filters for `Connection.listAllDomains` (`virConnectListAllDomainsFlags`); empty lists all.
public struct DomainListFilter: OptionSet, Sendable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    public static let active = Self(rawValue: 1 << 0)
    public static let inactive = Self(rawValue: 1 << 1)
    public static let persistent = Self(rawValue: 1 << 2)
    public static let transient = Self(rawValue: 1 << 3)
    public static let running = Self(rawValue: 1 << 4)
    public static let paused = Self(rawValue: 1 << 5)
    public static let shutoff = Self(rawValue: 1 << 6)
    public static let other = Self(rawValue: 1 << 7)
    public static let managedSave = Self(rawValue: 1 << 8)
    public static let noManagedSave = Self(rawValue: 1 << 9)
    public static let autostart = Self(rawValue: 1 << 10)
    public static let noAutostart = Self(rawValue: 1 << 11)
    public static let hasSnapshot = Self(rawValue: 1 << 12)
    public static let noSnapshot = Self(rawValue: 1 << 13)
}

/// Flags for `Domain.xml` (`virDomainXMLFlags`).
public struct DomainXMLFlags: OptionSet, Sendable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    /// Include security-sensitive data (VNC/SPICE passwords); needed to redefine elsewhere.
    public static let secure = Self(rawValue: 1 << 0)
    /// The persistent definition rather than the live one.
    public static let inactive = Self(rawValue: 1 << 1)
    public static let updateCPU = Self(rawValue: 1 << 2)
    /// Suitable for migration (drops defaults a destination might not understand).
    public static let migratable = Self(rawValue: 1 << 3)
}

/// Which definition a change affects (`virDomainModificationImpact`): empty means "current"
/// (live when running, else config).
public struct DomainModification: OptionSet, Sendable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    public static let live = Self(rawValue: 1 << 0)
    public static let config = Self(rawValue: 1 << 1)
}

/// Flags for `Domain.undefine(flags:)` (`virDomainUndefineFlagsValues`).
public struct UndefineFlags: OptionSet, Sendable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    /// Also remove a managed-save image (data loss: the saved RAM).
    public static let managedSave = Self(rawValue: 1 << 0)
    /// Also remove snapshot metadata (not the disk data).
    public static let snapshotsMetadata = Self(rawValue: 1 << 1)
    /// Also delete the NVRAM file (data loss).
    public static let nvram = Self(rawValue: 1 << 2)
    /// Keep the NVRAM file (required under QEMU for UEFI domains unless `.nvram`).
    public static let keepNVRAM = Self(rawValue: 1 << 3)
    public static let checkpointsMetadata = Self(rawValue: 1 << 4)
    /// Also delete the emulated TPM's state (data loss).
    public static let tpm = Self(rawValue: 1 << 5)
    /// Keep the emulated TPM's state.
    public static let keepTPM = Self(rawValue: 1 << 6)
}

/// Flags for `Domain.migrate` (`virDomainMigrateFlags`).
public struct MigrationFlags: OptionSet, Sendable, Hashable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    public static let live = Self(rawValue: 0x1)
    /// The source daemon connects to the destination itself (`virDomainMigrateToURI3`).
    public static let peerToPeer = Self(rawValue: 0x2)
    public static let tunnelled = Self(rawValue: 0x4)
    /// Define the domain persistently on the destination.
    public static let persistDestination = Self(rawValue: 0x8)
    /// Undefine the domain on the source once migrated.
    public static let undefineSource = Self(rawValue: 0x10)
    /// Leave the domain paused on the destination.
    public static let paused = Self(rawValue: 0x20)
    /// Copy all non-shared disks during the migration.
    public static let nonSharedDisk = Self(rawValue: 0x40)
    public static let nonSharedIncremental = Self(rawValue: 0x80)
    public static let changeProtection = Self(rawValue: 0x100)
    /// Skip libvirt's shared-storage and cache-mode safety checks.
    public static let unsafe = Self(rawValue: 0x200)
    /// Move only the definition; no running guest, no disks.
    public static let offline = Self(rawValue: 0x400)
    public static let compressed = Self(rawValue: 0x800)
    public static let abortOnError = Self(rawValue: 0x1000)
    public static let autoConverge = Self(rawValue: 0x2000)
    /// Allow switching to post-copy (`Domain.startPostCopy`).
    public static let postcopy = Self(rawValue: 0x8000)
    public static let tlsEncrypt = Self(rawValue: 0x10000)
    public static let parallel = Self(rawValue: 0x20000)
}

/// A CPU comparison's outcome (`virCPUCompareResult`).
public enum CPUComparison: Int32, Sendable {
    case incompatible = 0, identical = 1, superset = 2
}

/// Node facts from `virNodeGetInfo`.
public struct NodeInfo: Equatable, Sendable {
    public var model: String
    public var memoryKiB: UInt64
    /// Active CPUs.
    public var cpus: Int
    public var mhz: Int
    public var numaNodes: Int
    public var sockets: Int
    public var cores: Int
    public var threads: Int
}

/// Host facts from the capabilities XML.
public struct HostCapabilities: Equatable, Sendable {
    /// The host UUID (`host_uuid` in libvirtd.conf, else from SMBIOS), when reported.
    public var uuid: String?
    /// The host CPU model name (`<host><cpu><model>`), when reported.
    public var cpuModel: String?
    public var arch: String?
    /// The host CPU vendor (`<host><cpu><vendor>`), when reported.
    public var cpuVendor: String? = nil
    /// Whether the host runs `kvm` guests of its own architecture (else `qemu`: TCG).
    public var hasKVM: Bool = false
}
