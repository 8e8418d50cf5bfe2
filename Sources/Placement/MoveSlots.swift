/// The `parallel` limits at run time: moves in all, per host (as source or target), arriving
/// at and leaving each host. Updates, starts and stops take no slot. The executor holds them
/// while it runs a plan, and the estimate replays the plan's schedule with them
/// (`Plan.replaySchedule`), so the two cannot disagree.
public struct MoveSlots: Sendable {
    let total: Int
    let perHost: Int
    let incoming: Int
    let outgoing: Int
    private var running = 0
    private var busy: [String: Int] = [:]
    private var arriving: [String: Int] = [:]
    private var leaving: [String: Int] = [:]

    /// Slots for the limits of `parallel`.
    public init(_ parallel: ParallelSpec) {
        total = max(1, parallel.total)
        perHost = max(1, parallel.perHost)
        incoming = parallel.incomingLimit
        outgoing = parallel.outgoingLimit
    }

    private static func hosts(_ action: Action) -> [String] {
        Array(Set([action.from, action.to].compactMap { $0 }))
    }

    /// Takes the slots `action` needs; false (nothing taken) when a limit is reached.
    public mutating func take(_ action: Action) -> Bool {
        guard action.kind.isMove else { return true }
        let hosts = Self.hosts(action)
        guard running < total, hosts.allSatisfy({ busy[$0, default: 0] < perHost }),
              action.to.map({ arriving[$0, default: 0] < incoming }) ?? true,
              action.from.map({ leaving[$0, default: 0] < outgoing }) ?? true else { return false }
        running += 1
        for h in hosts { busy[h, default: 0] += 1 }
        if let to = action.to { arriving[to, default: 0] += 1 }
        if let from = action.from { leaving[from, default: 0] += 1 }
        return true
    }

    /// Gives back what `take` took for `action`.
    public mutating func give(_ action: Action) {
        guard action.kind.isMove else { return }
        running -= 1
        for h in Self.hosts(action) { busy[h, default: 0] -= 1 }
        if let to = action.to { arriving[to, default: 0] -= 1 }
        if let from = action.from { leaving[from, default: 0] -= 1 }
    }
}
