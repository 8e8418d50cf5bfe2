import Foundation
import Placement

/// One line of the journal (JSON Lines in the state directory): intent before a step runs and
/// its outcome after, so that a later run knows what an interrupted one was doing. Each kind of
/// record is a case of `JournalEntry` with a typed payload; docs/recovery.md §2 has the fields.
///
/// Every record this virtplace writes carries its format, `"v": 1`. A record without `v` was
/// written by virtplace before the typed journal (format 0: a `detail` map of strings, the
/// action as a JSON string inside it); it is read and converted, so that an unfinished move of
/// that release is recovered as that release would have. A record of a higher format is not
/// guessed at: it is an unreadable line, which holds the run (`Journal.load`).
public struct JournalRecord: Equatable, Sendable {
    /// The format this virtplace writes.
    public static let format = 1

    /// ISO 8601 time.
    public var time: String
    /// The run that wrote it (one per apply/reconcile pass).
    public var run: String
    public var instance: String
    /// The domain's UUID: how recovery finds it on any host.
    public var uuid: String?
    /// The kind of the action it belongs to (for a fallback's steps, the fallback's kind); nil
    /// when the journal did not know it (`--abandon` of an action it could not describe).
    public var kind: ActionKind?
    public var entry: JournalEntry
    /// Why a step, a volume operation or a roll-back failed; why an action was given up or fell
    /// back.
    public var error: String?

    /// A record value.
    public init(time: String = JournalRecord.now(), run: String, instance: String, uuid: String?, kind: ActionKind?,
                entry: JournalEntry, error: String? = nil) {
        self.time = time; self.run = run; self.instance = instance; self.uuid = uuid; self.kind = kind
        self.entry = entry; self.error = error
    }

    /// The time now, as records carry it.
    public static func now() -> String { UTCTimestamp.iso8601(Date()) }
}

/// What a record says happened.
public enum JournalEntry: Equatable, Sendable {
    /// A step of the action: before it runs (`intent`) and after (`done`, `skipped`, `failed`).
    case step(StepEntry)
    /// Creating the target volume of a copy (`intent`, `done`, `failed`); `carried` into a
    /// fresh journal by a rotation.
    case createVolume(VolumeEntry)
    /// Removing an incomplete copy this move created (`intent`, `done`, `failed`).
    case deleteVolume(VolumeEntry)
    /// A live migration failed cleanly and the action's fallback starts; its steps follow.
    case fallback(to: ActionKind)
    /// Putting a move that failed before its point of no return back on its source.
    case rollBack(RollBackEntry)
    /// The action's last record when it succeeded.
    case finished(FinishedEntry)
    /// The action will not be resumed; the record's `error` says why.
    case abandoned(AbandonedEntry)
}

/// A step's record.
public struct StepEntry: Equatable, Sendable {
    public enum Phase: String, Codable, Sendable { case intent, done, skipped, failed }
    /// The step's index in the action, from 0.
    public var index: Int
    /// The step as planned: what it acts on (hosts, pool and volume, MAC, …). Nil only in a
    /// format-0 record, whose `detail` did not hold all of it (its `op` is kept).
    public var step: Step?
    /// The step's op (`step.op` when the step is known).
    public var op: String
    public var phase: Phase
    /// Intents: the run that started the move (its record and backups carry this id).
    public var origin: String?
    /// The definition the move saved (`records/UUID/ORIGIN-HOST.xml`), once there is one.
    public var definition: String?
    /// Step 0's intent: the whole action as planned (its steps and fallback), enough to run it
    /// again.
    public var action: Action?
    /// Done: what it did. Skipped: why (its postcondition already held).
    public var result: String?
    public var why: String?
    /// Outcomes: how long the step took.
    public var seconds: Double?

    /// A step entry.
    public init(index: Int, step: Step, phase: Phase, origin: String? = nil, definition: String? = nil, action: Action? = nil,
                result: String? = nil, why: String? = nil, seconds: Double? = nil) {
        self.index = index; self.step = step; self.op = step.op; self.phase = phase; self.origin = origin
        self.definition = definition; self.action = action; self.result = result; self.why = why; self.seconds = seconds
    }

    init(index: Int, op: String, phase: Phase) {
        self.index = index; self.op = op; self.phase = phase
    }
}

/// A volume virtplace created, or removed, on a host.
public struct VolumeEntry: Equatable, Sendable {
    public enum Phase: String, Codable, Sendable { case intent, done, failed, carried }
    public var phase: Phase
    public var host: String
    public var pool: String
    public var volume: String
    /// `createVolume`: the step it was created for (`transferVolume`, `migrateLive`).
    public var purpose: String?
    /// `deleteVolume`: why it was removed (`incomplete copy`).
    public var why: String?
    /// `carried`: the run that created it.
    public var carriedFrom: String?

    /// A volume entry.
    public init(phase: Phase, host: String, pool: String, volume: String, purpose: String? = nil, why: String? = nil,
                carriedFrom: String? = nil) {
        self.phase = phase; self.host = host; self.pool = pool; self.volume = volume
        self.purpose = purpose; self.why = why; self.carriedFrom = carriedFrom
    }

    /// `host/pool/volume`: how the planner and the executor name it.
    public var key: String { "\(host)/\(pool)/\(volume)" }
}

/// A roll-back's record.
public struct RollBackEntry: Equatable, Sendable {
    public enum Phase: String, Codable, Sendable { case intent, done, failed }
    public var phase: Phase
    public var from: String
    public var to: String
    public var origin: String
    public var definition: String?
    /// Done: what was put back.
    public var result: String?

    /// A roll-back entry.
    public init(phase: Phase, from: String, to: String, origin: String, definition: String?, result: String? = nil) {
        self.phase = phase; self.from = from; self.to = to; self.origin = origin; self.definition = definition; self.result = result
    }
}

/// A finished action's figures.
public struct FinishedEntry: Equatable, Sendable {
    public var seconds: Double?
    public var downtimeMs: UInt64?
    public var migrationMs: UInt64?
    public var notes: [String]

    /// A finished entry.
    public init(seconds: Double? = nil, downtimeMs: UInt64? = nil, migrationMs: UInt64? = nil, notes: [String] = []) {
        self.seconds = seconds; self.downtimeMs = downtimeMs; self.migrationMs = migrationMs; self.notes = notes
    }
}

/// Why and how an action was given up (the record's `error` says why).
public struct AbandonedEntry: Equatable, Sendable {
    /// The step that failed, when one did.
    public var failedStep: Int?
    /// What the roll-back put back, when there was one.
    public var rolledBack: String?
    /// `--abandon`: the run that started the move given up.
    public var origin: String?

    /// An abandoned entry.
    public init(failedStep: Int? = nil, rolledBack: String? = nil, origin: String? = nil) {
        self.failedStep = failedStep; self.rolledBack = rolledBack; self.origin = origin
    }
}

// MARK: What recovery asks of a record

extension JournalRecord {
    /// The phases of every kind of record, as one list (how docs/recovery.md names them).
    public enum Phase: String, Sendable {
        case intent, done, skipped, failed, finished, abandoned, carried
    }

    /// The step's index; -1 for action-level records.
    public var stepIndex: Int {
        if case .step(let s) = entry { return s.index }
        return -1
    }

    /// The step's op, or the action-level record's (`createVolume`, `fallback`, …); "" for
    /// `finished` and `abandoned`.
    public var op: String {
        switch entry {
        case .step(let s): s.op
        case .createVolume: "createVolume"
        case .deleteVolume: "deleteVolume"
        case .fallback: "fallback"
        case .rollBack: "rollBack"
        case .finished, .abandoned: ""
        }
    }

    public var phase: Phase {
        switch entry {
        case .step(let s): Phase(rawValue: s.phase.rawValue) ?? .intent
        case .createVolume(let v), .deleteVolume(let v): Phase(rawValue: v.phase.rawValue) ?? .intent
        case .fallback: .intent
        case .rollBack(let r): Phase(rawValue: r.phase.rawValue) ?? .intent
        case .finished: .finished
        case .abandoned: .abandoned
        }
    }

    /// The run that started the move, where the record says it.
    public var origin: String? {
        switch entry {
        case .step(let s): s.origin
        case .rollBack(let r): r.origin
        case .abandoned(let a): a.origin
        default: nil
        }
    }

    /// The definition the move saved, where the record names it.
    public var definition: String? {
        switch entry {
        case .step(let s): s.definition
        case .rollBack(let r): r.definition
        default: nil
        }
    }
}

// MARK: Encoding

/// A field of a format-0 record's `detail`, as an error names it (`no 'detail.host'`).
private struct DetailKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}

/// A record of a journal format this virtplace does not read.
struct NewerJournalFormat: Error, CustomStringConvertible {
    var version: Int
    var description: String {
        "written by a newer virtplace (journal format \(version); this one reads formats 0 to \(JournalRecord.format)): run that virtplace, or upgrade this one"
    }
}

extension JournalRecord: Codable {
    private enum Key: String, CodingKey {
        // Every format.
        case time, run, instance, uuid, error
        // Format 1.
        case v, kind, entry, index, phase, step, origin, definition, action, result, why, seconds
        case host, pool, volume, purpose = "for", carriedFrom, to, from, downtimeMs, migrationMs, notes
        case failedStep, rolledBack
        // Format 0 (besides `action`, its kind, and `step`, its index).
        case op, detail
    }

    private enum EntryName: String, Codable {
        case step, createVolume, deleteVolume, fallback, rollBack, finished, abandoned
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: Key.self)
        guard let version = try c.decodeIfPresent(Int.self, forKey: .v) else {
            self = try Self.format0(c)
            return
        }
        guard version == 1 else {
            if version > Self.format { throw NewerJournalFormat(version: version) }
            throw DecodingError.dataCorruptedError(forKey: .v, in: c, debugDescription: "no journal format \(version)")
        }
        time = try c.decode(String.self, forKey: .time)
        run = try c.decode(String.self, forKey: .run)
        instance = try c.decode(String.self, forKey: .instance)
        uuid = try c.decodeIfPresent(String.self, forKey: .uuid)
        error = try c.decodeIfPresent(String.self, forKey: .error)
        kind = try c.decodeIfPresent(ActionKind.self, forKey: .kind)
        func s(_ k: Key) throws -> String { try c.decode(String.self, forKey: k) }
        func o(_ k: Key) throws -> String? { try c.decodeIfPresent(String.self, forKey: k) }
        switch try c.decode(EntryName.self, forKey: .entry) {
        case .step:
            let step = try c.decode(Step.self, forKey: .step)
            var e = StepEntry(index: try c.decode(Int.self, forKey: .index), step: step,
                              phase: try c.decode(StepEntry.Phase.self, forKey: .phase))
            e.origin = try o(.origin); e.definition = try o(.definition); e.result = try o(.result); e.why = try o(.why)
            e.action = try c.decodeIfPresent(Action.self, forKey: .action)
            e.seconds = try c.decodeIfPresent(Double.self, forKey: .seconds)
            entry = .step(e)
        case let name where name == .createVolume || name == .deleteVolume:
            let v = VolumeEntry(phase: try c.decode(VolumeEntry.Phase.self, forKey: .phase), host: try s(.host), pool: try s(.pool),
                                volume: try s(.volume), purpose: try o(.purpose), why: try o(.why), carriedFrom: try o(.carriedFrom))
            entry = name == .createVolume ? .createVolume(v) : .deleteVolume(v)
        case .fallback:
            entry = .fallback(to: try c.decode(ActionKind.self, forKey: .to))
        case .rollBack:
            entry = .rollBack(RollBackEntry(phase: try c.decode(RollBackEntry.Phase.self, forKey: .phase), from: try s(.from),
                                            to: try s(.to), origin: try s(.origin), definition: try o(.definition),
                                            result: try o(.result)))
        case .finished:
            entry = .finished(FinishedEntry(seconds: try c.decodeIfPresent(Double.self, forKey: .seconds),
                                            downtimeMs: try c.decodeIfPresent(UInt64.self, forKey: .downtimeMs),
                                            migrationMs: try c.decodeIfPresent(UInt64.self, forKey: .migrationMs),
                                            notes: try c.decodeIfPresent([String].self, forKey: .notes) ?? []))
        default:
            entry = .abandoned(AbandonedEntry(failedStep: try c.decodeIfPresent(Int.self, forKey: .failedStep),
                                              rolledBack: try o(.rolledBack), origin: try o(.origin)))
        }
    }

    /// A format-0 record: `action` (the kind), `step` (the index, -1 for action-level records),
    /// `op`, `phase`, `detail` (strings), `seconds`. Converted as docs/recovery.md §2 says.
    private static func format0(_ c: KeyedDecodingContainer<Key>) throws -> JournalRecord {
        // In that release's order, so that a missing field is named as it named it.
        let time = try c.decode(String.self, forKey: .time)
        let run = try c.decode(String.self, forKey: .run)
        let instance = try c.decode(String.self, forKey: .instance)
        let uuid = try c.decodeIfPresent(String.self, forKey: .uuid)
        let kind = ActionKind(rawValue: try c.decode(String.self, forKey: .action))
        let index = try c.decode(Int.self, forKey: .step)
        let op = try c.decode(String.self, forKey: .op)
        let phase = try c.decode(Phase.self, forKey: .phase)
        let d = try c.decodeIfPresent([String: String].self, forKey: .detail) ?? [:]
        let seconds = try c.decodeIfPresent(Double.self, forKey: .seconds)
        func required(_ key: String) throws -> String {
            guard let value = d[key] else {
                throw DecodingError.keyNotFound(DetailKey(stringValue: "detail.\(key)"),
                                                .init(codingPath: [Key.detail], debugDescription: "no detail.\(key)"))
            }
            return value
        }
        let entry: JournalEntry
        switch (op, phase) {
        case (_, .finished):
            entry = .finished(FinishedEntry(seconds: d["seconds"].flatMap(Double.init), downtimeMs: d["downtimeMs"].flatMap { UInt64($0) },
                                            migrationMs: d["migrationMs"].flatMap { UInt64($0) }, notes: d["notes"].map { [$0] } ?? []))
        case (_, .abandoned):
            entry = .abandoned(AbandonedEntry(failedStep: d["failedStep"].flatMap { Int($0) }, rolledBack: d["rolledBack"], origin: d["origin"]))
        case ("createVolume", _), ("deleteVolume", _), (_, .carried):
            guard let volumePhase = VolumeEntry.Phase(rawValue: phase.rawValue) else {
                throw DecodingError.dataCorruptedError(forKey: .phase, in: c, debugDescription: "not a phase of \(op)")
            }
            let v = VolumeEntry(phase: volumePhase, host: try required("host"), pool: try required("pool"), volume: try required("volume"),
                                purpose: d["for"], why: d["why"], carriedFrom: d["carriedFrom"])
            entry = op == "deleteVolume" ? .deleteVolume(v) : .createVolume(v)
        case ("fallback", _):
            guard let to = ActionKind(rawValue: try required("kind")) else {
                throw DecodingError.dataCorruptedError(forKey: .detail, in: c, debugDescription: "no such action kind")
            }
            entry = .fallback(to: to)
        case ("rollBack", _):
            guard let rollPhase = RollBackEntry.Phase(rawValue: phase.rawValue) else {
                throw DecodingError.dataCorruptedError(forKey: .phase, in: c, debugDescription: "not a phase of rollBack")
            }
            entry = .rollBack(RollBackEntry(phase: rollPhase, from: try required("from"), to: try required("to"),
                                            origin: try required("origin"), definition: d["record"], result: d["result"]))
        default:
            guard index >= 0, let stepPhase = StepEntry.Phase(rawValue: phase.rawValue) else {
                throw DecodingError.dataCorruptedError(forKey: .op, in: c, debugDescription: "not a record this virtplace knows")
            }
            var e = StepEntry(index: index, op: op, phase: stepPhase)
            e.origin = d["origin"]; e.definition = d["record"]; e.result = d["result"]; e.why = d["why"]; e.seconds = seconds
            // The action, a JSON string inside the record; one that does not decode is left
            // out, as the release that wrote it did (recovery then holds the instance).
            e.action = d["action"].flatMap(format0Action)
            if let planned = e.action?.steps, planned.indices.contains(index), planned[index].op == op { e.step = planned[index] }
            entry = .step(e)
        }
            return JournalRecord(time: time, run: run, instance: instance, uuid: uuid, kind: kind, entry: entry,
                             error: try c.decodeIfPresent(String.self, forKey: .error))
    }

    /// The action of a format-0 record, from the JSON that release wrote: without the keys an
    /// action gained since (`id`, `dependsOn`: a move resumed on its own waits on nothing), which
    /// are given their empty values. Nil when it is not an action.
    static func format0Action(_ text: String) -> Action? {
        guard var object = (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any] else { return nil }
        if object["id"] == nil { object["id"] = 0 }
        if object["dependsOn"] == nil { object["dependsOn"] = [Int]() }
        guard let data = try? JSONSerialization.data(withJSONObject: object) else { return nil }
        return try? JSONDecoder().decode(Action.self, from: data)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: Key.self)
        try c.encode(Self.format, forKey: .v)
        try c.encode(time, forKey: .time)
        try c.encode(run, forKey: .run)
        try c.encode(instance, forKey: .instance)
        try c.encodeIfPresent(uuid, forKey: .uuid)
        try c.encodeIfPresent(kind, forKey: .kind)
        try c.encodeIfPresent(error, forKey: .error)
        switch entry {
        case .step(let e):
            guard let step = e.step else {
                throw EncodingError.invalidValue(e.op, .init(codingPath: [Key.step], debugDescription: "a step record without its step"))
            }
            try c.encode(EntryName.step, forKey: .entry)
            try c.encode(e.index, forKey: .index); try c.encode(step, forKey: .step); try c.encode(e.phase, forKey: .phase)
            try c.encodeIfPresent(e.origin, forKey: .origin); try c.encodeIfPresent(e.definition, forKey: .definition)
            try c.encodeIfPresent(e.action, forKey: .action); try c.encodeIfPresent(e.result, forKey: .result)
            try c.encodeIfPresent(e.why, forKey: .why); try c.encodeIfPresent(e.seconds, forKey: .seconds)
        case .createVolume(let v), .deleteVolume(let v):
            if case .createVolume = entry { try c.encode(EntryName.createVolume, forKey: .entry) } else {
                try c.encode(EntryName.deleteVolume, forKey: .entry)
            }
            try c.encode(v.phase, forKey: .phase); try c.encode(v.host, forKey: .host); try c.encode(v.pool, forKey: .pool)
            try c.encode(v.volume, forKey: .volume); try c.encodeIfPresent(v.purpose, forKey: .purpose)
            try c.encodeIfPresent(v.why, forKey: .why); try c.encodeIfPresent(v.carriedFrom, forKey: .carriedFrom)
        case .fallback(let to):
            try c.encode(EntryName.fallback, forKey: .entry); try c.encode(to, forKey: .to)
        case .rollBack(let r):
            try c.encode(EntryName.rollBack, forKey: .entry)
            try c.encode(r.phase, forKey: .phase); try c.encode(r.from, forKey: .from); try c.encode(r.to, forKey: .to)
            try c.encode(r.origin, forKey: .origin); try c.encodeIfPresent(r.definition, forKey: .definition)
            try c.encodeIfPresent(r.result, forKey: .result)
        case .finished(let f):
            try c.encode(EntryName.finished, forKey: .entry)
            try c.encodeIfPresent(f.seconds, forKey: .seconds); try c.encodeIfPresent(f.downtimeMs, forKey: .downtimeMs)
            try c.encodeIfPresent(f.migrationMs, forKey: .migrationMs)
            if !f.notes.isEmpty { try c.encode(f.notes, forKey: .notes) }
        case .abandoned(let a):
            try c.encode(EntryName.abandoned, forKey: .entry)
            try c.encodeIfPresent(a.failedStep, forKey: .failedStep); try c.encodeIfPresent(a.rolledBack, forKey: .rolledBack)
            try c.encodeIfPresent(a.origin, forKey: .origin)
        }
    }
}

extension JournalRecord.Phase: Codable {}
