import Foundation
import Testing
import YAMLDecoding
@testable import Placement

// `hosts.NAME.migration` and `live.transport` (issue 16): how they read, what validation
// refuses (located), what the planner refuses per target, and what the live step carries.

/// The fleet with `versions` (libvirt, QEMU) observed on the named hosts.
func withVersions(_ fleet: ObservedFleet, _ versions: [String: (String, String)]) -> ObservedFleet {
    var f = fleet
    for i in f.hosts.indices {
        if let v = versions[f.hosts[i].name] { f.hosts[i].libvirtVersion = v.0; f.hosts[i].hypervisorVersion = v.1 }
    }
    return f
}

let lab90 = ("9.0.0", "7.2.0")

let transportReasonCases: [ReasonCase] = [
    rc(.liveTransportTLS, "TLS asked, neither host declares migration TLS", twoHosts([dom("web-1")]),
       policy: policy { $0.live.transport.tls = true }, ["web-1": toH2], [expect(.reboot, "web-1", "h1", "h2")]),
    rc(.liveTransportParallel, "parallel connections, the target's libvirt predates multifd",
       withVersions(twoHosts([dom("web-1")]), ["h1": lab90, "h2": ("5.0.0", "7.2.0")]),
       policy: policy { $0.live.transport.parallelConnections = 4 }, ["web-1": toH2], [expect(.reboot, "web-1", "h1", "h2")]),
    rc(.liveTransportCompression, "zstd per connection on libvirt 9.0",
       withVersions(twoHosts([dom("web-1")]), ["h1": lab90, "h2": lab90]),
       policy: policy { $0.live.transport = TransportSpec(parallelConnections: 4, compression: .zstd, compressionLevel: 3) },
       ["web-1": toH2], [expect(.reboot, "web-1", "h1", "h2")]),
]

@Suite struct TransportTests {
    static let head = "apiVersion: virtplace/v1\nkind: Placement\nmetadata: {name: lab}\n"

    func load(_ text: String) -> LoadResult {
        loadPlacement([PlacementSource(name: "t.yaml", bytes: Array(text.utf8))])
    }

    static let full = head + """
    policy:
      live: {transport: {tls: true, parallelConnections: 4, compression: {method: zstd, level: 3}}}
    hosts:
      h1: {uri: "qemu+tls://h1.example/system", migration: {address: 10.1.0.1, tls: true, tlsName: h1.example}}
      h2: {uri: "qemu+tls://h2.example/system", migration: {address: "fd00::2", tls: ~}}
      h3: {uri: "qemu+tcp://h3/system", migration: ~}
    instances:
      web-1: {host: h1, live: {transport: {compression: {method: xbzrle}, parallelConnections: 1}}}
      web-2: {host: h2, live: {transport: {tls: false, compression: ~, parallelConnections: ~}}}

    """

    @Test func everyTransportFieldReads() throws {
        let r = load(Self.full)
        #expect(r.diagnostics.isEmpty, "\(r.diagnostics.map(\.formatted))")
        let spec = try #require(r.spec)
        #expect(spec.hosts["h1"]?.migration == HostMigrationSpec(address: "10.1.0.1", tls: true, tlsName: "h1.example"))
        #expect(spec.hosts["h2"]?.migration == HostMigrationSpec(address: "fd00::2", tls: false))
        #expect(spec.hosts["h3"]?.migration == HostMigrationSpec())
        #expect(spec.policy.live.transport == TransportSpec(tls: true, parallelConnections: 4, compression: .zstd, compressionLevel: 3))
        // An instance's compression replaces method and level; the rest is the policy's.
        #expect(spec.desired("web-1")?.live.transport == TransportSpec(tls: true, parallelConnections: 1, compression: .xbzrle))
        #expect(spec.desired("web-2")?.live.transport == TransportSpec(tls: false, parallelConnections: 4, compression: .zstd, compressionLevel: 3))
    }

    /// The loader's direct reading of valid documents gives the decoder's value here too.
    @Test func theDirectReadingAgreesWithTheDecoder() throws {
        for root in try YAMLParser.parseDocuments(Array(Self.full.utf8), file: "t.yaml") {
            let decoded = YAMLNodeDecoder().decode(PlacementDocument.self, from: root, file: "t.yaml")
            #expect(decoded.diagnostics.isEmpty)
            let fast = PlacementDocument.fastDecoded(from: root)
            #expect(fast != nil)
            #expect(fast == decoded.value)
        }
    }

    @Test func badTransportAndAddressesAreLocated() {
        let r = load(Self.head + """
        policy:
          live: {transport: {parallelConnections: 0}}
        hosts:
          h1: {uri: "qemu+tcp://h1/system", migration: {address: "10.0.0.1:49152"}}
          h2: {uri: "qemu+tcp://h2/system", migration: {address: "h2/x?y", tlsName: "-bad"}}
          h3: {uri: "qemu+tcp://h3/system", migration: {address: 010.0.0.3}}
          h4: {uri: "qemu+tcp://h4/system", migration: {address: "user@h4"}}
          h5: {uri: "qemu+tcp://h5/system", migration: {address: 10.9.0.1}}
          h6: {uri: "qemu+tcp://h6/system", migration: {address: 10.9.0.1, tsl: true}}
        instances:
          a: {live: {transport: {parallelConnections: 1, compression: {method: xbzrle, level: 3}}}}
          b: {live: {transport: {parallelConnections: 1, compression: {method: zstd}}}}
          c: {live: {transport: {parallelConnections: 4, compression: {method: mt}}}}
          d: {live: {transport: {compression: {method: lz4}}}}
          e: {live: {transport: {compression: {method: zlib, level: 10}, parallelConnections: 2}}}
          f: {live: {transport: {parallelConnections: 256}}}

        """)
        #expect(r.diagnostics.map(\.formatted) == [
            "t.yaml:5:43: error: policy.live.transport.parallelConnections: must be between 1 and 255, found 0",
            "t.yaml:7:58: error: hosts.h1.migration.address: invalid migration address '10.0.0.1:49152': not an IPv6 address (write it without brackets, port or zone)",
            "t.yaml:8:58: error: hosts.h2.migration.address: invalid migration address 'h2/x?y': not an IP address or a host name (letters, digits, '-' and '.' only)",
            "t.yaml:8:77: error: hosts.h2.migration.tlsName: invalid certificate name '-bad': not a host name (a label starts or ends with '-')",
            "t.yaml:9:58: error: hosts.h3.migration.address: invalid migration address '010.0.0.3': not an IPv4 address (four numbers 0-255, no leading zeros)",
            "t.yaml:10:58: error: hosts.h4.migration.address: invalid migration address 'user@h4': not an IP address or a host name (letters, digits, '-' and '.' only)",
            "t.yaml:12:58: error: hosts.h6.migration.address: host 'h5' has the same migration address '10.9.0.1': streams for two hosts cannot go to one address",
            "t.yaml:12:68: error: hosts.h6.migration.tsl: unknown key 'tsl' (did you mean 'tls'?)",
            "t.yaml:14:63: error: instances.a.live.transport.compression: compression xbzrle takes no level",
            "t.yaml:15:63: error: instances.b.live.transport.compression: compression zstd compresses each parallel connection: set parallelConnections to 2 or more",
            "t.yaml:16:63: error: instances.c.live.transport.compression: compression mt cannot be combined with parallel connections (QEMU: \"Multifd is not compatible with compress\"); use zlib or zstd, or parallelConnections: 1",
            "t.yaml:17:48: error: instances.d.live.transport.compression.method: expected one of none, xbzrle, mt, zlib, zstd, found 'lz4'",
            "t.yaml:18:39: error: instances.e.live.transport.compression: compression level for zlib must be between 0 and 9, found 10",
            "t.yaml:19:47: error: instances.f.live.transport.parallelConnections: must be between 1 and 255, found 256",
        ])
    }

    /// xbzrle with parallel connections: accepted by libvirt and QEMU, but QEMU sends the pages
    /// over multifd without looking in the XBZRLE cache. A warning, located once: at the policy
    /// when the policy makes it, at the instance when the instance's own keys do.
    @Test func xbzrleWithParallelConnectionsIsAWarning() {
        let r = load(Self.head + """
        policy:
          live: {transport: {parallelConnections: 4, compression: {method: xbzrle}}}
        hosts:
          h1: {uri: "qemu+tcp://h1/system"}
        instances:
          a: {host: h1}
          b: {host: h1, live: {transport: {parallelConnections: 1}}}

        """)
        let note = "compression xbzrle has no effect with parallel connections: QEMU sends the pages over them without XBZRLE; use zlib or zstd with parallel connections, or parallelConnections: 1"
        #expect(r.diagnostics.map(\.formatted) == ["t.yaml:5:59: warning: policy.live.transport.compression: \(note)"])
        let own = load(Self.head + """
        hosts:
          h1: {uri: "qemu+tcp://h1/system"}
        instances:
          a: {host: h1, live: {transport: {parallelConnections: 2, compression: {method: xbzrle}}}}
          b: {host: h1, live: {transport: {compression: {method: xbzrle}}}}

        """)
        #expect(own.diagnostics.map(\.formatted) == ["t.yaml:7:73: warning: instances.a.live.transport.compression: \(note)"])
    }

    @Test(arguments: [
        ("127.0.7.52", true), ("10.0.0.1", true), ("fd00::2", true), ("::1", true), ("::ffff:10.0.0.1", true),
        ("migration.h1.example", true), ("h1", true), ("a-b.c", true),
        ("", false), ("10.0.0.1:49152", false), ("[fd00::2]", false), ("fd00::2%eth0", false), ("256.0.0.1", false),
        ("1.2.3", false), ("01.2.3.4", false), ("h1/system", false), ("h1?x", false), ("u@h1", false), ("h 1", false),
        ("h1.", false), (".h1", false), ("-h1", false), ("h1-", false), ("1.2.3.4.5", false), ("h%31", false),
        ("tcp://h1", false), ("h1\n", false), (String(repeating: "a", count: 64), false),
        (String(repeating: "a.", count: 127) + "a", false),
    ])
    func migrationAddressRule(_ address: String, _ accepted: Bool) {
        #expect((MigrationAddress.problem(address) == nil) == accepted, "\(address): \(MigrationAddress.problem(address) ?? "accepted")")
    }

    @Test func theMigrationURIBracketsIPv6() {
        #expect(MigrationAddress.uri("10.0.0.1") == "tcp://10.0.0.1")
        #expect(MigrationAddress.uri("fd00::2") == "tcp://[fd00::2]")
        #expect(MigrationAddress.uri("m.example") == "tcp://m.example")
    }

    /// A two-host spec whose h2 has a migration address (and TLS as given).
    func planned(transport: TransportSpec, h1: HostMigrationSpec = .init(), h2: HostMigrationSpec) -> Plan {
        let observed = withVersions(twoHosts([dom("web-1")]), ["h1": lab90, "h2": lab90])
        var desired = spec(observed, instances: ["web-1": toH2], policy: policy { $0.live.transport = transport })
        desired.hosts["h1"]?.migration = h1
        desired.hosts["h2"]?.migration = h2
        return makePlan(desired: desired, observed: observed)
    }

    func migration(_ plan: Plan) -> LiveMigration? {
        for step in plan.action("web-1")?.steps ?? [] { if case .migrateLive(let m) = step { return m } }
        return nil
    }

    @Test func theLiveStepCarriesTheTargetsAddressAndTheTransport() throws {
        let plan = planned(transport: TransportSpec(parallelConnections: 4, compression: .xbzrle), h2: HostMigrationSpec(address: "10.9.0.2"))
        #expect(plan.action("web-1")?.kind == .live)
        let m = try #require(migration(plan))
        #expect(m.migrationAddress == "10.9.0.2")
        #expect(m.transport == TransportSpec(parallelConnections: 4, compression: .xbzrle))
        #expect(m.tlsDestination == nil)
        let step = Step.migrateLive(m)
        #expect(step.summary.hasSuffix(", stream to tcp://10.9.0.2, 4 connections, compression xbzrle"), "\(step.summary)")
        // JSON: written, read back the same.
        let data = try JSONEncoder().encode(step)
        let text = String(decoding: data, as: UTF8.self)
        #expect(text.contains("\"migrationAddress\":\"10.9.0.2\"") && text.contains("\"parallelConnections\":4") && text.contains("\"compression\":\"xbzrle\""), "\(text)")
        #expect(try JSONDecoder().decode(Step.self, from: data) == step)
        // The verbose text and markdown show the step.
        #expect(render(plan, format: .text, color: false, verbose: true).contains("stream to tcp://10.9.0.2"))
        #expect(render(plan, format: .markdown, color: false, verbose: true).contains("stream to tcp://10.9.0.2"))
    }

    /// A plain migration writes none of the new keys: plans of before read and write the same.
    @Test func aPlainLiveStepWritesNoTransportKeys() throws {
        let plan = planned(transport: TransportSpec(), h2: HostMigrationSpec())
        let m = try #require(migration(plan))
        let text = String(decoding: try JSONEncoder().encode(Step.migrateLive(m)), as: UTF8.self)
        for key in ["migrationAddress", "tls", "parallelConnections", "compression", "tlsDestination"] {
            #expect(!text.contains("\"\(key)\""), "\(text)")
        }
    }

    @Test func withTLSTheCertificateNameIsPassedWhenTheStreamGoesElsewhere() throws {
        let tls = HostMigrationSpec(address: "10.9.0.2", tls: true)
        let plan = planned(transport: TransportSpec(tls: true), h1: HostMigrationSpec(tls: true), h2: tls)
        let m = try #require(migration(plan))
        #expect(m.transport.tls)
        #expect(m.tlsDestination == "h2", "the URI's host, which the certificate names")
        #expect(Step.migrateLive(m).summary.hasSuffix("stream to tcp://10.9.0.2, TLS (certificate h2)"), "\(Step.migrateLive(m).summary)")
        // Declared: that name. No address: none (libvirt's own choice of host is checked).
        let named = planned(transport: TransportSpec(tls: true), h1: HostMigrationSpec(tls: true),
                            h2: HostMigrationSpec(address: "10.9.0.2", tls: true, tlsName: "mig.h2"))
        #expect(migration(named)?.tlsDestination == "mig.h2")
        let plain = planned(transport: TransportSpec(tls: true), h1: HostMigrationSpec(tls: true), h2: HostMigrationSpec(tls: true))
        #expect(migration(plain)?.tlsDestination == nil)
    }

    /// TLS asked, the target plaintext-only: live is refused for it (with the reason) and the
    /// move falls to the next rung; only live allowed: blocked, nothing to run.
    @Test func aPlaintextOnlyTargetRefusesATLSMove() throws {
        let plan = planned(transport: TransportSpec(tls: true), h1: HostMigrationSpec(tls: true), h2: HostMigrationSpec())
        let action = try #require(plan.action("web-1"))
        #expect(action.kind == .reboot)
        #expect(action.reasons.contains { $0.code == .liveTransportTLS && $0.message.contains("h2 does not offer migration TLS") })

        let observed = withVersions(twoHosts([dom("web-1")]), ["h1": lab90, "h2": lab90])
        var desired = spec(observed, instances: ["web-1": InstanceSpec(host: "h2", moves: [.live])],
                           policy: policy { $0.live.transport.tls = true })
        desired.hosts["h1"]?.migration.tls = true
        let blocked = try #require(makePlan(desired: desired, observed: observed).action("web-1"))
        #expect(blocked.kind == .blocked)
        #expect(blocked.steps.isEmpty)
        #expect(blocked.reasons.contains { $0.code == .liveTransportTLS })
    }

    /// Of two targets in the fault domain, the one that offers TLS takes a TLS move live.
    @Test func aTargetThatOffersTheTransportIsPreferred() throws {
        let h3 = host("h3", fd: "fd-2", cpuModel: "Haswell")
        let observed = withVersions(twoHosts([dom("web-1")], extra: [h3]), ["h1": lab90, "h2": lab90, "h3": lab90])
        var desired = spec(observed, instances: ["web-1": InstanceSpec(faultDomain: "fd-2")], policy: policy { $0.live.transport.tls = true })
        desired.hosts["h1"]?.migration.tls = true
        desired.hosts["h3"]?.migration.tls = true
        let action = try #require(makePlan(desired: desired, observed: observed).action("web-1"))
        #expect(action.kind == .live)
        #expect(action.to == "h3")
    }

    /// Versions not observed (an older snapshot): nothing refused here, libvirt checks.
    @Test func unknownVersionsRefuseNothing() throws {
        let observed = twoHosts([dom("web-1")])
        let desired = spec(observed, instances: ["web-1": toH2], policy: policy {
            $0.live.transport = TransportSpec(parallelConnections: 4, compression: .zstd)
        })
        #expect(makePlan(desired: desired, observed: observed).action("web-1")?.kind == .live)
    }

    @Test func aSavedPlanWithABadAddressIsRefused() throws {
        let plan = planned(transport: TransportSpec(), h2: HostMigrationSpec(address: "10.9.0.2"))
        let desired = spec(withVersions(twoHosts([dom("web-1")]), ["h1": lab90, "h2": lab90]), instances: ["web-1": toH2])
        let sealed = plan.sealed(desired: desired)
        let good = Array(try encodePlan(sealed))
        #expect(readPlanFile(good, file: "p.json", allowTestDriver: true).plan != nil)
        let text = String(decoding: good, as: UTF8.self).replacingOccurrences(of: "\"10.9.0.2\"", with: "\"10.9.0.2?x=1\"")
        let result = readPlanFile(Array(text.utf8), file: "p.json", allowTestDriver: true)
        #expect(result.diagnostics.contains { $0.formatted.contains("invalid address '10.9.0.2?x=1'") }, "\(result.diagnostics.map(\.formatted))")
    }
}
