import Foundation
import Testing
@testable import Placement

/// A step list case: desired × observed → the exact steps of one instance's action.
struct StepCase: Sendable, CustomTestStringConvertible {
    let name: String
    let observed: ObservedFleet
    let instance: InstanceSpec
    var policy = PolicySpec()
    let kind: ActionKind
    let steps: [Step]
    /// The move a failed live migration falls back to.
    var fallback: ActionKind?
    var testDescription: String { name }
}

let defaultLive = LiveMigration(from: "h1", to: "h2", maxDowntimeMs: 300, bandwidthMiBps: 0, timeoutSeconds: 600,
                                onTimeout: .abort, autoConverge: false, copyDisks: [], sharedPools: ["shared"])
let shutdownH1 = Step.shutdown(host: "h1", timeoutSeconds: 120, forceOff: false)

let stepCases: [StepCase] = [
    StepCase(name: "live, shared storage", observed: twoHosts([dom("w")]), instance: toH2, kind: .live,
             steps: [.record(host: "h1"), .migrateLive(defaultLive)], fallback: .reboot),
    StepCase(name: "live only: a failed migration is reported, not fallen back from",
             observed: twoHosts([dom("w")]), instance: { var i = toH2; i.moves = [.live]; return i }(), kind: .live,
             steps: [.record(host: "h1"), .migrateLive(defaultLive)], fallback: nil),
    StepCase(name: "live, falling back to manual when the file allows only that",
             observed: twoHosts([dom("w", disks: [sharedDisk("w", boot: 1)], nics: [nic("w")])]),
             instance: { var i = toH2; i.moves = [.live, .manual]; return i }(), kind: .live,
             steps: [.record(host: "h1"), .migrateLive(defaultLive)], fallback: .manual),
    StepCase(name: "live copies a local disk and keeps the source copy",
             observed: twoHosts([dom("w", disks: [localDisk("w")])]), instance: toH2, kind: .live,
             steps: [.record(host: "h1"), .migrateLive({ var m = defaultLive; m.copyDisks = ["vda"]; m.sharedPools = []; return m }())],
             fallback: .reboot),
    StepCase(name: "live with the instance's live overrides",
             observed: twoHosts([dom("w")]),
             instance: { var i = toH2; var o = LiveOverrideSpec(); o.maxDowntimeMs = 100; o.onTimeout = .postcopy; o.autoConverge = true; i.live = o; return i }(),
             kind: .live,
             steps: [.record(host: "h1"), .migrateLive(LiveMigration(from: "h1", to: "h2", maxDowntimeMs: 100, bandwidthMiBps: 0,
                                                                     timeoutSeconds: 600, onTimeout: .postcopy, autoConverge: true, copyDisks: [],
                                                                     sharedPools: ["shared"]))], fallback: .reboot),
    StepCase(name: "live carries overrides and restores autostart on the target",
             observed: twoHosts([dom("w", vcpus: 1, autostart: true, maxVcpus: 4)]),
             instance: InstanceSpec(host: "h2", config: ConfigSpec(vcpus: 2, memoryMiB: 2048, tags: ["tier": "web"])), kind: .live,
             steps: [.record(host: "h1"), .migrateLive(defaultLive),
                     .setVcpus(host: "h2", count: 2, applies: .live),
                     .setMemory(host: "h2", memoryMiB: 2048, applies: .restart),
                     .setMetadata(host: "h2", fleet: "lab", tags: ["tier": "web"]),
                     .setAutostart(host: "h2", enabled: true)], fallback: .reboot),
    StepCase(name: "reboot: shut down, copy, define, undefine, start",
             observed: twoHosts([dom("w", disks: [localDisk("w")], hostdevs: [ObservedHostdev(type: "pci", address: "0000:03:00.0")])]), instance: toH2, kind: .reboot,
             steps: [.record(host: "h1"), shutdownH1,
                     .transferVolume(pool: "local", volume: "w.qcow2", from: "h1", to: "h2"),
                     .defineOnTarget(host: "h2", from: "h1"), .undefineSource(host: "h1"), .start(host: "h2")]),
    StepCase(name: "reboot honours forceOff and the shutdown timeout",
             observed: twoHosts([dom("w", hostdevs: [ObservedHostdev(type: "pci", address: "0000:03:00.0")])]), instance: toH2,
             policy: policy { $0.forceOff = true; $0.shutdownTimeoutSeconds = 30 }, kind: .reboot,
             steps: [.record(host: "h1"), .shutdown(host: "h1", timeoutSeconds: 30, forceOff: true),
                     .defineOnTarget(host: "h2", from: "h1"), .undefineSource(host: "h1"), .start(host: "h2")]),
    StepCase(name: "cold stays shut off",
             observed: twoHosts([dom("w", state: "shutoff")]), instance: toH2, kind: .cold,
             steps: [.record(host: "h1"), .defineOnTarget(host: "h2", from: "h1"), .undefineSource(host: "h1")]),
    StepCase(name: "cold then start when the file says running",
             observed: twoHosts([dom("w", state: "shutoff", mem: 1024)]),
             instance: InstanceSpec(host: "h2", config: ConfigSpec(memoryMiB: 2048), state: .running), kind: .cold,
             steps: [.record(host: "h1"), .defineOnTarget(host: "h2", from: "h1"), .undefineSource(host: "h1"),
                     .setMemory(host: "h2", memoryMiB: 2048, applies: .restart), .start(host: "h2")]),
    StepCase(name: "a running instance the file wants stopped is shut down and moved cold",
             observed: twoHosts([dom("w")]), instance: InstanceSpec(host: "h2", state: .stopped), kind: .cold,
             steps: [.record(host: "h1"), shutdownH1, .defineOnTarget(host: "h2", from: "h1"), .undefineSource(host: "h1")]),
    StepCase(name: "manual: recreate from the boot volume with the same identity",
             observed: twoHosts([dom("w", disks: [localDisk("w", boot: 1), sharedDisk("w-data", target: "vdb")],
                                     nics: [nic("w"), nic("w", index: 1)], snapshots: 1, autostart: true, tags: ["tier": "web"])]),
             instance: toH2(moves: withManual), policy: policy { $0.backups = true }, kind: .manual,
             steps: [.record(host: "h1"),
                     .backupVolume(host: "h1", pool: "local", volume: "w.qcow2", backup: "w.qcow2.virtplace-backup"),
                     .backupVolume(host: "h1", pool: "shared", volume: "w-data.qcow2", backup: "w-data.qcow2.virtplace-backup"),
                     shutdownH1,
                     .transferVolume(pool: "local", volume: "w.qcow2", from: "h1", to: "h2"),
                     .recreate(host: "h2", from: "h1", bootPool: "local", bootVolume: "w.qcow2"),
                     .attachDisk(host: "h2", disk: DiskAttachment(key: nil, target: "vdb", pool: "shared", volume: "w-data.qcow2",
                                                                  bus: nil, readOnly: false), applies: .restart),
                     // The first NIC is part of the re-created definition; the second is re-created.
                     .attachNIC(host: "h2", nic: NICAttachment(key: nil, network: "default", bridge: nil, mac: nic("w", index: 1).mac,
                                                               model: nil), applies: .restart),
                     .setMetadata(host: "h2", fleet: "lab", tags: ["tier": "web"]),
                     .setAutostart(host: "h2", enabled: true),
                     .undefineSource(host: "h1"), .start(host: "h2")]),
    StepCase(name: "update: live where the maximum allows, at next restart above it",
             observed: twoHosts([dom("w", vcpus: 2, mem: 1024, maxVcpus: 2, maxMem: 4096)]),
             instance: InstanceSpec(config: ConfigSpec(vcpus: 4, memoryMiB: 2048)), kind: .update,
             steps: [.setVcpus(host: "h1", count: 4, applies: .restart), .setMemory(host: "h1", memoryMiB: 2048, applies: .live)]),
    StepCase(name: "update: devices, autostart, metadata with the observed tags kept",
             observed: twoHosts([dom("w", fleet: nil, tags: ["owner": "ops"])], h1Volumes: ["shared": ["w-data.qcow2"]]),
             instance: InstanceSpec(config: ConfigSpec(autostart: true, tags: ["tier": "web"]),
                                    devices: ["data": .disk(DiskSpec(pool: "shared", volume: "w-data.qcow2", bus: "scsi")),
                                              "eth1": .nic(NICSpec(network: "default", mac: "52:54:00:AA:BB:CC", model: "virtio"))]),
             kind: .update,
             steps: [.attachDisk(host: "h1", disk: DiskAttachment(key: "data", target: nil, pool: "shared", volume: "w-data.qcow2",
                                                                  bus: "scsi", readOnly: false), applies: .live),
                     .attachNIC(host: "h1", nic: NICAttachment(key: "eth1", network: "default", bridge: nil,
                                                               mac: "52:54:00:aa:bb:cc", model: "virtio"), applies: .live),
                     .setAutostart(host: "h1", enabled: true),
                     .setMetadata(host: "h1", fleet: "lab", tags: ["owner": "ops", "tier": "web"])]),
    StepCase(name: "start: config first, at the start it makes",
             observed: twoHosts([dom("w", state: "shutoff", vcpus: 1)]),
             instance: InstanceSpec(config: ConfigSpec(vcpus: 2), state: .running), kind: .start,
             steps: [.setVcpus(host: "h1", count: 2, applies: .restart), .start(host: "h1")]),
    StepCase(name: "stop: shut down first, then config",
             observed: twoHosts([dom("w", vcpus: 1)]),
             instance: InstanceSpec(config: ConfigSpec(vcpus: 2), state: .stopped), kind: .stop,
             steps: [shutdownH1, .setVcpus(host: "h1", count: 2, applies: .restart)]),
    StepCase(name: "a NIC without MAC matched by network is not drift",
             observed: twoHosts([dom("w", nics: [nic("w", network: "default")])]),
             instance: InstanceSpec(devices: ["eth0": .nic(NICSpec(network: "default"))]), kind: .update, steps: []),
    StepCase(name: "a change pending for the next restart is not drift",
             observed: twoHosts([{ var d = dom("w", vcpus: 1); d.configVcpus = 2; return d }()]),
             instance: InstanceSpec(config: ConfigSpec(vcpus: 2)), kind: .update, steps: []),
]

@Test("steps", arguments: stepCases)
func stepsOf(_ c: StepCase) throws {
    let plan = makePlan(desired: spec(c.observed, instances: ["w": c.instance], policy: c.policy), observed: c.observed)
    if c.steps.isEmpty {
        #expect(plan.actions.isEmpty, "\(plan.actions)")
        return
    }
    let action = try #require(plan.action("w"), "\(plan.actions)")
    #expect(action.kind == c.kind, "\(action.reasons)")
    #expect(action.steps == c.steps)
    #expect(action.fallback?.kind == c.fallback, "fallback")
    if action.steps != c.steps {
        for (a, b) in zip(action.steps, c.steps) where a != b { print("got \(a)\nwant \(b)") }
    }
}

@Test func stepsRoundTripThroughJSONWithAnOp() throws {
    var all: [Step] = []
    for c in stepCases { all += c.steps }
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    let data = try encoder.encode(all)
    #expect(try JSONDecoder().decode([Step].self, from: data) == all)
    let objects = try #require(try JSONSerialization.jsonObject(with: data) as? [[String: Any]])
    #expect(objects.allSatisfy { ($0["op"] as? String) != nil })
    // Every op appears in the cases above.
    let ops = Set(all.map(\.op))
    #expect(ops == ["record", "backupVolume", "shutdown", "migrateLive", "transferVolume", "defineOnTarget", "recreate",
                    "undefineSource", "start", "setVcpus", "setMemory", "setAutostart", "setMetadata",
                    "attachDisk", "attachNIC"])
}

@Test func anUnknownOpIsADecodingError() {
    let data = Data(#"{"op":"format","host":"h1"}"#.utf8)
    #expect(throws: DecodingError.self) { try JSONDecoder().decode(Step.self, from: data) }
}

@Test func aStepJSONIsFlat() throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    let step = Step.transferVolume(pool: "local", volume: "w.qcow2", from: "h1", to: "h2")
    let text = String(decoding: try encoder.encode(step), as: UTF8.self)
    #expect(text == #"{"from":"h1","op":"transferVolume","pool":"local","to":"h2","volume":"w.qcow2"}"#)
}
