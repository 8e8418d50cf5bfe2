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
    enum CodingKeys: String, CodingKey, CaseIterable { case total, perHost }
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init()
        if let v = try c.decodeIfPresent(Int.self, forKey: .total) { total = v }
        if let v = try c.decodeIfPresent(Int.self, forKey: .perHost) { perHost = v }
    }
}

extension ParallelSpec: Encodable {
    /// Encodes `{"perHost": …, "total": …}` (a saved plan's limits).
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(total, forKey: .total)
        try c.encode(perHost, forKey: .perHost)
    }
}

extension LiveOverrideSpec: Decodable {
    enum CodingKeys: String, CodingKey, CaseIterable {
        case maxDowntimeMs, bandwidthMiBps, timeoutSeconds, onTimeout, autoConverge, copyStorage
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
    enum CodingKeys: String, CodingKey, CaseIterable { case uri, faultDomain, labels, state, capacity }
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            uri: try c.decode(String.self, forKey: .uri),
            faultDomain: try c.decodeIfPresent(String.self, forKey: .faultDomain),
            labels: try c.decodeIfPresent([String: String].self, forKey: .labels) ?? [:],
            state: try c.decodeIfPresent(HostState.self, forKey: .state) ?? .active,
            capacity: try c.decodeIfPresent(CapacitySpec.self, forKey: .capacity))
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
        case host, faultDomain, spread, profiles, config, devices, state, moves, live
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
            live: try c.decodeIfPresent(LiveOverrideSpec.self, forKey: .live))
    }
}
