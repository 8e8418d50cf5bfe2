import Foundation
import Testing

// Issue 21 on real daemons: what the plan checks before a move, fallbacks only where they
// help, no debris after a failed copy, spread groups that converge. Judged by virsh on every
// host, the guest's console (heartbeat counter, boot id) and checksums, not by virtplace's
// report.

extension Lab {
    /// The PID of host `i`'s libvirtd (its mount namespace holds that host's mounts).
    func daemonPID(_ i: Int) -> String? {
        let text = try? String(contentsOfFile: dir + "/hosts/host\(i)/run/libvirtd.pid", encoding: .utf8)
        return text?.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Runs a command in host `i`'s mount namespace (where its private mounts are).
    @discardableResult
    func inHost(_ i: Int, _ command: [String], timeout: Double = 60) -> Result {
        guard let pid = daemonPID(i), !pid.isEmpty else { return Result(status: -1, stdout: "", stderr: "no pid for host \(i)") }
        return Lab.run("/usr/bin/nsenter", ["-t", pid, "-m", "--"] + command, timeout: timeout)
    }

    /// `/var/lib/libvirt` of host `i`, as seen from outside its namespace.
    func libDir(_ i: Int) -> String { dir + "/hosts/host\(i)/lib" }
}

/// A dir pool `name` on host1 (an ordinary directory) and host2 (a tmpfs of `mebibytes` in
/// host2's mount namespace); `remove()` takes both away.
struct SmallPool {
    let lab: Lab
    let name: String
    var inside: String { "/var/lib/libvirt/\(name)" }

    init(lab: Lab, name: String, mebibytes: Int) throws {
        self.lab = lab
        self.name = name
        for i in [1, 2] { try FileManager.default.createDirectory(atPath: lab.libDir(i) + "/\(name)", withIntermediateDirectories: true) }
        let mounted = lab.inHost(2, ["/bin/mount", "-t", "tmpfs", "-o", "size=\(mebibytes)m", "tmpfs", "/var/lib/libvirt/\(name)"])
        guard mounted.status == 0 else { throw Lab.Unavailable(description: "tmpfs in host2: \(mounted.output)") }
        for i in [1, 2] {
            let defined = lab.virsh(i, ["pool-define-as", name, "dir", "--target", "/var/lib/libvirt/\(name)"])
            let started = lab.virsh(i, ["pool-start", name])
            guard defined.status == 0, started.status == 0 else { throw Lab.Unavailable(description: "pool \(name): \(defined.output) \(started.output)") }
        }
    }

    func remove(volumes: [String]) {
        for i in [1, 2] {
            for v in volumes { _ = lab.virsh(i, ["vol-delete", "--pool", name, v]) }
            _ = lab.virsh(i, ["pool-destroy", name])
            _ = lab.virsh(i, ["pool-undefine", name])
        }
        lab.inHost(2, ["/bin/umount", inside])
        for i in [1, 2] { try? FileManager.default.removeItem(atPath: lab.libDir(i) + "/\(name)") }
    }

    /// Starts filling host2's pool as soon as `volume` appears there (something else taking
    /// the space during a copy); ends by itself (dd stops at a full file system; 60 s at most).
    func fillWhenCreated(_ volume: String) throws -> Process {
        let filler = Process()
        filler.executableURL = URL(fileURLWithPath: "/usr/bin/timeout")
        filler.arguments = ["60", "/usr/bin/nsenter", "-t", lab.daemonPID(2) ?? "0", "-m", "--", "/bin/sh", "-c",
                            "i=0; while [ ! -e \(inside)/\(volume) ] && [ $i -lt 4000 ]; do sleep 0.01; i=$((i+1)); done; dd if=/dev/zero of=\(inside)/filler bs=1M 2>/dev/null; true"]
        try filler.run()
        return filler
    }

    /// Whether host2's pool holds `volume`, by virsh (after a refresh) and by the directory.
    func holds(_ volume: String) -> (virsh: Bool, disk: Bool) {
        _ = lab.virsh(2, ["pool-refresh", name])
        let listed = lab.virsh(2, ["vol-list", name]).stdout
        let files = lab.inHost(2, ["/bin/ls", "-a", inside]).stdout
        return (listed.contains(volume), files.split(separator: "\n").contains { $0 == volume })
    }

    func freeSpace() -> Bool { lab.inHost(2, ["/bin/rm", "-f", "\(inside)/filler"]).status == 0 }

    func sha256OnHost2(_ volume: String) -> String? {
        lab.inHost(2, ["/usr/bin/sha256sum", "\(inside)/\(volume)"]).stdout.split(separator: " ").first.map(String.init)
    }
}

/// A placement with the lab's hosts and its own `storage:` (the helper's is fixed).
private func writePlacement(_ vp: VirtPlace, storage: String, _ instances: String) throws -> String {
    let text = """
    apiVersion: virtplace/v1
    kind: Placement
    metadata: {name: labtest}
    policy:
      shutdownTimeoutSeconds: 30
      forceOff: true
    storage: \(storage)
    instances:
    \(instances)
    """
    let path = vp.workDir + "/placement-storage.yaml"
    try text.write(toFile: path, atomically: false, encoding: .utf8)
    return path
}

/// The reason codes of every action of `plan -o json`.
private func planCodes(_ vp: VirtPlace, _ placement: String) -> (status: Int32, codes: Set<String>, output: String) {
    let r = vp.run(["plan", "-f", placement, "-f", vp.lab.hostsYAML, "-o", "json"])
    guard let data = r.stdout.data(using: .utf8),
          let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
          let actions = json["actions"] as? [[String: Any]] else { return (r.status, [], r.output) }
    var codes = Set<String>()
    for a in actions {
        for reason in a["reasons"] as? [[String: Any]] ?? [] { if let c = reason["code"] as? String { codes.insert(c) } }
    }
    return (r.status, codes, r.output)
}

@Suite(.serialized) struct PrecheckLabTests {
    /// The file lists `local` as shared, but it is each host's own directory: host2 does not
    /// have the guest's volume. The plan blocks the move (`target.shared-volume-missing`): no
    /// live migration that cannot work, no reboot fallback that would leave the guest down.
    @Test func aSharedPoolThatIsNotSharedBlocksTheMoveAndTheGuestKeepsRunning() throws {
        let lab = try Lab.require()
        let vp = try VirtPlace(lab: lab)
        let name = Lab.uniqueName("notshared")
        defer { lab.removeGuest(name) }
        _ = try lab.createGuest("localdisk", name, host: 1, ["--disk-size", "4", "--wait"])
        let volume = lab.localDir(1) + "/\(name)-disk.img"
        let original = try #require(lab.sha256(volume))
        let before = try #require(lab.waitHeartbeat(name, after: 0))
        let boot = lab.bootID(name)
        let placement = try writePlacement(vp, storage: "{sharedPools: [shared, local]}", """
          \(name):
            host: host2
            moves: [live, reboot]
        """)

        let plan = planCodes(vp, placement)
        #expect(plan.codes.contains("target.shared-volume-missing"), "\(plan.output)")
        let r = vp.apply(placement)
        #expect(r.status == 3, "blocked: \(r.output)")
        #expect(r.stdout.contains("not the same storage on every host"), "\(r.stdout)")
        #expect(lab.whereIs(name) == [1: "running"], "\(lab.whereIs(name))")
        #expect(lab.waitHeartbeat(name, after: before + 2) != nil, "the heartbeat goes on")
        #expect(lab.bootID(name) == boot, "never restarted")
        #expect(lab.sha256(volume) == original)
    }

    /// host2's `local` pool lists a "volume" of the guest's disk name, but it is a directory
    /// QEMU cannot use: the live migration fails for what the target lacks. The file allows a
    /// reboot move, which would meet the same disk: no fallback; the guest never stops.
    @Test func aLiveMigrationThatFailsForWhatTheTargetLacksDoesNotFallBackToAReboot() throws {
        let lab = try Lab.require()
        let vp = try VirtPlace(lab: lab)
        let name = Lab.uniqueName("nofback")
        let decoy = lab.localDir(2) + "/\(name)-disk.img"
        defer {
            try? FileManager.default.removeItem(atPath: decoy)
            lab.removeGuest(name)
        }
        _ = try lab.createGuest("localdisk", name, host: 1, ["--disk-size", "4", "--wait"])
        let volume = lab.localDir(1) + "/\(name)-disk.img"
        let original = try #require(lab.sha256(volume))
        try FileManager.default.createDirectory(atPath: decoy, withIntermediateDirectories: false)
        #expect(lab.virsh(2, ["pool-refresh", "local"]).status == 0)
        let before = try #require(lab.waitHeartbeat(name, after: 0))
        let boot = lab.bootID(name)
        let placement = try writePlacement(vp, storage: "{sharedPools: [shared, local]}", """
          \(name):
            host: host2
            moves: [live, reboot]
        """)

        let r = vp.apply(placement)
        #expect(r.status == 3, "\(r.output)")
        #expect(r.stdout.contains("failed: migrateLive"), "\(r.stdout)")
        #expect(r.stdout.contains("no fallback to reboot"), "\(r.stdout)")
        #expect(!r.stdout.contains("fell back"), "\(r.stdout)")
        #expect(lab.whereIs(name) == [1: "running"], "exactly one copy, running on its source: \(lab.whereIs(name))")
        #expect(lab.waitHeartbeat(name, after: before + 2) != nil, "the heartbeat goes on")
        #expect(lab.bootID(name) == boot, "never shut down, never restarted")
        #expect(lab.sha256(volume) == original)
    }

    /// A cold copy into a small pool (a 160 MiB tmpfs in host2's namespace) that something
    /// else fills during the copy: the copy fails, the partial volume virtplace created is
    /// removed (virsh and the directory show nothing of it), the failure is reported, the next
    /// plan says why it waits (`target.space`, not a volume left behind), and once space is
    /// freed a plain apply converges with the source volume unchanged.
    @Test func aCopyIntoAPoolThatFillsUpLeavesNoDebrisAndARerunConverges() throws {
        let lab = try Lab.require()
        let vp = try VirtPlace(lab: lab)
        let name = Lab.uniqueName("full")
        let volume = "\(name)-disk.img"
        let pool = try SmallPool(lab: lab, name: "small-\(name.suffix(6))", mebibytes: 160)
        defer {
            pool.remove(volumes: [volume])
            lab.removeGuest(name)
        }
        _ = try lab.createGuest("localdisk", name, host: 1, ["--pool", pool.name, "--disk-size", "64", "--stopped", "--no-nic"])
        let source = lab.libDir(1) + "/\(pool.name)/\(volume)"
        let original = try #require(lab.sha256(source))
        let placement = try vp.placement("""
          \(name):
            host: host2
        """)
        // 64 MiB + 5 % + 64 MiB fits in 160 MiB: the plan copies.
        let first = planCodes(vp, placement)
        #expect(!first.codes.contains("target.space"), "\(first.output)")

        let filler = try pool.fillWhenCreated(volume)
        let r = vp.apply(placement)
        filler.waitUntilExit()
        #expect(r.status == 3, "\(r.output)")
        #expect(r.stdout.contains("transferVolume"), "\(r.stdout)")
        #expect(r.stdout.contains("the incomplete copy on host2 was removed"), "reported: \(r.stdout)")

        // The witnesses: one definition, on host1, shut off; no volume of it on host2.
        #expect(lab.whereIs(name) == [1: "shut off"], "\(lab.whereIs(name))")
        let held = pool.holds(volume)
        #expect(!held.virsh && !held.disk, "no debris: \(held)")
        #expect(lab.sha256(source) == original, "the source volume is unchanged")

        // While the pool is full, the plan says so; never a volume left behind.
        let waiting = planCodes(vp, placement)
        #expect(waiting.codes.contains("target.space"), "\(waiting.output)")
        #expect(!waiting.codes.contains("target.volume-exists"), "\(waiting.output)")

        // Space freed: a plain apply converges.
        #expect(pool.freeSpace())
        let again = vp.apply(placement)
        #expect(again.status == 0, "\(again.output)")
        #expect(lab.whereIs(name) == [2: "shut off"], "\(lab.whereIs(name))")
        #expect(pool.sha256OnHost2(volume) == original, "the copy on host2 is whole")
        #expect(lab.sha256(source) == original, "the source copy is kept, unchanged")
        expectConverged(vp, placement)
    }

    /// The same with a live move that copies the disk (copy-storage, slowed to 8 MiB/s): the
    /// target pool fills during the migration, which fails; the guest never stops (heartbeat,
    /// boot id), no fallback to a reboot move (it would meet the same full pool), the volume
    /// created for the copy is removed; once space is freed the live move completes.
    @Test func aLiveCopyIntoAPoolThatFillsUpLeavesNoDebrisAndTheGuestRunsOn() throws {
        let lab = try Lab.require()
        let vp = try VirtPlace(lab: lab)
        let name = Lab.uniqueName("lfull")
        let volume = "\(name)-disk.img"
        let pool = try SmallPool(lab: lab, name: "small-\(name.suffix(6))", mebibytes: 160)
        defer {
            pool.remove(volumes: [volume])
            lab.removeGuest(name)
        }
        _ = try lab.createGuest("localdisk", name, host: 1, ["--pool", pool.name, "--disk-size", "64", "--wait"])
        let source = lab.libDir(1) + "/\(pool.name)/\(volume)"
        let original = try #require(lab.sha256(source))
        let before = try #require(lab.waitHeartbeat(name, after: 0))
        let boot = lab.bootID(name)
        let placement = try vp.placement("""
          \(name):
            host: host2
            moves: [live, reboot]
            live: {bandwidthMiBps: 8}
        """)

        let filler = try pool.fillWhenCreated(volume)
        let r = vp.apply(placement)
        filler.waitUntilExit()
        #expect(r.status == 3, "\(r.output)")
        #expect(r.stdout.contains("failed: migrateLive"), "\(r.stdout)")
        #expect(r.stdout.contains("no fallback to reboot"), "\(r.stdout)")
        #expect(r.stdout.contains("removed the incomplete copy"), "\(r.stdout)")
        #expect(lab.whereIs(name) == [1: "running"], "one copy, running on its source: \(lab.whereIs(name))")
        #expect(lab.waitHeartbeat(name, after: before + 2) != nil, "the heartbeat goes on")
        #expect(lab.bootID(name) == boot, "never stopped")
        let held = pool.holds(volume)
        #expect(!held.virsh && !held.disk, "no debris: \(held)")
        #expect(lab.sha256(source) == original)

        #expect(pool.freeSpace())
        let again = vp.apply(placement)
        #expect(again.status == 0, "\(again.output)")
        #expect(lab.whereIs(name) == [2: "running"], "\(lab.whereIs(name))")
        #expect(lab.bootID(name) == boot, "moved live: the same boot")
        #expect(pool.sha256OnHost2(volume) == original, "the disk arrived whole")
        expectConverged(vp, placement)
    }

    /// A volume of the same name that virtplace did not create is in the way: the move is
    /// blocked and the volume is kept, byte for byte.
    @Test func aPreExistingSameNamedVolumeIsNeverTouched() throws {
        let lab = try Lab.require()
        let vp = try VirtPlace(lab: lab)
        let name = Lab.uniqueName("theirs")
        let volume = "\(name)-disk.img"
        defer { lab.removeGuest(name) }
        _ = try lab.createGuest("localdisk", name, host: 1, ["--disk-size", "4", "--stopped", "--no-nic"])
        #expect(lab.virsh(2, ["vol-create-as", "local", volume, "4M", "--format", "raw"]).status == 0)
        let theirs = lab.localDir(2) + "/\(volume)"
        try Data("someone else's data\n".utf8).write(to: URL(fileURLWithPath: theirs))
        let kept = try #require(lab.sha256(theirs))
        let placement = try vp.placement("""
          \(name):
            host: host2
        """)
        let r = vp.apply(placement)
        #expect(r.status == 3, "\(r.output)")
        #expect(planCodes(vp, placement).codes.contains("target.volume-exists"))
        #expect(lab.sha256(theirs) == kept, "kept, byte for byte")
        #expect(lab.whereIs(name) == [1: "shut off"])
    }

    /// `state: running` for a 512 MiB guest on a host the file declares with 300 MiB: the
    /// start is refused (`start.capacity`), the guest stays shut off; with room declared, a
    /// plain apply starts it.
    @Test func aStartBeyondTheDeclaredCapacityIsRefused() throws {
        let lab = try Lab.require()
        let vp = try VirtPlace(lab: lab)
        let name = Lab.uniqueName("cap")
        defer { lab.removeGuest(name) }
        _ = try lab.createGuest("shutoff", name, host: 1, ["--memory", "512", "--no-nic"])
        let hosts = try String(contentsOfFile: lab.hostsYAML, encoding: .utf8)
        func placement(memoryMiB: Int) throws -> String {
            // The lab's hosts, host1 with a declared memory capacity.
            let declared = hosts.replacingOccurrences(of: "    faultDomain: fd-1\n    labels: {lab: \"\(lab.env["LAB_ID"] ?? "")\", rack: r1}",
                                                      with: "    faultDomain: fd-1\n    labels: {lab: \"\(lab.env["LAB_ID"] ?? "")\", rack: r1}\n    capacity: {memoryMiB: \(memoryMiB)}")
            let text = """
            apiVersion: virtplace/v1
            kind: Placement
            metadata: {name: labtest}
            \(declared)
            instances:
              \(name):
                host: host1
                state: running
            """
            let path = vp.workDir + "/capacity-\(memoryMiB).yaml"
            try text.write(toFile: path, atomically: false, encoding: .utf8)
            return path
        }
        let small = try placement(memoryMiB: 300)
        #expect(try String(contentsOfFile: small, encoding: .utf8).contains("capacity: {memoryMiB: 300}"))
        let r = vp.run(["apply", "-f", small, "--auto-approve"])
        #expect(r.status == 3, "\(r.output)")
        #expect(r.stdout.contains("start.capacity"), "\(r.stdout)")
        #expect(lab.whereIs(name) == [1: "shut off"], "not started: \(lab.whereIs(name))")

        let roomy = try placement(memoryMiB: 1024)
        let again = vp.run(["apply", "-f", roomy, "--auto-approve"])
        #expect(again.status == 0, "\(again.output)")
        #expect(lab.whereIs(name) == [1: "running"], "\(lab.whereIs(name))")
        #expect(lab.waitHeartbeat(name, after: -1) != nil, "it boots")
    }

    /// Three members of a spread group on two fault domains (fd-1: host1, host3; fd-2: host2),
    /// all on host1: one moves to fd-2, the others share fd-1; apply exits 0, and a second
    /// apply has nothing to do (no permanent exit 3).
    @Test func aSpreadGroupLargerThanTheFaultDomainsConverges() throws {
        let lab = try Lab.require()
        let vp = try VirtPlace(lab: lab)
        let names = (1...3).map { _ in Lab.uniqueName("spr") }.sorted()
        defer { for n in names { lab.removeGuest(n) } }
        for n in names { _ = try lab.createGuest("heartbeat", n, host: 1, ["--no-nic"]) }
        for n in names { _ = try #require(lab.waitHeartbeat(n, after: 0)) }
        let placement = try vp.placement(names.map { "  \($0):\n    spread: g" }.joined(separator: "\n"))

        let r = vp.apply(placement)
        #expect(r.status == 0, "\(r.output)")
        var perFaultDomain: [String: Int] = [:]
        for n in names {
            let places = lab.whereIs(n)
            #expect(places.count == 1 && places.values.first == "running", "\(n): \(places)")
            if let host = places.keys.first { perFaultDomain[host == 2 ? "fd-2" : "fd-1", default: 0] += 1 }
        }
        #expect(perFaultDomain == ["fd-1": 2, "fd-2": 1], "\(perFaultDomain)")
        expectConverged(vp, placement)
        let plan = vp.run(["plan", "-f", placement, "-f", lab.hostsYAML, "--detailed-exitcode"])
        #expect(plan.status == 0, "nothing pending: \(plan.output)")
    }
}
