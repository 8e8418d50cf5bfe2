import Placement

/// The effects the executor has on hosts, in the Engine's own values, grouped by what they
/// touch: observation, domain lifecycle, definitions, volumes, live migration. `LibvirtFleet`
/// is the real driver (libvirt's C API, one connection per host) and the only Engine file that
/// maps to and from libvirt's types; unit tests use an in-memory fleet (`TestSupport`).
/// Hosts are named as in the placement file; domains by UUID, never by name alone, so that a
/// domain is recognised wherever a move left it.
///
/// Every call may throw `DriverError`: `.unreachable` when the host cannot be reached,
/// `.failed` with what the host reported (its kind decides, never its text), or one of the
/// driver's own cases. A new call goes into the group it belongs to, in Engine or Placement
/// types (docs/architecture.md).
public protocol FleetDriver: FleetObserving, DomainLifecycle, DomainDefinitions, VolumeStorage, LiveMigrating {}

/// Reading hosts: connections, whole-fleet observation, one domain or volume re-read now.
public protocol FleetObserving: Sendable {
    /// Makes sure the host can be used (opens its connection once; later calls reuse it).
    func connect(_ host: String) async throws
    /// Whether the host's connection is still up, without reconnecting (a live migration's
    /// watchdog aborts the job when the destination goes away).
    func isAlive(_ host: String) async -> Bool
    /// Every host of the fleet, observed in parallel; a host that cannot be reached or read
    /// comes back `reachable: false` with the reason. `refreshingPools` re-scans pools first.
    func observe(refreshingPools: Bool) async -> ObservedFleet
    /// What the host has for the domain with this UUID, re-read now; nil when the host does not
    /// define it.
    func domain(uuid: String, on host: String) async throws -> DomainFacts?
    /// The volume's facts, nil when the pool has no such volume (the pool is refreshed and
    /// asked again before saying so: files appear behind libvirt's back in shared pools).
    func volume(pool: String, name: String, on host: String) async throws -> VolumeFacts?
    /// Whether the host has a network of that name (a move checks the target's before it
    /// shuts the guest down).
    func hasNetwork(_ name: String, on host: String) async throws -> Bool
}

/// Running and stopping defined domains.
public protocol DomainLifecycle: Sendable {
    /// Starts the defined domain.
    func start(uuid: String, on host: String) async throws
    /// Asks the guest to shut down (ACPI): the caller waits for `shutoff`.
    func requestShutdown(uuid: String, on host: String) async throws
    /// Powers the domain off at once.
    func destroy(uuid: String, on host: String) async throws
}

/// Domain definitions: saved, defined, undefined, changed in place. Never any disk data.
public protocol DomainDefinitions: Sendable {
    /// The domain's definition for saving and re-defining (inactive, with secure data).
    func definition(uuid: String, on host: String) async throws -> String
    /// Defines a persistent domain from XML (a recorded definition).
    func define(xml: String, on host: String) async throws
    /// Removes the persistent definition, keeping volumes, NVRAM and TPM state; also removes
    /// snapshot and checkpoint metadata when `droppingSnapshotMetadata` (a manual move that
    /// saved it first). Never any disk data.
    func undefine(uuid: String, on host: String, droppingSnapshotMetadata: Bool) async throws
    /// The domain's snapshot definitions, parents first; empty when it has none.
    func snapshotDefinitions(uuid: String, on host: String) async throws -> [SnapshotDefinition]
    /// Defines a domain re-created from a recorded definition, booting from a pool volume.
    func recreate(recordedXML: String, on host: String, boot: DiskAttachment, target: String, format: String?) async throws
    /// Reads a definition as `define` would take it (identity, disks, interfaces), without
    /// defining anything: a move checks the one it will define before it shuts the guest down.
    func readDefinition(_ xml: String) throws -> ObservedDomain
    /// The definition `recreate` would define, built and read back, without defining anything.
    func readRecreated(recordedXML: String, boot: DiskAttachment, target: String, format: String?) throws -> ObservedDomain

    /// Sets the vCPU count (`maximum`: the maximum, config only) in the definitions of `scope`.
    func setVcpus(uuid: String, on host: String, count: Int, scope: DefinitionScope, maximum: Bool) async throws
    /// Sets the memory in MiB (`maximum`: the maximum, config only) in the definitions of `scope`.
    func setMemory(uuid: String, on host: String, mebibytes: Int, scope: DefinitionScope, maximum: Bool) async throws
    /// Sets whether the host's daemon starts the domain when it starts.
    func setAutostart(uuid: String, on host: String, enabled: Bool) async throws
    /// Replaces virtplace's own metadata (fleet and tags) in the definitions of `scope`.
    func setMetadata(uuid: String, on host: String, fleet: String, tags: [String: String], scope: DefinitionScope) async throws
    /// Attaches a pool volume as a disk at `target`, in the definitions of `scope`.
    func attachDisk(uuid: String, on host: String, disk: DiskAttachment, target: String, format: String?,
                    scope: DefinitionScope) async throws
    /// Attaches an interface, in the definitions of `scope`.
    func attachNIC(uuid: String, on host: String, nic: NICAttachment, scope: DefinitionScope) async throws
}

/// Pool volumes. Nothing here deletes data but `deleteVolume`, which is only for an incomplete
/// copy virtplace created itself (journalled).
public protocol VolumeStorage: Sendable {
    /// Re-scans a pool, so that volumes made elsewhere (a shared directory) are known.
    func refreshPool(_ pool: String, on host: String) async throws
    /// Creates an empty (sparse) volume of that capacity and format.
    func createVolume(pool: String, name: String, capacityBytes: UInt64, format: String?, on host: String) async throws
    /// Deletes a volume. Only for an incomplete copy virtplace created itself (journalled).
    func deleteVolume(pool: String, name: String, on host: String) async throws
    /// Clones a volume on its own host under another name.
    func cloneVolume(pool: String, name: String, as clone: String, on host: String) async throws
    /// Copies a volume's bytes into the existing volume of the same pool and name on `to`,
    /// hashing what is sent; `progress` is called as it goes, the final figures returned.
    func copyVolume(pool: String, name: String, from: String, to: String,
                    progress: @escaping @Sendable (TransferProgress) -> Void) async throws -> TransferProgress
    /// Reads a volume back whole: size and SHA-256.
    func checksum(pool: String, name: String, on host: String) async throws -> VolumeChecksum
}

/// Live migration and its job.
public protocol LiveMigrating: Sendable {
    /// Migrates live (defined on the target, undefined on the source, aborted on error);
    /// returns when the migration call returns (the executor watches the job meanwhile with
    /// `jobProgress`).
    func migrate(uuid: String, from: String, to: String, request: MigrationRequest) async throws
    /// The running job's progress on that host; nil when the domain has no job (or is gone).
    func jobProgress(uuid: String, on host: String) async throws -> MigrationJob?
    /// The last finished job's figures (a migration's downtime is read on the destination).
    func completedJob(uuid: String, on host: String) async throws -> MigrationJob?
    /// Cancels the domain's job (a migration rolls back; `postcopy` for one in post-copy).
    func abortJob(uuid: String, on host: String, postcopy: Bool) async throws
    /// Switches a running migration (started with `allowPostCopy`) to post-copy.
    func startPostCopy(uuid: String, on host: String) async throws
    /// Sets the longest pause allowed at the end of a live migration.
    func setMaxDowntime(uuid: String, on host: String, milliseconds: UInt64) async throws
}

extension DomainDefinitions {
    /// Removes the persistent definition, keeping volumes, NVRAM, TPM state and snapshot metadata.
    public func undefine(uuid: String, on host: String) async throws {
        try await undefine(uuid: uuid, on: host, droppingSnapshotMetadata: false)
    }
}

/// Which definitions a change affects: the persistent one, the running one, or both.
public struct DefinitionScope: OptionSet, Sendable, Hashable {
    public let rawValue: UInt8
    /// A scope from its bits.
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    /// The running domain.
    public static let live = Self(rawValue: 1 << 0)
    /// The persistent definition.
    public static let config = Self(rawValue: 1 << 1)
}

/// How a live migration is to run. Always live, persistent on the target, undefined on the
/// source, aborted on any error; the rest is this.
public struct MigrationRequest: Equatable, Sendable {
    /// The disks (targets, `vda`) copied during the migration; empty: storage is shared.
    public var copyDisks: [String]
    /// The disks not copied are on pools the placement declares shared, which libvirt cannot
    /// prove: skip its shared-storage check.
    public var sharedStorageDeclared: Bool
    /// Throttle the guest's vCPUs when memory does not converge.
    public var autoConverge: Bool
    /// Allow switching to post-copy (`startPostCopy`).
    public var allowPostCopy: Bool
    /// Bandwidth limit, MiB/s; nil for unlimited.
    public var bandwidthMiBps: UInt64?
    /// The target's migration address: the stream goes to `tcp://ADDRESS`, where the target's
    /// QEMU listens; nil: libvirt's choice.
    public var migrationAddress: String?
    /// TLS, parallel connections, compression.
    public var transport: TransportSpec = .init()
    /// With TLS: the name the target's certificate carries, when not the stream's host.
    public var tlsDestination: String?

    /// A migration request.
    public init(copyDisks: [String] = [], sharedStorageDeclared: Bool = false, autoConverge: Bool = false,
                allowPostCopy: Bool = false, bandwidthMiBps: UInt64? = nil) {
        self.copyDisks = copyDisks; self.sharedStorageDeclared = sharedStorageDeclared
        self.autoConverge = autoConverge; self.allowPostCopy = allowPostCopy; self.bandwidthMiBps = bandwidthMiBps
    }
}

/// A migration job's figures, running or finished. Every figure is optional: a host reports
/// only what applies. Times in milliseconds, sizes in bytes, rates in bytes/s.
public struct MigrationJob: Equatable, Sendable {
    public var timeElapsedMs: UInt64?
    public var timeRemainingMs: UInt64?
    /// How long the guest was paused at the end of a finished migration.
    public var downtimeMs: UInt64?
    public var dataTotal: UInt64?
    public var dataProcessed: UInt64?
    public var dataRemaining: UInt64?
    public var memoryTotal: UInt64?
    public var memoryProcessed: UInt64?
    public var memoryBps: UInt64?
    public var diskTotal: UInt64?
    public var diskProcessed: UInt64?
    public var diskBps: UInt64?
    /// Memory still to send; the guest's dirty rate (bytes/s); the pre-copy pass; the
    /// auto-converge throttle (% of vCPU time taken away). The convergence controller's inputs.
    public var memoryRemaining: UInt64?
    public var memoryDirtyBps: UInt64?
    public var memoryIteration: UInt64?
    public var autoConvergeThrottle: Int?

    /// A job's figures; what is left nil was not reported.
    public init(timeElapsedMs: UInt64? = nil, timeRemainingMs: UInt64? = nil, downtimeMs: UInt64? = nil,
                dataTotal: UInt64? = nil, dataProcessed: UInt64? = nil, dataRemaining: UInt64? = nil,
                memoryTotal: UInt64? = nil, memoryProcessed: UInt64? = nil, memoryBps: UInt64? = nil,
                diskTotal: UInt64? = nil, diskProcessed: UInt64? = nil, diskBps: UInt64? = nil,
                memoryRemaining: UInt64? = nil, memoryDirtyBps: UInt64? = nil, memoryIteration: UInt64? = nil,
                autoConvergeThrottle: Int? = nil) {
        self.timeElapsedMs = timeElapsedMs; self.timeRemainingMs = timeRemainingMs; self.downtimeMs = downtimeMs
        self.dataTotal = dataTotal; self.dataProcessed = dataProcessed; self.dataRemaining = dataRemaining
        self.memoryTotal = memoryTotal; self.memoryProcessed = memoryProcessed; self.memoryBps = memoryBps
        self.diskTotal = diskTotal; self.diskProcessed = diskProcessed; self.diskBps = diskBps
        self.memoryRemaining = memoryRemaining; self.memoryDirtyBps = memoryDirtyBps
        self.memoryIteration = memoryIteration; self.autoConvergeThrottle = autoConvergeThrottle
    }
}

/// What the executor reads about a domain on one host before and after each step.
public struct DomainFacts: Equatable, Sendable {
    /// `running`, `shutoff`, `paused`, … (libvirt's state, lower case).
    public var state: String
    public var persistent: Bool
    public var autostart: Bool
    /// The persistent definition, read into values (disks resolved to pool volumes).
    public var config: ObservedDomain
    /// The running instance's definition, when the domain is active.
    public var live: ObservedDomain?

    /// A domain-facts value.
    public init(state: String, persistent: Bool, autostart: Bool, config: ObservedDomain, live: ObservedDomain?) {
        self.state = state; self.persistent = persistent; self.autostart = autostart
        self.config = config; self.live = live
    }

    /// The domain's name and UUID, from its definition.
    public var name: String { config.name }
    public var uuid: String { config.uuid }
    /// Whether the domain is running.
    public var isRunning: Bool { state == "running" }
    /// Whether the domain is shut off.
    public var isShutOff: Bool { state == "shutoff" }
    /// Running, paused or otherwise alive (not shut off).
    public var isActive: Bool { state != "shutoff" }
}

/// A snapshot's metadata, as the host gives it (`<domainsnapshot>`).
public struct SnapshotDefinition: Equatable, Sendable {
    public var name: String
    public var xml: String

    /// A snapshot-definition value.
    public init(name: String, xml: String) { self.name = name; self.xml = xml }
}

/// A volume as the executor needs it.
public struct VolumeFacts: Equatable, Sendable {
    public var name: String
    public var path: String?
    public var capacityBytes: UInt64
    /// `raw`, `qcow2`, … when the pool reports it.
    public var format: String?

    /// A volume-facts value.
    public init(name: String, path: String?, capacityBytes: UInt64, format: String?) {
        self.name = name; self.path = path; self.capacityBytes = capacityBytes; self.format = format
    }
}

/// What kind of failure a host reported: the executor decides by this, never by the text.
public enum HostFailure: Equatable, Sendable {
    /// The job was cancelled (by us or by someone else).
    case aborted
    /// The hypervisor gave up waiting on something (QEMU's own timeout).
    case timedOut
    /// Something only live migration needs is refused: storage not provably shared, a feature
    /// or flag not supported.
    case liveUnsupported
    /// The target cannot run the guest's CPU.
    case cpuIncompatible
    /// A network the guest uses is missing.
    case noNetwork
    /// A pool or volume the guest's disks use is missing.
    case noStorage
    /// The host cannot provide what the definition asks for (machine type, emulator, device).
    case configUnsupported
    /// The connection broke, could not be made, or was refused (RPC, authentication).
    case connection
    /// A definition the driver could not read or build.
    case badDefinition
    /// Anything else (the host's message says what).
    case other
}

/// Failures of a driver, in the Engine's terms.
public enum DriverError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The host could not be reached (connection refused, timed out, lost).
    case unreachable(host: String, reason: String)
    /// The plan names a host the driver does not know.
    case unknownHost(String)
    /// The domain is not on the host (it vanished between two calls).
    case noDomain(uuid: String, host: String)
    /// A volume that must exist is not there.
    case noVolume(pool: String, volume: String, host: String)
    /// The host refused or failed the call: what kind, and its message for people.
    case failed(HostFailure, message: String)

    public var description: String {
        switch self {
        case let .unreachable(host, reason): "host \(host) is unreachable: \(reason)"
        case let .unknownHost(host): "no host \(host) in the placement"
        case let .noDomain(uuid, host): "no domain with UUID \(uuid) on \(host)"
        case let .noVolume(pool, volume, host): "no volume \(pool)/\(volume) on \(host)"
        case let .failed(_, message): message
        }
    }
}
