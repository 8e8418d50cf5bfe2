import Foundation
import Testing
import TestSupport

// Helpers for the manual-move and fault-injection lab tests: the witnesses (virsh, debugfs,
// sha256sum) and the set-up of a guest with data worth losing.

/// A `datavol` guest (boot volume: ext2 with /marker; data volume: random bytes) with a second
/// NIC, running, and what it looked like before any move.
struct DataGuest: Sendable {
    let name: String
    let uuid: String
    let pool: String
    let marker: String
    /// MACs of its two NICs.
    let macs: [String]
    /// SHA-256 of the boot and data volumes when created.
    let bootSHA: String
    let dataSHA: String
    var boot: String { "\(name)-boot.img" }
    var data: String { "\(name)-data.img" }
}

extension Lab {
    /// Creates the guest on `host`, in `pool` (`shared`: both volumes seen by every host;
    /// `local`: both on that host only), adds a second NIC, starts it and waits for its first
    /// heartbeat. `extra`: more `lab/lab guest create` options.
    func createDataGuest(_ name: String, host: Int, pool: String, extra: [String] = []) throws -> DataGuest {
        // From the name (whose suffix is new each run): a failure names the guest, and the
        // MACs follow from it, never from a per-process random value.
        let mac1 = stableMAC(name + "/nic1")
        let mac2 = stableMAC(name + "/nic2")
        let facts = try createGuest("datavol", name, host: host, ["--pool", pool, "--disk-size", "4", "--mac", mac1, "--stopped"] + extra)
        let attach = virsh(host, ["attach-interface", name, "network", "lan", "--mac", mac2, "--model", "virtio", "--config"])
        guard attach.status == 0 else { throw Unavailable(description: "attach-interface: \(attach.output)") }
        let start = virsh(host, ["start", name])
        guard start.status == 0 else { throw Unavailable(description: "start: \(start.output)") }
        guard waitHeartbeat(name) != nil else { throw Unavailable(description: "\(name) never printed a heartbeat") }
        return DataGuest(name: name, uuid: uuid(name, on: host), pool: pool, marker: facts["marker"] ?? "",
                         macs: [mac1, mac2], bootSHA: facts["disk.vda.sha256"] ?? "", dataSHA: facts["disk.vdb.sha256"] ?? "")
    }

    func uuid(_ name: String, on host: Int) -> String {
        virsh(host, ["domuuid", name]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Where a volume of `pool` is, as seen from outside the lab's hosts.
    func volumePath(_ pool: String, _ volume: String, host: Int) -> String {
        pool == "shared" ? (env["LAB_SHARED_DIR"] ?? dir + "/shared") + "/" + volume : localDir(host) + "/" + volume
    }

    /// `/marker` of an ext2 image, read with debugfs (nil when it cannot be read).
    func marker(_ image: String) -> String? {
        let r = Lab.run("/usr/sbin/debugfs", ["-R", "cat /marker", image])
        guard r.status == 0 else { return nil }
        let text = r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        return text.isEmpty ? nil : text
    }

    /// The PID of host i's libvirtd, from its pid file.
    func libvirtdPID(_ host: Int) -> pid_t? {
        let path = dir + "/hosts/host\(host)/run/libvirtd.pid"
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
        return pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    /// Deletes the volumes of `pool` on `host` whose names start with `prefix` (test clean-up
    /// of the copies and backups virtplace kept: what an operator would do when they choose).
    func deleteVolumes(_ pool: String, prefix: String, host: Int) {
        _ = virsh(host, ["pool-refresh", pool])
        let list = virsh(host, ["vol-list", pool]).stdout
        for line in list.split(separator: "\n") {
            guard let name = line.split(separator: " ").first.map(String.init), name.hasPrefix(prefix) else { continue }
            _ = virsh(host, ["vol-delete", "--pool", pool, name])
        }
        for i in 1...3 where i != host { _ = virsh(i, ["pool-refresh", pool]) }
    }

    /// Volume names of `pool` on `host` starting with `prefix`.
    func volumes(_ pool: String, prefix: String, host: Int) -> [String] {
        _ = virsh(host, ["pool-refresh", pool])
        return virsh(host, ["vol-list", pool]).stdout.split(separator: "\n")
            .compactMap { $0.split(separator: " ").first.map(String.init) }
            .filter { $0.hasPrefix(prefix) }.sorted()
    }

    /// Checks what a manual move must leave: defined on `host` only, running, same UUID,
    /// both MACs, the tags, the data intact (checksums of the volumes it now uses, and the
    /// marker), and autostart when asked.
    func expectManualMoveDone(_ g: DataGuest, on host: Int, tags: [String: String], autostart: Bool,
                              _ label: String, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(whereIs(g.name) == [host: "running"], "\(label): exactly one copy, running on host\(host): \(whereIs(g.name))",
                sourceLocation: sourceLocation)
        #expect(uuid(g.name, on: host) == g.uuid, "\(label): same UUID", sourceLocation: sourceLocation)
        let xml = virsh(host, ["dumpxml", "--inactive", g.name]).stdout
        for mac in g.macs {
            #expect(xml.contains("<mac address='\(mac)'/>"), "\(label): MAC \(mac) kept", sourceLocation: sourceLocation)
        }
        for (k, v) in tags {
            #expect(xml.contains("key=\"\(k)\">\(v)<"), "\(label): tag \(k)=\(v)", sourceLocation: sourceLocation)
        }
        #expect(xml.contains("volume='\(g.boot)'") && xml.contains("volume='\(g.data)'"), "\(label): both disks attached",
                sourceLocation: sourceLocation)
        let bootPath = volumePath(g.pool, g.boot, host: host)
        #expect(sha256(bootPath) == g.bootSHA, "\(label): boot volume intact", sourceLocation: sourceLocation)
        #expect(sha256(volumePath(g.pool, g.data, host: host)) == g.dataSHA, "\(label): data volume intact",
                sourceLocation: sourceLocation)
        #expect(marker(bootPath) == g.marker, "\(label): /marker readable", sourceLocation: sourceLocation)
        let info = virsh(host, ["dominfo", g.name]).stdout
        #expect(info.contains("Autostart:      \(autostart ? "enable" : "disable")"), "\(label): autostart", sourceLocation: sourceLocation)
    }
}
