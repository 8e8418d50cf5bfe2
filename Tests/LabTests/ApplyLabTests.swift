import Foundation
import Testing
import TestSupport

// `virtplace apply` against real libvirt daemons and QEMU guests (lab/lab), with virsh as the
// independent witness. Each test makes its own uniquely named guests and removes them.

@Suite(.serialized) struct ApplyLabTests {
    @Test func aLiveMoveKeepsTheGuestRunningAndReportsItsDowntime() throws {
        let lab = try Lab.require()
        let vp = try VirtPlace(lab: lab)
        let name = Lab.uniqueName("live")
        defer { lab.removeGuest(name) }
        let guest = try lab.createGuest("heartbeat", name, host: 1, ["--wait"])
        let uuidBefore = lab.virsh(1, ["domuuid", name]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let before = try #require(lab.waitHeartbeat(name, after: 1), "no heartbeat before the move")
        let boot = try #require(lab.bootID(name))

        let placement = try vp.placement("""
          \(name):
            host: host2
            config: {tags: {tier: web}}
        """)
        let r = vp.apply(placement)
        #expect(r.status == 0, "\(r.output)")
        #expect(r.stdout.contains("live  \(name)") || r.stdout.contains("live    \(name)"), "\(r.stdout)")
        #expect(r.stdout.range(of: #"downtime \d+ ms"#, options: .regularExpression) != nil, "downtime reported: \(r.stdout)")

        #expect(lab.whereIs(name) == [2: "running"])
        // The counter goes on from where it was: the guest never restarted.
        let after = try #require(lab.waitHeartbeat(name, after: before), "no heartbeat after the move")
        #expect(after > before)
        #expect(lab.bootID(name) == boot, "the guest booted again: not a live move")
        // Identity kept: UUID, MAC; the fleet mark and the tag are in the metadata.
        #expect(lab.virsh(2, ["domuuid", name]).stdout.trimmingCharacters(in: .whitespacesAndNewlines) == uuidBefore)
        let xml = lab.virsh(2, ["dumpxml", "--inactive", name]).stdout
        #expect(xml.contains(guest["mac"] ?? "no mac"))
        #expect(xml.contains("fleet=\"labtest\""))
        #expect(xml.contains("key=\"tier\">web<"))

        expectConverged(vp, placement)
    }

    @Test func aRebootMoveRestartsTheGuestOnTheTargetAndRestoresItsState() throws {
        let lab = try Lab.require()
        let vp = try VirtPlace(lab: lab)
        let name = Lab.uniqueName("reboot")
        defer { lab.removeGuest(name) }
        _ = try lab.createGuest("heartbeat", name, host: 1, ["--wait"])
        let boot = try #require(lab.bootID(name))

        let placement = try vp.placement("""
          \(name):
            host: host3
            moves: [reboot]
        """)
        let r = vp.apply(placement)
        #expect(r.status == 0, "\(r.output)")
        #expect(r.stdout.contains("shut down on host1"), "\(r.stdout)")
        #expect(lab.whereIs(name) == [3: "running"], "running again, on host3: \(lab.whereIs(name))")
        #expect(lab.waitNewBoot(name, other: boot) != nil, "booted again on host3: the counter restarted")

        expectConverged(vp, placement)
    }

    @Test func aColdMoveCopiesALocalVolumeVerifiedAndKeepsTheSource() throws {
        let lab = try Lab.require()
        let vp = try VirtPlace(lab: lab)
        let name = Lab.uniqueName("cold")
        defer { lab.removeGuest(name) }
        _ = try lab.createGuest("localdisk", name, host: 2, ["--stopped", "--disk-size", "4", "--no-nic"])
        let volume = "\(name)-disk.img"
        let original = try #require(lab.sha256(lab.localDir(2) + "/" + volume))

        let placement = try vp.placement("""
          \(name):
            host: host1
        """)
        let r = vp.apply(placement)
        #expect(r.status == 0, "\(r.output)")
        #expect(lab.whereIs(name) == [1: "shut off"])
        #expect(lab.sha256(lab.localDir(1) + "/" + volume) == original, "the copy on host1 has the same SHA-256")
        #expect(lab.sha256(lab.localDir(2) + "/" + volume) == original, "the source copy is kept")
        #expect(r.stdout.contains("source copy kept: host2 local/\(volume)"), "\(r.stdout)")
        #expect(r.stdout.contains("SHA-256 \(original.prefix(16))"), "the verified digest is reported")

        expectConverged(vp, placement)
    }

    @Test func aLiveMoveCopiesALocalDisk() throws {
        let lab = try Lab.require()
        let vp = try VirtPlace(lab: lab)
        let name = Lab.uniqueName("ldisk")
        defer { lab.removeGuest(name) }
        _ = try lab.createGuest("localdisk", name, host: 1, ["--disk-size", "4", "--wait"])
        let volume = "\(name)-disk.img"
        let original = try #require(lab.sha256(lab.localDir(1) + "/" + volume))
        let before = try #require(lab.waitHeartbeat(name, after: 0))
        let boot = lab.bootID(name)

        let placement = try vp.placement("""
          \(name):
            host: host2
        """)
        let r = vp.apply(placement)
        #expect(r.status == 0, "\(r.output)")
        #expect(r.stdout.contains("copying vda"), "\(r.stdout)")
        #expect(lab.whereIs(name) == [2: "running"])
        #expect(lab.sha256(lab.localDir(2) + "/" + volume) == original, "the disk arrived whole")
        #expect(lab.sha256(lab.localDir(1) + "/" + volume) == original, "the source copy is kept")
        #expect(lab.waitHeartbeat(name, after: before) != nil)
        #expect(lab.bootID(name) == boot, "no restart")

        expectConverged(vp, placement)
    }

    @Test func anUpdateSetsMemoryAndVcpusAndAttachesANICAndADisk() throws {
        let lab = try Lab.require()
        let vp = try VirtPlace(lab: lab)
        let name = Lab.uniqueName("upd")
        defer { lab.removeGuest(name) }
        _ = try lab.createGuest("heartbeat", name, host: 2, ["--wait"])
        let mac = "52:54:00:7e:57:01"
        // A data volume to attach (removed with the guest: its name starts with the guest's).
        let volume = "\(name)-data.img"
        #expect(lab.virsh(2, ["vol-create-as", "shared", volume, "4M", "--format", "raw"]).status == 0)

        let placement = try vp.placement("""
          \(name):
            host: host2
            config: {memoryMiB: 192, vcpus: 2, autostart: true}
            devices:
              eth1: {type: nic, network: lan, mac: "\(mac)", model: virtio}
              data: {type: disk, pool: shared, volume: \(volume)}
        """)
        let r = vp.apply(placement)
        #expect(r.status == 0, "\(r.output)")
        #expect(r.stdout.contains("takes effect at the next restart"), "\(r.stdout)")

        let inactive = lab.virsh(2, ["dumpxml", "--inactive", name]).stdout
        #expect(inactive.contains("<memory unit='KiB'>196608</memory>"), "\(inactive)")
        #expect(inactive.contains("<currentMemory unit='KiB'>196608</currentMemory>"))
        #expect(inactive.range(of: #"<vcpu[^>]*>2</vcpu>"#, options: .regularExpression) != nil)
        #expect(inactive.contains("<mac address='\(mac)'/>"))
        #expect(inactive.contains("volume='\(volume)'"), "the disk in the definition")
        // The NIC and the disk are there live too, confirmed by the live XML.
        let live = lab.virsh(2, ["dumpxml", name]).stdout
        #expect(live.contains("<mac address='\(mac)'/>"))
        #expect(live.contains("volume='\(volume)'"), "the disk hot-plugged")
        #expect(lab.virsh(2, ["dominfo", name]).stdout.contains("Autostart:      enable"))
        #expect(lab.whereIs(name) == [2: "running"])

        expectConverged(vp, placement)
    }

    @Test func aManualMoveRecreatesTheGuestWithItsIdentity() throws {
        let lab = try Lab.require()
        let vp = try VirtPlace(lab: lab)
        let name = Lab.uniqueName("manual")
        defer { lab.removeGuest(name) }
        let guest = try lab.createGuest("marker", name, host: 1, ["--wait"])
        let uuid = lab.virsh(1, ["domuuid", name]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let boot = try #require(lab.bootID(name))

        let placement = try vp.placement("""
          \(name):
            host: host2
            moves: [manual]
            config: {tags: {tier: manual}}
        """, policy: "  moves: [live, reboot, cold, manual]")
        let r = vp.apply(placement)
        #expect(r.status == 0, "\(r.output)")
        #expect(r.stdout.contains("recreate on host2 from boot volume shared/\(name)-boot.img"), "\(r.stdout)")
        #expect(lab.whereIs(name) == [2: "running"])
        #expect(lab.virsh(2, ["domuuid", name]).stdout.trimmingCharacters(in: .whitespacesAndNewlines) == uuid)
        let xml = lab.virsh(2, ["dumpxml", "--inactive", name]).stdout
        #expect(xml.contains("<mac address='\(guest["mac"] ?? "?")'/>"), "the same MAC")
        #expect(xml.contains("volume='\(name)-boot.img'"), "booting from its volume")
        #expect(xml.contains("key=\"tier\">manual<"), "tags restored")
        #expect(lab.waitNewBoot(name, other: boot) != nil, "started again on host2")

        expectConverged(vp, placement)
    }

    @Test func aShutOffGuestIsStartedWhenTheFileSaysRunning() throws {
        let lab = try Lab.require()
        let vp = try VirtPlace(lab: lab)
        let name = Lab.uniqueName("start")
        defer { lab.removeGuest(name) }
        _ = try lab.createGuest("shutoff", name, host: 3)
        let placement = try vp.placement("""
          \(name):
            host: host3
            state: running
        """)
        let r = vp.apply(placement)
        #expect(r.status == 0, "\(r.output)")
        #expect(lab.whereIs(name) == [3: "running"])
        #expect(lab.waitHeartbeat(name) != nil)
        expectConverged(vp, placement)
    }

    @Test(arguments: ["abort", "postcopy"])
    func aLiveMovePastItsTimeoutIsAbortedOrSwitchedToPostCopy(onTimeout: String) throws {
        let lab = try Lab.require()
        let vp = try VirtPlace(lab: lab)
        let name = Lab.uniqueName("timeout")
        defer { lab.removeGuest(name) }
        _ = try lab.createGuest("heartbeat", name, host: 1, ["--wait"])
        let before = try #require(lab.waitHeartbeat(name, after: 0))
        let boot = lab.bootID(name)
        // 1 MiB/s cannot move 128 MiB in 2 s. `moves: [live]`: no fallback to a reboot move
        // (FaultLabTests has the one the default moves allow).
        let placement = try vp.placement("""
          \(name):
            host: host2
            moves: [live]
            live: {bandwidthMiBps: 1, timeoutSeconds: 2, onTimeout: \(onTimeout)}
        """)
        let r = vp.apply(placement)
        if onTimeout == "abort" {
            #expect(r.status == 3, "\(r.output)")
            #expect(r.stdout.contains("did not finish within 2 s (aborted)"), "\(r.stdout)")
            #expect(r.stdout.contains("it is running on host1"), "\(r.stdout)")
            let settle = Date().addingTimeInterval(30)
            while Date() < settle, lab.whereIs(name) != [1: "running"] { usleep(200_000) }
            #expect(lab.whereIs(name) == [1: "running"], "rolled back: \(lab.whereIs(name))")
        } else {
            #expect(r.status == 0, "\(r.output)")
            #expect(lab.whereIs(name) == [2: "running"])
        }
        // Either way the guest never restarted.
        #expect(lab.waitHeartbeat(name, after: before) != nil)
        #expect(lab.bootID(name) == boot)
    }

    @Test func onATerminalApplyAsksAndOnlyYesApplies() throws {
        let lab = try Lab.require()
        let vp = try VirtPlace(lab: lab)
        let name = Lab.uniqueName("tty")
        defer { lab.removeGuest(name) }
        _ = try lab.createGuest("shutoff", name, host: 1, ["--no-nic"])
        let placement = try vp.placement("""
          \(name):
            host: host2
        """)
        // `script` gives the apply a terminal; the answer comes on its standard input.
        func onTerminal(_ answer: String) -> Lab.Result {
            let command = [VirtPlace.binary, "apply", "-f", placement, "-f", lab.hostsYAML, "--state-dir", vp.stateDir]
                .map { "'\($0)'" }.joined(separator: " ")
            return Lab.run("/usr/bin/script", ["-qec", command, "/dev/null"], environment: ["NO_COLOR": "1"], input: answer + "\n")
        }
        let no = onTerminal("no")
        #expect(no.status == 1, "\(no.output)")
        #expect(no.stdout.contains("Do you want to apply this action? Only 'yes' will be accepted:"), "\(no.stdout)")
        #expect(no.stdout.contains("apply cancelled: nothing was changed"), "\(no.stdout)")
        #expect(lab.whereIs(name) == [1: "shut off"])

        let yes = onTerminal("yes")
        #expect(yes.status == 0, "\(yes.output)")
        #expect(yes.stdout.contains("Apply complete"), "\(yes.stdout)")
        #expect(lab.whereIs(name) == [2: "shut off"])
    }

    /// The fleet changes while the confirmation prompt waits: after "yes", apply observes
    /// again, refuses the plan as stale (exit 1) and changes nothing (the witness).
    @Test func aPlanThatWentStaleDuringThePromptIsRefusedAfterYes() throws {
        let lab = try Lab.require()
        let vp = try VirtPlace(lab: lab)
        let name = Lab.uniqueName("prompt")
        defer { lab.removeGuest(name) }
        _ = try lab.createGuest("shutoff", name, host: 1, ["--no-nic"])
        let placement = try vp.placement("""
          \(name):
            host: host2
        """)
        // `script` gives apply a terminal; its input is a pipe this test writes the answer to.
        let command = [VirtPlace.binary, "apply", "-f", placement, "-f", lab.hostsYAML, "--state-dir", vp.stateDir]
            .map { "'\($0)'" }.joined(separator: " ")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/script")
        process.arguments = ["-qec", command, "/dev/null"]
        var env = ProcessInfo.processInfo.environment
        env["NO_COLOR"] = "1"
        process.environment = env
        let input = Pipe()
        process.standardInput = input
        let out = vp.workDir + "/prompt.out"
        _ = createPlainFile(atPath: out, contents: nil)
        process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: out))
        process.standardError = FileHandle.nullDevice
        try process.run()
        defer { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }   // the child this test started
        let deadline = Date().addingTimeInterval(60)
        func output() -> String { (try? String(contentsOfFile: out, encoding: .utf8)) ?? "" }
        while Date() < deadline, !output().contains("Only 'yes' will be accepted") { usleep(50_000) }
        #expect(output().contains("Only 'yes' will be accepted"), "no prompt: \(output())")
        // While it waits: the domain's definition changes behind its back.
        #expect(lab.virsh(1, ["setmem", name, "96M", "--config"]).status == 0)
        expectUntouched(lab, "the apply answered yes to a stale plan") {
            input.fileHandleForWriting.write(Data("yes\n".utf8))
            let end = Date().addingTimeInterval(120)
            while process.isRunning, Date() < end { usleep(50_000) }
            process.waitUntilExit()
        }
        #expect(process.terminationStatus == 1, "exit \(process.terminationStatus): \(output())")
        #expect(output().contains("the plan is stale"), "\(output())")
        #expect(output().contains("\(name): definition changed on host1"), "\(output())")
        #expect(lab.whereIs(name) == [1: "shut off"], "nothing moved")
    }

    @Test func aSavedPlanIsAppliedExactlyAndRefusedOnceStale() throws {
        let lab = try Lab.require()
        let vp = try VirtPlace(lab: lab)
        let fresh = Lab.uniqueName("plan")
        let stale = Lab.uniqueName("stale")
        defer { lab.removeGuest(fresh); lab.removeGuest(stale) }
        _ = try lab.createGuest("shutoff", fresh, host: 1, ["--no-nic"])
        _ = try lab.createGuest("shutoff", stale, host: 1, ["--no-nic"])

        // A fresh saved plan: applied as it is, without the placement file.
        let one = try vp.placement("""
          \(fresh):
            host: host2
        """, name: "one.yaml")
        let planFile = vp.workDir + "/one.plan.json"
        let p = vp.run(["plan", "-f", one, "-f", lab.hostsYAML, "--out", planFile])
        #expect(p.status == 0, "\(p.output)")
        let r = vp.run(["apply", planFile, "--auto-approve"])
        #expect(r.status == 0, "\(r.output)")
        #expect(lab.whereIs(fresh) == [2: "shut off"])

        // A plan made before the domain changed is refused, and says what changed.
        let two = try vp.placement("""
          \(stale):
            host: host3
        """, name: "two.yaml")
        let staleFile = vp.workDir + "/two.plan.json"
        #expect(vp.run(["plan", "-f", two, "-f", lab.hostsYAML, "--out", staleFile]).status == 0)
        #expect(lab.virsh(1, ["setmem", stale, "96M", "--config"]).status == 0)
        let refused = expectUntouched(lab, "applying the stale plan") { vp.run(["apply", staleFile, "--auto-approve"]) }
        #expect(refused.status == 1, "\(refused.output)")
        #expect(refused.stderr.contains("the plan is stale"), "\(refused.stderr)")
        #expect(refused.stderr.contains("\(stale): definition changed on host1"), "\(refused.stderr)")
        #expect(lab.whereIs(stale) == [1: "shut off"], "nothing moved")
    }

    @Test func twoConcurrentAppliesNeverInterleave() throws {
        let lab = try Lab.require()
        let vp = try VirtPlace(lab: lab)
        let name = Lab.uniqueName("lock")
        defer { lab.removeGuest(name) }
        _ = try lab.createGuest("heartbeat", name, host: 1, ["--wait"])
        let placement = try vp.placement("""
          \(name):
            host: host2
        """)
        // The first apply on a thread of its own (not the cooperative pool: it blocks).
        let first = Background { vp.apply(placement) }
        // Wait until the first holds the lock (its PID is in the lock file), then try again.
        let lockPath = vp.stateDir + "/lock"
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline, !((try? String(contentsOfFile: lockPath, encoding: .utf8)) ?? "").contains("pid=") {
            usleep(20_000)
        }
        let second = vp.apply(placement)
        #expect(second.status == 1, "\(second.output)")
        #expect(second.stderr.contains("locked by PID"), "\(second.stderr)")
        let result = try #require(first.wait())
        #expect(result.status == 0, "\(result.output)")
        #expect(lab.whereIs(name) == [2: "running"])
    }

    @Test func anApplyKilledDuringAMigrationLeavesTheGuestAndTheNextMovesIt() throws {
        let lab = try Lab.require()
        let vp = try VirtPlace(lab: lab)
        let name = Lab.uniqueName("kill")
        defer { lab.removeGuest(name) }
        _ = try lab.createGuest("heartbeat", name, host: 1, ["--wait"])
        // A slow migration (1 MiB/s) to be killed in its middle.
        let slow = try vp.placement("""
          \(name):
            host: host2
            live: {bandwidthMiBps: 1}
        """, name: "slow.yaml")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: VirtPlace.binary)
        process.arguments = ["apply", "-f", slow, "-f", lab.hostsYAML, "--auto-approve", "--state-dir", vp.stateDir]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        let deadline = Date().addingTimeInterval(60)
        var migrating = false
        while Date() < deadline, !migrating {
            migrating = lab.virsh(1, ["domjobinfo", name]).stdout.contains("Outgoing migration")
            if !migrating { usleep(100_000) }
        }
        #expect(migrating, "the migration never started")
        kill(process.processIdentifier, SIGKILL)   // the apply this test started
        process.waitUntilExit()

        // libvirt cancels a managed migration whose client is gone: the guest runs on host1,
        // and the destination removes the half-arrived one (within moments).
        let settle = Date().addingTimeInterval(30)
        while Date() < settle, lab.whereIs(name) != [1: "running"] { usleep(200_000) }
        #expect(lab.whereIs(name) == [1: "running"], "\(lab.whereIs(name))")

        // The next apply (no bandwidth cap now) moves it; nothing was half done to finish.
        let placement = try vp.placement("""
          \(name):
            host: host2
        """)
        let r = vp.apply(placement)
        #expect(r.status == 0, "\(r.output)")
        #expect(!r.stdout.contains("An earlier run left unfinished"), "\(r.stdout)")
        #expect(lab.whereIs(name) == [2: "running"])
        expectConverged(vp, placement)
    }

    @Test func withoutATerminalApplyNeedsApprovalAndADryRunChangesNothing() throws {
        let lab = try Lab.require()
        let vp = try VirtPlace(lab: lab)
        let name = Lab.uniqueName("dry")
        defer { lab.removeGuest(name) }
        _ = try lab.createGuest("shutoff", name, host: 1, ["--no-nic"])
        let placement = try vp.placement("""
          \(name):
            host: host2
        """)
        let refused = expectUntouched(lab, "apply without --auto-approve") { vp.apply(placement, []) }
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("pass --auto-approve"), "\(refused.stderr)")

        let dry = expectUntouched(lab, "the dry run") { vp.apply(placement, ["--dry-run"]) }
        #expect(dry.status == 0, "\(dry.output)")
        #expect(dry.stdout.contains("Dry run"))
        #expect(dry.stdout.contains("1. record the definition on host1"), "\(dry.stdout)")
        #expect(dry.stdout.contains("define on host2 as recorded on host1"))
        #expect(lab.whereIs(name) == [1: "shut off"])
    }
}

/// A value handed from another thread.
final class ResultBox<T: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: T?
    func set(_ v: T) { lock.lock(); value = v; lock.unlock() }
    func get() -> T? { lock.lock(); defer { lock.unlock() }; return value }
}

/// A blocking call (an apply) on a thread of its own, not the cooperative pool, while the test
/// acts on the lab; `wait()` blocks until it returns and gives its result.
final class Background<T: Sendable>: Sendable {
    private let result = ResultBox<T>()
    private let done = DispatchSemaphore(value: 0)

    init(_ work: @escaping @Sendable () -> T) {
        Thread { [result, done] in
            result.set(work())
            done.signal()
        }.start()
    }

    func wait() -> T? {
        done.wait()
        return result.get()
    }
}
