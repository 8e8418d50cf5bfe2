import Foundation
import Placement
import Testing
import TestSupport
@testable import Engine

// Issue 19: a maintenance reboot move that fails falls back to manual where the file allows
// it, else is reported as needing manual migration; the records of maintenance moves.

/// `vm` on h1 (under maintenance, due in the past), with a local boot volume: a manual move
/// can recreate it on h2.
private func maintenanceFleet() -> FakeFleet {
    let fleet = FakeFleet(hosts: ["h1", "h2"])
    var vm = FakeFleet.FakeDomain(uuid: "uuid-vm", name: "vm")
    vm.disks = [ObservedDisk(target: "vda", sourceType: "volume", path: "/local/vm-boot.img", pool: "local", volume: "vm-boot.img", bootOrder: 1)]
    vm.nics = [ObservedNIC(type: "network", mac: "52:54:00:00:00:01", network: "lan")]
    vm.fleet = "lab"
    fleet.add(vm, on: "h1")
    fleet.addVolume("local", "vm-boot.img", .init(capacity: 8 << 20, content: "boot"), on: "h1")
    return fleet
}

private func maintenanceSpec(moves: [MoveKind], shutdownTimeout: Int) -> PlacementSpec {
    var policy = PolicySpec()
    policy.forceOff = false
    policy.shutdownTimeoutSeconds = shutdownTimeout
    var spec = placement(["vm": InstanceSpec(moves: moves)], hosts: ["h1", "h2"], policy: policy)
    spec.storage = StorageSpec(sharedPools: ["shared"], localPools: ["local"])
    spec.hosts["h1"]?.maintenance = MaintenanceSpec(due: "2026-01-01", reason: "firmware")
    return spec
}

/// A fresh events file path.
private func eventsFile() -> String { NSTemporaryDirectory() + "virtplace-events-" + UUID().uuidString + ".jsonl" }

/// The records of an events file, each line parsed; every line must be a JSON object.
private func records(_ path: String) -> [[String: Any]] {
    let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
    return text.split(separator: "\n").map { (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any] ?? ["unreadable": String($0)] }
}

private func duePlan(_ spec: PlacementSpec, _ fleet: FakeFleet) -> Plan {
    makePlan(desired: spec, observed: fleet.observed(faultDomains: ["h1": "fd-h1", "h2": "fd-h2"]),
             clock: PlanningClock(now: MaintenanceTime.parse("2026-01-02")))
}

@Test func aMaintenanceRebootThatTheTargetRefusesFallsBackToManual() async throws {
    let fleet = maintenanceFleet()
    fleet.set { $0.failDefineOn = ["h2"] }
    let spec = maintenanceSpec(moves: [.reboot, .manual], shutdownTimeout: 30)
    let plan = duePlan(spec, fleet)
    let action = try #require(plan.actions.first)
    #expect(action.kind == .reboot && action.isScheduled && action.fallback?.kind == .manual)
    let file = eventsFile()
    let events = MaintenanceEvents(plan: plan, hosts: spec.hosts, path: file)
    let (report, journal, _) = try await execute(plan, on: fleet, onEvent: { events.handle($0) })
    let r = try #require(report.actions.first)
    #expect(r.status == .done && r.kind == .manual, "\(r.message ?? "") \(r.notes)")
    #expect(r.notes.contains { $0.contains("fell back to a manual move") }, "\(r.notes)")
    #expect(journal.contains { $0.op == "fallback" })
    #expect(fleet.domain("uuid-vm", "h1") == nil)
    #expect(fleet.domain("uuid-vm", "h2")?.state == "running", "recreated and running again on h2")
    let finished = records(file).filter { $0["event"] as? String == "maintenance-move-finished" }
    #expect(finished.count == 1 && finished.first?["state"] as? String == "succeeded" && finished.first?["kind"] as? String == "manual")
}

@Test func aMaintenanceRebootWhoseShutdownIsIgnoredNeedsManualMigration() async throws {
    for moves in [[MoveKind.reboot], [.reboot, .manual]] {
        let fleet = maintenanceFleet()
        fleet.set { $0.ignoresShutdown = ["uuid-vm"] }
        let spec = maintenanceSpec(moves: moves, shutdownTimeout: 0)
        let plan = duePlan(spec, fleet)
        #expect(plan.actions.first?.fallback?.kind == (moves.contains(.manual) ? .manual : nil))
        let file = eventsFile()
        let events = MaintenanceEvents(plan: plan, hosts: spec.hosts, path: file)
        let (report, _, _) = try await execute(plan, on: fleet, onEvent: { events.handle($0) })
        let r = try #require(report.actions.first)
        #expect(r.status == .failed && r.kind == .reboot, "\(moves): \(r.message ?? "")")
        if moves.contains(.manual) {
            #expect(r.notes.contains { $0.hasPrefix("no fallback to manual: the shutdown failed") }, "\(r.notes)")
        }
        #expect(fleet.domain("uuid-vm", "h1")?.state == "running", "\(moves): left running where it was")
        #expect(fleet.domain("uuid-vm", "h2") == nil)
        let all = records(file)
        #expect(all.map { $0["event"] as? String ?? "" } == ["maintenance-move-started", "maintenance-move-finished"], "\(all)")
        let last = try #require(all.last)
        #expect(last["state"] as? String == "failed" && last["manualNeeded"] as? Bool == true)
        #expect((last["message"] as? String)?.hasPrefix("needs manual migration: shutdown: did not shut down within 0 s, and forceOff is false") == true, "\(last)")
        #expect(last["due"] as? String == "2026-01-01T00:00:00Z" && last["reason"] as? String == "firmware" && last["host"] as? String == "h1")
        #expect(events.manualNeeded.count == 1 && events.counts == ["failed": 1])
    }
}

@Test func theEventsFileIsAppendedAndNeverAnythingButARegularFile() throws {
    let dir = NSTemporaryDirectory() + "virtplace-events-" + UUID().uuidString
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let file = dir + "/events.jsonl"
    try MaintenanceEvents.append("a\n", to: file)
    try MaintenanceEvents.append("b\n", to: file)
    #expect(try String(contentsOfFile: file, encoding: .utf8) == "a\nb\n")
    var info = stat()
    #expect(stat(file, &info) == 0 && info.st_mode & 0o777 == 0o644)
    // A symbolic link is not followed; a FIFO and a directory are refused.
    #expect(symlink(file, dir + "/link") == 0)
    #expect(throws: SafeFile.Failure.self) { try MaintenanceEvents.append("c\n", to: dir + "/link") }
    #expect(mkfifo(dir + "/fifo", 0o600) == 0)
    #expect(throws: SafeFile.Failure.self) { try MaintenanceEvents.append("c\n", to: dir + "/fifo") }
    #expect(throws: SafeFile.Failure.self) { try MaintenanceEvents.append("c\n", to: dir) }
    #expect(try String(contentsOfFile: file, encoding: .utf8) == "a\nb\n")
}
