/// Steps: what the executor runs for an action, in order. Each step names the host it acts on,
/// so a step is meaningful on its own in the journal; each is idempotent in the executor (it
/// checks its postcondition first). JSON: `{"op":"migrateLive","from":"host1",…}`.

/// When a configuration change takes effect.
public enum Applies: String, Codable, Sendable, CaseIterable {
    /// On the running domain now, and in its persistent definition.
    case live
    /// In the persistent definition only: effective at the next (re)start.
    case restart
}

/// Parameters of a live migration.
public struct LiveMigration: Codable, Equatable, Sendable {
    public var from: String
    public var to: String
    public var maxDowntimeMs: Int
    /// 0 means unlimited.
    public var bandwidthMiBps: Int
    public var timeoutSeconds: Int
    public var onTimeout: LiveTimeoutAction
    public var autoConverge: Bool
    /// Guest targets (`vda`, …) of disks not on shared storage, copied during the migration
    /// (`NON_SHARED_DISK` with `migrate_disks`); sorted; empty when all storage is shared.
    public var copyDisks: [String]
    /// The pools of the disks that are not copied, as far as the file declares them shared
    /// (`storage.sharedPools`); sorted. The executor passes `VIR_MIGRATE_UNSAFE` only when
    /// every non-copied disk is in one of them (libvirt cannot tell a shared directory from a
    /// local one). Empty when the instance has no disk on a shared pool.
    public var sharedPools: [String]
    /// The convergence controller's stall window, seconds (`live.stallSeconds`).
    public var stallSeconds: Int
    /// Steps of the downtime ramp up to `maxDowntimeMs` (`live.downtimeSteps`).
    public var downtimeSteps: Int
    /// The target's `migration.address`: the stream goes to `tcp://ADDRESS` and the target's
    /// QEMU listens there; nil: libvirt's choice (the target's `migration_host`).
    public var migrationAddress: String?
    /// TLS, parallel connections, compression.
    public var transport: TransportSpec = .init()
    /// With TLS, the name the target's certificate must carry when it is not the host the
    /// stream goes to (`tls.destination`).
    public var tlsDestination: String?

    /// A live-migration value.
    public init(from: String, to: String, maxDowntimeMs: Int, bandwidthMiBps: Int, timeoutSeconds: Int,
                onTimeout: LiveTimeoutAction, autoConverge: Bool, copyDisks: [String], sharedPools: [String] = [],
                stallSeconds: Int = LivePolicySpec().stallSeconds, downtimeSteps: Int = LivePolicySpec().downtimeSteps) {
        self.from = from; self.to = to; self.maxDowntimeMs = maxDowntimeMs
        self.bandwidthMiBps = bandwidthMiBps; self.timeoutSeconds = timeoutSeconds
        self.onTimeout = onTimeout; self.autoConverge = autoConverge; self.copyDisks = copyDisks
        self.sharedPools = sharedPools; self.stallSeconds = stallSeconds; self.downtimeSteps = downtimeSteps
    }
}

/// A disk to attach: a volume in a pool.
public struct DiskAttachment: Codable, Equatable, Sendable {
    /// The device key in the file (`data`), when the file declares it.
    public var key: String?
    /// The guest target to use (`vdb`), when it is known (re-attaching after a manual move).
    public var target: String?
    public var pool: String
    public var volume: String
    public var bus: String?
    public var readOnly: Bool

    /// A disk-attachment value.
    public init(key: String?, target: String?, pool: String, volume: String, bus: String?, readOnly: Bool) {
        self.key = key; self.target = target; self.pool = pool; self.volume = volume
        self.bus = bus; self.readOnly = readOnly
    }
}

/// A network interface to attach.
public struct NICAttachment: Codable, Equatable, Sendable {
    /// The device key in the file (`eth1`), when the file declares it.
    public var key: String?
    public var network: String?
    public var bridge: String?
    /// Kept across moves: the same MAC as before.
    public var mac: String?
    public var model: String?

    /// A NIC-attachment value.
    public init(key: String?, network: String?, bridge: String?, mac: String?, model: String?) {
        self.key = key; self.network = network; self.bridge = bridge; self.mac = mac; self.model = model
    }
}

/// One thing the executor does.
public enum Step: Equatable, Sendable {
    /// Save the domain's definition (XML, UUID, MACs, tags) from `host` to the state directory
    /// before anything changes, so that any later step can be finished or undone.
    case record(host: String)
    /// Clone a volume on its host under a backup name (`policy.backups`, manual moves). The
    /// plan gives the name's stem (`VOL.virtplace-backup`); the executor appends `-` and the
    /// id of the run that started the move, so that each move has backups of its own and a
    /// resumed move finds the ones it made.
    case backupVolume(host: String, pool: String, volume: String, backup: String)
    /// Graceful shutdown; after the timeout destroy when `forceOff`, else give up the action.
    case shutdown(host: String, timeoutSeconds: Int, forceOff: Bool)
    /// Live migration, persistent on the target, undefined on the source.
    case migrateLive(LiveMigration)
    /// Copy a volume's bytes from `from`'s pool to the same pool on `to` (created there).
    case transferVolume(pool: String, volume: String, from: String, to: String)
    /// Define on `host` the inactive definition recorded from `from` (same name, UUID, MACs).
    case defineOnTarget(host: String, from: String)
    /// Define on `host` a new domain with the identity recorded from `from` (name, UUID,
    /// vCPUs, memory, its first network interface with its MAC), booting from the given
    /// volume; the other disks and interfaces are attached by later steps.
    case recreate(host: String, from: String, bootPool: String, bootVolume: String)
    /// Undefine the domain on `host`, keeping its volumes (NVRAM flags by what it has).
    case undefineSource(host: String)
    /// Start the domain on `host`.
    case start(host: String)
    /// Set the vCPU count (raising the maximum first when needed).
    case setVcpus(host: String, count: Int, applies: Applies)
    /// Set the memory (raising the maximum first when needed).
    case setMemory(host: String, memoryMiB: Int, applies: Applies)
    case setAutostart(host: String, enabled: Bool)
    /// Replace the virtplace metadata element (`urn:virtplace:1`): fleet name and all tags.
    case setMetadata(host: String, fleet: String, tags: [String: String])
    case attachDisk(host: String, disk: DiskAttachment, applies: Applies)
    case attachNIC(host: String, nic: NICAttachment, applies: Applies)

    /// The operation name, the `op` of the JSON.
    public var op: String {
        switch self {
        case .record: "record"
        case .backupVolume: "backupVolume"
        case .shutdown: "shutdown"
        case .migrateLive: "migrateLive"
        case .transferVolume: "transferVolume"
        case .defineOnTarget: "defineOnTarget"
        case .recreate: "recreate"
        case .undefineSource: "undefineSource"
        case .start: "start"
        case .setVcpus: "setVcpus"
        case .setMemory: "setMemory"
        case .setAutostart: "setAutostart"
        case .setMetadata: "setMetadata"
        case .attachDisk: "attachDisk"
        case .attachNIC: "attachNIC"
        }
    }

    /// The hosts the step acts on.
    public var hosts: [String] {
        switch self {
        case .record(let h), .backupVolume(let h, _, _, _), .shutdown(let h, _, _),
             .undefineSource(let h), .start(let h),
             .setVcpus(let h, _, _), .setMemory(let h, _, _), .setAutostart(let h, _),
             .setMetadata(let h, _, _), .attachDisk(let h, _, _), .attachNIC(let h, _, _):
            [h]
        case .migrateLive(let m): [m.from, m.to]
        case .transferVolume(_, _, let f, let t): [f, t]
        case .defineOnTarget(let h, let f), .recreate(let h, let f, _, _): [f, h]
        }
    }

    /// A one-line description for people (`migrateLive host1 → host2, max downtime 300 ms`).
    public var summary: String {
        switch self {
        case .record(let h):
            return "record the definition on \(h)"
        case .backupVolume(let h, let p, let v, let b):
            return "back up \(p)/\(v) as \(b)-<run> on \(h)"
        case .shutdown(let h, let t, let force):
            return "shut down on \(h) (\(t) s, then \(force ? "force off" : "give up"))"
        case .migrateLive(let m):
            var s = "migrate live \(m.from) → \(m.to), max downtime \(m.maxDowntimeMs) ms"
            if m.bandwidthMiBps > 0 { s += ", \(m.bandwidthMiBps) MiB/s" }
            s += ", timeout \(m.timeoutSeconds) s then \(m.onTimeout.rawValue)"
            if m.autoConverge { s += ", auto-converge" }
            if !m.copyDisks.isEmpty { s += ", copying \(m.copyDisks.joined(separator: ", "))" }
            if !m.sharedPools.isEmpty { s += ", shared pools \(m.sharedPools.joined(separator: ", "))" }
            if let address = m.migrationAddress { s += ", stream to \(MigrationAddress.uri(address))" }
            if !m.transport.isPlain { s += ", \(m.transport.phrase)" }
            if let name = m.tlsDestination { s += " (certificate \(name))" }
            return s
        case .transferVolume(let p, let v, let f, let t):
            return "copy volume \(p)/\(v) \(f) → \(t)"
        case .defineOnTarget(let h, let f):
            return "define on \(h) as recorded on \(f)"
        case .recreate(let h, let f, let p, let v):
            return "recreate on \(h) from boot volume \(p)/\(v) with the identity and first NIC recorded on \(f)"
        case .undefineSource(let h):
            return "undefine on \(h) (volumes kept)"
        case .start(let h):
            return "start on \(h)"
        case .setVcpus(let h, let n, let a):
            return "set vCPUs to \(n) on \(h) (\(a.phrase))"
        case .setMemory(let h, let m, let a):
            return "set memory to \(m) MiB on \(h) (\(a.phrase))"
        case .setAutostart(let h, let on):
            return "\(on ? "enable" : "disable") autostart on \(h)"
        case .setMetadata(let h, let f, let tags):
            let t = tags.isEmpty ? "no tags" : tags.keys.sorted().map { "\($0)=\(tags[$0] ?? "")" }.joined(separator: ", ")
            return "set metadata on \(h): fleet \(f), \(t)"
        case .attachDisk(let h, let d, let a):
            return "attach disk \(d.pool)/\(d.volume)\(d.key.map { " as \($0)" } ?? "") on \(h) (\(a.phrase))"
        case .attachNIC(let h, let n, let a):
            let on = n.network.map { "network \($0)" } ?? n.bridge.map { "bridge \($0)" } ?? "no network"
            return "attach NIC \(n.mac ?? "(new MAC)") on \(on)\(n.key.map { " as \($0)" } ?? "") on \(h) (\(a.phrase))"
        }
    }
}

extension Applies {
    var phrase: String {
        switch self {
        case .live: "live"
        case .restart: "at next (re)start"
        }
    }
}

extension Step: Codable {
    private enum Key: String, CodingKey, CaseIterable {
        case op, host, from, to, pool, volume, backup, timeoutSeconds, forceOff
        case maxDowntimeMs, bandwidthMiBps, onTimeout, autoConverge, copyDisks, sharedPools, stallSeconds, downtimeSteps
        case migrationAddress, tls, parallelConnections, compression, compressionLevel, tlsDestination
        case bootPool, bootVolume, count, memoryMiB, applies, enabled, fleet, tags
        case key, target, bus, readOnly, network, bridge, mac, model
    }

    /// Decodes a step from its flat JSON object, every key its `op` writes required (optional
    /// ones may be null); an unknown `op` is a data-corrupted error.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: Key.self)
        let op = try c.decode(String.self, forKey: .op)
        func s(_ k: Key) throws -> String { try c.decode(String.self, forKey: k) }
        func o(_ k: Key) throws -> String? { try c.decodeNullable(String.self, forKey: k) }
        switch op {
        case "record": self = .record(host: try s(.host))
        case "backupVolume":
            self = .backupVolume(host: try s(.host), pool: try s(.pool), volume: try s(.volume), backup: try s(.backup))
        case "shutdown":
            self = .shutdown(host: try s(.host), timeoutSeconds: try c.decode(Int.self, forKey: .timeoutSeconds),
                             forceOff: try c.decode(Bool.self, forKey: .forceOff))
        case "migrateLive":
            var m = LiveMigration(
                from: try s(.from), to: try s(.to),
                maxDowntimeMs: try c.decode(Int.self, forKey: .maxDowntimeMs),
                bandwidthMiBps: try c.decode(Int.self, forKey: .bandwidthMiBps),
                timeoutSeconds: try c.decode(Int.self, forKey: .timeoutSeconds),
                onTimeout: try c.decode(LiveTimeoutAction.self, forKey: .onTimeout),
                autoConverge: try c.decode(Bool.self, forKey: .autoConverge),
                copyDisks: try c.decode([String].self, forKey: .copyDisks),
                sharedPools: try c.decode([String].self, forKey: .sharedPools),
                // Written only when not the default (and absent from plans saved before them).
                stallSeconds: try c.decodeIfPresent(Int.self, forKey: .stallSeconds) ?? LivePolicySpec().stallSeconds,
                downtimeSteps: try c.decodeIfPresent(Int.self, forKey: .downtimeSteps) ?? LivePolicySpec().downtimeSteps)
            // Written only when not the default: plans without them are plain migrations.
            m.migrationAddress = try c.decodeIfPresent(String.self, forKey: .migrationAddress)
            m.tlsDestination = try c.decodeIfPresent(String.self, forKey: .tlsDestination)
            m.transport = TransportSpec(
                tls: try c.decodeIfPresent(Bool.self, forKey: .tls) ?? false,
                parallelConnections: try c.decodeIfPresent(Int.self, forKey: .parallelConnections) ?? 1,
                compression: try c.decodeIfPresent(CompressionMethod.self, forKey: .compression) ?? .none,
                compressionLevel: try c.decodeIfPresent(Int.self, forKey: .compressionLevel))
            self = .migrateLive(m)
        case "transferVolume":
            self = .transferVolume(pool: try s(.pool), volume: try s(.volume), from: try s(.from), to: try s(.to))
        case "defineOnTarget": self = .defineOnTarget(host: try s(.host), from: try s(.from))
        case "recreate":
            self = .recreate(host: try s(.host), from: try s(.from), bootPool: try s(.bootPool), bootVolume: try s(.bootVolume))
        case "undefineSource": self = .undefineSource(host: try s(.host))
        case "start": self = .start(host: try s(.host))
        case "setVcpus":
            self = .setVcpus(host: try s(.host), count: try c.decode(Int.self, forKey: .count),
                             applies: try c.decode(Applies.self, forKey: .applies))
        case "setMemory":
            self = .setMemory(host: try s(.host), memoryMiB: try c.decode(Int.self, forKey: .memoryMiB),
                              applies: try c.decode(Applies.self, forKey: .applies))
        case "setAutostart": self = .setAutostart(host: try s(.host), enabled: try c.decode(Bool.self, forKey: .enabled))
        case "setMetadata":
            self = .setMetadata(host: try s(.host), fleet: try s(.fleet),
                                tags: try c.decode([String: String].self, forKey: .tags))
        case "attachDisk":
            self = .attachDisk(host: try s(.host), disk: DiskAttachment(
                key: try o(.key), target: try o(.target), pool: try s(.pool), volume: try s(.volume),
                bus: try o(.bus), readOnly: try c.decode(Bool.self, forKey: .readOnly)),
                applies: try c.decode(Applies.self, forKey: .applies))
        case "attachNIC":
            self = .attachNIC(host: try s(.host), nic: NICAttachment(
                key: try o(.key), network: try o(.network), bridge: try o(.bridge), mac: try o(.mac), model: try o(.model)),
                applies: try c.decode(Applies.self, forKey: .applies))
        default:
            throw DecodingError.dataCorruptedError(forKey: .op, in: c, debugDescription: "unknown step op '\(op)'")
        }
    }

    /// Encodes the step as one flat object with its `op`; optional fields are written as null.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: Key.self)
        try c.encode(op, forKey: .op)
        switch self {
        case .record(let h), .undefineSource(let h), .start(let h):
            try c.encode(h, forKey: .host)
        case .backupVolume(let h, let p, let v, let b):
            try c.encode(h, forKey: .host); try c.encode(p, forKey: .pool)
            try c.encode(v, forKey: .volume); try c.encode(b, forKey: .backup)
        case .shutdown(let h, let t, let f):
            try c.encode(h, forKey: .host); try c.encode(t, forKey: .timeoutSeconds); try c.encode(f, forKey: .forceOff)
        case .migrateLive(let m):
            try c.encode(m.from, forKey: .from); try c.encode(m.to, forKey: .to)
            try c.encode(m.maxDowntimeMs, forKey: .maxDowntimeMs); try c.encode(m.bandwidthMiBps, forKey: .bandwidthMiBps)
            try c.encode(m.timeoutSeconds, forKey: .timeoutSeconds); try c.encode(m.onTimeout, forKey: .onTimeout)
            try c.encode(m.autoConverge, forKey: .autoConverge); try c.encode(m.copyDisks, forKey: .copyDisks)
            try c.encode(m.sharedPools, forKey: .sharedPools)
            // The convergence ladder's settings, only when not the default (as the transport's).
            if m.stallSeconds != LivePolicySpec().stallSeconds { try c.encode(m.stallSeconds, forKey: .stallSeconds) }
            if m.downtimeSteps != LivePolicySpec().downtimeSteps { try c.encode(m.downtimeSteps, forKey: .downtimeSteps) }
            try c.encodeIfPresent(m.migrationAddress, forKey: .migrationAddress)
            try c.encodeIfPresent(m.tlsDestination, forKey: .tlsDestination)
            if m.transport.tls { try c.encode(true, forKey: .tls) }
            if m.transport.parallelConnections != 1 { try c.encode(m.transport.parallelConnections, forKey: .parallelConnections) }
            if m.transport.compression != .none { try c.encode(m.transport.compression, forKey: .compression) }
            try c.encodeIfPresent(m.transport.compressionLevel, forKey: .compressionLevel)
        case .transferVolume(let p, let v, let f, let t):
            try c.encode(p, forKey: .pool); try c.encode(v, forKey: .volume)
            try c.encode(f, forKey: .from); try c.encode(t, forKey: .to)
        case .defineOnTarget(let h, let f):
            try c.encode(h, forKey: .host); try c.encode(f, forKey: .from)
        case .recreate(let h, let f, let p, let v):
            try c.encode(h, forKey: .host); try c.encode(f, forKey: .from)
            try c.encode(p, forKey: .bootPool); try c.encode(v, forKey: .bootVolume)
        case .setVcpus(let h, let n, let a):
            try c.encode(h, forKey: .host); try c.encode(n, forKey: .count); try c.encode(a, forKey: .applies)
        case .setMemory(let h, let m, let a):
            try c.encode(h, forKey: .host); try c.encode(m, forKey: .memoryMiB); try c.encode(a, forKey: .applies)
        case .setAutostart(let h, let e):
            try c.encode(h, forKey: .host); try c.encode(e, forKey: .enabled)
        case .setMetadata(let h, let f, let t):
            try c.encode(h, forKey: .host); try c.encode(f, forKey: .fleet); try c.encode(t, forKey: .tags)
        case .attachDisk(let h, let d, let a):
            try c.encode(h, forKey: .host); try c.encode(d.key, forKey: .key); try c.encode(d.target, forKey: .target)
            try c.encode(d.pool, forKey: .pool); try c.encode(d.volume, forKey: .volume)
            try c.encode(d.bus, forKey: .bus); try c.encode(d.readOnly, forKey: .readOnly)
            try c.encode(a, forKey: .applies)
        case .attachNIC(let h, let n, let a):
            try c.encode(h, forKey: .host); try c.encode(n.key, forKey: .key)
            try c.encode(n.network, forKey: .network); try c.encode(n.bridge, forKey: .bridge)
            try c.encode(n.mac, forKey: .mac); try c.encode(n.model, forKey: .model)
            try c.encode(a, forKey: .applies)
        }
    }
}
