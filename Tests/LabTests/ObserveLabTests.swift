import Foundation
import Placement
import Testing

/// `virtplace observe` on real hosts, compared with what virsh says.
@Suite(.serialized) struct ObserveLabTests {
    @Test func observeMatchesVirsh() throws {
        let lab = try Lab.current()
        let tag = "obs\(getpid() % 100000)"
        let running = "\(tag)-run", stopped = "\(tag)-off", local = "\(tag)-ld"
        for n in [running, stopped, local] { try lab.lab(["guest", "remove", n], check: false) }
        defer { for n in [running, stopped, local] { _ = try? lab.lab(["guest", "remove", n], check: false) } }
        try lab.lab(["guest", "create", "heartbeat", running, "--host", "1", "--mac", "52:54:00:0b:5e:01", "--memory", "96"])
        try lab.lab(["guest", "create", "shutoff", stopped, "--host", "2", "--vcpus", "2"])
        try lab.lab(["guest", "create", "localdisk", local, "--host", "2", "--stopped"])

        let file = try lab.placement("observe", "metadata: {name: labtest}\nstorage: {sharedPools: [shared], localPools: [local]}\n")
        let r = try lab.virtplace(["observe", "-o", "json", "-f", file])
        #expect(r.status == 0, "\(r.stderr)")
        let fleet = try JSONDecoder().decode(ObservedFleet.self, from: Data(r.stdout.utf8))
        #expect(fleet.hosts.map(\.name) == (1...lab.hostCount).map { "host\($0)" })
        #expect(fleet.hosts.allSatisfy { $0.reachable })

        // Every domain virsh lists on a host is observed on that host, with its state.
        for (i, host) in fleet.hosts.enumerated() {
            let virshNames = try lab.virsh(i + 1, ["list", "--all", "--name"]).stdout
                .split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }.sorted()
            #expect(host.domains.map(\.name) == virshNames, "host\(i + 1)")
            for d in host.domains {
                let state = try #require(try lab.state(d.name, on: i + 1))
                #expect(d.state == state.replacingOccurrences(of: " ", with: ""), "\(d.name) on host\(i + 1)")
            }
        }

        let h1 = try #require(fleet.hosts.first { $0.name == "host1" })
        let h2 = try #require(fleet.hosts.first { $0.name == "host2" })
        let run = try #require(h1.domains.first { $0.name == running })
        #expect(run.state == "running" && run.vcpus == 1 && run.memoryMiB == 96)
        #expect(run.nics.map(\.mac) == ["52:54:00:0b:5e:01"] && run.nics.first?.network == "lan")
        #expect(run.uuid == (try lab.virsh(1, ["domuuid", running]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)))
        let off = try #require(h2.domains.first { $0.name == stopped })
        #expect(off.state == "shutoff" && off.vcpus == 2)
        let ld = try #require(h2.domains.first { $0.name == local })
        let disk = try #require(ld.disks.first)
        #expect(disk.pool == "local" && disk.volume == "\(local)-disk.img" && disk.target == "vda")
        // virsh's view of the same disk.
        let blk = try lab.virsh(2, ["domblklist", local, "--details"]).stdout
        #expect(blk.contains("vda"))
        // The observed MACs are what virsh lists.
        let iflist = try lab.virsh(2, ["domiflist", local]).stdout.lowercased()
        for nic in ld.nics { #expect(iflist.contains(nic.mac ?? "-")) }
    }

    @Test func anUnreachableHostDoesNotHideTheOthers() throws {
        let lab = try Lab.current()
        let net = lab.env["LAB_NET"] ?? "127.0.0"
        let body = """
        metadata: {name: labtest}
        """
        let hosts = try String(contentsOfFile: lab.hostsYAML, encoding: .utf8)
            + "  gone:\n    uri: qemu+tcp://\(net).99/system\n    faultDomain: fd-9\n"
        let path = lab.dir + "/test-unreachable.yaml"
        try (body + "\n" + hosts).write(toFile: path, atomically: true, encoding: .utf8)
        let r = try lab.virtplace(["observe", "-o", "json", "-f", path])
        #expect(r.status == 0, "some hosts answered: exit 0")
        let fleet = try JSONDecoder().decode(ObservedFleet.self, from: Data(r.stdout.utf8))
        let gone = try #require(fleet.hosts.first { $0.name == "gone" })
        #expect(!gone.reachable && gone.error != nil)
        #expect(fleet.hosts.filter(\.reachable).count == lab.hostCount)

        // Only unreachable hosts: exit 1, "no host answered".
        let alone = lab.dir + "/test-alone.yaml"
        try "metadata: {name: labtest}\nhosts:\n  gone: {uri: \"qemu+tcp://\(net).99/system\"}\n".write(toFile: alone, atomically: true, encoding: .utf8)
        let none = try lab.virtplace(["observe", "-f", alone])
        #expect(none.status == 1)
        #expect(none.stderr.contains("no host answered"))
    }

    @Test func snapshotRoundTripsThroughPlanObserved() throws {
        let lab = try Lab.current()
        let file = try lab.placement("snapshot", "metadata: {name: labtest}\n")
        let snap = try lab.virtplace(["observe", "-o", "json", "-f", file], check: true)
        let path = lab.dir + "/test-snapshot.json"
        try snap.stdout.write(toFile: path, atomically: true, encoding: .utf8)
        let decoded = try JSONDecoder().decode(ObservedFleet.self, from: Data(snap.stdout.utf8))
        // Re-encoding gives the same bytes: nothing is lost or reordered.
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        #expect(String(decoding: try encoder.encode(decoded), as: UTF8.self) + "\n" == snap.stdout)
        // plan reads it with no libvirt access, and gives the plan that live observation gives.
        let fromSnapshot = try lab.virtplace(["plan", "-o", "json", "-f", file, "--observed", path], check: true)
        let live = try lab.virtplace(["plan", "-o", "json", "-f", file], check: true)
        #expect(fromSnapshot.stdout == live.stdout)
    }
}
