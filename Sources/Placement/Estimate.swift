/// Estimates: what each move of a plan will transfer, how long it will take and how long the
/// guest will be down, and how long the whole plan will take under its `parallel` limits.
/// Pure: the observed fleet says what there is to copy, the transfer history (what earlier
/// moves between the same hosts achieved, kept by the engine in the state directory) says how
/// fast it goes. docs/moves.md ("What a move will cost") explains the model and its figures.

import Foundation
import YAMLDecoding

/// What one move is expected to cost. JSON: `{"bytes":…,"downtimeMs":…,"seconds":…}`; a
/// figure that cannot be told (a volume the observation does not list, a snapshot without
/// volumes) is null, and so is whatever depends on it.
public struct MoveEstimate: Codable, Equatable, Sendable {
    /// Bytes sent: the guest memory a live move sends, plus the allocation of every volume
    /// the move copies.
    public var bytes: Int64?
    /// Wall time of the whole action, seconds (one decimal).
    public var seconds: Double?
    /// How long the guest is not running: a live move's final pause; for a reboot or manual
    /// move, from the shutdown to the start; 0 for a cold move (the guest is off already).
    public var downtimeMs: Int?

    /// An estimate value.
    public init(bytes: Int64?, seconds: Double?, downtimeMs: Int?) {
        self.bytes = bytes; self.seconds = seconds; self.downtimeMs = downtimeMs
    }

    private enum CodingKeys: String, CodingKey, CaseIterable { case bytes, seconds, downtimeMs }

    /// Decodes an estimate; every key must be there (each may be null).
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        bytes = try c.decodeNullable(Int64.self, forKey: .bytes)
        seconds = try c.decodeNullable(Double.self, forKey: .seconds)
        downtimeMs = try c.decodeNullable(Int.self, forKey: .downtimeMs)
    }

    /// Encodes every key, null when unknown.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(bytes, forKey: .bytes)
        try c.encode(seconds, forKey: .seconds)
        try c.encode(downtimeMs, forKey: .downtimeMs)
    }
}

/// What the whole plan is expected to cost. JSON: `{"bytes":…,"seconds":…}`.
public struct PlanEstimate: Codable, Equatable, Sendable {
    /// Bytes of every scheduled move together; null when one of them is unknown.
    public var bytes: Int64?
    /// Expected wall time of the scheduled actions: the executor's schedule replayed with each
    /// move's estimate (dependencies and every `parallel` limit), not a sum; null when a
    /// scheduled move's time is unknown.
    public var seconds: Double?

    /// A plan-estimate value.
    public init(bytes: Int64?, seconds: Double?) { self.bytes = bytes; self.seconds = seconds }

    private enum CodingKeys: String, CodingKey, CaseIterable { case bytes, seconds }

    /// Decodes a plan estimate; both keys must be there (each may be null).
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        bytes = try c.decodeNullable(Int64.self, forKey: .bytes)
        seconds = try c.decodeNullable(Double.self, forKey: .seconds)
    }

    /// Encodes both keys, null when unknown.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(bytes, forKey: .bytes)
        try c.encode(seconds, forKey: .seconds)
    }
}

/// The fixed figures of the estimate model, measured on the lab (docs/moves.md): the time a
/// move of each kind takes besides its transfer, and the rates assumed when neither the file
/// nor the history says better.
public enum EstimateModel {
    /// Seconds a live move takes besides sending its bytes: recording the definition, starting
    /// QEMU on the target, the switch-over, making it persistent and tagging it.
    public static let liveFixedSeconds = 2.0
    /// Seconds a cold move takes besides its copies (record, define, undefine).
    public static let coldFixedSeconds = 1.0
    /// Seconds a guest takes to shut down and to start, in a reboot or manual move.
    public static let shutdownSeconds = 3.0
    public static let startSeconds = 1.0
    /// Bytes per second assumed for a live migration when neither `live.bandwidthMiBps` nor the
    /// history says: what QEMU achieved on the lab's loopback under TCG.
    public static let assumedMigrationBytesPerSecond = 250.0 * 1_048_576
    /// Bytes per second assumed for a volume copy (libvirt streams) without history.
    public static let assumedCopyBytesPerSecond = 200.0 * 1_048_576
    /// MiB of a guest's QEMU resident set (`memoryResidentMiB`) that are not guest memory to
    /// send: QEMU itself, its TCG code buffer, the kernel it loaded, and the pages the guest
    /// touched that hold zeros (sent as a header each). Measured on the lab (TCG, heartbeat
    /// guests of 128 to 512 MiB, dirtying or not, on the host they booted on): the resident
    /// set less what the first migration sent was 98 to 131 MiB (docs/moves.md).
    public static let residentOverheadMiB: Int64 = 120
    /// The same for a guest whose QEMU was started by an incoming migration (`stateReason`
    /// `migrated`): it never loaded the kernel nor translated the boot's code, and received
    /// only the pages that were not zeros. Measured: 75 to 80 MiB (54 for a guest rewriting
    /// 64 MiB), against 98 to 131 on the boot host.
    public static let residentOverheadMigratedInMiB: Int64 = 75
    /// The least a live move sends when the resident set says less (MiB; never more than the
    /// memory basis): a booted kernel's own pages.
    public static let residentFloorMiB: Int64 = 16
    /// A history sample's memory ratio applies to a guest whose memory basis is within this
    /// factor of the sample's: what a guest sends barely grows with its size (measured: 87,
    /// 91 and 95 MiB for idle guests of 128, 256 and 512 MiB), so a ratio says nothing about a
    /// guest of another size.
    public static let comparableBasisFactor = 1.25
}

/// How a move's bytes travel: through a live migration, or as volume copies.
public enum TransferClass: String, Codable, Sendable, CaseIterable {
    case live
    case copy
}

/// What earlier moves between two hosts achieved, one record per finished move (the newest
/// last, at most `TransferHistory.samplesPerRoute` per route and class).
public struct TransferSample: Codable, Equatable, Sendable {
    /// Bytes the move sent (libvirt's completed job statistics for a live move; the volume
    /// bytes copied for the others).
    public var bytes: Int64
    /// The seconds spent sending them (the migration job's time, or the copies' time).
    public var seconds: Double
    /// For a live move: the guest memory the estimate took as its basis, and the memory bytes
    /// libvirt reports sent; their ratio corrects the next estimate (a TCG guest sends only
    /// its non-zero pages). Absent for copies.
    public var memoryBasisBytes: Int64?
    public var memoryBytes: Int64?
    /// The guest's pause at the end of a live move.
    public var downtimeMs: Int?

    /// A sample value.
    public init(bytes: Int64, seconds: Double, memoryBasisBytes: Int64? = nil, memoryBytes: Int64? = nil, downtimeMs: Int? = nil) {
        self.bytes = bytes; self.seconds = seconds; self.memoryBasisBytes = memoryBasisBytes
        self.memoryBytes = memoryBytes; self.downtimeMs = downtimeMs
    }

    /// Whether every figure is within bounds (a history file is input like any other).
    var isSound: Bool {
        let maxBytes = InputBounds.maxStorageBytes
        func ok(_ b: Int64?) -> Bool { b.map { (0...maxBytes).contains($0) } ?? true }
        return ok(bytes) && ok(memoryBasisBytes) && ok(memoryBytes) && seconds.isFinite && seconds >= 0
            && seconds <= 30 * 86_400 && (downtimeMs.map { (0...86_400_000).contains($0) } ?? true)
    }
}

/// The history of one route (`from` → `to`) and class of transfer.
public struct TransferRoute: Codable, Equatable, Sendable {
    public var from: String
    public var to: String
    public var transfer: TransferClass
    /// Oldest first.
    public var samples: [TransferSample]
    /// When the route was last written to (a counter of the history, not a clock): the route
    /// written longest ago goes first when the history is full.
    public var sequence: Int

    /// A route value.
    public init(from: String, to: String, transfer: TransferClass, samples: [TransferSample], sequence: Int) {
        self.from = from; self.to = to; self.transfer = transfer; self.samples = samples; self.sequence = sequence
    }
}

/// What earlier moves achieved, per route and class: the state directory's `history.json`
/// (`Engine.HistoryFile` reads and writes it). Bounded: `maxRoutes` routes of
/// `samplesPerRoute` samples each.
public struct TransferHistory: Codable, Equatable, Sendable {
    /// `virtplace/v1`.
    public var apiVersion: String
    /// `TransferHistory`.
    public var kind: String
    public var routes: [TransferRoute]
    /// The last `sequence` given out.
    public var sequence: Int

    public static let maxRoutes = 256
    public static let samplesPerRoute = 8

    /// An empty history.
    public init() { apiVersion = "virtplace/v1"; kind = "TransferHistory"; routes = []; sequence = 0 }

    /// The history with `sample` added to its route (oldest samples and routes dropped to
    /// stay within bounds).
    public func adding(_ sample: TransferSample, from: String, to: String, transfer: TransferClass) -> TransferHistory {
        guard sample.isSound else { return self }
        var copy = self
        copy.sequence = min(sequence, Int.max - 1) + 1
        if let i = copy.routes.firstIndex(where: { $0.from == from && $0.to == to && $0.transfer == transfer }) {
            copy.routes[i].samples.append(sample)
            copy.routes[i].samples = Array(copy.routes[i].samples.suffix(Self.samplesPerRoute))
            copy.routes[i].sequence = copy.sequence
        } else {
            copy.routes.append(TransferRoute(from: from, to: to, transfer: transfer, samples: [sample], sequence: copy.sequence))
        }
        if copy.routes.count > Self.maxRoutes {
            copy.routes.sort { $0.sequence > $1.sequence }
            copy.routes = Array(copy.routes.prefix(Self.maxRoutes))
        }
        copy.routes.sort { ($0.from, $0.to, $0.transfer.rawValue) < ($1.from, $1.to, $1.transfer.rawValue) }
        return copy
    }

    /// The history keeping only what is sound: routes and samples within bounds, names
    /// that are plain names; nil when the document is not a history at all.
    public func sanitized() -> TransferHistory? {
        guard apiVersion == "virtplace/v1", kind == "TransferHistory" else { return nil }
        var copy = TransferHistory()
        copy.sequence = max(0, min(sequence, Int.max - 1))
        var seen = Set<String>()
        for route in routes.prefix(Self.maxRoutes) {
            guard isPlainName(route.from), isPlainName(route.to) else { continue }
            guard seen.insert("\(route.from)\u{0}\(route.to)\u{0}\(route.transfer.rawValue)").inserted else { continue }
            let samples = route.samples.suffix(Self.samplesPerRoute).filter(\.isSound)
            guard !samples.isEmpty else { continue }
            copy.routes.append(TransferRoute(from: route.from, to: route.to, transfer: route.transfer,
                                             samples: Array(samples), sequence: max(0, min(route.sequence, copy.sequence))))
        }
        return copy
    }

    /// The samples of one route and class; when it has none, those of every route of that class
    /// (the fleet's links are usually alike), newest routes first.
    func samples(from: String, to: String, transfer: TransferClass) -> (samples: [TransferSample], sameRoute: Bool) {
        let own = routes.first { $0.from == from && $0.to == to && $0.transfer == transfer }?.samples ?? []
        if !own.isEmpty { return (own, true) }
        let all = routes.filter { $0.transfer == transfer }.sorted { $0.sequence > $1.sequence }.flatMap(\.samples)
        return (Array(all.prefix(Self.samplesPerRoute)), false)
    }

    /// Bytes per second achieved on a route (total bytes over total seconds), when known.
    func rate(from: String, to: String, transfer: TransferClass) -> Double? {
        let s = samples(from: from, to: to, transfer: transfer).samples.filter { $0.bytes > 0 && $0.seconds > 0 }
        guard !s.isEmpty else { return nil }
        let bytes = s.reduce(0.0) { $0 + Double($1.bytes) }, seconds = s.reduce(0.0) { $0 + $1.seconds }
        return seconds > 0 ? bytes / seconds : nil
    }

    /// The ratio of memory sent to the memory basis of earlier live moves of guests whose basis
    /// is comparable to `basis` (within `EstimateModel.comparableBasisFactor`), when there are
    /// any; and the mean downtime of live moves.
    func memoryRatio(from: String, to: String, basis: Int64) -> Double? {
        let factor = EstimateModel.comparableBasisFactor, own = Double(basis)
        let s = samples(from: from, to: to, transfer: .live).samples.compactMap { x -> (Double, Double)? in
            guard let basis = x.memoryBasisBytes, let sent = x.memoryBytes, basis > 0 else { return nil }
            guard own > 0, Double(basis) <= own * factor, own <= Double(basis) * factor else { return nil }
            return (Double(basis), Double(sent))
        }
        guard !s.isEmpty else { return nil }
        let ratio = s.reduce(0.0) { $0 + $1.1 } / s.reduce(0.0) { $0 + $1.0 }
        return min(max(ratio, 0.01), 4)
    }

    func meanDowntime(from: String, to: String) -> Int? {
        let d = samples(from: from, to: to, transfer: .live).samples.compactMap(\.downtimeMs)
        guard !d.isEmpty else { return nil }
        return d.reduce(0, +) / d.count
    }
}

/// Host names in a history: what a placement accepts as a name (no control, no separator).
private func isPlainName(_ s: String) -> Bool {
    !s.isEmpty && s.utf8.count <= 253 && s.unicodeScalars.allSatisfy { c in
        (c.value >= 0x30 && c.value <= 0x39) || (c.value >= 0x41 && c.value <= 0x5A) || (c.value >= 0x61 && c.value <= 0x7A)
            || c == "-" || c == "_" || c == "."
    }
}

// MARK: - Estimating a plan

extension ObservedDomain {
    /// The memory a live move's estimate starts from, bytes: what the guest reports in use,
    /// else its current (balloon) size. The history's memory ratio is relative to it.
    public var memoryBasisBytes: Int64 {
        Int64(min(max(0, memoryInUseMiB ?? memoryMiB), InputBounds.maxMemoryMiB)) * 1_048_576
    }

    /// What a first live move (no comparable history) will send, bytes: the QEMU resident set
    /// less `EstimateModel.residentOverheadMiB` (`residentOverheadMigratedInMiB` for a guest
    /// that came by migration), at least `residentFloorMiB` and at most the memory basis; nil
    /// when the resident set is not known. Untouched guest pages are not resident and QEMU
    /// sends them as a header each, which is why the basis alone over-estimates a guest that
    /// uses little of its memory.
    public var memoryFromResidentBytes: Int64? {
        guard let resident = memoryResidentMiB else { return nil }
        let basis = memoryBasisBytes / 1_048_576
        let bounded = Int64(min(max(0, resident), InputBounds.maxMemoryMiB))
        let overhead = stateReason == "migrated" ? EstimateModel.residentOverheadMigratedInMiB : EstimateModel.residentOverheadMiB
        let mib = min(basis, max(bounded - overhead, EstimateModel.residentFloorMiB))
        return mib * 1_048_576
    }
}

extension Plan {
    /// The plan with an estimate on every scheduled or deferred move and on the plan (the
    /// executor's schedule replayed with those estimates). Blocked actions and actions that
    /// are not moves carry none; they take no time in the replay.
    public func estimated(observed: ObservedFleet, history: TransferHistory) -> Plan {
        var plan = self
        let estimator = Estimator(observed: observed, history: history)
        for i in plan.actions.indices where plan.actions[i].kind.isMove {
            plan.actions[i].estimate = estimator.estimate(plan.actions[i])
        }
        plan.estimate = plan.replayedEstimate()
        return plan
    }

    /// Bytes and wall time of the scheduled actions (see `PlanEstimate.seconds`).
    public func replayedEstimate() -> PlanEstimate {
        let scheduled = actions.filter(\.isScheduled)
        var bytes: Int64? = 0
        for a in scheduled where a.kind.isMove {
            if let b = a.estimate?.bytes, let sum = bytes { bytes = sum.addingReportingOverflow(b).overflow ? nil : sum + b } else { bytes = nil }
        }
        let finish = replay(window: nil).finish
        let seconds: Double? = scheduled.contains { $0.kind.isMove && $0.estimate?.seconds == nil } ? nil
            : ((finish.values.max() ?? 0) * 10).rounded() / 10
        return PlanEstimate(bytes: bytes, seconds: seconds)
    }

    /// When each scheduled action would end (seconds from the start, by action id), replaying
    /// the executor's schedule: in plan order, an action starts once every action it depends on
    /// has ended and `MoveSlots` has room; it takes its estimated seconds (0 when it has none,
    /// or is not a move).
    public func replaySchedule() -> [Int: Double] { replay(window: nil).finish }

    /// The replay, and with a `window` (seconds) what the executor does at the window's end:
    /// a move whose estimate would end after it when it could start is not started (deferred,
    /// `order.window`; `order.window-unknown` when it has no estimated time), and neither is
    /// anything that depends on a deferred action. Nothing started is cut short.
    func replay(window: Double?) -> (finish: [Int: Double], deferred: [Int: Reason]) {
        let items = waves.flatMap { $0 }
        var slots = MoveSlots(parallel)
        var finish: [Int: Double] = [:]
        var deferred: [Int: Reason] = [:]
        var running: [(end: Double, index: Int)] = []
        var pending = Array(items.indices)
        var now = 0.0
        while true {
            var rest: [Int] = []
            for i in pending {
                let a = items[i]
                if let id = a.dependsOn.first(where: { deferred[$0] != nil }) {
                    deferred[a.id] = Reason(.orderWindow, "deferred: it waits on #\(id), which does not fit before the window ends")
                    continue
                }
                guard a.dependsOn.allSatisfy({ finish[$0] != nil }) else { rest.append(i); continue }
                let seconds = a.kind.isMove ? a.estimate?.seconds : 0
                if let window, a.kind.isMove {
                    guard let seconds else {
                        deferred[a.id] = Reason(.orderWindowUnknown, "deferred: its time cannot be estimated, so it cannot be shown to fit before the window ends")
                        continue
                    }
                    if now + seconds > window {
                        deferred[a.id] = Reason(.orderWindow, "deferred: it would take about \(formatSeconds(seconds)) from \(formatSeconds(now)) into the run, past the window's end at \(formatSeconds(max(0, window)))")
                        continue
                    }
                }
                guard slots.take(a) else { rest.append(i); continue }
                running.append((now + max(0, seconds ?? 0), i))
            }
            pending = rest
            guard let next = running.indices.min(by: { (running[$0].end, running[$0].index) < (running[$1].end, running[$1].index) }) else { break }
            let (end, i) = running.remove(at: next)
            now = end
            finish[items[i].id] = end
            slots.give(items[i])
        }
        return (finish, deferred)
    }

    /// The plan for a maintenance window of `seconds` from now (`apply`/`reconcile --until`):
    /// the scheduled actions that would not fit (see `replay(window:)`) become deferred, with
    /// their reason; the rest run as planned. The plan's estimate is that of what still runs.
    public func windowed(seconds: Double) -> Plan {
        let deferred = replay(window: seconds).deferred
        guard !deferred.isEmpty else { return self }
        var plan = self
        for i in plan.actions.indices {
            guard let reason = deferred[plan.actions[i].id] else { continue }
            var a = plan.actions[i]
            plan.summary.remove(a.kind)
            plan.summary.deferred += 1
            a.deferred = true
            a.wave = 0
            a.steps = []
            a.fallback = nil
            a.dependsOn = []
            a.reasons.insert(reason, at: 0)
            plan.actions[i] = a
        }
        plan.summary.waves = plan.actions.map(\.wave).max() ?? 0
        plan.estimate = plan.replayedEstimate()
        return plan
    }
}

/// Estimates one move from the observation and the history.
struct Estimator {
    let observed: ObservedFleet
    let history: TransferHistory

    /// The instance's domain: on the host it leaves, else wherever it is (the second hop of a
    /// relay leaves a host it is not on yet).
    func domain(_ name: String, preferring host: String?) -> ObservedDomain? {
        if let host, let d = observed.hosts.first(where: { $0.name == host })?.domains.first(where: { $0.name == name }) { return d }
        return observed.hosts.lazy.compactMap { $0.domains.first { $0.name == name } }.first
    }

    /// A volume's allocation: on `host` when it is there, else on any host (a relay's second hop).
    func allocation(pool: String, volume: String, preferring host: String) -> Int64? {
        func find(_ h: ObservedHost) -> Int64? {
            h.pools.first { $0.name == pool }?.volumes.first { $0.name == volume }?.allocationBytes
        }
        if let h = observed.hosts.first(where: { $0.name == host }), let a = find(h) { return a }
        return observed.hosts.lazy.compactMap(find).first
    }


    func estimate(_ a: Action) -> MoveEstimate? {
        guard a.kind.isMove, let from = a.from, let to = a.to else { return nil }
        let d = domain(a.instance, preferring: from)
        var liveBytes: Int64? = 0, copyBytes: Int64? = 0
        var live: LiveMigration?
        for step in a.steps {
            switch step {
            case .migrateLive(let m):
                live = m
                guard let d else { liveBytes = nil; continue }
                // Earlier moves of guests of about this size say best; else the resident set;
                // else the whole basis.
                let memory: Int64
                if let ratio = history.memoryRatio(from: m.from, to: m.to, basis: d.memoryBasisBytes) {
                    memory = Int64(Double(d.memoryBasisBytes) * ratio)
                } else {
                    memory = d.memoryFromResidentBytes ?? d.memoryBasisBytes
                }
                var bytes: Int64? = memory
                for target in m.copyDisks {
                    let disk = d.disks.first { $0.target == target }
                    if let pool = disk?.pool, let volume = disk?.volume, let b = allocation(pool: pool, volume: volume, preferring: m.from),
                       let sum = bytes {
                        bytes = sum + b
                    } else {
                        bytes = nil
                    }
                }
                liveBytes = bytes.flatMap { b in liveBytes.map { $0 + b } }
            case .transferVolume(let pool, let volume, let f, _):
                let b = allocation(pool: pool, volume: volume, preferring: f)
                copyBytes = b.flatMap { b in copyBytes.map { $0 + b } }
            default:
                continue
            }
        }
        let bytes = liveBytes.flatMap { l in copyBytes.map { l + $0 } }
        let kind = a.kind
        var seconds: Double?
        var downtime: Int?
        if let live {
            seconds = liveBytes.map { b in
                EstimateModel.liveFixedSeconds + Double(b) / liveRate(from: live.from, to: live.to, declared: live.bandwidthMiBps)
            }
            downtime = history.meanDowntime(from: live.from, to: live.to) ?? live.maxDowntimeMs
        } else {
            let fixed = kind == .cold ? EstimateModel.coldFixedSeconds
                : EstimateModel.coldFixedSeconds + EstimateModel.shutdownSeconds + EstimateModel.startSeconds
            seconds = copyBytes.map { fixed + Double($0) / copyRate(from: from, to: to) }
            downtime = kind == .cold ? 0 : seconds.map { Int(($0 * 1000).rounded()) }
        }
        return MoveEstimate(bytes: bytes, seconds: seconds.map { (($0 * 10).rounded(.up)) / 10 }, downtimeMs: downtime)
    }

    /// Bytes per second of a live migration: the declared bandwidth, the history's rate when it
    /// is slower (a cap is not a promise), else the assumed rate.
    func liveRate(from: String, to: String, declared: Int) -> Double {
        let measured = history.rate(from: from, to: to, transfer: .live)
        let cap = declared > 0 ? Double(declared) * 1_048_576 : nil
        switch (cap, measured) {
        case (let c?, let m?): return max(1, min(c, m))
        case (let c?, nil): return max(1, c)
        case (nil, let m?): return max(1, m)
        case (nil, nil): return EstimateModel.assumedMigrationBytesPerSecond
        }
    }

    func copyRate(from: String, to: String) -> Double {
        max(1, history.rate(from: from, to: to, transfer: .copy) ?? EstimateModel.assumedCopyBytesPerSecond)
    }
}

// MARK: - Showing estimates

extension MoveEstimate {
    /// `88 MiB, 2.4 s, downtime 300 ms`; `unknown` for a figure that cannot be told.
    public var summary: String {
        [bytes.map(formatBytes) ?? "bytes unknown", seconds.map(formatSeconds) ?? "time unknown",
         downtimeMs.map { "downtime \(formatMilliseconds($0))" } ?? "downtime unknown"].joined(separator: ", ")
    }

    /// `88 MiB 2.4 s`: bytes and time only, for a picture's arrow.
    public var brief: String {
        "\(bytes.map(formatBytes) ?? "? B") \(seconds.map(formatSeconds) ?? "? s")"
    }
}

extension PlanEstimate {
    /// `352 MiB in 6.2 s`, with `unknown` for what cannot be told.
    public var summary: String {
        "\(bytes.map(formatBytes) ?? "bytes unknown") in \(seconds.map(formatSeconds) ?? "unknown time")"
    }
}

/// `512 B`, `88 MiB`, `1.5 GiB`: binary units, one decimal under 10.
public func formatBytes(_ bytes: Int64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"]
    var value = Double(max(0, bytes)), unit = 0
    while value >= 1024, unit < units.count - 1 { value /= 1024; unit += 1 }
    if unit == 0 { return "\(Int(value)) B" }
    return value < 10 ? String(format: "%.1f %@", value, units[unit]) : "\(Int(value.rounded())) \(units[unit])"
}

/// `2.4 s`, `45 s`, `3 min 10 s`, `2 h 5 min`.
public func formatSeconds(_ seconds: Double) -> String {
    guard seconds.isFinite else { return "? s" }
    let s = max(0, seconds)
    if s < 10 { return String(format: "%.1f s", s) }
    let whole = Int(s.rounded())
    if whole < 60 { return "\(whole) s" }
    if whole < 3600 { return "\(whole / 60) min \(whole % 60) s" }
    return "\(whole / 3600) h \(whole % 3600 / 60) min"
}

/// `300 ms`, `4.2 s`.
public func formatMilliseconds(_ ms: Int) -> String {
    ms < 10_000 && ms < 1000 ? "\(ms) ms" : formatSeconds(Double(ms) / 1000)
}

// MARK: - Reading a history file

/// Reads a transfer history (the state directory's `history.json`) as strictly as a saved
/// plan: one JSON document, no unknown key, every type right; then `sanitized()` drops what is
/// out of bounds. Pure: the caller reads the bytes (bounded) and decides what a problem means.
/// - Returns: the history, or nil and the diagnostics when it is not one.
public func readTransferHistory(_ bytes: [UInt8], file: String) -> (history: TransferHistory?, diagnostics: [Diagnostic]) {
    let read = readSavedDocument(TransferHistory.self, bytes, file: file, what: "a transfer history (written by virtplace)") { _, _ in }
    guard let value = read.value, let sound = value.sanitized() else {
        let diagnostics = read.diagnostics.isEmpty
            ? [Diagnostic(.error, file: file, line: 1, column: 1, path: "", message: "not a virtplace/v1 TransferHistory")] : read.diagnostics
        return (nil, diagnostics)
    }
    return (sound, read.diagnostics)
}
