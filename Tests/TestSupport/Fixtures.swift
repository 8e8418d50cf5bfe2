import Engine
import Foundation
@testable import Placement
import Synchronization

// Values the unit tests of several targets build the same way: a state directory, a
// placement over fake hosts, guests with deterministic identities, plans, an executor run on
// the fake fleet, seeds for random tests. (Placement is imported @testable for `Summary.add`:
// tests are built with testing enabled.)

/// A new, prepared state directory under `testScratchRoot` (removed when the tests end).
public func stateDirectory() throws -> StateDirectory {
    let path = testScratchRoot + "virtplace-engine-tests-" + UUID().uuidString
    let state = StateDirectory(path: path)
    try state.prepare()
    return state
}

/// Runs a plan on the fake fleet; returns the report, the journal and the events.
/// `pollClock` and `jobPollInterval`: the live-migration watchdog's clock and period (a
/// `SteppingClock` makes the n-th job reading come at exactly n periods).
public func execute(_ plan: Plan, on fleet: FakeFleet, parallel: ParallelSpec = ParallelSpec(total: 4, perHost: 2),
                    state: StateDirectory? = nil, pollClock: (any PollClock)? = nil, jobPollInterval: Duration = .milliseconds(20),
                    onEvent: @escaping @Sendable (ExecutionEvent) -> Void = { _ in })
    async throws -> (ExecutionReport, [JournalRecord], [ExecutionEvent]) {
    let state = try state ?? stateDirectory()
    let journal = try Journal(path: state.journalPath)
    let events = Mutex<[ExecutionEvent]>([])
    var options = ExecutionOptions(parallel: parallel, jobPollInterval: jobPollInterval,
                                   statePollInterval: .milliseconds(20), deviceConfirmTimeout: .milliseconds(200))
    if let pollClock { options.pollClock = pollClock }
    let executor = Executor(driver: fleet, state: state, journal: journal, options: options) { e in
        events.withLock { $0.append(e) }
        onEvent(e)
    }
    let report = await executor.run(plan)
    return (report, Array(Journal.records(path: state.journalPath)), events.withLock { $0 })
}

/// A placement of fleet `lab` over fake hosts (`fake://NAME`, fault domain `fd-NAME`).
public func placement(_ instances: [String: InstanceSpec], hosts: [String] = ["h1", "h2", "h3"],
                      drained: Set<String> = [], policy: PolicySpec = PolicySpec()) -> PlacementSpec {
    var hostSpecs: [String: HostSpec] = [:]
    for h in hosts { hostSpecs[h] = HostSpec(uri: "fake://\(h)", faultDomain: "fd-\(h)", state: drained.contains(h) ? .drained : .active) }
    return PlacementSpec(metadata: MetadataSpec(name: "lab"), policy: policy, hosts: hostSpecs, instances: instances)
}

/// A guest of fleet `lab` with UUID `uuid-NAME` and one NIC on `lan` whose MAC comes from the name.
public func guest(_ name: String, state: String = "running", fleet: String? = "lab") -> FakeFleet.FakeDomain {
    FakeFleet.FakeDomain(uuid: "uuid-\(name)", name: name, state: state,
                         nics: [ObservedNIC(type: "network", mac: stableMAC(name), network: "lan")], fleet: fleet)
}

/// A MAC derived from the name alone (FNV-1a), the same in every process: `hashValue` is
/// seeded per process, so a failure that depended on it would not reproduce.
public func stableMAC(_ name: String) -> String {
    var hash: UInt32 = 2_166_136_261
    for byte in name.utf8 { hash = (hash ^ UInt32(byte)) &* 16_777_619 }
    return String(format: "52:54:00:%02x:%02x:%02x", (hash >> 16) & 0xff, (hash >> 8) & 0xff, hash & 0xff)
}

/// The plan for `spec` against the fake fleet as observed, with the placement's fault domains.
public func planFor(_ spec: PlacementSpec, _ fleet: FakeFleet) -> Plan {
    makePlan(desired: spec, observed: fleet.observed(faultDomains: Dictionary(uniqueKeysWithValues: spec.hosts.map { ($0.key, $0.value.faultDomain ?? "") })))
}

/// A live-migration step with the policy's defaults.
public func liveStep(_ from: String, _ to: String, timeout: Int = 600, onTimeout: LiveTimeoutAction = .abort) -> Step {
    .migrateLive(LiveMigration(from: from, to: to, maxDowntimeMs: 300, bandwidthMiBps: 0, timeoutSeconds: timeout,
                               onTimeout: onTimeout, autoConverge: false, copyDisks: []))
}

/// A plan of hand-made actions; an action without an id gets its position (1-based), as the
/// planner numbers them. Dependencies are only those the actions list.
public func handPlan(_ actions: [Action], uuids: [String: String]) -> Plan {
    let actions = actions.enumerated().map { i, a in
        var a = a
        if a.id == 0 { a.id = i + 1 }
        return a
    }
    let domains = actions.map { DomainBasis(name: $0.instance, host: $0.from, uuid: uuids[$0.instance], state: "running", xmlDigest: "x") }
    var summary = Summary()
    for a in actions { summary.add(a.kind) }
    return Plan(fleet: "lab", basis: Basis(digest: "d", hosts: [], domains: domains), actions: actions, summary: summary)
}

/// The seeds of a random test: `defaults`, or only `VIRTPLACE_TEST_SEED=N` to replay one.
public func randomSeeds(_ defaults: ClosedRange<Int>) -> [Int] {
    if let text = ProcessInfo.processInfo.environment["VIRTPLACE_TEST_SEED"], let seed = Int(text) { return [seed] }
    return Array(defaults)
}

/// A small deterministic generator (SplitMix64) for random fleets.
public struct Seeded: RandomNumberGenerator {
    public var state: UInt64
    /// A generator starting at `state`.
    public init(state: UInt64) { self.state = state }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
