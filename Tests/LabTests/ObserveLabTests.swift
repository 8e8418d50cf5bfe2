import Foundation
import Placement
import Testing

/// `virtplace observe` on real hosts, compared with what virsh says.
@Suite(.serialized) struct ObserveLabTests {
    @Test func observeMatchesVirsh() throws {
        let lab = try Lab.require()
        let vp = try VirtPlace(lab: lab)
        let running = Lab.uniqueName("obs-run"), stopped = Lab.uniqueName("obs-off"), local = Lab.uniqueName("obs-ld")
        defer { for n in [running, stopped, local] { lab.removeGuest(n) } }
        _ = try lab.createGuest("heartbeat", running, host: 1, ["--mac", "52:54:00:0b:5e:01", "--memory", "96"])
        _ = try lab.createGuest("shutoff", stopped, host: 2, ["--vcpus", "2"])
        _ = try lab.createGuest("localdisk", local, host: 2, ["--stopped"])

        let file = try vp.placement("  {}")
        let r = vp.run(["observe", "-o", "json", "-f", file, "-f", lab.hostsYAML])
        #expect(r.status == 0, "\(r.stderr)")
        let fleet = try JSONDecoder().decode(ObservedFleet.self, from: Data(r.stdout.utf8))
        #expect(fleet.hosts.map(\.name) == ["host1", "host2", "host3"])
        #expect(fleet.hosts.allSatisfy { $0.reachable })

        // Every domain virsh lists on a host is observed on that host (other tests' guests come
        // and go meanwhile: compare ours exactly, and the rest as sets that must overlap).
        let ours = Set([running, stopped, local])
        for (i, host) in fleet.hosts.enumerated() {
            let virshNames = Set(lab.virsh(i + 1, ["list", "--all", "--name"]).stdout
                .split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty })
            let observed = Set(host.domains.map(\.name))
            #expect(observed.intersection(ours) == virshNames.intersection(ours), "host\(i + 1)")
            for d in host.domains where ours.contains(d.name) {
                let state = try #require(lab.whereIs(d.name)[i + 1])
                #expect(d.state == state.replacingOccurrences(of: " ", with: ""), "\(d.name) on host\(i + 1)")
            }
        }

        let h1 = try #require(fleet.hosts.first { $0.name == "host1" })
        let h2 = try #require(fleet.hosts.first { $0.name == "host2" })
        let run = try #require(h1.domains.first { $0.name == running })
        #expect(run.state == "running" && run.vcpus == 1 && run.memoryMiB == 96)
        #expect(run.nics.map(\.mac) == ["52:54:00:0b:5e:01"] && run.nics.first?.network == "lan")
        #expect(run.uuid == lab.virsh(1, ["domuuid", running]).stdout.trimmingCharacters(in: .whitespacesAndNewlines))
        let off = try #require(h2.domains.first { $0.name == stopped })
        #expect(off.state == "shutoff" && off.vcpus == 2)
        let ld = try #require(h2.domains.first { $0.name == local })
        let disk = try #require(ld.disks.first)
        #expect(disk.pool == "local" && disk.volume == "\(local)-disk.img" && disk.target == "vda")
        // virsh's view of the same disk.
        let blk = lab.virsh(2, ["domblklist", local, "--details"]).stdout
        #expect(blk.contains("vda"))
        // The observed MACs are what virsh lists.
        let iflist = lab.virsh(2, ["domiflist", local]).stdout.lowercased()
        for nic in ld.nics { #expect(iflist.contains(nic.mac ?? "-")) }
    }

    @Test func anUnreachableHostDoesNotHideTheOthers() throws {
        let lab = try Lab.require()
        let vp = try VirtPlace(lab: lab)
        let net = lab.env["LAB_NET"] ?? "127.0.0"
        let hosts = try String(contentsOfFile: lab.hostsYAML, encoding: .utf8)
            + "  gone:\n    uri: qemu+tcp://\(net).99/system\n    faultDomain: fd-9\n"
        let path = vp.workDir + "/unreachable.yaml"
        try ("metadata: {name: labtest}\n" + hosts).write(toFile: path, atomically: false, encoding: .utf8)
        let r = vp.run(["observe", "-o", "json", "-f", path])
        #expect(r.status == 0, "some hosts answered: exit 0")
        let fleet = try JSONDecoder().decode(ObservedFleet.self, from: Data(r.stdout.utf8))
        let gone = try #require(fleet.hosts.first { $0.name == "gone" })
        #expect(!gone.reachable && gone.error != nil)
        #expect(fleet.hosts.filter(\.reachable).count == 3)

        // Only unreachable hosts: exit 1, "no host answered".
        let alone = vp.workDir + "/alone.yaml"
        try "metadata: {name: labtest}\nhosts:\n  gone: {uri: \"qemu+tcp://\(net).99/system\"}\n".write(toFile: alone, atomically: false, encoding: .utf8)
        let none = vp.run(["observe", "-f", alone])
        #expect(none.status == 1)
        #expect(none.stderr.contains("no host answered"))
    }

    @Test func snapshotRoundTripsThroughPlanObserved() throws {
        let lab = try Lab.require()
        let vp = try VirtPlace(lab: lab)
        let file = try vp.placement("  {}")
        let snap = vp.run(["observe", "-o", "json", "-f", file, "-f", lab.hostsYAML])
        #expect(snap.status == 0, "\(snap.stderr)")
        let path = vp.workDir + "/snapshot.json"
        try snap.stdout.write(toFile: path, atomically: false, encoding: .utf8)
        let decoded = try JSONDecoder().decode(ObservedFleet.self, from: Data(snap.stdout.utf8))
        // Re-encoding gives the same bytes: nothing is lost or reordered.
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        #expect(String(decoding: try encoder.encode(decoded), as: UTF8.self) + "\n" == snap.stdout)
        // plan reads it with no libvirt access, and gives the plan that live observation gives.
        let fromSnapshot = vp.run(["plan", "-o", "json", "-f", file, "-f", lab.hostsYAML, "--observed", path])
        let live = vp.run(["plan", "-o", "json", "-f", file, "-f", lab.hostsYAML])
        #expect(fromSnapshot.status == 0 && live.status == 0)
        #expect(fromSnapshot.stdout == live.stdout)
    }
}
