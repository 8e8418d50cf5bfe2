import Foundation
import Testing

// Fault injection against real daemons. `VIRTPLACE_TEST_KILL_AFTER_STEP=N` makes virtplace
// SIGKILL itself right after step N's outcome is journalled, `VIRTPLACE_TEST_KILL_BEFORE_STEP=N`
// right after its intent (before it runs); N counts from 0, as the journal does. After each
// kill, a plain `apply` must converge: data intact, exactly one copy defined, running.

/// The kill points of a manual move (13 steps: record · 2 backups · shutdown · 2 transfers ·
/// recreate · attachDisk · attachNIC · setMetadata · setAutostart · undefineSource · start):
/// after every step's outcome, and after the intent of the steps that change the most.
let manualKillPoints: [(variable: String, step: Int)] =
    (0...12).map { ("VIRTPLACE_TEST_KILL_AFTER_STEP", $0) }
    + [3, 6, 11].map { ("VIRTPLACE_TEST_KILL_BEFORE_STEP", $0) }

@Suite(.serialized) struct FaultLabTests {
    /// One guest (boot and data volumes in `local`, so both are transferred; two NICs; backups
    /// on) is moved back and forth between host1 and host2, killed at a different point each
    /// time. Between moves the test removes the source copies and backups virtplace kept, as
    /// an operator would, so that the next move may copy there again.
    @Test func aManualMoveKilledAtEveryStepBoundaryConvergesOnTheNextApply() throws {
        let lab = try Lab.require()
        let vp = try VirtPlace(lab: lab)
        let name = Lab.uniqueName("kill")
        defer { lab.removeGuest(name) }
        let g = try lab.createDataGuest(name, host: 1, pool: "local")
        let steps = ["record", "backupVolume", "backupVolume", "shutdown", "transferVolume", "transferVolume", "recreate",
                     "attachDisk", "attachNIC", "setMetadata", "setAutostart", "undefineSource", "start"]
        var host = 1
        for (index, point) in manualKillPoints.enumerated() {
            let target = host == 1 ? 2 : 1
            let label = "\(point.variable)=\(point.step) (\(steps[point.step])), host\(host) → host\(target)"
            let placement = try vp.placement("""
              \(name):
                host: host\(target)
                moves: [manual]
                config: {tags: {round: "\(index)"}, autostart: true}
            """, policy: "  backups: true")
            let boot = lab.bootID(name)

            let killed = Lab.run(VirtPlace.binary, ["apply", "-f", placement, "-f", lab.hostsYAML, "--auto-approve",
                                                    "--state-dir", vp.stateDir],
                                 environment: [point.variable: "\(point.step)", "NO_COLOR": "1"])
            #expect(killed.status == SIGKILL, "\(label): killed (status \(killed.status)): \(killed.output)")
            // The last step it finished (the one killed after, or the one before the intent).
            let last = point.variable.hasSuffix("AFTER_STEP") ? point.step : point.step - 1
            if last >= 0 {
                #expect(killed.stdout.contains("\(last + 1). \(stepSummaryPrefix(steps[last]))"), "\(label): got that far: \(killed.stdout)")
                #expect(!killed.stdout.contains("\(last + 2). \(stepSummaryPrefix(steps[min(last + 1, 12)]))"), "\(label): and no further")
            }
            // Never two copies running, whatever the moment.
            #expect(lab.whereIs(name).values.filter { $0 == "running" }.count <= 1, "\(label): \(lab.whereIs(name))")

            let rerun = vp.apply(placement)
            #expect(rerun.status == 0, "\(label): rerun: \(rerun.output)")
            // Killed after `record` only: nothing had changed, so the move is simply planned
            // again; otherwise the earlier move is finished first.
            #expect(rerun.stdout.contains("An earlier run left unfinished") == (point.step > 0), "\(label): \(rerun.stdout)")
            lab.expectManualMoveDone(g, on: target, tags: ["round": "\(index)"], autostart: true, label)
            expectConverged(vp, placement, reconcilePass: index == manualKillPoints.count - 1)

            // The operator removes what virtplace kept on the source: copies and backups.
            lab.deleteVolumes("local", prefix: "\(name)-", host: host)
            // The next move shuts it down: it must have booted far enough to hear ACPI.
            #expect(lab.waitNewBoot(name, other: boot, timeout: 30) != nil, "\(label): booted on host\(target)")
            host = target
        }
    }

    /// A reboot move (running guest) and a cold move (shut off), each with its volume in
    /// `local` so that it is transferred, killed right after each step's outcome (the step
    /// list is read from `plan -o json`, so a step added later is killed too). After each kill
    /// a plain apply converges, judged by virsh (exactly one copy, on the target, in the right
    /// state) and sha256sum (the volume arrived whole), then by the "nothing changed" witness.
    @Test func rebootAndColdMovesKilledAtEveryStepBoundaryConvergeOnTheNextApply() throws {
        let lab = try Lab.require()
        let vp = try VirtPlace(lab: lab)
        let name = Lab.uniqueName("rkill")
        defer { lab.removeGuest(name) }
        _ = try lab.createGuest("localdisk", name, host: 1, ["--disk-size", "4", "--no-nic", "--wait"])
        let volume = "\(name)-disk.img"
        let original = try #require(lab.sha256(lab.localDir(1) + "/" + volume))
        var host = 1
        for kind in ["reboot", "cold"] {
            let running = kind == "reboot"
            if !running {
                #expect(lab.virsh(host, ["destroy", name]).status == 0, "shut off for the cold moves")
            }
            var step = 1
            while true {
                let target = host == 1 ? 2 : 1
                let placement = try vp.placement("""
                  \(name):
                    host: host\(target)
                    moves: [\(kind)]
                """)
                // The steps of this move, from the plan itself.
                let planned = vp.run(["plan", "-f", placement, "-f", lab.hostsYAML, "-o", "json"])
                let json = try #require(try JSONSerialization.jsonObject(with: Data(planned.stdout.utf8)) as? [String: Any], "\(planned.output)")
                let action = try #require((json["actions"] as? [[String: Any]])?.first, "\(planned.stdout)")
                #expect(action["kind"] as? String == kind, "\(planned.stdout)")
                let ops = ((action["steps"] as? [[String: Any]]) ?? []).compactMap { $0["op"] as? String }
                guard step < ops.count else { break }
                let label = "\(kind) host\(host) → host\(target), killed after step \(step) (\(ops[step]) of \(ops))"
                let boot = lab.bootID(name)

                let killed = Lab.run(VirtPlace.binary, ["apply", "-f", placement, "-f", lab.hostsYAML, "--auto-approve",
                                                        "--state-dir", vp.stateDir],
                                     environment: ["VIRTPLACE_TEST_KILL_AFTER_STEP": "\(step)", "NO_COLOR": "1"])
                #expect(killed.status == SIGKILL, "\(label): killed (status \(killed.status)): \(killed.output)")
                #expect(lab.whereIs(name).values.filter { $0 == "running" }.count <= 1, "\(label): \(lab.whereIs(name))")

                let rerun = vp.apply(placement)
                #expect(rerun.status == 0, "\(label): rerun: \(rerun.output)")
                let state = running ? "running" : "shut off"
                #expect(lab.whereIs(name) == [target: state], "\(label): exactly one copy, \(state) on host\(target): \(lab.whereIs(name))")
                #expect(lab.sha256(lab.localDir(target) + "/" + volume) == original, "\(label): the volume arrived whole")
                // (The "nothing left to do" witness runs once, at the end: time.)

                // The operator removes the source copy virtplace kept, so the next move copies again.
                lab.deleteVolumes("local", prefix: "\(name)-", host: host)
                if running {
                    // The next move shuts it down: it must have booted far enough to hear ACPI.
                    #expect(lab.waitNewBoot(name, other: boot, timeout: 30) != nil, "\(label): booted on host\(target)")
                }
                host = target
                step += 1
            }
            #expect(step > 2, "\(kind): only \(step - 1) kill points")
        }
        // At the end, a second apply and a reconcile pass, judged by the witness.
        let last = try vp.placement("""
          \(name):
            host: host\(host)
        """)
        expectConverged(vp, last)
    }

    /// Killed once the copy on the target is defined; then someone starts the guest again on
    /// the source. Which copy holds the newer data cannot be told: apply leaves it alone,
    /// exits 3 and says what it found and what to do; done that way, the next apply finishes.
    @Test func whenTheSourceRunsAgainBesideTheCopyApplyHoldsItAndSaysWhatToDo() throws {
        let lab = try Lab.require()
        let vp = try VirtPlace(lab: lab)
        let name = Lab.uniqueName("hold")
        defer { lab.removeGuest(name) }
        let g = try lab.createDataGuest(name, host: 1, pool: "shared")
        let placement = try vp.placement("""
          \(name):
            host: host2
            moves: [manual]
            config: {tags: {tier: db}}
        """)
        // record · shutdown · recreate (2) · attachDisk · attachNIC · setMetadata · undefineSource · start
        let killed = Lab.run(VirtPlace.binary, ["apply", "-f", placement, "-f", lab.hostsYAML, "--auto-approve", "--state-dir", vp.stateDir],
                             environment: ["VIRTPLACE_TEST_KILL_AFTER_STEP": "2", "NO_COLOR": "1"])
        #expect(killed.status == SIGKILL, "\(killed.output)")
        #expect(lab.whereIs(name) == [1: "shut off", 2: "shut off"], "\(lab.whereIs(name))")
        let boot = lab.bootID(name)
        #expect(lab.virsh(1, ["start", name]).status == 0, "started again by hand on host1")
        #expect(lab.waitNewBoot(name, other: boot) != nil)

        let held = expectUntouched(lab, "the apply that holds") { vp.apply(placement) }
        #expect(held.status == 3, "\(held.output)")
        #expect(held.stdout.contains("left alone: cannot decide"), "\(held.stdout)")
        #expect(held.stdout.contains("runs on host1 again"), "\(held.stdout)")
        let instruction = "virsh -c \(lab.uri(2)) undefine \(name)"
        #expect(held.stdout.contains(instruction), "the message says what to do: \(held.stdout)")
        #expect(lab.whereIs(name) == [1: "running", 2: "shut off"])

        // The operator keeps the copy on host1, as the message says; the move starts over.
        #expect(lab.virsh(2, ["undefine", name]).status == 0)
        let finished = vp.apply(placement)
        #expect(finished.status == 0, "\(finished.output)")
        lab.expectManualMoveDone(g, on: 2, tags: ["tier": "db"], autostart: false, "after the operator's choice")
        expectConverged(vp, placement)
    }

    /// `reconcile` finishes what a killed `apply` left, before it plans, and logs it.
    @Test func reconcileFinishesAManualMoveAKilledApplyLeft() throws {
        let lab = try Lab.require()
        let vp = try VirtPlace(lab: lab)
        let name = Lab.uniqueName("rcfin")
        defer { lab.removeGuest(name) }
        let facts = try lab.createGuest("marker", name, host: 1, ["--stopped"])
        let placement = try vp.placement("""
          \(name):
            host: host2
            moves: [manual]
            config: {tags: {tier: cold}}
        """)
        // record · recreate · setMetadata · undefineSource: killed once the copy on host2 exists.
        let killed = Lab.run(VirtPlace.binary, ["apply", "-f", placement, "-f", lab.hostsYAML, "--auto-approve", "--state-dir", vp.stateDir],
                             environment: ["VIRTPLACE_TEST_KILL_AFTER_STEP": "1"])
        #expect(killed.status == SIGKILL, "\(killed.output)")
        #expect(lab.whereIs(name) == [1: "shut off", 2: "shut off"])

        let pass = vp.run(["reconcile", "-f", placement, "-f", lab.hostsYAML])
        #expect(pass.status == 0, "\(pass.output)")
        #expect(pass.stdout.contains(#""event":"recovery""#) && pass.stdout.contains(#""outcome":"recovered""#), "\(pass.stdout)")
        #expect(lab.whereIs(name) == [2: "shut off"], "\(lab.whereIs(name))")
        #expect(lab.marker(facts["disk.vda.path"] ?? "") == facts["marker"])
        expectConverged(vp, placement)
    }

    /// A live migration that cannot finish in time is aborted; the guest still runs on its
    /// source only, so the move falls back to `reboot`, which the file allows.
    @Test func aLiveMigrationThatTimesOutFallsBackToARebootWhenTheFileAllowsIt() throws {
        let lab = try Lab.require()
        let vp = try VirtPlace(lab: lab)
        let name = Lab.uniqueName("fback")
        defer { lab.removeGuest(name) }
        _ = try lab.createGuest("heartbeat", name, host: 1, ["--wait"])
        let boot = lab.bootID(name)
        let placement = try vp.placement("""
          \(name):
            host: host3
            moves: [live, reboot]
            live: {bandwidthMiBps: 1, timeoutSeconds: 1}
        """)
        let r = vp.apply(placement)
        #expect(r.status == 0, "\(r.output)")
        #expect(r.stdout.contains("did not finish within 1 s (aborted)"), "\(r.stdout)")
        #expect(r.stdout.contains("fell back to reboot"), "\(r.stdout)")
        #expect(lab.whereIs(name) == [3: "running"], "\(lab.whereIs(name))")
        #expect(lab.waitNewBoot(name, other: boot) != nil, "restarted on host3: a reboot move")
        expectConverged(vp, placement)
    }

    /// The destination's daemon dies in the middle of a live migration (slowed by a small
    /// bandwidth): the guest keeps running on the source, apply says why and exits 3, and once
    /// the daemon is back a plain apply moves it.
    @Test func theTargetDaemonDyingMidMigrationLeavesTheGuestRunningAndARerunConverges() throws {
        let lab = try Lab.require()
        let vp = try VirtPlace(lab: lab)
        let name = Lab.uniqueName("tdie")
        defer { lab.removeGuest(name) }
        _ = try lab.createGuest("heartbeat", name, host: 1, ["--wait"])
        let before = try #require(lab.waitHeartbeat(name, after: 0))
        let boot = lab.bootID(name)
        let slow = try vp.placement("""
          \(name):
            host: host2
            moves: [live]
            live: {bandwidthMiBps: 1}
        """, name: "slow.yaml")

        let applying = Background { vp.apply(slow) }
        // The middle: the migration job runs on the source and has moved some memory.
        let deadline = Date().addingTimeInterval(60)
        var migrating = false
        while Date() < deadline, !migrating {
            let info = lab.virsh(1, ["domjobinfo", name]).stdout
            migrating = info.contains("Unbounded") && info.range(of: #"Memory processed:\s+[1-9]"#, options: .regularExpression) != nil
            if !migrating { usleep(100_000) }
        }
        #expect(migrating, "the migration was seen running")
        let pid = try #require(lab.libvirtdPID(2))
        #expect(kill(pid, SIGKILL) == 0, "killed host2's libvirtd (pid \(pid))")
        let r = try #require(applying.wait())
        #expect(r.status == 3, "\(r.output)")
        #expect(r.stdout.contains("host2"), "\(r.stdout)")
        #expect(r.stdout.contains("lost") || r.stdout.contains("stopped answering") || r.stdout.contains("unreachable"),
                "the reason is given: \(r.stdout)")
        // The guest kept running on the source, without a restart.
        #expect(lab.virsh(1, ["domstate", name]).stdout.contains("running"))
        #expect(lab.waitHeartbeat(name, after: before + 1) != nil, "the heartbeat continues on host1")
        #expect(lab.bootID(name) == boot)

        // The daemon comes back; a plain apply (no bandwidth limit) moves it.
        let up = Lab.run("/bin/bash", [lab.tool, "up", "3"],
                         environment: ["VIRTPLACE_LAB_DIR": lab.dir, "VIRTPLACE_LAB_NET": lab.env["LAB_NET"] ?? ""])
        #expect(up.status == 0, "lab up 3: \(up.output)")
        let fast = try vp.placement("""
          \(name):
            host: host2
            moves: [live]
        """, name: "fast.yaml")
        let again = vp.apply(fast)
        #expect(again.status == 0, "\(again.output)")
        #expect(lab.whereIs(name) == [2: "running"], "\(lab.whereIs(name))")
        #expect(lab.bootID(name) == boot, "still the same boot: every move was live")
        expectConverged(vp, fast)
    }
}

/// How the progress line of a step begins (`2. back up`), to see where a killed run got to.
private func stepSummaryPrefix(_ op: String) -> String {
    switch op {
    case "record": "record the definition"
    case "backupVolume": "back up"
    case "shutdown": "shut down"
    case "transferVolume": "copy volume"
    case "recreate": "recreate on"
    case "attachDisk": "attach disk"
    case "attachNIC": "attach NIC"
    case "setMetadata": "set metadata"
    case "setAutostart": "enable autostart"
    case "undefineSource": "undefine on"
    default: "start on"
    }
}
