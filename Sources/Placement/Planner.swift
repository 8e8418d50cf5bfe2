/// The planner: a pure function of the desired state and the observed fleet. No I/O, no
/// clock; every collection is sorted before it is iterated, so the same inputs give the same
/// plan byte for byte. docs/planning.md describes the rules.

/// Computes the plan that brings `observed` to `desired`.
///
/// For each declared instance: where it is, where it should be (a satisfied instance never
/// moves), the least disruptive allowed move kind with every refused check as a reason, and
/// the config, device and lifecycle drift to correct; then the moves are ordered into waves
/// under the capacity and `parallel` limits, and moves beyond `maxMovesPerRun` are deferred.
/// Domains the file does not declare are listed as unmanaged and never touched.
///
/// `ownVolumes` are the volumes virtplace's journal says it created for a copy
/// (`host/pool/volume`, see `Journal.createdVolumes`): one left on a target by a failed copy
/// and used by no domain there is reused by the retry (reported), never a blocker.
///
/// `clock` says what time it is (whether maintenance events are due) and which instances an
/// operator asked to move now; the default counts no due date as reached.
///
/// `history` is what earlier moves achieved (the state directory's transfer history): every
/// move gets an estimate from it and the observation, and the plan the replay of its schedule
/// (`Plan.estimated`).
public func makePlan(desired: PlacementSpec, observed: ObservedFleet, ownVolumes: Set<String> = [],
                     clock: PlanningClock = .init(), history: TransferHistory = .init()) -> Plan {
    var planner = Planner(spec: desired, fleet: FleetIndex(spec: desired, observed: observed, own: ownVolumes))
    planner.clock = clock
    return planner.run(observed: observed).estimated(observed: observed, history: history)
}

/// What happens to one subject.
enum Outcome {
    case unchanged
    case blocked(to: String?, reasons: [Reason])
    case update(delta: Resources)
    case move(MoveProfile)
}

/// A subject's place in the planner's table (`Book`).
struct SubjectIndex: Hashable, Comparable, Sendable {
    let raw: Int
    static func < (a: SubjectIndex, b: SubjectIndex) -> Bool { a.raw < b.raw }
}

/// A host's place in `FleetIndex.hosts`.
struct HostIndex: Hashable, Comparable, Sendable {
    let raw: Int
    init(_ raw: Int) { self.raw = raw }
    static func < (a: HostIndex, b: HostIndex) -> Bool { a.raw < b.raw }
}

/// One value per host of the fleet, by `HostIndex`.
struct PerHost<Value>: Sendable where Value: Sendable {
    private(set) var values: [Value]
    init(_ values: [Value]) { self.values = values }
    init(repeating value: Value, count: Int) { values = Array(repeating: value, count: count) }
    subscript(h: HostIndex) -> Value {
        get { values[h.raw] }
        _modify { yield &values[h.raw] }
    }
}

extension Array where Element == HostInfo {
    subscript(h: HostIndex) -> HostInfo { self[h.raw] }
}

/// One declared instance found on exactly one host, and what the planner made of it.
struct Case {
    var subject: Subject
    var outcome: Outcome = .unchanged
    /// A mover's target, once chosen.
    var assignment: Assignment?
    /// Its scheduling job (`Ordering.jobs`), for moves with a target and updates.
    var job: Int?
}

/// The planner's table: one case per subject, by `SubjectIndex`, and the actions of the
/// declared instances that are no subject (not found, or found on several hosts).
private struct Book {
    var cases: [Case]
    var early: [Action]
    /// Notes about declared instances that are no subject (a migration in flight).
    var earlyNotes: [Note]
    /// Declared instances, subjects or not.
    var declared: Int
    var indices: [SubjectIndex] { cases.indices.map { SubjectIndex(raw: $0) } }
    // Changed in place, never copied out and back (a copy of a subject costs a retain per
    // field; one of its notes would be copied on every append).
    subscript(i: SubjectIndex) -> Case {
        get { cases[i.raw] }
        _modify { yield &cases[i.raw] }
    }
}

/// What the target phase tracks per host: the movers assigned there (latest last), and the
/// updates that grow an instance in place, to give room back when a mover stays.
private struct Arrivals {
    var onHost: PerHost<[SubjectIndex]>
    var growing: [HostIndex: [SubjectIndex]] = [:]
}

/// The scheduling result: the jobs (relay hops appended), the first schedule (with relays)
/// and the final one (after `maxMovesPerRun`), and why deferred jobs wait.
private struct Ordering {
    var jobs: [Job]
    var first: Schedule
    var final: Schedule
    var deferred: [Int: String]
}

/// The planner's working state.
struct Planner {
    let spec: PlacementSpec
    let fleet: FleetIndex
    /// Usage per host in the end state being built: movers gone from their sources, their
    /// targets charged, updates' growth added.
    var projected: PerHost<Resources>
    /// Per spread group: which members hold each fault domain (`spreadKey` → names).
    var spreadHolders: [String: [String: [String]]] = [:]
    /// Per spread group: how many members one fault domain may hold (the best spread).
    var spreadLimit: [String: Int] = [:]
    /// Bytes the assigned moves copy into each pool of each host (host → pool → bytes), so
    /// that two copies into one pool are checked against its free space together.
    var poolCharged: [HostIndex: [String: Int64]] = [:]
    /// The time and the early moves asked for (maintenance events).
    var clock = PlanningClock()

    init(spec: PlacementSpec, fleet: FleetIndex) {
        self.spec = spec
        self.fleet = fleet
        self.projected = PerHost(fleet.usage)
    }

    private var fleetName: String { spec.metadata.name }

    /// The phases, in order: who is where (`gather`), what each needs (`decideAll`), where
    /// movers go (`assignTargets`), which starts have room (`refuseStartsWithoutRoom`), in
    /// which order and after what (`order`), the actions (`actions`), the plan (`assemble`).
    mutating func run(observed: ObservedFleet) -> Plan {
        var book = gather()
        var arrivals = decideAll(&book)
        assignTargets(&book, &arrivals)
        refuseStartsWithoutRoom(&book)
        let ordering = order(&book)
        var actions = self.actions(book, ordering)
        let maintenanceNotes = fleet.hosts.contains { $0.maintenance != nil }
            ? maintenanceStatus(subjects: book.cases.lazy.map(\.subject), actions: &actions) : []
        return assemble(observed: observed, book: book, actions: actions, notes: maintenanceNotes)
    }

    /// Phase 1: each declared instance found on exactly one host becomes a subject, with its
    /// drift, blockers and placement cause; the others are blocked at once. Then spread groups.
    private mutating func gather() -> Book {
        var early: [Action] = []
        var earlyNotes: [Note] = []
        var cases: [Case] = []
        cases.reserveCapacity(spec.instances.count)
        // Computed: profiles merged into every instance. Once per plan.
        let declared = spec.desiredInstances
        for d in declared {
            let refs = fleet.locations[d.name] ?? []
            guard let ref = refs.first else {
                early.append(Action(instance: d.name, kind: .blocked, from: nil, to: d.host,
                                    reasons: [.notFound(unreachable: fleet.unreachableHostNames)]))
                continue
            }
            if refs.count > 1 {
                if let (from, to) = migrationInFlight(refs) {
                    earlyNotes.append(Note(instance: d.name, code: .instanceMigrating,
                                           message: "migration in progress from \(from) to \(to), not started by virtplace: waiting for it to finish before planning this instance"))
                    continue
                }
                let places = refs.map { (host: fleet.hosts[$0.host].name, uuid: fleet[$0].uuid) }
                early.append(Action(instance: d.name, kind: .blocked, from: nil, to: d.host, reasons: [.conflict(places)]))
                continue
            }
            let domain = fleet[ref]
            let d = maintenanceDesired(d, on: ref.host)
            var s = Subject(desired: d, source: HostIndex(ref.host), domain: domain, drift: computeDrift(d, domain, fleet: fleetName))
            s.notes = s.drift.notes
            if let other = domain.fleet, other != fleetName { s.blockers.append(.otherFleet(other, mine: fleetName)) }
            if !domain.isRunning && !domain.isShutOff {
                s.blockers.append(.domainState(domain.state, host: fleet.hosts[ref.host].name))
            }
            classify(&s)
            cases.append(Case(subject: s))
        }
        spread(&cases)
        return Book(cases: cases, early: early, earlyNotes: earlyNotes, declared: declared.count)
    }

    /// Phase 2: what each subject needs, without targets yet; the projected usage without the
    /// movers and with the updates; growth that does not fit is refused.
    private mutating func decideAll(_ book: inout Book) -> Arrivals {
        var arrivals = Arrivals(onHost: PerHost(repeating: [], count: fleet.hosts.count))
        for i in book.indices {
            book[i].outcome = decide(book[i].subject)
            let source = book[i].subject.source
            switch book[i].outcome {
            case .move(let p):
                projected[source] -= p.footprintNow
            case .update(let delta):
                projected[source] += delta
                if delta.memoryMiB > 0 || delta.vcpus > 0 { arrivals.growing[source, default: []].append(i) }
            case .unchanged, .blocked:
                break
            }
        }
        for h in arrivals.growing.keys.sorted() {
            repair(h, &book, &arrivals)
        }
        return arrivals
    }

    /// Phase 3: targets, fixed ones first. A mover with no target stays (a spread member
    /// shares its fault domain; any other is blocked), which may evict later arrivals on its
    /// host: they are placed again.
    private mutating func assignTargets(_ book: inout Book, _ arrivals: inout Arrivals) {
        var queue = book.indices.filter { if case .move = book[$0].outcome { true } else { false } }
        queue.sort { (book[$0].subject.mode?.rank ?? 9, book[$0].subject.name) < (book[$1].subject.mode?.rank ?? 9, book[$1].subject.name) }
        var head = 0
        while head < queue.count {
            let i = queue[head]
            head += 1
            guard case .move(let p) = book[i].outcome else { continue }
            let s = book[i].subject
            switch chooseTarget(s, p) {
            case .success(let a):
                book[i].assignment = a
                projected[a.target] += p.footprintTarget
                charge(p, on: a.target, sign: 1)
                arrivals.onHost[a.target].append(i)
                if let g = s.spreadGroup { spreadHolders[g, default: [:]][fleet.hosts[a.target].spreadKey, default: []].append(s.name) }
            case .failure(let b):
                projected[s.source] += p.footprintNow
                if let g = s.spreadGroup, s.movesForSpreadOnly {
                    stayForSpread(i, group: g, blocked: b, &book, &arrivals)
                } else {
                    let drift = s.drift.reasons(running: s.domain.isRunning, host: fleet.hosts[s.source].name)
                    book[i].outcome = .blocked(to: b.to, reasons: s.causes + drift + b.reasons)
                }
                for e in repair(s.source, &book, &arrivals) {
                    if let a = book[e].assignment {
                        book[e].assignment = nil
                        if case .move(let ep) = book[e].outcome { charge(ep, on: a.target, sign: -1) }
                        if let g = book[e].subject.spreadGroup {
                            spreadHolders[g]?[fleet.hosts[a.target].spreadKey]?.removeAll { $0 == book[e].subject.name }
                        }
                    }
                    queue.append(e)
                }
            }
        }
    }

    /// The best spread possible: a member no other fault domain can take stays where it is,
    /// sharing (a note, not a blocked action: the plan converges), with any drift corrected.
    private mutating func stayForSpread(_ i: SubjectIndex, group g: String, blocked b: Blocked, _ book: inout Book, _ arrivals: inout Arrivals) {
        let s = book[i].subject
        let key = fleet.hosts[s.source].spreadKey
        let others = (spreadHolders[g]?[key] ?? []).joined(separator: ", ")
        let why = grouped(b.reasons).filter { $0.code != .placeNoHost }.map(\.message).prefix(3).joined(separator: "; ")
        book[i].subject.notes.append(Note(instance: s.name, code: .placeSpreadShared, message:
            "spread group \(g): stays on \(fleet.hosts[s.source].name)\(others.isEmpty ? "" : ", sharing \(spreadKeyName(key)) with \(others)"): no host in another fault domain can take it\(why.isEmpty ? "" : " (\(why))")"))
        for r in b.reasons where r.code == .targetSpread {
            book[i].subject.notes.append(Note(instance: s.name, code: r.code, message: r.message))
        }
        spreadHolders[g, default: [:]][key, default: []].append(s.name)
        var stay = s
        stay.mode = nil
        stay.causes = []
        stay.spreadGroup = nil
        book[i].outcome = decide(stay)
        if case .update(let delta) = book[i].outcome {
            projected[s.source] += delta
            if delta.memoryMiB > 0 || delta.vcpus > 0 { arrivals.growing[s.source, default: []].append(i) }
        }
    }

    /// Phase 4: a domain is started only where the host's capacity holds every domain defined
    /// there in the end state, this one included (defined domains hold their room, running or
    /// not). Otherwise the start is refused: the file must move it or declare more capacity.
    private mutating func refuseStartsWithoutRoom(_ book: inout Book) {
        for i in book.indices {
            let s = book[i].subject
            guard case .update(let delta) = book[i].outcome, s.drift.lifecycle == .start else { continue }
            let h = s.source
            let host = fleet.hosts[h]
            guard !projected[h].fits(in: host.capacity) else { continue }
            let need = s.domain.footprint + delta.positivePart
            book[i].outcome = .blocked(to: host.name, reasons: s.drift.reasons(running: false, host: host.name) + [
                Reason(.startCapacity, "not started: \(host.name) can hold \(host.capacity.memoryMiB) MiB and \(host.capacity.vcpus) vCPUs, and the domains defined there would reserve \(projected[h].memoryMiB) MiB and \(projected[h].vcpus) vCPUs with it (\(need.memoryMiB) MiB, \(need.vcpus) vCPUs); move it (host or faultDomain) or declare more capacity")])
            projected[h] -= delta
        }
    }

    /// Phase 5: jobs into waves under capacity and the `parallel` limits (relays where nothing
    /// fits), each with the jobs it depends on; maintenance moves that wait for their due date
    /// and moves beyond `maxMovesPerRun` deferred.
    private func order(_ book: inout Book) -> Ordering {
        var jobs: [Job] = []
        for i in book.indices {
            let s = book[i].subject
            switch book[i].outcome {
            case .move(let p):
                guard let a = book[i].assignment else { continue }
                book[i].job = jobs.count
                jobs.append(Job(id: jobs.count, subject: i, role: .move, source: s.source.raw, target: a.target.raw,
                                need: p.footprintTarget, release: p.footprintNow, after: nil, part: .direct, kind: a.kind))
            case .update(let delta):
                book[i].job = jobs.count
                jobs.append(Job(id: jobs.count, subject: i, role: .update, source: s.source.raw, target: s.source.raw,
                                need: delta.positivePart, release: (Resources.zero - delta).positivePart,
                                after: nil, part: .direct, kind: nil))
            case .unchanged, .blocked:
                break
            }
        }
        let capacity = fleet.hosts.map(\.capacity)
        let limits = Limits(spec.policy.parallel)
        let cases = book.cases
        let frozen = self
        // Maintenance moves with downtime wait for the due date: deferred, like moves over the cap.
        let waiting = maintenanceWaits(book.cases.compactMap { c in
            c.assignment.flatMap { a in c.job.map { (subject: c.subject, assignment: a, job: $0) } }
        })
        let first = schedule(jobs: jobs, active: jobs.indices.filter { waiting[$0] == nil }, capacity: capacity,
                             usage: fleet.usage, limits: limits) { job, usage in
            guard case .move(let p) = cases[job.subject.raw].outcome else { return nil }
            return frozen.relayHost(for: job, profile: p, usage: usage)
        }
        var ordering = Ordering(jobs: jobs, first: first, final: first, deferred: waiting)
        let maxMoves = spec.policy.maxMovesPerRun
        let scheduledMoves = first.order.filter { first.jobs[$0].isMove }
        guard maxMoves > 0, scheduledMoves.count > maxMoves else { return ordering }
        var kept = Set(scheduledMoves.prefix(maxMoves))
        // Never keep the first hop of a relay without its second.
        for job in first.jobs {
            if case .secondHop(_, _) = job.part, !kept.contains(job.id), let before = job.after { kept.remove(before) }
        }
        let active = first.order.filter { kept.contains($0) || first.jobs[$0].role == .update }
        ordering.final = schedule(jobs: first.jobs, active: active, capacity: capacity, usage: fleet.usage, limits: limits, relay: nil)
        for id in scheduledMoves where !kept.contains(id) {
            ordering.deferred[id] = "deferred: maxMovesPerRun (\(maxMoves)) reached; a later run moves it"
        }
        for id in ordering.final.stuck {
            let host = ordering.final.waitedOn[id].map { fleet.hosts[$0].name } ?? "its host"
            ordering.deferred[id] = "deferred: waits for room on \(host) that a deferred move frees"
        }
        return ordering
    }

    /// Phase 6: the actions in plan order, numbered, each with the ids it depends on.
    private func actions(_ book: Book, _ ordering: Ordering) -> [Action] {
        let final = ordering.final
        var built = book.early.map { Built(action: $0, job: nil) }
        for c in book.cases {
            let s = c.subject
            let source = fleet.hosts[s.source].name
            switch c.outcome {
            case .unchanged:
                continue
            case .blocked(let to, let reasons):
                built.append(Built(action: Action(instance: s.name, kind: .blocked, from: source, to: to, reasons: unique(reasons)), job: nil))
            case .update:
                guard let id = c.job else { continue }
                let (kind, steps, reasons) = inPlaceSteps(s, host: source, policy: spec.policy, fleetName: fleetName)
                if let why = ordering.deferred[id] {
                    built.append(Built(action: Action(instance: s.name, kind: kind, from: source, to: source,
                                                      reasons: reasons + [Reason(.orderDeferred, why)], deferred: true), job: nil))
                } else if final.wave[id] > 0 {
                    built.append(Built(action: Action(instance: s.name, kind: kind, from: source, to: source, reasons: reasons,
                                                      steps: steps, wave: final.wave[id]), job: id))
                } else {
                    let growth = ordering.jobs[id].need
                    built.append(Built(action: Action(instance: s.name, kind: .blocked, from: source, to: source, reasons: reasons + [
                        Reason(.updateCapacity, "\(source) has no room for the growth (+\(growth.memoryMiB) MiB, +\(growth.vcpus) vCPUs)")]), job: nil))
                }
            case .move(let p):
                guard let id = c.job, let a = c.assignment else { continue }
                built += moveActions(subject: s, profile: p, assignment: a, jobID: id, first: ordering.first, final: final,
                                     deferred: ordering.deferred)
            }
        }
        return numbered(built, dependencies: final.dependencies)
    }

    /// Phase 7: the summary, notes, unmanaged domains and basis around the actions.
    private func assemble(observed: ObservedFleet, book: Book, actions: [Action], notes extra: [Note]) -> Plan {
        let instances = book.declared
        var summary = Summary()
        summary.instances = instances
        var touched = Set<String>()
        for a in actions {
            touched.insert(a.instance)
            if a.deferred { summary.deferred += 1 } else { summary.add(a.kind) }
        }
        summary.unchanged = instances - touched.count
        summary.waves = actions.map(\.wave).max() ?? 0

        let notes = (book.earlyNotes + book.cases.flatMap(\.subject.notes) + extra).sorted { ($0.instance, $0.code, $0.message) < ($1.instance, $1.code, $1.message) }
        let declared = Set(spec.instances.keys)
        var unmanaged: [UnmanagedDomain] = []
        for (h, host) in fleet.hosts.enumerated() {
            for d in fleet.domains[h] where !declared.contains(d.name) {
                unmanaged.append(UnmanagedDomain(name: d.name, host: host.name))
            }
        }
        unmanaged.sort { ($0.name, $0.host) < ($1.name, $1.host) }
        let involved = Array(touched).sorted()
        let hosts = spec.hosts.keys.sorted().compactMap { name in
            spec.hosts[name].map { PlanHost(name: name, uri: $0.uri, faultDomain: $0.faultDomain) }
        }
        return Plan(fleet: fleetName, basis: Basis(observed: observed, involving: involved), actions: actions,
                    summary: summary, notes: notes, unmanaged: unmanaged,
                    hosts: hosts, parallel: spec.policy.parallel)
    }

    /// A migration libvirt is running (not one virtplace started: its own moves finish within
    /// the run): the same UUID on exactly two hosts, one copy paused for the incoming
    /// migration, the other running or paused for the migration's last phase. The source and
    /// target host names; nil for anything else (a real duplicate).
    private func migrationInFlight(_ refs: [DomainRef]) -> (from: String, to: String)? {
        guard refs.count == 2 else { return nil }
        let a = fleet[refs[0]], b = fleet[refs[1]]
        guard a.uuid == b.uuid else { return nil }
        func incoming(_ d: ObservedDomain) -> Bool { d.state == "paused" && d.stateReason == "migration" }
        func outgoing(_ d: ObservedDomain) -> Bool { d.isRunning || incoming(d) }
        // The incoming copy is transient until the migration finishes (PERSIST_DEST defines it
        // then); when both are paused for it, the transient one is the target.
        if incoming(b), outgoing(a), !(incoming(a) && !a.persistent) {
            return (fleet.hosts[refs[0].host].name, fleet.hosts[refs[1].host].name)
        }
        if incoming(a), outgoing(b) {
            return (fleet.hosts[refs[1].host].name, fleet.hosts[refs[0].host].name)
        }
        return nil
    }

    /// Adds (`sign` 1) or takes back (-1) the bytes a move copies into `host`'s pools.
    private mutating func charge(_ p: MoveProfile, on host: HostIndex, sign: Int64) {
        for need in p.poolNeeds {
            guard let bytes = need.bytes else { continue }
            let copied = max(saturatingAdd(bytes, -copySpaceReserve), 0)
            let current = poolCharged[host, default: [:]][need.pool] ?? 0
            poolCharged[host, default: [:]][need.pool] = max(saturatingAdd(current, sign * copied), 0)
        }
    }

    /// What to do with a subject before any target is chosen.
    private func decide(_ s: Subject) -> Outcome {
        let source = fleet.hosts[s.source].name
        if let other = s.blockers.first(where: { $0.code == .domainOtherFleet }) {
            return .blocked(to: nil, reasons: [other])
        }
        let needsMove = s.mode != nil
        if !needsMove && s.drift.isEmpty { return .unchanged }
        let driftReasons = s.drift.reasons(running: s.domain.isRunning, host: source)
        if !s.blockers.isEmpty {
            return .blocked(to: targetName(s.mode), reasons: s.causes + driftReasons + s.blockers)
        }
        if needsMove {
            let p = makeMoveProfile(s.desired, s.domain, drift: s.drift, fleet: fleet, source: fleet.hosts[s.source])
            if !p.anyRungPossible {
                let here = fleet.hosts[s.source]
                return .blocked(to: targetName(s.mode), reasons: s.causes + driftReasons + p.evaluate(from: here, to: here).refusals)
            }
            return .move(p)
        }
        if !s.domain.persistent {
            return .blocked(to: source, reasons: driftReasons + [
                Reason(.domainTransient, "transient domain: it has no persistent definition to update; define it persistently")])
        }
        let missing = s.drift.unavailable(on: fleet.hosts[s.source])
        if !missing.isEmpty { return .blocked(to: source, reasons: driftReasons + missing) }
        return .update(delta: s.drift.resourceDelta(from: s.domain))
    }

    private func targetName(_ mode: TargetMode?) -> String? {
        switch mode {
        case .host(let hi)?: fleet.hosts[hi].name
        case .unknownHost(let name)?: name
        default: nil
        }
    }

    /// Brings a host's projected usage back within capacity after a mover turned out to stay:
    /// evicts the latest arrivals first (returned, to be placed again; their room is given back
    /// here), then refuses the growth of in-place updates, latest name first.
    @discardableResult
    private mutating func repair(_ h: HostIndex, _ book: inout Book, _ arrivals: inout Arrivals) -> [SubjectIndex] {
        var evicted: [SubjectIndex] = []
        let capacity = fleet.hosts[h].capacity
        while !projected[h].fits(in: capacity) {
            if let last = arrivals.onHost[h].popLast() {
                if case .move(let p) = book[last].outcome { projected[h] -= p.footprintTarget }
                evicted.append(last)
                continue
            }
            guard let i = arrivals.growing[h]?.max(by: { book[$0].subject.name < book[$1].subject.name }),
                  case .update(let delta) = book[i].outcome else { break }
            arrivals.growing[h]?.removeAll { $0 == i }
            let name = fleet.hosts[h].name
            let s = book[i].subject
            book[i].outcome = .blocked(to: name, reasons: s.drift.reasons(running: s.domain.isRunning, host: name) + [
                Reason(.updateCapacity, "\(name) has no room for the growth (+\(max(delta.memoryMiB, 0)) MiB, +\(max(delta.vcpus, 0)) vCPUs)")])
            projected[h] -= delta
        }
        return evicted
    }

    /// A third host a stuck move can go through: it accepts the instance, has room now, and
    /// both hops have an allowed rung. Most free memory first, then name.
    private func relayHost(for job: Job, profile p: MoveProfile, usage: [Resources]) -> RelayChoice? {
        let source = fleet.hosts[job.source]
        let target = fleet.hosts[job.target]
        var best: (score: (Int, Int), choice: RelayChoice)?
        for host in fleet.hosts where host.index != job.source && host.index != job.target
            && p.accepts(host, charged: poolCharged[HostIndex(host.index)] ?? [:]) {
            let after = usage[host.index] + job.release
            guard after.fits(in: host.capacity),
                  let k1 = p.bestRung(from: source, to: host), let k2 = p.bestRung(from: host, to: target) else { continue }
            let score = (saturatingSubtract(after.memoryMiB, host.capacity.memoryMiB), host.index)
            if let current = best, current.score <= score { continue }
            best = (score, RelayChoice(via: host.index, first: k1, second: k2))
        }
        return best?.choice
    }

    /// The action(s) of one move: one, two for a relay, blocked when unorderable, or deferred.
    private func moveActions(subject s: Subject, profile p: MoveProfile, assignment a: Assignment, jobID: Int,
                             first: Schedule, final: Schedule, deferred: [Int: String]) -> [Built] {
        let source = fleet.hosts[s.source]
        let target = fleet.hosts[a.target]
        let driftRunning = a.kind == .live
        let drift = s.drift.reasons(running: driftRunning, host: source.name)
        // Relay hops that replaced this job in the first pass.
        let hops = first.jobs.filter { job in
            switch job.part {
            case .firstHop(_, let o), .secondHop(_, let o): o == jobID
            case .direct: false
            }
        }
        if hops.isEmpty {
            if let why = deferred[jobID] {
                return [Built(action: Action(instance: s.name, kind: ActionKind(a.kind), from: source.name, to: target.name,
                               reasons: s.causes + drift + a.refusals + [Reason(.orderDeferred, why)], deferred: true), job: nil)]
            }
            guard final.wave[jobID] > 0 else {
                return [Built(action: Action(instance: s.name, kind: .blocked, from: source.name, to: target.name,
                               reasons: s.causes + drift + a.refusals + [unorderable(jobID, schedule: first)]), job: nil)]
            }
            let hop = Hop(kind: a.kind, from: source.name, to: target.name, first: true, final: true)
            let steps = moveSteps(hop, subject: s, profile: p, runningBefore: s.domain.isRunning,
                                  policy: spec.policy, fleetName: fleetName, target: target)
            // A failed live migration that leaves the guest running on its source falls back to
            // the next rung the file allows, to the same target (whose room this move holds).
            var fallback: Fallback?
            if let next = p.fallbackRung(after: a.kind, afterReboot: rebootFallsToManual(s)) {
                let fallbackHop = Hop(kind: next, from: source.name, to: target.name, first: true, final: true)
                fallback = Fallback(kind: ActionKind(next),
                                    steps: moveSteps(fallbackHop, subject: s, profile: p, runningBefore: s.domain.isRunning,
                                                     policy: spec.policy, fleetName: fleetName, target: target))
            }
            return [Built(action: Action(instance: s.name, kind: ActionKind(a.kind), from: source.name, to: target.name,
                           reasons: s.causes + drift + a.refusals + p.bootNote(a.kind), steps: steps, wave: final.wave[jobID],
                           fallback: fallback), job: jobID)]
        }
        // A relay: if either hop is deferred or stuck, report the whole move that way.
        let hopIDs = hops.map(\.id)
        if let why = hopIDs.compactMap({ deferred[$0] }).first, hopIDs.allSatisfy({ final.wave[$0] == 0 }) {
            return [Built(action: Action(instance: s.name, kind: ActionKind(a.kind), from: source.name, to: target.name,
                           reasons: s.causes + drift + a.refusals + [Reason(.orderDeferred, why)], deferred: true), job: nil)]
        }
        var result: [Built] = []
        var runningBefore = s.domain.isRunning
        for hop in hops {
            guard let kind = hop.kind else { continue }
            let from = fleet.hosts[hop.source]
            let to = fleet.hosts[hop.target]
            let isFirst: Bool
            if case .firstHop = hop.part { isFirst = true } else { isFirst = false }
            let refusals = p.evaluate(from: from, to: to).refusals
            let note = isFirst
                ? Reason(.orderRelay, "first hop, through \(to.name): \(target.name) has no room until moves off it run")
                : Reason(.orderRelay, "second hop, from relay host \(from.name)")
            let reasons = s.causes + (isFirst ? [] : s.drift.reasons(running: kind == .live, host: source.name)) + refusals
                + p.bootNote(kind) + [note]
            if final.wave[hop.id] == 0 {
                if let why = deferred[hop.id] {
                    result.append(Built(action: Action(instance: s.name, kind: ActionKind(kind), from: from.name, to: to.name,
                                         reasons: reasons + [Reason(.orderDeferred, why)], deferred: true), job: nil))
                } else {
                    result.append(Built(action: Action(instance: s.name, kind: .blocked, from: from.name, to: to.name,
                                         reasons: reasons + [unorderable(hop.id, schedule: first)]), job: nil))
                }
                break
            }
            let steps = moveSteps(Hop(kind: kind, from: from.name, to: to.name, first: isFirst, final: !isFirst),
                                  subject: s, profile: p, runningBefore: runningBefore,
                                  policy: spec.policy, fleetName: fleetName, target: to)
            runningBefore = runningAfter(kind, runningBefore: runningBefore, final: !isFirst, desired: s.desired.state)
            result.append(Built(action: Action(instance: s.name, kind: ActionKind(kind), from: from.name, to: to.name,
                                 reasons: reasons, steps: steps, wave: final.wave[hop.id]), job: hop.id))
        }
        return result
    }

    private func unorderable(_ id: Int, schedule: Schedule) -> Reason {
        let job = schedule.jobs[id]
        let host = fleet.hosts[schedule.waitedOn[id] ?? job.target]
        return Reason(.orderUnorderable,
                      "cannot be ordered: \(host.name) never has room for it (\(job.need.memoryMiB) MiB, \(job.need.vcpus) vCPUs) while the moves that would free it wait for room themselves, and no third host has room to relay through")
    }
}

/// An action being built, with the scheduling job it runs (nil for blocked and deferred ones).
struct Built {
    var action: Action
    var job: Int?
}

/// The actions in plan order (`actionOrder`), each with its id (its 1-based position) and the
/// ids of the actions running the jobs its job depends on (`Schedule.dependencies`).
func numbered(_ built: [Built], dependencies: [[Int]]) -> [Action] {
    let sorted = built.sorted { actionOrder($0.action, $1.action) }
    var actionOfJob: [Int: Int] = [:]
    for (n, b) in sorted.enumerated() where b.action.isScheduled {
        if let job = b.job { actionOfJob[job] = n + 1 }
    }
    return sorted.enumerated().map { n, b in
        var action = b.action
        action.id = n + 1
        if action.isScheduled, let job = b.job, job < dependencies.count {
            action.dependsOn = dependencies[job].compactMap { actionOfJob[$0] }.sorted()
        }
        return action
    }
}

/// Scheduled actions by wave, then deferred, then blocked; by instance within each group.
func actionOrder(_ a: Action, _ b: Action) -> Bool {
    func group(_ x: Action) -> Int { x.kind == .blocked ? 2 : (x.deferred ? 1 : 0) }
    return (group(a), a.wave, a.instance) < (group(b), b.wave, b.instance)
}
