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
