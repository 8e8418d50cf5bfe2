import Foundation
import Placement

/// An action an earlier run started and neither finished nor gave up, as its journal records
/// tell it: enough to finish it, roll it back, or explain to an operator why neither is safe.
public struct UnfinishedAction: Equatable, Sendable {
    public var instance: String
    /// The domain's UUID: how it is looked up on every host.
    public var uuid: String?
    /// The action as the run that started it planned it (for a live move that fell back, the
    /// fallback move); nil when the journal does not say (a record written by an older
    /// virtplace, or damaged).
    public var action: Action?
    /// The run that started the move: its record (`records/UUID/ORIGIN-HOST.xml`) and its backups
    /// (`VOL.virtplace-backup-ORIGIN`) carry this id.
    public var origin: String
    /// The last run that worked on it.
    public var lastRun: String
    /// The records of its last attempt, oldest first.
    public var records: [JournalRecord]

    /// Reads an unfinished action out of the records of its last attempt (as
    /// `Journal.unfinished` groups them).
    public init(instance: String, records: [JournalRecord]) {
        self.instance = instance
        self.records = records
        // The latest attempt's first intent: its action is the one to resume (a fallback's).
        let first = records.last { $0.stepIndex == 0 && $0.phase == .intent }
        uuid = records.lazy.compactMap(\.uuid).first
        lastRun = records.last?.run ?? ""
        origin = first?.origin ?? first?.run ?? lastRun
        if case .step(let entry) = first?.entry { action = entry.action }
    }

    /// The highest step that has a record, with its op and its last phase: how far it got.
    public var lastStep: (index: Int, op: String, phase: JournalRecord.Phase)? {
        guard let r = records.last(where: { $0.stepIndex >= 0 }) else { return nil }
        return (r.stepIndex, r.op, r.phase)
    }

    /// Whether a step that changes a host had run or begun: only then is there something half
    /// done. `record` changes nothing; a live migration interrupted in its middle either
    /// completed or was cancelled by libvirt, so its intent alone does not count.
    public var changedSomething: Bool {
        records.contains { r in
            guard r.stepIndex >= 0, r.op != "record" else { return false }
            return r.phase == .done || (r.phase == .intent && r.op != "migrateLive")
        }
    }

    /// Whether a step that puts a copy of the domain on the target (`recreate`,
    /// `defineOnTarget`, `migrateLive`) had begun: only then can a copy there be this move's.
    public var targetCopyBegun: Bool {
        records.contains { ["recreate", "defineOnTarget", "migrateLive"].contains($0.op) && $0.phase == .intent }
    }

    /// Whether the move shut the guest down itself: its `shutdown` step ended done or skipped
    /// (found it shut off on its source). A guest that merely left its source does not count.
    public var shutDownByTheMove: Bool {
        records.contains { $0.op == "shutdown" && ($0.phase == .done || $0.phase == .skipped) }
    }

    /// Whether the move's `undefineSource` ended done or skipped: its source holds no
    /// definition of it any more.
    public var sourceUndefined: Bool {
        records.contains { $0.op == "undefineSource" && ($0.phase == .done || $0.phase == .skipped) }
    }

    /// Whether a `start` of the move may have run the domain: a start step that began and was
    /// not refused (an intent whose outcome is missing counts: the process may have died
    /// after libvirt started it).
    public var startMayHaveRun: Bool {
        let starts = records.filter { $0.op == "start" && $0.stepIndex >= 0 }
        return Set(starts.map { "\($0.run)/\($0.stepIndex)" }).contains { key in
            !starts.contains { "\($0.run)/\($0.stepIndex)" == key && $0.phase == .failed }
        }
    }

    /// Whether the move is past its point of no return: for a live move, the migration is done;
    /// for the others, the source's undefine had begun. Before it, a move can be rolled back
    /// (the source still holds the domain, intact); after it, only finished.
    public var pastPointOfNoReturn: Bool {
        records.contains { r in
            (r.op == "migrateLive" && (r.phase == .done || r.phase == .skipped))
                || (r.op == "undefineSource" && r.phase == .intent && r.kind != .live)
        }
    }

    /// The definition the move recorded (`records/UUID/ORIGIN-HOST.xml`), when a record step
    /// wrote one.
    public var recordPath: String? {
        records.lazy.compactMap(\.definition).last
    }

    /// `after step 4 (transferVolume) finished`, `after the intent of step 2 (shutdown)`.
    public var progress: String {
        guard let (index, op, phase) = lastStep else { return "before its first step" }
        switch phase {
        case .intent: return "after the intent of step \(index + 1) (\(op)), before its outcome"
        case .failed: return "after step \(index + 1) (\(op)) failed"
        default: return "after step \(index + 1) (\(op)) finished"
        }
    }

    /// Two unfinished actions are the same when they have the same instance and records.
    public static func == (a: UnfinishedAction, b: UnfinishedAction) -> Bool {
        a.instance == b.instance && a.records == b.records
    }
}

extension Journal {
    /// The actions in `records` that an earlier run started and never finished or abandoned,
    /// in instance order (`UnfinishedActions`; `load` gives them for a run).
    public static func unfinishedActions(_ records: some Sequence<JournalRecord>) -> [UnfinishedAction] {
        var unfinished = UnfinishedActions()
        for r in records { unfinished.add(r) }
        return unfinished.actions
    }
}

/// The actions an earlier run started and never finished or abandoned, gathered record by
/// record as the journal is read. The records of one move span all its attempts: a resumed
/// attempt (its first intent names an earlier run as `origin`) adds to the move's records
/// instead of replacing them, so that what an earlier attempt did (say, defining the copy on
/// the target) is never forgotten when a resumed attempt is killed in turn. Records carried
/// over by a rotation belong to no action. Only the records of actions still open are kept.
struct UnfinishedActions {
    private var open: [String: [JournalRecord]] = [:]

    mutating func add(_ r: JournalRecord) {
        switch r.phase {
        case .carried:
            return
        case .finished, .abandoned:
            open[r.instance] = nil
        default:
            let resumed = (r.origin ?? r.run) != r.run && open[r.instance] != nil
            if r.stepIndex == 0 && r.phase == .intent && !resumed { open[r.instance] = [] }
            open[r.instance, default: []].append(r)
        }
    }

    /// In instance order.
    var actions: [UnfinishedAction] {
        open.keys.sorted().compactMap { name in
            guard let list = open[name], list.contains(where: { $0.stepIndex >= 0 }) else { return nil }
            return UnfinishedAction(instance: name, records: list)
        }
    }
}
