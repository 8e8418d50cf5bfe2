import Testing
@testable import Placement

/// The plan's dependencies (`Action.dependsOn`): computed where the planner knows capacity,
/// relays and instance order; only as many as its room accounting counts on (issues 13, 14).
@Suite struct DependencyTests {
    /// `a` on h1 moves to h2 and `b` on h2 moves to h1; with one move per host at a time they
    /// are in different waves. `h1Memory` decides whether h1 has room for `b` before `a` leaves.
    static func crossing(h1Memory: Int) -> Plan {
        let fleet = ObservedFleet(hosts: [
            host("h1", mem: h1Memory, domains: [dom("a", mem: 1024)]),
            host("h2", mem: 4096, domains: [dom("b", state: "shutoff", mem: 1024)]),
        ])
        let desired = spec(fleet, instances: ["a": InstanceSpec(host: "h2"), "b": InstanceSpec(host: "h1")],
                           policy: policy { $0.parallel = ParallelSpec(total: 4, perHost: 1) })
        return makePlan(desired: desired, observed: fleet)
    }

    @Test func aMoveOntoAHostWithRoomWaitsOnNothing() throws {
        let plan = Self.crossing(h1Memory: 4096)
        let a = try #require(plan.action("a")), b = try #require(plan.action("b"))
        #expect(a.wave != b.wave, "perHost 1 puts them in separate waves")
        #expect(a.dependsOn.isEmpty && b.dependsOn.isEmpty, "\(plan.actions.map { ($0.instance, $0.dependsOn) })")
        #expect(plan.actions.map(\.id) == Array(1...plan.actions.count))
    }

    @Test func aMoveOntoAHostThatNeedsRoomWaitsOnTheMoveThatFreesIt() throws {
        // h1 holds only `a` (1 GiB): `b` fits only once `a` has left.
        let plan = Self.crossing(h1Memory: 1024)
        let a = try #require(plan.action("a")), b = try #require(plan.action("b"))
        #expect(a.wave < b.wave)
        #expect(b.dependsOn == [a.id])
        #expect(a.dependsOn.isEmpty)
        let text = render(plan, format: .text, color: false, verbose: true)
        #expect(text.contains("wave \(b.wave) (#\(b.id)), after #\(a.id) a"), "\(text)")
    }

    @Test func onlyTheReleasesThatMakeItFitAreWaitedOn() throws {
        // h1 is full with three 1 GiB guests that all leave (one at a time); `in` needs 1 GiB on h1:
        // it waits on the first move off h1 only, not on all three.
        let fleet = ObservedFleet(hosts: [
            host("h1", mem: 3072, domains: [dom("x1"), dom("x2"), dom("x3")]),
            host("h2", mem: 8192, domains: [dom("in", state: "shutoff")]),
            host("h3", mem: 8192),
        ])
        let desired = spec(fleet, instances: ["x1": InstanceSpec(host: "h3"), "x2": InstanceSpec(host: "h3"),
                                              "x3": InstanceSpec(host: "h3"), "in": InstanceSpec(host: "h1")],
                           policy: policy { $0.parallel = ParallelSpec(total: 8, perHost: 1) })
        let plan = makePlan(desired: desired, observed: fleet)
        let into = try #require(plan.action("in"))
        #expect(into.dependsOn.count == 1, "\(plan.actions.map { ($0.instance, $0.wave, $0.dependsOn) })")
        let waited = try #require(into.dependsOn.first.map { plan.actions[$0 - 1] })
        #expect(waited.from == "h1" && waited.wave < into.wave)
    }

    @Test func aRelaysSecondHopWaitsOnItsFirst() throws {
        // Two full hosts swapping: one move goes through h3.
        let fleet = ObservedFleet(hosts: [
            host("h1", mem: 1024, domains: [dom("a")]),
            host("h2", mem: 1024, domains: [dom("b")]),
            host("h3", mem: 4096),
        ])
        let desired = spec(fleet, instances: ["a": InstanceSpec(host: "h2"), "b": InstanceSpec(host: "h1")])
        let plan = makePlan(desired: desired, observed: fleet)
        let hops = plan.actions.filter { $0.reasons.contains { $0.code == .orderRelay } }
        try #require(hops.count == 2, "\(plan.actions.map { ($0.instance, $0.kind, $0.from, $0.to) })")
        #expect(hops[1].dependsOn.contains(hops[0].id))
        // And the direct move into the relayed instance's old host waits on the first hop.
        let direct = try #require(plan.actions.first { $0.instance != hops[0].instance && $0.isScheduled })
        #expect(direct.dependsOn == [hops[0].id], "\(plan.actions.map { ($0.id, $0.instance, $0.dependsOn) })")
    }

    @Test func directionalLimitsSpreadArrivalsOverWaves() {
        // Three guests moving onto h4 from three hosts: perHostIn 1 gives three waves.
        let fleet = ObservedFleet(hosts: [
            host("h1", domains: [dom("g1")]), host("h2", domains: [dom("g2")]), host("h3", domains: [dom("g3")]), host("h4"),
        ])
        let instances = ["g1": InstanceSpec(host: "h4"), "g2": InstanceSpec(host: "h4"), "g3": InstanceSpec(host: "h4")]
        let free = makePlan(desired: spec(fleet, instances: instances, policy: policy { $0.parallel = ParallelSpec(total: 8, perHost: 4) }), observed: fleet)
        #expect(Set(free.actions.map(\.wave)) == [1])
        let limited = makePlan(desired: spec(fleet, instances: instances, policy: policy {
            $0.parallel = ParallelSpec(total: 8, perHost: 4, perHostIn: 1)
        }), observed: fleet)
        #expect(limited.actions.map(\.wave).sorted() == [1, 2, 3])
        #expect(limited.parallel.perHostIn == 1)
        #expect(render(limited, format: .text, color: false, verbose: true).contains("1 arriving and 4 leaving per host"))
        // Out: two guests leaving one host, perHostOut 1.
        let outFleet = ObservedFleet(hosts: [host("h1", domains: [dom("o1"), dom("o2")]), host("h2"), host("h3")])
        let out = makePlan(desired: spec(outFleet, instances: ["o1": InstanceSpec(host: "h2"), "o2": InstanceSpec(host: "h3")],
                                         policy: policy { $0.parallel = ParallelSpec(total: 8, perHost: 4, perHostOut: 1) }), observed: outFleet)
        #expect(out.actions.map(\.wave).sorted() == [1, 2])
    }
}
