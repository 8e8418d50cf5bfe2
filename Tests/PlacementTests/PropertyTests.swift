import Foundation
import Testing
@testable import Placement

extension SplitMix64 {
    mutating func int(_ range: ClosedRange<Int>) -> Int { Int.random(in: range, using: &self) }
    mutating func chance(_ p: Double) -> Bool { Double.random(in: 0..<1, using: &self) < p }
    mutating func pick<T>(_ xs: [T]) -> T { xs[int(0...(xs.count - 1))] }
}

/// How hostile a random fleet is.
enum FleetMode: String, Sendable, CaseIterable {
    /// Every blocker and drift, unreachable hosts, conflicts, tight capacity.
    case harsh
    /// Reachable hosts with room; few blockers: most plans run to the end.
    case benign
    /// Full hosts whose instances are pinned to each other's hosts: swaps, relays, unorderable moves.
    case swaps
}

/// One generated case.
struct Gen: Sendable, CustomTestStringConvertible {
    let mode: FleetMode
    let seed: UInt64
    var testDescription: String { "\(mode.rawValue) #\(seed)" }
    func fleet(maxMoves: Int = 0) -> (PlacementSpec, ObservedFleet) {
        mode == .swaps ? swapFleet(seed: seed, maxMoves: maxMoves) : randomFleet(seed: seed, maxMoves: maxMoves, harsh: mode == .harsh)
    }
}

/// The seeds of the random tests: 1…100 per mode, or only `VIRTPLACE_TEST_SEED=N` to replay
/// one. Each case's name and every failure message carry its seed.
func testSeeds(_ defaults: ClosedRange<UInt64>) -> [UInt64] {
    if let text = ProcessInfo.processInfo.environment["VIRTPLACE_TEST_SEED"], let seed = UInt64(text) { return [seed] }
    return Array(defaults)
}

let gens: [Gen] = FleetMode.allCases.flatMap { mode in testSeeds(1...100).map { Gen(mode: mode, seed: $0) } }
/// The full range, whatever the environment says: the vacuity check needs all of it.
let allGens: [Gen] = FleetMode.allCases.flatMap { mode in (1...100).map { Gen(mode: mode, seed: UInt64($0)) } }

/// Full hosts; some instances pinned to the next host round the ring; sometimes a spare host.
func swapFleet(seed: UInt64, maxMoves: Int = 0) -> (PlacementSpec, ObservedFleet) {
    var rng = SplitMix64(seed: seed)
    let n = rng.int(2...5)
    let perHost = rng.int(1...3)
    var hosts: [ObservedHost] = []
    var instances: [String: InstanceSpec] = [:]
    let shift = rng.int(1...(n - 1 > 0 ? n - 1 : 1))
    for h in 0..<n {
        var domains: [ObservedDomain] = []
        for k in 0..<perHost {
            let name = "s\(h)-\(k)"
            domains.append(dom(name, mem: 1024))
            instances[name] = rng.chance(0.7) ? InstanceSpec(host: "h\((h + shift) % n)") : InstanceSpec()
        }
        hosts.append(host("h\(h)", fd: "fd-\(h)", cpus: 16, mem: 1024 * perHost, domains: domains))
    }
    if rng.chance(0.5) { hosts.append(host("h\(n)", fd: "fd-\(n)", cpus: 16, mem: 1024 * rng.int(1...2))) }
    var p = PolicySpec()
    p.parallel = ParallelSpec(total: rng.int(1...4), perHost: rng.int(1...2))
    p.maxMovesPerRun = maxMoves
    let observed = ObservedFleet(hosts: hosts)
    return (spec(observed, instances: instances, policy: p), observed)
}

/// A random but plausible fleet and desired state: hosts in three fault domains, some drained,
/// cordoned or unreachable; instances with every kind of blocker and drift, mostly within capacity.
func randomFleet(seed: UInt64, maxMoves: Int = 0, harsh: Bool = true) -> (PlacementSpec, ObservedFleet) {
    var rng = SplitMix64(seed: seed)
    let rare = harsh ? 1.0 : 0.0
    let hostCount = rng.int(3...7)
    let instanceCount = rng.int(4...24)
    var hosts: [ObservedHost] = []
    var specHosts: [String: HostSpec] = [:]
    for i in 0..<hostCount {
        let name = "h\(i)"
        let fd = "fd-\(i % 3)"
        var networks = [ObservedNetwork(name: "default", active: true, bridge: "virbr0")]
        if rng.chance(0.7) { networks.append(ObservedNetwork(name: "backend", active: true, bridge: "virbr1")) }
        hosts.append(host(name, fd: fd, cpus: harsh ? rng.int(2...8) : rng.int(8...16), mem: 1024 * rng.int(harsh ? 4...16 : 12...24),
                          cpuModel: rng.pick(["A", "B"]), reachable: rng.chance(1 - 0.07 * rare), networks: networks))
        let state: HostState = rng.chance(0.12) ? .drained : (rng.chance(0.1) ? .cordoned : .active)
        var capacity: CapacitySpec?
        if rng.chance(0.1) { capacity = CapacitySpec(memoryMiB: 1024 * rng.int(2...8)) }
        specHosts[name] = HostSpec(uri: "qemu:///\(name)", faultDomain: fd, state: state, capacity: capacity)
    }
    var instances: [(String, InstanceSpec)] = []
    var used = [Int](repeating: 0, count: hostCount)
    for i in 0..<instanceCount {
        let name = "vm-\(i)"
        let mem = rng.pick([512, 1024, 2048])
        var h = rng.int(0...(hostCount - 1))
        for _ in 0..<4 where used[h] + mem > hosts[h].capacity.memoryMiB { h = rng.int(0...(hostCount - 1)) }
        used[h] += mem
        var disks = [rng.chance(0.2) ? localDisk(name) : sharedDisk(name)]
        if rng.chance(0.1) { disks.append(sharedDisk("\(name)-data", target: "vdb")) }
        var nics = [nic(name)]
        if rng.chance(0.1) { nics.append(nic(name, index: 1, network: "backend")) }
        let state = rng.chance(0.05 * rare) ? "paused" : (rng.chance(0.2) ? "shutoff" : "running")
        let vcpus = rng.int(1...3)
        var d = dom(name, state: state, vcpus: vcpus, mem: mem, disks: disks, nics: nics,
                    hostdevs: rng.chance(harsh ? 0.1 : 0.03) ? [ObservedHostdev(type: "pci", address: "0000:0\(i % 10):00.0")] : [],
                    tpm: rng.chance(0.05), snapshots: rng.chance(harsh ? 0.05 : 0.01) ? 1 : 0, autostart: rng.chance(0.3),
                    cpuMode: rng.chance(0.15) ? "host-passthrough" : nil, fleet: rng.chance(0.1) ? nil : "lab",
                    tags: rng.chance(0.2) ? ["tier": "db"] : [:], maxVcpus: vcpus + rng.int(0...2), maxMem: mem * rng.int(1...2))
        if rng.chance(0.05 * rare) { d.persistent = false }
        hosts[h].domains.append(d)
        if rng.chance(0.04 * rare) {
            // Also defined on another host: a conflict.
            let other = (h + 1) % hostCount
            hosts[other].domains.append(d)
        }
        var inst = InstanceSpec()
        let r = rng.int(0...99)
        if r < 30 { inst.host = "h\(rng.int(0...(hostCount - 1)))" } else if r < 50 { inst.faultDomain = "fd-\(rng.int(0...2))" }
        if inst.host == nil, inst.faultDomain == nil, rng.chance(0.3) { inst.spread = rng.pick(["g0", "g1"]) }
        if rng.chance(0.2) { inst.config.vcpus = rng.int(1...4) }
        if rng.chance(0.2) { inst.config.memoryMiB = rng.pick([512, 1024, 2048, 3072]) }
        if rng.chance(0.1) { inst.config.autostart = rng.chance(0.5) }
        if rng.chance(0.1) { inst.config.tags = ["tier": rng.pick(["web", "db"])] }
        if rng.chance(0.1) { inst.state = rng.pick([.running, .stopped]) }
        if rng.chance(0.05) { inst.devices["eth9"] = .nic(NICSpec(network: "default", mac: "52:54:00:ff:00:\(String(i, radix: 16))")) }
        if rng.chance(0.15) { inst.moves = [.live, .reboot, .cold, .manual] } else if rng.chance(0.15) { inst.moves = rng.pick([[.live], [.reboot, .cold], [.cold]]) }
        instances.append((name, inst))
    }
    if rng.chance(0.1 * rare) { instances.append(("ghost", InstanceSpec())) }
    // Unmanaged domains take room too.
    if rng.chance(0.5) { hosts[0].domains.append(dom("stray", mem: 512)) }
    var p = PolicySpec()
    p.parallel = ParallelSpec(total: rng.int(1...4), perHost: rng.int(1...3))
    // Directional limits on some seeds, without a draw (the fleets of other seeds stay as they were).
    p.parallel.perHostIn = seed % 3 == 0 ? 1 : nil
    p.parallel.perHostOut = seed % 5 == 0 ? 1 : nil
    p.cpuOvercommit = harsh ? rng.pick([1.0, 2.0, 4.0]) : rng.pick([2.0, 4.0])
    p.maxMovesPerRun = maxMoves
    p.live.copyStorage = rng.chance(0.2) ? .never : .auto
    // Insert in a random order: the plan must not depend on dictionary history.
    var dict: [String: InstanceSpec] = [:]
    for (n, s) in instances.shuffled(using: &rng) { dict[n] = s }
    let desired = PlacementSpec(metadata: MetadataSpec(name: "lab"), policy: p, storage: StorageSpec(sharedPools: ["shared"]),
                                hosts: specHosts, instances: dict)
    return (desired, ObservedFleet(hosts: hosts))
}


/// Capacity per host as the planner sees it.
func capacities(_ desired: PlacementSpec, _ observed: ObservedFleet) -> [String: (mem: Int, vcpus: Int)] {
    var result: [String: (mem: Int, vcpus: Int)] = [:]
    for h in observed.hosts {
        let cpus = desired.hosts[h.name]?.capacity?.vcpus ?? h.capacity.vcpus
        let mem = desired.hosts[h.name]?.capacity?.memoryMiB ?? h.capacity.memoryMiB
        result[h.name] = (mem, Int((Double(cpus) * desired.policy.cpuOvercommit).rounded(.down)))
    }
    return result
}

/// What one scheduled action takes and frees, from its own steps (OracleDomain), not from the
/// planner's footprint or drift code: room on `to` when it starts, room on `from` when it ends.
struct ActionLoad {
    var action: Action
    var from: String
    var to: String
    var need: (mem: Int, vcpus: Int)
    var release: (mem: Int, vcpus: Int)
}

/// Every scheduled action's load, wave by wave (an update changes the figures later waves see).
func actionLoads(_ plan: Plan, _ observed: ObservedFleet) -> [[ActionLoad]] {
    var domains: [String: ObservedDomain] = [:]
    for h in observed.hosts where h.reachable { for d in h.domains { domains[d.name] = d } }
    return plan.waves.map { wave in
        wave.compactMap { a -> ActionLoad? in
            guard let d = domains[a.instance], let from = a.from, let to = a.to else { return nil }
            let walk = OracleDomain.walk(a.steps, from: d, host: from)
            let now = OracleDomain(d).reservation
            if a.kind.isMove {
                return ActionLoad(action: a, from: from, to: to, need: walk.peak[to] ?? now, release: now)
            }
            let peak = walk.peak[to] ?? now
            let end = walk.final?.reservation ?? now
            d0Update(&domains, a.instance, walk.final)
            return ActionLoad(action: a, from: from, to: to,
                              need: (max(peak.mem - now.mem, 0), max(peak.vcpus - now.vcpus, 0)),
                              release: (max(peak.mem - end.mem, 0) + max(now.mem - peak.mem, 0),
                                        max(peak.vcpus - end.vcpus, 0) + max(now.vcpus - peak.vcpus, 0)))
        }
    }
}

/// What each reachable host's domains reserve now.
func observedUsage(_ observed: ObservedFleet) -> [String: (mem: Int, vcpus: Int)] {
    var usage: [String: (mem: Int, vcpus: Int)] = [:]
    for h in observed.hosts where h.reachable {
        for d in h.domains {
            let f = OracleDomain(d).reservation
            usage[h.name, default: (0, 0)].mem += f.mem
            usage[h.name, default: (0, 0)].vcpus += f.vcpus
        }
    }
    return usage
}

/// Replays the waves: no host that receives anything exceeds its capacity during a wave, and
/// the parallel limits hold.
func checkWaves(_ plan: Plan, _ desired: PlacementSpec, _ observed: ObservedFleet, seed: UInt64) {
    let cap = capacities(desired, observed)
    var usage = observedUsage(observed)
    let limits = desired.policy.parallel
    for (w, wave) in actionLoads(plan, observed).enumerated() {
        var incoming: [String: (mem: Int, vcpus: Int)] = [:]
        var perHost: [String: Int] = [:]
        var arriving: [String: Int] = [:]
        var leaving: [String: Int] = [:]
        var moves = 0
        for load in wave {
            if load.action.kind.isMove {
                moves += 1
                perHost[load.from, default: 0] += 1
                perHost[load.to, default: 0] += 1
                arriving[load.to, default: 0] += 1
                leaving[load.from, default: 0] += 1
            }
            incoming[load.to, default: (0, 0)].mem += load.need.mem
            incoming[load.to, default: (0, 0)].vcpus += load.need.vcpus
        }
        #expect(moves <= max(limits.total, 1), "seed \(seed) wave \(w + 1): \(moves) moves")
        for (h, n) in perHost { #expect(n <= max(limits.perHost, 1), "seed \(seed) wave \(w + 1): \(h) in \(n) moves") }
        for (h, n) in arriving { #expect(n <= limits.incomingLimit, "seed \(seed) wave \(w + 1): \(n) moves into \(h)") }
        for (h, n) in leaving { #expect(n <= limits.outgoingLimit, "seed \(seed) wave \(w + 1): \(n) moves off \(h)") }
        for (h, inc) in incoming where inc.mem > 0 || inc.vcpus > 0 {
            let u = usage[h] ?? (0, 0)
            let c = cap[h] ?? (0, 0)
            #expect(u.mem + inc.mem <= c.mem && u.vcpus + inc.vcpus <= c.vcpus,
                    "seed \(seed) wave \(w + 1): \(h) at \(u.mem + inc.mem)/\(c.mem) MiB, \(u.vcpus + inc.vcpus)/\(c.vcpus) vCPUs")
            usage[h, default: (0, 0)].mem += inc.mem
            usage[h, default: (0, 0)].vcpus += inc.vcpus
        }
        for load in wave {
            usage[load.from, default: (0, 0)].mem -= load.release.mem
            usage[load.from, default: (0, 0)].vcpus -= load.release.vcpus
        }
    }
}

/// Replays the plan as the executor runs it, by `dependsOn` alone and as eagerly as possible:
/// every action whose dependencies are done starts at once (taking its room), then one running
/// action ends (freeing its source's room), chosen at random. No host ever exceeds its
/// capacity, and every action runs. Also: each dependency is an earlier-wave scheduled action.
func checkDependencies(_ plan: Plan, _ desired: PlacementSpec, _ observed: ObservedFleet, seed: UInt64) {
    let cap = capacities(desired, observed)
    var usage = observedUsage(observed)
    let loads = actionLoads(plan, observed).flatMap { $0 }
    let byID = Dictionary(uniqueKeysWithValues: plan.actions.map { ($0.id, $0) })
    for (n, a) in plan.actions.enumerated() {
        #expect(a.id == n + 1, "seed \(seed): \(a.instance) has id \(a.id)")
        for d in a.dependsOn {
            let other = byID[d]
            #expect(other?.isScheduled == true && (other?.wave ?? .max) < a.wave, "seed \(seed): #\(a.id) waits on #\(d)")
        }
        if !a.isScheduled { #expect(a.dependsOn.isEmpty, "seed \(seed): unscheduled #\(a.id) waits") }
    }
    var rng = SplitMix64(seed: seed ^ 0x5EED)
    var waiting = loads
    var running: [ActionLoad] = []
    var done = Set<Int>()
    while !waiting.isEmpty || !running.isEmpty {
        let ready = waiting.filter { $0.action.dependsOn.allSatisfy(done.contains) }
        waiting.removeAll { $0.action.dependsOn.allSatisfy(done.contains) }
        for load in ready {
            usage[load.to, default: (0, 0)].mem += load.need.mem
            usage[load.to, default: (0, 0)].vcpus += load.need.vcpus
            let u = usage[load.to] ?? (0, 0)
            let c = cap[load.to] ?? (0, 0)
            if load.need.mem > 0 || load.need.vcpus > 0 {
                #expect(u.mem <= c.mem && u.vcpus <= c.vcpus,
                        "seed \(seed): #\(load.action.id) \(load.action.instance) starts with \(load.to) at \(u.mem)/\(c.mem) MiB, \(u.vcpus)/\(c.vcpus) vCPUs")
            }
        }
        running += ready
        guard !running.isEmpty else {
            Issue.record("seed \(seed): \(waiting.count) actions wait on something that never ends")
            return
        }
        let end = running.remove(at: rng.int(0...(running.count - 1)))
        usage[end.from, default: (0, 0)].mem -= end.release.mem
        usage[end.from, default: (0, 0)].vcpus -= end.release.vcpus
        done.insert(end.action.id)
    }
}

/// Whether an instance's own constraints are met where it is (independent of the planner).
func violatesConstraints(_ name: String, _ desired: PlacementSpec, _ observed: ObservedFleet) -> Bool {
    guard let inst = desired.instances[name] else { return false }
    let places = observed.hosts.filter { $0.reachable && $0.domains.contains { $0.name == name } }
    guard places.count == 1, let here = places.first else { return true }
    let hostSpec = desired.hosts[here.name]
    if hostSpec?.state == .drained { return true }
    if let pin = inst.host, pin != here.name {
        return desired.hosts[pin]?.state == .active
    }
    if inst.host == nil, let fd = inst.faultDomain, hostSpec?.faultDomain != fd { return true }
    if let group = inst.spread, inst.host == nil, inst.faultDomain == nil {
        let myFD = hostSpec?.faultDomain ?? "host:\(here.name)"
        for (other, o) in desired.instances where other != name && o.spread == group {
            for h in observed.hosts where h.reachable && h.domains.contains(where: { $0.name == other }) {
                if (desired.hosts[h.name]?.faultDomain ?? "host:\(h.name)") == myFD { return true }
            }
        }
    }
    return false
}

@Test("property: waves respect capacity and parallel limits", arguments: gens)
func wavesRespectLimits(_ g: Gen) {
    let (desired, observed) = g.fleet()
    checkWaves(makePlan(desired: desired, observed: observed), desired, observed, seed: g.seed)
}

@Test("property: run by its dependencies alone, in any order they allow, a plan keeps every host within capacity", arguments: gens)
func dependenciesKeepCapacity(_ g: Gen) {
    let (desired, observed) = g.fleet()
    checkDependencies(makePlan(desired: desired, observed: observed), desired, observed, seed: g.seed)
    let (limited, limitedObserved) = g.fleet(maxMoves: 2)
    checkDependencies(makePlan(desired: limited, observed: limitedObserved), limited, limitedObserved, seed: g.seed)
}

@Test("property: maxMovesPerRun holds and deferral keeps capacity", arguments: gens)
func maxMovesHolds(_ g: Gen) {
    let (desired, observed) = g.fleet(maxMoves: 2)
    let plan = makePlan(desired: desired, observed: observed)
    #expect(plan.actions.filter { $0.isScheduled && $0.kind.isMove }.count <= 2)
    checkWaves(plan, desired, observed, seed: g.seed)
}

@Test("property: a satisfied instance never moves", arguments: gens)
func satisfiedNeverMoves(_ g: Gen) {
    let seed = g.seed
    let (desired, observed) = g.fleet()
    let plan = makePlan(desired: desired, observed: observed)
    for a in plan.actions where a.kind.isMove {
        #expect(violatesConstraints(a.instance, desired, observed), "seed \(seed): \(a.instance) moves \(a.reasons)")
    }
}

@Test("property: plans are deterministic, whatever the observation order", arguments: gens)
func deterministic(_ g: Gen) throws {
    let seed = g.seed
    let (desired, observed) = g.fleet()
    let a = try encodePlan(makePlan(desired: desired, observed: observed))
    var shuffled = observed
    var rng = SplitMix64(seed: seed ^ 0xABCD)
    shuffled.hosts.shuffle(using: &rng)
    for i in shuffled.hosts.indices { shuffled.hosts[i].domains.shuffle(using: &rng) }
    var respec = desired
    respec.instances = [:]
    for (k, v) in desired.instances.sorted(by: { $0.key > $1.key }) { respec.instances[k] = v }
    let b = try encodePlan(makePlan(desired: respec, observed: shuffled))
    #expect(a == b, "seed \(seed)")
}

@Test("property: applying a plan leaves nothing to do", arguments: gens)
func applyingConverges(_ g: Gen) {
    let seed = g.seed
    let (desired, observed) = g.fleet()
    let plan = makePlan(desired: desired, observed: observed)
    let after = simulate(plan, on: observed)
    let again = makePlan(desired: desired, observed: after)
    let stuck = Set(plan.actions.filter { !$0.isScheduled }.map(\.instance))
    if stuck.isEmpty {
        #expect(again.actions.isEmpty, "seed \(seed): \(again.actions.map { "\($0.kind) \($0.instance) \($0.reasons)" })")
    } else {
        // Only what was blocked or deferred is left.
        for a in again.actions where !stuck.contains(a.instance) {
            Issue.record("seed \(seed): new action \(a.kind) \(a.instance) \(a.reasons)")
        }
    }
}

@Test func thePropertiesAreNotVacuous() {
    // Enough random plans run to the end, and the generators reach relays and unorderable swaps.
    var clean = 0
    var codes = Set<ReasonCode>()
    for g in allGens {
        let (desired, observed) = g.fleet()
        let plan = makePlan(desired: desired, observed: observed)
        if plan.actions.allSatisfy(\.isScheduled), plan.actions.contains(where: \.kind.isMove) { clean += 1 }
        codes.formUnion(plan.codes)
    }
    #expect(clean >= 40, "only \(clean) clean plans with moves")
    #expect(codes.isSuperset(of: [.orderRelay, .orderUnorderable, .placeSpread, .placeDrained, .liveHostdev, .updateCapacity]),
            "missing: \(Set([ReasonCode.orderRelay, .orderUnorderable, .placeSpread, .placeDrained, .liveHostdev, .updateCapacity]).subtracting(codes))")
}


// MARK: An oracle written here, not in Placement

/// A domain as the test follows it through a plan's steps, in plain arithmetic: where it is
/// defined, whether it runs, and its live and configured vCPUs and memory. This is the test's
/// own model of what each step does (docs/moves.md), so that the planner's `simulate`,
/// `footprint` and drift code do not grade themselves.
struct OracleDomain: Equatable {
    var host: String?
    var running: Bool
    var liveMem: Int
    var configMem: Int
    var liveVcpus: Int
    var configVcpus: Int
    var autostart: Bool
    var tags: [String: String]
    var fleet: String?
    var macs: Set<String>
    var volumes: Set<String>

    init(_ d: ObservedDomain, host: String? = nil) {
        self.host = host
        running = d.state == "running" || d.state == "blocked" || d.state == "paused"
        liveMem = d.memoryMiB
        configMem = d.configMemoryMiB ?? d.memoryMiB
        liveVcpus = d.vcpus
        configVcpus = d.configVcpus ?? d.vcpus
        autostart = d.autostart
        tags = d.tags
        fleet = d.fleet
        macs = Set(d.nics.compactMap(\.mac))
        volumes = Set(d.disks.compactMap { disk in disk.pool.flatMap { p in disk.volume.map { "\(p)/\($0)" } } })
    }

    /// What it holds on its host: the larger of the running and the configured figures (a
    /// pending change counts when larger; a shut-off domain keeps its room).
    var reservation: (mem: Int, vcpus: Int) {
        (max(liveMem, configMem, 0), max(liveVcpus, configVcpus, 0))
    }

    /// The domain after each step; per host, the most it held there while running, or at the
    /// end (a defined domain holds its room).
    static func walk(_ steps: [Step], from d: ObservedDomain, host: String) -> (final: OracleDomain?, peak: [String: (mem: Int, vcpus: Int)]) {
        var dom = OracleDomain(d, host: host)
        var peak: [String: (mem: Int, vcpus: Int)] = [:]
        func note() {
            guard let h = dom.host else { return }
            let r = dom.reservation
            let p = peak[h] ?? (0, 0)
            peak[h] = (max(p.mem, r.mem), max(p.vcpus, r.vcpus))
        }
        for step in steps {
            switch step {
            case .record, .backupVolume, .transferVolume: break
            case .shutdown: dom.running = false; dom.liveMem = dom.configMem; dom.liveVcpus = dom.configVcpus
            case .migrateLive(let m): dom.host = m.to; dom.autostart = false
            case .defineOnTarget(let h, _), .recreate(let h, _, _, _):
                dom.host = h; dom.running = false; dom.autostart = false
                dom.liveMem = dom.configMem; dom.liveVcpus = dom.configVcpus
            case .undefineSource: break
            case .start: dom.running = true; dom.liveMem = dom.configMem; dom.liveVcpus = dom.configVcpus
            case .setMemory(_, let mib, let applies):
                if dom.running && applies == .restart { dom.configMem = mib } else { dom.liveMem = mib; dom.configMem = mib }
            case .setVcpus(_, let n, let applies):
                if dom.running && applies == .restart { dom.configVcpus = n } else { dom.liveVcpus = n; dom.configVcpus = n }
            case .setAutostart(_, let on): dom.autostart = on
            case .setMetadata(_, let f, let t): dom.fleet = f; dom.tags = t
            case .attachDisk(_, let disk, _): dom.volumes.insert("\(disk.pool)/\(disk.volume)")
            case .attachNIC(_, let nic, _): if let mac = nic.mac { dom.macs.insert(mac) }
            }
            // A shut-off definition between two steps uses no memory yet: only a running
            // domain, and where the domain ends, count.
            if dom.running { note() }
        }
        note()
        return (dom, peak)
    }
}

/// After an update in a wave, later waves see the domain's new figures.
private func d0Update(_ domains: inout [String: ObservedDomain], _ name: String, _ final: OracleDomain?) {
    guard let f = final, var d = domains[name] else { return }
    d.memoryMiB = f.liveMem
    d.configMemoryMiB = f.configMem == f.liveMem ? nil : f.configMem
    d.vcpus = f.liveVcpus
    d.configVcpus = f.configVcpus == f.liveVcpus ? nil : f.configVcpus
    domains[name] = d
}

/// Every instance whose actions all run: after its steps (followed by the oracle, not by
/// `simulate`), it is where and as the file says: on its pinned host or in its fault domain,
/// not on a drained host, with the file's memory, vCPUs (configured), lifecycle state,
/// autostart, tags and the NICs and disks it names.
@Test("property (independent oracle): a plan's steps bring each instance to what the file says", arguments: gens)
func theStepsReachTheFile(_ g: Gen) {
    let seed = g.seed
    let (desired, observed) = g.fleet()
    let plan = makePlan(desired: desired, observed: observed)
    var checked = 0
    for (name, spec) in desired.instances.sorted(by: { $0.key < $1.key }) {
        let places = observed.hosts.filter { $0.domains.contains { $0.name == name } }
        guard places.count == 1, let here = places.first, here.reachable,
              let d = here.domains.first(where: { $0.name == name }) else { continue }
        let actions = plan.actions.filter { $0.instance == name }
        guard actions.allSatisfy(\.isScheduled) else { continue }
        // The instance's own steps, in plan order (a relay's hops are separate actions).
        let steps = actions.flatMap(\.steps)
        guard let end = OracleDomain.walk(steps, from: d, host: here.name).final, let host = end.host else { continue }
        checked += 1
        let label = "seed \(seed) \(g.mode.rawValue): \(name) (\(actions.map { "\($0.kind)" }))"
        let hostSpec = desired.hosts[host]
        if let pin = spec.host, desired.hosts[pin]?.state == .active, observed.hosts.first(where: { $0.name == pin })?.reachable == true {
            #expect(host == pin, "\(label): on \(host), pinned to \(pin)")
        } else if spec.host == nil, let fd = spec.faultDomain {
            #expect(hostSpec?.faultDomain == fd, "\(label): on \(host) in \(hostSpec?.faultDomain ?? "-"), wants \(fd)")
        }
        #expect(hostSpec?.state != .drained, "\(label): left on drained \(host)")
        if let mem = spec.config.memoryMiB { #expect(end.configMem == mem, "\(label): memory \(end.configMem), wants \(mem)") }
        if let n = spec.config.vcpus { #expect(end.configVcpus == n, "\(label): vCPUs \(end.configVcpus), wants \(n)") }
        // Autostart is the file's, else kept (docs/moves.md: "re-set on the target by a step").
        let autostart = spec.config.autostart ?? d.autostart
        #expect(end.autostart == autostart, "\(label): autostart \(end.autostart), wants \(autostart)")
        if let tags = spec.config.tags { #expect(end.tags == tags, "\(label): tags \(end.tags)") }
        #expect(end.fleet == "lab", "\(label): fleet mark \(end.fleet ?? "none")")
        switch spec.state {
        case .running?: #expect(end.running, "\(label): not running")
        case .stopped?: #expect(!end.running, "\(label): still running")
        case nil: #expect(end.running == OracleDomain(d).running, "\(label): lifecycle changed without the file asking")
        }
        for (key, device) in spec.devices {
            if case .nic(let nic) = device, let mac = nic.mac { #expect(end.macs.contains(mac), "\(label): NIC \(key) \(mac) missing") }
        }
    }
    if gens.count == allGens.count && g.mode == .benign { #expect(checked > 0, "seed \(seed): nothing checked") }
}
