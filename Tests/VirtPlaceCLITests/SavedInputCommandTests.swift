import Foundation
import Placement
import Testing
@testable import VirtPlaceCLI
#if canImport(Glibc)
import Glibc
#endif

/// `apply PLANFILE` and `plan --observed SNAPSHOT` with files someone else wrote (hostile-input
/// suite, issue 12). The witness that no connection is made is a TCP listener of the test's own
/// that the plan's hosts point at; the witness that no program runs is a marker file the
/// program would create.
@Suite(.serialized) struct SavedInputCommandTests {
    static let allowed = ["VIRTPLACE_ALLOW_TEST_DRIVER": "1"]

    func temporaryDirectory() throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("vp-saved-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path + "/state", withIntermediateDirectories: true)
        return path
    }

    /// A sealed plan whose one host is at `uri`: one update with a tag and a shutdown.
    func plan(uri: String) -> Plan {
        var summary = Summary()
        summary.update = 1; summary.instances = 1; summary.waves = 1
        let action = Action(instance: "web-1", kind: .update, from: "h1", to: "h1", reasons: [Reason(.driftTags, "tags")],
                            steps: [.shutdown(host: "h1", timeoutSeconds: 60, forceOff: false),
                                    .setMetadata(host: "h1", fleet: "lab", tags: ["tier": "web"])], wave: 1, id: 1)
        let basis = Basis(digest: String(repeating: "a", count: 64),
                          hosts: [HostBasis(name: "h1", reachable: true, domains: 0, digest: String(repeating: "b", count: 64))],
                          domains: [DomainBasis(name: "web-1", host: "h1", uuid: "4dea22b3-1d52-d8f3-2516-782e98ab3fa0",
                                                state: "running", xmlDigest: String(repeating: "c", count: 64))])
        return Plan(fleet: "lab", basis: basis, actions: [action], summary: summary,
                    hosts: [PlanHost(name: "h1", uri: uri, faultDomain: nil)])
            .sealed(desired: PlacementSpec(metadata: MetadataSpec(name: "lab")))
    }

    func apply(_ planText: String, in dir: String, extra: [String] = [], environment: [String: String] = [:]) async throws -> ExitCode {
        let path = dir + "/plan.json"
        try planText.write(toFile: path, atomically: false, encoding: .utf8)
        return await VirtPlace.run(arguments: ["apply", path, "-q", "--no-color", "--dry-run", "--state-dir", dir + "/state"] + extra,
                                   environment: environment)
    }

    // MARK: - Edited plans: refused before any connection

    static let edits: [(String, String)] = [
        (#""tier" : "web""#, #""tier" : "owned""#),                 // a tag
        (#""op" : "shutdown""#, #""op" : "start""#),                 // a step
        (#""wave" : 1"#, #""wave" : 0"#),                            // a wave
        (#""timeoutSeconds" : 60"#, #""timeoutSeconds" : 1"#),       // a timeout
        (#""forceOff" : false"#, #""forceOff" : true"#),             // a step's flag
    ]

    @Test(arguments: edits.indices)
    func anEditedPlanIsRefusedWithoutAConnection(_ index: Int) async throws {
        let (old, new) = Self.edits[index]
        let listener = try CountingListener()
        defer { listener.close() }
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let text = String(decoding: try encodePlan(plan(uri: listener.uri)), as: UTF8.self)
        #expect(text.contains(old))
        let code = try await apply(text.replacingOccurrences(of: old, with: new), in: dir)
        #expect(code == .failure)
        #expect(listener.accepted == 0)
    }

    @Test func aDuplicatedActionIsRefusedWithoutAConnection() async throws {
        let listener = try CountingListener()
        defer { listener.close() }
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var object = try #require(try JSONSerialization.jsonObject(with: try encodePlan(plan(uri: listener.uri))) as? [String: Any])
        let actions = try #require(object["actions"] as? [Any])
        object["actions"] = actions + actions
        let text = String(decoding: try JSONSerialization.data(withJSONObject: object), as: UTF8.self)
        #expect(try await apply(text, in: dir) == .failure)
        #expect(listener.accepted == 0)
    }

    /// A one-line plan with 50,000 broken actions: refused quickly (rendering its errors used to
    /// copy the whole line once per error: 281 s for this file in a release build).
    @Test func manyErrorsOnOneLineAreRefusedQuickly() async throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var object = try #require(try JSONSerialization.jsonObject(with: try encodePlan(plan(uri: "qemu+tcp://10.0.0.1/system"))) as? [String: Any])
        object["actions"] = Array(repeating: 0, count: 50_000)
        let text = String(decoding: try JSONSerialization.data(withJSONObject: object), as: UTF8.self)
        #expect(!text.contains("\n"))
        let started = ContinuousClock.now
        #expect(try await apply(text, in: dir) == .failure)
        #expect(ContinuousClock.now - started < .seconds(30))
    }

    /// The witness works: the same plan, unedited, does connect to the listener.
    @Test func theUneditedPlanDoesConnect() async throws {
        let listener = try CountingListener()
        defer { listener.close() }
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let text = String(decoding: try encodePlan(plan(uri: listener.uri)), as: UTF8.self)
        _ = try await apply(text, in: dir)
        #expect(listener.accepted >= 1)
    }

    // MARK: - URIs

    @Test func aPlanThatWouldRunAProgramIsRefusedAndRunsNothing() async throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let script = dir + "/script", marker = dir + "/marker"
        try "#!/bin/sh\ntouch \(marker)\n".write(toFile: script, atomically: false, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: script)
        // Sealed: whoever can write the file can also recompute the digest.
        for uri in ["qemu+ssh://localhost/system?command=\(script)", "qemu+ext:///system?command=\(script)",
                    "qemu+ssh://localhost/system?netcat=\(script)"] {
            let text = String(decoding: try encodePlan(plan(uri: uri)), as: UTF8.self)
            #expect(try await apply(text, in: dir, environment: Self.allowed) == .failure, "\(uri)")
        }
        #expect(!FileManager.default.fileExists(atPath: marker))
    }

    // MARK: - A real plan, its placement, and the cross-check

    /// A placement of one host with a test-driver file of its own: `test:///default` is one
    /// state shared by every test of this process, which other suites change while this runs.
    func placement(_ dir: String, tag: String) throws -> String {
        let host = dir + "/host-h1.xml"
        try """
        <node>
          <cpu><nodes>1</nodes><sockets>1</sockets><cores>2</cores><threads>1</threads><mhz>2000</mhz></cpu>
          <memory>8388608</memory>
          <domain type='test'>
            <name>test</name><uuid>6695eb01-f6a4-8304-79aa-97f2502e193f</uuid>
            <memory>131072</memory><vcpu>1</vcpu><os><type>hvm</type></os>
          </domain>
        </node>
        """.write(toFile: host, atomically: false, encoding: .utf8)
        let path = dir + "/placement-\(tag).yaml"
        try """
        apiVersion: virtplace/v1
        kind: Placement
        metadata: {name: lab}
        hosts:
          h1: {uri: "test://\(host)"}
        instances:
          test: {host: h1, config: {tags: {tier: \(tag)}}}
        """.write(toFile: path, atomically: false, encoding: .utf8)
        return path
    }

    @Test func aPlanAppliesOnlyWithThePlacementItWasMadeFrom() async throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let web = try placement(dir, tag: "web"), db = try placement(dir, tag: "db")
        let path = dir + "/plan.json"
        let made = await VirtPlace.run(arguments: ["plan", "-q", "-f", web, "--out", path], environment: Self.allowed)
        #expect(made == .success)
        let common = ["-q", "--no-color", "--dry-run", "--state-dir", dir + "/state"]
        #expect(await VirtPlace.run(arguments: ["apply", path] + common, environment: Self.allowed) == .success)
        // The test driver only when the environment allows it.
        #expect(await VirtPlace.run(arguments: ["apply", path] + common, environment: [:]) == .failure)
        #expect(await VirtPlace.run(arguments: ["apply", path, "-f", web] + common, environment: Self.allowed) == .success)
        #expect(await VirtPlace.run(arguments: ["apply", path, "-f", db] + common, environment: Self.allowed) == .failure)
        // Edited by hand: refused.
        let text = try String(contentsOfFile: path, encoding: .utf8)
        try text.replacingOccurrences(of: #""tier" : "web""#, with: #""tier" : "db""#).write(toFile: path, atomically: false, encoding: .utf8)
        #expect(await VirtPlace.run(arguments: ["apply", path] + common, environment: Self.allowed) == .failure)
    }

    // MARK: - Snapshots

    func snapshotPlan(_ snapshot: String, in dir: String) async throws -> ExitCode {
        let placement = dir + "/placement.yaml"
        try """
        apiVersion: virtplace/v1
        kind: Placement
        metadata: {name: lab}
        hosts:
          h1: {uri: "qemu+tcp://10.255.255.1/system"}
          h2: {uri: "qemu+tcp://10.255.255.2/system"}
        instances:
          web-1: {host: h2}
        """.write(toFile: placement, atomically: false, encoding: .utf8)
        try snapshot.write(toFile: dir + "/snap.json", atomically: false, encoding: .utf8)
        return await VirtPlace.run(arguments: ["plan", "-q", "--no-color", "-f", placement, "--observed", dir + "/snap.json"],
                                   environment: [:])
    }

    static let snapshot = """
    {"apiVersion": "virtplace/v1", "kind": "Observed", "hosts": [
      {"name": "h1", "capacity": {"vcpus": 8, "memoryMiB": 8192},
       "domains": [{"name": "web-1", "uuid": "4dea22b3-1d52-d8f3-2516-782e98ab3fa0", "state": "running", "vcpus": 1, "memoryMiB": 512}]},
      {"name": "h2", "capacity": {"vcpus": 8, "memoryMiB": 8192}}]}
    """

    @Test func hostileSnapshotsAreRefusedBeforePlanning() async throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        #expect(try await snapshotPlan(Self.snapshot, in: dir) == .success)
        let hostile = [
            Self.snapshot.replacingOccurrences(of: #"{"name": "h2", "capacity": {"vcpus": 8, "memoryMiB": 8192}"#,
                                               with: #"{"name": "h2", "capacity": {"vcpus": 8, "memoryMiB": -8192}"#),
            Self.snapshot.replacingOccurrences(of: #"{"name": "h2""#, with: #"{"name": "h1""#),
            Self.snapshot.replacingOccurrences(of: #""state": "running""#, with: #""state": "exploded""#),
            Self.snapshot.replacingOccurrences(of: #""memoryMiB": 512"#, with: #""memoryMiB": 9223372036854775807"#),
        ]
        for text in hostile {
            #expect(text != Self.snapshot)
            #expect(try await snapshotPlan(text, in: dir) == .failure, "\(text)")
        }
    }
}
