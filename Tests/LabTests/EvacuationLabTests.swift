import Foundation
import Testing

// Failures stay local and inbound limits hold (issue 14), on real daemons. Judged by virsh on
// every host (where each guest is, in which state; which guests a host holds paused for an
// incoming migration), never by virtplace's report of itself.

@Suite(.serialized) struct EvacuationLabTests {
    /// A placement file of its own, applied alone (`vp.run`, not `vp.apply`, which adds the
    /// lab's hosts file): the lab's hosts with host1 as `hostState`, `policy` as given (no
    /// `forceOff: true` default), and the instances.
    static func placement(_ vp: VirtPlace, _ instances: String, policy: String, host1 hostState: String = "active") throws -> String {
        let hosts = try String(contentsOfFile: vp.lab.hostsYAML, encoding: .utf8)
            .replacingOccurrences(of: "  host1:\n", with: "  host1:\n    state: \(hostState)\n")
        let text = """
        apiVersion: virtplace/v1
        kind: Placement
        metadata: {name: labtest}
        \(policy)
        storage: {sharedPools: [shared], localPools: [local]}
        \(hosts)
        instances:
        \(instances)
        """
        let path = vp.workDir + "/placement-\(UUID().uuidString.prefix(6)).yaml"
        try text.write(toFile: path, atomically: false, encoding: .utf8)
        return path
    }

    /// The plan's scheduled actions (`plan -o json`): instance → target host number.
    static func targets(_ vp: VirtPlace, _ placement: String) throws -> [String: Int] {
        let r = vp.run(["plan", "-f", placement, "-o", "json"])
        let object = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any], "\(r.output)")
        var result: [String: Int] = [:]
        for action in object["actions"] as? [[String: Any]] ?? [] {
            guard let name = action["instance"] as? String, let to = action["to"] as? String, (action["wave"] as? Int ?? 0) > 0,
                  let n = Int(to.dropFirst("host".count)) else { continue }
            result[name] = n
        }
        return result
    }

    /// host1 is drained with six running guests; one ignores the ACPI power button and the
    /// file says `forceOff: false`, so its reboot move gives up after the shutdown timeout. The
    /// five others end running on their targets; the one stays running on host1, the only
    /// copy; apply exits 3 and names it with what was tried. A cold move onto the host the
    /// stuck guest was to go to, in a later wave of the same plan, still happens.
    @Test func anEvacuationCarriesOnPastAGuestThatWillNotShutDown() throws {
        let lab = try Lab.require()
        let vp = try VirtPlace(lab: lab)
        let names = (1...5).map { Lab.uniqueName("ev\($0)") }
        let stuck = Lab.uniqueName("evstuck")
        let cold = Lab.uniqueName("evcold")
        defer { for n in names + [stuck, cold] { lab.removeGuest(n) } }
        for n in names { _ = try lab.createGuest("heartbeat", n, host: 1) }
        _ = try lab.createGuest("heartbeat", stuck, host: 1, ["--wait", "--acpi-ignore", "3600"])
        _ = try lab.createGuest("shutoff", cold, host: 3, ["--no-nic"])
        for n in names { #expect(lab.waitHeartbeat(n) != nil, "\(n) runs before the move") }
        let stuckBoot = try #require(lab.bootID(stuck))

        var instances = names.map { "  \($0): {}" }
        instances.append("  \(stuck): {host: host2, moves: [reboot]}")
        instances.append("  \(cold): {host: host2}")
        // One move per host at a time: the evacuation takes several waves, the cold move onto
        // host2 among the later ones.
        let placement = try Self.placement(vp, instances.joined(separator: "\n"), policy: """
        policy:
          shutdownTimeoutSeconds: 10
          forceOff: false
          parallel: {total: 4, perHost: 1}
        """, host1: "drained")
        let targets = try Self.targets(vp, placement)
        #expect(Set(targets.keys) == Set(names + [stuck, cold]), "\(targets)")

        let r = vp.run(["apply", "-f", placement, "--auto-approve"])
        #expect(r.status == 3, "one action failed: \(r.output)")
        #expect(r.stdout.contains(stuck) && r.stdout.contains("failed"), "\(r.stdout)")
        #expect(r.stdout.contains("tried reboot (failed: shutdown"), "what was tried: \(r.stdout)")
        for n in names {
            let target = try #require(targets[n])
            #expect(target != 1)
            #expect(lab.whereIs(n) == [target: "running"], "\(n) on host\(target) only: \(lab.whereIs(n))")
        }
        #expect(lab.whereIs(stuck) == [1: "running"], "the stuck guest stays where it was, the only copy: \(lab.whereIs(stuck))")
        #expect(lab.bootID(stuck) == stuckBoot, "and was never restarted")
        #expect(lab.whereIs(cold) == [2: "shut off"], "the cold move onto host2 happened: \(lab.whereIs(cold))")
    }

    /// The bug of issue 14: a reboot move off host1 fails (the guest ignores the shutdown,
    /// `forceOff: false`), and an unrelated cold move onto host1, which has room without it,
    /// ran in a later wave: it must still happen.
    @Test func aFailedMoveOffAHostDoesNotBlockAMoveOntoItThatHadRoom() throws {
        let lab = try Lab.require()
        let vp = try VirtPlace(lab: lab)
        let stuck = Lab.uniqueName("dep-a")
        let cold = Lab.uniqueName("dep-b")
        defer { for n in [stuck, cold] { lab.removeGuest(n) } }
        _ = try lab.createGuest("heartbeat", stuck, host: 1, ["--wait", "--acpi-ignore", "3600"])
        _ = try lab.createGuest("shutoff", cold, host: 3, ["--no-nic"])
        let placement = try Self.placement(vp, """
          \(stuck): {host: host2, moves: [reboot]}
          \(cold): {host: host1}
        """, policy: """
        policy:
          shutdownTimeoutSeconds: 10
          forceOff: false
          parallel: {total: 4, perHost: 1}
        """)
        let shown = vp.run(["plan", "-f", placement, "-v"])
        #expect(shown.stdout.contains("wave 2"), "two waves (perHost 1): \(shown.stdout)")
        #expect(!shown.stdout.contains("after #"), "nothing waits on anything: \(shown.stdout)")

        let r = vp.run(["apply", "-f", placement, "--auto-approve"])
        #expect(r.status == 3, "\(r.output)")
        #expect(lab.whereIs(stuck) == [1: "running"], "\(lab.whereIs(stuck))")
        #expect(lab.whereIs(cold) == [1: "shut off"], "the cold move onto host1 happened: \(lab.whereIs(cold))")
    }

    /// `perHostIn: 1`: three guests moving onto one host never arrive two at a time. The
    /// witness polls `virsh list` on the target: a guest listed there as paused is an incoming
    /// migration. The same poller first sees two or more at once without the limit (so it can
    /// see an overlap when there is one).
    @Test func perHostInOneMeansOneArrivalAtATime() throws {
        let lab = try Lab.require()
        let vp = try VirtPlace(lab: lab)
        let names = (1...3).map { Lab.uniqueName("in\($0)") }
        defer { for n in names { lab.removeGuest(n) } }
        for (i, n) in names.enumerated() { _ = try lab.createGuest("heartbeat", n, host: i == 2 ? 2 : 1) }
        for n in names { #expect(lab.waitHeartbeat(n) != nil, "\(n) runs before the moves") }
        // Slow migrations (a few seconds each), so that concurrent ones overlap visibly.
        let slow = "  live: {bandwidthMiBps: 24}"

        // Without the limit: onto host3, all at once.
        let free = try Self.placement(vp, names.map { "  \($0): {host: host3}" }.joined(separator: "\n"), policy: """
        policy:
          parallel: {total: 4, perHost: 4}
        \(slow)
        """)
        let seenFree = try Self.maxIncoming(lab, host: 3, names: names) { vp.run(["apply", "-f", free, "--auto-approve"]) }
        for n in names { #expect(lab.whereIs(n) == [3: "running"], "\(n): \(lab.whereIs(n))") }
        #expect(seenFree >= 2, "the witness sees concurrent arrivals when there are some (saw \(seenFree))")

        // With perHostIn 1: back onto host1, one at a time.
        let limited = try Self.placement(vp, names.map { "  \($0): {host: host1}" }.joined(separator: "\n"), policy: """
        policy:
          parallel: {total: 4, perHost: 4, perHostIn: 1}
        \(slow)
        """)
        let shown = vp.run(["plan", "-f", limited, "-v"])
        #expect(shown.stdout.contains("1 arriving and 4 leaving per host"), "\(shown.stdout)")
        let seenLimited = try Self.maxIncoming(lab, host: 1, names: names) { vp.run(["apply", "-f", limited, "--auto-approve"]) }
        for n in names { #expect(lab.whereIs(n) == [1: "running"], "\(n): \(lab.whereIs(n))") }
        #expect(seenLimited == 1, "one incoming migration at a time on host1 (saw \(seenLimited))")
        print("perHostIn witness (virsh list, paused on the target): \(seenFree) at once without the limit, \(seenLimited) with perHostIn 1")
    }

    /// Runs `apply` while polling `virsh list --all` on `host`; returns the most of `names`
    /// ever listed there as paused at once (incoming migrations). The apply must exit 0.
    static func maxIncoming(_ lab: Lab, host: Int, names: [String], _ apply: @escaping @Sendable () -> Lab.Result) throws -> Int {
        let result = ResultBox<Lab.Result>()
        let finished = ResultBox<Bool>()
        Thread {
            result.set(apply())
            finished.set(true)
        }.start()
        var most = 0
        while finished.get() != true {
            let listed = lab.virsh(host, ["list", "--all"]).stdout.split(separator: "\n")
            let paused = listed.filter { line in
                let words = line.split(separator: " ", omittingEmptySubsequences: true)
                return words.count >= 3 && names.contains(String(words[1])) && words[2] == "paused"
            }
            most = max(most, paused.count)
            usleep(50_000)
        }
        let r = try #require(result.get())
        #expect(r.status == 0, "\(r.output)")
        return most
    }
}
