import Foundation
import Testing

// Moves that real fleets need, on real daemons: the guest platform a target must offer (the
// lab's odd host, whose cached QEMU probe lacks `aes`, cannot offer a Westmere CPU), the boot
// disk by libvirt's rule, qcow2 volumes (sparse, with a backing file), and a migration someone
// else runs. virsh, qemu-img, sha256sum and the guest console are the witnesses.

extension Lab {
    /// The host whose hypervisor CPU lacks a feature, and a CPU model it therefore cannot offer.
    var oddHost: Int { Int(env["LAB_ODD_CPU_HOST"] ?? "") ?? 0 }
    var oddModel: String { env["LAB_ODD_CPU_MODEL"] ?? "Westmere" }
    var oddFeature: String { env["LAB_ODD_CPU_FEATURE"] ?? "aes" }

    /// `qemu-img compare` of two volume files (read while guests may hold them: `-U`).
    func qemuImgCompare(_ a: String, _ b: String) -> Lab.Result {
        Lab.run("/usr/bin/qemu-img", ["compare", "-U", a, b])
    }

    /// `virsh vol-dumpxml` facts of a volume: format and capacity as libvirt reports them.
    func volumeFacts(_ pool: String, _ volume: String, host: Int) -> (format: String?, capacity: String?) {
        _ = virsh(host, ["pool-refresh", pool])
        let xml = virsh(host, ["vol-dumpxml", "--pool", pool, volume]).stdout
        func match(_ pattern: String) -> String? {
            guard let r = xml.range(of: pattern, options: .regularExpression) else { return nil }
            return String(xml[r])
        }
        return (match("<format type='[a-z0-9]+'/>"), match("<capacity unit='bytes'>[0-9]+</capacity>"))
    }

    /// A placement with the lab's hosts written out (so that a test can give one a state).
    func hostsBlock(states: [Int: String] = [:]) -> String {
        var text = "hosts:\n"
        for i in 1...3 {
            text += "  host\(i):\n    uri: \(uri(i))\n    faultDomain: \(env["LAB_FD_\(i)"] ?? "fd-\(i)")\n"
            if let state = states[i] { text += "    state: \(state)\n" }
        }
        return text
    }
}

@Suite(.serialized) struct FleetMovesLabTests {
    // MARK: CPU and machine compatibility

    @Test func theOddHostIsReallyOddToLibvirt() throws {
        let lab = try Lab.require()
        try #require(lab.oddHost == 3, "lab.env names LAB_ODD_CPU_HOST=\(lab.oddHost): the lab must have its odd-CPU host 3 (lab/lab up 3)")
        let cpu = NSTemporaryDirectory() + "cpu-\(UUID().uuidString).xml"
        try "<cpu mode='custom' match='exact'><model fallback='forbid'>\(lab.oddModel)</model></cpu>"
            .write(toFile: cpu, atomically: false, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: cpu) }
        for i in 1...3 {
            let r = lab.virsh(i, ["hypervisor-cpu-compare", cpu, "--virttype", "qemu", "--arch", "x86_64", "--error"])
            if i == lab.oddHost {
                #expect(r.status != 0 && r.stderr.contains(lab.oddFeature), "host\(i): \(r.output)")
            } else {
                #expect(r.status == 0, "host\(i): \(r.output)")
            }
        }
    }

    /// A Westmere guest: named host3 → blocked, `cpu.incompatible` naming the model and the
    /// missing feature; by fault domain (fd-1: host1 cordoned, host3 odd) → nowhere, while a
    /// guest without that CPU goes to host3; the same file planned from a snapshot gives the
    /// same plan; a move to a compatible host goes live (the heartbeat continues).
    @Test func aGuestWhoseCPUTheOddHostCannotOfferIsNeverPlacedThere() throws {
        let lab = try Lab.require()
        let vp = try VirtPlace(lab: lab)
        let odd = Lab.uniqueName("cpu-w")
        let plain = Lab.uniqueName("cpu-p")
        defer { lab.removeGuest(odd); lab.removeGuest(plain) }
        _ = try lab.createGuest("heartbeat", odd, host: 2, ["--cpu-model", lab.oddModel, "--wait"])
        _ = try lab.createGuest("heartbeat", plain, host: 2, ["--wait"])

        // Named host: blocked, and nothing changes.
        let named = try vp.placement("""
          \(odd):
            host: host3
        """, name: "named.yaml")
        let blocked = expectUntouched(lab, "planning a move to the odd host") {
            vp.run(["plan", "-v", "-f", named, "-f", lab.hostsYAML])
        }
        #expect(blocked.stdout.contains("blocked  \(odd)"), "\(blocked.output)")
        #expect(blocked.stdout.contains("host3 cannot offer the guest's CPU \(lab.oddModel)"), "\(blocked.output)")
        #expect(blocked.stdout.contains("required features: \(lab.oddFeature)") && blocked.stdout.contains("[cpu.incompatible]"),
                "\(blocked.output)")
        let applied = vp.apply(named)
        #expect(applied.status == 3, "\(applied.output)")
        #expect(lab.whereIs(odd) == [2: "running"], "\(lab.whereIs(odd))")

        // By fault domain: fd-1 is host1 (cordoned here) and host3 (odd).
        let fdFile = vp.workDir + "/fd.yaml"
        try """
        apiVersion: virtplace/v1
        kind: Placement
        metadata: {name: labtest}
        \(lab.hostsBlock(states: [1: "cordoned"]))
        storage: {sharedPools: [shared], localPools: [local]}
        instances:
          \(odd):
            faultDomain: fd-1
          \(plain):
            faultDomain: fd-1
        """.write(toFile: fdFile, atomically: false, encoding: .utf8)
        let byFD = vp.run(["plan", "-v", "-f", fdFile])
        #expect(byFD.stdout.range(of: "live +\(plain) +host2 → host3", options: .regularExpression) != nil, "\(byFD.output)")
        #expect(byFD.stdout.range(of: "blocked +\(odd) ", options: .regularExpression) != nil, "\(byFD.output)")
        #expect(byFD.stdout.range(of: "\(odd) +host2 → host3", options: .regularExpression) == nil, "\(byFD.output)")
        #expect(byFD.stdout.contains("[cpu.incompatible]"), "\(byFD.output)")

        // Offline: a snapshot gives the same plan, to the byte.
        let snap = vp.run(["observe", "-o", "json", "-f", fdFile])
        #expect(snap.status == 0, "\(snap.stderr)")
        #expect(snap.stdout.contains("\"reason\" : \"cpu.incompatible\""), "the snapshot carries the answer")
        let path = vp.workDir + "/snapshot.json"
        try snap.stdout.write(toFile: path, atomically: false, encoding: .utf8)
        for file in [fdFile, named] {
            let extra = file == named ? ["-f", lab.hostsYAML] : []
            let offline = vp.run(["plan", "-o", "json", "-f", file] + extra + ["--observed", path])
            let live = vp.run(["plan", "-o", "json", "-f", file] + extra)
            #expect(offline.stdout.contains("cpu.incompatible"), "\(offline.output)")
            #expect(offline.stdout == live.stdout, "offline and live plans differ for \(file)")
        }

        // `observe` shows each host's CPU.
        let shown = vp.run(["observe", "-f", fdFile])
        #expect(shown.stdout.components(separatedBy: "\n  CPU ").count == 4, "\(shown.stdout)")
        #expect(shown.stdout.contains("refuses 1 of the"), "\(shown.stdout)")

        // A compatible move still goes live: host1, heartbeat continues, same boot.
        let boot = lab.bootID(odd)
        let before = lab.heartbeat(odd) ?? 0
        let toHost1 = try vp.placement("""
          \(odd):
            host: host1
        """, name: "host1.yaml")
        let moved = vp.apply(toHost1)
        #expect(moved.status == 0, "\(moved.output)")
        #expect(moved.stdout.range(of: "live +\(odd)", options: .regularExpression) != nil, "\(moved.stdout)")
        #expect(lab.whereIs(odd) == [1: "running"], "\(lab.whereIs(odd))")
        #expect(lab.waitHeartbeat(odd, after: before) != nil && lab.bootID(odd) == boot, "the guest kept running: a live move")
    }

    // MARK: Boot disk by libvirt's rule

    /// Two disks, `<os><boot dev='hd'/>`, no boot order, no `boot:` in the file: the first
    /// disk is the boot disk; the manual move keeps UUID, MACs, tags and both volumes.
    @Test func aTwoDiskGuestWithBootDevHDMovesManually() throws {
        let lab = try Lab.require()
        let vp = try VirtPlace(lab: lab)
        let name = Lab.uniqueName("boothd")
        defer { lab.removeGuest(name) }
        let g = try lab.createDataGuest(name, host: 1, pool: "shared", extra: ["--boot-dev", "hd"])
        let inactive = lab.virsh(1, ["dumpxml", "--inactive", name]).stdout
        #expect(inactive.contains("<boot dev='hd'/>") && !inactive.contains("<boot order="), "\(inactive)")

        let placement = try vp.placement("""
          \(name):
            host: host2
            moves: [manual]
            config: {tags: {tier: db}}
        """)
        let plan = vp.run(["plan", "-v", "-f", placement, "-f", lab.hostsYAML])
        #expect(plan.stdout.contains("boot disk vda (shared/\(g.boot)): the first disk of the definition, which libvirt boots for <boot dev='hd'/> [manual.boot-disk]"),
                "\(plan.output)")
        let r = vp.apply(placement)
        #expect(r.status == 0, "\(r.output)")
        lab.expectManualMoveDone(g, on: 2, tags: ["tier": "db"], autostart: false, "boot dev hd")
        expectConverged(vp, placement)
    }

    // MARK: Volumes as in the wild

    /// A qcow2 volume in the `local` pool (virtual size 32 MiB, file ~8 MiB, sparse) moves
    /// cold and then by reboot; each copy is the same file (sha256, `qemu-img compare`) and
    /// libvirt reports the same format and virtual size.
    @Test func aQcow2GuestInALocalPoolMovesColdThenByReboot() throws {
        let lab = try Lab.require()
        let vp = try VirtPlace(lab: lab)
        let name = Lab.uniqueName("qcow2")
        defer { lab.removeGuest(name) }
        let facts = try lab.createGuest("localdisk", name, host: 1, ["--format", "qcow2", "--sparse", "--stopped", "--disk-size", "32"])
        let volume = try #require(facts["disk.vda.volume"])
        let sum = try #require(facts["disk.vda.sha256"])
        let fileBytes = Int(facts["disk.vda.bytes"] ?? "") ?? 0
        #expect(fileBytes > 0 && fileBytes < 32 << 20, "a qcow2 file shorter than its virtual size: \(fileBytes)")
        let sourceFacts = lab.volumeFacts("local", volume, host: 1)
        #expect(sourceFacts.format == "<format type='qcow2'/>" && sourceFacts.capacity == "<capacity unit='bytes'>33554432</capacity>",
                "\(sourceFacts)")

        // Cold to host2.
        let cold = try vp.placement("""
          \(name):
            host: host2
            state: stopped
        """, name: "cold.yaml")
        let r1 = vp.apply(cold)
        #expect(r1.status == 0, "\(r1.output)")
        #expect(r1.stdout.range(of: "cold +\(name)", options: .regularExpression) != nil, "\(r1.stdout)")
        #expect(lab.whereIs(name) == [2: "shut off"], "\(lab.whereIs(name))")
        let p1 = lab.localDir(1) + "/" + volume, p2 = lab.localDir(2) + "/" + volume
        #expect(lab.sha256(p2) == sum, "the file as stored was copied")
        let same = lab.qemuImgCompare(p1, p2)
        #expect(same.status == 0 && same.stdout.contains("Images are identical"), "\(same.output)")
        #expect(lab.volumeFacts("local", volume, host: 2) == sourceFacts, "format and virtual size kept")
        expectConverged(vp, cold, reconcilePass: false)

        // Started on host2, then by reboot to host3 (live is not allowed).
        #expect(lab.virsh(2, ["start", name]).status == 0)
        let reboot = try vp.placement("""
          \(name):
            host: host3
            moves: [reboot]
        """, name: "reboot.yaml")
        let r2 = vp.apply(reboot)
        #expect(r2.status == 0, "\(r2.output)")
        #expect(r2.stdout.range(of: "reboot +\(name)", options: .regularExpression) != nil, "\(r2.stdout)")
        #expect(lab.whereIs(name) == [3: "running"], "\(lab.whereIs(name))")
        let p3 = lab.localDir(3) + "/" + volume
        let again = lab.qemuImgCompare(p2, p3)
        #expect(again.status == 0 && again.stdout.contains("Images are identical"), "\(again.output)")
        #expect(lab.volumeFacts("local", volume, host: 3) == sourceFacts, "format and virtual size kept")
        #expect(lab.waitHeartbeat(name) != nil, "it runs on host3")
    }

    /// A qcow2 overlay whose backing file is in the host's own pool: refused before anything
    /// changes (the witness sees nothing change), naming the backing file.
    @Test func aQcow2OverlayOfALocalBaseIsRefusedBeforeAnyChange() throws {
        let lab = try Lab.require()
        let vp = try VirtPlace(lab: lab)
        let name = Lab.uniqueName("overlay")
        defer { lab.removeGuest(name) }
        let facts = try lab.createGuest("localdisk", name, host: 1, ["--format", "qcow2", "--backing", "--stopped", "--disk-size", "8"])
        let placement = try vp.placement("""
          \(name):
            host: host2
            moves: [live, reboot, cold, manual]
        """)
        let r = expectUntouched(lab, "the refused overlay move") { vp.apply(placement) }
        #expect(r.status == 3, "\(r.output)")
        #expect(r.stdout.contains("overlay of \(facts["backing.path"] ?? "?")") && r.stdout.contains("[move.backing-chain]"), "\(r.output)")
        #expect(lab.volumes("local", prefix: "\(name)-", host: 2).isEmpty, "nothing copied to host2")
    }

    // MARK: Someone else's migration

    /// A slowed-down `virsh migrate` (lab/lab migrate --bandwidth) runs while virtplace plans
    /// and reconciles: "migration in progress", no conflict, no failed pass, nothing touched;
    /// after it, the instance is found on its new host.
    @Test func aMigrationVirtplaceDidNotStartIsWaitedFor() throws {
        let lab = try Lab.require()
        let vp = try VirtPlace(lab: lab)
        let name = Lab.uniqueName("foreign")
        defer { lab.removeGuest(name) }
        _ = try lab.createGuest("heartbeat", name, host: 1, ["--wait"])
        let placement = try vp.placement("""
          \(name):
            host: host1
        """)
        let migrate = Process()
        migrate.executableURL = URL(fileURLWithPath: "/bin/bash")
        migrate.arguments = [lab.tool, "migrate", name, "--from", "1", "--to", "2", "--shared", "--bandwidth", "2"]
        migrate.environment = ProcessInfo.processInfo.environment.merging(["VIRTPLACE_LAB_DIR": lab.dir]) { _, b in b }
        migrate.standardOutput = FileHandle.nullDevice
        migrate.standardError = FileHandle.nullDevice
        try migrate.run()
        defer { if migrate.isRunning { _ = lab.virsh(1, ["domjobabort", name]); migrate.waitUntilExit() } }

        // Until the target holds the incoming copy.
        var inFlight = false
        for _ in 0..<150 where !inFlight {
            inFlight = lab.virsh(2, ["domstate", "--reason", name]).stdout.contains("paused (migrating)")
            if !inFlight { usleep(200_000) }
        }
        try #require(inFlight, "the migration never showed on host2: \(lab.whereIs(name))")

        let plan = vp.run(["plan", "-f", placement, "-f", lab.hostsYAML])
        let pass = vp.run(["reconcile", "-f", placement, "-f", lab.hostsYAML])
        let stillRunning = migrate.isRunning && lab.virsh(2, ["domstate", "--reason", name]).stdout.contains("paused (migrating)")
        try #require(stillRunning, "the migration ended before virtplace looked: slow it down further")
        for r in [plan, pass] {
            #expect(r.status == 0, "\(r.output)")
            #expect(!r.stdout.contains("conflict"), "\(r.output)")
        }
        #expect(plan.stdout.contains("waiting  \(name)  migration in progress from host1 to host2"), "\(plan.output)")
        #expect(pass.stdout.contains("\"event\":\"waiting\"") && pass.stdout.contains("migration in progress from host1 to host2"),
                "\(pass.output)")
        #expect(lab.virsh(1, ["domstate", name]).stdout.contains("running"), "the source copy untouched")

        // Let it finish: then it is simply on host2, to be moved back to host1 (live).
        migrate.waitUntilExit()
        #expect(migrate.terminationStatus == 0)
        #expect(lab.whereIs(name) == [2: "running"], "\(lab.whereIs(name))")
        let after = vp.run(["plan", "-f", placement, "-f", lab.hostsYAML])
        #expect(after.stdout.range(of: "live +\(name) +host2 → host1", options: .regularExpression) != nil, "\(after.output)")
    }
}
