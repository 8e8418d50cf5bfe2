import Testing
@testable import Placement

/// What a test expects of one action.
struct Expect: Sendable, CustomStringConvertible {
    var instance: String
    var kind: ActionKind
    var from: String?
    var to: String?
    var wave: Int?
    var codes: [ReasonCode] = []
    var deferred = false

    var description: String { "\(kind.rawValue) \(instance) \(from ?? "-") → \(to ?? "-")" }
}

func expect(_ kind: ActionKind, _ instance: String, _ from: String?, _ to: String?, wave: Int? = nil,
            _ codes: ReasonCode..., deferred: Bool = false) -> Expect {
    Expect(instance: instance, kind: kind, from: from, to: to, wave: wave, codes: codes, deferred: deferred)
}

/// A placement scenario: desired × observed → expected actions.
struct Scenario: Sendable, CustomTestStringConvertible {
    let name: String
    let spec: PlacementSpec
    let observed: ObservedFleet
    let expected: [Expect]
    var notes: [ReasonCode] = []
    var testDescription: String { name }
}

/// Checks a plan against expectations: same number of actions, each expected one present.
func check(_ plan: Plan, _ expected: [Expect], sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(plan.actions.count == expected.count,
            "actions: \(plan.actions.map { "\($0.kind.rawValue) \($0.instance) \($0.from ?? "-")→\($0.to ?? "-") \($0.reasons.map(\.code.rawValue))" })",
            sourceLocation: sourceLocation)
    for e in expected {
        guard let a = plan.actions.first(where: { $0.instance == e.instance && $0.from == e.from }) else {
            Issue.record("missing: \(e)", sourceLocation: sourceLocation)
            continue
        }
        #expect(a.kind == e.kind, "\(e): kind \(a.kind) \(a.reasons)", sourceLocation: sourceLocation)
        #expect(a.to == e.to, "\(e): to \(a.to ?? "nil")", sourceLocation: sourceLocation)
        #expect(a.deferred == e.deferred, "\(e): deferred", sourceLocation: sourceLocation)
        if let w = e.wave { #expect(a.wave == w, "\(e): wave \(a.wave)", sourceLocation: sourceLocation) }
        for code in e.codes {
            #expect(a.reasons.contains { $0.code == code }, "\(e): no \(code.rawValue) in \(a.reasons)", sourceLocation: sourceLocation)
        }
    }
}

/// Four hosts: h1, h2 in fd-1; h3, h4 in fd-2.
func fourHosts(_ domains: [String: [ObservedDomain]] = [:], reachable: Set<String> = ["h1", "h2", "h3", "h4"]) -> ObservedFleet {
    ObservedFleet(hosts: [
        host("h1", fd: "fd-1", reachable: reachable.contains("h1"), domains: domains["h1"] ?? []),
        host("h2", fd: "fd-1", reachable: reachable.contains("h2"), domains: domains["h2"] ?? []),
        host("h3", fd: "fd-2", reachable: reachable.contains("h3"), domains: domains["h3"] ?? []),
        host("h4", fd: "fd-2", reachable: reachable.contains("h4"), domains: domains["h4"] ?? []),
    ])
}

func scenario(_ name: String, _ observed: ObservedFleet, states: [String: HostState] = [:],
              capacity: [String: CapacitySpec] = [:], policy: PolicySpec = PolicySpec(),
              _ instances: [String: InstanceSpec], _ expected: [Expect], notes: [ReasonCode] = []) -> Scenario {
    Scenario(name: name, spec: spec(observed, states: states, capacity: capacity, instances: instances, policy: policy),
             observed: observed, expected: expected, notes: notes)
}

let placementScenarios: [Scenario] = [
    scenario("a satisfied pinned instance stays",
             fourHosts(["h1": [dom("web-1")]]), ["web-1": InstanceSpec(host: "h1")], []),
    scenario("a pinned instance elsewhere moves live to its host",
             fourHosts(["h1": [dom("web-1")]]), ["web-1": InstanceSpec(host: "h3")],
             [expect(.live, "web-1", "h1", "h3", wave: 1, .placeHost)]),
    scenario("an unconstrained instance stays wherever it is",
             fourHosts(["h2": [dom("web-1")]]), ["web-1": InstanceSpec()], []),
    scenario("faultDomain picks the host there with the most free memory",
             fourHosts(["h1": [dom("web-1")], "h3": [dom("big", mem: 4096)]]), ["web-1": InstanceSpec(faultDomain: "fd-2")],
             [expect(.live, "web-1", "h1", "h4", .placeFaultDomain)]),
    scenario("faultDomain breaks ties by host name",
             fourHosts(["h1": [dom("web-1")]]), ["web-1": InstanceSpec(faultDomain: "fd-2")],
             [expect(.live, "web-1", "h1", "h3", .placeFaultDomain)]),
    scenario("an instance in its fault domain stays",
             fourHosts(["h4": [dom("web-1")]]), ["web-1": InstanceSpec(faultDomain: "fd-2")], []),
    scenario("spread: the second member of a fault domain moves to another",
             fourHosts(["h1": [dom("a-1")], "h2": [dom("a-2")]]),
             ["a-1": InstanceSpec(spread: "a"), "a-2": InstanceSpec(spread: "a")],
             [expect(.live, "a-2", "h2", "h3", .placeSpread)]),
    scenario("spread: members in distinct fault domains stay",
             fourHosts(["h1": [dom("a-1")], "h3": [dom("a-2")]]),
             ["a-1": InstanceSpec(spread: "a"), "a-2": InstanceSpec(spread: "a")], []),
    scenario("spread: a pinned member keeps its fault domain, the free one moves",
             fourHosts(["h1": [dom("a-1")], "h2": [dom("a-2")]]),
             ["a-1": InstanceSpec(spread: "a"), "a-2": InstanceSpec(host: "h2", spread: "a")],
             [expect(.live, "a-1", "h1", "h3", .placeSpread)]),
    scenario("a drained host is evacuated within its fault domain first",
             fourHosts(["h1": [dom("web-1")], "h2": [dom("big", mem: 8192)]]), states: ["h1": .drained],
             ["web-1": InstanceSpec()], [expect(.live, "web-1", "h1", "h2", .placeDrained)]),
    scenario("a drained host is evacuated elsewhere when its fault domain is full",
             fourHosts(["h1": [dom("web-1")]]), states: ["h1": .drained], capacity: ["h2": CapacitySpec(memoryMiB: 512)],
             ["web-1": InstanceSpec()], [expect(.live, "web-1", "h1", "h3", .placeDrained)]),
    scenario("a pinned instance leaves its drained host",
             fourHosts(["h1": [dom("web-1")]]), states: ["h1": .drained],
             ["web-1": InstanceSpec(host: "h1")], [expect(.live, "web-1", "h1", "h2", .placeDrained)]),
    scenario("an instance returns to its declared host when it is active again",
             fourHosts(["h3": [dom("web-1")]]), ["web-1": InstanceSpec(host: "h1")],
             [expect(.live, "web-1", "h3", "h1", .placeHost)]),
    scenario("an instance whose declared host is drained is held where it is",
             fourHosts(["h3": [dom("web-1")]]), states: ["h1": .drained],
             ["web-1": InstanceSpec(host: "h1")], [], notes: [.placeHeld]),
    scenario("an instance whose declared host is cordoned is held where it is",
             fourHosts(["h3": [dom("web-1")]]), states: ["h1": .cordoned],
             ["web-1": InstanceSpec(host: "h1")], [], notes: [.placeHeld]),
    scenario("a cordoned host takes nothing new",
             fourHosts(["h1": [dom("web-1")], "h4": [dom("x", mem: 2048)]]), states: ["h3": .cordoned],
             ["web-1": InstanceSpec(faultDomain: "fd-2")], [expect(.live, "web-1", "h1", "h4")]),
    scenario("a cordoned host keeps what it has",
             fourHosts(["h3": [dom("web-1")]]), states: ["h3": .cordoned], ["web-1": InstanceSpec()], []),
    scenario("memory is a hard limit",
             fourHosts(["h1": [dom("web-1", mem: 4096)]]),
             capacity: ["h3": CapacitySpec(memoryMiB: 1024), "h4": CapacitySpec(memoryMiB: 2048)],
             ["web-1": InstanceSpec(faultDomain: "fd-2")],
             [expect(.blocked, "web-1", "h1", nil, .placeFaultDomain, .placeNoHost, .targetMemory)]),
    scenario("vCPUs count against the overcommit ratio",
             fourHosts(["h1": [dom("web-1", vcpus: 2)], "h3": [dom("busy", vcpus: 7)], "h4": [dom("x", mem: 4096)]]),
             policy: policy { $0.cpuOvercommit = 1.0 },
             ["web-1": InstanceSpec(faultDomain: "fd-2")], [expect(.live, "web-1", "h1", "h4")]),
    scenario("the file's capacity overrides what the host reports",
             fourHosts(["h1": [dom("web-1", mem: 2048)]]), capacity: ["h3": CapacitySpec(memoryMiB: 1024)],
             ["web-1": InstanceSpec(faultDomain: "fd-2")], [expect(.live, "web-1", "h1", "h4")]),
    scenario("a move to an unreachable declared host is blocked",
             fourHosts(["h1": [dom("web-1")]], reachable: ["h1", "h2", "h4"]), ["web-1": InstanceSpec(host: "h3")],
             [expect(.blocked, "web-1", "h1", "h3", .placeHost, .targetUnreachable)]),
    scenario("nothing is placed on an unreachable host",
             fourHosts(["h1": [dom("web-1")]], reachable: ["h1", "h2", "h4"]), ["web-1": InstanceSpec(faultDomain: "fd-2")],
             [expect(.live, "web-1", "h1", "h4")]),
    scenario("an instance on no host is blocked as not found",
             fourHosts(), ["ghost": InstanceSpec(host: "h1")], [expect(.blocked, "ghost", nil, "h1", .instanceNotFound)]),
    scenario("an instance defined on two hosts is a conflict, never acted on",
             fourHosts(["h1": [dom("web-1")], "h2": [dom("web-1")]]), ["web-1": InstanceSpec(host: "h3")],
             [expect(.blocked, "web-1", nil, "h3", .instanceConflict)]),
    scenario("domains the file does not declare are never touched",
             fourHosts(["h1": [dom("stray")]]), states: ["h1": .drained], [:], []),
    scenario("another fleet's domain is blocked",
             fourHosts(["h1": [dom("web-1", fleet: "prod")]]), ["web-1": InstanceSpec(host: "h3")],
             [expect(.blocked, "web-1", "h1", nil, .domainOtherFleet)]),
    scenario("a shut-off instance moves cold",
             fourHosts(["h1": [dom("web-1", state: "shutoff")]]), ["web-1": InstanceSpec(host: "h3")],
             [expect(.cold, "web-1", "h1", "h3")]),
    scenario("moves that free room go first",
             fourHosts(["h1": [dom("y", mem: 8192)], "h2": [dom("x", mem: 8192)]]),
             capacity: ["h2": CapacitySpec(memoryMiB: 8192)],
             ["x": InstanceSpec(host: "h3"), "y": InstanceSpec(host: "h2")],
             [expect(.live, "x", "h2", "h3", wave: 1), expect(.live, "y", "h1", "h2", wave: 2)]),
    scenario("a move that counted on room from a blocked move is blocked too",
             fourHosts(["h1": [dom("a-y")], "h2": [dom("b-x")]], reachable: ["h1", "h2", "h4"]),
             capacity: ["h2": CapacitySpec(memoryMiB: 1024)],
             ["a-y": InstanceSpec(host: "h2"), "b-x": InstanceSpec(host: "h3")],
             [expect(.blocked, "a-y", "h1", "h2", .placeHost, .targetMemory),
              expect(.blocked, "b-x", "h2", "h3", .placeHost, .targetUnreachable)]),
    scenario("an update that grows an instance waits for a move to free room",
             fourHosts(["h1": [dom("a"), dom("b", mem: 1024)]]), capacity: ["h1": CapacitySpec(memoryMiB: 2048)],
             ["a": InstanceSpec(host: "h3"), "b": InstanceSpec(config: ConfigSpec(memoryMiB: 2048))],
             [expect(.live, "a", "h1", "h3", wave: 1), expect(.update, "b", "h1", "h1", wave: 2, .driftMemory)]),
    scenario("parallel.perHost splits moves off one host into waves",
             fourHosts(["h1": [dom("a"), dom("b"), dom("c")]]), states: ["h1": .drained],
             policy: policy { $0.parallel = ParallelSpec(total: 4, perHost: 2) },
             ["a": InstanceSpec(), "b": InstanceSpec(), "c": InstanceSpec()],
             [expect(.live, "a", "h1", "h2", wave: 1), expect(.live, "b", "h1", "h2", wave: 1),
              expect(.live, "c", "h1", "h2", wave: 2)]),
    scenario("parallel.total bounds a wave",
             fourHosts(["h1": [dom("a")], "h2": [dom("b")]]),
             policy: policy { $0.parallel = ParallelSpec(total: 1, perHost: 2) },
             ["a": InstanceSpec(host: "h3"), "b": InstanceSpec(host: "h4")],
             [expect(.live, "a", "h1", "h3", wave: 1), expect(.live, "b", "h2", "h4", wave: 2)]),
    scenario("maxMovesPerRun defers the moves beyond it; updates do not count",
             fourHosts(["h1": [dom("a"), dom("b"), dom("c", vcpus: 1)]]),
             policy: policy { $0.maxMovesPerRun = 1 },
             ["a": InstanceSpec(host: "h3"), "b": InstanceSpec(host: "h4"), "c": InstanceSpec(config: ConfigSpec(vcpus: 2))],
             [expect(.live, "a", "h1", "h3", wave: 1), expect(.live, "b", "h1", "h4", .orderDeferred, deferred: true),
              expect(.update, "c", "h1", "h1", wave: 1, .driftVcpus)]),
]

@Test("placement rules", arguments: placementScenarios)
func placementRule(_ s: Scenario) {
    let plan = makePlan(desired: s.spec, observed: s.observed)
    check(plan, s.expected)
    for code in s.notes {
        #expect(plan.notes.contains { $0.code == code }, "no note \(code.rawValue): \(plan.notes)")
    }
}

@Test func undeclaredDomainsAreListedAsUnmanaged() {
    let observed = fourHosts(["h1": [dom("stray"), dom("web-1")], "h3": [dom("other")]])
    let plan = makePlan(desired: spec(observed, instances: ["web-1": InstanceSpec()]), observed: observed)
    #expect(plan.unmanaged == [UnmanagedDomain(name: "other", host: "h3"), UnmanagedDomain(name: "stray", host: "h1")])
    #expect(plan.actions.isEmpty)
    #expect(plan.summary.unchanged == 1)
}

@Test func notFoundNamesUnreachableHosts() throws {
    let observed = fourHosts(reachable: ["h1", "h2", "h4"])
    let plan = makePlan(desired: spec(observed, instances: ["ghost": InstanceSpec()]), observed: observed)
    let reason = try #require(plan.action("ghost")?.reasons.first)
    #expect(reason == Reason(.instanceNotFound, "not found on any reachable host; unreachable: h3"))
}

@Test func aSwapBetweenFullHostsGoesThroughAThirdHost() throws {
    let observed = ObservedFleet(hosts: [
        host("h1", mem: 2048, domains: [dom("a", mem: 2048)]),
        host("h2", mem: 2048, domains: [dom("b", mem: 2048)]),
        host("h3", mem: 4096),
    ])
    let plan = makePlan(desired: spec(observed, instances: ["a": InstanceSpec(host: "h2"), "b": InstanceSpec(host: "h1")]),
                        observed: observed)
    let summary = plan.actions.map { "\($0.wave) \($0.kind.rawValue) \($0.instance) \($0.from ?? "-")→\($0.to ?? "-")" }
    #expect(summary == ["1 live b h2→h3", "2 live a h1→h2", "3 live b h3→h1"])
    #expect(plan.actions.allSatisfy { $0.reasons.contains { $0.code == .orderRelay } || $0.instance == "a" })
    let after = simulate(plan, on: observed)
    #expect(makePlan(desired: spec(observed, instances: ["a": InstanceSpec(host: "h2"), "b": InstanceSpec(host: "h1")]),
                     observed: after).actions.isEmpty)
}

@Test func aSwapWithoutRoomAnywhereIsUnorderable() throws {
    let observed = ObservedFleet(hosts: [
        host("h1", mem: 2048, domains: [dom("a", mem: 2048)]),
        host("h2", mem: 2048, domains: [dom("b", mem: 2048)]),
    ])
    let plan = makePlan(desired: spec(observed, instances: ["a": InstanceSpec(host: "h2"), "b": InstanceSpec(host: "h1")]),
                        observed: observed)
    #expect(plan.actions.map(\.kind) == [.blocked, .blocked])
    #expect(plan.actions.allSatisfy { a in a.reasons.contains { $0.code == .orderUnorderable } })
    #expect(plan.summary.blocked == 2)
}
