import YAMLDecoding

/// How the placement file's documents decode. Every key is read with `decodeIfPresent` (or
/// `decode` when required), so the YAML decoder knows every key a type accepts: what it did
/// not ask for is reported as unknown, with a did-you-mean from the keys that were asked for.

/// One document of a placement file: every section optional, since a fleet may be split over
/// several files (`hosts.yaml`, `instances/*.yaml`) that `load` merges.
public struct PlacementDocument: Decodable, Equatable, Sendable {
    public var apiVersion: String?
    public var kind: String?
    public var metadata: MetadataSpec?
    public var policy: PolicySpec?
    public var storage: StorageSpec?
    public var hosts: [String: HostSpec]?
    public var profiles: [String: ProfileSpec]?
    public var instances: [String: InstanceSpec]?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case apiVersion, kind, metadata, policy, storage, hosts, profiles, instances
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        apiVersion = try c.decodeIfPresent(String.self, forKey: .apiVersion)
        kind = try c.decodeIfPresent(String.self, forKey: .kind)
        metadata = try c.decodeIfPresent(MetadataSpec.self, forKey: .metadata)
        policy = try c.decodeIfPresent(PolicySpec.self, forKey: .policy)
        storage = try c.decodeIfPresent(StorageSpec.self, forKey: .storage)
        hosts = try c.decodeIfPresent([String: HostSpec].self, forKey: .hosts)
        profiles = try c.decodeIfPresent([String: ProfileSpec].self, forKey: .profiles)
        instances = try c.decodeIfPresent([String: InstanceSpec].self, forKey: .instances)
    }
}

/// Decodes a string-backed enum from one scalar, with a message that lists what is allowed.
/// Each choice type decodes itself this way, so that a wrong value in an optional field is
/// reported by the YAML decoder and the rest of its mapping still decodes.
func decodeChoice<E: RawRepresentable & CaseIterable>(_ decoder: any Decoder, what: String) throws -> E where E.RawValue == String {
    let c = try decoder.singleValueContainer()
    let raw = try c.decode(String.self)
    guard let value = E(rawValue: raw) else {
        let allowed = E.allCases.map(\.rawValue).joined(separator: ", ")
        throw DecodingError.dataCorruptedError(in: c, debugDescription: "unknown \(what) '\(raw)' (expected one of: \(allowed))")
    }
    return value
}

extension MoveKind {
    public init(from decoder: any Decoder) throws { self = try decodeChoice(decoder, what: "move kind") }
}
extension LiveTimeoutAction {
    public init(from decoder: any Decoder) throws { self = try decodeChoice(decoder, what: "timeout action") }
}
extension CopyStorageMode {
    public init(from decoder: any Decoder) throws { self = try decodeChoice(decoder, what: "copyStorage mode") }
}
extension CompressionMethod {
    public init(from decoder: any Decoder) throws { self = try decodeChoice(decoder, what: "compression method") }
}
extension HostState {
    public init(from decoder: any Decoder) throws { self = try decodeChoice(decoder, what: "host state") }
}
extension LifecycleState {
    public init(from decoder: any Decoder) throws { self = try decodeChoice(decoder, what: "instance state") }
}

extension MetadataSpec: Decodable {
    enum CodingKeys: String, CodingKey, CaseIterable { case name }
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decode(String.self, forKey: .name)
    }
}

extension PolicySpec: Decodable {
    enum CodingKeys: String, CodingKey, CaseIterable {
        case moves, parallel, maxMovesPerRun, shutdownTimeoutSeconds, forceOff, cpuOvercommit, backups, live
    }
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init()
        if let v = try c.decodeIfPresent([MoveKind].self, forKey: .moves) { moves = v }
        if let v = try c.decodeIfPresent(ParallelSpec.self, forKey: .parallel) { parallel = v }
        if let v = try c.decodeIfPresent(Int.self, forKey: .maxMovesPerRun) { maxMovesPerRun = v }
        if let v = try c.decodeIfPresent(Int.self, forKey: .shutdownTimeoutSeconds) { shutdownTimeoutSeconds = v }
        if let v = try c.decodeIfPresent(Bool.self, forKey: .forceOff) { forceOff = v }
        if let v = try c.decodeIfPresent(Double.self, forKey: .cpuOvercommit) { cpuOvercommit = v }
        if let v = try c.decodeIfPresent(Bool.self, forKey: .backups) { backups = v }
        if let v = try c.decodeIfPresent(LiveOverrideSpec.self, forKey: .live) { live = v.applied(to: LivePolicySpec()) }
    }
}

extension ParallelSpec: Decodable {
    enum CodingKeys: String, CodingKey, CaseIterable { case total, perHost, perHostIn, perHostOut }
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init()
        if let v = try c.decodeIfPresent(Int.self, forKey: .total) { total = v }
        if let v = try c.decodeIfPresent(Int.self, forKey: .perHost) { perHost = v }
        perHostIn = try c.decodeIfPresent(Int.self, forKey: .perHostIn)
        perHostOut = try c.decodeIfPresent(Int.self, forKey: .perHostOut)
    }
}

extension ParallelSpec: Encodable {
    /// Encodes `{"perHost": …, "perHostIn": …, "perHostOut": …, "total": …}` (a saved plan's
    /// limits), the directional ones as null when not set.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(total, forKey: .total)
        try c.encode(perHost, forKey: .perHost)
        try c.encode(perHostIn, forKey: .perHostIn)
        try c.encode(perHostOut, forKey: .perHostOut)
    }
}

extension LiveOverrideSpec: Decodable {
    enum CodingKeys: String, CodingKey, CaseIterable {
        case maxDowntimeMs, bandwidthMiBps, timeoutSeconds, onTimeout, autoConverge, copyStorage, transport, stallSeconds, downtimeSteps
    }
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init()
        maxDowntimeMs = try c.decodeIfPresent(Int.self, forKey: .maxDowntimeMs)
        bandwidthMiBps = try c.decodeIfPresent(Int.self, forKey: .bandwidthMiBps)
        timeoutSeconds = try c.decodeIfPresent(Int.self, forKey: .timeoutSeconds)
        onTimeout = try c.decodeIfPresent(LiveTimeoutAction.self, forKey: .onTimeout)
        autoConverge = try c.decodeIfPresent(Bool.self, forKey: .autoConverge)
        copyStorage = try c.decodeIfPresent(CopyStorageMode.self, forKey: .copyStorage)
        stallSeconds = try c.decodeIfPresent(Int.self, forKey: .stallSeconds)
        downtimeSteps = try c.decodeIfPresent(Int.self, forKey: .downtimeSteps)
        transport = try c.decodeIfPresent(TransportOverrideSpec.self, forKey: .transport)
    }
}

extension TransportOverrideSpec: Decodable {
    enum CodingKeys: String, CodingKey, CaseIterable { case tls, parallelConnections, compression }
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(tls: try c.decodeIfPresent(Bool.self, forKey: .tls),
                  parallelConnections: try c.decodeIfPresent(Int.self, forKey: .parallelConnections),
                  compression: try c.decodeIfPresent(CompressionOverrideSpec.self, forKey: .compression))
    }
}

extension CompressionOverrideSpec: Decodable {
    enum CodingKeys: String, CodingKey, CaseIterable { case method, level }
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(method: try c.decode(CompressionMethod.self, forKey: .method),
                  level: try c.decodeIfPresent(Int.self, forKey: .level))
    }
}

extension HostMigrationSpec: Decodable {
    enum CodingKeys: String, CodingKey, CaseIterable { case address, tls, tlsName }
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(address: try c.decodeIfPresent(String.self, forKey: .address),
                  tls: try c.decodeIfPresent(Bool.self, forKey: .tls) ?? false,
                  tlsName: try c.decodeIfPresent(String.self, forKey: .tlsName))
    }
}

extension StorageSpec: Decodable {
    enum CodingKeys: String, CodingKey, CaseIterable { case sharedPools, localPools }
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init()
        if let v = try c.decodeIfPresent([String].self, forKey: .sharedPools) { sharedPools = v }
        if let v = try c.decodeIfPresent([String].self, forKey: .localPools) { localPools = v }
    }
}

extension HostSpec: Decodable {
    enum CodingKeys: String, CodingKey, CaseIterable { case uri, faultDomain, labels, state, capacity, maintenance, migration }
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            uri: try c.decode(String.self, forKey: .uri),
            faultDomain: try c.decodeIfPresent(String.self, forKey: .faultDomain),
            labels: try c.decodeIfPresent([String: String].self, forKey: .labels) ?? [:],
            state: try c.decodeIfPresent(HostState.self, forKey: .state) ?? .active,
            capacity: try c.decodeIfPresent(CapacitySpec.self, forKey: .capacity),
            maintenance: try c.decodeIfPresent(MaintenanceSpec.self, forKey: .maintenance),
            migration: try c.decodeIfPresent(HostMigrationSpec.self, forKey: .migration) ?? .init())
    }
}

extension CapacitySpec: Decodable {
    enum CodingKeys: String, CodingKey, CaseIterable { case vcpus, memoryMiB }
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(vcpus: try c.decodeIfPresent(Int.self, forKey: .vcpus),
                  memoryMiB: try c.decodeIfPresent(Int.self, forKey: .memoryMiB))
    }
}

extension ConfigSpec: Decodable {
    enum CodingKeys: String, CodingKey, CaseIterable { case vcpus, memoryMiB, autostart, tags }
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(vcpus: try c.decodeIfPresent(Int.self, forKey: .vcpus),
                  memoryMiB: try c.decodeIfPresent(Int.self, forKey: .memoryMiB),
                  autostart: try c.decodeIfPresent(Bool.self, forKey: .autostart),
                  tags: try c.decodeIfPresent([String: String].self, forKey: .tags))
    }
}

/// The kinds of device a file may declare.
enum DeviceType: String, CaseIterable, Decodable {
    case disk, nic, none
    init(from decoder: any Decoder) throws { self = try decodeChoice(decoder, what: "device type") }
}

extension DeviceSpec: Decodable {
    enum CodingKeys: String, CodingKey, CaseIterable {
        case type, pool, volume, boot, bus, readOnly, network, bridge, mac, model
    }
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        guard c.contains(.type) else {
            throw DecodingError.keyNotFound(CodingKeys.type, .init(codingPath: c.codingPath, debugDescription: "missing required key 'type' (disk, nic or none)"))
        }
        let type = try c.decode(DeviceType.self, forKey: .type)
        // Only the keys of the device's own type are read: the others are reported as unknown.
        switch type {
        case .disk:
            self = .disk(DiskSpec(
                pool: try c.decode(String.self, forKey: .pool),
                volume: try c.decode(String.self, forKey: .volume),
                boot: try c.decodeIfPresent(Bool.self, forKey: .boot) ?? false,
                bus: try c.decodeIfPresent(String.self, forKey: .bus),
                readOnly: try c.decodeIfPresent(Bool.self, forKey: .readOnly) ?? false))
        case .nic:
            self = .nic(NICSpec(
                network: try c.decodeIfPresent(String.self, forKey: .network),
                bridge: try c.decodeIfPresent(String.self, forKey: .bridge),
                mac: try c.decodeIfPresent(String.self, forKey: .mac)?.lowercased(),
                model: try c.decodeIfPresent(String.self, forKey: .model)))
        case .none:
            self = .none
        }
    }
}

extension ProfileSpec: Decodable {
    enum CodingKeys: String, CodingKey, CaseIterable { case config, devices }
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(config: try c.decodeIfPresent(ConfigSpec.self, forKey: .config) ?? .init(),
                  devices: try c.decodeIfPresent([String: DeviceSpec].self, forKey: .devices) ?? [:])
    }
}

extension InstanceSpec: Decodable {
    enum CodingKeys: String, CodingKey, CaseIterable {
        case host, faultDomain, spread, profiles, config, devices, state, moves, live, maintenance
    }
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            host: try c.decodeIfPresent(String.self, forKey: .host),
            faultDomain: try c.decodeIfPresent(String.self, forKey: .faultDomain),
            spread: try c.decodeIfPresent(String.self, forKey: .spread),
            profiles: try c.decodeIfPresent([String].self, forKey: .profiles) ?? [],
            config: try c.decodeIfPresent(ConfigSpec.self, forKey: .config) ?? .init(),
            devices: try c.decodeIfPresent([String: DeviceSpec].self, forKey: .devices) ?? [:],
            state: try c.decodeIfPresent(LifecycleState.self, forKey: .state),
            moves: try c.decodeIfPresent([MoveKind].self, forKey: .moves),
            live: try c.decodeIfPresent(LiveOverrideSpec.self, forKey: .live),
            maintenance: try c.decodeIfPresent(InstanceMaintenanceSpec.self, forKey: .maintenance))
    }
}

// MARK: - The fast path

extension PlacementDocument {
    /// The document as `YAMLNodeDecoder` decodes it, when it decodes without a single
    /// diagnostic; nil when this reader is not sure it would (then decode it the ordinary way).
    ///
    /// Large files are almost always valid, and for them the `Decoder` machinery (containers,
    /// coding paths, unknown-key bookkeeping, dictionaries built by generic code) cost more
    /// than parsing. This reads the nodes directly, by the decoder's own scalar rules, and
    /// gives up at anything out of the ordinary: a tag, an anchor, an alias or a merge, a key
    /// the type does not read, a value of the wrong type, a missing required key. So every
    /// diagnostic still comes from the decoder. Each type's `CodingKeys` are switched over
    /// exhaustively, so that a key added there cannot be forgotten here; a test compares both
    /// readings.
    static func fastDecoded(from root: YAMLNode) -> PlacementDocument? {
        let node = YAMLNodeReader(root)
        guard node.expandsNothing else { return nil }
        return try? FastReader.document(node)
    }

    /// A document with every section absent.
    fileprivate init() {}
}

/// The readers of `PlacementDocument.fastDecoded(from:)`, one a type, each doing what the
/// type's `init(from:)` does with the values a valid file holds.
private enum FastReader {
    /// Not sure the decoder would accept the node as it is: decode the ordinary way.
    struct GiveUp: Error {}

    static func document(_ node: YAMLNodeReader) throws(GiveUp) -> PlacementDocument {
        var document = PlacementDocument()
        try fields(node, documentKeys) { (key, value) throws(GiveUp) in
            switch key {
            case .apiVersion: document.apiVersion = try optionalString(value)
            case .kind: document.kind = try optionalString(value)
            case .metadata: document.metadata = try optional(value, metadata)
            case .policy: document.policy = try optional(value, policy)
            case .storage: document.storage = try optional(value, storage)
            case .hosts: document.hosts = try optionalMap(value, host)
            case .profiles: document.profiles = try optionalMap(value, profile)
            case .instances: document.instances = try optionalMap(value, instance)
            }
        }
        return document
    }

    static func metadata(_ node: YAMLNodeReader) throws(GiveUp) -> MetadataSpec {
        var name: String? = nil
        try fields(node, metadataKeys) { (key, value) throws(GiveUp) in
            switch key {
            case .name: name = try requiredString(value)
            }
        }
        guard let name else { throw GiveUp() }
        return MetadataSpec(name: name)
    }

    static func policy(_ node: YAMLNodeReader) throws(GiveUp) -> PolicySpec {
        var policy = PolicySpec()
        try fields(node, policyKeys) { (key, value) throws(GiveUp) in
            switch key {
            case .moves: if let v = try optionalArray(value, choice(MoveKind.self)) { policy.moves = v }
            case .parallel: if let v = try optional(value, parallel) { policy.parallel = v }
            case .maxMovesPerRun: if let v = try optionalInt(value) { policy.maxMovesPerRun = v }
            case .shutdownTimeoutSeconds: if let v = try optionalInt(value) { policy.shutdownTimeoutSeconds = v }
            case .forceOff: if let v = try optionalBool(value) { policy.forceOff = v }
            case .cpuOvercommit: if let v = try optionalDouble(value) { policy.cpuOvercommit = v }
            case .backups: if let v = try optionalBool(value) { policy.backups = v }
            case .live: if let v = try optional(value, live) { policy.live = v.applied(to: LivePolicySpec()) }
            }
        }
        return policy
    }

    static func parallel(_ node: YAMLNodeReader) throws(GiveUp) -> ParallelSpec {
        var parallel = ParallelSpec()
        try fields(node, parallelKeys) { (key, value) throws(GiveUp) in
            switch key {
            case .total: if let v = try optionalInt(value) { parallel.total = v }
            case .perHost: if let v = try optionalInt(value) { parallel.perHost = v }
            case .perHostIn: parallel.perHostIn = try optionalInt(value)
            case .perHostOut: parallel.perHostOut = try optionalInt(value)
            }
        }
        return parallel
    }

    static func live(_ node: YAMLNodeReader) throws(GiveUp) -> LiveOverrideSpec {
        var live = LiveOverrideSpec()
        try fields(node, liveKeys) { (key, value) throws(GiveUp) in
            switch key {
            case .maxDowntimeMs: live.maxDowntimeMs = try optionalInt(value)
            case .bandwidthMiBps: live.bandwidthMiBps = try optionalInt(value)
            case .timeoutSeconds: live.timeoutSeconds = try optionalInt(value)
            case .onTimeout: live.onTimeout = try optional(value, choice(LiveTimeoutAction.self))
            case .autoConverge: live.autoConverge = try optionalBool(value)
            case .copyStorage: live.copyStorage = try optional(value, choice(CopyStorageMode.self))
            case .stallSeconds: live.stallSeconds = try optionalInt(value)
            case .downtimeSteps: live.downtimeSteps = try optionalInt(value)
            case .transport: live.transport = try optional(value, transport)
            }
        }
        return live
    }

    static func transport(_ node: YAMLNodeReader) throws(GiveUp) -> TransportOverrideSpec {
        var transport = TransportOverrideSpec()
        try fields(node, transportKeys) { (key, value) throws(GiveUp) in
            switch key {
            case .tls: transport.tls = try optionalBool(value)
            case .parallelConnections: transport.parallelConnections = try optionalInt(value)
            case .compression: transport.compression = try optional(value, compression)
            }
        }
        return transport
    }

    static func compression(_ node: YAMLNodeReader) throws(GiveUp) -> CompressionOverrideSpec {
        var method: CompressionMethod? = nil
        var level: Int? = nil
        try fields(node, compressionKeys) { (key, value) throws(GiveUp) in
            switch key {
            case .method: method = try choice(CompressionMethod.self)(value)
            case .level: level = try optionalInt(value)
            }
        }
        guard let method else { throw GiveUp() }
        return CompressionOverrideSpec(method: method, level: level)
    }

    static func hostMigration(_ node: YAMLNodeReader) throws(GiveUp) -> HostMigrationSpec {
        var migration = HostMigrationSpec()
        try fields(node, hostMigrationKeys) { (key, value) throws(GiveUp) in
            switch key {
            case .address: migration.address = try optionalString(value)
            case .tls: migration.tls = try optionalBool(value) ?? false
            case .tlsName: migration.tlsName = try optionalString(value)
            }
        }
        return migration
    }

    static func storage(_ node: YAMLNodeReader) throws(GiveUp) -> StorageSpec {
        var storage = StorageSpec()
        try fields(node, storageKeys) { (key, value) throws(GiveUp) in
            switch key {
            case .sharedPools: if let v = try optionalArray(value, requiredString) { storage.sharedPools = v }
            case .localPools: if let v = try optionalArray(value, requiredString) { storage.localPools = v }
            }
        }
        return storage
    }

    static func host(_ node: YAMLNodeReader) throws(GiveUp) -> HostSpec {
        var uri: String? = nil
        var faultDomain: String? = nil
        var labels: [String: String]? = nil
        var state: HostState? = nil
        var capacity: CapacitySpec? = nil
        var maintenance: MaintenanceSpec? = nil
        var migration: HostMigrationSpec? = nil
        try fields(node, hostKeys) { (key, value) throws(GiveUp) in
            switch key {
            case .uri: uri = try requiredString(value)
            case .faultDomain: faultDomain = try optionalString(value)
            case .labels: labels = try optionalMap(value, requiredString)
            case .state: state = try optional(value, choice(HostState.self))
            case .capacity: capacity = try optional(value, self.capacity)
            case .maintenance: maintenance = try optional(value, self.maintenance)
            case .migration: migration = try optional(value, hostMigration)
            }
        }
        guard let uri else { throw GiveUp() }
        return HostSpec(uri: uri, faultDomain: faultDomain, labels: labels ?? [:], state: state ?? .active, capacity: capacity,
                        maintenance: maintenance, migration: migration ?? .init())
    }

    static func maintenance(_ node: YAMLNodeReader) throws(GiveUp) -> MaintenanceSpec {
        var due: String? = nil
        var reason: String? = nil
        try fields(node, maintenanceKeys) { (key, value) throws(GiveUp) in
            switch key {
            case .due: due = try requiredString(value)
            case .reason: reason = try optionalString(value)
            }
        }
        guard let due else { throw GiveUp() }
        return MaintenanceSpec(due: due, reason: reason)
    }

    static func instanceMaintenance(_ node: YAMLNodeReader) throws(GiveUp) -> InstanceMaintenanceSpec {
        var spec = InstanceMaintenanceSpec()
        try fields(node, instanceMaintenanceKeys) { (key, value) throws(GiveUp) in
            switch key {
            case .afterMove: spec.afterMove = try optional(value, choice(AfterMove.self))
            case .proactive: spec.proactive = try optionalBool(value) ?? false
            }
        }
        return spec
    }

    static func capacity(_ node: YAMLNodeReader) throws(GiveUp) -> CapacitySpec {
        var capacity = CapacitySpec()
        try fields(node, capacityKeys) { (key, value) throws(GiveUp) in
            switch key {
            case .vcpus: capacity.vcpus = try optionalInt(value)
            case .memoryMiB: capacity.memoryMiB = try optionalInt(value)
            }
        }
        return capacity
    }

    static func config(_ node: YAMLNodeReader) throws(GiveUp) -> ConfigSpec {
        var config = ConfigSpec()
        try fields(node, configKeys) { (key, value) throws(GiveUp) in
            switch key {
            case .vcpus: config.vcpus = try optionalInt(value)
            case .memoryMiB: config.memoryMiB = try optionalInt(value)
            case .autostart: config.autostart = try optionalBool(value)
            case .tags: config.tags = try optionalMap(value, requiredString)
            }
        }
        return config
    }

    static func profile(_ node: YAMLNodeReader) throws(GiveUp) -> ProfileSpec {
        var profile = ProfileSpec()
        try fields(node, profileKeys) { (key, value) throws(GiveUp) in
            switch key {
            case .config: profile.config = try optional(value, config) ?? .init()
            case .devices: profile.devices = try optionalMap(value, device) ?? [:]
            }
        }
        return profile
    }

    static func device(_ node: YAMLNodeReader) throws(GiveUp) -> DeviceSpec {
        typealias Key = DeviceSpec.CodingKeys
        guard node.kind == .mapping, !node.hasProperties else { throw GiveUp() }
        var type: DeviceType? = nil
        for index in 0..<node.entryCount where node.key(index, in: deviceTypeKey) != nil {
            type = try choice(DeviceType.self)(node.value(index))
        }
        switch type {
        case .disk?:
            var pool: String? = nil
            var volume: String? = nil
            var boot: Bool? = nil
            var bus: String? = nil
            var readOnly: Bool? = nil
            try fields(node, deviceKeys) { (key, value) throws(GiveUp) in
                switch key {
                case .type: break
                case .pool: pool = try requiredString(value)
                case .volume: volume = try requiredString(value)
                case .boot: boot = try optionalBool(value)
                case .bus: bus = try optionalString(value)
                case .readOnly: readOnly = try optionalBool(value)
                // A disk does not read these: the decoder reports them as unknown.
                case .network, .bridge, .mac, .model: throw GiveUp()
                }
            }
            guard let pool, let volume else { throw GiveUp() }
            return .disk(DiskSpec(pool: pool, volume: volume, boot: boot ?? false, bus: bus, readOnly: readOnly ?? false))
        case .nic?:
            var nic = NICSpec()
            try fields(node, deviceKeys) { (key, value) throws(GiveUp) in
                switch key {
                case .type: break
                case .network: nic.network = try optionalString(value)
                case .bridge: nic.bridge = try optionalString(value)
                case .mac: nic.mac = try optionalString(value)?.lowercased()
                case .model: nic.model = try optionalString(value)
                case .pool, .volume, .boot, .bus, .readOnly: throw GiveUp()
                }
            }
            return .nic(nic)
        case .none?:
            try fields(node, deviceKeys) { (key, _) throws(GiveUp) in
                switch key {
                case .type: break
                case .pool, .volume, .boot, .bus, .readOnly, .network, .bridge, .mac, .model: throw GiveUp()
                }
            }
            return .none
        case nil:
            throw GiveUp()
        }
    }

    static func instance(_ node: YAMLNodeReader) throws(GiveUp) -> InstanceSpec {
        var instance = InstanceSpec()
        try fields(node, instanceKeys) { (key, value) throws(GiveUp) in
            switch key {
            case .host: instance.host = try optionalString(value)
            case .faultDomain: instance.faultDomain = try optionalString(value)
            case .spread: instance.spread = try optionalString(value)
            case .profiles: instance.profiles = try optionalArray(value, requiredString) ?? []
            case .config: instance.config = try optional(value, config) ?? .init()
            case .devices: instance.devices = try optionalMap(value, device) ?? [:]
            case .state: instance.state = try optional(value, choice(LifecycleState.self))
            case .moves: instance.moves = try optionalArray(value, choice(MoveKind.self))
            case .live: instance.live = try optional(value, live)
            case .maintenance: instance.maintenance = try optional(value, instanceMaintenance)
            }
        }
        return instance
    }

    // MARK: Shapes

    /// A type's coding keys, with their names prepared for comparing.
    struct Keys<Key: CodingKey & CaseIterable & Sendable>: Sendable {
        let cases: [Key]
        let names: KeyNames

        init(_ type: Key.Type) {
            cases = Array(Key.allCases)
            names = KeyNames(cases.map(\.stringValue))
        }
    }

    static let documentKeys = Keys(PlacementDocument.CodingKeys.self)
    static let metadataKeys = Keys(MetadataSpec.CodingKeys.self)
    static let policyKeys = Keys(PolicySpec.CodingKeys.self)
    static let parallelKeys = Keys(ParallelSpec.CodingKeys.self)
    static let liveKeys = Keys(LiveOverrideSpec.CodingKeys.self)
    static let transportKeys = Keys(TransportOverrideSpec.CodingKeys.self)
    static let compressionKeys = Keys(CompressionOverrideSpec.CodingKeys.self)
    static let hostMigrationKeys = Keys(HostMigrationSpec.CodingKeys.self)
    static let storageKeys = Keys(StorageSpec.CodingKeys.self)
    static let hostKeys = Keys(HostSpec.CodingKeys.self)
    static let capacityKeys = Keys(CapacitySpec.CodingKeys.self)
    static let maintenanceKeys = Keys(MaintenanceSpec.CodingKeys.self)
    static let instanceMaintenanceKeys = Keys(InstanceMaintenanceSpec.CodingKeys.self)
    static let configKeys = Keys(ConfigSpec.CodingKeys.self)
    static let profileKeys = Keys(ProfileSpec.CodingKeys.self)
    static let deviceKeys = Keys(DeviceSpec.CodingKeys.self)
    static let instanceKeys = Keys(InstanceSpec.CodingKeys.self)
    /// A device's `type`, read first: which keys it may have depends on it.
    static let deviceTypeKey = KeyNames([DeviceSpec.CodingKeys.type.stringValue])

    /// Calls `body` with every entry of a mapping, by key; gives up at a key the type does
    /// not name (the decoder would report it) and at anything but a plain mapping.
    static func fields<Key>(
        _ node: YAMLNodeReader, _ keys: Keys<Key>, _ body: (Key, YAMLNodeReader) throws(GiveUp) -> Void
    ) throws(GiveUp) {
        guard node.kind == .mapping, !node.hasProperties else { throw GiveUp() }
        for index in 0..<node.entryCount {
            guard let position = node.key(index, in: keys.names) else { throw GiveUp() }
            try body(keys.cases[position], node.value(index))
        }
    }

    /// `decodeIfPresent`: a null is nil.
    static func optional<T>(_ node: YAMLNodeReader, _ read: (YAMLNodeReader) throws(GiveUp) -> T) throws(GiveUp) -> T? {
        if node.isPlainNull { return nil }
        return try read(node)
    }

    static func optionalArray<T>(
        _ node: YAMLNodeReader, _ element: (YAMLNodeReader) throws(GiveUp) -> T
    ) throws(GiveUp) -> [T]? {
        if node.isPlainNull { return nil }
        guard node.kind == .sequence, !node.hasProperties else { throw GiveUp() }
        var result: [T] = []
        result.reserveCapacity(node.itemCount)
        for index in 0..<node.itemCount { result.append(try element(node.item(index))) }
        return result
    }

    static func optionalMap<T>(
        _ node: YAMLNodeReader, _ value: (YAMLNodeReader) throws(GiveUp) -> T
    ) throws(GiveUp) -> [String: T]? {
        if node.isPlainNull { return nil }
        guard node.kind == .mapping, !node.hasProperties else { throw GiveUp() }
        var result = [String: T](minimumCapacity: node.entryCount)
        for index in 0..<node.entryCount {
            guard let name = node.key(index).text else { throw GiveUp() }
            result[name] = try value(node.value(index))
        }
        return result
    }

    // MARK: Scalars

    static func requiredString(_ node: YAMLNodeReader) throws(GiveUp) -> String {
        guard let value = node.string else { throw GiveUp() }
        return value
    }

    static func optionalString(_ node: YAMLNodeReader) throws(GiveUp) -> String? {
        try optional(node, requiredString)
    }

    static func optionalInt(_ node: YAMLNodeReader) throws(GiveUp) -> Int? {
        if node.isPlainNull { return nil }
        guard let value = node.int else { throw GiveUp() }
        return value
    }

    static func optionalBool(_ node: YAMLNodeReader) throws(GiveUp) -> Bool? {
        if node.isPlainNull { return nil }
        guard let value = node.bool else { throw GiveUp() }
        return value
    }

    static func optionalDouble(_ node: YAMLNodeReader) throws(GiveUp) -> Double? {
        if node.isPlainNull { return nil }
        guard let value = node.double else { throw GiveUp() }
        return value
    }

    /// A string enum, read as `decodeChoice` reads it once the decoder has checked the value
    /// is one of the cases.
    static func choice<E: RawRepresentable>(_ type: E.Type) -> (YAMLNodeReader) throws(GiveUp) -> E where E.RawValue == String {
        { (node: YAMLNodeReader) throws(GiveUp) -> E in
            guard let text = node.string, let value = E(rawValue: text) else { throw GiveUp() }
            return value
        }
    }
}
