import Foundation
import Testing
@testable import Placement
import YAMLDecoding

/// Saved plans are input from outside: the strict reader, its bounds, and the content digest
/// (hostile-input suite, issue 12).
@Suite struct PlanFileTests {
    static let uuid1 = "4dea22b3-1d52-d8f3-2516-782e98ab3fa0"

    /// A plan with every kind of step a reader must check: a reboot move (shutdown with a
    /// timeout, metadata with tags), a live move with a fallback, an update.
    static func samplePlan() -> Plan {
        let hosts = [PlanHost(name: "h1", uri: "qemu+tcp://10.0.0.1/system", faultDomain: "fd-1"),
                     PlanHost(name: "h2", uri: "qemu+ssh://admin@10.0.0.2/system?keyfile=/root/.ssh/id", faultDomain: nil)]
        let live = LiveMigration(from: "h1", to: "h2", maxDowntimeMs: 300, bandwidthMiBps: 0, timeoutSeconds: 600,
                                 onTimeout: .abort, autoConverge: false, copyDisks: ["vda"], sharedPools: ["shared"])
        let actions = [
            Action(instance: "db-1", kind: .reboot, from: "h1", to: "h2", reasons: [Reason(.placeHost, "declared on h2")],
                   steps: [.record(host: "h1"), .shutdown(host: "h1", timeoutSeconds: 120, forceOff: false),
                           .defineOnTarget(host: "h2", from: "h1"), .undefineSource(host: "h1"), .start(host: "h2"),
                           .setMetadata(host: "h2", fleet: "lab", tags: ["tier": "db"])], wave: 1, id: 1),
            Action(instance: "web-1", kind: .live, from: "h1", to: "h2", reasons: [Reason(.placeHost, "declared on h2")],
                   steps: [.record(host: "h1"), .migrateLive(live)], wave: 2,
                   fallback: Fallback(kind: .reboot, steps: [.shutdown(host: "h1", timeoutSeconds: 60, forceOff: true)]),
                   id: 2, dependsOn: [1]),
            Action(instance: "app-1", kind: .update, from: "h2", to: "h2", reasons: [Reason(.driftVcpus, "vCPUs 1 → 2")],
                   steps: [.setVcpus(host: "h2", count: 2, applies: .restart),
                           .attachNIC(host: "h2", nic: NICAttachment(key: "eth1", network: "lan", bridge: nil, mac: "52:54:00:12:34:56", model: "virtio"), applies: .live)],
                   wave: 1, id: 3),
            Action(instance: "ghost", kind: .blocked, from: nil, to: "h1", reasons: [Reason(.instanceNotFound, "not found")], id: 4),
        ]
        var summary = Summary()
        summary.reboot = 1; summary.live = 1; summary.update = 1; summary.blocked = 1; summary.instances = 5; summary.unchanged = 1
        summary.waves = 2
        let basis = Basis(digest: String(repeating: "a", count: 64),
                          hosts: [HostBasis(name: "h1", reachable: true, domains: 1, digest: String(repeating: "b", count: 64)),
                                  HostBasis(name: "h2", reachable: true, domains: 0, digest: String(repeating: "c", count: 64))],
                          domains: [DomainBasis(name: "db-1", host: "h1", uuid: uuid1, state: "running", xmlDigest: String(repeating: "d", count: 64))])
        let plan = Plan(fleet: "lab", basis: basis, actions: actions, summary: summary,
                        notes: [Note(instance: "db-1", code: .noteExtraDevice, message: "NIC kept")],
                        unmanaged: [UnmanagedDomain(name: "stray vm", host: "h1")], hosts: hosts)
        return plan.sealed(desired: PlacementSpec(metadata: MetadataSpec(name: "lab")))
    }

    static func bytes(_ plan: Plan) throws -> [UInt8] { Array(try encodePlan(plan)) }

    /// The sample as a JSON object, edited, written back.
    static func edited(_ edit: (inout [String: Any]) throws -> Void) throws -> [UInt8] {
        var object = try #require(try JSONSerialization.jsonObject(with: try encodePlan(samplePlan())) as? [String: Any])
        try edit(&object)
        return Array(try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys]))
    }

    /// An edit made by someone who also recomputes the digest (a forger): only the other checks
    /// can refuse it.
    static func forged(_ edit: (inout Plan) -> Void) throws -> [UInt8] {
        var plan = samplePlan()
        edit(&plan)
        return try bytes(plan.sealed(desired: nil))
    }

    func read(_ bytes: [UInt8], allowTestDriver: Bool = false) -> PlanFileResult {
        readPlanFile(bytes, file: "plan.json", allowTestDriver: allowTestDriver)
    }

    /// Refused, with an error at `path` whose message contains `message`, located in the file.
    func expectRefused(_ bytes: [UInt8], at path: String, _ message: String, allowTestDriver: Bool = false,
                       sourceLocation: SourceLocation = #_sourceLocation) {
        let result = read(bytes, allowTestDriver: allowTestDriver)
        #expect(result.plan == nil, sourceLocation: sourceLocation)
        let hit = result.diagnostics.first { $0.path == path && $0.message.contains(message) }
        #expect(hit != nil, "no '\(message)' at \(path) in:\n\(result.diagnostics.map(\.formatted).joined(separator: "\n"))",
                sourceLocation: sourceLocation)
        if let hit { #expect(hit.line > 0 && hit.column > 0 && hit.severity == .error, sourceLocation: sourceLocation) }
    }

    // MARK: - Sound plans

    @Test func aSealedPlanReadsBackUnchanged() throws {
        let plan = Self.samplePlan()
        #expect(plan.contentDigest.count == 64 && plan.desiredDigest.count == 64)
        let result = read(try Self.bytes(plan))
        #expect(result.diagnostics.isEmpty, "\(result.diagnostics.map(\.formatted))")
        #expect(result.plan == plan)
    }

    @Test func thePlannersOwnPlansReadBack() throws {
        let (desired, observed) = showcase()
        let plan = makePlan(desired: desired, observed: observed).sealed(desired: desired)
        let result = read(try Self.bytes(plan))
        #expect(result.diagnostics.isEmpty, "\(result.diagnostics.map(\.formatted))")
        #expect(result.plan == plan)
        #expect(plan.desiredDigest == desiredStateDigest(desired))
    }

    // MARK: - Edited plans: refused by the digest

    static let edits = ["a tag", "a step", "a step removed", "a wave", "a timeout", "a host URI", "a blocked action unblocked"]

    /// The sample plan's JSON with one edit, of the kind named.
    static func edit(_ what: String, _ o: inout [String: Any]) throws {
        var actions = try #require(o["actions"] as? [[String: Any]])
        var steps = try #require(actions[0]["steps"] as? [[String: Any]])
        switch what {
        case "a tag": steps[5]["tags"] = ["tier": "web"]
        case "a step": steps[1]["forceOff"] = true
        case "a step removed": steps.remove(at: 0)
        case "a wave": actions[1]["wave"] = 1
        case "a timeout": steps[1]["timeoutSeconds"] = 5
        case "a host URI":
            var hosts = try #require(o["hosts"] as? [[String: Any]])
            hosts[0]["uri"] = "qemu+tcp://10.9.9.9/system"
            o["hosts"] = hosts
        case "a blocked action unblocked": actions[3]["kind"] = "update"
        default: Issue.record("no edit '\(what)'")
        }
        actions[0]["steps"] = steps
        o["actions"] = actions
    }

    @Test(arguments: edits)
    func anEditedPlanIsRefused(_ what: String) throws {
        let bytes = try Self.edited { try Self.edit(what, &$0) }
        expectRefused(bytes, at: "contentDigest", "the plan was edited after it was saved")
    }

    @Test func aDuplicatedActionIsRefusedTwice() throws {
        let bytes = try Self.edited { o in
            var actions = o["actions"] as! [[String: Any]]
            actions.append(actions[0]); o["actions"] = actions
        }
        expectRefused(bytes, at: "contentDigest", "edited")
        expectRefused(bytes, at: "actions[4].instance", "instance 'db-1' has two actions (also actions[0])")
    }

    @Test func aPlanWithoutDigestIsRefused() throws {
        expectRefused(try Self.edited { $0["contentDigest"] = "" }, at: "contentDigest", "no content digest")
        expectRefused(try Self.edited { $0["contentDigest"] = nil }, at: "", "missing required key 'contentDigest'")
        expectRefused(try Self.edited { $0["contentDigest"] = "XYZ" }, at: "contentDigest", "expected a SHA-256 digest")
    }

    // MARK: - Forged plans (digest recomputed): refused by the other checks

    @Test func forbiddenURIsAreRefusedBeforeAnyConnection() throws {
        let command = try Self.forged { $0.hosts[0].uri = "qemu+ssh://h/system?command=/tmp/marker-script" }
        expectRefused(command, at: "hosts[0].uri", "refused")
        let ext = try Self.forged { $0.hosts[1].uri = "qemu+ext:///system?command=/bin/sh" }
        expectRefused(ext, at: "hosts[1].uri", "refused")
        let test = try Self.forged { $0.hosts[0].uri = "test:///etc/shadow" }
        expectRefused(test, at: "hosts[0].uri", "test driver")
        // The test driver passes only when the environment allows it.
        #expect(read(try Self.forged { $0.hosts[0].uri = "test:///default" }, allowTestDriver: true).plan != nil)
    }

    @Test func numbersOutOfBoundsAreRefused() throws {
        expectRefused(try Self.forged { $0.actions[0].steps[1] = .shutdown(host: "h1", timeoutSeconds: -1, forceOff: false) },
                      at: "actions[0].steps[1].timeoutSeconds", "-1 is out of range")
        expectRefused(try Self.forged { $0.actions[0].steps[1] = .shutdown(host: "h1", timeoutSeconds: Int.max, forceOff: false) },
                      at: "actions[0].steps[1].timeoutSeconds", "out of range")
        expectRefused(try Self.forged { $0.actions[2].steps[0] = .setVcpus(host: "h2", count: 1_000_000, applies: .live) },
                      at: "actions[2].steps[0].count", "out of range")
        expectRefused(try Self.forged { $0.actions[2].steps[0] = .setMemory(host: "h2", memoryMiB: 0, applies: .live) },
                      at: "actions[2].steps[0].memoryMiB", "out of range")
        expectRefused(try Self.forged { $0.actions[0].wave = -3 }, at: "actions[0].wave", "out of range")
        expectRefused(try Self.forged { $0.actions[0].wave = 999 }, at: "actions[0].wave", "past the number of actions")
        expectRefused(try Self.forged { $0.parallel.total = 0 }, at: "parallel.total", "out of range")
        expectRefused(try Self.forged { $0.summary.live = -1 }, at: "summary.live", "out of range")
    }

    /// Dependencies: ids that exist, once each, of run actions in earlier waves (no cycle);
    /// an action's id is its position. Each refusal is located.
    @Test func dependenciesAreCheckedAndSealed() throws {
        // The sample's web-1 (#2, wave 2) waits on db-1 (#1, wave 1): sound, and read back.
        #expect(read(try Self.bytes(Self.samplePlan())).plan?.actions[1].dependsOn == [1])
        expectRefused(try Self.forged { $0.actions[1].dependsOn = [9] }, at: "actions[1].dependsOn[0]", "unknown action id 9")
        expectRefused(try Self.forged { $0.actions[1].dependsOn = [0] }, at: "actions[1].dependsOn[0]", "unknown action id 0")
        expectRefused(try Self.forged { $0.actions[1].dependsOn = [1, 1] }, at: "actions[1].dependsOn[1]", "listed twice")
        expectRefused(try Self.forged { $0.actions[1].dependsOn = [2] }, at: "actions[1].dependsOn[0]", "never form a cycle")
        // A cycle: db-1 (wave 1) waits on web-1 (wave 2), which waits on db-1.
        expectRefused(try Self.forged { $0.actions[0].dependsOn = [2] }, at: "actions[0].dependsOn[0]", "not before this action's wave 1")
        expectRefused(try Self.forged { $0.actions[1].dependsOn = [4] }, at: "actions[1].dependsOn[0]", "is not run by this plan")
        expectRefused(try Self.forged { $0.actions[3].dependsOn = [1] }, at: "actions[3].dependsOn", "a blocked action waits on nothing")
        expectRefused(try Self.forged { $0.actions[2].id = 7 }, at: "actions[2].id", "expected 3")
        expectRefused(try Self.forged { $0.actions[1].dependsOn = Array(1...(InputBounds.maxDomains + 1)) },
                      at: "actions[1].dependsOn", "at most \(InputBounds.maxDomains)")
        // Sealed: dropping a dependency without the digest is an edit.
        expectRefused(try Self.edited { object in
            var actions = try #require(object["actions"] as? [[String: Any]])
            actions[1]["dependsOn"] = [Int]()
            object["actions"] = actions
        }, at: "contentDigest", "edited after it was saved")
        expectRefused(try Self.edited { object in
            var actions = try #require(object["actions"] as? [[String: Any]])
            actions[1]["dependsOn"] = nil
            object["actions"] = actions
        }, at: "actions[1]", "missing required key 'dependsOn'")
        expectRefused(try Self.forged { $0.parallel.perHostIn = 0 }, at: "parallel.perHostIn", "out of range")
    }

    @Test func collectionsOutOfBoundsAreRefused() throws {
        expectRefused(try Self.forged { $0.actions[0].steps += Array(repeating: .start(host: "h2"), count: InputBounds.maxSteps) },
                      at: "actions[0].steps", "at most \(InputBounds.maxSteps)")
        let tags = Dictionary(uniqueKeysWithValues: (0...InputBounds.maxTags).map { ("t\($0)", "v") })
        expectRefused(try Self.forged { $0.actions[0].steps[5] = .setMetadata(host: "h2", fleet: "lab", tags: tags) },
                      at: "actions[0].steps[5].tags", "at most \(InputBounds.maxTags)")
        expectRefused(try Self.forged { $0.actions[0].reasons[0].message = String(repeating: "x", count: InputBounds.maxTextBytes + 1) },
                      at: "actions[0].reasons[0].message", "longer than")
    }

    @Test func duplicatesAndUnknownHostsAreRefused() throws {
        expectRefused(try Self.forged { $0.hosts.append($0.hosts[0]) }, at: "hosts[2].name", "host 'h1' is listed twice")
        expectRefused(try Self.forged { $0.actions[1].instance = "db-1" }, at: "actions[1].instance", "has two actions")
        expectRefused(try Self.forged { $0.actions[0].steps[4] = .start(host: "h9") }, at: "actions[0].steps[4].host", "unknown host 'h9'")
        expectRefused(try Self.forged { $0.actions[0].to = "elsewhere" }, at: "actions[0].to", "unknown host")
        expectRefused(try Self.forged { $0.hosts = [] }, at: "hosts", "names no hosts")
    }

    @Test func badNamesAreRefused() throws {
        expectRefused(try Self.forged { $0.actions[0].instance = "../etc" }, at: "actions[0].instance", "invalid instance name")
        expectRefused(try Self.forged { $0.actions[0].instance = "-rf" }, at: "actions[0].instance", "invalid instance name")
        expectRefused(try Self.forged { $0.hosts[0].name = "" }, at: "hosts[0].name", "invalid host name")
        expectRefused(try Self.forged { $0.actions[0].steps[5] = .setMetadata(host: "h2", fleet: "lab", tags: ["a\u{1B}[2J": "x"]) },
                      at: "actions[0].steps[5].tags.a\u{1B}[2J", "invalid tag key")
        expectRefused(try Self.forged { $0.actions[0].steps[5] = .setMetadata(host: "h2", fleet: "other", tags: [:]) },
                      at: "actions[0].steps[5].fleet", "not the plan's fleet")
        expectRefused(try Self.forged { $0.actions[2].steps[1] = .attachNIC(host: "h2", nic: NICAttachment(key: "eth1", network: "../x", bridge: nil, mac: "01:00:00:00:00:01", model: nil), applies: .live) },
                      at: "actions[2].steps[1].network", "contains '/'")
        expectRefused(try Self.forged { $0.actions[2].steps[1] = .attachNIC(host: "h2", nic: NICAttachment(key: "eth1", network: "lan", bridge: nil, mac: "01:00:00:00:00:01", model: nil), applies: .live) },
                      at: "actions[2].steps[1].mac", "invalid MAC address")
        expectRefused(try Self.forged { $0.actions[3].steps = [.start(host: "h1")] }, at: "actions[3]", "a blocked action has no wave and no steps")
    }

    @Test func theSchemaIsStrict() throws {
        // Unknown keys stay unknown even when the digest (over what was understood) matches.
        expectRefused(try Self.edited { $0["extra"] = 1 }, at: "extra", "unknown key 'extra'")
        expectRefused(try Self.edited { o in
            var actions = o["actions"] as! [[String: Any]]; var steps = actions[0]["steps"] as! [[String: Any]]
            steps[0]["pool"] = "x"; actions[0]["steps"] = steps; o["actions"] = actions
        }, at: "actions[0].steps[0].pool", "unknown key 'pool'")
        expectRefused(try Self.edited { o in
            var actions = o["actions"] as! [[String: Any]]; actions[0]["wave"] = "1"; o["actions"] = actions
        }, at: "actions[0].wave", "expected an integer")
        expectRefused(try Self.edited { o in
            var actions = o["actions"] as! [[String: Any]]; actions[0]["fallback"] = nil; o["actions"] = actions
        }, at: "actions[0]", "missing required key 'fallback'")
        expectRefused(try Self.edited { o in
            var actions = o["actions"] as! [[String: Any]]; var steps = actions[0]["steps"] as! [[String: Any]]
            steps[0]["op"] = "runCommand"; actions[0]["steps"] = steps; o["actions"] = actions
        }, at: "actions[0].steps[0].op", "unknown step op")
        expectRefused(try Self.edited { $0["kind"] = "Placement" }, at: "kind", "unsupported kind")
        // Not JSON at all, two documents, nothing.
        #expect(read(Array("[1, 2".utf8)).plan == nil)
        #expect(read(Array("{}\n---\n{}\n".utf8)).plan == nil)
        #expect(read([]).plan == nil)
    }

    @Test func theDesiredDigestIgnoresFormattingNotValues() throws {
        let a = loadPlacement([PlacementSource(name: "a.yaml", bytes: Array("""
            apiVersion: virtplace/v1
            kind: Placement
            metadata: {name: lab}
            hosts: {h1: {uri: "qemu+tcp://10.0.0.1/system"}, h2: {uri: "qemu+tcp://10.0.0.2/system"}}
            instances: {web-1: {host: h1, config: {tags: {a: "1", b: "2"}}}}
            """.utf8))])
        let b = loadPlacement([PlacementSource(name: "b.json", bytes: Array("""
            {"kind": "Placement", "apiVersion": "virtplace/v1", "metadata": {"name": "lab"},
             "instances": {"web-1": {"config": {"tags": {"b": "2", "a": "1"}}, "host": "h1"}},
             "hosts": {"h2": {"uri": "qemu+tcp://10.0.0.2/system"}, "h1": {"uri": "qemu+tcp://10.0.0.1/system"}}}
            """.utf8))])
        let specA = try #require(a.spec), specB = try #require(b.spec)
        #expect(desiredStateDigest(specA) == desiredStateDigest(specB))
        var changed = specA
        changed.instances["web-1"]?.config.tags = ["a": "1", "b": "3"]
        #expect(desiredStateDigest(changed) != desiredStateDigest(specA))
        changed = specA
        changed.policy.moves.append(.manual)
        #expect(desiredStateDigest(changed) != desiredStateDigest(specA))
    }
}
