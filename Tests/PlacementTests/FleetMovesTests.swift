import Foundation
import Testing
@testable import Placement

// What real fleets need of a move: the guest platform a target must offer (CPU, machine type),
// the boot disk by libvirt's rule, qcow2 overlays, and a migration someone else runs.

/// A guest with a `custom` Westmere CPU on machine pc-i440fx-7.2 (what the lab's odd host
/// cannot offer).
func westmere(_ name: String, state: String = "running", disks: [ObservedDisk]? = nil) -> ObservedDomain {
    var d = dom(name, state: state, disks: disks, uuid: "11111111-2222-4333-8444-555555555555")
    d.xmlDigest = SHA256.hex(name)
    d.cpuMode = "custom"; d.cpuModel = "Westmere"; d.cpuFeatures = ["pcid": "disable"]
    d.virtType = "qemu"; d.arch = "x86_64"; d.machine = "pc-i440fx-7.2"; d.emulator = "/usr/bin/qemu-system-x86_64"
    return d
}

/// `fleet` with host `name` answering `reason` (nil: compatible) for `guest`'s platform.
func answering(_ fleet: ObservedFleet, _ name: String, _ guest: ObservedDomain, _ reason: ReasonCode?) -> ObservedFleet {
    var f = fleet
    for i in f.hosts.indices where f.hosts[i].name == name {
        f.hosts[i].platformChecks.append(ObservedPlatformCheck(
            platform: guest.platformKey ?? "", reason: reason?.rawValue,
            detail: reason == nil ? nil : "the CPU is incompatible with host CPU: Host CPU does not provide required features: aes"))
    }
    return f
}

/// A shut-off guest whose local qcow2 disk is an overlay of `backing` on h1.
func overlayFleet(backing: String, sharedBase: Bool) -> ObservedFleet {
    var fleet = twoHosts([dom("web-1", state: "shutoff", disks: [localDisk("web-1")])],
                         h1Volumes: ["local": ["web-1.qcow2"], "shared": sharedBase ? ["base.qcow2"] : []],
                         h2Volumes: ["shared": sharedBase ? ["base.qcow2"] : []])
    for p in fleet.hosts[0].pools.indices where fleet.hosts[0].pools[p].name == "local" {
        fleet.hosts[0].pools[p].volumes[0].backingPath = backing
    }
    return fleet
}

/// A guest migrating from h1 to h2 by someone else: running on h1, paused for the incoming
/// migration (and transient) on h2, the same UUID.
func migratingFleet() -> ObservedFleet {
    var incoming = dom("web-1", state: "paused", persistent: false)
    incoming.stateReason = "migration"
    return twoHosts([dom("web-1")], [incoming])
}

let fleetMovesCases: [ReasonCase] = [
    rc(.cpuIncompatible, "the declared host cannot offer the guest's CPU",
       answering(twoHosts([westmere("web-1")]), "h2", westmere("web-1"), .cpuIncompatible),
       ["web-1": toH2], [expect(.blocked, "web-1", "h1", "h2", .placeHost)]),
    rc(.machineUnsupported, "the declared host cannot run the guest's machine type",
       answering(twoHosts([westmere("web-1")]), "h2", westmere("web-1"), .machineUnsupported),
       ["web-1": toH2], [expect(.blocked, "web-1", "h1", "h2", .placeHost)]),
    rc(.instanceMigrating, "a migration someone else runs (a note, no action)", migratingFleet(),
       ["web-1": InstanceSpec(host: "h2")], []),
    rc(.manualBootDisk, "two disks, <boot dev='hd'/>, manual because of a snapshot",
       twoHosts([{ var d = dom("web-1", disks: [sharedDisk("a"), sharedDisk("b", target: "vdb")], snapshots: 1); d.osBoot = ["hd"]; return d }()]),
       ["web-1": toH2(moves: withManual)], [expect(.manual, "web-1", "h1", "h2", .manualBootDisk)]),
    rc(.moveBackingChain, "a qcow2 overlay whose backing file is local",
       overlayFleet(backing: "/pool/local/base.qcow2", sharedBase: false),
       ["web-1": toH2(moves: withManual)], [expect(.blocked, "web-1", "h1", "h2", .moveBackingChain)]),
    rc(.moveNVRAM, "a shut-off UEFI guest whose NVRAM is a host-local file",
       twoHosts([uefi("web-1", state: "shutoff")]),
       ["web-1": toH2(moves: withManual)], [expect(.blocked, "web-1", "h1", "h2", .moveNVRAM)]),
    rc(.moveTPMState, "a shut-off guest with an emulated TPM", twoHosts([dom("web-1", state: "shutoff", tpm: true)]),
       ["web-1": toH2(moves: withManual)], [expect(.blocked, "web-1", "h1", "h2", .moveTPMState)]),
]

/// A UEFI guest whose NVRAM is `nvram` (libvirt's usual, host-local place by default).
func uefi(_ name: String, state: String = "running", nvram: String = "/var/lib/libvirt/qemu/nvram/web-1_VARS.fd") -> ObservedDomain {
    var d = dom(name, state: state)
    d.firmware = "efi"; d.nvram = nvram
    return d
}

/// NVRAM and TPM state live outside the volumes: only a live move carries them, and a move
/// that would leave them behind is refused before anything changes.
@Suite("NVRAM and TPM state")
struct FirmwareStatePlanTests {
    @Test func aRunningUEFIGuestMovesLive() {
        let observed = twoHosts([uefi("web-1")])
        let plan = makePlan(desired: spec(observed, instances: ["web-1": toH2]), observed: observed)
        #expect(plan.action("web-1")?.kind == .live)
    }

    @Test func aUEFIGuestWhoseLiveMoveIsRefusedIsBlockedNotRebooted() throws {
        let observed = twoHosts([uefi("web-1")])
        let plan = makePlan(desired: spec(observed, instances: ["web-1": toH2(moves: [.reboot, .cold, .manual])]), observed: observed)
        let action = try #require(plan.action("web-1"))
        #expect(action.kind == .blocked)
        let reason = try #require(action.reasons.first { $0.code == .moveNVRAM })
        #expect(reason.message.contains("/var/lib/libvirt/qemu/nvram/web-1_VARS.fd"))
        #expect(action.steps.isEmpty)
    }

    @Test func anNVRAMOnASharedPoolMovesCold() {
        let path = "/pool/shared/web-1_VARS.fd"
        // (the test hosts list a shared volume at /pool/shared/NAME)
        let observed = twoHosts([uefi("web-1", state: "shutoff", nvram: path)],
                                h1Volumes: ["shared": ["web-1", "web-1_VARS.fd"]], h2Volumes: ["shared": ["web-1", "web-1_VARS.fd"]])
        let plan = makePlan(desired: spec(observed, instances: ["web-1": toH2]), observed: observed)
        #expect(plan.action("web-1")?.kind == .cold, "\(plan.action("web-1")?.reasons ?? [])")
        // A manual move would make a new NVRAM even so.
        let manualOnly = makePlan(desired: spec(observed, instances: ["web-1": toH2(moves: [.manual])]), observed: observed)
        #expect(manualOnly.action("web-1")?.kind == .blocked)
        #expect(manualOnly.action("web-1")?.reasons.contains { $0.code == .moveNVRAM } == true)
    }

    /// An emulated TPM (swtpm) moves live: its state travels in the migration stream. Not
    /// live, it is refused; a shut-off one cannot move at all.
    @Test func anEmulatedTPMMovesLiveAndNeverOtherwise() throws {
        var guest = dom("web-1", tpm: true)
        guest.tpmBackend = "emulator"
        let observed = twoHosts([guest])
        #expect(makePlan(desired: spec(observed, instances: ["web-1": toH2]), observed: observed).action("web-1")?.kind == .live)
        let notLive = makePlan(desired: spec(observed, instances: ["web-1": toH2(moves: [.reboot, .cold, .manual])]), observed: observed)
        #expect(notLive.action("web-1")?.kind == .blocked)
        #expect(notLive.action("web-1")?.reasons.map(\.code).contains(.moveTPMState) == true)
        guest.state = "shutoff"
        let off = twoHosts([guest])
        let cold = makePlan(desired: spec(off, instances: ["web-1": toH2(moves: withManual)]), observed: off)
        #expect(cold.action("web-1")?.kind == .blocked)
        #expect(cold.action("web-1")?.reasons.map(\.code).contains(.moveTPMState) == true)
    }

    /// A passthrough TPM is the host's device: never live (`live.tpm`), moved by a reboot as
    /// before (no state of libvirt's to carry).
    @Test func aPassthroughTPMIsNotLiveMigrated() throws {
        var guest = dom("web-1", tpm: true)
        guest.tpmBackend = "passthrough"
        let observed = twoHosts([guest])
        let action = try #require(makePlan(desired: spec(observed, instances: ["web-1": toH2]), observed: observed).action("web-1"))
        #expect(action.kind == .reboot)
        #expect(action.reasons.contains { $0.code == .liveTPM && $0.message.contains("passthrough backend") })
    }

    /// A TPM an old snapshot does not describe (no backend): neither live nor otherwise.
    @Test(arguments: ["running", "shutoff"])
    func aGuestWithATPMIsNeverMovedWithoutItsState(_ state: String) throws {
        let observed = twoHosts([dom("web-1", state: state, tpm: true)])
        let plan = makePlan(desired: spec(observed, instances: ["web-1": toH2(moves: withManual)]), observed: observed)
        let action = try #require(plan.action("web-1"))
        #expect(action.kind == .blocked)
        #expect(action.reasons.contains { $0.code == .moveTPMState })
        #expect(action.steps.isEmpty)
    }
}

@Test("new reason codes", arguments: fleetMovesCases)
func fleetMovesReasonCode(_ c: ReasonCase) {
    reasonCode(c)
}

@Suite("CPU and machine compatibility")
struct PlatformPlanTests {
    let guest = westmere("web-1")

    @Test func theRefusalNamesTheModelAndTheMissingFeatures() throws {
        let observed = answering(twoHosts([guest]), "h2", guest, .cpuIncompatible)
        let plan = makePlan(desired: spec(observed, instances: ["web-1": toH2]), observed: observed)
        let reason = try #require(plan.action("web-1")?.reasons.first { $0.code == .cpuIncompatible })
        #expect(reason.message == "h2 cannot offer the guest's CPU Westmere, machine pc-i440fx-7.2: the CPU is incompatible with host CPU: Host CPU does not provide required features: aes")
    }

    @Test func aCompatibleAnswerMovesLive() throws {
        let observed = answering(twoHosts([guest]), "h2", guest, nil)
        let plan = makePlan(desired: spec(observed, instances: ["web-1": toH2]), observed: observed)
        #expect(plan.action("web-1")?.kind == .live)
    }

    /// Every rung needs the target to run the guest: a shut-off guest is refused cold too.
    @Test func everyRungIsRefused() throws {
        let off = westmere("web-1", state: "shutoff")
        let observed = answering(twoHosts([off]), "h2", off, .cpuIncompatible)
        let plan = makePlan(desired: spec(observed, instances: ["web-1": toH2(moves: withManual)]), observed: observed)
        #expect(plan.action("web-1")?.kind == .blocked)
    }

    /// Fault-domain placement picks only hosts that can run the guest: of h3 and h4 (fd-2),
    /// h3 refuses, so h4 (which sorts after it) takes it.
    @Test(arguments: [ReasonCode.cpuIncompatible, .machineUnsupported])
    func faultDomainPlacementSkipsAnIncompatibleHost(_ code: ReasonCode) throws {
        let observed = answering(fourHosts(["h1": [guest]]), "h3", guest, code)
        let plan = makePlan(desired: spec(observed, instances: ["web-1": InstanceSpec(faultDomain: "fd-2")]), observed: observed)
        let action = try #require(plan.action("web-1"))
        #expect(action.kind == .live && action.to == "h4", "\(action)")
        // And with both refusing, nothing fits: blocked, naming why.
        let both = answering(observed, "h4", guest, code)
        let none = makePlan(desired: spec(both, instances: ["web-1": InstanceSpec(faultDomain: "fd-2")]), observed: both)
        #expect(none.action("web-1")?.kind == .blocked)
        #expect(none.action("web-1")?.reasons.contains { $0.code == code } == true, "\(none.actions)")
    }

    /// The same file planned from a snapshot (written, read back strictly) decides the same.
    @Test func anOfflinePlanFromASnapshotDecidesTheSame() throws {
        let observed = answering(fourHosts(["h1": [guest]]), "h3", guest, .cpuIncompatible)
        let desired = spec(observed, instances: ["web-1": InstanceSpec(host: "h3")])
        let read = readSnapshotFile(Array(observed.jsonData()), file: "s.json", allowTestDriver: false)
        let fleet = try #require(read.fleet, "\(read.diagnostics)")
        #expect(fleet == observed)
        let live = makePlan(desired: desired, observed: observed)
        let offline = makePlan(desired: desired, observed: fleet)
        #expect(live.actions == offline.actions)
        #expect(offline.action("web-1")?.reasons.contains { $0.code == .cpuIncompatible } == true)
    }

    /// No answer recorded (an older snapshot, a host that could not be asked): not refused here.
    @Test func noAnswerRefusesNothing() {
        let observed = twoHosts([guest])
        let plan = makePlan(desired: spec(observed, instances: ["web-1": toH2]), observed: observed)
        #expect(plan.action("web-1")?.kind == .live)
    }

    @Test func thePlatformKeyFollowsWhatTheTargetIsAskedAbout() throws {
        var other = guest
        #expect(other.platformKey == guest.platformKey)
        other.cpuFeatures["aes"] = "require"
        #expect(other.platformKey != guest.platformKey)
        #expect(other.comparedCPUXML == "<cpu mode='custom' match='exact'><model fallback='forbid'>Westmere</model><feature policy='require' name='aes'/><feature policy='disable' name='pcid'/></cpu>")
        other = guest; other.machine = "pc-q35-7.2"
        #expect(other.platformKey != guest.platformKey)
        other = guest; other.cpuMode = "host-model"
        #expect(other.comparedCPUXML == nil && other.platformKey != nil)
        other = guest; other.arch = nil
        #expect(other.platformKey == nil)
        // Names with XML specials are escaped.
        other = guest; other.cpuModel = "a<b'&"
        #expect(other.comparedCPUXML?.contains("a&lt;b'&amp;") == true)
    }
}

@Suite("boot disk by libvirt's rule")
struct BootDiskRuleTests {
    func desired(_ instance: InstanceSpec) -> DesiredInstance {
        let fleet = twoHosts()
        return spec(fleet, instances: ["web-1": instance]).desired("web-1")!
    }

    func domain(_ disks: [ObservedDisk], osBoot: [String]) -> ObservedDomain {
        var d = dom("web-1", disks: disks, snapshots: 1)
        d.osBoot = osBoot
        return d
    }

    @Test func hdMeansTheFirstDiskOfTheDefinition() throws {
        let d = domain([sharedDisk("b", target: "vdb"), sharedDisk("a")], osBoot: ["hd"])
        let boot = bootDisk(desired(InstanceSpec()), d)
        #expect(boot.disk?.volume == "b.qcow2")
        #expect(boot.why == "boot disk vdb (shared/b.qcow2): the first disk of the definition, which libvirt boots for <boot dev='hd'/>")
    }

    @Test func aBootOrderComesFirst() throws {
        let d = domain([sharedDisk("a"), sharedDisk("b", target: "vdb", boot: 1)], osBoot: ["hd"])
        #expect(bootDisk(desired(InstanceSpec()), d).disk?.volume == "b.qcow2")
    }

    @Test func theFileOverrides() throws {
        let d = domain([sharedDisk("a", boot: 1), sharedDisk("b", target: "vdb")], osBoot: [])
        let boot = bootDisk(desired(InstanceSpec(devices: ["data": .disk(DiskSpec(pool: "shared", volume: "b.qcow2", boot: true))])), d)
        #expect(boot.disk?.volume == "b.qcow2")
        #expect(boot.why?.hasSuffix("marked `boot: true` in the file") == true)
    }

    @Test func cdromFirstLeavesTwoDisksUndecided() throws {
        let d = domain([sharedDisk("a"), sharedDisk("b", target: "vdb")], osBoot: ["cdrom", "hd"])
        let boot = bootDisk(desired(InstanceSpec()), d)
        #expect(boot.disk == nil)
        #expect(boot.problem?.contains("<os><boot dev='cdrom'/>") == true)
    }

    @Test func theFirstDiskOutsideAPoolIsSaidSo() throws {
        let d = domain([ObservedDisk(target: "vda", sourceType: "block", path: "/dev/sdb"), sharedDisk("b", target: "vdb")], osBoot: ["hd"])
        let boot = bootDisk(desired(InstanceSpec()), d)
        #expect(boot.disk == nil)
        #expect(boot.problem?.contains("/dev/sdb, in no storage pool") == true)
    }
}

@Suite("qcow2 overlays and migrations someone else runs")
struct OverlayAndForeignMigrationTests {
    @Test func anOverlayOfASharedBaseIsCopied() throws {
        let observed = overlayFleet(backing: "/pool/shared/base.qcow2", sharedBase: true)
        let plan = makePlan(desired: spec(observed, instances: ["web-1": toH2]), observed: observed)
        #expect(plan.action("web-1")?.kind == .cold, "\(plan.actions)")
    }

    @Test func aLocalBackingFileRefusesEveryCopyBeforeAnythingChanges() throws {
        let observed = overlayFleet(backing: "/pool/local/base.qcow2", sharedBase: false)
        let plan = makePlan(desired: spec(observed, instances: ["web-1": toH2(moves: withManual)]), observed: observed)
        let action = try #require(plan.action("web-1"))
        #expect(action.kind == .blocked && action.steps.isEmpty)
        #expect(action.reasons.first { $0.code == .moveBackingChain }?.message.contains("overlay of /pool/local/base.qcow2") == true)
    }

    @Test func aMigrationInFlightIsWaitedForNotAConflict() throws {
        for observed in [migratingFleet(), ObservedFleet(hosts: migratingFleet().hosts.reversed())] {
            let plan = makePlan(desired: spec(observed, instances: ["web-1": InstanceSpec()]), observed: observed)
            #expect(plan.actions.isEmpty, "\(plan.actions)")
            let note = try #require(plan.notes.first { $0.code == .instanceMigrating })
            #expect(note.message.hasPrefix("migration in progress from h1 to h2"), "\(note.message)")
            #expect(render(plan, format: .text, color: false, verbose: false).contains("waiting  web-1  migration in progress"))
        }
    }

    @Test func aRealDuplicateIsStillAConflictWithSafeAdvice() throws {
        let observed = twoHosts([dom("web-1")], [dom("web-1")])
        let plan = makePlan(desired: spec(observed, instances: ["web-1": InstanceSpec()]), observed: observed)
        let reason = try #require(plan.action("web-1")?.reasons.first { $0.code == .instanceConflict })
        #expect(reason.message.contains("no migration is running between them"))
        #expect(reason.message.contains("never destroy a running copy"))
        #expect(!reason.message.contains("undefine all but one"))
    }

    @Test func aPausedCopyForAnotherReasonIsAConflict() throws {
        var paused = dom("web-1", state: "paused")
        paused.stateReason = "user"
        let observed = twoHosts([dom("web-1")], [paused])
        let plan = makePlan(desired: spec(observed, instances: ["web-1": InstanceSpec()]), observed: observed)
        #expect(plan.action("web-1")?.reasons.contains { $0.code == .instanceConflict } == true)
    }
}
