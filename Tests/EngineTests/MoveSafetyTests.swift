import Foundation
@testable import Placement
import Synchronization
import Testing
import TestSupport
@testable import Engine

// Never two copies, never a guest left down (docs/moves.md, "Move safety"), against the
// in-memory fleet; MoveSafetyLabTests does the same against real daemons.

/// Runs `plan` with the fleet's hosts known to the executor (`ExecutionOptions.hosts`).
private func run(_ plan: Plan, on fleet: FakeFleet, hosts: [String], state: StateDirectory,
                 crashAfter step: Int? = nil) async throws -> ExecutionReport {
    let journal = try Journal(path: state.journalPath)
    let options = ExecutionOptions(jobPollInterval: .milliseconds(20), statePollInterval: .milliseconds(20),
                                   deviceConfirmTimeout: .milliseconds(200), hosts: hosts,
                                   crashPoint: step.map { CrashPoint(step: $0, moment: .afterOutcome, crash: {}) })
    return await Executor(driver: fleet, state: state, journal: journal, options: options).run(plan)
}

private func rebootPlan(_ fleet: FakeFleet, storage: StorageSpec? = nil) -> Plan {
    var policy = PolicySpec()
    policy.shutdownTimeoutSeconds = 5
    var spec = placement(["vm": InstanceSpec(host: "h2", moves: [.reboot])], hosts: ["h1", "h2", "h3"], policy: policy)
    if let storage { spec.storage = storage }
    return planFor(spec, fleet)
}

@Test func aGuestThatLeavesItsSourceDuringTheShutdownIsNeverCopied() async throws {
    let fleet = FakeFleet(hosts: ["h1", "h2", "h3"])
    fleet.add(guest("vm"), on: "h1")
    fleet.set { $0.ignoresShutdown = ["uuid-vm"] }
    let plan = rebootPlan(fleet)
    #expect(plan.summary.reboot == 1)
    // An operator live-migrates it to h3 while virtplace waits for the shutdown: once the
    // shutdown was asked for (not after a fixed sleep, which a loaded machine can outrun).
    let mover = Task {
        let deadline = ContinuousClock.now + .seconds(30)
        while !fleet.calls.contains(where: { $0.hasPrefix("shutdown") }) {
            guard ContinuousClock.now < deadline else { return }
            try await Task.sleep(for: .milliseconds(5))
        }
        fleet.remove("uuid-vm", from: "h1")
        fleet.add(guest("vm"), on: "h3")
    }
    let report = try await run(plan, on: fleet, hosts: ["h1", "h2", "h3"], state: try stateDirectory())
    try await mover.value
    let r = try #require(report.actions.first)
    #expect(r.status == .failed)
    #expect(r.message?.contains("left h1") == true && r.message?.contains("h3 (running)") == true, "\(r.message ?? "") calls: \(fleet.calls)")
    #expect(fleet.domain("uuid-vm", "h2") == nil, "nothing defined on the target")
    #expect(fleet.domain("uuid-vm", "h3")?.state == "running")
    #expect(!fleet.calls.contains { $0.hasPrefix("define") || $0.hasPrefix("start") }, "\(fleet.calls)")
}

@Test func aCopyOnAThirdHostStopsTheMoveBeforeTheShutdown() async throws {
    let fleet = FakeFleet(hosts: ["h1", "h2", "h3"])
    fleet.add(guest("vm"), on: "h1")
    let plan = rebootPlan(fleet)
    fleet.add(guest("vm", state: "shutoff"), on: "h3")   // defined there after the plan was made
    let report = try await run(plan, on: fleet, hosts: ["h1", "h2", "h3"], state: try stateDirectory())
    let r = try #require(report.actions.first)
    #expect(r.status == .failed)
    #expect(r.message?.contains("h3") == true, "\(r.message ?? "")")
    #expect(fleet.domain("uuid-vm", "h1")?.state == "running", "never shut down")
    #expect(fleet.domain("uuid-vm", "h2") == nil)
    #expect(!fleet.calls.contains { $0.hasPrefix("shutdown") || $0.hasPrefix("define") }, "\(fleet.calls)")
}

@Test func aTargetWithoutAnUnshippedVolumeIsRefusedBeforeTheShutdown() async throws {
    let fleet = FakeFleet(hosts: ["h1", "h2", "h3"])
    var vm = guest("vm")
    vm.disks = [ObservedDisk(target: "vda", sourceType: "volume", path: "/shared/vm.img", pool: "shared", volume: "vm.img")]
    fleet.add(vm, on: "h1")
    // Shared and on both hosts when the plan is made (so the planner's own check passes), then
    // gone from h2 before the move runs: the executor's check before the shutdown catches it.
    fleet.addVolume("shared", "vm.img", .init(capacity: 1 << 20, content: "bytes"), on: "h1")
    fleet.addVolume("shared", "vm.img", .init(capacity: 1 << 20, content: "bytes"), on: "h2")
    let plan = rebootPlan(fleet, storage: StorageSpec(sharedPools: ["shared"], localPools: []))
    #expect(plan.summary.reboot == 1)
    fleet.removeVolume("shared", "vm.img", on: "h2")
    let report = try await run(plan, on: fleet, hosts: ["h1", "h2", "h3"], state: try stateDirectory())
    let r = try #require(report.actions.first)
    #expect(r.status == .failed)
    #expect(r.message?.contains("before the shutdown") == true && r.message?.contains("shared/vm.img") == true, "\(r.message ?? "")")
    #expect(fleet.domain("uuid-vm", "h1")?.state == "running", "never shut down")
    #expect(fleet.domain("uuid-vm", "h2") == nil)
}

@Test func aTargetThatStopsAnsweringAfterTheShutdownGetsTheGuestBackOnItsSource() async throws {
    let fleet = FakeFleet(hosts: ["h1", "h2", "h3"])
    var vm = guest("vm")
    vm.disks = [ObservedDisk(target: "vda", sourceType: "volume", path: "/local/vm.img", pool: "local", volume: "vm.img")]
    fleet.add(vm, on: "h1")
    fleet.addVolume("local", "vm.img", .init(capacity: 1 << 20, content: "bytes"), on: "h1")
    let plan = rebootPlan(fleet, storage: StorageSpec(sharedPools: [], localPools: ["local"]))
    #expect(plan.actions.first?.steps.map(\.op) == ["record", "shutdown", "transferVolume", "defineOnTarget", "undefineSource", "start"])
    // The run stops once the guest is shut down; then h2 stops answering.
    let state = try stateDirectory()
    _ = try await run(plan, on: fleet, hosts: ["h1", "h2", "h3"], state: state, crashAfter: 1)
    #expect(fleet.domain("uuid-vm", "h1")?.state == "shutoff")
    fleet.set { $0.unreachable = ["h2"] }
    // The rerun's recovery: h2 does not answer, the journal shows nothing was defined there.
    let journal = try Journal(path: state.journalPath)
    let executor = Executor(driver: fleet, state: state, journal: journal,
                            options: ExecutionOptions(statePollInterval: .milliseconds(20), hosts: ["h1", "h2", "h3"]))
    let recovery = await executor.recover(Journal.unfinishedActions(Array(Journal.records(path: state.journalPath))), hosts: ["h1", "h2", "h3"])
    #expect(recovery.clean, "\(recovery.actions.map { $0.message ?? "" })")
    #expect(fleet.domain("uuid-vm", "h1")?.state == "running", "started again on its source")
    #expect(fleet.volume("local", "vm.img", "h1")?.content == "bytes")
}

@Test func aStartThatFailsOnTheTargetPutsTheGuestBackRunningOnItsSource() async throws {
    let fleet = FakeFleet(hosts: ["h1", "h2", "h3"])
    fleet.add(guest("vm"), on: "h1")
    let plan = rebootPlan(fleet)
    // h2 refuses to start it (say, a device it lacks); h1 can.
    fleet.set { $0.failStartOn = ["h2"] }
    let state = try stateDirectory()
    let report = try await run(plan, on: fleet, hosts: ["h1", "h2", "h3"], state: state)
    let r = try #require(report.actions.first)
    #expect(r.status == .failed)
    #expect(r.message?.contains("put back") == true, "\(r.message ?? "")")
    #expect(fleet.domain("uuid-vm", "h1")?.state == "running", "running again where it ran")
    #expect(fleet.domain("uuid-vm", "h2") == nil, "the copy that never ran is undefined")
    #expect(Journal.unfinishedActions(Array(Journal.records(path: state.journalPath))).isEmpty)
}

@Test func aThirdHostThatDoesNotAnswerBlocksAStartUnlessTheJournalProvesTheOnlyCopy() async throws {
    // The move recorded the guest on h1 and shut it down itself: the journal proves the only
    // copy was that one, so h3 not answering does not stop it (and is noted).
    let fleet = FakeFleet(hosts: ["h1", "h2", "h3"])
    fleet.add(guest("vm"), on: "h1")
    let plan = rebootPlan(fleet)
    fleet.set { $0.unreachable = ["h3"] }
    let report = try await run(plan, on: fleet, hosts: ["h1", "h2", "h3"], state: try stateDirectory())
    let r = try #require(report.actions.first)
    #expect(r.status == .done, "\(r.message ?? "")")
    #expect(r.notes.contains { $0.contains("h3 did not answer") }, "\(r.notes)")
    #expect(fleet.domain("uuid-vm", "h2")?.state == "running")

    // A plain `start` of a move's target whose source does not answer, with nothing in the
    // journal about the source: refused, nothing started.
    let other = FakeFleet(hosts: ["h1", "h2", "h3"])
    other.add(guest("vm", state: "shutoff"), on: "h2")
    let start = handPlan([Action(instance: "vm", kind: .reboot, from: "h1", to: "h2", reasons: [], steps: [.start(host: "h2")], wave: 1)],
                         uuids: ["vm": "uuid-vm"])
    other.set { $0.unreachable = ["h1"] }
    let refused = try await run(start, on: other, hosts: ["h1", "h2", "h3"], state: try stateDirectory())
    #expect(refused.actions.first?.status != .done)
    #expect(other.domain("uuid-vm", "h2")?.state == "shutoff", "nothing started")
}
