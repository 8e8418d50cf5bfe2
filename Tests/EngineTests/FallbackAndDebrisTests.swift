import Foundation
import Placement
import Testing
import TestSupport
@testable import Engine

// Issue 21: a failed live migration falls back to a reboot move only for causes a reboot move
// avoids; a failed copy leaves no debris of virtplace's own, and never touches a volume
// virtplace did not create.

// MARK: Classifying a failed live migration (LibvirtFleetTests: from libvirt's codes)

@Test("a failed live migration is classified by the kind of the host's error", arguments: [
    (HostFailure.aborted, true, LiveFailureCause.timeout), (.aborted, false, .cancelled),
    (.timedOut, false, .liveOnly), (.liveUnsupported, false, .liveOnly), (.cpuIncompatible, false, .cpuIncompatible),
    (.noNetwork, false, .networkMissing), (.noStorage, false, .storageMissing), (.configUnsupported, false, .targetUnsupported),
    (.connection, false, .targetUnreachable), (.other, false, .unknown), (.other, true, .timeout), (.badDefinition, false, .unknown),
])
func liveFailureIsClassifiedByKind(_ kind: HostFailure, _ timedOut: Bool, _ expected: LiveFailureCause) {
    let cause = LiveFailureCause.classify(DriverError.failed(kind, message: "x"), timedOut: timedOut, lostDestination: false)
    #expect(cause == expected)
    #expect(LiveFailureCause.classify(DriverError.failed(kind, message: "x"), timedOut: timedOut, lostDestination: true) == .targetUnreachable)
}

@Test func aFailureThatIsNotTheHostsIsUnknownUnlessTheWatchdogTimedOut() {
    let error = DriverError.unreachable(host: "h2", reason: "refused")
    #expect(LiveFailureCause.classify(error, timedOut: false, lostDestination: false) == .unknown)
    #expect(LiveFailureCause.classify(error, timedOut: true, lostDestination: false) == .timeout)
}

// MARK: Fallback only where it helps

@Test func aLiveMigrationThatFailsForWhatTheTargetLacksDoesNotFallBack() async throws {
    for (error, fallsBack) in [(DriverError.failed(.noStorage, message: "no volume"), false),
                               (.failed(.cpuIncompatible, message: "cpu"), false),
                               (.failed(.other, message: "qemu could not open the disk"), false),
                               (.failed(.liveUnsupported, message: "Unsafe migration"), true)] {
        let fleet = FakeFleet(hosts: ["h1", "h2"])
        fleet.add(guest("web"), on: "h1")
        fleet.set { $0.migration["uuid-web"] = .fail(error) }
        let plan = planFor(placement(["web": InstanceSpec(host: "h2", moves: [.live, .reboot])], hosts: ["h1", "h2"]), fleet)
        #expect(plan.actions.first { $0.instance == "web" }?.fallback?.kind == .reboot)
        let (report, records, _) = try await execute(plan, on: fleet)
        let r = try #require(report.actions.first)
        if fallsBack {
            #expect(r.status == .done && r.kind == .reboot, "\(error): \(r.message ?? "")")
            #expect(fleet.domain("uuid-web", "h2")?.state == "running")
            #expect(records.contains { $0.op == "fallback" })
        } else {
            #expect(r.status == .failed, "\(error)")
            #expect(r.notes.contains { $0.contains("no fallback to reboot") }, "\(r.notes)")
            #expect(!records.contains { $0.op == "fallback" })
            #expect(!fleet.calls.contains { $0.hasPrefix("shutdown") }, "never shut down for a fallback that cannot help")
            #expect(fleet.domain("uuid-web", "h1")?.state == "running", "still running on its source")
            #expect(fleet.domain("uuid-web", "h2") == nil)
        }
    }
}

// MARK: No debris

func localGuestFleet(content: String = "0123456789abcdef") -> FakeFleet {
    let fleet = FakeFleet(hosts: ["h1", "h2"])
    var arch = guest("arch", state: "shutoff")
    arch.disks = [ObservedDisk(target: "vda", sourceType: "volume", path: "/local/a.img", pool: "local", volume: "a.img")]
    fleet.add(arch, on: "h1")
    fleet.addVolume("local", "a.img", .init(capacity: 4096, content: content), on: "h1")
    return fleet
}

let coldPlan = handPlan([Action(instance: "arch", kind: .cold, from: "h1", to: "h2", reasons: [],
                                        steps: [.record(host: "h1"), .transferVolume(pool: "local", volume: "a.img", from: "h1", to: "h2"),
                                                .defineOnTarget(host: "h2", from: "h1"), .undefineSource(host: "h1")], wave: 1)],
                                uuids: ["arch": "uuid-arch"])

@Test func aCopyThatFailsHalfWayLeavesNoDebrisAndIsReported() async throws {
    let fleet = localGuestFleet()
    fleet.set { $0.failCopies = true }
    let state = try stateDirectory()
    let (report, records, _) = try await execute(coldPlan, on: fleet, state: state)
    let r = try #require(report.actions.first)
    #expect(r.status == .failed)
    #expect(r.message?.contains("the incomplete copy on h2 was removed") == true, "\(r.message ?? "")")
    #expect(r.notes.contains { $0.contains("removed the incomplete copy h2 local/a.img") }, "\(r.notes)")
    #expect(fleet.volume("local", "a.img", "h2") == nil, "no debris")
    #expect(fleet.volume("local", "a.img", "h1")?.content == "0123456789abcdef", "the source is untouched")
    #expect(fleet.domain("uuid-arch", "h1") != nil && fleet.domain("uuid-arch", "h2") == nil)
    // Journalled: created (intent before the call), then deleted; no longer counted as virtplace's.
    let ops = records.filter { $0.op == "createVolume" || $0.op == "deleteVolume" }.map { "\($0.op) \($0.phase.rawValue)" }
    #expect(ops == ["createVolume intent", "createVolume done", "deleteVolume intent", "deleteVolume done"], "\(ops)")
    #expect(Journal.createdVolumes(records).isEmpty)
    #expect(state.ownVolumes().isEmpty)
    // The rerun converges once the copy can succeed.
    fleet.set { $0.failCopies = false }
    let (again, _, _) = try await execute(coldPlan, on: fleet, state: state)
    #expect(again.actions.first?.status == .done, "\(again.actions.first?.message ?? "")")
    #expect(fleet.volume("local", "a.img", "h2")?.content == "0123456789abcdef")
}

@Test func aDebrisThatCannotBeRemovedIsVirtplacesOwnAndReusedByTheNextPlan() async throws {
    // The target stops answering right after the copy failed: the volume stays, the journal
    // says it is virtplace's, and the planner reuses it instead of blocking forever.
    let fleet = localGuestFleet()
    fleet.set { $0.failCopies = true }
    let state = try stateDirectory()
    let journal = try Journal(path: state.journalPath)
    try await journal.record(createVolumeRecord("arch", volume: "a.img", .done))
    fleet.addVolume("local", "a.img", .init(capacity: 4096, content: "01234567"), on: "h2")
    let observed = fleet.observed(faultDomains: ["h1": "fd-h1", "h2": "fd-h2"])
    let spec = placement(["arch": InstanceSpec(host: "h2")], hosts: ["h1", "h2"])
    let plan = makePlan(desired: spec, observed: observed, ownVolumes: state.ownVolumes())
    let a = try #require(plan.actions.first { $0.instance == "arch" })
    #expect(a.kind == .cold, "\(a.reasons)")
    #expect(a.reasons.contains { $0.code == .targetVolumeLeftover })
    fleet.set { $0.failCopies = false }
    let (report, _, _) = try await execute(plan, on: fleet, state: state)
    let r = try #require(report.actions.first)
    #expect(r.status == .done, "\(r.message ?? "")")
    #expect(r.notes.contains { $0.contains("reused h2 local/a.img") }, "\(r.notes)")
    #expect(fleet.volume("local", "a.img", "h2")?.content == "0123456789abcdef")
}

@Test func aPreExistingSameNamedVolumeIsNeverDeleted() async throws {
    let fleet = localGuestFleet()
    fleet.set { $0.failCopies = true }
    fleet.addVolume("local", "a.img", .init(capacity: 4096, content: "someone else's"), on: "h2")
    let (report, records, _) = try await execute(coldPlan, on: fleet)
    #expect(report.actions.first?.status == .failed)
    #expect(report.actions.first?.message?.contains("not overwritten") == true)
    #expect(fleet.volume("local", "a.img", "h2")?.content == "someone else's", "kept, untouched")
    #expect(!fleet.calls.contains { $0.hasPrefix("deleteVolume") })
    #expect(!fleet.calls.contains { $0.hasPrefix("copyVolume") })
    #expect(!records.contains { $0.op == "deleteVolume" })
}

@Test func aReusedLeftoverWhoseCopyFailsAgainStaysForTheNextRun() async throws {
    // Only the attempt that created a volume removes it; a leftover of an earlier attempt
    // that fails again stays, still virtplace's, for the next run to reuse.
    let fleet = localGuestFleet()
    fleet.set { $0.failCopies = true }
    let state = try stateDirectory()
    let journal = try Journal(path: state.journalPath)
    try await journal.record(createVolumeRecord("arch", volume: "a.img", .done))
    fleet.addVolume("local", "a.img", .init(capacity: 4096, content: "0123"), on: "h2")
    let (report, records, _) = try await execute(coldPlan, on: fleet, state: state)
    #expect(report.actions.first?.status == .failed)
    #expect(report.actions.first?.message?.contains("reused by the next run") == true, "\(report.actions.first?.message ?? "")")
    #expect(fleet.volume("local", "a.img", "h2") != nil)
    #expect(!fleet.calls.contains { $0.hasPrefix("deleteVolume") })
    #expect(!records.contains { $0.op == "deleteVolume" })
    #expect(state.ownVolumes() == ["h2/local/a.img"])
}
