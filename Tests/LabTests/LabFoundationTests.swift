import Foundation
import Libvirt
import Testing

/// The lab and the C binding together: through our Swift libvirt layer, define and start the
/// heartbeat guest on host 1, live-migrate it to host 2, and check with virsh (the witness)
/// and the console log that it runs there and that its heartbeat counter went on (a live
/// migration keeps the guest running; a restart would begin again at 0).
@Suite(.serialized) struct LabFoundationTests {
    @Test func liveMigrationThroughTheSwiftLayer() async throws {
        let lab = try Lab.require()
        let name = Lab.uniqueName("found")
        defer { lab.removeGuest(name) }

        // The lab writes the heartbeat guest's definition; we undefine it and define it again,
        // and start it, with our own layer.
        _ = try lab.createGuest("shutoff", name, host: 1)
        let source = try Connection(uri: lab.uri(1))
        let xml = try source.lookupDomain(name: name).xml(flags: [.inactive])
        try source.lookupDomain(name: name).undefine()
        #expect(lab.whereIs(name)[1] == nil, "undefined through the Swift layer")
        let defined = try source.defineDomain(xml: xml)
        let uuid = defined.uuid
        try defined.start()
        #expect(lab.whereIs(name)[1] == "running")
        let before = try #require(lab.waitHeartbeat(name, after: 2, timeout: 90))

        // Live migration, peer to peer, persistent on the target, undefined on the source.
        let flags: MigrationFlags = [.live, .peerToPeer, .persistDestination, .undefineSource, .abortOnError]
        let started = Date()
        try await source.runDedicated { conn in
            try conn.lookupDomain(name: name).migrate(toURI: lab.uri(2), flags: flags)
        }
        let elapsed = Date().timeIntervalSince(started)

        // The witness: virsh says it runs on host 2 and is gone from host 1.
        #expect(lab.whereIs(name) == [2: "running"])
        let target = try Connection(uri: lab.uri(2))
        #expect(try target.lookupDomain(name: name).uuid == uuid, "same UUID on the target")
        let stats = try target.lookupDomain(name: name).jobStats(completed: true)
        print("lab: live migration \(String(format: "%.2f", elapsed)) s, downtime \(stats.downtimeMs.map { "\($0) ms" } ?? "not reported")")

        // The console log: the counter went on past where it was, with no second boot.
        let after = try #require(lab.waitHeartbeat(name, after: before + 2, timeout: 60))
        #expect(after > before)
        let log = (try? String(contentsOfFile: lab.consoleDir + "/\(name).log", encoding: .utf8)) ?? ""
        let counters = log.split(whereSeparator: \.isNewline).compactMap { line -> Int? in
            let f = line.split(separator: " ")
            return f.count >= 2 && f[0] == "hb" ? Int(f[1]) : nil
        }
        #expect(counters.count >= 4)
        // A restart would show the counter going back to 0: it only ever grows.
        #expect(zip(counters, counters.dropFirst()).allSatisfy { $0 < $1 }, "heartbeat counter restarted: \(counters)")
    }
}

/// The witness of "nothing changed" (`Lab.snapshot`, `expectUntouched`) must see every kind of
/// change an operation could make, and nothing when nothing happens: each change below is made
/// with virsh or on the volume file, and must show up as a difference under the right key.
@Suite(.serialized) struct WitnessLabTests {
    @Test func theWitnessSeesEveryKindOfChangeAndNoneWhenNothingHappens() throws {
        let lab = try Lab.require()
        let running = Lab.uniqueName("wrun")
        let stopped = Lab.uniqueName("wstop")
        defer { lab.removeGuest(running); lab.removeGuest(stopped) }
        let facts = try lab.createGuest("marker", running, host: 1, ["--wait"])
        _ = try lab.createGuest("shutoff", stopped, host: 2, ["--no-nic"])
        let volume = try #require(facts["disk.vda.path"])

        // Nothing happens: the same facts twice, with the domains and the volume in them.
        let quiet = lab.snapshot()
        #expect(quiet.differences(to: lab.snapshot()).isEmpty, "\(quiet.differences(to: lab.snapshot()))")
        #expect(quiet.facts["host1 domain \(running) xml-live"]?.contains("<domain") == true, "\(quiet.facts.keys.sorted())")
        #expect(quiet.facts["host2 domain \(stopped) xml-inactive"]?.contains("<domain") == true)
        #expect(quiet.facts["volume \(volume) sha256"] == facts["disk.vda.sha256"], "the witness reads the volume's bytes")

        /// Makes one change and expects the witness to report it under a key containing `key`.
        func expectSeen(_ what: String, key: String, _ change: () -> Bool) {
            let before = lab.snapshot()
            #expect(change(), "\(what): the change itself failed")
            let diff = before.differences(to: lab.snapshot())
            #expect(diff.contains { $0.contains(key) }, "\(what): not seen under '\(key)': \(diff)")
        }
        expectSeen("memory in the definition", key: "host2 domain \(stopped) xml-inactive") {
            lab.virsh(2, ["setmem", stopped, "100M", "--config"]).status == 0
        }
        expectSeen("autostart", key: "host2 domain \(stopped) info") { lab.virsh(2, ["autostart", stopped]).status == 0 }
        expectSeen("paused", key: "host1 domain \(running) state") { lab.virsh(1, ["suspend", running]).status == 0 }
        expectSeen("resumed", key: "host1 domain \(running) state") { lab.virsh(1, ["resume", running]).status == 0 }
        expectSeen("metadata on the live domain only", key: "host1 domain \(running) xml-live") {
            lab.virsh(1, ["metadata", running, "urn:witness:1", "--key", "w", "--set", "<w/>", "--live"]).status == 0
        }
        expectSeen("one byte of a volume", key: "volume \(volume) sha256") {
            Lab.run("/bin/sh", ["-c", "printf x | dd of='\(volume)' bs=1 seek=4096 conv=notrunc status=none"]).status == 0
        }
        expectSeen("a new volume", key: "host3 pool shared volumes") {
            lab.virsh(3, ["vol-create-as", "shared", "\(stopped)-new.img", "1M", "--format", "raw"]).status == 0
        }
        expectSeen("a domain defined on another host", key: "host3 domains") {
            let xml = lab.virsh(2, ["dumpxml", "--inactive", stopped]).stdout
            let path = NSTemporaryDirectory() + "\(stopped).xml"
            defer { try? FileManager.default.removeItem(atPath: path) }
            guard (try? xml.write(toFile: path, atomically: false, encoding: .utf8)) != nil else { return false }
            return lab.virsh(3, ["define", path]).status == 0
        }
        #expect(lab.virsh(3, ["undefine", stopped]).status == 0)
    }
}
