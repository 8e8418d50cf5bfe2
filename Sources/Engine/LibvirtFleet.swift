import Foundation
import Libvirt
import Placement

/// The real `FleetDriver`: libvirt's C API, one connection per host, opened on first use and
/// reused by every later step (and by the observations apply makes before running). The only
/// Engine file that speaks libvirt's types: every value and error crosses into the Engine's
/// here (`DriverError.failed` carries a `HostFailure` kind mapped from libvirt's code). Short calls
/// run on the connection's own serial queue; calls that block for the length of a transfer
/// (migration, volume copy, checksum) on a thread of their own, so that job-stats polling on
/// the same connection is never stuck behind them. Nothing here runs on Swift's cooperative
/// pool.
public final class LibvirtFleet: FleetDriver {
    private let targets: [String: ObserveTarget]
    private let cache: ConnectionCache

    /// A fleet of these hosts; nothing is opened yet.
    public init(targets: [ObserveTarget], connectTimeout: Duration = .seconds(15)) {
        self.targets = Dictionary(targets.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        self.cache = ConnectionCache(timeout: connectTimeout)
    }

    /// Observes every host over this fleet's connections (opening them as needed), pools
    /// refreshed first when asked.
    public func observe(refreshingPools: Bool) async -> ObservedFleet {
        await observe(observer: Observer(refreshPools: refreshingPools))
    }

    /// Observes every host over this fleet's connections (opening them as needed).
    public func observe(observer: Observer = Observer()) async -> ObservedFleet {
        let cache = self.cache
        return await observer.observe(targets.values.sorted { $0.name < $1.name }) { target in
            try await cache.connection(for: target)
        }
    }

    /// The open connection to `host`.
    /// - Throws: `DriverError.unknownHost`, `.unreachable`.
    public func connection(_ host: String) async throws -> Connection {
        guard let target = targets[host] else { throw DriverError.unknownHost(host) }
        do {
            return try await cache.connection(for: target)
        } catch let error as LibvirtError {
            throw DriverError.unreachable(host: host, reason: error.message)
        }
    }

    /// Opens the host's connection once (later calls reuse it); `.unreachable` when it fails.
    public func connect(_ host: String) async throws {
        _ = try await connection(host)
    }

    /// `virConnectIsAlive` of the connection opened for `host`; false when none was opened.
    public func isAlive(_ host: String) async -> Bool {
        await cache.existing(host)?.isAlive ?? false
    }

    /// Runs a short blocking call on `host`'s connection queue; libvirt's errors come out as
    /// the Engine's.
    private func on<T: Sendable>(_ host: String, _ body: @escaping @Sendable (Connection) throws -> T) async throws -> T {
        let connection = try await connection(host)
        return try await mappingErrors { try await connection.run(body) }
    }

    /// Runs a call that blocks for the length of a transfer on a thread of its own (on `host`'s
    /// connection); libvirt's errors come out as the Engine's.
    private func dedicated<T: Sendable>(_ host: String, _ body: @escaping @Sendable (Connection) throws -> T) async throws -> T {
        let connection = try await connection(host)
        return try await mappingErrors { try await connection.runDedicated(body) }
    }

    // MARK: Domains

    /// The domain's state and definitions (inactive and live), its file disks resolved to pool volumes.
    public func domain(uuid: String, on host: String) async throws -> DomainFacts? {
        try await on(host) { connection in
            guard let domain = try lookup(uuid, on: connection) else { return nil }
            return try facts(of: domain, on: connection)
        }
    }

    /// The inactive definition with secure data (`VIR_DOMAIN_XML_INACTIVE | SECURE`).
    public func definition(uuid: String, on host: String) async throws -> String {
        try await on(host) { connection in
            try require(uuid, on: connection, host: host).xml(flags: [.inactive, .secure])
        }
    }

    /// `virDomainDefineXMLFlags`.
    public func define(xml: String, on host: String) async throws {
        try await on(host) { connection in _ = try connection.defineDomain(xml: xml) }
    }

    /// Undefines keeping NVRAM and TPM state (flags by what the domain has), also dropping
    /// snapshot and checkpoint metadata when asked.
    public func undefine(uuid: String, on host: String, droppingSnapshotMetadata: Bool) async throws {
        try await on(host) { connection in
            try require(uuid, on: connection, host: host).undefine(droppingSnapshotMetadata: droppingSnapshotMetadata)
        }
    }

    /// `virDomainListAllSnapshots(TOPOLOGICAL)` and each one's XML with secure data.
    public func snapshotDefinitions(uuid: String, on host: String) async throws -> [SnapshotDefinition] {
        try await on(host) { connection in
            try require(uuid, on: connection, host: host).snapshotDefinitions().map { SnapshotDefinition(name: $0.name, xml: $0.xml) }
        }
    }

    /// `virDomainCreateWithFlags`.
    public func start(uuid: String, on host: String) async throws {
        try await on(host) { connection in try require(uuid, on: connection, host: host).start() }
    }

    /// `virDomainShutdown` (ACPI): a request.
    public func requestShutdown(uuid: String, on host: String) async throws {
        try await on(host) { connection in try require(uuid, on: connection, host: host).shutdown() }
    }

    /// `virDomainDestroy`.
    public func destroy(uuid: String, on host: String) async throws {
        try await on(host) { connection in try require(uuid, on: connection, host: host).destroy() }
    }

    /// `virDomainSetVcpusFlags`.
    public func setVcpus(uuid: String, on host: String, count: Int, scope: DefinitionScope, maximum: Bool) async throws {
        try await on(host) { connection in
            try require(uuid, on: connection, host: host).setVcpus(count, flags: scope.libvirt, maximum: maximum)
        }
    }

    /// `virDomainSetMemoryFlags`.
    public func setMemory(uuid: String, on host: String, mebibytes: Int, scope: DefinitionScope, maximum: Bool) async throws {
        try await on(host) { connection in
            try require(uuid, on: connection, host: host).setMemory(mebibytes: mebibytes, flags: scope.libvirt, maximum: maximum)
        }
    }

    /// `virDomainSetAutostart`.
    public func setAutostart(uuid: String, on host: String, enabled: Bool) async throws {
        try await on(host) { connection in try require(uuid, on: connection, host: host).setAutostart(enabled) }
    }

    /// `virDomainSetMetadata` of the `urn:virtplace:1` element.
    public func setMetadata(uuid: String, on host: String, fleet: String, tags: [String: String], scope: DefinitionScope) async throws {
        let metadata = VirtplaceMetadata(fleet: fleet, tags: tags)
        try await on(host) { connection in
            try require(uuid, on: connection, host: host).setVirtplaceMetadata(metadata, flags: scope.libvirt)
        }
    }

    /// `virDomainAttachDeviceFlags` with a `<disk type='volume'>`.
    public func attachDisk(uuid: String, on host: String, disk: DiskAttachment, target: String, format: String?,
                           scope: DefinitionScope) async throws {
        let xml = DefinitionXML.volumeDisk(pool: disk.pool, volume: disk.volume, format: format, target: target,
                                           bus: disk.bus, readOnly: disk.readOnly)
        try await on(host) { connection in
            try require(uuid, on: connection, host: host).attachDevice(xml: xml, flags: scope.libvirt)
        }
    }

    /// `virDomainAttachDeviceFlags` with an `<interface>`.
    public func attachNIC(uuid: String, on host: String, nic: NICAttachment, scope: DefinitionScope) async throws {
        let xml = DefinitionXML.interface(network: nic.network, bridge: nic.bridge, mac: nic.mac, model: nic.model)
        try await on(host) { connection in
            try require(uuid, on: connection, host: host).attachDevice(xml: xml, flags: scope.libvirt)
        }
    }

    /// Defines the recorded definition re-made around its boot volume (`DefinitionXML.recreatedDomain`).
    public func recreate(recordedXML: String, on host: String, boot: DiskAttachment, target: String, format: String?) async throws {
        let disk = DefinitionXML.volumeDisk(pool: boot.pool, volume: boot.volume, format: format, target: target,
                                            bus: boot.bus, readOnly: boot.readOnly, bootOrder: 1)
        let xml = try mappingErrors { try DefinitionXML.recreatedDomain(from: recordedXML, bootDisk: disk) }
        try await on(host) { connection in _ = try connection.defineDomain(xml: xml) }
    }

    /// libvirt's domain XML, read by `ObservedDomain.parse`.
    public func readDefinition(_ xml: String) throws -> ObservedDomain {
        try mappingErrors { try ObservedDomain.parse(xml: xml, state: "shutoff") }
    }

    /// `DefinitionXML.recreatedDomain`, as `recreate` builds it, then read back.
    public func readRecreated(recordedXML: String, boot: DiskAttachment, target: String, format: String?) throws -> ObservedDomain {
        let disk = DefinitionXML.volumeDisk(pool: boot.pool, volume: boot.volume, format: format, target: target,
                                            bus: boot.bus, readOnly: boot.readOnly, bootOrder: 1)
        return try mappingErrors {
            try ObservedDomain.parse(xml: try DefinitionXML.recreatedDomain(from: recordedXML, bootDisk: disk), state: "shutoff")
        }
    }

    // MARK: Volumes

    /// The volume's facts from its XML; refreshes the pool once before saying it is not there.
    public func volume(pool: String, name: String, on host: String) async throws -> VolumeFacts? {
        try await on(host) { connection in
            let handle = try connection.lookupStoragePool(name: pool)
            func find() throws -> VolumeFacts? {
                do {
                    let observed = try handle.lookupVolume(name: name).observed()
                    return VolumeFacts(name: observed.name, path: observed.path,
                                       capacityBytes: UInt64(max(0, observed.capacityBytes)), format: observed.format)
                } catch let error as LibvirtError where error.code == .noStorageVolume {
                    return nil
                }
            }
            if let found = try find() { return found }
            try handle.refresh()
            return try find()
        }
    }

    /// `virStoragePoolRefresh`.
    public func refreshPool(_ pool: String, on host: String) async throws {
        try await on(host) { connection in try connection.lookupStoragePool(name: pool).refresh() }
    }

    /// `virNetworkLookupByName`: false when the host has no such network.
    public func hasNetwork(_ name: String, on host: String) async throws -> Bool {
        try await on(host) { connection in
            do {
                _ = try connection.lookupNetwork(name: name)
                return true
            } catch let error as LibvirtError where error.code == .noNetwork {
                return false
            }
        }
    }

    /// `virStorageVolCreateXML` (sparse: allocation 0).
    public func createVolume(pool: String, name: String, capacityBytes: UInt64, format: String?, on host: String) async throws {
        let xml = DefinitionXML.volume(name: name, capacityBytes: capacityBytes, format: format)
        try await on(host) { connection in _ = try connection.lookupStoragePool(name: pool).createVolume(xml: xml) }
    }

    /// `virStorageVolDelete`.
    public func deleteVolume(pool: String, name: String, on host: String) async throws {
        try await on(host) { connection in
            let handle = try connection.lookupStoragePool(name: pool)
            try? handle.refresh()
            try handle.lookupVolume(name: name).delete()
        }
    }

    /// `virStorageVolCreateXMLFrom` on the same host, on a thread of its own (it copies data).
    public func cloneVolume(pool: String, name: String, as clone: String, on host: String) async throws {
        try await dedicated(host) { connection in
            let handle = try connection.lookupStoragePool(name: pool)
            let source = try handle.lookupVolume(name: name)
            let observed = try source.observed()
            let xml = DefinitionXML.volume(name: clone, capacityBytes: UInt64(max(0, observed.capacityBytes)), format: observed.format)
            _ = try handle.createVolume(xml: xml, cloning: source)
        }
    }

    /// `VolumeTransfer.copy` (sparse streams, hashing) on a thread of its own.
    public func copyVolume(pool: String, name: String, from: String, to: String,
                           progress: @escaping @Sendable (TransferProgress) -> Void) async throws -> TransferProgress {
        let destination = try await connection(to)
        return try await dedicated(from) { source in
            let sourceVolume = try source.lookupStoragePool(name: pool).lookupVolume(name: name)
            let targetVolume = try destination.lookupStoragePool(name: pool).lookupVolume(name: name)
            return try VolumeTransfer.copy(from: sourceVolume, to: targetVolume, hashing: true, progress: progress)
        }
    }

    /// `VolumeTransfer.checksum` (a sparse download) on a thread of its own.
    public func checksum(pool: String, name: String, on host: String) async throws -> VolumeChecksum {
        try await dedicated(host) { connection in
            try VolumeTransfer.checksum(of: connection.lookupStoragePool(name: pool).lookupVolume(name: name))
        }
    }

    // MARK: Migration

    /// Managed migration (`virDomainMigrate3`) on a thread of its own: this process holds both
    /// connections. `LIVE | PERSIST_DEST | UNDEFINE_SOURCE | ABORT_ON_ERROR`, plus
    /// `NON_SHARED_DISK` and `migrate_disks` for copied disks, `UNSAFE` for storage the
    /// placement declares shared, `AUTO_CONVERGE` and `POSTCOPY` as asked; bandwidth as a parameter.
    public func migrate(uuid: String, from: String, to: String, request: MigrationRequest) async throws {
        let flags = request.flags
        let parameters = request.parameters
        let destination = try await connection(to)
        try await dedicated(from) { source in
            // Managed migration (virDomainMigrate3): this process holds both connections; see
            // docs/moves.md for why. The returned destination handle is released at once.
            _ = try require(uuid, on: source, host: from).migrate(to: destination, parameters: parameters, flags: flags)
        }
    }

    /// `virDomainGetJobStats`; nil when no job runs or the domain is gone.
    public func jobProgress(uuid: String, on host: String) async throws -> MigrationJob? {
        try await on(host) { connection in
            guard let domain = try lookup(uuid, on: connection) else { return nil }
            return MigrationJob(try domain.jobStats())
        }
    }

    /// `virDomainGetJobStats(COMPLETED | KEEP_COMPLETED)`.
    public func completedJob(uuid: String, on host: String) async throws -> MigrationJob? {
        try await on(host) { connection in
            guard let domain = try lookup(uuid, on: connection) else { return nil }
            return MigrationJob(try domain.jobStats(completed: true))
        }
    }

    /// `virDomainAbortJob` (or `AbortJobFlags(POSTCOPY)`).
    public func abortJob(uuid: String, on host: String, postcopy: Bool) async throws {
        try await on(host) { connection in try require(uuid, on: connection, host: host).abortJob(postcopy: postcopy) }
    }

    /// `virDomainMigrateStartPostCopy`.
    public func startPostCopy(uuid: String, on host: String) async throws {
        try await on(host) { connection in try require(uuid, on: connection, host: host).startPostCopy() }
    }

    /// `virDomainMigrateSetMaxDowntime`.
    public func setMaxDowntime(uuid: String, on host: String, milliseconds: UInt64) async throws {
        try await on(host) { connection in
            try require(uuid, on: connection, host: host).setMaxDowntime(milliseconds: milliseconds)
        }
    }
}

/// Observation over libvirt connections.
extension Observer {
    /// Observes every target; hosts come back in the order given, domains sorted by name.
    public func observe(_ targets: [ObserveTarget]) async -> ObservedFleet {
        ObservedFleet(hosts: await observeWithCalls(targets).map(\.host))
    }

    /// Like `observe`, with the libvirt calls each host took (unreachable hosts: zero).
    /// `whenObserved` is called with each reachable host as soon as it is observed (before its
    /// platform checks), on that host's task: `observe -o json` writes its domains meanwhile.
    public func observeWithCalls(
        _ targets: [ObserveTarget], whenObserved: (@Sendable (ObservedHost) -> Void)? = nil
    ) async -> [HostObservation] {
        let timeout = connectTimeout
        return await observeWithCalls(targets, whenObserved: whenObserved) { target in
            try await Connection.open(uri: target.uri, allowTestDriver: target.allowTestDriver, prompts: target.answersPrompts ? .terminal : .refuse, timeout: timeout)
        }
    }

    /// Observes every target over connections that `connect` gives (apply keeps its connections
    /// open for the steps that follow); a host whose connection or observation fails comes back
    /// `reachable: false`.
    public func observe(
        _ targets: [ObserveTarget], connect: @escaping @Sendable (ObserveTarget) async throws -> Connection
    ) async -> ObservedFleet {
        ObservedFleet(hosts: await observeWithCalls(targets, connect: connect).map(\.host))
    }

    /// Like `observe(_:connect:)`, with the libvirt calls each host took.
    public func observeWithCalls(
        _ targets: [ObserveTarget], whenObserved: (@Sendable (ObservedHost) -> Void)? = nil,
        connect: @escaping @Sendable (ObserveTarget) async throws -> Connection
    ) async -> [HostObservation] {
        let observed = await eachHost(targets, missing: { Observed(host: Self.unreachable($0, error: "not observed")) }) { target in
            do {
                let connection = try await connect(target)
                let host = try await observe(target, on: connection)
                whenObserved?(host.host)
                // The platforms of its own guests are asked about at once, while other hosts
                // are still being observed: in a fleet whose hosts run the same platforms (the
                // usual case) nothing is left to ask once the last host is in.
                let asked = await askPlatforms(Self.platforms(of: [host]), on: connection)
                return Observed(host: host, connection: connection, asked: asked)
            } catch {
                return Observed(host: Self.unreachable(target, error: Self.describe(error)))
            }
        }
        return await checkPlatforms(observed.map(\.host), on: observed.map(\.connection), asked: observed.map(\.asked))
    }

    /// One host's observation, the connection it was made on and the platforms asked about
    /// there so far (for the platform checks).
    private struct Observed: Sendable {
        var host: HostObservation
        var connection: Connection? = nil
        var asked = AskedPlatforms()
    }

    /// The platforms asked about on one host: each key asked, with the answer when there was
    /// one.
    struct AskedPlatforms: Sendable {
        var keys: Set<String> = []
        var answers: [String: ObservedPlatformCheck] = [:]
    }

    /// Asks every reachable host whether it can run each guest platform seen in the fleet
    /// (`Connection.checkPlatform`), hosts in parallel, and records the answers in
    /// `platformChecks`: the planner decides CPU and machine compatibility from them, live or
    /// from a snapshot. At most `maxPlatforms` distinct platforms are asked about (the rest go
    /// unchecked: libvirt still refuses them when the move runs). A platform a host cannot be
    /// asked about gets no answer there (nothing is refused for it); the observation stands.
    /// `asked`: what each host was asked already (`observeWithCalls` asks every host about its
    /// own guests' platforms as soon as it is observed); only the rest is asked here, and the
    /// answers are the same as if everything were asked now.
    func checkPlatforms(
        _ hosts: [HostObservation], on connections: [Connection?], asked: [AskedPlatforms]? = nil
    ) async -> [HostObservation] {
        let platforms = Self.platforms(of: hosts)
        guard !platforms.isEmpty else { return hosts }
        let timeout = observeTimeout
        return await withTaskGroup(of: (Int, AskedPlatforms).self) { group in
            var result = hosts
            for (index, connection) in connections.enumerated() {
                guard let connection, hosts[index].host.reachable else { continue }
                let before = asked?[index] ?? AskedPlatforms()
                let rest = platforms.filter { !before.keys.contains($0.key) }
                guard !rest.isEmpty else {
                    Self.record(before, of: platforms, in: &result[index])
                    continue
                }
                group.addTask {
                    var all = before
                    let late = await askPlatforms(rest, on: connection, timeout: timeout)
                    all.keys.formUnion(late.keys)
                    all.answers.merge(late.answers) { first, _ in first }
                    return (index, all)
                }
            }
            while let (index, answered) = await group.next() {
                Self.record(answered, of: platforms, in: &result[index])
            }
            return result
        }
    }

    /// Records a host's answers about the fleet's `platforms`, in their order, and the calls
    /// they took (two a platform). A platform asked about on the host that is not among them
    /// (past `maxPlatforms`) is left out.
    private static func record(_ answered: AskedPlatforms, of platforms: [Platform], in host: inout HostObservation) {
        host.host.platformChecks = platforms.compactMap { answered.answers[$0.key] }
        host.calls.perHost += answered.keys.count * 2
    }

    /// A guest platform: its key (`ObservedDomain.platformKey`) and a guest that has it.
    typealias Platform = (key: String, guest: ObservedDomain)

    /// The distinct guest platforms of `hosts` (reachable ones), sorted by key: the first
    /// `maxPlatforms` keys met, hosts and guests in order.
    static func platforms(of hosts: [HostObservation]) -> [Platform] {
        var platforms: [String: ObservedDomain] = [:]
        // The key (a SHA-256 of the platform's text) once per distinct platform, not per domain.
        // Neighbours mostly share their platform: comparing with the last one spares a hash.
        var seen: Set<PlatformFields> = []
        var last: PlatformFields?
        for host in hosts where host.host.reachable {
            for domain in host.host.domains {
                let fields = PlatformFields(domain)
                guard fields != last else { continue }
                last = fields
                guard seen.insert(fields).inserted, let key = domain.platformKey, platforms[key] == nil,
                      platforms.count < Self.maxPlatforms else { continue }
                platforms[key] = domain
            }
        }
        return platforms.sorted { $0.key < $1.key }.map { (key: $0.key, guest: $0.value) }
    }

    /// Asks `connection`'s host about each of `platforms`. A platform that cannot be asked
    /// about gets no answer (nothing is refused for it); a host that does not answer in
    /// `timeout` gives none at all.
    func askPlatforms(_ platforms: [Platform], on connection: Connection, timeout: Duration? = nil) async -> AskedPlatforms {
        guard !platforms.isEmpty else { return AskedPlatforms() }
        var asked = AskedPlatforms(keys: Set(platforms.map(\.key)))
        let answers = try? await connection.run(timeout: timeout ?? observeTimeout) { connection in
            var checks: [ObservedPlatformCheck] = []
            for (_, guest) in platforms {
                guard let check = try? connection.checkPlatform(of: guest) else { continue }
                checks.append(check)
            }
            return checks
        }
        for check in answers ?? [] { asked.answers[check.platform] = check }
        return asked
    }

    /// Distinct guest platforms asked about in one observation.
    static let maxPlatforms = 64

    /// What `ObservedDomain.platformKey` is made of: domains with equal fields have equal keys.
    private struct PlatformFields: Hashable {
        var virtType, arch, machine, emulator, cpuMode, cpuModel: String?
        var cpuFeatures: [String: String]

        init(_ domain: ObservedDomain) {
            virtType = domain.virtType; arch = domain.arch; machine = domain.machine; emulator = domain.emulator
            cpuMode = domain.cpuMode; cpuModel = domain.cpuModel; cpuFeatures = domain.cpuFeatures
        }
    }

    /// Observes one host on a new connection, which is closed afterwards. Never throws: a
    /// failure makes the host `reachable: false`.
    public func observe(_ target: ObserveTarget) async -> HostObservation {
        do {
            let connection = try await Connection.open(uri: target.uri, allowTestDriver: target.allowTestDriver, prompts: target.answersPrompts ? .terminal : .refuse, timeout: connectTimeout)
            return try await observe(target, on: connection)
        } catch {
            return Self.unreachable(target, error: Self.describe(error))
        }
    }

    /// Observes one host on an open connection (apply re-observes on the connections it holds).
    /// - Throws: `LibvirtError`, `DomainXMLError`, `CancellationError`.
    public func observe(_ target: ObserveTarget, on connection: Connection) async throws -> HostObservation {
        let refresh = refreshPools
        return try await connection.run(timeout: observeTimeout) { connection in
            try connection.observeHost(
                name: target.name, faultDomain: target.faultDomain, capacity: target.capacity, refreshPools: refresh
            )
        }
    }

    private static func unreachable(_ target: ObserveTarget, error: String) -> HostObservation {
        HostObservation(
            host: ObservedHost(
                name: target.name, uri: HostURI.redacted(target.uri), reachable: false, error: error,
                faultDomain: target.faultDomain, capacity: target.capacity ?? ObservedCapacity(vcpus: 0, memoryMiB: 0)
            ),
            calls: ObservationCalls()
        )
    }

    private static func describe(_ error: any Error) -> String {
        switch error {
        case let error as LibvirtError: error.message
        case let error as DriverError: error.description
        case is CancellationError: "observation cancelled"
        default: String(describing: error)
        }
    }
}

/// Runs `body`, libvirt's errors coming out as the Engine's (`DriverError.failed`).
private func mappingErrors<T>(_ body: () async throws -> T) async throws -> T {
    do { return try await body() } catch { throw engineError(error) }
}

/// The same for a call that does not wait.
private func mappingErrors<T>(_ body: () throws -> T) throws -> T {
    do { return try body() } catch { throw engineError(error) }
}

/// An error of the Libvirt layer as the Engine's; any other passes unchanged.
private func engineError(_ error: any Error) -> any Error {
    switch error {
    case let e as LibvirtError: DriverError(e)
    case let e as DomainXMLError: DriverError.failed(.badDefinition, message: e.message)
    case let e as VolumeTransferError: DriverError.failed(.other, message: e.description)
    default: error
    }
}

extension DriverError {
    /// libvirt's error as the Engine's: its kind by libvirt's code (and, for a system error,
    /// its domain: one of the RPC layer is a broken connection), its message as libvirt wrote it.
    public init(_ error: LibvirtError) {
        let kind: HostFailure = switch error.code {
        case .operationAborted: .aborted
        case .operationTimeout: .timedOut
        case .migrateUnsafe, .operationUnsupported, .argumentUnsupported: .liveUnsupported
        case .cpuIncompatible: .cpuIncompatible
        case .noNetwork: .noNetwork
        case .noStoragePool, .noStorageVolume: .noStorage
        case .configUnsupported: .configUnsupported
        case .noConnect, .rpc, .authFailed, .authCancelled, .authUnavailable: .connection
        case .systemError: error.domain == rpcErrorDomain ? .connection : .other
        default: error.isConnectionFailure ? .connection : .other
        }
        self = .failed(kind, message: error.message)
    }
}

/// `VIR_FROM_RPC`.
private let rpcErrorDomain: Int32 = 7

extension DefinitionScope {
    /// The same scope as libvirt's modification flags.
    var libvirt: DomainModification {
        var flags: DomainModification = []
        if contains(.live) { flags.insert(.live) }
        if contains(.config) { flags.insert(.config) }
        return flags
    }
}

extension MigrationRequest {
    /// libvirt's migration flags for the request.
    var flags: MigrationFlags {
        var flags: MigrationFlags = [.live, .persistDestination, .undefineSource, .abortOnError]
        if !copyDisks.isEmpty { flags.insert(.nonSharedDisk) }
        if sharedStorageDeclared { flags.insert(.unsafe) }
        if autoConverge { flags.insert(.autoConverge) }
        if allowPostCopy { flags.insert(.postcopy) }
        if transport.tls { flags.insert(.tlsEncrypt) }
        if transport.parallelConnections > 1 { flags.insert(.parallel) }
        if transport.compression != .none { flags.insert(.compressed) }
        return flags
    }

    /// libvirt's typed parameters for the request: bandwidth, copied disks, and the transport
    /// (`migrate_uri` and `listen_address` for a migration address, `tls.destination`,
    /// `parallel.connections`, `compression` and its level).
    var parameters: MigrationParameters {
        var p = MigrationParameters(bandwidthMiBps: bandwidthMiBps, disks: copyDisks)
        if let address = migrationAddress {
            p.migrateURI = MigrationAddress.uri(address)
            // The target's QEMU must listen there, whatever its qemu.conf `migration_address`.
            p.listenAddress = address
        }
        p.tlsDestination = transport.tls ? tlsDestination : nil
        if transport.parallelConnections > 1 { p.parallelConnections = Int32(clamping: transport.parallelConnections) }
        if transport.compression != .none {
            p.compression = [transport.compression.rawValue]
            p.compressionLevel = transport.compressionLevel.map { Int32(clamping: $0) }
        }
        return p
    }
}

extension MigrationJob {
    /// A job's figures from libvirt's statistics; nil when there is no job.
    init?(_ stats: JobStats) {
        guard stats.type != .none else { return nil }
        self.init(timeElapsedMs: stats.timeElapsedMs, timeRemainingMs: stats.timeRemainingMs, downtimeMs: stats.downtimeMs,
                  dataTotal: stats.dataTotal, dataProcessed: stats.dataProcessed, dataRemaining: stats.dataRemaining,
                  memoryTotal: stats.memoryTotal, memoryProcessed: stats.memoryProcessed, memoryBps: stats.memoryBps,
                  diskTotal: stats.diskTotal, diskProcessed: stats.diskProcessed, diskBps: stats.diskBps)
        memoryRemaining = stats.memoryRemaining
        // libvirt reports pages per second; the page size beside it (4 KiB when not said).
        memoryDirtyBps = stats.memoryDirtyRate.map { $0.multipliedReportingOverflow(by: stats.memoryPageSize ?? 4096).partialValue }
        memoryIteration = stats.memoryIteration
        autoConvergeThrottle = stats.autoConvergeThrottle.map(Int.init)
    }
}


/// The domain with this UUID on the connection's host, nil when there is none.
private func lookup(_ uuid: String, on connection: Connection) throws -> Domain? {
    do {
        return try connection.lookupDomain(uuid: uuid)
    } catch let error as LibvirtError where error.code == .noDomain {
        return nil
    }
}

/// The domain with this UUID; throws `DriverError.noDomain` when there is none.
private func require(_ uuid: String, on connection: Connection, host: String) throws -> Domain {
    guard let domain = try lookup(uuid, on: connection) else { throw DriverError.noDomain(uuid: uuid, host: host) }
    return domain
}

/// Reads a domain's state, definitions and the pool volumes its file disks use.
private func facts(of domain: Domain, on connection: Connection) throws -> DomainFacts {
    let status = try domain.status()
    let persistent = try domain.isPersistent()
    let autostart = persistent ? try domain.autostart() : false
    let state = status.state.name
    let inactiveXML = try domain.xml(flags: .inactive)
    let liveXML = status.state == .shutoff ? nil : try domain.xml()

    // Disks given by path resolve to pool volumes through libvirt (active, refreshed pools).
    var pools: [String: [ObservedVolume]] = [:]
    var seen = Set<String>()
    for xml in [inactiveXML, liveXML].compactMap({ $0 }) {
        let plain = try ObservedDomain.parse(xml: xml, state: state)
        for disk in plain.disks where disk.pool == nil && disk.sourceType != "network" {
            guard let path = disk.path, seen.insert(path).inserted else { continue }
            guard let volume = try? connection.lookupStorageVolume(path: path), let pool = try? volume.pool() else { continue }
            pools[pool.name, default: []].append(ObservedVolume(name: volume.name, path: path, capacityBytes: 0, allocationBytes: 0))
        }
    }
    let index = VolumeIndex(pools: pools.map { ObservedPool(name: $0.key, type: "", path: nil, active: true, volumes: $0.value) })
    let config = try ObservedDomain.parse(xml: inactiveXML, state: state, persistent: persistent, autostart: autostart, volumes: index)
    let live = try liveXML.map { try ObservedDomain.parse(xml: $0, state: state, persistent: persistent, autostart: autostart, volumes: index) }
    return DomainFacts(state: state, persistent: persistent, autostart: autostart, config: config, live: live)
}

/// Connections by host name: opened once, shared by every caller; a dead one is reopened.
private actor ConnectionCache {
    private var open: [String: Task<Connection, any Error>] = [:]
    private let timeout: Duration

    init(timeout: Duration) { self.timeout = timeout }

    /// The connection opened for `name`, if one was (alive or not); never opens one.
    func existing(_ name: String) async -> Connection? {
        guard let task = open[name] else { return nil }
        return try? await task.value
    }

    func connection(for target: ObserveTarget) async throws -> Connection {
        if let task = open[target.name] {
            let result = await task.result
            if case .success(let connection) = result, !connection.isAlive {
                open[target.name] = nil
            } else {
                return try result.get()
            }
        }
        let uri = target.uri
        let allowTestDriver = target.allowTestDriver
        let prompts: CredentialPrompts = target.answersPrompts ? .terminal : .refuse
        let timeout = self.timeout
        let task = Task { try await Connection.open(uri: uri, allowTestDriver: allowTestDriver, prompts: prompts, timeout: timeout) }
        open[target.name] = task
        return try await task.value
    }
}
