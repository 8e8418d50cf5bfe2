import Testing
@testable import Placement

func sha256Hex(_ bytes: [UInt8]) -> String {
    var sha = SHA256()
    bytes.withUnsafeBufferPointer { sha.update(bytes: $0) }
    return sha.hexDigest()
}

@Test("SHA-256 known answers", arguments: [
    ("", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
    ("abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
    ("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"),
])
func sha256KnownAnswers(_ input: String, _ digest: String) {
    #expect(sha256Hex(Array(input.utf8)) == digest)
    var streamed = SHA256()
    for c in input { streamed.update(String(c)) }
    #expect(streamed.hexDigest() == digest)
}

/// Lengths around the padding boundaries; bytes `(i*7+3) % 256`; digests from Python's hashlib.
@Test("SHA-256 block boundaries", arguments: [
    (55, "e7313d333c272e639f790978283f9eb392e843d0f29b7016828bb1daa4aac70b"),
    (56, "4324d65f3c103567f5589c710bc08f8523f929a9272e3af36fc968e52abc6c27"),
    (63, "81c80242132f230c3bd41b3e63bbcff16107339549214a99614ff26664625055"),
    (64, "39e3d7b6b5d075d37d053ad89b24b41bef4f3c29760c84447cab3f3be1882241"),
    (65, "aacca6ff74fdbb296d165a45cecfa04e5127bc008770fbbdd48006f2d2fae95e"),
    (119, "9ce7368e4daf32341631b492e80359dc9f594b48453cd0dd5bf0b19279cc177e"),
    (120, "7836b787757e95e58b3ca5aec90b1b004e8deba1e50e9675af9cabf1a13a04b5"),
    (1000, "1e9bc38cbf860b9ec31918b065f9b52476c549a782e0e7990bed8ce3868d2371"),
])
func sha256Boundaries(_ length: Int, _ digest: String) {
    #expect(sha256Hex((0..<length).map { UInt8(($0 * 7 + 3) % 256) }) == digest)
}

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
