import Foundation
import Testing
@testable import Placement

/// A small fleet with one of every common action, for the golden renders.
func showcase() -> (PlacementSpec, ObservedFleet) {
    let observed = ObservedFleet(hosts: [
        host("host1", fd: "fd-1", cpuModel: "Skylake", domains: [
            dom("web-1", vcpus: 2, mem: 2048),
            dom("db-1", vcpus: 4, mem: 4096, hostdevs: [ObservedHostdev(type: "pci", address: "0000:03:00.0")]),
            dom("stray"),
        ]),
        host("host2", fd: "fd-1", cpuModel: "Skylake", domains: [
            dom("legacy-1", disks: [localDisk("legacy-1", boot: 1)], snapshots: 2),
            dom("web-2", vcpus: 1, maxVcpus: 4),
            dom("batch-1", state: "shutoff"),
        ]),
        host("host3", fd: "fd-2", cpuModel: "Skylake", domains: [
            dom("gpu-1", hostdevs: [ObservedHostdev(type: "pci", address: "0000:81:00.0")]),
            dom("cache-1"), dom("cache-2"),
        ]),
        host("host4", fd: "fd-2", cpuModel: "Skylake", domains: [dom("archive-1", state: "shutoff")]),
    ])
    let instances: [String: InstanceSpec] = [
        "web-1": InstanceSpec(host: "host2", spread: "web"),
        "web-2": InstanceSpec(config: ConfigSpec(vcpus: 2)),
        "db-1": InstanceSpec(faultDomain: "fd-2"),
        "legacy-1": InstanceSpec(host: "host3", moves: [.live, .reboot, .cold, .manual]),
        "batch-1": InstanceSpec(state: .running),
        "gpu-1": InstanceSpec(host: "host4", moves: [.live]),
        "cache-1": InstanceSpec(faultDomain: "fd-2"),
        "cache-2": InstanceSpec(faultDomain: "fd-2"),
        "archive-1": InstanceSpec(host: "host1"),
        "ghost": InstanceSpec(host: "host1"),
    ]
    return (spec(observed, instances: instances), observed)
}

/// Compares `text` with a golden file; `VIRTPLACE_UPDATE_GOLDEN=1` rewrites the file instead.
func golden(_ name: String, _ text: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
    let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/\(name)")
    if ProcessInfo.processInfo.environment["VIRTPLACE_UPDATE_GOLDEN"] == "1" {
        try text.write(to: url, atomically: false, encoding: .utf8)
        return
    }
    let expected = try String(contentsOf: url, encoding: .utf8)
    #expect(text == expected, "\(name) differs; rerun with VIRTPLACE_UPDATE_GOLDEN=1 to accept:\n\(text)", sourceLocation: sourceLocation)
}

struct GoldenCase: Sendable, CustomTestStringConvertible {
    let file: String
    let format: PlanFormat
    let color: Bool
    let verbose: Bool
    var testDescription: String { file }
}

let goldenCases: [GoldenCase] = [
    GoldenCase(file: "plan.txt", format: .text, color: false, verbose: false),
    GoldenCase(file: "plan-color.txt", format: .text, color: true, verbose: false),
    GoldenCase(file: "plan-verbose.txt", format: .text, color: false, verbose: true),
    GoldenCase(file: "plan.json", format: .json, color: false, verbose: false),
    GoldenCase(file: "plan.md", format: .markdown, color: false, verbose: false),
    GoldenCase(file: "plan-verbose.md", format: .markdown, color: false, verbose: true),
]

@Test("golden renders", arguments: goldenCases)
func goldenRender(_ c: GoldenCase) throws {
    let (desired, observed) = showcase()
    let plan = makePlan(desired: desired, observed: observed).sealed(desired: desired)
    try golden(c.file, render(plan, format: c.format, color: c.color, verbose: c.verbose))
}

@Test func theShowcaseHasOneOfEach() {
    let (desired, observed) = showcase()
    let plan = makePlan(desired: desired, observed: observed)
    #expect(summaryLine(plan) == "Plan: 1 live, 1 reboot, 1 cold, 1 manual, 1 update, 1 start, 2 blocked; 2 unchanged.")
}

@Test("empty plans", arguments: [PlanFormat.text, .markdown])
func emptyPlan(_ format: PlanFormat) throws {
    let observed = fourHosts(["h1": [dom("web-1")], "h3": [dom("web-2")]])
    let plan = makePlan(desired: spec(observed, instances: ["web-1": InstanceSpec(), "web-2": InstanceSpec(host: "h3")]),
                        observed: observed)
    #expect(plan.isEmpty)
    try golden("empty.\(format == .text ? "txt" : "md")", render(plan, format: format, color: true, verbose: false))
}

@Test func summaryLineWording() {
    var plan = Plan(fleet: "lab", basis: Basis(digest: "", hosts: [], domains: []), actions: [], summary: Summary())
    plan.summary.unchanged = 1
    #expect(summaryLine(plan) == "No changes. 1 instance unchanged.")
    plan.summary = Summary()
    plan.summary.live = 2; plan.summary.reboot = 1; plan.summary.manual = 1; plan.summary.update = 1
    plan.summary.blocked = 1; plan.summary.unchanged = 7
    #expect(summaryLine(plan) == "Plan: 2 live, 1 reboot, 1 manual, 1 update, 1 blocked; 7 unchanged.")
    plan.summary.deferred = 3
    #expect(summaryLine(plan) == "Plan: 2 live, 1 reboot, 1 manual, 1 update, 1 blocked, 3 deferred; 7 unchanged.")
}

@Test func colourOnlyWhenAsked() {
    let (desired, observed) = showcase()
    let plan = makePlan(desired: desired, observed: observed)
    #expect(!render(plan, format: .text, color: false, verbose: true).contains("\u{1B}"))
    #expect(render(plan, format: .text, color: true, verbose: false).contains("\u{1B}[32mlive\u{1B}[0m"))
    #expect(!render(plan, format: .markdown, color: true, verbose: true).contains("\u{1B}"))
}

@Test func planJSONRoundTripsAndHasTheContractKeys() throws {
    let (desired, observed) = showcase()
    let plan = makePlan(desired: desired, observed: observed).sealed(desired: desired)
    let data = try encodePlan(plan)
    #expect(try decodePlan(data) == plan)
    let object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    #expect(object["apiVersion"] as? String == "virtplace/v1")
    #expect(object["kind"] as? String == "Plan")
    for key in ["fleet", "basis", "actions", "summary", "contentDigest", "desiredDigest"] { #expect(object[key] != nil, "\(key)") }
    let actions = try #require(object["actions"] as? [[String: Any]])
    for a in actions {
        for key in ["instance", "kind", "from", "to", "reasons", "steps", "wave"] { #expect(a[key] != nil, "\(key)") }
    }
}

@Test func aSavedPlanCarriesItsHostsAndLimits() throws {
    let (desired, observed) = showcase()
    let plan = makePlan(desired: desired, observed: observed)
    #expect(plan.hosts.map(\.name) == desired.hosts.keys.sorted())
    for h in plan.hosts {
        #expect(h.uri == desired.hosts[h.name]?.uri)
        #expect(h.faultDomain == desired.hosts[h.name]?.faultDomain)
    }
    #expect(plan.parallel == desired.policy.parallel)
    // A plan written before hosts, limits and digests existed is refused: it cannot be checked.
    var object = try #require(try JSONSerialization.jsonObject(with: try encodePlan(plan.sealed(desired: desired))) as? [String: Any])
    object["hosts"] = nil
    object["parallel"] = nil
    object["contentDigest"] = nil
    object["desiredDigest"] = nil
    #expect(throws: (any Error).self) { try decodePlan(try JSONSerialization.data(withJSONObject: object)) }
}

@Test func markdownEscapesTableCells() {
    let action = Action(instance: "a|b", kind: .blocked, from: "h1", to: nil,
                        reasons: [Reason(.instanceNotFound, "x | <y>")])
    var summary = Summary()
    summary.blocked = 1
    let plan = Plan(fleet: "lab", basis: Basis(digest: "", hosts: [], domains: []), actions: [action], summary: summary)
    let md = render(plan, format: .markdown, color: false, verbose: false)
    #expect(md.contains("`a\\|b`"))
    #expect(md.contains("x \\| &lt;y&gt;"))
}
