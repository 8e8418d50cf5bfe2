import Foundation
import Testing

// Moves that stay safe when the world moves too (issue 21): never two copies of a guest, never
// a guest left down. Judged by virsh on every host (exactly one copy of the UUID, its state)
// and by the guest's console (a new boot id is a restart), never by virtplace's report.

@Suite(.serialized) struct MoveSafetyLabTests {
    /// During a reboot move's shutdown (the guest ignores the first ACPI request for a while),
    /// an operator live-migrates the guest to host3 with virsh. virtplace must not take "gone
    /// from host1" for "shut down": it stops before defining anything on host2, says where the
    /// guest is, exits 3; the guest runs on host3 only, never restarted. A rerun moves it from
    /// there (a real reboot move) and converges.
    @Test func anOperatorMigratingTheGuestDuringTheShutdownStopsTheMove() throws {
        let lab = try Lab.require()
        let vp = try VirtPlace(lab: lab)
        let name = Lab.uniqueName("mig")
        defer { lab.removeGuest(name) }
        _ = try lab.createGuest("heartbeat", name, host: 1, ["--wait", "--acpi-ignore", "8"])
        let boot = try #require(lab.bootID(name))
        let placement = try vp.placement("""
          \(name):
            host: host2
            moves: [reboot]
        """)

        let applying = Background { vp.apply(placement) }
        // The shutdown step has asked: the guest says it ignores the button for now.
        #expect(waitForConsole(lab, name, "hb-acpi-ignored", timeout: 60), "virtplace asked for the shutdown")
        let migrated = lab.lab(["migrate", name, "--from", "1", "--to", "3"])
        #expect(migrated.status == 0, "virsh migrated it to host3: \(migrated.output)")
        let r = try #require(applying.wait())

        #expect(r.status == 3, "the move failed: \(r.output)")
        #expect(r.stdout.contains("host3"), "the report says where it is: \(r.stdout)")
        #expect(lab.whereIs(name) == [3: "running"], "exactly one copy, on host3: \(lab.whereIs(name))")
        #expect(lab.bootID(name) == boot, "never restarted: the live copy is the only one")
        let beat = try #require(lab.heartbeat(name))
        #expect(lab.waitHeartbeat(name, after: beat) != nil, "its heartbeat goes on")

        // A rerun moves it from where it is now (host3 → host2) and converges.
        let again = vp.apply(placement)
        #expect(again.status == 0, "\(again.output)")
        #expect(lab.whereIs(name) == [2: "running"], "\(lab.whereIs(name))")
        #expect(lab.waitNewBoot(name, other: boot) != nil, "restarted on host2: a reboot move")
        expectConverged(vp, placement)
    }

    /// The target's libvirtd is killed (by its PID) while a reboot move copies the guest's local
    /// volume: nothing of the guest was defined there, so virtplace puts it back on host1 at
    /// once, running (a new boot), exit 3; the volume on host1 is intact. Once host2 is back, a
    /// rerun moves it and converges; the copy on host2 has the source's bytes.
    @Test func theTargetDaemonDyingDuringAVolumeCopyRestartsTheGuestOnItsSource() throws {
        let lab = try Lab.require()
        let vp = try VirtPlace(lab: lab)
        let name = Lab.uniqueName("vdie")
        defer { lab.removeGuest(name) }
        defer { restartLab(lab) }
        // Large enough that the copy is still running when host2's daemon is killed: copies
        // got faster (hardware SHA-256), and 48 MiB was done before the kill landed.
        let facts = try lab.createGuest("localdisk", name, host: 1, ["--wait", "--disk-size", "320"])
        let sum = try #require(facts["disk.vda.sha256"])
        let sourceFile = lab.localDir(1) + "/\(name)-disk.img"
        let targetFile = lab.localDir(2) + "/\(name)-disk.img"
        #expect(lab.sha256(sourceFile) == sum, "the lab's checksum is the file's")
        let boot = try #require(lab.bootID(name))
        let placement = try vp.placement("""
          \(name):
            host: host2
            moves: [reboot]
        """)

        let applying = Background { vp.apply(placement) }
        // The copy has begun: the target volume holds its first bytes (allocated blocks, not
        // the file's apparent size, which is the volume's capacity from the start).
        let deadline = Date().addingTimeInterval(90)
        while Date() < deadline, allocatedBytes(targetFile) == 0 { usleep(10_000) }
        #expect(allocatedBytes(targetFile) > 0, "the copy to host2 began")
        let pid = try #require(lab.libvirtdPID(2))
        #expect(kill(pid, SIGKILL) == 0, "killed host2's libvirtd (pid \(pid))")
        let r = try #require(applying.wait())

        #expect(r.status == 3, "the move failed: \(r.output)")
        #expect(lab.virsh(2, ["version"], timeout: 10).status != 0, "host2 is down")
        #expect(lab.whereIs(name) == [1: "running"], "back on host1, running: \(lab.whereIs(name))")
        #expect(lab.waitNewBoot(name, other: boot) != nil, "started again on host1")
        let beat = try #require(lab.waitHeartbeat(name))
        #expect(lab.waitHeartbeat(name, after: beat) != nil, "its heartbeat goes on")
        #expect(lab.sha256(sourceFile) == sum, "the source volume is intact")

        // host2 comes back. The partial copy virtplace made there is its own (journalled): the
        // rerun reuses it (no `target.volume-exists` block, no operator step), moves the guest,
        // and nothing is left to do.
        restartLab(lab)
        #expect(lab.sha256(targetFile) != sum, "the copy on host2 was cut short")
        let again = vp.apply(placement)
        #expect(again.status == 0, "\(again.output)")
        #expect(lab.whereIs(name) == [2: "running"], "\(lab.whereIs(name))")
        #expect(lab.sha256(targetFile) == sum, "host2's copy has the source's bytes")
        #expect(lab.sha256(sourceFile) == sum, "the source copy is kept")
        expectConverged(vp, placement)
    }

    /// A pool the file calls shared that is not (`local` differs per host): the target lacks the
    /// guest's volume. That is knowable before the shutdown, so the move stops there: the guest
    /// keeps running on host1 (same boot), one copy, exit 3, its volume intact.
    @Test func aTargetWithoutTheVolumeStopsTheMoveBeforeTheShutdown() throws {
        let lab = try Lab.require()
        let vp = try VirtPlace(lab: lab)
        let name = Lab.uniqueName("novol")
        defer { lab.removeGuest(name) }
        let facts = try lab.createGuest("localdisk", name, host: 1, ["--wait", "--disk-size", "4"])
        let sum = try #require(facts["disk.vda.sha256"])
        let sourceFile = lab.localDir(1) + "/\(name)-disk.img"
        let boot = try #require(lab.bootID(name))
        let path = vp.workDir + "/wrong-shared.yaml"
        try """
        apiVersion: virtplace/v1
        kind: Placement
        metadata: {name: labtest}
        policy: {shutdownTimeoutSeconds: 30, forceOff: true}
        storage: {sharedPools: [shared, local]}
        instances:
          \(name):
            host: host2
            moves: [reboot]
        """.write(toFile: path, atomically: false, encoding: .utf8)

        let r = vp.apply(path)
        #expect(r.status == 3, "\(r.output)")
        #expect(lab.whereIs(name) == [1: "running"], "still on host1 only: \(lab.whereIs(name))")
        #expect(lab.bootID(name) == boot, "never shut down")
        let beat = try #require(lab.heartbeat(name))
        #expect(lab.waitHeartbeat(name, after: beat) != nil, "its heartbeat goes on")
        #expect(lab.sha256(sourceFile) == sum, "its volume is intact")
    }

    /// A reboot move there and back: each ends with the guest running (a new boot each time),
    /// one copy, and nothing left to do.
    @Test func aMoveBackToTheSourceRestoresRunning() throws {
        let lab = try Lab.require()
        let vp = try VirtPlace(lab: lab)
        let name = Lab.uniqueName("back")
        defer { lab.removeGuest(name) }
        _ = try lab.createGuest("heartbeat", name, host: 1, ["--wait"])
        var boot = try #require(lab.bootID(name))
        for (host, label) in [(2, "there"), (1, "back")] {
            let placement = try vp.placement("""
              \(name):
                host: host\(host)
                moves: [reboot]
            """, name: "\(label).yaml")
            let r = vp.apply(placement)
            #expect(r.status == 0, "\(label): \(r.output)")
            #expect(lab.whereIs(name) == [host: "running"], "\(label): \(lab.whereIs(name))")
            let next = try #require(lab.waitNewBoot(name, other: boot), "\(label): booted again")
            boot = next
            expectConverged(vp, placement)
        }
    }
}

/// Waits until the guest's console has a line beginning with `prefix`.
private func waitForConsole(_ lab: Lab, _ name: String, _ prefix: String, timeout: Double) -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        let text = (try? String(contentsOfFile: lab.consoleDir + "/\(name).log", encoding: .utf8)) ?? ""
        if text.split(whereSeparator: \.isNewline).contains(where: { $0.hasPrefix(prefix) }) { return true }
        usleep(100_000)
    }
    return false
}

/// `lab/lab up 3`: brings back a daemon a test killed (a no-op when every host answers).
private func restartLab(_ lab: Lab) {
    let up = Lab.run("/bin/bash", [lab.tool, "up", "3"],
                     environment: ["VIRTPLACE_LAB_DIR": lab.dir, "VIRTPLACE_LAB_NET": lab.env["LAB_NET"] ?? ""])
    #expect(up.status == 0, "lab up 3: \(up.output)")
}

/// Bytes the file system holds for the file (0 when it does not exist).
private func allocatedBytes(_ path: String) -> Int64 {
    var st = stat()
    guard stat(path, &st) == 0 else { return 0 }
    return Int64(st.st_blocks) * 512
}
