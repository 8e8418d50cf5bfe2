import Foundation
import Testing
import TestSupport

// Fault injection on real daemons for the move kinds FaultLabTests does not kill: live moves
// (before the migration, during libvirt's job, after it, before the journal's `finished`),
// updates, relayed moves, a fallback's own steps, a roll-back in progress, a volume copy cut in
// its middle, a journal that cannot be written (a full disk), and Ctrl-C. Each killed run is
// followed by a plain apply that must converge, judged by virsh (one copy, where and in the
// state declared), the guest's console (heartbeat: the same boot for live moves and updates, one
// new boot for a reboot move), sha256sum of the volume files (nothing lost, nothing partial taken
// for whole) and, once per test, the "nothing changed" witness (`expectConverged`).
//
// The debug build's hooks (docs/recovery.md §8): `VIRTPLACE_TEST_KILL_{BEFORE,AFTER}_STEP=N`,
// `VIRTPLACE_TEST_FAIL_STEP=N`, `VIRTPLACE_TEST_KILL_AFTER_RECORD=N` (after the run's Nth journal
// record), `VIRTPLACE_TEST_KILL_BEFORE_CALL=N` (before its Nth mutating libvirt call),
// `VIRTPLACE_TEST_KILL_AFTER_BYTES=N` (in a volume copy), `VIRTPLACE_TEST_JOURNAL_FULL_AT_RECORD=N`.

extension VirtPlace {
    /// `apply` with a fault-injection hook set (no debug-call count: the run may die).
    func applyWith(_ hooks: [String: String], _ arguments: [String], timeout: Double = 300) -> Lab.Result {
        Lab.run(Self.binary, ["apply"] + arguments + ["--auto-approve", "--state-dir", stateDir],
                environment: hooks.merging(["NO_COLOR": "1"]) { a, _ in a }, timeout: timeout)
    }

    /// The journal's records, in order (lines that are not JSON objects are left out).
    func journal() -> [[String: Any]] {
        let text = (try? String(contentsOfFile: stateDir + "/journal.jsonl", encoding: .utf8)) ?? ""
        return text.split(separator: "\n").compactMap { line in
            (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any]
        }
    }

    /// The journal file's bytes end with a whole line (no torn record left behind).
    var journalEndsWithANewline: Bool {
        let data = (try? Data(contentsOf: URL(fileURLWithPath: stateDir + "/journal.jsonl"))) ?? Data()
        return data.isEmpty || data.last == UInt8(ascii: "\n")
    }
}

/// `entry` of a record, with its step's `op` and phase when it is a step record
/// (`step shutdown intent`, `fallback`, `rollBack intent`).
func describeRecord(_ r: [String: Any]) -> String {
    let entry = r["entry"] as? String ?? "?"
    var s = entry
    if let step = r["step"] as? [String: Any], let op = step["op"] as? String { s += " " + op }
    if let phase = r["phase"] as? String { s += " " + phase }
    return s
}

extension Lab {
    /// How many times the guest booted, from its console (`hb-boot ID` lines).
    func boots(_ name: String) -> Int {
        let text = (try? String(contentsOfFile: consoleDir + "/\(name).log", encoding: .utf8)) ?? ""
        return text.split(whereSeparator: \.isNewline).filter { $0.hasPrefix("hb-boot ") }.count
    }

    /// Waits until the guest runs on exactly one host (libvirt may take a moment to clear the
    /// half-arrived guest of a cancelled migration); returns what virsh shows then.
    func settle(_ name: String, timeout: Double = 30) -> [Int: String] {
        let deadline = Date().addingTimeInterval(timeout)
        var found = whereIs(name)
        while Date() < deadline, found.count != 1 {
            usleep(200_000)
            found = whereIs(name)
        }
        return found
    }
}

/// A virtplace started in the background, for a test that signals it by PID while it runs.
final class RunningVirtPlace {
    let process = Process()
    private let base = NSTemporaryDirectory() + "labtest-bg-" + UUID().uuidString

    init(_ vp: VirtPlace, _ arguments: [String], environment: [String: String] = [:]) throws {
        process.executableURL = URL(fileURLWithPath: VirtPlace.binary)
        process.arguments = ["apply"] + arguments + ["--auto-approve", "--state-dir", vp.stateDir]
        var env = ProcessInfo.processInfo.environment
        env["NO_COLOR"] = "1"
        for (k, v) in environment { env[k] = v }
        process.environment = env
        _ = createPlainFile(atPath: base + ".out", contents: nil)
        _ = createPlainFile(atPath: base + ".err", contents: nil)
        process.standardOutput = FileHandle(forWritingAtPath: base + ".out")
        process.standardError = FileHandle(forWritingAtPath: base + ".err")
        process.standardInput = FileHandle.nullDevice
        try process.run()
    }

    var pid: pid_t { process.processIdentifier }

    /// Waits for the end; the result with what it printed.
    func wait() -> Lab.Result {
        process.waitUntilExit()
        defer {
            try? FileManager.default.removeItem(atPath: base + ".out")
            try? FileManager.default.removeItem(atPath: base + ".err")
        }
        return Lab.Result(status: process.terminationStatus,
                          stdout: (try? String(contentsOfFile: base + ".out", encoding: .utf8)) ?? "",
                          stderr: (try? String(contentsOfFile: base + ".err", encoding: .utf8)) ?? "")
    }
}

@Suite(.serialized) struct FaultMovesLabTests {
    // MARK: Live moves

    /// A running guest with a local disk (copied by the migration) moves live between host1
    /// and host2, killed at each step of the move: once the migration's intent is journalled
    /// (before libvirt is asked), in the middle of libvirt's job (SIGKILL by PID while
    /// `domjobinfo` shows memory moving, slowed to 1 MiB/s), once the migration's outcome is
    /// journalled, and after the last step, before `finished`. After each a plain apply puts it
    /// on the target: one copy, running, the same boot (the heartbeat went on: every move was
    /// live), its disk whole on the target (sha256 of the file) and kept on the source.
    @Test func aLiveMoveKilledAtEachOfItsStepsConvergesWithTheGuestNeverRestarted() throws {
        let lab = try Lab.require()
        let vp = try VirtPlace(lab: lab)
        let name = Lab.uniqueName("lkill")
        defer { lab.removeGuest(name) }
        _ = try lab.createGuest("localdisk", name, host: 1, ["--disk-size", "4", "--wait"])
        let volume = "\(name)-disk.img"
        let original = try #require(lab.sha256(lab.localDir(1) + "/" + volume))
        let boot = try #require(lab.bootID(name))
        let points = ["before the migration", "during the migration job", "after the migration", "before finished"]
        var host = 1
        for (round, point) in points.enumerated() {
            let target = host == 1 ? 2 : 1
            let label = "live host\(host) → host\(target), killed \(point)"
            let placement = try vp.placement("""
              \(name):
                host: host\(target)
                moves: [live]
                config: {tags: {round: "\(round)"}}
            """)
            let planned = vp.run(["plan", "-f", placement, "-f", lab.hostsYAML, "-o", "json"])
            let json = try #require(try JSONSerialization.jsonObject(with: Data(planned.stdout.utf8)) as? [String: Any], "\(planned.output)")
            let action = try #require((json["actions"] as? [[String: Any]])?.first, "\(planned.stdout)")
            #expect(action["kind"] as? String == "live", "\(label): \(planned.stdout)")
            let ops = ((action["steps"] as? [[String: Any]]) ?? []).compactMap { $0["op"] as? String }
            let migrate = try #require(ops.firstIndex(of: "migrateLive"), "\(ops)")
            #expect(ops.count > migrate + 1, "\(label): a step after the migration (setMetadata): \(ops)")
            let beat = lab.heartbeat(name) ?? 0

            let killed: Lab.Result
            switch point {
            case "during the migration job":
                let slow = try vp.placement("""
                  \(name):
                    host: host\(target)
                    moves: [live]
                    config: {tags: {round: "\(round)"}}
                    live: {bandwidthMiBps: 1}
                """, name: "slow.yaml")
                let running = try RunningVirtPlace(vp, ["-f", slow, "-f", lab.hostsYAML])
                let deadline = Date().addingTimeInterval(60)
                var migrating = false
                while Date() < deadline, !migrating {
                    let info = lab.virsh(host, ["domjobinfo", name]).stdout
                    migrating = info.contains("Unbounded") && info.range(of: #"(Memory|File|Data) processed:\s+[1-9]"#, options: .regularExpression) != nil
                    if !migrating { usleep(100_000) }
                }
                #expect(migrating, "\(label): the migration job was seen running")
                #expect(kill(running.pid, SIGKILL) == 0, "\(label): virtplace killed mid-job")
                killed = running.wait()
                // libvirt cancels the job of a client that is gone; the guest stays on the source.
                #expect(lab.settle(name) == [host: "running"], "\(label): \(lab.whereIs(name))")
            case "before the migration":
                killed = vp.applyWith(["VIRTPLACE_TEST_KILL_BEFORE_STEP": "\(migrate)"], ["-f", placement, "-f", lab.hostsYAML])
                #expect(lab.whereIs(name) == [host: "running"], "\(label): \(lab.whereIs(name))")
            case "after the migration":
                killed = vp.applyWith(["VIRTPLACE_TEST_KILL_AFTER_STEP": "\(migrate)"], ["-f", placement, "-f", lab.hostsYAML])
                #expect(lab.whereIs(name) == [target: "running"], "\(label): \(lab.whereIs(name))")
            default:
                killed = vp.applyWith(["VIRTPLACE_TEST_KILL_AFTER_STEP": "\(ops.count - 1)"], ["-f", placement, "-f", lab.hostsYAML])
                let last = vp.journal().last.map(describeRecord)
                #expect(last == "step \(ops[ops.count - 1]) done" || last == "step \(ops[ops.count - 1]) skipped", "\(label): killed before finished: \(last ?? "-")")
            }
            #expect(killed.status == SIGKILL, "\(label): killed (status \(killed.status)): \(killed.output)")
            #expect(lab.whereIs(name).values.filter { $0 == "running" }.count == 1, "\(label): one copy running: \(lab.whereIs(name))")

            let rerun = vp.apply(placement)
            #expect(rerun.status == 0, "\(label): rerun: \(rerun.output)")
            #expect(lab.whereIs(name) == [target: "running"], "\(label): one copy, running on host\(target): \(lab.whereIs(name))")
            #expect(lab.bootID(name) == boot, "\(label): the same boot: never restarted")
            #expect(lab.waitHeartbeat(name, after: beat) != nil, "\(label): the heartbeat goes on")
            #expect(lab.sha256(lab.localDir(target) + "/" + volume) == original, "\(label): the disk arrived whole")
            #expect(lab.sha256(lab.localDir(host) + "/" + volume) == original, "\(label): the source copy is kept, intact")
            #expect(lab.virsh(target, ["dumpxml", name]).stdout.contains("key=\"round\">\(round)<"), "\(label): the tag, live")
            // The operator removes the source copy virtplace kept, so that the next move copies again.
            lab.deleteVolumes("local", prefix: "\(name)-", host: host)
            host = target
        }
        let last = try vp.placement("""
          \(name):
            host: host\(host)
            moves: [live]
            config: {tags: {round: "\(points.count - 1)"}}
        """)
        expectConverged(vp, last)
    }

    // MARK: Updates

    /// In-place changes (vCPUs, memory, tags, autostart) of a running guest, killed after the
    /// intent and after the outcome of each step; each time a plain apply finishes: the
    /// definition says what the file says (virsh dumpxml), the guest never restarted.
    @Test func anUpdateKilledBetweenItsStepsConvergesWithoutARestart() throws {
        let lab = try Lab.require()
        let vp = try VirtPlace(lab: lab)
        let name = Lab.uniqueName("ukill")
        defer { lab.removeGuest(name) }
        _ = try lab.createGuest("heartbeat", name, host: 1, ["--no-nic", "--wait"])
        let boot = try #require(lab.bootID(name))
        var round = 0
        var points: [(String, Int)] = []
        var last = ""
        while true {
            round += 1
            if !points.isEmpty && round > points.count { break }
            // Above what the running guest was started with (1 vCPU, 128 MiB): each round
            // changes the definition (the running guest takes it at its next restart).
            let vcpus = round % 2 == 0 ? 2 : 3
            let memory = round % 2 == 0 ? 192 : 224
            let autostart = round % 2 == 1
            let placement = try vp.placement("""
              \(name):
                host: host1
                config: {vcpus: \(vcpus), memoryMiB: \(memory), autostart: \(autostart), tags: {round: "\(round)"}}
            """)
            let planned = vp.run(["plan", "-f", placement, "-f", lab.hostsYAML, "-o", "json"])
            let json = try #require(try JSONSerialization.jsonObject(with: Data(planned.stdout.utf8)) as? [String: Any], "\(planned.output)")
            let action = try #require((json["actions"] as? [[String: Any]])?.first, "\(planned.stdout)")
            #expect(action["kind"] as? String == "update", "\(planned.stdout)")
            let ops = ((action["steps"] as? [[String: Any]]) ?? []).compactMap { $0["op"] as? String }
            if points.isEmpty {
                #expect(Set(ops).isSuperset(of: ["setVcpus", "setMemory", "setMetadata", "setAutostart"]), "\(ops)")
                points = ops.indices.flatMap { [("VIRTPLACE_TEST_KILL_BEFORE_STEP", $0), ("VIRTPLACE_TEST_KILL_AFTER_STEP", $0)] }
            }
            last = placement
            let (variable, step) = points[round - 1]
            let label = "update round \(round), \(variable)=\(step) (\(step < ops.count ? ops[step] : "?") of \(ops))"

            let killed = vp.applyWith([variable: "\(step)"], ["-f", placement, "-f", lab.hostsYAML])
            #expect(killed.status == SIGKILL, "\(label): killed (status \(killed.status)): \(killed.output)")
            let rerun = vp.apply(placement)
            #expect(rerun.status == 0, "\(label): rerun: \(rerun.output)")
            #expect(lab.whereIs(name) == [1: "running"], "\(label): \(lab.whereIs(name))")
            let xml = lab.virsh(1, ["dumpxml", "--inactive", name]).stdout
            #expect(xml.contains("current='\(vcpus)'") || xml.range(of: "<vcpu placement='static'>\(vcpus)</vcpu>") != nil,
                    "\(label): \(vcpus) vCPUs in the definition")
            #expect(xml.contains("<currentMemory unit='KiB'>\(memory * 1024)</currentMemory>"), "\(label): \(memory) MiB in the definition")
            #expect(xml.contains("key=\"round\">\(round)<"), "\(label): the tag")
            #expect(lab.virsh(1, ["dominfo", name]).stdout.contains("Autostart:      \(autostart ? "enable" : "disable")"), "\(label): autostart")
            #expect(lab.bootID(name) == boot, "\(label): never restarted")
        }
        #expect(points.count >= 8, "only \(points.count) kill points")
        expectConverged(vp, last)
    }

    // MARK: Relays

    /// Two guests swap hosts where neither host has room for both: the planner relays one
    /// through host3 (three live hops). The swap is killed after a journal record — between the
    /// legs, and inside each leg once its migration is done — and each time a plain apply finishes
    /// the swap: each guest on its host, running, never restarted.
    @Test func aRelayedSwapKilledBetweenAndInsideItsLegsConverges() throws {
        let lab = try Lab.require()
        let vp = try VirtPlace(lab: lab)
        let a = Lab.uniqueName("ra"), b = Lab.uniqueName("rb")
        defer { lab.removeGuest(a); lab.removeGuest(b) }
        _ = try lab.createGuest("heartbeat", a, host: 1, ["--no-nic"])
        _ = try lab.createGuest("heartbeat", b, host: 2, ["--no-nic", "--wait"])
        #expect(lab.waitHeartbeat(a) != nil)
        let boots = [a: try #require(lab.bootID(a)), b: try #require(lab.bootID(b))]
        // Room for one guest on host1 and host2, for both on host3.
        var hosts = "hosts:\n"
        for i in 1...3 {
            hosts += "  host\(i):\n    uri: \(lab.uri(i))\n    capacity: {vcpus: 8, memoryMiB: \(i == 3 ? 1024 : 200)}\n"
        }
        let hostsFile = vp.workDir + "/relay-hosts.yaml"
        _ = createPlainFile(atPath: hostsFile, contents: Data(hosts.utf8))
        // A new tag each swap: every swap has the same steps, so one run's records are the
        // kill points.
        var round = 0
        func swap(_ aHost: Int, _ bHost: Int) throws -> String {
            round += 1
            return try vp.placement("""
              \(a):
                host: host\(aHost)
                moves: [live]
                config: {tags: {round: "\(round)"}}
              \(b):
                host: host\(bHost)
                moves: [live]
                config: {tags: {round: "\(round)"}}
            """)
        }
        // The records of one whole swap, from an uninterrupted run: the kill points.
        let first = try swap(2, 1)
        let planned = vp.run(["plan", "-f", first, "-f", hostsFile])
        #expect(planned.stdout.contains("relay"), "the planner relays: \(planned.stdout)")
        let before = vp.journal().count
        let whole = vp.run(["apply", "-f", first, "-f", hostsFile, "--auto-approve"])
        #expect(whole.status == 0, "\(whole.output)")
        let records = vp.journal().dropFirst(before).map(describeRecord)
        #expect(records.filter { $0 == "finished" }.count == 3, "three hops: \(records)")
        var layout = (a: 2, b: 1)
        // Between the legs (after each hop's `finished` but the last) and inside each leg,
        // once its migration is done and before the hop's corrections.
        let points = records.indices.filter { i in
            (records[i] == "finished" && i < records.count - 1) || records[i] == "step migrateLive done"
        }.map { $0 + 1 }
        #expect(points.count == 5, "\(records)")
        for n in points {
            let next = (a: layout.b, b: layout.a)
            let placement = try swap(next.a, next.b)
            let label = "swap to \(a)@host\(next.a) \(b)@host\(next.b), killed after record \(n) (\(records[n - 1]))"
            let start = vp.journal().count
            let killed = vp.applyWith(["VIRTPLACE_TEST_KILL_AFTER_RECORD": "\(n)"], ["-f", placement, "-f", hostsFile])
            #expect(killed.status == SIGKILL, "\(label): killed (status \(killed.status)): \(killed.output)")
            #expect(vp.journal().dropFirst(start).map(describeRecord).last == records[n - 1], "\(label): the same record sequence")
            for g in [a, b] {
                #expect(lab.settle(g).values.filter { $0 == "running" }.count == 1, "\(label): one copy of \(g) running: \(lab.whereIs(g))")
            }
            let rerun = vp.run(["apply", "-f", placement, "-f", hostsFile, "--auto-approve"])
            #expect(rerun.status == 0, "\(label): rerun: \(rerun.output)")
            #expect(lab.whereIs(a) == [next.a: "running"] && lab.whereIs(b) == [next.b: "running"],
                    "\(label): \(lab.whereIs(a)) \(lab.whereIs(b))")
            for g in [a, b] { #expect(lab.bootID(g) == boots[g], "\(label): \(g) never restarted") }
            layout = next
        }
        round -= 1
        let last = try swap(layout.a, layout.b)
        let again = expectUntouched(lab, "the apply after the swaps") { vp.run(["apply", "-f", last, "-f", hostsFile, "--auto-approve"]) }
        #expect(again.status == 0 && again.stdout.contains("No changes."), "\(again.output)")
    }

    // MARK: A fallback's own steps

    /// A live migration that times out falls back to a reboot move (the file allows it); the
    /// run is killed right after the `fallback` record and after the outcome of the fallback's
    /// shutdown, definition on the target and undefine. Each time a plain apply finishes the reboot move: one copy, running on the
    /// target, booted once more than before (a reboot move restarts it once, never twice).
    @Test func aFallbackKilledInItsOwnStepsConvergesWithOneRestart() throws {
        let lab = try Lab.require()
        let vp = try VirtPlace(lab: lab)
        let name = Lab.uniqueName("fbkill")
        defer { lab.removeGuest(name) }
        _ = try lab.createGuest("heartbeat", name, host: 1, ["--no-nic", "--wait"])
        // A new tag each time: every move has the same steps (the first would set the
        // fleet's metadata only once otherwise), so the records of one run are the kill points.
        var round = 0
        func placement(_ target: Int) throws -> String {
            try vp.placement("""
              \(name):
                host: host\(target)
                moves: [live, reboot]
                live: {bandwidthMiBps: 1, timeoutSeconds: 1}
                config: {tags: {round: "\(round)"}}
            """)
        }
        // An uninterrupted fallback first: its records give the kill points.
        let before = vp.journal().count
        let firstBoot = lab.bootID(name)
        let whole = vp.apply(try placement(3))
        #expect(whole.status == 0 && whole.stdout.contains("fell back to reboot"), "\(whole.output)")
        #expect(lab.waitNewBoot(name, other: firstBoot) != nil && lab.waitHeartbeat(name, after: 1) != nil, "booted on host3")
        let records = vp.journal().dropFirst(before).map(describeRecord)
        let fallback = try #require(records.firstIndex(of: "fallback"), "\(records)")
        // After `fallback`, then after each outcome of the fallback's steps (and its last intent).
        let points = [fallback + 1] + records.indices.filter { i in
            i > fallback && ["step shutdown done", "step defineOnTarget done", "step undefineSource done"].contains(records[i])
        }.map { $0 + 1 }
        #expect(points.count == 4, "\(records)")
        var host = 3
        for n in points {
            round += 1
            let target = host == 3 ? 1 : 3
            let label = "fallback host\(host) → host\(target), killed after record \(n) (\(records[n - 1]))"
            let boots = lab.boots(name)
            let boot = lab.bootID(name)
            let start = vp.journal().count
            let killed = vp.applyWith(["VIRTPLACE_TEST_KILL_AFTER_RECORD": "\(n)"], ["-f", try placement(target), "-f", lab.hostsYAML])
            #expect(killed.status == SIGKILL, "\(label): killed (status \(killed.status)): \(killed.output)")
            #expect(vp.journal().dropFirst(start).map(describeRecord).last == records[n - 1], "\(label): the same record sequence")
            #expect(lab.settle(name).values.filter { $0 == "running" }.count <= 1, "\(label): \(lab.whereIs(name))")

            let rerun = vp.apply(try placement(target))
            #expect(rerun.status == 0, "\(label): rerun: \(rerun.output)")
            #expect(lab.whereIs(name) == [target: "running"], "\(label): one copy, running on host\(target): \(lab.whereIs(name))")
            #expect(lab.virsh(target, ["dumpxml", name]).stdout.contains("key=\"round\">\(round)<"), "\(label): the tag")
            // A new boot, and its first heartbeats (the next move shuts it down: it must have
            // booted far enough to hear ACPI); the console keeps every boot (append='on').
            #expect(lab.waitNewBoot(name, other: boot) != nil, "\(label): booted on host\(target)")
            #expect(lab.waitHeartbeat(name, after: 1) != nil, "\(label): it runs")
            #expect(lab.boots(name) == boots + 1, "\(label): restarted once (\(lab.boots(name) - boots) boots)")
            host = target
        }
        expectConverged(vp, try placement(host))
    }

    // MARK: A roll-back in progress

    /// A reboot move whose start on the target fails (the test's hook) is rolled back: the
    /// source defined again from the record, the target's copy undefined, the guest started
    /// again on the source. That roll-back is killed before each of its libvirt calls and
    /// after its records; each time a plain apply settles it: one copy, running, its volume
    /// whole, never a second copy running, the target's copy never started by the roll-back.
    @Test func aRollBackKilledInItsMiddleConverges() throws {
        let lab = try Lab.require()
        let vp = try VirtPlace(lab: lab)
        let name = Lab.uniqueName("rbkill")
        defer { lab.removeGuest(name) }
        _ = try lab.createGuest("marker", name, host: 1, ["--no-nic", "--wait"])
        let image = (lab.env["LAB_SHARED_DIR"] ?? lab.dir + "/shared") + "/\(name)-boot.img"
        let marker = try #require(lab.marker(image))
        // A new tag each run: every move has the same steps and calls (the first would set
        // the fleet's metadata only once otherwise).
        var round = 0
        func placement(_ target: Int) throws -> String {
            round += 1
            return try vp.placement("""
              \(name):
                host: host\(target)
                moves: [reboot]
                config: {tags: {round: "\(round)"}}
            """)
        }
        let planned = vp.run(["plan", "-f", try placement(2), "-f", lab.hostsYAML, "-o", "json"])
        let json = try #require(try JSONSerialization.jsonObject(with: Data(planned.stdout.utf8)) as? [String: Any], "\(planned.output)")
        let ops = (((json["actions"] as? [[String: Any]])?.first?["steps"] as? [[String: Any]]) ?? []).compactMap { $0["op"] as? String }
        let startStep = try #require(ops.lastIndex(of: "start"), "\(ops)")
        #expect(ops.contains("undefineSource"), "\(ops)")
        let fail = ["VIRTPLACE_TEST_FAIL_STEP": "\(startStep)", "VIRTPLACE_DEBUG_CALLS": "1"]

        // An uninterrupted failure and roll-back first: the calls and records to kill at.
        let before = vp.journal().count
        let whole = vp.applyWith(fail, ["-f", try placement(2), "-f", lab.hostsYAML])
        #expect(whole.status == 3, "\(whole.output)")
        #expect(whole.stdout.contains("put back"), "rolled back: \(whole.stdout)")
        #expect(lab.whereIs(name) == [1: "running"], "\(lab.whereIs(name))")
        let records = vp.journal().dropFirst(before).map(describeRecord)
        let rollBack = try #require(records.firstIndex(of: "rollBack intent"), "\(records)")
        let calls = try #require(VirtPlace.mutatingCalls(whole), "\(whole.stderr)")
        // The roll-back's own calls are the run's last: define on host1, undefine on host2,
        // start on host1 (the line names them).
        #expect(whole.stderr.contains("virDomainDefineXML") && whole.stderr.contains("virDomainUndefine"), "\(whole.stderr)")
        let points: [(String, Int)] = [("VIRTPLACE_TEST_KILL_AFTER_RECORD", rollBack + 1)]
            + [calls - 2, calls - 1, calls].map { ("VIRTPLACE_TEST_KILL_BEFORE_CALL", $0) }
            + [("VIRTPLACE_TEST_KILL_AFTER_RECORD", rollBack + 2)]
        #expect(lab.waitHeartbeat(name, after: 1) != nil, "started again on host1")
        for (variable, n) in points {
            let label = "roll-back killed at \(variable)=\(n)"
            let boot = lab.bootID(name)
            let home = lab.whereIs(name).keys.first ?? 1
            let target = home == 1 ? 2 : 1
            let file = try placement(target)
            let killed = vp.applyWith(fail.merging([variable: "\(n)"]) { a, _ in a }, ["-f", file, "-f", lab.hostsYAML])
            #expect(killed.status == SIGKILL, "\(label): killed (status \(killed.status)): \(killed.output)")
            #expect(vp.journal().contains { describeRecord($0) == "rollBack intent" }, "\(label): in the roll-back")
            #expect(lab.whereIs(name).values.filter { $0 == "running" }.count <= 1, "\(label): \(lab.whereIs(name))")

            let rerun = vp.apply(file)
            #expect(rerun.status == 0, "\(label): rerun: \(rerun.output)")
            #expect(lab.whereIs(name) == [target: "running"], "\(label): one copy, running on host\(target): \(lab.whereIs(name))")
            #expect(lab.marker(image) == marker, "\(label): the boot volume's data")
            #expect(lab.waitNewBoot(name, other: boot) != nil && lab.waitHeartbeat(name, after: 1) != nil, "\(label): booted")
        }
        round -= 1
        let home = lab.whereIs(name).keys.first ?? 1
        expectConverged(vp, try placement(home))
    }

    // MARK: A volume copy cut in its middle

    /// A cold move of a shut-off guest whose 8 MiB volume (random data) is in `local`: the
    /// copy is killed half-way, then the rerun's copy is killed half-way too. The partial volume
    /// left on the target is virtplace's own (journalled): the next apply writes it again and
    /// verifies it, never takes it for whole; the source volume is never touched. A volume of
    /// the same name that virtplace did not create is never written or deleted: the move is
    /// blocked instead.
    @Test func aVolumeCopyKilledInItsMiddleIsCopiedAgainAndNothingIsLost() throws {
        let lab = try Lab.require()
        let vp = try VirtPlace(lab: lab)
        let name = Lab.uniqueName("xkill")
        defer { lab.removeGuest(name) }
        _ = try lab.createGuest("localdisk", name, host: 1, ["--stopped", "--no-nic", "--disk-size", "8"])
        let volume = "\(name)-disk.img"
        let source = lab.localDir(1) + "/" + volume, copy = lab.localDir(2) + "/" + volume
        let original = try #require(lab.sha256(source))
        let placement = try vp.placement("""
          \(name):
            host: host2
            moves: [cold]
        """)
        let half = ["VIRTPLACE_TEST_KILL_AFTER_BYTES": "\(4 << 20)"]
        for attempt in ["first", "resumed"] {
            let killed = vp.applyWith(half, ["-f", placement, "-f", lab.hostsYAML])
            #expect(killed.status == SIGKILL, "\(attempt): killed mid-copy (status \(killed.status)): \(killed.output)")
            #expect(lab.whereIs(name) == [1: "shut off"], "\(attempt): \(lab.whereIs(name))")
            #expect(FileManager.default.fileExists(atPath: copy), "\(attempt): a partial copy on host2")
            #expect(lab.sha256(copy) != original, "\(attempt): the copy on host2 is partial")
            #expect(lab.sha256(source) == original, "\(attempt): the source volume untouched")
        }
        let rerun = vp.apply(placement)
        #expect(rerun.status == 0, "rerun: \(rerun.output)")
        #expect(lab.whereIs(name) == [2: "shut off"], "\(lab.whereIs(name))")
        #expect(lab.sha256(copy) == original, "the copy was written again, whole")
        #expect(lab.sha256(source) == original, "the source copy is kept, intact")
        expectConverged(vp, placement)

        // Back to host1, where the operator has since put a volume of that name of their own:
        // never written, never deleted; the move is blocked and says why.
        lab.deleteVolumes("local", prefix: "\(name)-", host: 1)
        let theirs = Data(repeating: 0x5a, count: 1 << 20)
        _ = createPlainFile(atPath: source, contents: theirs)
        _ = lab.virsh(1, ["pool-refresh", "local"])
        let mine = try #require(lab.sha256(source))
        let back = try vp.placement("""
          \(name):
            host: host1
            moves: [cold]
        """, name: "back.yaml")
        let blocked = vp.applyWith(half, ["-f", back, "-f", lab.hostsYAML])
        #expect(blocked.status == 3, "\(blocked.output)")
        #expect(blocked.stdout.contains("target.volume-exists") || blocked.stdout.contains("virtplace did not create"), "\(blocked.stdout)")
        #expect(lab.sha256(source) == mine, "the operator's volume is untouched")
        #expect(lab.whereIs(name) == [2: "shut off"], "\(lab.whereIs(name))")
    }

    // MARK: A journal that cannot be written

    /// A reboot move whose journal fills the disk at a chosen record (the debug hook writes half
    /// the line, then fails with ENOSPC, as a full disk does): at the intent of the shutdown and
    /// of the source's undefine, at the outcome of the definition on the target, and at
    /// `finished`. virtplace never runs a step whose intent it could not write, exits 3
    /// saying the journal could not be written, and leaves the journal ending in a whole line;
    /// the next apply (space back) finishes or redoes the move: one copy, running on the target.
    @Test func aJournalThatCannotBeWrittenStopsTheMoveAndTheNextApplyConverges() throws {
        let lab = try Lab.require()
        let vp = try VirtPlace(lab: lab)
        let name = Lab.uniqueName("full")
        defer { lab.removeGuest(name) }
        _ = try lab.createGuest("heartbeat", name, host: 1, ["--no-nic", "--wait"])
        func placement(_ target: Int) throws -> String {
            try vp.placement("""
              \(name):
                host: host\(target)
                moves: [reboot]
            """)
        }
        // The records of a whole reboot move: record · shutdown · defineOnTarget · undefineSource ·
        // start (there and back: the first move also sets the fleet's metadata).
        var boot = lab.bootID(name)
        #expect(vp.apply(try placement(2)).status == 0)
        #expect(lab.waitNewBoot(name, other: boot) != nil && lab.waitHeartbeat(name, after: 1) != nil)
        boot = lab.bootID(name)
        let before = vp.journal().count
        let whole = vp.apply(try placement(1))
        #expect(whole.status == 0, "\(whole.output)")
        let records = vp.journal().dropFirst(before).map(describeRecord)
        #expect(lab.waitNewBoot(name, other: boot) != nil && lab.waitHeartbeat(name, after: 1) != nil)
        let wanted = ["step shutdown intent", "step defineOnTarget done", "step undefineSource intent", "finished"]
        var host = 1
        for record in wanted {
            let n = try #require(records.firstIndex(of: record), "\(record) in \(records)") + 1
            let target = host == 1 ? 2 : 1
            let label = "journal full at record \(n) (\(record)), host\(host) → host\(target)"
            let domains = lab.whereIs(name)
            boot = lab.bootID(name)
            let start = vp.journal().count
            let failed = vp.applyWith(["VIRTPLACE_TEST_JOURNAL_FULL_AT_RECORD": "\(n)"], ["-f", try placement(target), "-f", lab.hostsYAML])
            #expect(failed.status == (record == "finished" ? 0 : 3), "\(label): exit: \(failed.output)")
            #expect(record == "finished" || failed.output.contains("No space left on device"), "\(label): says why: \(failed.output)")
            #expect(vp.journalEndsWithANewline, "\(label): no torn line left")
            let written = vp.journal().dropFirst(start).map(describeRecord)
            #expect(Array(written.prefix(n - 1)) == Array(records.prefix(n - 1)), "\(label): the records before it: \(written)")
            // The step whose intent could not be written never ran.
            switch record {
            case "step shutdown intent":
                #expect(lab.whereIs(name) == domains, "\(label): nothing changed: \(lab.whereIs(name))")
            case "step defineOnTarget intent":
                #expect(lab.whereIs(name)[target] == nil, "\(label): nothing defined on the target: \(lab.whereIs(name))")
            case "step undefineSource intent":
                #expect(lab.whereIs(name)[host] != nil, "\(label): the source still defines it: \(lab.whereIs(name))")
            default: break
            }
            #expect(lab.settle(name).values.filter { $0 == "running" }.count <= 1, "\(label): \(lab.whereIs(name))")

            let rerun = vp.apply(try placement(target))
            #expect(rerun.status == 0, "\(label): rerun: \(rerun.output)")
            #expect(lab.whereIs(name) == [target: "running"], "\(label): one copy, running on host\(target): \(lab.whereIs(name))")
            // The next move shuts it down: it must have booted far enough to hear ACPI.
            #expect(lab.waitNewBoot(name, other: boot) != nil && lab.waitHeartbeat(name, after: 1) != nil, "\(label): booted")
            host = target
        }
        expectConverged(vp, try placement(host))
    }

    // MARK: Ctrl-C

    /// Ctrl-C (SIGINT) while a reboot move waits for its guest's shutdown (the guest ignores
    /// ACPI for a few seconds): the step in progress finishes (the guest shuts off), no further
    /// step runs (nothing defined on the target), apply exits 130 and says so; the next apply
    /// finishes the move, started once on the target. A second Ctrl-C stops at once.
    @Test func ctrlCDuringApplyFinishesTheStepExits130AndTheNextApplyFinishes() throws {
        let lab = try Lab.require()
        let vp = try VirtPlace(lab: lab)
        let name = Lab.uniqueName("sigint")
        defer { lab.removeGuest(name) }
        _ = try lab.createGuest("heartbeat", name, host: 1, ["--no-nic", "--wait", "--acpi-ignore", "6"])
        let boots = lab.boots(name)
        let boot = lab.bootID(name)
        let placement = try vp.placement("""
          \(name):
            host: host2
            moves: [reboot]
        """)
        let running = try RunningVirtPlace(vp, ["-f", placement, "-f", lab.hostsYAML])
        // In the shutdown step: its intent is journalled and the guest has heard the button.
        let deadline = Date().addingTimeInterval(60)
        var inShutdown = false
        while Date() < deadline, !inShutdown {
            inShutdown = vp.journal().last.map(describeRecord) == "step shutdown intent"
            if !inShutdown { usleep(50_000) }
        }
        #expect(inShutdown, "the shutdown step was seen running")
        usleep(500_000)
        #expect(kill(running.pid, SIGINT) == 0)
        let r = running.wait()
        #expect(r.status == 130, "exit 130: \(r.output)")
        #expect(r.stderr.contains("interrupted"), "\(r.stderr)")
        #expect(r.stdout.contains("stopped before step") && r.stdout.contains("on request"), "\(r.stdout)")
        let records = vp.journal().map(describeRecord)
        #expect(records.last == "step shutdown done", "the step in progress finished, nothing after it: \(records)")
        #expect(lab.whereIs(name) == [1: "shut off"], "\(lab.whereIs(name))")

        let rerun = vp.apply(placement)
        #expect(rerun.status == 0, "\(rerun.output)")
        #expect(rerun.stdout.contains("An earlier run left unfinished"), "\(rerun.stdout)")
        #expect(lab.whereIs(name) == [2: "running"], "\(lab.whereIs(name))")
        #expect(lab.waitNewBoot(name, other: boot) != nil, "booted on host2")
        #expect(lab.waitHeartbeat(name, after: 0) != nil)
        #expect(lab.boots(name) == boots + 1, "started once on host2")

        // Twice: the second Ctrl-C ends it at once (SIGINT), and the next apply finishes.
        let back = try vp.placement("""
          \(name):
            host: host1
            moves: [reboot]
        """, name: "back.yaml")
        let again = try RunningVirtPlace(vp, ["-f", back, "-f", lab.hostsYAML])
        var shutting = false
        let until = Date().addingTimeInterval(60)
        while Date() < until, !shutting {
            shutting = vp.journal().last.map(describeRecord) == "step shutdown intent"
            if !shutting { usleep(50_000) }
        }
        #expect(shutting)
        usleep(500_000)
        #expect(kill(again.pid, SIGINT) == 0)
        usleep(300_000)
        #expect(kill(again.pid, SIGINT) == 0)
        let twice = again.wait()
        #expect(twice.status == SIGINT && again.process.terminationReason == .uncaughtSignal, "ended by the second SIGINT: \(twice.status) \(twice.output)")
        #expect(lab.settle(name).values.filter { $0 == "running" }.count <= 1)
        let finished = vp.apply(back)
        #expect(finished.status == 0, "\(finished.output)")
        #expect(lab.whereIs(name) == [1: "running"], "\(lab.whereIs(name))")
        expectConverged(vp, back)
    }
}
