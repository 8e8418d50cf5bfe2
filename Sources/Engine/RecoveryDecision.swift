import Placement

/// What recovery does with an action an earlier run left unfinished, decided from its journal
/// and from where the domain is now (looked up by UUID on every host).
public enum RecoveryDecision: Equatable, Sendable {
    /// Run the action again: every step checks its postcondition first, so what is done is
    /// skipped and the rest is done.
    case finish
    /// Finishing is impossible now (its target is unreachable and holds nothing of it): put the
    /// domain back as it was on its source (started again if it ran) and give the move up.
    case rollBack(String)
    /// Nothing is left to do for this action (the domain is elsewhere now, or the migration
    /// never happened): give it up; the plan decides afresh.
    case abandon(String)
    /// Neither finishing nor rolling back is safe: the instance is left alone, and the message
    /// says what was found and what the operator should do.
    case hold(String)
}

/// A domain as recovery sees it on one host.
public struct Sighting: Equatable, Sendable {
    /// libvirt's state, lower case (`running`, `shutoff`, `paused`, …).
    public var state: String
    public var persistent: Bool

    /// A sighting value.
    public init(state: String, persistent: Bool) { self.state = state; self.persistent = persistent }

    /// Running, paused or otherwise not shut off.
    public var isActive: Bool { state != "shutoff" }
    var phrase: String { state == "shutoff" ? "shut off" : state + (persistent ? "" : ", transient") }
}

/// Decides what to do with `u`, given where its domain is now: `copies` by host (every host
/// that answered and defines its UUID), `unreachable` the hosts that did not answer, `uris`
/// the hosts' connection URIs (quoted in the operator's instructions). Pure.
///
/// The rules (docs/recovery.md has them as a table):
/// - nothing changed yet (only `record` ran) → give up: the plan decides afresh;
/// - an update, start or stop (one host; idempotent steps) → give up: the plan decides afresh;
/// - one copy, on the move's source or target → finish (a live move whose guest is still on its
///   source only is given up instead: the migration never happened, and the plan decides
///   afresh);
/// - one copy, on a third host → give up: someone moved it;
/// - a copy on source and target, one of them made by this move and at most one active →
///   finish when the journal says which is authoritative (the target's for a move that made
///   it from a source that stayed shut off; a running target after a migration);
/// - the target unreachable and nothing of the move there yet → roll back on the source;
/// - anything else (no copy anywhere, two active copies, a source that runs again next to the
///   copy made from it, an unreachable host that may hold a copy) → hold, and say what to do.
public func decideRecovery(_ u: UnfinishedAction, copies: [String: Sighting], unreachable: Set<String>,
                           uris: [String: String] = [:]) -> RecoveryDecision {
    let name = u.instance
    func virsh(_ host: String) -> String { "virsh -c \(uris[host].map(HostURI.redacted) ?? "URI-OF-\(host)")" }
    let again = "then run `virtplace apply` again"
    let giveUp = "or, to make virtplace forget the earlier move and plan afresh, `virtplace apply --abandon \(name)`"

    guard let action = u.action, let uuid = u.uuid, let from = action.from, let to = action.to else {
        return .hold("the journal does not say what the earlier run (\(u.lastRun)) was doing with \(name) (a record from an older virtplace, or damaged), so it is left alone. Check where it is (`virtplace observe`), put it right by hand, then run `virtplace apply --abandon \(name)` so that virtplace plans it afresh.")
    }
    let kind = action.kind
    // Nothing on any host changed yet (only `record` ran, or a migration that never
    // completed): nothing to finish or undo; the plan decides afresh with today's file.
    if !u.changedSomething && !u.pastPointOfNoReturn && !u.targetCopyBegun {
        return .abandon("the earlier \(kind.rawValue) move had changed nothing yet; the plan decides afresh")
    }
    // An update, a start or a stop acts on one host (`from` is `to`), and each of its steps
    // checks its result first: whatever it did is the domain's state now, nothing of it can be
    // half a copy. The move rules below would take the one domain for two copies of it (and
    // hold it as "running on its source again"). Given up: the plan decides afresh, from
    // today's file and what the host shows.
    if !kind.isMove {
        return .abandon("the earlier \(kind.rawValue) of \(name) on \(from) was interrupted; its steps are each complete or not begun, so the plan decides afresh from what \(from) shows")
    }
    let move = "the earlier \(kind.rawValue) move of \(name) (\(uuid)) \(from) → \(to), stopped \(u.progress)"
    let found = copies.keys.sorted().map { "\($0) (\(copies[$0]?.phrase ?? "?"))" }
    let foundText = found.isEmpty ? "defined on no host that answered" : "defined on " + found.joined(separator: " and ")
    let record = u.recordPath.map { "its definition is recorded in \($0)" } ?? "no definition was recorded"

    // Hosts of the move that did not answer.
    let down = [from, to].filter { unreachable.contains($0) }
    if !down.isEmpty {
        let downText = down.joined(separator: " and ")
        if kind != .live, down == [to], copies.count == 1, copies[from]?.persistent == true, !u.pastPointOfNoReturn {
            if !u.targetCopyBegun {
                return .rollBack("\(to) is unreachable and the move had put nothing of \(name) there yet: rolled back on \(from)")
            }
            return .hold("\(move): \(to) is unreachable and may hold the copy the move defined there, so \(name) stays \(copies[from]?.phrase ?? "as it is") on \(from) until \(to) answers; then `virtplace apply` finishes the move. To run it on \(from) now instead: `\(virsh(from)) start \(name)`; once \(to) answers, undefine the copy there, keeping its volumes (`\(virsh(to)) undefine \(name)`), and run `virtplace apply --abandon \(name)`.")
        }
        if kind != .live, down == [from], u.sourceUndefined, u.targetCopyBegun, copies.count == 1, copies[to]?.persistent == true {
            // The journal proves the source holds nothing of it any more: the copy on the
            // target is the only one; finish there rather than leave it down.
            return .finish
        }
        if kind == .live, down == [to], let source = copies[from], source.state == "running", copies.count == 1 {
            return .abandon("\(to) is unreachable and \(name) runs on \(from): the migration did not complete; the plan decides afresh")
        }
        return .hold("\(move): \(downText) \(down.count == 1 ? "is" : "are") unreachable, so virtplace cannot tell whether a copy of it is there; it is \(foundText) and is left as it is. Run `virtplace apply` again when \(downText) \(down.count == 1 ? "answers" : "answer"), \(giveUp) once you have put it right by hand (\(record)).")
    }

    let elsewhere = copies.keys.filter { $0 != from && $0 != to }.sorted()
    let active = copies.filter { $0.value.isActive }.keys.sorted()

    if copies.isEmpty {
        let others = unreachable.sorted()
        let unknown = others.isEmpty ? "" : " (\(others.joined(separator: ", ")) did not answer)"
        return .hold("\(move): it is defined on no host now\(unknown). No volume was deleted; \(record). To bring it back, define it again on its source — `\(virsh(from)) define \(u.recordPath ?? "RECORDED.xml")` — \(again): the move is finished from there; \(giveUp).")
    }
    if !elsewhere.isEmpty {
        if copies.count == 1, let host = elsewhere.first {
            return .abandon("\(name) is on \(host) now, not on \(from) or \(to): the earlier move no longer applies; the plan decides afresh")
        }
        return .hold("\(move): it is \(foundText). virtplace does not guess which copy is the instance. Keep one: shut the others down and undefine them, keeping their volumes (`virsh -c URI destroy \(name)`, then `virsh -c URI undefine \(name)` — never with --remove-all-storage), \(again).")
    }
    // A live move whose guest runs on its target while its source is paused: a migration past
    // its switch-over (post-copy, which the convergence controller may start), still going or
    // failed. The target holds the guest's newest state, the source an incomplete one; neither
    // resuming the source nor starting anything is safe, and the job may still be running.
    if kind == .live, copies[from]?.state == "paused", copies[to]?.state == "running" {
        return .hold("\(move): it runs on \(to) and is paused on \(from): the migration had switched over (post-copy), so its newest memory is on \(to) and the copy on \(from) is incomplete — never resume it on \(from). Wait for the migration to end (`\(virsh(from)) domjobinfo \(name)`): once it completed, \(to) alone holds \(name) and `virtplace apply` finishes the move; if it failed (`postcopy-failed`), its memory is split between the hosts: resume neither copy; libvirt can resume the migration (`\(virsh(from)) migrate --postcopy --postcopy-resume …`), \(again).")
    }
    if active.count > 1 {
        return .hold("\(move): it runs on both \(active.joined(separator: " and ")). virtplace never runs a second copy and cannot tell which one holds the newer data. Decide which copy is the instance, shut the other down and undefine it, keeping its volumes (`\(virsh(active[1])) destroy \(name)` then `\(virsh(active[1])) undefine \(name)`, or the same on \(active[0])), \(again).")
    }

    let source = copies[from]
    let target = copies[to]
    switch (source, target) {
    case (.some(let s), .none):
        if kind == .live {
            if s.state == "running" {
                return .abandon("\(name) still runs on \(from) only: the migration did not happen; the plan decides afresh")
            }
            return .hold("\(move): it is \(s.phrase) on \(from) and not on \(to). After an interrupted migration its memory may be incomplete there (post-copy), so virtplace does not resume it. Check it (`\(virsh(from)) domjobinfo \(name)`, its console); if it is sound, resume or start it by hand (`\(virsh(from)) resume \(name)`), \(again).")
        }
        return .finish
    case (.none, .some):
        return .finish
    case (.some(let s), .some(let t)):
        if kind == .live {
            if t.state == "running" && t.persistent && !s.isActive {
                return .finish
            }
            return .hold("\(move): it is \(foundText). The interrupted migration left a copy on each host, and virtplace cannot tell which is the instance. Keep the one that is sound and running (check with `virsh -c URI dominfo \(name)` and its console); undefine the other, keeping its volumes (`virsh -c URI destroy \(name)` if it is active, then `virsh -c URI undefine \(name)`), \(again).")
        }
        if s.isActive {
            return .hold("\(move): it runs on \(from) again, although the earlier run had shut it down there and defined the copy on \(to) from it, so its data on \(from) may be newer than that copy. If the one on \(from) is the instance, undefine the copy on \(to) (`\(virsh(to)) undefine \(name)`; its volumes are kept) \(again) (the move starts over); if the copy on \(to) is, shut \(name) down on \(from) (`\(virsh(from)) shutdown \(name)`) \(again) (the move is finished).")
        }
        guard u.targetCopyBegun else {
            return .hold("\(move): it is \(foundText), but the journal shows no step of this move defining it on \(to), so the copy there is not this move's. Keep one: undefine the other, keeping its volumes (`virsh -c URI undefine \(name)`), \(again).")
        }
        return .finish
    case (.none, .none):
        // Unreachable here: copies is not empty and holds no third host.
        return .hold("\(move): it is \(foundText). \(giveUp).")
    }
}
