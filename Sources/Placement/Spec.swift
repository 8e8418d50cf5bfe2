/// The desired state as the operator wrote it: the types of SPEC.md's placement file.
/// Values here are what a file says (after defaults); `DesiredInstance` is what an instance
/// means once its profiles are merged. No type here serves the observed state or the plan.

/// A whole placement: one or several documents merged.
public struct PlacementSpec: Equatable, Sendable {
    public var apiVersion: String
    public var kind: String
    public var metadata: MetadataSpec
    public var policy: PolicySpec
    public var storage: StorageSpec
    public var hosts: [String: HostSpec]
    public var profiles: [String: ProfileSpec]
    public var instances: [String: InstanceSpec]

    public init(
        apiVersion: String = "virtplace/v1", kind: String = "Placement",
        metadata: MetadataSpec = .init(name: ""), policy: PolicySpec = .init(),
        storage: StorageSpec = .init(), hosts: [String: HostSpec] = [:],
        profiles: [String: ProfileSpec] = [:], instances: [String: InstanceSpec] = [:]
    ) {
        self.apiVersion = apiVersion; self.kind = kind; self.metadata = metadata
        self.policy = policy; self.storage = storage; self.hosts = hosts
        self.profiles = profiles; self.instances = instances
    }
}

/// `metadata:`: the fleet's name, recorded in every managed domain.
public struct MetadataSpec: Equatable, Sendable {
    public var name: String
    public init(name: String) { self.name = name }
}

/// A kind of move an instance may be given.
public enum MoveKind: String, CaseIterable, Codable, Sendable, Comparable {
    case live, reboot, cold, manual

    /// Ladder order: live is the least disruptive.
    public static func < (a: MoveKind, b: MoveKind) -> Bool { a.rung < b.rung }

    private var rung: Int {
        switch self {
        case .live: 0
        case .reboot: 1
        case .cold: 2
        case .manual: 3
        }
    }
}

/// `policy:`: fleet-wide rules for how moves are made.
public struct PolicySpec: Equatable, Sendable {
    /// Move kinds used without an instance opting in; `manual` must be listed to be used.
    public var moves: [MoveKind] = [.live, .reboot, .cold]
    public var parallel: ParallelSpec = .init()
    /// 0 means unlimited.
    public var maxMovesPerRun: Int = 0
    public var shutdownTimeoutSeconds: Int = 120
    /// After the shutdown timeout: destroy (true) or give up on that move (false).
    public var forceOff: Bool = false
    /// vCPUs placed per host CPU, for capacity checks.
    public var cpuOvercommit: Double = 4.0
    /// Clone boot and data volumes on their host before a manual move's destructive steps.
    public var backups: Bool = false
    public var live: LivePolicySpec = .init()
    public init() {}
}

/// `policy.parallel`: concurrent moves, fleet-wide and per source or target host, and
/// optionally per host in one direction only (`perHostIn`: moves arriving, `perHostOut`:
/// moves leaving; nil: only `perHost` bounds them).
public struct ParallelSpec: Equatable, Sendable {
    public var total: Int = 4
    public var perHost: Int = 2
    public var perHostIn: Int?
    public var perHostOut: Int?
    public init(total: Int = 4, perHost: Int = 2, perHostIn: Int? = nil, perHostOut: Int? = nil) {
        self.total = total; self.perHost = perHost; self.perHostIn = perHostIn; self.perHostOut = perHostOut
    }

    /// Moves a host may receive at once: `perHostIn` within `perHost`, at least 1.
    public var incomingLimit: Int { max(1, min(perHost, perHostIn ?? perHost)) }
    /// Moves a host may send at once: `perHostOut` within `perHost`, at least 1.
    public var outgoingLimit: Int { max(1, min(perHost, perHostOut ?? perHost)) }
}

/// What to do when a live migration runs past its timeout.
public enum LiveTimeoutAction: String, Codable, Sendable, CaseIterable {
    case abort, postcopy
}

/// Whether a live move copies disks that are not on shared storage.
public enum CopyStorageMode: String, Codable, Sendable, CaseIterable {
    case auto, never
}

/// `policy.live`: live-migration settings, and the convergence ladder (docs/moves.md): the
/// allowed downtime rises in `downtimeSteps` steps up to `maxDowntimeMs`, one step per stall
/// (remaining bytes not shrinking for `stallSeconds`); a stall at the largest downtime takes
/// the next rung: auto-converge (when `autoConverge`), post-copy (when `onTimeout: postcopy`),
/// else abort and the next move kind the instance allows.
public struct LivePolicySpec: Equatable, Sendable, Codable {
    public var maxDowntimeMs: Int = 300
    /// 0 means unlimited.
    public var bandwidthMiBps: Int = 0
    public var timeoutSeconds: Int = 600
    public var onTimeout: LiveTimeoutAction = .abort
    public var autoConverge: Bool = false
    public var copyStorage: CopyStorageMode = .auto
    /// A migration whose remaining bytes have not fallen below 95 % of their lowest level for
    /// this long has stalled.
    public var stallSeconds: Int = 10
    /// The downtime ramp: the allowed downtime starts at `maxDowntimeMs / downtimeSteps` and
    /// rises by that much at each stall; 1: `maxDowntimeMs` from the start.
    public var downtimeSteps: Int = 4
    /// How the migration stream travels: TLS, parallel connections, compression.
    public var transport: TransportSpec = .init()
    public init() {}
}

/// A compression method for the migration stream (`VIR_MIGRATE_PARAM_COMPRESSION`).
public enum CompressionMethod: String, Codable, Sendable, CaseIterable {
    /// No compression.
    case none
    /// XOR-based delta of pages sent before and dirtied since (QEMU's page cache); no level.
    case xbzrle
    /// zlib on several threads (QEMU's `compress` capability); not with parallel connections.
    case mt
    /// zlib per parallel connection (multifd); needs `parallelConnections` of 2 or more.
    case zlib
    /// zstd per parallel connection (multifd); needs `parallelConnections` of 2 or more.
    case zstd

    /// Whether the method compresses each parallel connection's stream (and so needs them).
    public var needsParallel: Bool { self == .zlib || self == .zstd }
    /// The levels the method takes, nil when it takes none.
    public var levels: ClosedRange<Int>? {
        switch self {
        case .none, .xbzrle: nil
        case .mt, .zlib: 0...9
        case .zstd: 0...20
        }
    }
}

/// `live.transport`: how the migration stream travels between the hosts.
public struct TransportSpec: Equatable, Sendable, Codable {
    /// QEMU's native TLS on the migration stream (`VIR_MIGRATE_TLS`); both hosts must declare
    /// `migration.tls`.
    public var tls: Bool = false
    /// Connections the memory is sent over; 1 is one stream, 2 or more is multifd
    /// (`VIR_MIGRATE_PARALLEL` + `parallel.connections`).
    public var parallelConnections: Int = 1
    public var compression: CompressionMethod = .none
    /// The compression level, for the methods that take one; nil: QEMU's default.
    public var compressionLevel: Int?

    public init(tls: Bool = false, parallelConnections: Int = 1, compression: CompressionMethod = .none, compressionLevel: Int? = nil) {
        self.tls = tls; self.parallelConnections = parallelConnections
        self.compression = compression; self.compressionLevel = compressionLevel
    }

    /// One plain TCP stream: nothing asked of the hosts.
    public var isPlain: Bool { !tls && parallelConnections <= 1 && compression == .none }
}

/// `live.transport` as a file states it: only what it states overrides.
public struct TransportOverrideSpec: Equatable, Sendable {
    public var tls: Bool?
    public var parallelConnections: Int?
    public var compression: CompressionOverrideSpec?
    public init(tls: Bool? = nil, parallelConnections: Int? = nil, compression: CompressionOverrideSpec? = nil) {
        self.tls = tls; self.parallelConnections = parallelConnections; self.compression = compression
    }

    /// `base` with these overrides applied; a stated compression replaces method and level.
    public func applied(to base: TransportSpec) -> TransportSpec {
        var t = base
        if let v = tls { t.tls = v }
        if let v = parallelConnections { t.parallelConnections = v }
        if let c = compression { t.compression = c.method; t.compressionLevel = c.level }
        return t
    }
}

/// `live.transport.compression`: `{method: zstd, level: 3}`.
public struct CompressionOverrideSpec: Equatable, Sendable {
    public var method: CompressionMethod
    public var level: Int?
    public init(method: CompressionMethod, level: Int? = nil) { self.method = method; self.level = level }
}

/// An instance's `live:` overrides: only what it states replaces the policy's value.
public struct LiveOverrideSpec: Equatable, Sendable {
    public var maxDowntimeMs: Int?
    public var bandwidthMiBps: Int?
    public var timeoutSeconds: Int?
    public var onTimeout: LiveTimeoutAction?
    public var autoConverge: Bool?
    public var copyStorage: CopyStorageMode?
    public var stallSeconds: Int?
    public var downtimeSteps: Int?
    public var transport: TransportOverrideSpec?
    public init() {}

    /// The policy with these overrides applied.
    public func applied(to base: LivePolicySpec) -> LivePolicySpec {
        var p = base
        if let v = maxDowntimeMs { p.maxDowntimeMs = v }
        if let v = bandwidthMiBps { p.bandwidthMiBps = v }
        if let v = timeoutSeconds { p.timeoutSeconds = v }
        if let v = onTimeout { p.onTimeout = v }
        if let v = autoConverge { p.autoConverge = v }
        if let v = copyStorage { p.copyStorage = v }
        if let v = stallSeconds { p.stallSeconds = v }
        if let v = downtimeSteps { p.downtimeSteps = v }
        if let v = transport { p.transport = v.applied(to: p.transport) }
        return p
    }
}

/// `storage:`.
public struct StorageSpec: Equatable, Sendable {
    /// Pools (same name on every host) whose volumes every host sees.
    public var sharedPools: [String] = ["shared"]
    /// Pools that exist on every host under the same name but hold each host's own volumes:
    /// moves copy their volumes. A disk's pool must be named here or in `sharedPools`.
    public var localPools: [String] = []
    public init(sharedPools: [String] = ["shared"], localPools: [String] = []) {
        self.sharedPools = sharedPools; self.localPools = localPools
    }
}

/// A host's administrative state.
public enum HostState: String, Codable, Sendable, CaseIterable {
    /// Takes instances.
    case active
    /// Keeps what it has; nothing new is placed here.
    case cordoned
    /// Evacuated: everything on it moves elsewhere.
    case drained
}

/// `hosts.NAME`.
public struct HostSpec: Equatable, Sendable {
    public var uri: String
    public var faultDomain: String?
    public var labels: [String: String]
    public var state: HostState
    /// Overrides what the host reports; either part may be left out.
    public var capacity: CapacitySpec?
    /// A maintenance event: the host is evacuated by its rules (docs/operations.md) and takes
    /// nothing new until the entry is removed.
    public var maintenance: MaintenanceSpec?
    /// How other hosts reach it with migration streams.
    public var migration: HostMigrationSpec

    public init(uri: String, faultDomain: String? = nil, labels: [String: String] = [:],
                state: HostState = .active, capacity: CapacitySpec? = nil, maintenance: MaintenanceSpec? = nil,
                migration: HostMigrationSpec = .init()) {
        self.uri = uri; self.faultDomain = faultDomain; self.labels = labels
        self.state = state; self.capacity = capacity; self.maintenance = maintenance
        self.migration = migration
    }
}

/// `hosts.NAME.migration`: where migration streams to this host go, and what it offers them.
public struct HostMigrationSpec: Equatable, Sendable {
    /// The address other hosts send migration streams to (an IP literal or a host name, e.g. on
    /// a dedicated migration network); the target's QEMU listens there. nil: libvirt's choice
    /// (the host's `migration_host` in qemu.conf, else its host name).
    public var address: String?
    /// The host's QEMU is set up for migration TLS (qemu.conf `migrate_tls_x509_cert_dir` with
    /// its CA, server and client certificates). libvirt does not tell a client this: the file says it.
    public var tls: Bool
    /// The name the host's migration certificate is issued for, when the stream goes to an
    /// address the certificate does not name (`tls.destination`); nil: the host name of its URI.
    public var tlsName: String?

    public init(address: String? = nil, tls: Bool = false, tlsName: String? = nil) {
        self.address = address; self.tls = tls; self.tlsName = tlsName
    }
}

/// `hosts.NAME.capacity`.
public struct CapacitySpec: Equatable, Sendable {
    public var vcpus: Int?
    public var memoryMiB: Int?
    public init(vcpus: Int? = nil, memoryMiB: Int? = nil) { self.vcpus = vcpus; self.memoryMiB = memoryMiB }
}

/// `config:` of a profile or an instance: every field optional; instance values override
/// profile values, later profiles override earlier ones.
public struct ConfigSpec: Equatable, Sendable {
    public var vcpus: Int?
    public var memoryMiB: Int?
    public var autostart: Bool?
    /// Kept in the domain's virtplace metadata; merged key by key.
    public var tags: [String: String]?
    public init(vcpus: Int? = nil, memoryMiB: Int? = nil, autostart: Bool? = nil, tags: [String: String]? = nil) {
        self.vcpus = vcpus; self.memoryMiB = memoryMiB; self.autostart = autostart; self.tags = tags
    }

    /// `other` over `self`: what `other` states wins; tags merge key by key.
    public func overlaid(by other: ConfigSpec) -> ConfigSpec {
        var c = self
        if let v = other.vcpus { c.vcpus = v }
        if let v = other.memoryMiB { c.memoryMiB = v }
        if let v = other.autostart { c.autostart = v }
        if let t = other.tags { c.tags = (c.tags ?? [:]).merging(t) { _, new in new } }
        return c
    }
}

/// A device of a profile or instance, by key (`root`, `eth0`).
public enum DeviceSpec: Equatable, Sendable {
    case disk(DiskSpec)
    case nic(NICSpec)
    /// Removes a device of the same key that a profile added.
    case none
}

/// `type: disk`: a volume in a pool.
public struct DiskSpec: Equatable, Sendable {
    public var pool: String
    public var volume: String
    /// The boot volume (what a manual move recreates the instance from).
    public var boot: Bool
    /// Guest bus (`virtio`, `sata`, `scsi`); left out: virtio.
    public var bus: String?
    public var readOnly: Bool
    public init(pool: String, volume: String, boot: Bool = false, bus: String? = nil, readOnly: Bool = false) {
        self.pool = pool; self.volume = volume; self.boot = boot; self.bus = bus; self.readOnly = readOnly
    }
}

/// `type: nic`: an interface on a libvirt network or a host bridge.
public struct NICSpec: Equatable, Sendable {
    public var network: String?
    public var bridge: String?
    /// Lower case, `52:54:00:12:34:56`; left out: NICs are matched by network or bridge.
    public var mac: String?
    public var model: String?
    public init(network: String? = nil, bridge: String? = nil, mac: String? = nil, model: String? = nil) {
        self.network = network; self.bridge = bridge; self.mac = mac; self.model = model
    }
}

/// The lifecycle an instance should have.
public enum LifecycleState: String, Codable, Sendable, CaseIterable {
    case running, stopped
}

/// `profiles.NAME`.
public struct ProfileSpec: Equatable, Sendable {
    public var config: ConfigSpec
    public var devices: [String: DeviceSpec]
    public init(config: ConfigSpec = .init(), devices: [String: DeviceSpec] = [:]) {
        self.config = config; self.devices = devices
    }
}

/// `instances.NAME`: the key is the libvirt domain name.
public struct InstanceSpec: Equatable, Sendable {
    public var host: String?
    public var faultDomain: String?
    public var spread: String?
    public var profiles: [String]
    public var config: ConfigSpec
    public var devices: [String: DeviceSpec]
    /// Left out: the lifecycle state is left as it is.
    public var state: LifecycleState?
    /// Overrides `policy.moves`.
    public var moves: [MoveKind]?
    public var live: LiveOverrideSpec?
    /// How a maintenance event of its host moves it.
    public var maintenance: InstanceMaintenanceSpec?

    public init(host: String? = nil, faultDomain: String? = nil, spread: String? = nil,
                profiles: [String] = [], config: ConfigSpec = .init(), devices: [String: DeviceSpec] = [:],
                state: LifecycleState? = nil, moves: [MoveKind]? = nil, live: LiveOverrideSpec? = nil,
                maintenance: InstanceMaintenanceSpec? = nil) {
        self.host = host; self.faultDomain = faultDomain; self.spread = spread
        self.profiles = profiles; self.config = config; self.devices = devices
        self.state = state; self.moves = moves; self.live = live; self.maintenance = maintenance
    }
}

/// An instance as it is meant once profiles are merged: what the planner works from.
public struct DesiredInstance: Equatable, Sendable {
    public var name: String
    public var host: String?
    public var faultDomain: String?
    public var spread: String?
    public var config: ConfigSpec
    /// Devices after merging, `none` entries removed; sorted by key when iterated via `deviceKeys`.
    public var devices: [String: DeviceSpec]
    public var state: LifecycleState?
    public var moves: Set<MoveKind>
    public var live: LivePolicySpec
    public var maintenance: InstanceMaintenanceSpec = .init()

    public var deviceKeys: [String] { devices.keys.sorted() }
    /// The disk marked `boot: true`, if any.
    public var bootDisk: (key: String, disk: DiskSpec)? {
        for key in deviceKeys { if case .disk(let d) = devices[key], d.boot { return (key, d) } }
        return nil
    }
}

/// The profiles an instance lists, merged in order: config overlaid field by field, devices by
/// key, a later profile's device replacing an earlier one's (a `none` device stays, for the
/// instance's own devices to be merged over). The one profile merge: `desired` and validation
/// both go through it.
public struct ProfileMerge: Equatable, Sendable {
    /// The profiles merged, in the order the instance lists them.
    public var names: [String]
    public var config: ConfigSpec
    public var devices: [String: DeviceSpec]
}

extension PlacementSpec {
    /// Merges the profiles `names` in order; unknown profiles are skipped (validation reports
    /// them).
    public func mergeProfiles(_ names: [String]) -> ProfileMerge {
        var merge = ProfileMerge(names: names, config: ConfigSpec(), devices: [:])
        for p in names {
            guard let profile = profiles[p] else { continue }
            merge.config = merge.config.overlaid(by: profile.config)
            merge.devices.merge(profile.devices) { _, new in new }
        }
        return merge
    }

    /// Profiles in order, then the instance: config overlaid field by field, devices merged by
    /// key (a `none` device removes what a profile added), moves and live settings from the
    /// policy unless the instance overrides them. Unknown profiles are skipped (validation
    /// reports them).
    ///
    /// - Parameter merged: `mergeProfiles` of the instance's profiles when the caller has it
    ///   (validation keeps the last one: instances of a fleet mostly list the same few); any
    ///   other merge is ignored.
    public func desired(_ name: String, profiles merged: ProfileMerge? = nil) -> DesiredInstance? {
        guard let spec = instances[name] else { return nil }
        let profiles = merged.flatMap { $0.names == spec.profiles ? $0 : nil } ?? mergeProfiles(spec.profiles)
        let config = profiles.config.overlaid(by: spec.config)
        let devices = profiles.devices.merging(spec.devices) { _, new in new }.filter { $0.value != .none }
        return DesiredInstance(
            name: name, host: spec.host, faultDomain: spec.faultDomain, spread: spec.spread,
            config: config, devices: devices, state: spec.state,
            moves: Set(spec.moves ?? policy.moves),
            live: spec.live?.applied(to: policy.live) ?? policy.live,
            maintenance: spec.maintenance ?? .init())
    }

    /// Every instance, resolved, sorted by name.
    public var desiredInstances: [DesiredInstance] {
        instances.keys.sorted().compactMap { desired($0) }
    }
}
