import Foundation
import Testing

/// Maintenance events (`hosts.NAME.maintenance`) on real hosts, witnessed by virsh and the
/// guests' consoles: live and cold moves at once, the reboot at the due date, extension and
/// end of the event, and a reboot that fails and is left to a person.
@Suite(.serialized) struct MaintenanceLabTests {
    /// The lab's hosts, host1 under maintenance when `due` is given.
    static func hostsYAML(_ lab: Lab, due: String?) -> String {
        var text = "hosts:\n"
        for (i, fd) in [(1, "fd-1"), (2, "fd-2"), (3, "fd-1")] {
            text += "  host\(i):\n    uri: \(lab.uri(i))\n    faultDomain: \(fd)\n"
            if i == 1, let due { text += "    maintenance: {due: \"\(due)\", reason: \"lab firmware\"}\n" }
        }
        return text
    }

    /// A whole placement file: the policy, host1's event and the instances.
    static func write(_ vp: VirtPlace, _ lab: Lab, due: String?, forceOff: Bool, _ instances: String) throws -> String {
        let text = """
        apiVersion: virtplace/v1
        kind: Placement
        metadata: {name: labtest}
        policy:
          shutdownTimeoutSeconds: \(forceOff ? 60 : 15)
          forceOff: \(forceOff)
        storage: {sharedPools: [shared], localPools: [local]}
        \(hostsYAML(lab, due: due))
        instances:
        \(instances)
        """
        let path = vp.workDir + "/maintenance.yaml"
        try text.write(toFile: path, atomically: false, encoding: .utf8)
        return path
    }

    /// `2026-12-20T06:00:00Z`, `seconds` from now.
    static func time(_ seconds: Double) -> String {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime]
        return f.string(from: Date().addingTimeInterval(seconds))
    }

    /// The JSON lines of the events file.
    static func events(_ path: String) -> [[String: Any]] {
        let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
    }

    @Test func liveAndColdAtOnceTheRebootAtTheDueDateThenTheEventEnds() throws {
        let lab = try Lab.require()
        let vp = try VirtPlace(lab: lab)
        let live = Lab.uniqueName("mlive"), noLive = Lab.uniqueName("mreboot"), off = Lab.uniqueName("moff")
        defer { for n in [live, noLive, off] { lab.removeGuest(n) } }
        _ = try lab.createGuest("heartbeat", live, host: 1, ["--wait", "--no-nic"])
        _ = try lab.createGuest("heartbeat", noLive, host: 1, ["--wait", "--no-nic"])
        _ = try lab.createGuest("shutoff", off, host: 1, ["--no-nic"])
        let instances = """
          \(live):
            host: host1
          \(noLive):
            moves: [reboot, manual]
          \(off): {}
        """
        let due = Self.time(86_400)
        var placement = try Self.write(vp, lab, due: due, forceOff: true, instances)
        let events = vp.workDir + "/events.jsonl"
        let liveBoot = lab.bootID(live), rebootBoot = lab.bootID(noLive)
        let liveBeat = lab.heartbeat(live) ?? -1

        // The first reconcile: the live one live, the shut-off one cold, the third stays.
        let first = vp.run(["reconcile", "-f", placement, "--events", events])
        #expect(first.status == 0, "\(first.output)")
        let liveAt = lab.whereIs(live)
        #expect(liveAt.count == 1 && liveAt[1] == nil && liveAt.values.first == "running", "\(liveAt)")
        #expect(lab.bootID(live) == liveBoot, "the same boot: moved live")
        #expect(lab.waitHeartbeat(live, after: liveBeat, timeout: 60) != nil, "its heartbeat goes on after the move")
        let offAt = lab.whereIs(off)
        #expect(offAt.count == 1 && offAt[1] == nil && offAt.values.first == "shut off", "\(offAt)")
        #expect(lab.whereIs(noLive) == [1: "running"])
        #expect(lab.bootID(noLive) == rebootBoot, "not restarted before the due date")

        // plan shows the due date for the third.
        let shownDue = String(due.prefix(19)) + "Z"
        let plan = vp.run(["plan", "-f", placement])
        #expect(plan.status == 0, "\(plan.output)")
        #expect(plan.stdout.contains("\(noLive): reboot due \(shownDue)"), "\(plan.stdout)")
        let observe = vp.run(["observe", "-f", placement])
        #expect(observe.stdout.contains("Maintenance:") && observe.stdout.contains("reboot due \(shownDue)"), "\(observe.stdout)")

        // Extending the due date postpones the reboot: a reconcile changes nothing.
        let later = Self.time(2 * 86_400)
        placement = try Self.write(vp, lab, due: later, forceOff: true, instances)
        let extended = vp.run(["reconcile", "-f", placement, "--events", events])
        #expect(extended.status == 0, "\(extended.output)")
        #expect(lab.whereIs(noLive) == [1: "running"] && lab.bootID(noLive) == rebootBoot)
        #expect(vp.run(["plan", "-f", placement]).stdout.contains("reboot due \(String(later.prefix(19)))Z"))

        // From the due date (a due date in the past): the reboot migration, running again.
        placement = try Self.write(vp, lab, due: Self.time(-60), forceOff: true, instances)
        let dueRun = vp.run(["reconcile", "-f", placement, "--events", events, "--metrics-file", vp.workDir + "/vp.prom"])
        #expect(dueRun.status == 0, "\(dueRun.output)")
        let rebootAt = lab.whereIs(noLive)
        #expect(rebootAt.count == 1 && rebootAt[1] == nil && rebootAt.values.first == "running", "\(rebootAt)")
        #expect(lab.waitNewBoot(noLive, other: rebootBoot, timeout: 120) != nil, "a reboot move: a new boot on the target")
        #expect(lab.waitHeartbeat(noLive, after: 2, timeout: 120) != nil, "running again: its heartbeat")
        // host1 holds none of them.
        let onHost1 = lab.virsh(1, ["list", "--all", "--name"]).stdout
        for n in [live, noLive, off] { #expect(!onHost1.contains(n), "\(n) still on host1: \(onHost1)") }

        // One started and one finished record per move, each with its final state.
        let records = Self.events(events)
        for (n, kind) in [(live, "live"), (off, "cold"), (noLive, "reboot")] {
            let mine = records.filter { $0["instance"] as? String == n }
            #expect(mine.map { $0["event"] as? String ?? "" } == ["maintenance-move-started", "maintenance-move-finished"], "\(n): \(mine)")
            #expect(mine.last?["state"] as? String == "succeeded" && mine.last?["kind"] as? String == kind, "\(n): \(mine)")
            #expect(mine.allSatisfy { $0["host"] as? String == "host1" && $0["reason"] as? String == "lab firmware" })
        }
        let metrics = (try? String(contentsOfFile: vp.workDir + "/vp.prom", encoding: .utf8)) ?? ""
        #expect(metrics.contains("virtplace_last_pass_maintenance_moves{fleet=\"labtest\",state=\"succeeded\"} 1"), "\(metrics)")

        // The event ends: the instance whose host: names host1 returns to it (live); the
        // others stay where the event put them.
        let liveBootNow = lab.bootID(live)
        placement = try Self.write(vp, lab, due: nil, forceOff: true, instances)
        let ended = vp.run(["reconcile", "-f", placement, "--events", events])
        #expect(ended.status == 0, "\(ended.output)")
        #expect(lab.whereIs(live) == [1: "running"], "\(lab.whereIs(live))")
        #expect(lab.bootID(live) == liveBootNow, "returned live")
        #expect(lab.whereIs(noLive) == rebootAt && lab.whereIs(off) == offAt)
        #expect(Self.events(events).count == records.count, "a return is not a maintenance move")
    }

    @Test func aRebootThatFailsAtTheDueDateNeedsManualMigrationAndTheGuestKeepsRunning() throws {
        let lab = try Lab.require()
        let vp = try VirtPlace(lab: lab)
        let name = Lab.uniqueName("mstuck")
        defer { lab.removeGuest(name) }
        // It ignores the ACPI power button for ten minutes: no graceful shutdown.
        _ = try lab.createGuest("heartbeat", name, host: 1, ["--wait", "--no-nic", "--acpi-ignore", "600"])
        let placement = try Self.write(vp, lab, due: Self.time(-60), forceOff: false, """
          \(name):
            moves: [reboot]
        """)
        let events = vp.workDir + "/events.jsonl"
        let boot = lab.bootID(name)
        let pass = vp.run(["reconcile", "-f", placement, "--events", events])
        #expect(pass.status == 3, "\(pass.output)")
        #expect(lab.whereIs(name) == [1: "running"], "left running where it was: \(lab.whereIs(name))")
        #expect(lab.bootID(name) == boot, "never restarted")
        let beat = lab.heartbeat(name) ?? -1
        #expect(lab.waitHeartbeat(name, after: beat, timeout: 30) != nil, "still alive")
        let console = (try? String(contentsOfFile: lab.consoleDir + "/\(name).log", encoding: .utf8)) ?? ""
        #expect(console.contains("hb-acpi-ignored"), "the shutdown was asked for and ignored")

        let finished = Self.events(events).filter { $0["event"] as? String == "maintenance-move-finished" }
        #expect(finished.count == 1, "\(finished)")
        let record = try #require(finished.first)
        #expect(record["state"] as? String == "failed" && record["manualNeeded"] as? Bool == true, "\(record)")
        let message = record["message"] as? String ?? ""
        #expect(message.hasPrefix("needs manual migration: ") && message.contains("did not shut down within 15 s, and forceOff is false"), "\(message)")
        // The same line in the log.
        #expect(pass.stdout.contains(#""event":"maintenance-move-finished""#) && pass.stdout.contains(#""manualNeeded":true"#), "\(pass.stdout)")
    }
}
