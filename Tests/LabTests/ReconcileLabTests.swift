import Foundation
import Testing

/// `virtplace reconcile`: drift made behind virtplace's back (with virsh) is corrected in one
/// pass; a second pass has nothing to do; `--interval` ends cleanly on SIGTERM after the step
/// in progress.
@Suite(.serialized) struct ReconcileLabTests {
    @Test func onePassCorrectsDriftAndTheNextHasNothingToDo() throws {
        let lab = try Lab.require()
        let vp = try VirtPlace(lab: lab)
        let name = Lab.uniqueName("drift")
        defer { lab.removeGuest(name) }
        let mac = "52:54:00:d1:f7:01"
        _ = try lab.createGuest("heartbeat", name, host: 1, ["--wait", "--mac", mac, "--memory", "128"])
        let placement = try vp.placement("""
          \(name):
            host: host1
            config: {memoryMiB: 128, tags: {tier: drift}}
            devices:
              eth0: {type: nic, network: lan, mac: "\(mac)"}
        """)
        // Converge first, so that what follows is drift.
        #expect(vp.apply(placement).status == 0)

        // Behind virtplace's back: moved to the wrong host, memory changed in the definition,
        // the NIC detached.
        #expect(lab.virsh(1, ["migrate", "--live", "--persistent", "--undefinesource", name, lab.uri(2)], timeout: 120).status == 0)
        #expect(lab.virsh(2, ["setmaxmem", name, "96M", "--config"]).status == 0)
        #expect(lab.virsh(2, ["setmem", name, "96M", "--config"]).status == 0)
        #expect(lab.virsh(2, ["detach-interface", name, "network", "--mac", mac, "--config"]).status == 0)
        #expect(lab.whereIs(name) == [2: "running"])

        let pass = vp.run(["reconcile", "-f", placement, "-f", lab.hostsYAML, "--metrics-file", vp.workDir + "/vp.prom"])
        #expect(pass.status == 0, "\(pass.output)")
        // Structured log lines: every stdout line is a JSON object.
        let lines = pass.stdout.split(separator: "\n")
        #expect(!lines.isEmpty)
        for line in lines {
            #expect((try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any] != nil, "not JSON: \(line)")
        }
        #expect(pass.stdout.contains(#""event":"action""#) && pass.stdout.contains(#""outcome":"done""#))
        #expect(lab.whereIs(name) == [1: "running"], "back on host1: \(lab.whereIs(name))")
        let xml = lab.virsh(1, ["dumpxml", "--inactive", name]).stdout
        #expect(xml.contains(mac), "the NIC is back with its MAC")
        #expect(xml.contains("<memory unit='KiB'>131072</memory>"), "memory back to 128 MiB in the definition")
        let metrics = (try? String(contentsOfFile: vp.workDir + "/vp.prom", encoding: .utf8)) ?? ""
        #expect(metrics.contains("virtplace_last_pass_success{fleet=\"labtest\"} 1"))

        // The second pass and an apply: nothing to do, exit 0, and the witness (virsh, sha256sum)
        // sees every domain and volume as it was.
        expectConverged(vp, placement)
    }

    @Test func sigtermDuringAMoveEndsCleanlyAfterTheStep() throws {
        let lab = try Lab.require()
        let vp = try VirtPlace(lab: lab)
        let name = Lab.uniqueName("sigterm")
        defer { lab.removeGuest(name) }
        _ = try lab.createGuest("heartbeat", name, host: 1, ["--wait"])
        // A slow live move (bandwidth capped) so that SIGTERM lands in its middle.
        let placement = try vp.placement("""
          \(name):
            host: host2
            live: {bandwidthMiBps: 20}
        """)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: VirtPlace.binary)
        process.arguments = ["reconcile", "-f", placement, "-f", lab.hostsYAML, "--interval", "1h", "--state-dir", vp.stateDir]
        let out = vp.workDir + "/reconcile.out"
        _ = FileManager.default.createFile(atPath: out, contents: nil)
        process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: out))
        process.standardError = FileHandle.nullDevice
        try process.run()
        // Wait until the migration step has started, then SIGTERM (this process's own child).
        let deadline = Date().addingTimeInterval(60)
        var sawMigration = false
        while Date() < deadline {
            if lab.virsh(1, ["domjobinfo", name]).stdout.contains("Unbounded") { sawMigration = true; break }
            usleep(100_000)
        }
        #expect(sawMigration, "the live migration never started")
        kill(process.processIdentifier, SIGTERM)
        let stopDeadline = Date().addingTimeInterval(120)
        while process.isRunning && Date() < stopDeadline { usleep(100_000) }
        #expect(!process.isRunning, "reconcile did not stop after SIGTERM")
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        let log = (try? String(contentsOfFile: out, encoding: .utf8)) ?? ""
        // The migration in progress finished; nothing new started; it said why it stopped.
        #expect(lab.whereIs(name) == [2: "running"], "\(lab.whereIs(name))\n\(log)")
        #expect(log.contains(#""event":"stopped""#), "\(log)")
        #expect(!log.contains(#""event":"sleep""#) || log.contains(#""event":"stopped""#))
        // The stopped pass left nothing half-done that a second pass would not finish.
        let again = vp.run(["reconcile", "-f", placement, "-f", lab.hostsYAML])
        #expect(again.status == 0, "\(again.output)")
    }
}
