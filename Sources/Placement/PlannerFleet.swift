/// The planner's view of the fleet: hosts merged from the file and the observation, indexed so
/// that nothing scans all hosts per instance; current usage per host; where each domain is.

/// Memory and vCPUs, the two resources capacity is checked on.
struct Resources: Equatable, Sendable {
    var memoryMiB: Int
    var vcpus: Int

    static let zero = Resources(memoryMiB: 0, vcpus: 0)

    // Saturating: values come from snapshots and libvirt, and a sum that wrapped would make a
    // full host "fit" anything; one that trapped would kill the plan. A saturated sum stays at
    // the bound, which fits in no real host.
    static func + (a: Resources, b: Resources) -> Resources {
        Resources(memoryMiB: saturatingAdd(a.memoryMiB, b.memoryMiB), vcpus: saturatingAdd(a.vcpus, b.vcpus))
    }
    static func - (a: Resources, b: Resources) -> Resources {
        Resources(memoryMiB: saturatingSubtract(a.memoryMiB, b.memoryMiB), vcpus: saturatingSubtract(a.vcpus, b.vcpus))
    }
    static func += (a: inout Resources, b: Resources) { a = a + b }
    static func -= (a: inout Resources, b: Resources) { a = a - b }

    /// Each component clamped at zero from below.
    var positivePart: Resources { Resources(memoryMiB: max(memoryMiB, 0), vcpus: max(vcpus, 0)) }
    var isZero: Bool { memoryMiB == 0 && vcpus == 0 }
    /// The larger of each component.
    func union(_ other: Resources) -> Resources {
        Resources(memoryMiB: max(memoryMiB, other.memoryMiB), vcpus: max(vcpus, other.vcpus))
    }

    func fits(in capacity: Resources) -> Bool {
        memoryMiB <= capacity.memoryMiB && vcpus <= capacity.vcpus
    }

    /// Each component clamped into `0...Resources.bound`: what one domain or one host counts
    /// for, whatever a snapshot or libvirt claims. Sums of clamped values over any number of
    /// domains a bounded input can hold stay far from `Int.max`.
    var clamped: Resources {
        Resources(memoryMiB: min(max(memoryMiB, 0), Resources.bound), vcpus: min(max(vcpus, 0), Resources.bound))
    }

    /// 2^40 MiB (1 EiB) and 2^40 vCPUs: beyond any host; more counts as this much.
    static let bound = 1 << 40
}

/// `a + b`, held at `Int.max`/`Int.min` instead of trapping or wrapping.
func saturatingAdd(_ a: Int, _ b: Int) -> Int {
    let (sum, overflow) = a.addingReportingOverflow(b)
    guard overflow else { return sum }
    return b > 0 ? Int.max : Int.min
}

/// `a - b`, held at `Int.max`/`Int.min` instead of trapping or wrapping.
func saturatingSubtract(_ a: Int, _ b: Int) -> Int {
    let (difference, overflow) = a.subtractingReportingOverflow(b)
    guard overflow else { return difference }
    return b < 0 ? Int.max : Int.min
}

/// `a + b` on byte counts, held at `Int64.max`.
func saturatingAdd(_ a: Int64, _ b: Int64) -> Int64 {
    let (sum, overflow) = a.addingReportingOverflow(b)
    guard overflow else { return sum }
    return b > 0 ? Int64.max : Int64.min
}

/// An active storage pool of a host.
struct PoolInfo: Sendable {
    var volumes: Set<String>
    /// Bytes each volume takes in the pool (its allocation), by name, as far as reported.
    var allocation: [String: Int64] = [:]
    /// Space left in the pool, bytes, when the observation says (old snapshots may not).
    var availableBytes: Int64?
    /// Volumes virtplace's journal says it created here (for a copy) that no domain on this
    /// host uses: a retry may reuse them, so they never block a move.
    var leftovers: Set<String> = []
    /// The backing file of each qcow2 overlay, by volume name.
    var backing: [String: String] = [:]
    /// The paths of its volumes.
    var paths: Set<String> = []
}

/// One host as the planner sees it.
struct HostInfo: Sendable {
    let index: Int
    let name: String
    /// Declared in the file.
    let declared: Bool
    /// Present in the observation.
    let observed: Bool
    let reachable: Bool
    /// Why it is unreachable, for messages.
    let problem: String?
    let state: HostState
    let faultDomain: String?
    /// The fault domain for spread groups: a host without one is its own.
    let spreadKey: String
    let cpus: Int
    /// Memory and placeable vCPUs (`cpus × cpuOvercommit`).
    let capacity: Resources
    let cpuModel: String?
    /// libvirt's answers about guest platforms, by `ObservedDomain.platformKey`.
    let platformChecks: [String: ObservedPlatformCheck]
    let pools: [String: PoolInfo]
    let networks: Set<String>
    let bridges: Set<String>
    /// Its maintenance event, when the file declares one.
    let maintenance: MaintenanceSpec?
    /// `hosts.NAME.migration` (defaults when the file does not say).
    var migration: HostMigrationSpec = .init()
    /// The host part of its URI (a name, an IPv4 address or a bracketed IPv6 address).
    var uriHost: String? = nil
    /// The daemon's libvirt and the hypervisor's (QEMU's) versions, when observed.
    var libvirtVersion: String? = nil
    var hypervisorVersion: String? = nil

    /// Takes instances that are not on it yet.
    var takesNew: Bool { declared && reachable && state == .active && maintenance == nil }
    /// Everything on it moves elsewhere: drained, or under maintenance.
    var evacuated: Bool { state == .drained || maintenance != nil }
}

/// Where one observed domain is: host index and position in that host's domain list.
struct DomainRef: Sendable {
    let host: Int
    let index: Int
}

/// The indexed fleet.
struct FleetIndex: Sendable {
    let hosts: [HostInfo]
    let hostByName: [String: Int]
    /// Domains per host, as observed.
    let domains: [[ObservedDomain]]
    /// Every observed domain by name: usually one place; several means a conflict.
    let locations: [String: [DomainRef]]
    /// What each host's defined domains reserve now.
    let usage: [Resources]
    /// Hosts per fault domain, in name order.
    let hostsByFaultDomain: [String: [Int]]
    let overcommit: Double
    let sharedPools: Set<String>

    /// - Parameter own: volumes virtplace's journal says it created, as `host/pool/volume`.
    init(spec: PlacementSpec, observed: ObservedFleet, own: Set<String> = []) {
        var observedByName: [String: ObservedHost] = [:]
        for host in observed.hosts where observedByName[host.name] == nil { observedByName[host.name] = host }
        let names = Set(spec.hosts.keys).union(observedByName.keys).sorted()
        let ratio = spec.policy.cpuOvercommit.isFinite && spec.policy.cpuOvercommit > 0 ? spec.policy.cpuOvercommit : 1.0
        overcommit = ratio
        sharedPools = Set(spec.storage.sharedPools)

        var hosts: [HostInfo] = []
        var hostByName: [String: Int] = [:]
        var domains: [[ObservedDomain]] = []
        var locations: [String: [DomainRef]] = [:]
        var usage: [Resources] = []
        var byFD: [String: [Int]] = [:]
        hosts.reserveCapacity(names.count)
        for name in names {
            let index = hosts.count
            let hostSpec = spec.hosts[name]
            let obs = observedByName[name]
            let reachable = obs?.reachable ?? false
            let problem: String? = obs == nil ? "not observed" : (reachable ? nil : (obs?.error ?? "did not answer"))
            let fd = hostSpec?.faultDomain ?? obs?.faultDomain
            let cpus = max(hostSpec?.capacity?.vcpus ?? obs?.capacity.vcpus ?? 0, 0)
            let memory = max(hostSpec?.capacity?.memoryMiB ?? obs?.capacity.memoryMiB ?? 0, 0)
            var pools: [String: PoolInfo] = [:]
            var networks = Set<String>()
            var bridges = Set<String>()
            var hostDomains: [ObservedDomain] = []
            var used = Resources.zero
            if let obs, reachable {
                // Only worth knowing when the journal names volumes of virtplace's own.
                var inUse = Set<String>()
                if !own.isEmpty {
                    for d in obs.domains { for disk in d.disks { if let p = disk.pool, let v = disk.volume { inUse.insert("\(p)/\(v)") } } }
                }
                for pool in obs.pools where pool.active {
                    var allocation: [String: Int64] = [:]
                    var backing: [String: String] = [:]
                    for v in pool.volumes {
                        allocation[v.name] = max(v.allocationBytes, 0)
                        if let b = v.backingPath { backing[v.name] = b }
                    }
                    let names = Set(pool.volumes.map(\.name))
                    let leftovers: Set<String> = own.isEmpty ? [] : names.filter { own.contains("\(name)/\(pool.name)/\($0)") && !inUse.contains("\(pool.name)/\($0)") }
                    pools[pool.name] = PoolInfo(volumes: names, allocation: allocation,
                                                availableBytes: pool.availableBytes.map { max($0, 0) }, leftovers: leftovers,
                                                backing: backing, paths: Set(pool.volumes.compactMap(\.path)))
                }
                for net in obs.networks where net.active {
                    networks.insert(net.name)
                    if let b = net.bridge { bridges.insert(b) }
                }
                hostDomains = obs.domains
                for i in obs.domains.indices {
                    locations[obs.domains[i].name, default: []].append(DomainRef(host: index, index: i))
                    used += obs.domains[i].footprint
                }
            }
            hosts.append(HostInfo(
                index: index, name: name, declared: hostSpec != nil, observed: obs != nil,
                reachable: reachable, problem: problem, state: hostSpec?.state ?? .active,
                faultDomain: fd, spreadKey: fd.map { "fd:\($0)" } ?? "host:\(name)",
                cpus: cpus, capacity: Resources(memoryMiB: memory, vcpus: placeableVcpus(cpus: cpus, ratio: ratio)).clamped,
                cpuModel: obs?.cpuModel,
                platformChecks: reachable ? Dictionary((obs?.platformChecks ?? []).map { ($0.platform, $0) }, uniquingKeysWith: { a, _ in a }) : [:],
                pools: pools, networks: networks, bridges: bridges,
                maintenance: hostSpec?.maintenance, migration: hostSpec?.migration ?? .init(),
                uriHost: hostSpec.flatMap { try? HostURI($0.uri, allowTestDriver: true) }?.host,
                libvirtVersion: reachable ? obs?.libvirtVersion : nil,
                hypervisorVersion: reachable ? obs?.hypervisorVersion : nil))
            hostByName[name] = index
            domains.append(hostDomains)
            usage.append(used)
            if let fd { byFD[fd, default: []].append(index) }
        }
        self.hosts = hosts
        self.hostByName = hostByName
        self.domains = domains
        self.locations = locations
        self.usage = usage
        self.hostsByFaultDomain = byFD
    }

    subscript(ref: DomainRef) -> ObservedDomain { domains[ref.host][ref.index] }

    /// Names of hosts that did not answer (or were not observed), sorted.
    var unreachableHostNames: [String] { hosts.filter { $0.declared && !$0.reachable }.map(\.name) }

    /// Whether a disk's storage is visible from every host.
    func isShared(_ disk: ObservedDisk) -> Bool {
        if disk.sourceType == "network" { return true }
        if let pool = disk.pool { return sharedPools.contains(pool) }
        return false
    }
}

/// `cpus × ratio`, rounded down, without trapping on absurd values.
func placeableVcpus(cpus: Int, ratio: Double) -> Int {
    let product = (Double(cpus) * ratio).rounded(.down)
    guard product.isFinite, product > 0 else { return 0 }
    return product >= 1e15 ? 1_000_000_000_000_000 : Int(product)
}

extension ObservedDomain {
    /// Whether libvirt runs it (`blocked` is Xen's word for a running domain waiting on a resource).
    var isRunning: Bool { state == "running" || state == "blocked" }
    var isShutOff: Bool { state == "shutoff" }

    /// vCPUs of the persistent definition.
    var configuredVcpus: Int { configVcpus ?? vcpus }
    /// Memory of the persistent definition, MiB.
    var configuredMemoryMiB: Int { configMemoryMiB ?? memoryMiB }

    /// What the domain reserves on its host: running or not, a defined domain holds its room;
    /// a pending (next-restart) change counts when it is larger.
    var footprint: Resources {
        Resources(memoryMiB: max(memoryMiB, configMemoryMiB ?? 0, 0), vcpus: max(vcpus, configVcpus ?? 0, 0)).clamped
    }

    /// Disks that name storage (cdroms without media are not storage).
    var storageDisks: [ObservedDisk] {
        disks.filter { $0.path != nil || ($0.pool != nil && $0.volume != nil) }
    }
}
