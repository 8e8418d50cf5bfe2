import Foundation
import Testing
@testable import Placement

/// One reason code, the smallest scenario that produces it, and the actions it leads to.
struct ReasonCase: Sendable, CustomTestStringConvertible {
    let code: ReasonCode
    let scenario: Scenario
    /// Volumes the journal says virtplace created (`host/pool/volume`).
    var own: Set<String> = []
    var testDescription: String { "\(code.rawValue): \(scenario.name)" }
}

/// h1 (fd-1, Skylake) and h2 (fd-2, Haswell), both with pools shared and local and network default.
func twoHosts(_ h1: [ObservedDomain] = [], _ h2: [ObservedDomain] = [], h1Pools: [String] = ["shared", "local"],
              h2Pools: [String] = ["shared", "local"], h1Volumes: [String: [String]] = [:], h2Volumes: [String: [String]] = [:],
              h1Networks: [ObservedNetwork]? = nil, h2Networks: [ObservedNetwork]? = nil,
              h1Mem: Int = 16384, h2Reachable: Bool = true, extra: [ObservedHost] = []) -> ObservedFleet {
    ObservedFleet(hosts: [
        host("h1", fd: "fd-1", mem: h1Mem, cpuModel: "Skylake", pools: h1Pools, networks: h1Networks, volumes: h1Volumes, domains: h1),
        host("h2", fd: "fd-2", cpuModel: "Haswell", reachable: h2Reachable, pools: h2Pools, networks: h2Networks, volumes: h2Volumes, domains: h2),
    ] + extra)
}

func rc(_ code: ReasonCode, _ name: String, _ observed: ObservedFleet, states: [String: HostState] = [:],
        capacity: [String: CapacitySpec] = [:], policy: PolicySpec = PolicySpec(),
        own: Set<String> = [], _ instances: [String: InstanceSpec], _ expected: [Expect]) -> ReasonCase {
    ReasonCase(code: code, scenario: scenario(name, observed, states: states, capacity: capacity, policy: policy, instances, expected),
               own: own)
}

let toH2 = InstanceSpec(host: "h2")
func toH2(moves: [MoveKind]) -> InstanceSpec { InstanceSpec(host: "h2", moves: moves) }
let withManual: [MoveKind] = [.live, .reboot, .cold, .manual]
let neverCopy: PolicySpec = policy { $0.live.copyStorage = .never }

let reasonCases: [ReasonCase] = maintenanceReasonCases + transportReasonCases + [
    rc(.instanceNotFound, "declared but defined nowhere", twoHosts(), ["ghost": InstanceSpec()],
       [expect(.blocked, "ghost", nil, nil)]),
    rc(.instanceConflict, "defined on two hosts", twoHosts([dom("web-1")], [dom("web-1", uuid: "other")]),
       ["web-1": InstanceSpec()], [expect(.blocked, "web-1", nil, nil)]),
    rc(.domainState, "paused domain that should move", twoHosts([dom("web-1", state: "paused")]), ["web-1": toH2],
       [expect(.blocked, "web-1", "h1", "h2", .placeHost)]),
    rc(.domainTransient, "transient domain with config drift", twoHosts([dom("web-1", persistent: false)]),
       ["web-1": InstanceSpec(config: ConfigSpec(vcpus: 2))], [expect(.blocked, "web-1", "h1", "h1", .driftVcpus)]),
    rc(.domainOtherFleet, "domain of another fleet", twoHosts([dom("web-1", fleet: "prod")]), ["web-1": InstanceSpec()],
       [expect(.blocked, "web-1", "h1", nil)]),

    rc(.placeHost, "declared on another host", twoHosts([dom("web-1")]), ["web-1": toH2], [expect(.live, "web-1", "h1", "h2")]),
    rc(.placeFaultDomain, "declared in another fault domain", twoHosts([dom("web-1")]),
       ["web-1": InstanceSpec(faultDomain: "fd-2")], [expect(.live, "web-1", "h1", "h2")]),
    rc(.placeSpread, "two spread members in one fault domain",
       twoHosts([dom("a-1"), dom("a-2")]), ["a-1": InstanceSpec(spread: "a"), "a-2": InstanceSpec(spread: "a")],
       [expect(.live, "a-2", "h1", "h2")]),
    rc(.placeDrained, "host drained", twoHosts([dom("web-1")]), states: ["h1": .drained], ["web-1": InstanceSpec()],
       [expect(.live, "web-1", "h1", "h2")]),
    rc(.placeHeld, "declared host cordoned", twoHosts([], [dom("web-1")]), states: ["h1": .cordoned],
       ["web-1": InstanceSpec(host: "h1")], []),
    rc(.placeNoHost, "no host has room", twoHosts([dom("web-1", mem: 8192)]), capacity: ["h2": CapacitySpec(memoryMiB: 4096)],
       ["web-1": InstanceSpec(faultDomain: "fd-2")], [expect(.blocked, "web-1", "h1", nil, .targetMemory)]),

    rc(.targetUnknown, "declared host not in the file", twoHosts([dom("web-1")]), ["web-1": InstanceSpec(host: "h9")],
       [expect(.blocked, "web-1", "h1", "h9", .placeHost)]),
    rc(.targetUnreachable, "declared host unreachable", twoHosts([dom("web-1")], h2Reachable: false), ["web-1": toH2],
       [expect(.blocked, "web-1", "h1", "h2")]),
    rc(.targetCordoned, "only host of the fault domain cordoned", twoHosts([dom("web-1")]), states: ["h2": .cordoned],
       ["web-1": InstanceSpec(faultDomain: "fd-2")], [expect(.blocked, "web-1", "h1", nil, .placeNoHost)]),
    rc(.targetDrained, "only host of the fault domain drained", twoHosts([dom("web-1")]), states: ["h2": .drained],
       ["web-1": InstanceSpec(faultDomain: "fd-2")], [expect(.blocked, "web-1", "h1", nil, .placeNoHost)]),
    rc(.targetMemory, "declared host lacks memory", twoHosts([dom("web-1", mem: 8192)]), capacity: ["h2": CapacitySpec(memoryMiB: 4096)],
       ["web-1": toH2], [expect(.blocked, "web-1", "h1", "h2")]),
    rc(.targetVcpus, "declared host lacks vCPUs", twoHosts([dom("web-1", vcpus: 4)]), capacity: ["h2": CapacitySpec(vcpus: 2)],
       policy: policy { $0.cpuOvercommit = 1.5 }, ["web-1": toH2], [expect(.blocked, "web-1", "h1", "h2")]),
    rc(.targetPool, "target lacks the disk's pool",
       twoHosts([dom("web-1", disks: [ObservedDisk(target: "vda", sourceType: "volume", pool: "fast", volume: "w.qcow2")])],
                h1Pools: ["shared", "local", "fast"]),
       ["web-1": toH2], [expect(.blocked, "web-1", "h1", "h2")]),
    rc(.targetVolumeExists, "a local volume of the same name is on the target",
       twoHosts([dom("web-1", disks: [localDisk("web-1")])], h2Volumes: ["local": ["web-1.qcow2"]]),
       ["web-1": toH2], [expect(.blocked, "web-1", "h1", "h2")]),
    rc(.targetVolumeMissing, "a declared disk's volume is not on the target",
       twoHosts([dom("web-1")], h1Volumes: ["shared": ["data.qcow2"]]),
       ["web-1": InstanceSpec(host: "h2", devices: ["data": .disk(DiskSpec(pool: "shared", volume: "data.qcow2"))])],
       [expect(.blocked, "web-1", "h1", "h2", .driftDisk)]),
    rc(.targetNetwork, "target lacks the NIC's network",
       twoHosts([dom("web-1", nics: [nic("web-1", network: "backend")])],
                h1Networks: [ObservedNetwork(name: "backend", active: true, bridge: "virbr1")]),
       ["web-1": toH2], [expect(.blocked, "web-1", "h1", "h2")]),
    rc(.targetBridge, "target lacks the NIC's bridge",
       twoHosts([dom("web-1", nics: [ObservedNIC(type: "bridge", mac: "52:54:00:00:00:01", bridge: "br0")])],
                h1Networks: [ObservedNetwork(name: "lan", active: true, bridge: "br0")]),
       ["web-1": toH2], [expect(.blocked, "web-1", "h1", "h2")]),
    rc(.targetFaultDomain, "declared fault domain has no host", twoHosts([dom("web-1")]),
       ["web-1": InstanceSpec(faultDomain: "fd-9")], [expect(.blocked, "web-1", "h1", nil, .placeFaultDomain)]),
    rc(.targetSpread, "the only fault domain with room for a spread member holds its share (a note)",
       twoHosts([dom("a-1"), dom("a-2"), dom("a-3")], [dom("a-4")],
                extra: [host("h3", fd: "fd-3", domains: [dom("a-5"), dom("a-6")])]), states: ["h2": .cordoned],
       ["a-1": InstanceSpec(spread: "a"), "a-2": InstanceSpec(spread: "a"), "a-3": InstanceSpec(spread: "a"),
        "a-4": InstanceSpec(spread: "a"), "a-5": InstanceSpec(host: "h3", spread: "a"), "a-6": InstanceSpec(host: "h3", spread: "a")],
       []),
    rc(.placeSpreadShared, "a spread member no other fault domain has room for stays (a note)",
       twoHosts([dom("a-1"), dom("a-2")], [dom("filler", mem: 16384)]),
       ["a-1": InstanceSpec(spread: "a"), "a-2": InstanceSpec(spread: "a")], []),
    rc(.targetSpace, "the target pool has too little free space for the copy",
       ObservedFleet(hosts: [
           sizedHost("h1", space: ["local": 1 << 40], volumes: ["local": ["web-1.qcow2": 1 << 30]],
                     domains: [dom("web-1", disks: [localDisk("web-1")])]),
           sizedHost("h2", space: ["local": 512 << 20]),
       ]), ["web-1": toH2], [expect(.blocked, "web-1", "h1", "h2")]),
    rc(.targetSharedVolumeMissing, "a pool listed as shared lacks the volume on the target",
       twoHosts([dom("web-1")], h1Volumes: ["shared": ["web-1.qcow2"]]), ["web-1": toH2],
       [expect(.blocked, "web-1", "h1", "h2")]),
    rc(.targetVolumeLeftover, "an earlier failed copy left virtplace's own volume on the target",
       twoHosts([dom("web-1", state: "shutoff", disks: [localDisk("web-1")])], h2Volumes: ["local": ["web-1.qcow2"]]),
       own: ["h2/local/web-1.qcow2"], ["web-1": toH2], [expect(.cold, "web-1", "h1", "h2")]),
    rc(.startCapacity, "starting the domain would exceed its host's declared capacity",
       twoHosts([dom("web-1", state: "shutoff", mem: 512)]), capacity: ["h1": CapacitySpec(memoryMiB: 300)],
       ["web-1": InstanceSpec(state: .running)], [expect(.blocked, "web-1", "h1", "h1", .driftState)]),

    rc(.liveNotAllowed, "live not in the instance's moves", twoHosts([dom("web-1")]), ["web-1": toH2(moves: [.reboot])],
       [expect(.reboot, "web-1", "h1", "h2")]),
    rc(.liveHostdev, "PCI hostdev", twoHosts([dom("web-1", hostdevs: [ObservedHostdev(type: "pci", address: "0000:03:00.0")])]),
       ["web-1": toH2], [expect(.reboot, "web-1", "h1", "h2")]),
    rc(.liveHostdevNIC, "hostdev interface",
       twoHosts([dom("web-1", nics: [ObservedNIC(type: "hostdev", mac: "52:54:00:00:00:02")])]),
       ["web-1": toH2], [expect(.reboot, "web-1", "h1", "h2")]),
    rc(.liveTransientDisk, "transient disk",
       twoHosts([dom("web-1", disks: [ObservedDisk(target: "vda", sourceType: "volume", pool: "shared", volume: "w", transient: true)])]),
       ["web-1": toH2], [expect(.reboot, "web-1", "h1", "h2")]),
    rc(.liveTPM, "TPM", twoHosts([dom("web-1", tpm: true)]), ["web-1": toH2],
       [expect(.blocked, "web-1", "h1", "h2", .liveTPM, .moveTPMState)]),
    rc(.liveCPUPassthrough, "host-passthrough between CPU models", twoHosts([dom("web-1", cpuMode: "host-passthrough")]),
       ["web-1": toH2], [expect(.reboot, "web-1", "h1", "h2")]),
    rc(.liveStorage, "local disk and copyStorage never", twoHosts([dom("web-1", disks: [localDisk("web-1")])]), policy: neverCopy,
       ["web-1": toH2], [expect(.reboot, "web-1", "h1", "h2")]),
    rc(.rebootNotAllowed, "hostdev and only live allowed",
       twoHosts([dom("web-1", hostdevs: [ObservedHostdev(type: "mdev", address: "4b20d080-1b54-4048-85b3-a6a62d165c01")])]),
       ["web-1": toH2(moves: [.live])], [expect(.blocked, "web-1", "h1", "h2", .liveHostdev, .manualNotAllowed)]),
    rc(.coldNotAllowed, "shut off and cold not allowed", twoHosts([dom("web-1", state: "shutoff")]),
       ["web-1": toH2(moves: [.live, .reboot])], [expect(.blocked, "web-1", "h1", "h2", .manualNotAllowed)]),
    rc(.migrateSnapshots, "snapshots with manual allowed", twoHosts([dom("web-1", snapshots: 2)]),
       ["web-1": toH2(moves: withManual)], [expect(.manual, "web-1", "h1", "h2")]),
    rc(.migrateTransient, "transient domain that should move", twoHosts([dom("web-1", persistent: false)]),
       ["web-1": toH2], [expect(.blocked, "web-1", "h1", "h2", .manualNotAllowed)]),
    rc(.moveDiskUnknown, "disk outside every pool",
       twoHosts([dom("web-1", disks: [ObservedDisk(target: "vda", sourceType: "block", path: "/dev/sdb")])]),
       ["web-1": toH2(moves: withManual)], [expect(.blocked, "web-1", "h1", "h2")]),
    rc(.manualNotAllowed, "snapshots without manual", twoHosts([dom("web-1", snapshots: 1)]), ["web-1": toH2],
       [expect(.blocked, "web-1", "h1", "h2", .migrateSnapshots)]),
    rc(.manualNoBootVolume, "snapshots, manual allowed, two disks and no boot order",
       twoHosts([dom("web-1", disks: [sharedDisk("a"), sharedDisk("b", target: "vdb")], snapshots: 1)]),
       ["web-1": toH2(moves: withManual)], [expect(.blocked, "web-1", "h1", "h2", .migrateSnapshots)]),
    rc(.manualNIC, "snapshots, manual allowed, a direct interface",
       twoHosts([dom("web-1", nics: [ObservedNIC(type: "direct", mac: "52:54:00:00:00:03")], snapshots: 1)]),
       ["web-1": toH2(moves: withManual)], [expect(.blocked, "web-1", "h1", "h2")]),

    rc(.driftVcpus, "vCPUs differ", twoHosts([dom("web-1", vcpus: 1, maxVcpus: 4)]),
       ["web-1": InstanceSpec(config: ConfigSpec(vcpus: 2))], [expect(.update, "web-1", "h1", "h1")]),
    rc(.driftMemory, "memory differs", twoHosts([dom("web-1", mem: 1024)]),
       ["web-1": InstanceSpec(config: ConfigSpec(memoryMiB: 2048))], [expect(.update, "web-1", "h1", "h1")]),
    rc(.driftAutostart, "autostart differs", twoHosts([dom("web-1")]),
       ["web-1": InstanceSpec(config: ConfigSpec(autostart: true))], [expect(.update, "web-1", "h1", "h1")]),
    rc(.driftTags, "a tag differs", twoHosts([dom("web-1", tags: ["tier": "db"])]),
       ["web-1": InstanceSpec(config: ConfigSpec(tags: ["tier": "web"]))], [expect(.update, "web-1", "h1", "h1")]),
    rc(.driftFleet, "not marked as managed", twoHosts([dom("web-1", fleet: nil)]), ["web-1": InstanceSpec()],
       [expect(.update, "web-1", "h1", "h1")]),
    rc(.driftDisk, "a declared disk is missing", twoHosts([dom("web-1")], h1Volumes: ["shared": ["data.qcow2"]]),
       ["web-1": InstanceSpec(devices: ["data": .disk(DiskSpec(pool: "shared", volume: "data.qcow2"))])],
       [expect(.update, "web-1", "h1", "h1")]),
    rc(.driftNIC, "a declared NIC is missing", twoHosts([dom("web-1")]),
       ["web-1": InstanceSpec(devices: ["eth1": .nic(NICSpec(network: "default", mac: "52:54:00:12:34:56"))])],
       [expect(.update, "web-1", "h1", "h1")]),
    rc(.driftState, "running, should be stopped", twoHosts([dom("web-1")]), ["web-1": InstanceSpec(state: .stopped)],
       [expect(.stop, "web-1", "h1", "h1")]),

    rc(.updatePoolMissing, "a declared disk's pool is not on the host", twoHosts([dom("web-1")]),
       ["web-1": InstanceSpec(devices: ["data": .disk(DiskSpec(pool: "fast", volume: "data.qcow2"))])],
       [expect(.blocked, "web-1", "h1", "h1", .driftDisk)]),
    rc(.updateVolumeMissing, "a declared disk's volume does not exist", twoHosts([dom("web-1")]),
       ["web-1": InstanceSpec(devices: ["data": .disk(DiskSpec(pool: "shared", volume: "nope.qcow2"))])],
       [expect(.blocked, "web-1", "h1", "h1", .driftDisk)]),
    rc(.updateNetworkMissing, "a declared NIC's network is not on the host", twoHosts([dom("web-1")]),
       ["web-1": InstanceSpec(devices: ["eth1": .nic(NICSpec(network: "backend"))])],
       [expect(.blocked, "web-1", "h1", "h1", .driftNIC)]),
    rc(.updateCapacity, "memory growth beyond the host", twoHosts([dom("web-1", mem: 1024)], h1Mem: 2048),
       ["web-1": InstanceSpec(config: ConfigSpec(memoryMiB: 4096))], [expect(.blocked, "web-1", "h1", "h1", .driftMemory)]),

    rc(.orderDeferred, "beyond maxMovesPerRun", twoHosts([dom("a"), dom("b")]), policy: policy { $0.maxMovesPerRun = 1 },
       ["a": toH2, "b": toH2], [expect(.live, "a", "h1", "h2", wave: 1), expect(.live, "b", "h1", "h2", deferred: true)]),
    rc(.orderUnorderable, "a swap between two full hosts",
       ObservedFleet(hosts: [host("h1", mem: 1024, domains: [dom("a")]), host("h2", mem: 1024, domains: [dom("b")])]),
       ["a": toH2, "b": InstanceSpec(host: "h1")], [expect(.blocked, "a", "h1", "h2"), expect(.blocked, "b", "h2", "h1")]),
    rc(.orderRelay, "a swap through a third host",
       ObservedFleet(hosts: [host("h1", mem: 1024, domains: [dom("a")]), host("h2", mem: 1024, domains: [dom("b")]), host("h3")]),
       ["a": toH2, "b": InstanceSpec(host: "h1")],
       [expect(.live, "a", "h1", "h2", wave: 2), expect(.live, "b", "h2", "h3", wave: 1), expect(.live, "b", "h3", "h1", wave: 3)]),
    rc(.noteExtraDevice, "an observed disk the file does not mention",
       twoHosts([dom("web-1", disks: [sharedDisk("web-1"), sharedDisk("scratch", target: "vdb")])]),
       ["web-1": InstanceSpec(devices: ["root": .disk(DiskSpec(pool: "shared", volume: "web-1.qcow2", boot: true))])], []),
]

@Test("every reason code", arguments: reasonCases)
func reasonCode(_ c: ReasonCase) {
    let plan = makePlan(desired: c.scenario.spec, observed: c.scenario.observed, ownVolumes: c.own)
    #expect(plan.codes.contains(c.code), "\(c.code.rawValue) not in \(plan.actions.map(\.reasons)) \(plan.notes)")
    check(plan, c.scenario.expected)
}

@Test func everyReasonCodeHasACase() {
    // The window's codes come from `Plan.windowed` (`apply --until`), not from the planner:
    // EstimateTests cover them.
    let covered = Set((reasonCases + fleetMovesCases).map(\.code)).union([.orderWindow, .orderWindowUnknown])
    let missing = ReasonCode.allCases.filter { !covered.contains($0) }
    #expect(missing.isEmpty, "no case for \(missing.map(\.rawValue))")
}

@Test func everyReasonCodeIsDocumented() throws {
    let docs = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("docs/reasons.md")
    let text = try String(contentsOf: docs, encoding: .utf8)
    let missing = ReasonCode.allCases.filter { !text.contains("`\($0.rawValue)`") }
    #expect(missing.isEmpty, "undocumented: \(missing.map(\.rawValue))")
}

@Test func refusedRungsAreKeptWhenALowerRungIsChosen() throws {
    let observed = twoHosts([dom("web-1", hostdevs: [ObservedHostdev(type: "pci", address: "0000:03:00.0")])])
    let plan = makePlan(desired: spec(observed, instances: ["web-1": toH2]), observed: observed)
    let action = try #require(plan.action("web-1"))
    #expect(action.kind == .reboot)
    #expect(action.reasons == [Reason(.placeHost, "declared on h2"),
                               Reason(.liveHostdev, "not live-migratable: PCI hostdev 0000:03:00.0")])
}

@Test func aUSBHostdevDoesNotBlockLiveMigration() {
    let observed = twoHosts([dom("web-1", hostdevs: [ObservedHostdev(type: "usb", address: "001:004")])])
    let plan = makePlan(desired: spec(observed, instances: ["web-1": toH2]), observed: observed)
    #expect(plan.action("web-1")?.kind == .live)
}

@Test func hostPassthroughBetweenEqualCPUModelsMigratesLive() {
    let observed = ObservedFleet(hosts: [
        host("h1", cpuModel: "Skylake", domains: [dom("web-1", cpuMode: "host-passthrough")]),
        host("h2", cpuModel: "Skylake"),
    ])
    let plan = makePlan(desired: spec(observed, instances: ["web-1": toH2]), observed: observed)
    #expect(plan.action("web-1")?.kind == .live)
}
