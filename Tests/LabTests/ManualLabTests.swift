import Foundation
import Testing

// Manual moves against real libvirt daemons and QEMU guests: terminate preserving the boot
// volume, re-create on the target from it, re-attach the data volume and the second NIC,
// restore tags and autostart, start. virsh, sha256sum and debugfs are the witnesses.

@Suite(.serialized) struct ManualLabTests {
    @Test(arguments: ["shared", "local"])
    func aManualMoveKeepsIdentityAndDataAndConverges(pool: String) throws {
        let lab = try Lab.require()
        let vp = try VirtPlace(lab: lab)
        let name = Lab.uniqueName("man-\(pool)")
        defer { lab.removeGuest(name) }
        let g = try lab.createDataGuest(name, host: 1, pool: pool)
        let boot = lab.bootID(name)

        let placement = try vp.placement("""
          \(name):
            host: host2
            moves: [manual]
            config: {tags: {tier: db, owner: ops}, autostart: true}
        """, policy: "  backups: true")
        let r = vp.apply(placement)
        #expect(r.status == 0, "\(r.output)")
        #expect(r.stdout.contains("manual  \(name)"), "\(r.stdout)")
        lab.expectManualMoveDone(g, on: 2, tags: ["tier": "db", "owner": "ops"], autostart: true, pool)
        #expect(lab.waitNewBoot(name, other: boot) != nil, "it booted on host2 (a manual move restarts it)")

        // Backups: cloned on the source, named after the run, reported, kept.
        let backups = lab.volumes(pool, prefix: "\(name)-", host: 1).filter { $0.contains(".virtplace-backup-") }
        #expect(backups.count == 2, "\(backups)")
        for b in backups { #expect(r.stdout.contains("backup kept: host1 \(pool)/\(b)"), "\(b) reported") }
        if pool == "local" {
            // The boot and data volumes were copied (verified); the source copies are kept.
            #expect(r.stdout.contains("verified on host2"), "\(r.stdout)")
            #expect(lab.sha256(lab.volumePath(pool, g.boot, host: 1)) == g.bootSHA, "source copy kept")
            #expect(r.stdout.contains("source copy kept: host1 local/\(g.boot)"), "\(r.stdout)")
            #expect(r.stdout.contains("source copy kept: host1 local/\(g.data)"), "\(r.stdout)")
        } else {
            #expect(!r.stdout.contains("copy volume"), "shared volumes are not copied")
        }
        // The recorded definition is in the state directory.
        let records = (try? FileManager.default.contentsOfDirectory(atPath: vp.stateDir + "/records/\(g.uuid)")) ?? []
        #expect(records.contains { $0.hasSuffix("-host1.xml") } && records.contains { $0.hasSuffix("-host1.json") }, "\(records)")

        expectConverged(vp, placement)
    }

    /// Snapshot metadata blocks every migration, so a guest with a snapshot can only move
    /// manually; its snapshot metadata is saved with the record (it cannot go to the target).
    @Test func aStoppedGuestWithASnapshotMovesManuallyStaysStoppedAndItsSnapshotIsSaved() throws {
        let lab = try Lab.require()
        let vp = try VirtPlace(lab: lab)
        let name = Lab.uniqueName("man-off")
        defer { lab.removeGuest(name) }
        let facts = try lab.createGuest("marker", name, host: 2, ["--stopped"])
        // Snapshot metadata only (redefined): no disk is touched.
        let inactive = lab.virsh(2, ["dumpxml", "--inactive", name]).stdout
        let snapshot = vp.workDir + "/snapshot.xml"
        try """
        <domainsnapshot><name>before-move</name><state>shutoff</state><creationTime>1700000000</creationTime>
        <memory snapshot='no'/>\(inactive)</domainsnapshot>
        """.write(toFile: snapshot, atomically: false, encoding: .utf8)
        #expect(lab.virsh(2, ["snapshot-create", name, snapshot, "--redefine"]).status == 0)

        let placement = try vp.placement("""
          \(name):
            host: host3
            moves: [cold, manual]
        """)
        let r = vp.apply(placement)
        #expect(r.status == 0, "\(r.output)")
        #expect(r.stdout.contains("manual  \(name)"), "\(r.stdout)")
        #expect(lab.whereIs(name) == [3: "shut off"], "\(lab.whereIs(name))")
        #expect(!r.stdout.contains("start on host3"), "\(r.stdout)")
        #expect(r.stdout.contains("metadata of 1 snapshot saved in"), "\(r.stdout)")
        let uuid = lab.uuid(name, on: 3)
        let dir = vp.stateDir + "/records/\(uuid)"
        let saved = (FileManager.default.enumerator(atPath: dir)?.allObjects as? [String]) ?? []
        #expect(saved.contains { $0.hasSuffix(".snapshots/00-before-move.xml") }, "\(saved)")
        #expect(lab.marker(facts["disk.vda.path"] ?? "") == facts["marker"], "the boot volume is intact")
        expectConverged(vp, placement)
    }
}
