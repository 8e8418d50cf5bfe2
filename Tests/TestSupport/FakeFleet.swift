import Engine
import Foundation
import Placement
import Synchronization

/// An in-memory fleet for unit tests (the executor's, apply's, the CLI's), without libvirt: domains and volumes per host, the calls
/// made, and knobs for the failures a real fleet has (a migration that fails, hangs or loses
/// its reply; a guest that ignores shutdown; an unreachable host).
public final class FakeFleet: FleetDriver, Sendable {
    public struct FakeDomain: Sendable {
        public var uuid: String
        public var name: String
        public var state = "running"
        public var persistent = true
        public var autostart = false
        public var vcpus = 1
        public var maxVcpus = 1
        public var memoryMiB = 128
        public var maxMemoryMiB = 128
        /// Live figures when they differ from the definition.
        public var liveVcpus: Int?
        public var liveMemoryMiB: Int?
        public var disks: [ObservedDisk] = []
        public var liveDisks: [ObservedDisk]?
        public var nics: [ObservedNIC] = []
        public var liveNICs: [ObservedNIC]?
        public var fleet: String?
        public var tags: [String: String] = [:]
        public var liveFleet: String?
        public var liveTags: [String: String]?

        /// A domain; what is not given is a small running persistent guest.
        public init(uuid: String, name: String, state: String = "running", persistent: Bool = true, autostart: Bool = false,
                    vcpus: Int = 1, maxVcpus: Int = 1, memoryMiB: Int = 128, maxMemoryMiB: Int = 128,
                    liveVcpus: Int? = nil, liveMemoryMiB: Int? = nil, disks: [ObservedDisk] = [], liveDisks: [ObservedDisk]? = nil,
                    nics: [ObservedNIC] = [], liveNICs: [ObservedNIC]? = nil, fleet: String? = nil, tags: [String: String] = [:],
                    liveFleet: String? = nil, liveTags: [String: String]? = nil) {
            self.uuid = uuid; self.name = name; self.state = state; self.persistent = persistent; self.autostart = autostart
            self.vcpus = vcpus; self.maxVcpus = maxVcpus; self.memoryMiB = memoryMiB; self.maxMemoryMiB = maxMemoryMiB
            self.liveVcpus = liveVcpus; self.liveMemoryMiB = liveMemoryMiB; self.disks = disks; self.liveDisks = liveDisks
            self.nics = nics; self.liveNICs = liveNICs; self.fleet = fleet; self.tags = tags
            self.liveFleet = liveFleet; self.liveTags = liveTags
        }
    }

    public struct FakeVolume: Sendable, Equatable {
        public var capacity: UInt64
        public var content: String
        public var format: String? = "raw"

        /// A volume of `capacity` bytes whose content is `content` (a stand-in for its bytes).
        public init(capacity: UInt64, content: String, format: String? = "raw") {
            self.capacity = capacity; self.content = content; self.format = format
        }
    }

    public enum MigrationBehaviour: Sendable {
        case succeed
        /// The call fails with this error, the domain staying on its source.
        case fail(DriverError)
        /// The domain moves, but the call reports an error (a lost Finish reply).
        case lostReply
        /// Runs until aborted (or switched to post-copy, then completes).
        case hang
    }

    /// What `jobProgress` reports during one migration attempt, reading by reading, for the
    /// convergence controller. After the last reading the migration completes (`completes`),
    /// or goes on reporting the last reading until it is aborted or switched to post-copy.
    public struct JobScript: Sendable {
        public var readings: [MigrationJob]
        public var completes: Bool
        /// A script of readings.
        public init(_ readings: [MigrationJob], completes: Bool) { self.readings = readings; self.completes = completes }
    }

    public struct Knobs: Sendable {
        /// How long a migration takes (a simulated duration; tests that depend on an order or
        /// an overlap use `gates` and `rendezvous` instead, which are explicit signals).
        public var migrationTime: Duration = .milliseconds(50)
        /// Per UUID: the migration finishes when the test opens this signal, not after a time.
        public var gates: [String: Signal] = [:]
        /// When above 1: each migration waits until this many are running at once (then all of
        /// them go on), so an overlap the limits allow is certain, not a matter of timing.
        public var rendezvous = 0
        /// Per UUID, overriding `migrationTime`.
        public var migrationTimes: [String: Duration] = [:]
        public var migration: [String: MigrationBehaviour] = [:]
        public var ignoresShutdown: Set<String> = []
        public var unreachable: Set<String> = []
        /// Volume copies that arrive damaged.
        public var corruptCopies = false
        /// Volume copies that fail half-way (the target pool fills up): part of the bytes
        /// written, then an error.
        public var failCopies = false
        /// What each host offers, as observation reports it.
        public var capacityMiB = 65536
        /// Domains that refuse to start.
        public var failStart: Set<String> = []
        /// Hosts that refuse to start anything.
        public var failStartOn: Set<String> = []
        /// Hosts that refuse a domain definition (`define`; `recreate` is not refused).
        public var failDefineOn: Set<String> = []
        /// What observation reports as each host's fault domain.
        public var faultDomains: [String: String] = [:]
        /// Per UUID, one script per migration attempt (the first `migrate` call plays the
        /// first): a scripted migration runs until its script completes it, an abort or a
        /// post-copy switch ends it. Overrides `migration` for that UUID.
        public var jobScripts: [String: [JobScript]] = [:]

        /// No failures, migrations of 50 ms.
        public init() {}
    }

    public struct State: Sendable {
        public var hosts: [String: [String: FakeDomain]] = [:]
        public var volumes: [String: [String: FakeVolume]] = [:]
        public var knobs = Knobs()
        /// Mutating calls, as `op host uuid-or-volume`.
        public var calls: [String] = []
        public var aborted: Set<String> = []
        /// Definitions handed out by `definition`, by UUID, so that `define` brings them back
        /// (the fake's "XML" is only a reference).
        public var recorded: [String: FakeDomain] = [:]
        public var postcopy: Set<String> = []
        /// The last migration request, by UUID.
        public var requests: [String: MigrationRequest] = [:]
        /// Signals that end a `.hang` migration, by UUID: opened by an abort or post-copy.
        public var hangs: [String: Signal] = [:]
        /// Migrations waiting at the rendezvous.
        public var meeting: [Signal] = []
        /// Scripted migrations: the attempt running (1-based) and the next reading, by UUID;
        /// how each attempt ended (`completed`, `abortJob`, `startPostCopy`).
        public var attempt: [String: Int] = [:]
        public var reading: [String: Int] = [:]
        public var attemptEnds: [String: [String]] = [:]
        /// Opened when a scripted attempt begins: a reading asked for between attempts waits
        /// for it (so the n-th reading of an attempt is its n-th, whatever the task order).
        public var begins: [String: Signal] = [:]
        /// Every `setMaxDowntime` value, in order, by UUID; every request's auto-converge flag.
        public var downtimes: [String: [UInt64]] = [:]
        public var autoConverge: [String: [Bool]] = [:]
        /// Moves running now per host, and the most seen at once.
        public var moving: [String: Int] = [:]
        public var maxMoving: [String: Int] = [:]
        public var movingTotal = 0
        public var maxMovingTotal = 0
        /// Memory of migrations arriving on each host now, by UUID.
        public var incoming: [String: [String: Int]] = [:]
        /// The most memory each host held at once: its defined domains plus arriving ones.
        public var maxUsage: [String: Int] = [:]

        /// An empty fleet.
        public init() {}
    }

    /// Memory the host holds now; remembered when it is the most so far.
    private static func noteUsage(_ host: String, _ s: inout State) {
        let defined = (s.hosts[host] ?? [:]).values.reduce(0) { $0 + max($1.memoryMiB, $1.liveMemoryMiB ?? 0) }
        let arriving = (s.incoming[host] ?? [:]).values.reduce(0, +)
        s.maxUsage[host] = max(s.maxUsage[host] ?? 0, defined + arriving)
    }

    public let state: Mutex<State>
    /// The UUIDs whose `migrate` call is running: their migration job, for `jobProgress`.
    private let runningJobs = Mutex<Set<String>>([])

    /// A fleet of these hosts, none holding anything yet.
    public init(hosts: [String]) {
        var s = State()
        for h in hosts { s.hosts[h] = [:]; s.volumes[h] = [:] }
        state = Mutex(s)
    }

    // MARK: Set-up and inspection

    public func add(_ domain: FakeDomain, on host: String) { state.withLock { $0.hosts[host]?[domain.uuid] = domain } }
    public func addVolume(_ pool: String, _ name: String, _ volume: FakeVolume, on host: String) {
        state.withLock { $0.volumes[host]?["\(pool)/\(name)"] = volume }
    }
    /// Takes a volume away from a host behind the executor's back (storage that went missing).
    public func removeVolume(_ pool: String, _ name: String, on host: String) {
        _ = state.withLock { $0.volumes[host]?.removeValue(forKey: "\(pool)/\(name)") }
    }
    public func set(_ change: (inout Knobs) -> Void) { state.withLock { change(&$0.knobs) } }
    /// Takes a domain away from a host behind the executor's back (an operator's virsh).
    public func remove(_ uuid: String, from host: String) { _ = state.withLock { $0.hosts[host]?.removeValue(forKey: uuid) } }
    public func domain(_ uuid: String, _ host: String) -> FakeDomain? { state.withLock { $0.hosts[host]?[uuid] } }
    public func volume(_ pool: String, _ name: String, _ host: String) -> FakeVolume? { state.withLock { $0.volumes[host]?["\(pool)/\(name)"] } }
    public var calls: [String] { state.withLock { $0.calls } }
    public var maxMovingPerHost: [String: Int] { state.withLock { $0.maxMoving } }
    public var maxMovingTotal: Int { state.withLock { $0.maxMovingTotal } }
    public var maxUsage: [String: Int] { state.withLock { $0.maxUsage } }

    /// The fleet as observation would report it; `faultDomains` overrides the knob's.
    public func observed(faultDomains: [String: String]? = nil) -> ObservedFleet {
        state.withLock { s in
            let faultDomains = faultDomains ?? s.knobs.faultDomains
            return
ObservedFleet(hosts: s.hosts.keys.sorted().map { name in
                let domains = (s.hosts[name] ?? [:]).values.sorted { $0.name < $1.name }.map { Self.observed($0, live: false) }
                let pools = Dictionary(grouping: (s.volumes[name] ?? [:]).keys.sorted()) { String($0.split(separator: "/")[0]) }
                return ObservedHost(
                    name: name, uri: "fake://\(name)", reachable: !s.knobs.unreachable.contains(name),
                    faultDomain: faultDomains[name], capacity: ObservedCapacity(vcpus: 64, memoryMiB: s.knobs.capacityMiB),
                    pools: ["shared", "local"].map { pool in
                        ObservedPool(name: pool, type: "dir", path: "/\(pool)", active: true, volumes: (pools[pool] ?? []).map { key in
                            let v = s.volumes[name]?[key]
                            let volume = String(key.split(separator: "/")[1])
                            return ObservedVolume(name: volume, path: "/\(pool)/\(volume)", capacityBytes: Int64(v?.capacity ?? 0),
                                                  allocationBytes: 0, format: v?.format)
                        })
                    },
                    networks: [ObservedNetwork(name: "lan", active: true, bridge: "br0")],
                    domains: domains)
            })
        }
    }

    public static func observed(_ d: FakeDomain, live: Bool) -> ObservedDomain {
        ObservedDomain(
            name: d.name, uuid: d.uuid, state: d.state, persistent: d.persistent, autostart: d.autostart,
            vcpus: live ? (d.liveVcpus ?? d.vcpus) : d.vcpus, maxVcpus: d.maxVcpus,
            memoryMiB: live ? (d.liveMemoryMiB ?? d.memoryMiB) : d.memoryMiB, maxMemoryMiB: d.maxMemoryMiB,
            disks: live ? (d.liveDisks ?? d.disks) : d.disks, nics: live ? (d.liveNICs ?? d.nics) : d.nics,
            fleet: live ? (d.liveFleet ?? d.fleet) : d.fleet, tags: live ? (d.liveTags ?? d.tags) : d.tags,
            xmlDigest: "digest-\(d.uuid)")
    }

    // MARK: FleetDriver

    private func reachable(_ host: String) throws {
        let down = state.withLock { $0.knobs.unreachable.contains(host) || $0.hosts[host] == nil }
        if down { throw DriverError.unreachable(host: host, reason: "connection refused") }
    }

    private func mutate<T>(_ op: String, _ host: String, _ what: String, _ body: (inout State) throws -> T) throws -> T {
        try reachable(host)
        return try state.withLock { s in
            s.calls.append("\(op) \(host) \(what)")
            return try body(&s)
        }
    }

    private func withDomain(_ op: String, _ host: String, _ uuid: String, _ body: (inout FakeDomain) throws -> Void) throws {
        try mutate(op, host, uuid) { s in
            guard var d = s.hosts[host]?[uuid] else { throw DriverError.noDomain(uuid: uuid, host: host) }
            try body(&d)
            s.hosts[host]?[uuid] = d
        }
    }

    public func connect(_ host: String) async throws { try reachable(host) }

    /// Always up: the fake's connections do not drop during a migration.
    public func isAlive(_ host: String) async -> Bool { true }

    /// `observed()`, as the executor's observation would give it.
    public func observe(refreshingPools: Bool) async -> ObservedFleet { observed() }

    /// The fake does not model networks: every one is there.
    public func hasNetwork(_ name: String, on host: String) async throws -> Bool { true }

    public func domain(uuid: String, on host: String) async throws -> DomainFacts? {
        try reachable(host)
        guard let d = state.withLock({ $0.hosts[host]?[uuid] }) else { return nil }
        return DomainFacts(state: d.state, persistent: d.persistent, autostart: d.autostart,
                           config: Self.observed(d, live: false), live: d.state == "shutoff" ? nil : Self.observed(d, live: true))
    }

    public func definition(uuid: String, on host: String) async throws -> String {
        try reachable(host)
        let found = state.withLock { s -> Bool in
            guard let d = s.hosts[host]?[uuid] else { return false }
            s.recorded[uuid] = d
            return true
        }
        guard found else { throw DriverError.noDomain(uuid: uuid, host: host) }
        return "fake:\(host):\(uuid)"
    }

    public func define(xml: String, on host: String) async throws {
        if state.withLock({ $0.knobs.failDefineOn.contains(host) }) {
            throw DriverError.failed(.configUnsupported, message: "unsupported configuration: the target refuses the definition")
        }
        try defineAny(xml: xml, on: host)
    }

    /// `define` without the `failDefineOn` knob (what `recreate` does: a new definition).
    private func defineAny(xml: String, on host: String) throws {
        let parts = xml.split(separator: ":").map(String.init)
        guard parts.count == 3, let original = state.withLock({ $0.recorded[parts[2]] }) else {
            throw DriverError.failed(.badDefinition, message: "not a fake definition")
        }
        try mutate("define", host, parts[2]) { s in
            var d = s.hosts[host]?[parts[2]] ?? original
            d.persistent = true
            if s.hosts[host]?[parts[2]] == nil { d.state = "shutoff"; d.liveVcpus = nil; d.liveMemoryMiB = nil }
            s.hosts[host]?[parts[2]] = d
            Self.noteUsage(host, &s)
        }
    }

    /// The fake has no snapshot metadata: `droppingSnapshotMetadata` changes nothing.
    public func undefine(uuid: String, on host: String, droppingSnapshotMetadata: Bool) async throws {
        try mutate("undefine", host, uuid) { s in
            guard let d = s.hosts[host]?[uuid] else { throw DriverError.noDomain(uuid: uuid, host: host) }
            if d.state == "shutoff" { s.hosts[host]?[uuid] = nil } else { s.hosts[host]?[uuid]?.persistent = false }
        }
    }

    /// The fake keeps no snapshots.
    public func snapshotDefinitions(uuid: String, on host: String) async throws -> [SnapshotDefinition] {
        try reachable(host)
        return []
    }

    public func start(uuid: String, on host: String) async throws {
        if state.withLock({ $0.knobs.failStart.contains(uuid) || $0.knobs.failStartOn.contains(host) }) {
            throw DriverError.failed(.other, message: "could not start: no room for the guest's memory")
        }
        try withDomain("start", host, uuid) { d in
            guard d.state == "shutoff" else { throw DriverError.failed(.other, message: "already running") }
            d.state = "running"; d.liveVcpus = nil; d.liveMemoryMiB = nil; d.liveDisks = nil; d.liveNICs = nil
        }
    }

    public func requestShutdown(uuid: String, on host: String) async throws {
        let ignores = state.withLock { $0.knobs.ignoresShutdown.contains(uuid) }
        try withDomain("shutdown", host, uuid) { d in if !ignores { d.state = "shutoff" } }
    }

    public func destroy(uuid: String, on host: String) async throws {
        try withDomain("destroy", host, uuid) { d in d.state = "shutoff" }
    }

    public func setVcpus(uuid: String, on host: String, count: Int, scope: DefinitionScope, maximum: Bool) async throws {
        try withDomain("setVcpus", host, uuid) { d in
            if maximum { d.maxVcpus = count; return }
            if scope.contains(.config) { guard count <= d.maxVcpus else { throw DriverError.failed(.other, message: "above max") }; d.vcpus = count }
            if scope.contains(.live) { d.liveVcpus = count }
        }
    }

    public func setMemory(uuid: String, on host: String, mebibytes: Int, scope: DefinitionScope, maximum: Bool) async throws {
        try withDomain("setMemory", host, uuid) { d in
            if maximum { d.maxMemoryMiB = mebibytes; return }
            if scope.contains(.config) { d.memoryMiB = mebibytes }
            if scope.contains(.live) { d.liveMemoryMiB = mebibytes }
        }
    }

    public func setAutostart(uuid: String, on host: String, enabled: Bool) async throws {
        try withDomain("setAutostart", host, uuid) { d in d.autostart = enabled }
    }

    public func setMetadata(uuid: String, on host: String, fleet: String, tags: [String: String], scope: DefinitionScope) async throws {
        try withDomain("setMetadata", host, uuid) { d in
            if scope.contains(.config) { d.fleet = fleet; d.tags = tags }
            if scope.contains(.live) { d.liveFleet = fleet; d.liveTags = tags }
        }
    }

    public func attachDisk(uuid: String, on host: String, disk: DiskAttachment, target: String, format: String?,
                    scope: DefinitionScope) async throws {
        try withDomain("attachDisk", host, uuid) { d in
            let new = ObservedDisk(target: target, sourceType: "volume", path: "/\(disk.pool)/\(disk.volume)", pool: disk.pool, volume: disk.volume)
            if scope.contains(.live) { d.liveDisks = (d.liveDisks ?? d.disks) + [new] }
            if scope.contains(.config) { d.disks.append(new) }
        }
    }

    public func attachNIC(uuid: String, on host: String, nic: NICAttachment, scope: DefinitionScope) async throws {
        try withDomain("attachNIC", host, uuid) { d in
            let new = ObservedNIC(type: "network", mac: nic.mac, network: nic.network)
            if scope.contains(.live) { d.liveNICs = (d.liveNICs ?? d.nics) + [new] }
            if scope.contains(.config) { d.nics.append(new) }
        }
    }

    public func recreate(recordedXML: String, on host: String, boot: DiskAttachment, target: String, format: String?) async throws {
        try defineAny(xml: recordedXML, on: host)
    }

    /// A fake definition (`fake:HOST:UUID`) reads as the domain recorded from it.
    public func readDefinition(_ xml: String) throws -> ObservedDomain {
        let parts = xml.split(separator: ":").map(String.init)
        guard parts.count == 3, let original = state.withLock({ $0.recorded[parts[2]] }) else {
            throw DriverError.failed(.badDefinition, message: "not a fake definition")
        }
        return Self.observed(original, live: false)
    }

    public func readRecreated(recordedXML: String, boot: DiskAttachment, target: String, format: String?) throws -> ObservedDomain {
        try readDefinition(recordedXML)
    }

    public func volume(pool: String, name: String, on host: String) async throws -> VolumeFacts? {
        try reachable(host)
        return state.withLock { s in
            s.volumes[host]?["\(pool)/\(name)"].map { VolumeFacts(name: name, path: "/\(pool)/\(name)", capacityBytes: $0.capacity, format: $0.format) }
        }
    }

    public func refreshPool(_ pool: String, on host: String) async throws { try reachable(host) }

    public func createVolume(pool: String, name: String, capacityBytes: UInt64, format: String?, on host: String) async throws {
        try mutate("createVolume", host, "\(pool)/\(name)") { s in
            guard s.volumes[host]?["\(pool)/\(name)"] == nil else { throw DriverError.failed(.other, message: "exists") }
            s.volumes[host]?["\(pool)/\(name)"] = FakeVolume(capacity: capacityBytes, content: "", format: format)
        }
    }

    public func deleteVolume(pool: String, name: String, on host: String) async throws {
        try mutate("deleteVolume", host, "\(pool)/\(name)") { s in
            guard s.volumes[host]?["\(pool)/\(name)"] != nil else { throw DriverError.noVolume(pool: pool, volume: name, host: host) }
            s.volumes[host]?["\(pool)/\(name)"] = nil
        }
    }

    public func cloneVolume(pool: String, name: String, as clone: String, on host: String) async throws {
        try mutate("cloneVolume", host, "\(pool)/\(name)") { s in
            guard let v = s.volumes[host]?["\(pool)/\(name)"] else { throw DriverError.noVolume(pool: pool, volume: name, host: host) }
            s.volumes[host]?["\(pool)/\(clone)"] = v
        }
    }

    public func copyVolume(pool: String, name: String, from: String, to: String,
                    progress: @escaping @Sendable (TransferProgress) -> Void) async throws -> TransferProgress {
        try reachable(from)
        let key = "\(pool)/\(name)"
        let (corrupt, fail) = state.withLock { ($0.knobs.corruptCopies, $0.knobs.failCopies) }
        let source = try mutate("copyVolume", to, key) { s -> FakeVolume in
            guard let v = s.volumes[from]?[key], s.volumes[to]?[key] != nil else { throw DriverError.noVolume(pool: pool, volume: name, host: to) }
            if fail {
                s.volumes[to]?[key]?.content = String(v.content.prefix(v.content.count / 2))
                throw DriverError.failed(.other, message: "cannot write data: No space left on device")
            }
            s.volumes[to]?[key]?.content = corrupt ? v.content + "!" : v.content
            return v
        }
        return TransferProgress(bytesCovered: source.capacity, dataBytes: source.capacity, totalBytes: source.capacity,
                                elapsed: .milliseconds(1), sha256: SHA256.hex(source.content))
    }

    public func checksum(pool: String, name: String, on host: String) async throws -> VolumeChecksum {
        try reachable(host)
        guard let v = state.withLock({ $0.volumes[host]?["\(pool)/\(name)"] }) else {
            throw DriverError.noVolume(pool: pool, volume: name, host: host)
        }
        return VolumeChecksum(bytes: v.capacity, sha256: SHA256.hex(v.content))
    }

    /// Records the request, so that tests can check what was asked.
    public func migrate(uuid: String, from: String, to: String, request: MigrationRequest) async throws {
        // A job exists while the call runs (`jobProgress`); after a crash nothing of it is left.
        runningJobs.withLock { _ = $0.insert(uuid) }
        defer { runningJobs.withLock { _ = $0.remove(uuid) } }
        try reachable(to)
        let (behaviour, time) = try mutate("migrate", from, uuid) { s -> (MigrationBehaviour, Duration) in
            for h in [from, to] { s.moving[h, default: 0] += 1; s.maxMoving[h] = max(s.maxMoving[h] ?? 0, s.moving[h] ?? 0) }
            s.movingTotal += 1
            s.maxMovingTotal = max(s.maxMovingTotal, s.movingTotal)
            // During a live migration the guest holds memory on both hosts.
            if let d = s.hosts[from]?[uuid] { s.incoming[to, default: [:]][uuid] = max(d.memoryMiB, d.liveMemoryMiB ?? 0) }
            Self.noteUsage(to, &s)
            s.requests[uuid] = request
            s.autoConverge[uuid, default: []].append(request.autoConverge)
            if s.knobs.jobScripts[uuid] != nil {
                s.attempt[uuid, default: 0] += 1
                s.reading[uuid] = 0
                s.hangs[uuid] = Signal()
                let began = s.begins[uuid, default: Signal()]
                s.begins[uuid] = Signal()
                began.open()
            }
            return (s.knobs.migration[uuid] ?? .succeed, s.knobs.migrationTimes[uuid] ?? s.knobs.migrationTime)
        }
        defer {
            state.withLock { s in
                for h in [from, to] { s.moving[h, default: 0] -= 1 }
                s.movingTotal -= 1
                s.incoming[to]?[uuid] = nil
            }
        }
        func move() {
            state.withLock { s in
                guard var d = s.hosts[from]?[uuid] else { return }
                s.hosts[from]?[uuid] = nil
                d.persistent = true
                s.hosts[to]?[uuid] = d
                s.incoming[to]?[uuid] = nil
                Self.noteUsage(to, &s)
            }
        }
        // An explicit signal where the test asked for one; else the simulated duration.
        let (gate, meeting) = state.withLock { s -> (Signal?, Signal?) in
            let gate = s.knobs.gates[uuid]
            guard s.knobs.rendezvous > 1 else { return (gate, nil) }
            if s.meeting.count + 1 >= s.knobs.rendezvous {
                for waiting in s.meeting { waiting.open() }
                s.meeting = []
                return (gate, nil)
            }
            let mine = Signal()
            s.meeting.append(mine)
            return (gate, mine)
        }
        if let meeting { await meeting.wait() }
        if let signal = state.withLock({ $0.knobs.jobScripts[uuid] != nil ? $0.hangs[uuid] : nil }) {
            // Scripted: until the script completes it, or an abort or post-copy ends it (the
            // deadline only ends a test whose executor never does).
            await signal.wait(deadline: .seconds(60))
            let end = state.withLock { $0.attemptEnds[uuid]?.last }
            switch end {
            case "completed", "startPostCopy": move(); return
            case "abortJob": throw DriverError.failed(.aborted, message: "operation aborted: job 'migration out' canceled by client")
            default: throw DriverError.failed(.timedOut, message: "the fake scripted migration was never ended")
            }
        }
        func elapse() async throws {
            if let gate { await gate.wait() } else if meeting == nil && state.withLock({ $0.knobs.rendezvous }) <= 1 { try await Task.sleep(for: time) }
        }
        switch behaviour {
        case .succeed:
            try await elapse()
            move()
        case .fail(let error):
            try await elapse()
            throw error
        case .lostReply:
            try await elapse()
            move()
            throw DriverError.failed(.connection, message: "connection lost before the Finish reply")
        case .hang:
            // Until the executor aborts the job or switches it to post-copy (each opens the
            // signal); the deadline only ends a test whose executor never does.
            let ended = state.withLock { s in s.hangs[uuid, default: Signal()] }
            state.withLock { $0.hangs[uuid] = ended }
            await ended.wait(deadline: .seconds(60))
            let (aborted, postcopy) = state.withLock { ($0.aborted.contains(uuid), $0.postcopy.contains(uuid)) }
            if postcopy { move(); return }
            if aborted { throw DriverError.failed(.aborted, message: "operation aborted: job 'migration out' canceled by client") }
            throw DriverError.failed(.timedOut, message: "the fake migration hung for 60 s: nothing aborted it")
        }
    }

    public func jobProgress(uuid: String, on host: String) async throws -> MigrationJob? {
        while true {
            let (job, completed, next) = state.withLock { s -> (MigrationJob?, Signal?, Signal?) in
                guard let scripts = s.knobs.jobScripts[uuid] else {
                    guard runningJobs.withLock({ $0.contains(uuid) }) else { return (nil, nil, nil) }
                    return (MigrationJob(memoryTotal: 128 << 20, memoryProcessed: 64 << 20, memoryBps: 100 << 20), nil, nil)
                }
                // Between attempts (or before the first): wait for the next one to begin.
                let attempt = s.attempt[uuid] ?? 0
                guard attempt >= 1, (s.attemptEnds[uuid]?.count ?? 0) < attempt else {
                    let next = s.begins[uuid, default: Signal()]
                    s.begins[uuid] = next
                    return (nil, nil, next)
                }
                guard attempt <= scripts.count, !scripts[attempt - 1].readings.isEmpty else { return (nil, nil, nil) }
                let script = scripts[attempt - 1]
                let i = s.reading[uuid] ?? 0
                s.reading[uuid] = i + 1
                let job = script.readings[min(i, script.readings.count - 1)]
                if script.completes && i + 1 >= script.readings.count {
                    s.attemptEnds[uuid, default: []].append("completed")
                    return (job, s.hangs[uuid], nil)
                }
                return (job, nil, nil)
            }
            if let next {
                // Ended by the watchdog's cancellation when no attempt follows (the wait ends at
                // a cancellation, and at its deadline in any case).
                await next.wait(deadline: .seconds(60))
                if Task.isCancelled || !next.isOpen || next.timedOut { return nil }
                continue
            }
            completed?.open()
            return job
        }
    }

    public func completedJob(uuid: String, on host: String) async throws -> MigrationJob? {
        MigrationJob(timeElapsedMs: 900, downtimeMs: 42)
    }

    public func abortJob(uuid: String, on host: String, postcopy: Bool) async throws {
        try endHang("abortJob", host, uuid) { $0.aborted.insert(uuid) }
    }

    public func startPostCopy(uuid: String, on host: String) async throws {
        try endHang("startPostCopy", host, uuid) { $0.postcopy.insert(uuid) }
    }

    /// Records the call and what it did, then ends a `.hang` migration of the domain.
    private func endHang(_ op: String, _ host: String, _ uuid: String, _ mark: (inout State) -> Void) throws {
        let ended = try mutate(op, host, uuid) { s -> Signal in
            mark(&s)
            if s.knobs.jobScripts[uuid] != nil, (s.attemptEnds[uuid]?.count ?? 0) < (s.attempt[uuid] ?? 0) {
                s.attemptEnds[uuid, default: []].append(op)
            }
            let signal = s.hangs[uuid, default: Signal()]
            s.hangs[uuid] = signal
            return signal
        }
        ended.open()
    }

    public func setMaxDowntime(uuid: String, on host: String, milliseconds: UInt64) async throws {
        try mutate("setMaxDowntime", host, uuid) { $0.downtimes[uuid, default: []].append(milliseconds) }
    }
}


/// A one-shot signal between a test and the fake: `wait()` returns once `open()` was called.
/// A deadline ends the wait of a test whose code never signals (it then fails on what it
/// checks, rather than hanging); `timedOut` says it happened.
public final class Signal: Sendable {
    private struct State {
        var open = false
        var timedOut = false
        var waiters: [Int: CheckedContinuation<Void, Never>] = [:]
        var nextWaiter = 0
        /// Waiters whose task was cancelled before they were registered.
        var gone: Set<Int> = []
    }
    private let state = Mutex(State())

    public init() {}

    public var isOpen: Bool { state.withLock { $0.open } }
    public var timedOut: Bool { state.withLock { $0.timedOut } }

    public func open() { release(timedOut: false) }

    private func release(timedOut: Bool) {
        let waiters = state.withLock { s -> [CheckedContinuation<Void, Never>] in
            guard !s.open else { return [] }
            s.open = true
            s.timedOut = timedOut
            s.gone = []
            defer { s.waiters = [:] }
            return Array(s.waiters.values)
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Waits until the signal opens, the deadline passes (then it opens for every waiter,
    /// `timedOut` set) or the waiting task is cancelled (then this wait alone ends, the signal
    /// still closed): no wait outlives its task or its deadline.
    public func wait(deadline: Duration = .seconds(10)) async {
        let id = state.withLock { s -> Int in s.nextWaiter += 1; return s.nextWaiter }
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                    let now = self.state.withLock { s -> Bool in
                        if s.open || s.gone.remove(id) != nil { return true }
                        s.waiters[id] = c
                        return false
                    }
                    if now { c.resume() }
                }
            }
            group.addTask {
                // Not synchronisation: only the end of a wait that nothing will end.
                if (try? await Task.sleep(for: deadline)) != nil { self.release(timedOut: true) } else { self.leave(id) }
            }
            await group.next()
            group.cancelAll()
        }
    }

    /// Ends one wait whose task was cancelled (or whose signal opened: then nothing to do).
    private func leave(_ id: Int) {
        let waiter = state.withLock { s -> CheckedContinuation<Void, Never>? in
            if let c = s.waiters.removeValue(forKey: id) { return c }
            if !s.open { s.gone.insert(id) }
            return nil
        }
        waiter?.resume()
    }
}

/// A clock for the live-migration watchdog in unit tests: each `sleep` moves its time on by
/// the duration at once (and lets other tasks run), so that the n-th reading of a scripted job
/// is taken at exactly n poll intervals, whatever the machine's speed.
public final class SteppingClock: PollClock {
    private let seconds = Mutex(0.0)
    public init() {}
    public func now() -> Double { seconds.withLock { $0 } }
    public func sleep(for duration: Duration) async throws {
        try Task.checkCancellation()
        seconds.withLock { $0 += duration.seconds }
        await Task.yield()
        try Task.checkCancellation()
    }
}

extension Duration {
    /// The duration in seconds.
    fileprivate var seconds: Double {
        let (s, a) = components
        return Double(s) + Double(a) / 1e18
    }
}
