import Foundation
import Testing
import TestSupport

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

        let boot = lab.bootID(name)
        let started = Date().timeIntervalSince1970
        let pass = vp.run(["reconcile", "-f", placement, "-f", lab.hostsYAML, "--metrics-file", vp.workDir + "/vp.prom"])
        let ended = Date().timeIntervalSince1970
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
        // The metrics' values against what the witnesses saw: one instance, moved live (the
        // same boot) and done; three hosts answered; one pass, timed within this test's clock.
        let metrics = (try? String(contentsOfFile: vp.workDir + "/vp.prom", encoding: .utf8)) ?? ""
        func value(_ series: String) -> Double? {
            metrics.split(separator: "\n").first { $0.hasPrefix(series + " ") }.flatMap { Double($0.split(separator: " ").last ?? "") }
        }
        let live = lab.bootID(name) == boot
        #expect(live, "the guest did not restart: the move was live")
        let fleet = "fleet=\"labtest\""
        #expect(value("virtplace_last_pass_success{\(fleet)}") == 1, "\(metrics)")
        #expect(value("virtplace_passes_total{\(fleet)}") == 1)
        #expect(value("virtplace_failed_passes_total{\(fleet)}") == 0)
        #expect(value("virtplace_hosts{\(fleet),reachable=\"true\"}") == 3, "\(metrics)")
        #expect(value("virtplace_last_pass_actions{\(fleet),kind=\"live\",outcome=\"done\"}") == 1, "\(metrics)")
        #expect(value("virtplace_actions_total{\(fleet),kind=\"live\",outcome=\"done\"}") == 1, "\(metrics)")
        let otherActions = metrics.split(separator: "\n").filter {
            $0.hasPrefix("virtplace_last_pass_actions{") && !$0.contains("kind=\"live\"") && !$0.hasSuffix(" 0")
        }
        #expect(otherActions.isEmpty, "one action in all: \(otherActions)")
        #expect(value("virtplace_instances{\(fleet),status=\"changed\"}") == 1, "\(metrics)")
        let duration = try #require(value("virtplace_last_pass_duration_seconds{\(fleet)}"))
        #expect(duration > 0 && duration <= ended - started, "duration \(duration) within the run's \(ended - started) s")
        let stamp = try #require(value("virtplace_last_pass_timestamp_seconds{\(fleet)}"))
        #expect(stamp >= started && stamp <= ended, "ended at \(stamp), between \(started) and \(ended)")
        let downtime = try #require(value("virtplace_migration_downtime_seconds{\(fleet),instance=\"\(name)\"}"), "\(metrics)")
        #expect(downtime > 0 && downtime < 10)

        // The second pass and an apply: nothing to do, exit 0, and the witness (virsh, sha256sum)
        // sees every domain and volume as it was.
        expectConverged(vp, placement)
    }

    @Test(arguments: [SIGTERM, SIGINT])
    func aSignalDuringAMoveEndsCleanlyAfterTheStep(signal: Int32) throws {
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
        _ = createPlainFile(atPath: out, contents: nil)
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
        kill(process.processIdentifier, signal)
        let stopDeadline = Date().addingTimeInterval(120)
        while process.isRunning && Date() < stopDeadline { usleep(100_000) }
        #expect(!process.isRunning, "reconcile did not stop after signal \(signal)")
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

    /// `--max-moves 1`: one move per pass, whatever the file allows; each pass moves one more,
    /// as virsh sees it, until the third has nothing left.
    @Test func maxMovesCapsEachPass() throws {
        let lab = try Lab.require()
        let vp = try VirtPlace(lab: lab)
        let names = (1...3).map { Lab.uniqueName("cap\($0)") }
        defer { for n in names { lab.removeGuest(n) } }
        for n in names { _ = try lab.createGuest("shutoff", n, host: 1, ["--no-nic"]) }
        let placement = try vp.placement(names.map { "  \($0):\n    host: host2" }.joined(separator: "\n"))
        func onHost2() -> Int { names.filter { lab.whereIs($0) == [2: "shut off"] }.count }
        for pass in 1...3 {
            let r = vp.run(["reconcile", "-f", placement, "-f", lab.hostsYAML, "--max-moves", "1"])
            #expect(r.status == 0, "pass \(pass): \(r.output)")
            #expect(onHost2() == pass, "pass \(pass): \(names.map { lab.whereIs($0) })")
            #expect(names.allSatisfy { lab.whereIs($0).count == 1 }, "exactly one copy of each")
        }
        expectConverged(vp, placement)
    }
}
