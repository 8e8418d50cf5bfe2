/// Ordering: actions into waves. A wave's moves run concurrently; a move takes its room on
/// the target when its wave starts and frees its room on the source when its wave ends, so no
/// host exceeds its capacity at any moment. `parallel.total` bounds the moves of a wave,
/// `parallel.perHost` the moves a host takes part in (as source or target), `perHostIn` and
/// `perHostOut` those arriving at and leaving one host. Updates need no slot but do need room
/// when they grow an instance. When nothing fits (a swap between full hosts), one of the moves
/// goes through a third host with room; when none has room, the remaining moves are
/// unorderable.
///
/// Each scheduled job also gets the jobs it depends on: the earlier hop of a relay, and the
/// fewest earlier releases of room on the host it needs room on (in the order they were
/// scheduled) that make it fit. A job that fits without any release depends on none, so a
/// failed move never holds up a move that did not need its room.

/// A unit of scheduling: a move (or one hop of it), or an in-place update.
struct Job: Sendable {
    enum Role: Sendable { case move, update }
    enum Part: Sendable {
        case direct
        case firstHop(via: Int, original: Int)
        case secondHop(via: Int, original: Int)
    }
    let id: Int
    /// The subject the job belongs to.
    let subject: SubjectIndex
    let role: Role
    let source: Int
    let target: Int
    /// Room taken on the target from the start of the wave.
    let need: Resources
    /// Room freed on the source at the end of the wave.
    let release: Resources
    /// A job that must run in an earlier wave.
    let after: Int?
    let part: Part
    /// The move kind, for move jobs.
    let kind: MoveKind?

    var isMove: Bool { role == .move }
    /// Room taken on the target while the job runs: a move arrives as it is now (`release`)
    /// and is then brought to what the file says (`need`), so the larger of the two.
    var peak: Resources { isMove ? need.union(release) : need }
    var isRelayHop: Bool {
        if case .direct = part { return false }
        return true
    }
}

/// Parallelism limits (values below 1 count as 1; the directional ones within `perHost`).
struct Limits: Sendable {
    let total: Int
    let perHost: Int
    let incoming: Int
    let outgoing: Int

    init(_ parallel: ParallelSpec) {
        total = max(parallel.total, 1)
        perHost = max(parallel.perHost, 1)
        incoming = parallel.incomingLimit
        outgoing = parallel.outgoingLimit
    }
}

/// What a relay needs: the host to go through and the move kind of each hop.
struct RelayChoice: Sendable {
    let via: Int
    let first: MoveKind
    let second: MoveKind
}

/// The result of scheduling.
struct Schedule: Sendable {
    /// Every job, relay hops appended after the jobs they replace.
    var jobs: [Job]
    /// Wave per job id; 0 when not scheduled.
    var wave: [Int]
    /// Scheduled job ids in the order they were scheduled.
    var order: [Int]
    /// Job ids that could not be scheduled, in their order.
    var stuck: [Int]
    /// Per stuck job: the host it waited for room on.
    var waitedOn: [Int: Int]
    /// Per job id: the scheduled jobs it waits on (sorted); empty for unscheduled jobs.
    var dependencies: [[Int]]

    var waves: Int { wave.max() ?? 0 }
}

/// Greedy, wave by wave, in the given order. `relay` finds a third host for a stuck move when
/// nothing else can run; nil disables relays.
func schedule(jobs initial: [Job], active: [Int], capacity: [Resources], usage initialUsage: [Resources],
              limits: Limits, relay: ((Job, [Resources]) -> RelayChoice?)?) -> Schedule {
    var jobs = initial
    var wave = [Int](repeating: 0, count: jobs.count)
    var usage = initialUsage
    var incoming = [Resources](repeating: .zero, count: capacity.count)
    var slots = [Int](repeating: 0, count: capacity.count)
    var slotsIn = [Int](repeating: 0, count: capacity.count)
    var slotsOut = [Int](repeating: 0, count: capacity.count)
    var rooms = RoomLedger(usage: initialUsage)
    var dependencies = [[Int]](repeating: [], count: jobs.count)
    var order: [Int] = []
    var relayed = Set<Int>()
    // Updates first: they take no slot, and growth that fits now should not wait behind moves.
    var pending = active.filter { jobs[$0].role == .update } + active.filter { jobs[$0].role == .move }
    var current = 1
    var waitedOn: [Int: Int] = [:]

    while !pending.isEmpty {
        var selected: [Int] = []
        var keep: [Int] = []
        var moves = 0
        var touched: [Int] = []
        keep.reserveCapacity(pending.count)
        for id in pending {
            let job = jobs[id]
            var ok = true
            if let a = job.after, wave[a] == 0 || wave[a] >= current { ok = false }
            if ok, job.isMove {
                if moves >= limits.total || slots[job.source] >= limits.perHost || slots[job.target] >= limits.perHost
                    || slotsOut[job.source] >= limits.outgoing || slotsIn[job.target] >= limits.incoming { ok = false }
            }
            if ok, !job.peak.isZero, !(usage[job.target] + incoming[job.target] + job.peak).fits(in: capacity[job.target]) {
                ok = false
                waitedOn[id] = job.target
            }
            guard ok else { keep.append(id); continue }
            selected.append(id)
            incoming[job.target] += job.peak
            touched.append(job.target)
            if job.isMove {
                moves += 1
                slots[job.source] += 1
                slots[job.target] += 1
                slotsOut[job.source] += 1
                slotsIn[job.target] += 1
                touched.append(job.source)
            }
        }
        if selected.isEmpty {
            guard let relay, let split = relayOne(pending: pending, jobs: &jobs, relayed: &relayed, usage: usage, relay: relay) else { break }
            wave += [Int](repeating: 0, count: jobs.count - wave.count)
            dependencies += [[Int]](repeating: [], count: jobs.count - dependencies.count)
            pending = split
            continue
        }
        for id in selected {
            let job = jobs[id]
            usage[job.target] += job.need
            wave[id] = current
            order.append(id)
            waitedOn[id] = nil
            var waits = rooms.take(job.peak, on: job.target, capacity: capacity[job.target])
            if let a = job.after { waits.append(a) }
            dependencies[id] = Array(Set(waits)).sorted()
        }
        for id in selected {
            let job = jobs[id]
            usage[job.source] -= job.release
            rooms.free(job.release, on: job.source, by: id)
            // What an arrival gives back once brought to its declared size.
            rooms.free((job.peak - job.need).positivePart, on: job.target, by: id)
        }
        for h in touched { incoming[h] = .zero; slots[h] = 0; slotsIn[h] = 0; slotsOut[h] = 0 }
        pending = keep
        current += 1
    }
    return Schedule(jobs: jobs, wave: wave, order: order, stuck: pending, waitedOn: waitedOn, dependencies: dependencies)
}

/// Which earlier releases of room each job counts on. Per host: what the jobs scheduled onto
/// it so far take at their peak (never given back in this account), and the room jobs free on
/// it when they end (a move off it; an arrival that shrinks to its declared size), in
/// scheduling order. A job needs the shortest prefix of those releases that makes
/// everything taken so far, itself included, fit: whatever order the executor then finishes
/// the jobs in, a host holds at most what was taken minus that prefix, which fits.
private struct RoomLedger {
    var taken: [Resources]
    var freed: [[(job: Int, room: Resources)]]

    init(usage: [Resources]) {
        taken = usage
        freed = [[(job: Int, room: Resources)]](repeating: [], count: usage.count)
    }

    /// Charges `need` on `host`; returns the release jobs it waits on.
    mutating func take(_ need: Resources, on host: Int, capacity: Resources) -> [Int] {
        guard !need.isZero else { return [] }
        taken[host] += need
        var room = taken[host]
        var waits: [Int] = []
        for release in freed[host] {
            if room.fits(in: capacity) { break }
            room -= release.room
            waits.append(release.job)
        }
        return waits
    }

    /// Records that `job` frees `room` on `host` when it ends.
    mutating func free(_ room: Resources, on host: Int, by job: Int) {
        guard !room.isZero else { return }
        freed[host].append((job: job, room: room))
    }
}

/// Replaces one move off a full host with two hops through a relay host. Returns the new
/// pending list, or nil when no move can be relayed.
private func relayOne(pending: [Int], jobs: inout [Job], relayed: inout Set<Int>, usage: [Resources],
                      relay: (Job, [Resources]) -> RelayChoice?) -> [Int]? {
    for stuckID in pending where jobs[stuckID].isMove {
        let full = jobs[stuckID].target
        for id in pending {
            let b = jobs[id]
            guard b.isMove, b.source == full, !b.isRelayHop, !relayed.contains(id) else { continue }
            guard let choice = relay(b, usage) else { continue }
            relayed.insert(id)
            let first = Job(id: jobs.count, subject: b.subject, role: .move, source: b.source, target: choice.via,
                            need: b.release, release: b.release, after: nil,
                            part: .firstHop(via: choice.via, original: id), kind: choice.first)
            jobs.append(first)
            let second = Job(id: jobs.count, subject: b.subject, role: .move, source: choice.via, target: b.target,
                             need: b.need, release: b.release, after: first.id,
                             part: .secondHop(via: choice.via, original: id), kind: choice.second)
            jobs.append(second)
            var result: [Int] = []
            for p in pending {
                if p == id { result += [first.id, second.id] } else { result.append(p) }
            }
            return result
        }
    }
    return nil
}
