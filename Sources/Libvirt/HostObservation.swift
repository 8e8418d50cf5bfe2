import Foundation
import Synchronization
import Placement

/// How many libvirt calls observing a host took: `perHost` does not grow with the number of
/// domains, `perDomain` does (one XML each; plus a snapshot count for domains that have
/// snapshots, and state or live figures for domains the bulk stats call did not cover).
public struct ObservationCalls: Equatable, Sendable {
    public var perHost = 0
    public var perDomain = 0
    public var domains = 0

    /// Call counts (zero for a host that was not observed).
    public init(perHost: Int = 0, perDomain: Int = 0, domains: Int = 0) {
        self.perHost = perHost; self.perDomain = perDomain; self.domains = domains
    }

    /// Domain-dependent calls per domain (0 when there are no domains).
    public var perDomainAverage: Double {
        domains == 0 ? 0 : Double(perDomain) / Double(domains)
    }
}

/// One host's observation and what it cost.
public struct HostObservation: Equatable, Sendable {
    public var host: ObservedHost
    public var calls: ObservationCalls

    /// An observation with its cost.
    public init(host: ObservedHost, calls: ObservationCalls) { self.host = host; self.calls = calls }
}

extension Connection {
    /// Observes this host: node facts, pools with their volumes, networks, and every domain
    /// (inactive XML, state and reason, persistence, autostart, snapshot count). Blocking;
    /// call it through `run`.
    ///
    /// Calls: a fixed number of list calls for the host; per pool its XML and volume list,
    /// per volume its XML, per network its XML; per domain its XML, plus
    /// `virDomainSnapshotNum` only for domains listed as having snapshots. The domains, their
    /// state and live vCPUs/memory come from one `virConnectGetAllDomainStats` (drivers that
    /// lack it cost a `virConnectListAllDomains` and a `virDomainGetState` per domain; those
    /// that lack the live figures one `virDomainGetInfo` per active domain); persistence (not
    /// transient), autostart and "has snapshots" from filtered `virConnectListAllDomains` calls.
    ///
    /// - Parameters:
    ///   - name: the host's key in the desired-state file.
    ///   - capacity: the file's capacity override; nil takes the node's CPUs and memory.
    ///   - refreshPools: re-scan active pools first (sees volumes made behind libvirt's back).
    /// - Throws: `LibvirtError` (a lost connection fails the whole host), `DomainXMLError`.
    public func observeHost(
        name: String, faultDomain: String? = nil, capacity: ObservedCapacity? = nil, refreshPools: Bool = false
    ) throws -> HostObservation {
        var calls = ObservationCalls()
        // The domains' XML is nearly every call: it is fetched in slices, on threads of their
        // own, from the start, while this thread asks for everything else (node facts, pools,
        // networks, the domain lists and bulk stats). Those are some twenty round trips, which
        // the XML no longer waits for; the slices read their XML once this thread is done.
        let domains = try domainsWithRuntimes(calls: &calls)
        let facts = DomainFacts()
        let fetching = Self.fetchDomains(domains, facts: facts)

        let host: ObservedHost
        do {
            defer { facts.publishIfUnset(.failure(ObservationAbandoned())) }
            let node = try nodeInfo()
            calls.perHost += 1
            let capabilities = try optional { try hostCapabilities() }
            calls.perHost += 1
            let freeMemory = try optional { try freeMemoryBytes() }
            calls.perHost += 1
            let offered = try optional { try offeredCPU(arch: capabilities?.arch, virtType: capabilities?.hasKVM == true ? "kvm" : "qemu") }
            calls.perHost += 1
            // What migration transport options the host can take depends on these (the planner's
            // `live.transport` checks).
            let libvirtVersion = try optional { try libraryVersion() }
            let hypervisorVersion = try optional { try self.hypervisorVersion() }
            calls.perHost += 2

            let pools = try observePools(refresh: refreshPools, calls: &calls)
            let networks = try observeNetworks(calls: &calls)
            facts.publishIfUnset(.success(try domainFacts(volumes: VolumeIndex(pools: pools), calls: &calls)))
            host = ObservedHost(
                name: name, uri: uri, reachable: true, faultDomain: faultDomain,
                capacity: capacity ?? ObservedCapacity(vcpus: node.cpus, memoryMiB: Int(node.memoryKiB / 1024)),
                hostUUID: capabilities?.uuid?.lowercased(), cpuModel: capabilities?.cpuModel,
                cpuVendor: offered?.vendor ?? capabilities?.cpuVendor, offeredCPUModel: offered?.model,
                freeMemoryMiB: freeMemory.map { Int($0 >> 20) },
                pools: pools, networks: networks, domains: [],
                libvirtVersion: libvirtVersion, hypervisorVersion: hypervisorVersion
            )
        } catch {
            // The slices stop at the first domain they have not fetched yet.
            _ = fetching.wait()
            throw error
        }
        var observed = host
        observed.domains.reserveCapacity(domains.count)
        calls.domains = domains.count
        for result in fetching.wait() {
            let slice = try result.get()
            observed.domains.append(contentsOf: slice.domains)
            calls.perDomain += slice.calls.perDomain
        }
        return HostObservation(host: observed, calls: calls)
    }

    private func observePools(refresh: Bool, calls: inout ObservationCalls) throws -> [ObservedPool] {
        let pools = try listAllStoragePools()
        let active = Set(try listAllStoragePools(.active).map(\.name))
        calls.perHost += 2
        var observed: [ObservedPool] = []
        for pool in pools {
            let isActive = active.contains(pool.name)
            if isActive && refresh {
                // Before the description: its free space is as of the last refresh.
                try pool.refresh()
                calls.perHost += 1
            }
            let description = try pool.poolDescription()
            calls.perHost += 1
            var volumes: [ObservedVolume] = []
            if isActive {
                let handles = try pool.listVolumes()
                calls.perHost += 1
                for volume in handles {
                    // A volume deleted between the list and its XML is simply gone.
                    guard let one = try ignoring(.noStorageVolume, { try volume.observed() }) else { continue }
                    volumes.append(one)
                    calls.perHost += 1
                }
            }
            observed.append(ObservedPool(
                name: pool.name, type: description.type, path: description.path, active: isActive,
                capacityBytes: isActive ? description.capacityBytes.map { Int64(clamping: $0) } : nil,
                availableBytes: isActive ? description.availableBytes.map { Int64(clamping: $0) } : nil,
                volumes: volumes.sorted { $0.name < $1.name }
            ))
        }
        return observed.sorted { $0.name < $1.name }
    }

    private func observeNetworks(calls: inout ObservationCalls) throws -> [ObservedNetwork] {
        let networks = try listAllNetworks()
        let active = Set(try listAllNetworks(.active).map(\.name))
        calls.perHost += 2
        var observed: [ObservedNetwork] = []
        for network in networks {
            let bridge = try ignoring(.noNetwork, { try network.bridge() }) ?? nil
            calls.perHost += 1
            observed.append(ObservedNetwork(name: network.name, active: active.contains(network.name), bridge: bridge))
        }
        return observed.sorted { $0.name < $1.name }
    }

    /// Every domain, sorted by name, with its state and live figures when the bulk stats call
    /// gave them (`allDomainsWithRuntimes`); a driver without that call lists the domains.
    private func domainsWithRuntimes(calls: inout ObservationCalls) throws -> [ListedDomain] {
        calls.perHost += 1
        let listed: [ListedDomain]
        if let domains = try ignoring(.noSupport, { try allDomainsWithRuntimes() }) {
            listed = domains.map { ListedDomain(name: $0.domain.name, domain: $0.domain, runtime: $0.runtime) }
        } else {
            calls.perHost += 1
            listed = try listAllDomains().map { ListedDomain(name: $0.name, domain: $0, runtime: nil) }
        }
        return listed.sorted { $0.name < $1.name }
    }

    /// A domain as listed, with its runtime when the listing gave it.
    struct ListedDomain: Sendable {
        var name: String
        var domain: Domain
        var runtime: DomainRuntime?
    }

    /// What the domains' observation needs besides their XML: the filtered lists, the volumes
    /// their disks may name.
    private func domainFacts(volumes: VolumeIndex, calls: inout ObservationCalls) throws -> DomainFacts.Values {
        // Transient, autostart and snapshot-holding domains are few: each list returns only
        // those, where a list of persistent ones would return nearly every domain again.
        // Domains are matched by name, unique on a host: reading a name costs nothing, where
        // libvirt formats the UUID for its debug log at every read (the UUID comes from the XML).
        let transient = Set(try listAllDomains(.transient).map(\.name))
        let autostart = Set(try listAllDomains(.autostart).map(\.name))
        let withSnapshots = Set(try listAllDomains(.hasSnapshot).map(\.name))
        calls.perHost += 3
        return DomainFacts.Values(transient: transient, autostart: autostart, withSnapshots: withSnapshots, volumes: volumes)
    }

    /// Starts fetching `domains` (sorted by name) in slices, each on a thread of its own: every
    /// XML first (several calls in flight on the connection, the daemon serves 5 at once, so
    /// one answer's round trip does not wait for the one before; between two calls the thread
    /// does no more than libvirt's client, which on a busy machine keeps it from waiting for a
    /// core after each), then, once `facts` are published, the few calls some domains need
    /// besides (state without bulk stats, live figures, snapshot counts) and the reading of
    /// the XML. When `facts` are a failure, a slice stops at once.
    private static func fetchDomains(_ domains: [ListedDomain], facts: DomainFacts) -> Threads<Result<(domains: [ObservedDomain], calls: ObservationCalls), any Error>> {
        let slices = Self.slices(of: domains.count)
        return Threads(count: slices.count) { slice in
            Result { () throws -> (domains: [ObservedDomain], calls: ObservationCalls) in
                var calls = ObservationCalls()
                var fetched: [(xml: String, listed: ListedDomain)] = []
                fetched.reserveCapacity(slices[slice].count)
                for listed in domains[slices[slice]] {
                    if facts.isFailure { throw ObservationAbandoned() }
                    // A domain undefined since the list is gone: skip it rather than fail the host.
                    guard let xml = try ignoring(.noDomain, { try listed.domain.xml(flags: .inactive) }) else { continue }
                    calls.perDomain += 1
                    fetched.append((xml, listed))
                }
                let known = try facts.wait()
                var observed: [ObservedDomain] = []
                observed.reserveCapacity(fetched.count)
                for (xml, listed) in fetched {
                    let (name, domain) = (listed.name, listed.domain)
                    var runtime: DomainRuntime
                    if let value = listed.runtime {
                        runtime = value
                    } else {
                        guard let status = try ignoring(.noDomain, { try domain.status() }) else { continue }
                        calls.perDomain += 1
                        runtime = DomainRuntime(status: status)
                    }
                    if runtime.isActive, runtime.vcpus == nil || runtime.memoryKiB == nil {
                        guard let info = try ignoring(.noDomain, { try domain.info() }) else { continue }
                        calls.perDomain += 1
                        runtime.vcpus = runtime.vcpus ?? info.vcpus
                        runtime.memoryKiB = runtime.memoryKiB ?? info.memoryKiB
                    }
                    var snapshots = 0
                    if known.withSnapshots.contains(name) {
                        snapshots = try ignoring(.noDomain, { try domain.snapshotCount() }) ?? 0
                        calls.perDomain += 1
                    }
                    var one = try ObservedDomain.parse(
                        xml: xml, state: runtime.status.state.name, stateReason: runtime.status.reasonName,
                        persistent: !known.transient.contains(name), autostart: known.autostart.contains(name),
                        snapshotCount: snapshots,
                        liveVcpus: runtime.isActive ? runtime.vcpus : nil,
                        liveMemoryMiB: runtime.isActive ? runtime.memoryKiB.map { Int($0 >> 10) } : nil,
                        volumes: known.volumes
                    )
                    one.memoryInUseMiB = runtime.memoryInUseMiB
                    one.memoryResidentMiB = runtime.residentMiB
                    observed.append(one)
                }
                return (observed, calls)
            }
        }
    }
}

/// The facts the domain slices wait for (`Connection.observeHost`): published once by the
/// thread that asks for them, a failure when it could not.
private final class DomainFacts: Sendable {
    struct Values: Sendable {
        var transient, autostart, withSnapshots: Set<String>
        var volumes: VolumeIndex
    }

    private let state = Mutex<Result<Values, any Error>?>(nil)
    private let published = DispatchSemaphore(value: 0)

    /// Publishes `result` unless something was published already; wakes every waiter.
    func publishIfUnset(_ result: Result<Values, any Error>) {
        let first = state.withLock { current in
            guard current == nil else { return false }
            current = result
            return true
        }
        // One signal: each waiter passes it on (`wait`).
        if first { published.signal() }
    }

    /// Whether a failure was published (the slices stop fetching).
    var isFailure: Bool {
        state.withLock { if case .failure = $0 { true } else { false } }
    }

    /// The facts, once published.
    /// - Throws: what the publishing thread failed with.
    func wait() throws -> Values {
        published.wait()
        published.signal()
        return try state.withLock { $0! }.get()
    }
}

/// The host's observation failed before its domains' facts were known (the slices stop).
private struct ObservationAbandoned: Error {}

extension Connection {
    /// Consecutive ranges of `count` domains, one per thread that observes them: up to 4
    /// (fewer than the daemon's 5 calls per connection), none smaller than 32 domains.
    static func slices(of count: Int) -> [Range<Int>] {
        let threads = max(1, min(4, count / 32))
        return (0..<threads).map { slice in count * slice / threads..<count * (slice + 1) / threads }
    }
}

/// `body(0)` … `body(count - 1)`, each on a thread of its own, started at once; `wait` gives
/// their results in that order.
private final class Threads<T: Sendable>: Sendable {
    private let results: Mutex<[Int: T]>
    private let group = DispatchGroup()
    private let count: Int

    init(count: Int, _ body: @escaping @Sendable (Int) -> T) {
        self.count = count
        results = Mutex([:])
        for index in 0..<count {
            group.enter()
            let thread = Thread { [self] in
                let result = body(index)
                results.withLock { $0[index] = result }
                group.leave()
            }
            thread.name = "libvirt-observe"
            thread.start()
        }
    }

    /// Every thread's result, in order, once all have ended.
    func wait() -> [T] {
        group.wait()
        return results.withLock { done in (0..<count).compactMap { done[$0] } }
    }
}

/// Returns nil when `body` fails with `code`; rethrows anything else.
private func ignoring<T>(_ code: LibvirtError.Code, _ body: () throws -> T) throws -> T? {
    do {
        return try body()
    } catch let error as LibvirtError where error.code == code {
        return nil
    }
}

/// Returns nil when an optional fact cannot be read; a lost connection still fails the host.
private func optional<T>(_ body: () throws -> T) throws -> T? {
    do {
        return try body()
    } catch let error as LibvirtError where error.isConnectionFailure {
        throw error
    } catch {
        return nil
    }
}
