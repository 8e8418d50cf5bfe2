import Libvirt
import Placement

/// The effects the executor has on hosts, behind one small protocol: `LibvirtFleet` is the
/// real one (libvirt's C API, one connection per host), and unit tests use an in-memory fleet.
/// Hosts are named as in the placement file; domains by UUID, never by name alone, so that a
/// domain is recognised wherever a move left it.
///
/// Every method may throw `DriverError` (`.unreachable` when the host cannot be reached) or the
/// layer's own error (`LibvirtError`), which the executor reports as it comes.
public protocol FleetDriver: Sendable {
    /// Makes sure the host can be used (opens its connection once; later calls reuse it).
    func connect(_ host: String) async throws

    /// What the host has for the domain with this UUID, re-read now; nil when the host does not
    /// define it.
    func domain(uuid: String, on host: String) async throws -> DomainFacts?
    /// The domain's definition for saving and re-defining (inactive, with secure data).
    func definition(uuid: String, on host: String) async throws -> String
    /// Defines a persistent domain from XML (a recorded definition).
    func define(xml: String, on host: String) async throws
    /// Removes the persistent definition, keeping volumes, NVRAM and TPM state.
    func undefine(uuid: String, on host: String) async throws
    /// The same, also removing snapshot and checkpoint metadata when
    /// `droppingSnapshotMetadata` (a manual move that saved it first). Never any disk data.
    func undefine(uuid: String, on host: String, droppingSnapshotMetadata: Bool) async throws
    /// The domain's snapshot definitions, parents first; empty when it has none.
    func snapshotDefinitions(uuid: String, on host: String) async throws -> [SnapshotDefinition]
    /// Starts the defined domain.
    func start(uuid: String, on host: String) async throws
    /// Asks the guest to shut down (ACPI): the caller waits for `shutoff`.
    func requestShutdown(uuid: String, on host: String) async throws
    /// Powers the domain off at once.
    func destroy(uuid: String, on host: String) async throws

    /// Sets the vCPU count (`maximum`: the maximum, config only) in the definitions of `scope`.
    func setVcpus(uuid: String, on host: String, count: Int, scope: DomainModification, maximum: Bool) async throws
    /// Sets the memory in MiB (`maximum`: the maximum, config only) in the definitions of `scope`.
    func setMemory(uuid: String, on host: String, mebibytes: Int, scope: DomainModification, maximum: Bool) async throws
    /// Sets whether the host's daemon starts the domain when it starts.
    func setAutostart(uuid: String, on host: String, enabled: Bool) async throws
    /// Replaces the virtplace metadata element in the definitions of `scope`.
    func setMetadata(uuid: String, on host: String, metadata: VirtplaceMetadata, scope: DomainModification) async throws
    /// Attaches a pool volume as a disk at `target`, in the definitions of `scope`.
    func attachDisk(uuid: String, on host: String, disk: DiskAttachment, target: String, format: String?,
                    scope: DomainModification) async throws
    /// Attaches an interface, in the definitions of `scope`.
    func attachNIC(uuid: String, on host: String, nic: NICAttachment, scope: DomainModification) async throws
    /// Defines a domain re-created from a recorded definition, booting from a pool volume.
    func recreate(recordedXML: String, on host: String, boot: DiskAttachment, target: String, format: String?) async throws
    /// Reads a definition as `define` would take it (identity, disks, interfaces), without
    /// defining anything: a move checks the one it will define before it shuts the guest down.
    func readDefinition(_ xml: String) throws -> ObservedDomain
    /// The definition `recreate` would define, built and read back, without defining anything.
    func readRecreated(recordedXML: String, boot: DiskAttachment, target: String, format: String?) throws -> ObservedDomain

    /// The volume's facts, nil when the pool has no such volume (the pool is refreshed and
    /// asked again before saying so: files appear behind libvirt's back in shared pools).
    func volume(pool: String, name: String, on host: String) async throws -> VolumeFacts?
    /// Re-scans a pool, so that volumes made elsewhere (a shared directory) are known.
    func refreshPool(_ pool: String, on host: String) async throws
    /// Whether the host has a network of that name (a move checks the target's before it
    /// shuts the guest down).
    func hasNetwork(_ name: String, on host: String) async throws -> Bool
    /// Creates an empty (sparse) volume of that capacity and format.
    func createVolume(pool: String, name: String, capacityBytes: UInt64, format: String?, on host: String) async throws
    /// Deletes a volume. Only for an incomplete copy virtplace created itself (journalled).
    func deleteVolume(pool: String, name: String, on host: String) async throws
    /// Clones a volume on its own host under another name.
    func cloneVolume(pool: String, name: String, as clone: String, on host: String) async throws
    /// Copies a volume's bytes into the existing volume of the same pool and name on `to`,
    /// hashing what is sent.
    func copyVolume(pool: String, name: String, from: String, to: String,
                    progress: @escaping @Sendable (TransferProgress) -> Void) async throws -> TransferProgress
    /// Reads a volume back whole: size and SHA-256.
    func checksum(pool: String, name: String, on host: String) async throws -> VolumeChecksum

    /// Migrates live; returns when libvirt's migration call returns (the executor watches
    /// the job meanwhile with `jobProgress`).
    func migrate(uuid: String, from: String, to: String, parameters: MigrationParameters, flags: MigrationFlags) async throws
    /// The running job's progress on that host; nil when the domain has no job (or is gone).
    func jobProgress(uuid: String, on host: String) async throws -> JobStats?
    /// The last finished job's statistics (a migration's downtime is read on the destination).
    func completedJob(uuid: String, on host: String) async throws -> JobStats?
    /// Cancels the domain's job (a migration rolls back; `postcopy` for one in post-copy).
    func abortJob(uuid: String, on host: String, postcopy: Bool) async throws
    /// Switches a running migration (started with `POSTCOPY`) to post-copy.
    func startPostCopy(uuid: String, on host: String) async throws
    /// Sets the longest pause allowed at the end of a live migration.
    func setMaxDowntime(uuid: String, on host: String, milliseconds: UInt64) async throws
    /// Whether the host's connection is still up, without reconnecting.
    func isAlive(_ host: String) async -> Bool
}

extension FleetDriver {
    /// Drivers without snapshots: none.
    public func snapshotDefinitions(uuid: String, on host: String) async throws -> [SnapshotDefinition] { [] }

    /// Drivers without snapshots: a plain undefine.
    public func undefine(uuid: String, on host: String, droppingSnapshotMetadata: Bool) async throws {
        try await undefine(uuid: uuid, on: host)
    }

    /// libvirt's domain XML, read by `ObservedDomain.parse`.
    public func readDefinition(_ xml: String) throws -> ObservedDomain {
        try ObservedDomain.parse(xml: xml, state: "shutoff")
    }

    /// `DefinitionXML.recreatedDomain`, as `LibvirtFleet.recreate` builds it, then read back.
    public func readRecreated(recordedXML: String, boot: DiskAttachment, target: String, format: String?) throws -> ObservedDomain {
        let disk = DefinitionXML.volumeDisk(pool: boot.pool, volume: boot.volume, format: format, target: target,
                                            bus: boot.bus, readOnly: boot.readOnly, bootOrder: 1)
        return try ObservedDomain.parse(xml: try DefinitionXML.recreatedDomain(from: recordedXML, bootDisk: disk), state: "shutoff")
    }

    /// Drivers without networks: every network is there.
    public func hasNetwork(_ name: String, on host: String) async throws -> Bool { true }

    /// Whether the host's connection is still up, without reconnecting (a live migration's
    /// watchdog aborts the job when the destination goes away). Drivers without connections
    /// say true.
    public func isAlive(_ host: String) async -> Bool { true }
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

/// A snapshot's metadata, as libvirt gives it (`<domainsnapshot>`).
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

/// Failures of a driver that are not libvirt's own errors.
public enum DriverError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The host could not be reached (connection refused, timed out, lost).
    case unreachable(host: String, reason: String)
    /// The plan names a host the driver does not know.
    case unknownHost(String)
    /// The domain is not on the host (it vanished between two calls).
    case noDomain(uuid: String, host: String)
    /// A volume that must exist is not there.
    case noVolume(pool: String, volume: String, host: String)

    public var description: String {
        switch self {
        case let .unreachable(host, reason): "host \(host) is unreachable: \(reason)"
        case let .unknownHost(host): "no host \(host) in the placement"
        case let .noDomain(uuid, host): "no domain with UUID \(uuid) on \(host)"
        case let .noVolume(pool, volume, host): "no volume \(pool)/\(volume) on \(host)"
        }
    }
}
