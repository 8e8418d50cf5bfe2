import Testing
@testable import Placement

// Small builders so that a test states only what matters to it.

/// A domain with one shared boot disk and one NIC on `default`.
func dom(_ name: String, state: String = "running", vcpus: Int = 1, mem: Int = 1024,
         disks: [ObservedDisk]? = nil, nics: [ObservedNIC]? = nil, hostdevs: [ObservedHostdev] = [],
         tpm: Bool = false, snapshots: Int = 0, persistent: Bool = true, autostart: Bool = false,
         cpuMode: String? = nil, fleet: String? = "lab", tags: [String: String] = [:],
         maxVcpus: Int? = nil, maxMem: Int? = nil, uuid: String? = nil) -> ObservedDomain {
    ObservedDomain(
        name: name, uuid: uuid ?? "uuid-\(name)", state: state, persistent: persistent, autostart: autostart,
        vcpus: vcpus, maxVcpus: maxVcpus, memoryMiB: mem, maxMemoryMiB: maxMem, cpuMode: cpuMode,
        disks: disks ?? [sharedDisk(name)], nics: nics ?? [nic(name)], hostdevs: hostdevs, hasTPM: tpm,
        snapshotCount: snapshots, fleet: fleet, tags: tags, xmlDigest: "xml-\(name)")
}

func sharedDisk(_ name: String, target: String = "vda", boot: Int? = nil) -> ObservedDisk {
    ObservedDisk(target: target, sourceType: "volume", pool: "shared", volume: "\(name).qcow2", bootOrder: boot)
}

func localDisk(_ name: String, target: String = "vda", boot: Int? = nil) -> ObservedDisk {
    ObservedDisk(target: target, sourceType: "volume", pool: "local", volume: "\(name).qcow2", bootOrder: boot)
}

/// A deterministic MAC per name and index.
func nic(_ name: String, index: Int = 0, network: String = "default") -> ObservedNIC {
    var h: UInt32 = 2166136261
    for b in name.utf8 { h = (h ^ UInt32(b)) &* 16777619 }
    func hx(_ v: UInt32) -> String { let s = String(v & 0xff, radix: 16); return s.count == 1 ? "0" + s : s }
    return ObservedNIC(type: "network", mac: "52:54:00:\(hx(h >> 16)):\(hx(h >> 8)):\(hx(h &+ UInt32(index)))", network: network)
}

/// A reachable host with pools `shared` and `local` and the network `default`.
func host(_ name: String, fd: String? = nil, cpus: Int = 8, mem: Int = 16384, cpuModel: String? = nil,
          reachable: Bool = true, pools: [String] = ["shared", "local"], networks: [ObservedNetwork]? = nil,
          volumes: [String: [String]] = [:], domains: [ObservedDomain] = []) -> ObservedHost {
    // Shared volumes are visible everywhere: every domain's shared volume is listed by tests that need it.
    let poolList = pools.map { p in
        ObservedPool(name: p, type: p == "shared" ? "netfs" : "dir", path: "/pool/\(p)", active: true,
                     volumes: (volumes[p] ?? []).sorted().map { ObservedVolume(name: $0, path: "/pool/\(p)/\($0)", capacityBytes: 1 << 30, allocationBytes: 1 << 20) })
    }
    return ObservedHost(
        name: name, uri: "qemu+tcp://\(name)/system", reachable: reachable, error: reachable ? nil : "connection refused",
        faultDomain: fd, capacity: ObservedCapacity(vcpus: cpus, memoryMiB: mem), cpuModel: cpuModel,
        pools: reachable ? poolList : [], networks: reachable ? (networks ?? [ObservedNetwork(name: "default", active: true, bridge: "virbr0")]) : [],
        domains: reachable ? domains : [])
}

/// A spec whose hosts mirror the observed ones (fault domain from the observation).
func spec(_ fleet: ObservedFleet, states: [String: HostState] = [:], capacity: [String: CapacitySpec] = [:],
          instances: [String: InstanceSpec], policy: PolicySpec = PolicySpec(), shared: [String] = ["shared"]) -> PlacementSpec {
    var hosts: [String: HostSpec] = [:]
    for h in fleet.hosts {
        hosts[h.name] = HostSpec(uri: h.uri, faultDomain: h.faultDomain, state: states[h.name] ?? .active, capacity: capacity[h.name])
    }
    return PlacementSpec(metadata: MetadataSpec(name: "lab"), policy: policy, storage: StorageSpec(sharedPools: shared),
                         hosts: hosts, instances: instances)
}

func policy(_ edit: (inout PolicySpec) -> Void) -> PolicySpec {
    var p = PolicySpec()
    edit(&p)
    return p
}

extension Plan {
    func action(_ instance: String) -> Action? { actions.first { $0.instance == instance } }
    var codes: Set<ReasonCode> { Set(actions.flatMap { $0.reasons.map(\.code) } + notes.map(\.code)) }
}

/// A deterministic random source (SplitMix64) for property tests.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
