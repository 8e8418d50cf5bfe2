import Testing
@testable import Placement

func stalenessFleet(webState: String = "running", h3Reachable: Bool = true, extra: [ObservedDomain] = [],
                    webOn: String = "h1", xml: String = "xml-web-1") -> ObservedFleet {
    var web = dom("web-1", state: webState)
    web.xmlDigest = xml
    return ObservedFleet(hosts: [
        host("h1", domains: (webOn == "h1" ? [web] : []) + [dom("db-1")]),
        host("h2", domains: (webOn == "h2" ? [web] : []) + extra),
        host("h3", reachable: h3Reachable, domains: [dom("cache-1")]),
    ])
}

func stalenessPlan() -> Plan {
    let observed = stalenessFleet()
    return makePlan(desired: spec(observed, instances: ["web-1": InstanceSpec(host: "h2"), "db-1": InstanceSpec()]), observed: observed)
}

@Test func theBasisListsHostsAndInvolvedDomains() throws {
    let plan = stalenessPlan()
    #expect(plan.basis.hosts.map(\.name) == ["h1", "h2", "h3"])
    #expect(plan.basis.hosts.map(\.domains) == [1, 0, 1])
    #expect(plan.basis.domains == [DomainBasis(name: "web-1", host: "h1", uuid: "uuid-web-1", state: "running", xmlDigest: "xml-web-1")])
    #expect(plan.basis.digest.count == 64)
}

@Test func theBasisIgnoresObservationOrder() {
    let a = stalenessFleet(extra: [dom("x"), dom("y")])
    var b = a
    b.hosts.reverse()
    for i in b.hosts.indices { b.hosts[i].domains.reverse() }
    #expect(Basis(observed: a, involving: ["web-1"]) == Basis(observed: b, involving: ["web-1"]))
}

struct StaleCase: Sendable, CustomTestStringConvertible {
    let name: String
    let now: ObservedFleet
    let changes: [String]
    var testDescription: String { name }
}

@Test("staleness", arguments: [
    StaleCase(name: "nothing changed", now: stalenessFleet(), changes: []),
    StaleCase(name: "state changed", now: stalenessFleet(webState: "shutoff"), changes: ["web-1: state running → shutoff on h1"]),
    StaleCase(name: "definition changed", now: stalenessFleet(xml: "other"), changes: ["web-1: definition changed on h1"]),
    StaleCase(name: "moved", now: stalenessFleet(webOn: "h2"), changes: ["web-1: now on h2 (was h1)"]),
    StaleCase(name: "gone", now: stalenessFleet(webOn: "none"), changes: ["web-1: no longer found (was on h1)"]),
    StaleCase(name: "host unreachable", now: stalenessFleet(h3Reachable: false), changes: ["h3: became unreachable"]),
    StaleCase(name: "a new domain on a target", now: stalenessFleet(extra: [dom("new", mem: 4096)]),
              changes: ["h2: other domains, capacity, pools or networks changed (+1 domains)"]),
    StaleCase(name: "an uninvolved domain changed state only", now: {
        var f = stalenessFleet()
        f.hosts[0].domains[1].state = "shutoff"
        return f
    }(), changes: []),
])
func staleness(_ c: StaleCase) {
    #expect(staleness(of: stalenessPlan(), against: c.now) == c.changes)
}

@Test func aChangedDigestIsNeverReportedAsFresh() {
    var plan = stalenessPlan()
    plan.basis.digest = String(repeating: "0", count: 64)
    let changes = staleness(of: plan, against: stalenessFleet())
    #expect(changes.count == 1)
    #expect(changes.first?.hasPrefix("the observed fleet differs") == true)
}
