/// The plan: what `apply` will do, as plain data. `makePlan(desired:observed:)` computes it,
/// the renderers show it, a saved plan file is its JSON, and the executor runs its steps.
/// Every collection here is sorted, so the same inputs give a byte-identical plan.

import Foundation

/// A computed plan for one fleet.
///
/// JSON (sorted keys): `{"actions":[…],"apiVersion":"virtplace/v1","basis":{…},"fleet":"lab",
/// "kind":"Plan","notes":[…],"summary":{…},"unmanaged":[…]}`.
public struct Plan: Codable, Equatable, Sendable {
    /// `virtplace/v1`.
    public var apiVersion: String
    /// `Plan`.
    public var kind: String
    /// The fleet name from the desired state's `metadata.name`.
    public var fleet: String
    /// What the plan was computed from; `apply PLANFILE` refuses the plan when it no longer holds.
    public var basis: Basis
    /// Instances with something to do (including blocked and deferred ones), scheduled actions
    /// first in wave order, then deferred, then blocked; by instance name within each group.
    public var actions: [Action]
    /// Counts per kind, for the summary line.
    public var summary: Summary
    /// Things worth knowing that need no action (an instance held off its declared host, a
    /// device the file does not mention), sorted by instance then code.
    public var notes: [Note]
    /// Domains on observed hosts that the file does not declare: never touched.
    public var unmanaged: [UnmanagedDomain]
    /// The placement's hosts (by name), so that `apply PLANFILE` can re-observe and act on
    /// them without the placement file. Empty in plans written before it existed: such a plan
    /// cannot be applied on its own.
    public var hosts: [PlanHost]
    /// The `policy.parallel` limits the waves were computed with; apply holds them at run time.
    public var parallel: ParallelSpec
    /// SHA-256 (hex) of the desired state the plan was made from (`desiredStateDigest`), so
    /// that `apply PLANFILE -f PATH...` can refuse a plan whose placement files have changed.
    /// Empty until `sealed(desired:)`.
    public var desiredDigest: String
    /// SHA-256 (hex) of everything else in the plan (`computedContentDigest`): `apply PLANFILE`
    /// refuses a plan whose content no longer matches it (an edited plan). Empty until
    /// `sealed(desired:)`. It detects edits, it is not a signature: see docs/security.md.
    public var contentDigest: String
    /// Bytes and expected wall time of the scheduled actions (`Plan.estimated`); null figures
    /// when unknown. nil (the key absent) in plans written before estimates existed, so that
    /// their content digest still holds.
    public var estimate: PlanEstimate?

    /// A plan value; `makePlan(desired:observed:)` is how plans are normally made.
    public init(fleet: String, basis: Basis, actions: [Action], summary: Summary,
                notes: [Note] = [], unmanaged: [UnmanagedDomain] = [],
                hosts: [PlanHost] = [], parallel: ParallelSpec = .init()) {
        self.apiVersion = "virtplace/v1"; self.kind = "Plan"; self.fleet = fleet
        self.basis = basis; self.actions = actions; self.summary = summary
        self.notes = notes; self.unmanaged = unmanaged
        self.hosts = hosts; self.parallel = parallel
        self.desiredDigest = ""; self.contentDigest = ""
        self.estimate = nil
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case apiVersion, kind, fleet, basis, actions, summary, notes, unmanaged, hosts, parallel
        case desiredDigest, contentDigest, estimate
    }

    /// Decodes a plan strictly: every key `encode(to:)` writes must be there (a saved plan is
    /// machine-written and sealed; see `readPlanFile`).
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        apiVersion = try c.decode(String.self, forKey: .apiVersion)
        kind = try c.decode(String.self, forKey: .kind)
        fleet = try c.decode(String.self, forKey: .fleet)
        basis = try c.decode(Basis.self, forKey: .basis)
        actions = try c.decode([Action].self, forKey: .actions)
        summary = try c.decode(Summary.self, forKey: .summary)
        notes = try c.decode([Note].self, forKey: .notes)
        unmanaged = try c.decode([UnmanagedDomain].self, forKey: .unmanaged)
        hosts = try c.decode([PlanHost].self, forKey: .hosts)
        parallel = try c.decode(ParallelSpec.self, forKey: .parallel)
        desiredDigest = try c.decode(String.self, forKey: .desiredDigest)
        contentDigest = try c.decode(String.self, forKey: .contentDigest)
        // Plans saved before estimates existed have none; their digest covers no estimate.
        estimate = try c.decodeIfPresent(PlanEstimate.self, forKey: .estimate)
    }

    /// Encodes every key.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(apiVersion, forKey: .apiVersion)
        try c.encode(kind, forKey: .kind)
        try c.encode(fleet, forKey: .fleet)
        try c.encode(basis, forKey: .basis)
        try c.encode(actions, forKey: .actions)
        try c.encode(summary, forKey: .summary)
        try c.encode(notes, forKey: .notes)
        try c.encode(unmanaged, forKey: .unmanaged)
        try c.encode(hosts, forKey: .hosts)
        try c.encode(parallel, forKey: .parallel)
        try c.encode(desiredDigest, forKey: .desiredDigest)
        try c.encode(contentDigest, forKey: .contentDigest)
        try c.encodeIfPresent(estimate, forKey: .estimate)
    }

    /// True when nothing is to be done: no action at all, not even a blocked or deferred one.
    public var isEmpty: Bool { actions.isEmpty }

    /// Actions that run in this plan (neither blocked nor deferred), grouped by wave, in order.
    public var waves: [[Action]] {
        var result: [[Action]] = []
        for action in actions where action.wave > 0 {
            while result.count < action.wave { result.append([]) }
            result[action.wave - 1].append(action)
        }
        return result
    }
}

/// A host of the placement, as a saved plan carries it: enough to connect and to observe it
/// the way the plan's basis was observed.
public struct PlanHost: Codable, Equatable, Sendable {
    /// The host's key in the file.
    public var name: String
    /// The connection URI as the file writes it.
    public var uri: String
    /// The file's fault domain (part of the basis).
    public var faultDomain: String?

    /// A plan-host value.
    public init(name: String, uri: String, faultDomain: String?) {
        self.name = name; self.uri = uri; self.faultDomain = faultDomain
    }

    private enum CodingKeys: String, CodingKey, CaseIterable { case name, uri, faultDomain }

    /// Decodes a plan host; every key must be there (`faultDomain` may be null).
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decode(String.self, forKey: .name)
        uri = try c.decode(String.self, forKey: .uri)
        faultDomain = try c.decodeNullable(String.self, forKey: .faultDomain)
    }

    /// Encodes every key, `faultDomain` as null when absent.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(name, forKey: .name)
        try c.encode(uri, forKey: .uri)
        try c.encode(faultDomain, forKey: .faultDomain)
    }
}

/// What an action does to its instance.
public enum ActionKind: String, Codable, Sendable, CaseIterable, Comparable {
    /// Live migration to another host.
    case live
    /// Graceful shutdown, cold move, start on the target.
    case reboot
    /// A shut-off domain's definition (and, if not shared, volumes) moved to the target.
    case cold
    /// Recreated on the target from its boot volume, with the same identity.
    case manual
    /// Config or device drift corrected in place.
    case update
    /// Started in place (with any config drift corrected first).
    case start
    /// Shut down in place (with any config drift corrected after).
    case stop
    /// Nothing done: every reason is listed.
    case blocked

    /// Whether the action moves the instance to another host.
    public var isMove: Bool {
        switch self {
        case .live, .reboot, .cold, .manual: true
        case .update, .start, .stop, .blocked: false
        }
    }

    /// The declaration order, which is also the order of the summary line.
    public static func < (a: ActionKind, b: ActionKind) -> Bool {
        guard let i = allCases.firstIndex(of: a), let j = allCases.firstIndex(of: b) else { return false }
        return i < j
    }

    init(_ move: MoveKind) {
        switch move {
        case .live: self = .live
        case .reboot: self = .reboot
        case .cold: self = .cold
        case .manual: self = .manual
        }
    }
}

/// One instance's action.
public struct Action: Codable, Equatable, Sendable {
    /// The instance (libvirt domain) name.
    public var instance: String
    /// What the action does.
    public var kind: ActionKind
    /// The host the instance is on; nil when it was not found on any host.
    public var from: String?
    /// The host it ends on: the target of a move, the same host for an update, start or stop;
    /// for a blocked action the host it was meant to go to, when one was known.
    public var to: String?
    /// Why the action exists (`place.*`, `drift.*`), then every check that was refused (for a
    /// move: the refused rungs above the chosen one; for a blocked action: all of them).
    public var reasons: [Reason]
    /// What the executor runs, in order. Empty for blocked and deferred actions.
    public var steps: [Step]
    /// 1-based wave: actions of one wave run concurrently, waves one after the other.
    /// 0: not run by this plan (blocked or deferred).
    public var wave: Int
    /// A move left for a later run by `policy.maxMovesPerRun` (or waiting for room such a move
    /// would free): reported, not failed.
    public var deferred: Bool
    /// For a live move: what the executor does instead when the migration fails and the guest
    /// is still running on its source only — the next rung of the ladder that the file allows
    /// and that passes its checks for the same target. nil: the failure is reported.
    public var fallback: Fallback?
    /// The action's id in its plan: its 1-based position in `Plan.actions`.
    public var id: Int
    /// The ids of the actions this one waits on (sorted; each in an earlier wave): the earlier
    /// hop of the same instance, and the moves off (or in-place shrinks on) the host it needs
    /// room on, as many as the planner's capacity accounting counted on and no more. The
    /// executor starts it once they are all done, and never when one of them did not succeed.
    /// Empty for blocked and deferred actions, and for actions that wait on nothing.
    public var dependsOn: [Int]
    /// For a move (scheduled or deferred): what it is expected to cost (`Plan.estimated`).
    /// nil (the key absent) for other actions, and in plans written before estimates existed.
    public var estimate: MoveEstimate?

    /// An action value.
    public init(instance: String, kind: ActionKind, from: String?, to: String?, reasons: [Reason],
                steps: [Step] = [], wave: Int = 0, deferred: Bool = false, fallback: Fallback? = nil,
                id: Int = 0, dependsOn: [Int] = [], estimate: MoveEstimate? = nil) {
        self.instance = instance; self.kind = kind; self.from = from; self.to = to
        self.reasons = reasons; self.steps = steps; self.wave = wave; self.deferred = deferred
        self.fallback = fallback; self.id = id; self.dependsOn = dependsOn; self.estimate = estimate
    }

    /// Whether the executor runs this action in this plan.
    public var isScheduled: Bool { wave > 0 && kind != .blocked && !deferred }

    /// The reasons that explain why the action exists (placement causes and drift).
    public var causes: [Reason] { reasons.filter { $0.code.category == .cause } }
    /// The reasons that refused a rung of the ladder or block the action.
    public var refusals: [Reason] { reasons.filter { $0.code.category == .refusal } }

    private enum CodingKeys: String, CodingKey, CaseIterable {
        case id, instance, kind, from, to, reasons, steps, wave, deferred, fallback, dependsOn, estimate
    }

    /// Decodes an action; every key must be there (`from`/`to`/`fallback` may be null).
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        instance = try c.decode(String.self, forKey: .instance)
        kind = try c.decode(ActionKind.self, forKey: .kind)
        from = try c.decodeNullable(String.self, forKey: .from)
        to = try c.decodeNullable(String.self, forKey: .to)
        reasons = try c.decode([Reason].self, forKey: .reasons)
        steps = try c.decode([Step].self, forKey: .steps)
        wave = try c.decode(Int.self, forKey: .wave)
        deferred = try c.decode(Bool.self, forKey: .deferred)
        fallback = try c.decodeNullable(Fallback.self, forKey: .fallback)
        id = try c.decode(Int.self, forKey: .id)
        dependsOn = try c.decode([Int].self, forKey: .dependsOn)
        // Absent in plans saved before estimates existed.
        estimate = try c.decodeIfPresent(MoveEstimate.self, forKey: .estimate)
    }

    /// Encodes every key, `from`/`to`/`fallback` as null when absent, so the schema never varies;
    /// `estimate` only on moves (and not in plans written before it existed: their digest holds).
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(instance, forKey: .instance)
        try c.encode(kind, forKey: .kind)
        try c.encode(from, forKey: .from)
        try c.encode(to, forKey: .to)
        try c.encode(reasons, forKey: .reasons)
        try c.encode(steps, forKey: .steps)
        try c.encode(wave, forKey: .wave)
        try c.encode(deferred, forKey: .deferred)
        try c.encode(fallback, forKey: .fallback)
        try c.encode(id, forKey: .id)
        try c.encode(dependsOn, forKey: .dependsOn)
        try c.encodeIfPresent(estimate, forKey: .estimate)
    }
}

/// The move a failed live migration falls back to (same source and target).
///
/// JSON: `{"kind":"reboot","steps":[…]}`.
public struct Fallback: Codable, Equatable, Sendable {
    /// `reboot` or `manual`.
    public var kind: ActionKind
    /// The fallback move's own steps, from its `record` on.
    public var steps: [Step]

    /// A fallback value.
    public init(kind: ActionKind, steps: [Step]) { self.kind = kind; self.steps = steps }
}

/// A reason: a stable code (see docs/reasons.md) and a message for people.
public struct Reason: Codable, Equatable, Hashable, Sendable {
    /// Stable: scripts may match on it.
    public var code: ReasonCode
    /// For people: may be reworded.
    public var message: String
    /// A reason value.
    public init(_ code: ReasonCode, _ message: String) { self.code = code; self.message = message }
}

/// Counts for the summary line. Actions count by kind; deferred moves count only as
/// `deferred`; a move through a relay host counts as two actions.
public struct Summary: Codable, Equatable, Sendable {
    /// Scheduled (or blocked) actions of each kind.
    public var live = 0
    public var reboot = 0
    public var cold = 0
    public var manual = 0
    public var update = 0
    public var start = 0
    public var stop = 0
    public var blocked = 0
    /// Moves (and updates waiting on them) left for a later run.
    public var deferred = 0
    /// Declared instances with no action at all.
    public var unchanged = 0
    /// Declared instances.
    public var instances = 0
    /// Waves the scheduled actions run in.
    public var waves = 0

    /// An empty summary.
    public init() {}

    /// The count for one action kind.
    public func count(_ kind: ActionKind) -> Int {
        switch kind {
        case .live: live
        case .reboot: reboot
        case .cold: cold
        case .manual: manual
        case .update: update
        case .start: start
        case .stop: stop
        case .blocked: blocked
        }
    }

    mutating func remove(_ kind: ActionKind) {
        switch kind {
        case .live: live -= 1
        case .reboot: reboot -= 1
        case .cold: cold -= 1
        case .manual: manual -= 1
        case .update: update -= 1
        case .start: start -= 1
        case .stop: stop -= 1
        case .blocked: blocked -= 1
        }
    }

    mutating func add(_ kind: ActionKind) {
        switch kind {
        case .live: live += 1
        case .reboot: reboot += 1
        case .cold: cold += 1
        case .manual: manual += 1
        case .update: update += 1
        case .start: start += 1
        case .stop: stop += 1
        case .blocked: blocked += 1
        }
    }
}

/// Something reported about an instance that needs no action.
public struct Note: Codable, Equatable, Sendable {
    public var instance: String
    public var code: ReasonCode
    public var message: String
    /// A note value.
    public init(instance: String, code: ReasonCode, message: String) {
        self.instance = instance; self.code = code; self.message = message
    }
}

/// A domain the desired state does not declare.
public struct UnmanagedDomain: Codable, Equatable, Sendable {
    public var name: String
    public var host: String
    /// An unmanaged-domain value.
    public init(name: String, host: String) { self.name = name; self.host = host }
}

extension KeyedDecodingContainer {
    /// A value that must be present but may be null: a saved plan writes every key.
    /// - Throws: `DecodingError.keyNotFound` when the key is absent, or what decoding throws.
    func decodeNullable<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T? {
        guard contains(key) else {
            throw DecodingError.keyNotFound(key, .init(codingPath: codingPath, debugDescription: "missing required key '\(key.stringValue)'"))
        }
        return try decodeIfPresent(type, forKey: key)
    }
}

// MARK: - Sealing

extension Plan {
    /// The plan with its digests set: `desiredDigest` from `desired` (the placement it was made
    /// from; nil keeps the present one), then `contentDigest` over everything else.
    public func sealed(desired: PlacementSpec?) -> Plan {
        var plan = self
        if let desired { plan.desiredDigest = desiredStateDigest(desired) }
        plan.contentDigest = plan.computedContentDigest()
        return plan
    }

    /// SHA-256 (hex) of the plan's canonical form: its JSON with sorted keys, no white space,
    /// slashes unescaped, and `contentDigest` empty, after a domain-separation line. Every key
    /// apply acts on (and every other key) is in it, so any edit that changes a value changes it.
    public func computedContentDigest() -> String {
        var copy = self
        copy.contentDigest = ""
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var sha = SHA256()
        sha.update("virtplace-plan/1\n")
        // A plan holds only strings, integers, booleans and nulls: encoding cannot fail. Should
        // it, the digest is of nothing, and no saved plan can match it.
        if let data = try? encoder.encode(copy) {
            data.withUnsafeBytes { sha.update(UnsafeRawBufferPointer($0)) }
        } else {
            sha.update("unencodable\n")
        }
        return sha.hexDigest()
    }
}
