/// Placement: which instances must move, and where to. A satisfied instance never moves.
/// Targets are chosen against the projected end state (every mover gone from its source), so
/// that a swap is possible; the ordering then finds a sequence that never overfills a host.

/// How the target of a move is chosen.
enum TargetMode: Sendable {
    /// The declared host.
    case host(Int)
    /// A declared host that is not a host of the file.
    case unknownHost(String)
    /// Any host of the declared fault domain.
    case faultDomain(String)
    /// Any host; hosts in the preferred fault domain first.
    case anywhere(preferFaultDomain: String?)

    /// Assignment order: fixed targets first, then constrained ones, then the rest.
    var rank: Int {
        switch self {
        case .host, .unknownHost: 0
        case .faultDomain: 1
        case .anywhere: 2
        }
    }
}

/// A declared instance found on exactly one host.
struct Subject: Sendable {
    let desired: DesiredInstance
    let source: HostIndex
    let domain: ObservedDomain
    let drift: Drift
    /// Why it moves.
    var causes: [Reason] = []
    var mode: TargetMode?
    /// Set when the target must respect a spread group.
    var spreadGroup: String?
    /// Blockers that hold whatever the target (domain state, another fleet's domain).
    var blockers: [Reason] = []
    var notes: [Note] = []

    var name: String { desired.name }

    /// Its only cause is its spread group.
    var movesForSpreadOnly: Bool { !causes.isEmpty && causes.allSatisfy { $0.code == .placeSpread } }
}

extension Planner {
    /// Sets `causes`/`mode` from the instance's own constraints (host, fault domain, drain).
    func classify(_ s: inout Subject) {
        let source = fleet.hosts[s.source]
        let drained = source.evacuated
        let evacuate: TargetMode = s.desired.faultDomain.map { .faultDomain($0) } ?? .anywhere(preferFaultDomain: source.faultDomain)
        if let declared = s.desired.host, declared != source.name {
            guard let hi = fleet.hostByName[declared], fleet.hosts[hi].declared else {
                s.causes.append(Reason(.placeHost, "declared on \(declared)"))
                s.mode = .unknownHost(declared)
                return
            }
            let home = fleet.hosts[hi]
            if home.state != .active || home.maintenance != nil {
                // The declared host takes nothing new: the instance stays where it is (an
                // evacuation's normal result) until the host is active again.
                if drained {
                    s.causes.append(evacuationCause(source))
                    s.mode = evacuate
                } else {
                    let why = home.state != .active ? home.state.rawValue : "under maintenance"
                    let until = home.state != .active ? "it is active" : "its maintenance entry is removed"
                    s.notes.append(Note(instance: s.name, code: .placeHeld,
                                        message: "declared on \(declared), which is \(why); stays on \(source.name) until \(until)"))
                }
                return
            }
            s.causes.append(Reason(.placeHost, "declared on \(declared)"))
            s.mode = .host(hi)
            return
        }
        if s.desired.host == nil, let fd = s.desired.faultDomain, source.faultDomain != fd {
            s.causes.append(Reason(.placeFaultDomain, "declared in fault domain \(fd); \(source.name) is in \(source.faultDomain ?? "none")"))
            s.mode = .faultDomain(fd)
            return
        }
        if drained {
            s.causes.append(evacuationCause(source))
            s.mode = evacuate
        }
    }

    /// Members of a spread group go to distinct fault domains, and when the group has more
    /// members than there are fault domains, as evenly as possible: no fault domain holds more
    /// than `ceil(members / fault domains)` of them, and no two differ by more than one (where
    /// members can move). Members pinned by `host` or `faultDomain` keep theirs; of the others,
    /// the first (by name) in each fault domain stay, the rest move to the fault domains that
    /// hold the fewest members. The fault domains counted are those with a host that takes new
    /// instances, and those where a member is now (on a host that is not drained).
    mutating func spread(_ cases: inout [Case]) {
        var groups: [String: [Int]] = [:]
        for i in cases.indices {
            if let g = cases[i].subject.desired.spread { groups[g, default: []].append(i) }
        }
        let open = Set(fleet.hosts.filter(\.takesNew).map(\.spreadKey))
        for g in groups.keys.sorted() {
            guard let members = groups[g] else { continue }
            var keys = open
            for i in members where !fleet.hosts[cases[i].subject.source].evacuated {
                keys.insert(fleet.hosts[cases[i].subject.source].spreadKey)
            }
            let limit = max(1, (members.count + max(keys.count, 1) - 1) / max(keys.count, 1))
            spreadLimit[g] = limit
            var holders: [String: [String]] = [:]
            var free: [Int] = []
            for i in members {
                let s = cases[i].subject
                let pinned = s.desired.faultDomain != nil || (s.desired.host != nil && !isAnywhere(s.mode))
                if pinned || !s.blockers.isEmpty {
                    let key: String
                    switch s.mode {
                    case .host(let hi)?: key = fleet.hosts[hi].spreadKey
                    case .faultDomain(let fd)?: key = "fd:\(fd)"
                    default: key = fleet.hosts[s.source].spreadKey
                    }
                    holders[key, default: []].append(s.name)
                } else {
                    free.append(i)
                }
            }
            var movers: [Int] = []
            var stayers: [Int] = []
            for i in free where cases[i].subject.mode == nil {
                let key = fleet.hosts[cases[i].subject.source].spreadKey
                if (holders[key]?.count ?? 0) >= limit {
                    movers.append(i)
                } else {
                    holders[key, default: []].append(cases[i].subject.name)
                    stayers.append(i)
                }
            }
            // Evenness: while a fault domain that takes members holds two fewer than the
            // fullest one, the last staying member (by name) of the fullest one moves too.
            var expected = holders.mapValues(\.count)
            for _ in movers {
                // A mover lands, in the end, in the emptiest open fault domain.
                if let emptiest = open.min(by: { (expected[$0] ?? 0, $0) < (expected[$1] ?? 0, $1) }) {
                    expected[emptiest, default: 0] += 1
                }
            }
            while let emptiest = open.min(by: { (expected[$0] ?? 0, $0) < (expected[$1] ?? 0, $1) }) {
                let low = expected[emptiest] ?? 0
                let candidates = stayers.filter { (expected[fleet.hosts[cases[$0].subject.source].spreadKey] ?? 0) >= low + 2 }
                guard let pick = candidates.max(by: {
                    let a = fleet.hosts[cases[$0].subject.source].spreadKey, b = fleet.hosts[cases[$1].subject.source].spreadKey
                    return (expected[a] ?? 0, cases[$0].subject.name) < (expected[b] ?? 0, cases[$1].subject.name)
                }) else { break }
                let key = fleet.hosts[cases[pick].subject.source].spreadKey
                stayers.removeAll { $0 == pick }
                holders[key]?.removeAll { $0 == cases[pick].subject.name }
                expected[key, default: 0] -= 1
                expected[emptiest, default: 0] += 1
                movers.append(pick)
            }
            for i in movers {
                let key = fleet.hosts[cases[i].subject.source].spreadKey
                let others = (holders[key] ?? []).joined(separator: ", ")
                let why = others.isEmpty ? "\(spreadKeyName(key)) holds more members than another fault domain" : "\(spreadKeyName(key)) also holds \(others)"
                cases[i].subject.causes.append(Reason(.placeSpread, "spread group \(g): \(why)"))
                cases[i].subject.mode = .anywhere(preferFaultDomain: nil)
            }
            for i in free where isAnywhere(cases[i].subject.mode) { cases[i].subject.spreadGroup = g }
            spreadHolders[g] = holders
        }
    }

    /// How many members of the subject's spread group one fault domain may hold, when the
    /// subject moves for the spread alone. A member that must move for another reason (its
    /// host is drained, its fault domain declared) is not held back by the spread: it only
    /// prefers the fault domains holding the fewest members.
    func spreadLimit(for s: Subject) -> Int? {
        guard let g = s.spreadGroup, s.movesForSpreadOnly else { return nil }
        return spreadLimit[g] ?? 1
    }

    private func isAnywhere(_ mode: TargetMode?) -> Bool {
        if case .anywhere? = mode { return true }
        return false
    }
}

/// `fd:fd-1` → `fd-1`, `host:host3` → `host3`.
func spreadKeyName(_ key: String) -> String {
    if let colon = key.firstIndex(of: ":") { return String(key[key.index(after: colon)...]) }
    return key
}

/// A mover's chosen target.
struct Assignment: Sendable {
    let target: HostIndex
    let kind: MoveKind
    let refusals: [Reason]
}

extension Planner {
    /// The best target for a mover against the projected usage, or why there is none.
    func chooseTarget(_ s: Subject, _ p: MoveProfile) -> Result<Assignment, Blocked> {
        let source = fleet.hosts[s.source]
        let candidates: [Int]
        var preferFD: String?
        switch s.mode {
        case .host(let hi)?:
            candidates = [hi]
        case .unknownHost(let name)?:
            return .failure(Blocked(to: name, reasons: [Reason(.targetUnknown, "\(name) is not a host of the file")]))
        case .faultDomain(let fd)?:
            candidates = fleet.hostsByFaultDomain[fd] ?? []
            if candidates.isEmpty || candidates == [s.source.raw] {
                return .failure(Blocked(to: nil, reasons: [Reason(.targetFaultDomain, "no other host is in fault domain \(fd)")]))
            }
        case .anywhere(let fd)?:
            candidates = Array(fleet.hosts.indices)
            preferFD = fd
        case nil:
            return .failure(Blocked(to: nil, reasons: []))
        }
        let used = s.spreadGroup.flatMap { spreadHolders[$0] } ?? [:]
        var best: (score: (Int, Int, Int, Int), host: Int, kind: MoveKind)?
        for c in candidates where c != s.source.raw {
            let host = fleet.hosts[c]
            guard p.accepts(host, charged: poolCharged[HostIndex(c)] ?? [:]) else { continue }
            if let limit = spreadLimit(for: s), (used[host.spreadKey]?.count ?? 0) >= limit { continue }
            let after = projected[HostIndex(c)] + p.footprintTarget
            guard after.fits(in: host.capacity) else { continue }
            guard let kind = p.bestRung(from: source, to: host) else { continue }
            // Spread members go to the fault domain holding the fewest members first.
            let pref = s.spreadGroup != nil ? (used[host.spreadKey]?.count ?? 0)
                : (preferFD != nil && host.faultDomain == preferFD ? 0 : 1)
            let score = (pref, kind.ladderIndex, saturatingSubtract(after.memoryMiB, host.capacity.memoryMiB), c)
            if let current = best, current.score <= score { continue }
            best = (score, c, kind)
        }
        if let best {
            let host = fleet.hosts[best.host]
            let evaluation = p.evaluate(from: source, to: host)
            return .success(Assignment(target: HostIndex(best.host), kind: evaluation.kind ?? best.kind,
                                       refusals: evaluation.refusals + p.leftoverNotes(host)))
        }
        // Nothing fits: say why, host by host for a declared host, else grouped by code.
        var problems: [Reason] = []
        for c in candidates where c != s.source.raw {
            let host = fleet.hosts[c]
            var r = p.targetProblems(host, charged: poolCharged[HostIndex(c)] ?? [:])
            if r.isEmpty, let limit = spreadLimit(for: s), let holders = used[host.spreadKey], holders.count >= limit {
                r.append(Reason(.targetSpread, "\(spreadKeyName(host.spreadKey)) already holds \(holders.joined(separator: ", ")) of spread group \(s.spreadGroup ?? "")"))
            }
            if r.isEmpty { r += capacityProblems(host, need: p.footprintTarget) }
            if r.isEmpty { r += p.evaluate(from: source, to: host).refusals }
            problems += r
        }
        if case .host(let hi)? = s.mode {
            return .failure(Blocked(to: fleet.hosts[hi].name, reasons: unique(problems)))
        }
        var reasons = [Reason(.placeNoHost, "no host can take it")]
        reasons += grouped(problems)
        return .failure(Blocked(to: nil, reasons: reasons))
    }

    /// Memory and vCPU shortfalls of `host` for `need`, against the projected usage.
    func capacityProblems(_ host: HostInfo, need: Resources) -> [Reason] {
        var r: [Reason] = []
        let used = projected[HostIndex(host.index)]
        if saturatingAdd(used.memoryMiB, need.memoryMiB) > host.capacity.memoryMiB {
            r.append(.targetCapacityMemory(host: host.name, free: saturatingSubtract(host.capacity.memoryMiB, used.memoryMiB), need: need.memoryMiB))
        }
        if saturatingAdd(used.vcpus, need.vcpus) > host.capacity.vcpus {
            r.append(.targetCapacityVcpus(host: host.name, free: saturatingSubtract(host.capacity.vcpus, used.vcpus), need: need.vcpus,
                                          cpus: host.cpus, overcommit: fleet.overcommit))
        }
        return r
    }
}

/// Why an instance is blocked, and where it was meant to go.
struct Blocked: Error, Sendable {
    let to: String?
    let reasons: [Reason]
}

/// Reasons grouped by code: the first message of each code, then how many more hosts said
/// the same; ladder refusals (which repeat per host) appear once.
func grouped(_ reasons: [Reason]) -> [Reason] {
    var order: [ReasonCode] = []
    var first: [ReasonCode: Reason] = [:]
    var messages: [ReasonCode: Set<String>] = [:]
    for r in reasons {
        if first[r.code] == nil { order.append(r.code); first[r.code] = r }
        messages[r.code, default: []].insert(r.message)
    }
    return order.compactMap { code in
        guard let r = first[code] else { return nil }
        let more = (messages[code]?.count ?? 1) - 1
        return more > 0 ? Reason(code, "\(r.message) (and \(more) more like it)") : r
    }
}

extension MoveKind {
    var ladderIndex: Int {
        switch self {
        case .live: 0
        case .reboot: 1
        case .cold: 2
        case .manual: 3
        }
    }
}

extension MoveProfile {
    /// Notes for volumes an earlier failed copy left on `host` that this move reuses.
    func leftoverNotes(_ host: HostInfo) -> [Reason] {
        localVolumes.compactMap { v in
            guard let pool = host.pools[v.pool], pool.leftovers.contains(v.volume) else { return nil }
            return Reason(.targetVolumeLeftover, "\(host.name) has \(v.pool)/\(v.volume), left by an earlier copy that did not finish (virtplace created it, no domain uses it): the copy reuses it")
        }
    }

    /// `targetProblems(host).isEmpty`, without building messages.
    func accepts(_ host: HostInfo, charged: [String: Int64] = [:]) -> Bool {
        guard host.takesNew else { return false }
        if platformRefusal(host) != nil { return false }
        for (pool, _) in pools where host.pools[pool] == nil { return false }
        for v in localVolumes {
            if let pool = host.pools[v.pool], pool.volumes.contains(v.volume), !pool.leftovers.contains(v.volume) { return false }
        }
        for v in sharedVolumes { if let pool = host.pools[v.pool], !pool.volumes.contains(v.volume) { return false } }
        for need in poolNeeds where shortfall(need, on: host, charged: charged) != nil { return false }
        for v in attachVolumes { if let pool = host.pools[v.pool], !pool.volumes.contains(v.volume) { return false } }
        for (net, _) in networks where !host.networks.contains(net) { return false }
        for (br, _) in bridges where !host.bridges.contains(br) { return false }
        return true
    }

    /// `evaluate(from:to:).kind`, without building messages.
    func bestRung(from source: HostInfo, to target: HostInfo) -> MoveKind? {
        for rung in rungs where allowed.contains(rung) && (sourceRefusals[rung] ?? []).isEmpty {
            if rung == .live, hostPassthrough, let a = source.cpuModel, let b = target.cpuModel, a != b { continue }
            if rung == .live, !transport.isPlain, !transportRefusals(transport, from: source, to: target).isEmpty { continue }
            return rung
        }
        return nil
    }

    /// Whether some rung could work on some target: false when the instance's own side
    /// refuses every rung.
    var anyRungPossible: Bool {
        rungs.contains { rung in
            allowed.contains(rung) && (sourceRefusals[rung] ?? []).isEmpty
        }
    }
}
