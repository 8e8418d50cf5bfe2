import Foundation
import Placement

/// Where a domain is on every host of the fleet, looked up by UUID, and which hosts did not
/// answer.
struct Census: Sendable {
    var copies: [String: DomainFacts] = [:]
    var unreachable: [String: String] = [:]

    /// `host1 (shut off), host3 (running)`.
    var text: String {
        copies.isEmpty ? "defined on no host that answered"
            : "defined on " + copies.keys.sorted().map { "\($0) (\(copies[$0].map(Census.phrase) ?? "?"))" }.joined(separator: ", ")
    }

    static func phrase(_ f: DomainFacts) -> String {
        f.isShutOff ? "shut off" : f.state + (f.persistent ? "" : ", transient")
    }
}

/// One copy, always; back where it ran when a move cannot finish (docs/moves.md, "Move safety").
extension ActionRunner {
    /// The hosts a copy of the domain could be on: the fleet's and the action's.
    var fleetHosts: [String] {
        Set(executor.options.hosts + action.steps.flatMap(\.hosts) + [action.from, action.to].compactMap { $0 }).sorted()
    }

    /// Looks the UUID up on every host of the fleet.
    func census(uuid: String) async -> Census {
        var census = Census()
        for host in fleetHosts {
            do {
                try await driver.connect(host)
                if let facts = try await driver.domain(uuid: uuid, on: host) { census.copies[host] = facts }
            } catch {
                census.unreachable[host] = describe(error)
            }
        }
        return census
    }

    /// The step's message when the domain left `host` without this move undefining it: where
    /// it is now. Nothing is defined or started from there on.
    func vanished(from host: String, during moment: String) async -> String {
        guard let uuid else { return "\(active.instance) left \(host) \(moment)" }
        let census = await census(uuid: uuid)
        let down = census.unreachable.keys.sorted()
        return "\(active.instance) (\(uuid)) left \(host) \(moment), without virtplace: it is now \(census.text)"
            + (down.isEmpty ? "" : "; \(down.joined(separator: ", ")) did not answer")
            + ". A guest gone from its source is not a guest shut down, so the move stops here: nothing was defined or started on \(active.to ?? "the target"). Plan again to move it from where it is now."
    }

    /// When the domain is gone from the move's source: the move's outcome, if it already holds
    /// — the move's target defines the only copy, and every host answered — else nil.
    func onlyOnTarget(uuid: String) async -> String? {
        guard let to = active.to else { return nil }
        let census = await census(uuid: uuid)
        guard census.unreachable.isEmpty, census.copies.count == 1, let there = census.copies[to], there.persistent else { return nil }
        return "not on \(active.from ?? "its source") any more: \(to) defines the only copy (\(Census.phrase(there)))"
    }

    /// What a step is about to do that `ensureOneCopy` guards.
    enum Guarded {
        /// Shut the guest down on the move's source (the move's first change).
        case shutdown
        /// Define (or re-create) the copy on the move's target.
        case define
        /// Start the domain.
        case start

        var text: String {
            switch self {
            case .shutdown: "shutting it down for the move"
            case .define: "defining it"
            case .start: "starting it"
            }
        }
    }

    /// Before a step that defines or starts a copy (or shuts the guest down for a move), looks
    /// the UUID up on every host of the fleet: a copy the journal does not explain stops the
    /// step before it changes anything; so does a host that does not answer, unless the
    /// journal proves where the only copy is. `host` is the host the step acts on.
    ///
    /// Explained copies: on the move's source, the guest itself (running or paused before the
    /// shutdown, shut off after it); on its target, a shut-off copy an earlier attempt of this
    /// move defined there; the domain a `start` acts on.
    mutating func ensureOneCopy(_ what: Guarded, on host: String, uuid: String) async throws {
        let census = await census(uuid: uuid)
        let kind = active.kind
        let isMove = kind.isMove
        let from = isMove ? active.from : nil
        let to = isMove ? active.to : nil
        func explained(_ h: String, _ f: DomainFacts) -> Bool {
            if what == .start && h == host { return true }
            if h == from { return what == .shutdown ? f.isActive : f.isShutOff }
            if h == to { return f.isShutOff && earlierTargetCopy && what != .start }
            return false
        }
        let verb = "\(what.text) on \(host)"
        let stray = census.copies.keys.sorted().filter { h in census.copies[h].map { !explained(h, $0) } ?? false }
        if !stray.isEmpty {
            throw StepFailure("\(verb) refused: \(active.instance) (\(uuid)) is \(census.text), and this move's journal does not explain the copy on \(stray.joined(separator: ", ")): a second copy is never \(what == .start ? "started" : "defined"). Nothing was changed by this step; find out which copy is the instance, keep it, undefine the others keeping their volumes (`virsh -c URI undefine \(active.instance)`), then plan again.")
        }
        let down = census.unreachable.keys.sorted()
        guard !down.isEmpty else { return }
        // A host that did not answer may hold a copy. The move's own hosts must answer, except
        // a target the journal shows nothing was defined on, and (for the start on the target)
        // a source the journal shows this move undefined; a third host is accepted only
        // when the journal proves the only copy was the move's own (recorded on its source,
        // shut down there by this move or recorded shut off). A plain start (not a move)
        // checks the hosts that answer.
        let proven = down.allSatisfy { h in
            if h == host { return false }
            if h == from { return what == .start && sourceUndefined }
            if h == to { return !targetCopyBegun && !earlierTargetCopy }
            // Before the shutdown the running copy is in sight on the source, and nothing is
            // created yet: the checks of the define and the start come later.
            return !isMove || what == .shutdown || journalKnowsTheOnlyCopy
        }
        guard proven else {
            let reasons = down.map { "\($0): \(census.unreachable[$0] ?? "no answer")" }.joined(separator: "; ")
            throw StepFailure("\(verb) refused: \(down.joined(separator: ", ")) did not answer (\(reasons)), so virtplace cannot tell whether another copy of \(active.instance) is there, and the journal does not prove where the only copy is. Nothing was changed by this step; run apply again when every host answers.")
        }
        if isMove {
            let why = what == .shutdown ? "the guest ran on \(from ?? "its source") in sight, and nothing was made yet"
                : "the journal shows the only copy was the one this move took from \(from ?? "its source")"
            notes.append("\(down.joined(separator: ", ")) did not answer when \(verb); \(why)")
        }
    }

    /// The journal proves where the only copy is: this move recorded the guest on its source,
    /// and either shut it down there itself or recorded it shut off.
    var journalKnowsTheOnlyCopy: Bool {
        guard let recordPath, let record = MoveRecord.load(definitionPath: recordPath), record.host == active.from else { return false }
        return ownShutdown || record.state == "shutoff"
    }

    /// What the target must have for the move to finish, checked before anything is taken
    /// away (before the shutdown; again before the definition is made): it answers, the
    /// recorded definition parses and is this domain's (for a manual move, the re-created
    /// one is built and parsed too), every pool of its disks exists there and every volume
    /// that no step of the move copies is there (after the copies, `copiesMade`, every
    /// volume), every network of its interfaces exists there.
    func checkTarget(uuid: String, copiesMade: Bool) async throws {
        guard active.kind.isMove, active.kind != .live, let to = active.to else { return }
        let stage = copiesMade ? "before defining it on \(to)" : "before the shutdown"
        func fail(_ why: String) -> StepFailure {
            StepFailure("checked \(stage): \(why); \(copiesMade ? "nothing was defined on \(to)" : "the guest was not shut down")")
        }
        do {
            try await driver.connect(to)
            _ = try await driver.domain(uuid: uuid, on: to)
        } catch {
            throw fail("\(to) does not answer (\(describe(error)))")
        }
        let xml: String
        do { xml = try recordedXML() } catch { throw fail(describe(error)) }
        let parsed: ObservedDomain
        do {
            parsed = try driver.readDefinition(xml)
        } catch {
            throw fail("the recorded definition \(recordPath ?? "") cannot be read: \(describe(error))")
        }
        guard parsed.uuid.lowercased() == uuid.lowercased() else {
            throw fail("the recorded definition \(recordPath ?? "") is of UUID \(parsed.uuid), not \(uuid)")
        }
        for step in active.steps {
            guard case .recreate(_, _, let pool, let volume) = step else { continue }
            let old = parsed.disks.first { $0.pool == pool && $0.volume == volume }
            let boot = DiskAttachment(key: nil, target: old?.target, pool: pool, volume: volume, bus: old?.bus, readOnly: false)
            do {
                let built = try driver.readRecreated(recordedXML: xml, boot: boot, target: old?.target ?? "vda", format: nil)
                guard built.uuid.lowercased() == uuid.lowercased() else { throw StepFailure("it has UUID \(built.uuid)") }
            } catch {
                throw fail("the definition to re-create on \(to) cannot be built from the record: \(describe(error))")
            }
        }
        let copied = Set(active.steps.compactMap { step -> String? in
            if case .transferVolume(let pool, let volume, _, _) = step { return pool + "/" + volume }
            return nil
        })
        do {
            for disk in parsed.disks {
                guard let pool = disk.pool, let volume = disk.volume else { continue }
                if copied.contains(pool + "/" + volume) && !copiesMade {
                    try await driver.refreshPool(pool, on: to)
                } else if try await driver.volume(pool: pool, name: volume, on: to) == nil {
                    throw fail("\(to) has no volume \(pool)/\(volume) (disk \(disk.target)), and no step of the move copies it: it could not start there (is `\(pool)` really shared?)")
                }
            }
            for network in Set(parsed.nics.compactMap(\.network)).sorted() where try await !driver.hasNetwork(network, on: to) {
                throw fail("\(to) has no network \(network) (for its interfaces)")
            }
        } catch let failure as StepFailure {
            throw failure
        } catch {
            throw fail("\(to): \(describe(error))")
        }
    }

    /// Puts a move that cannot finish back as it was: the guest on its source, in the state it
    /// had before the move. Before the source's undefine: the copy the move defined on the
    /// target (inactive: the move never starts it before the source is undefined) is undefined,
    /// its volumes kept. After it, while the copy on the target has never run: the source is
    /// defined again from the recorded definition first. A target that does not answer is
    /// passed over when the journal shows nothing of the move was defined there. Then the
    /// guest is started on its source when it ran before the move — after the same one-copy
    /// check as every start. Journalled as `rollBack` records.
    mutating func rollBack(_ current: Action, uuid: String) async -> (done: Bool, text: String) {
        guard let from = current.from, let to = current.to else { return (false, "the action names no source and target") }
        func entry(_ phase: RollBackEntry.Phase, result: String? = nil) -> JournalEntry {
            .rollBack(RollBackEntry(phase: phase, from: from, to: to, origin: origin, definition: recordPath, result: result))
        }
        try? await writeActionRecord(entry(.intent))
        do {
            let census = await census(uuid: uuid)
            if let why = census.unreachable[from] { throw StepFailure("\(from) does not answer (\(why))") }
            var did: [String] = []
            var source = census.copies[from].flatMap { $0.persistent ? $0 : nil }
            if let why = census.unreachable[to] {
                guard !targetCopyBegun else {
                    throw StepFailure("\(to) does not answer (\(why)) and may hold the copy this move defined there")
                }
                did.append("\(to) did not answer; the journal shows nothing of it was defined there")
            } else if let copy = census.copies[to] {
                guard targetCopyBegun else { throw StepFailure("\(to) has a copy of it that this move did not make") }
                guard !copy.isActive else { throw StepFailure("the copy on \(to) is \(copy.state)") }
                guard !targetMayHaveRun else {
                    throw StepFailure("the copy on \(to) may have run, so its volumes may hold newer data than \(from)'s")
                }
                if source == nil {
                    guard census.copies[from] == nil else { throw StepFailure("\(from) has a transient copy of it") }
                    let xml = try recordedXML()
                    try await driver.define(xml: xml, on: from)
                    guard let again = try await driver.domain(uuid: uuid, on: from), again.persistent else {
                        throw StepFailure("libvirt accepted the definition, but \(from) does not list it")
                    }
                    source = again
                    did.append("defined again on \(from) from \(recordPath ?? "the record")")
                }
                try await driver.undefine(uuid: uuid, on: to)
                did.append("the copy defined on \(to) was undefined (its volumes are kept)")
            }
            guard let source else {
                if !pointOfNoReturn, census.copies[to] == nil {
                    // Someone else took it away from the source: nothing of the move to undo.
                    let text = "nothing of the move to undo: it is \(census.text), where virtplace did not put it"
                    try? await writeActionRecord(entry(.done, result: text))
                    return (true, text)
                }
                throw StepFailure("\(from) no longer defines it (it is \(census.text))")
            }
            if source.isActive {
                did.append("it still runs on \(from)")
            } else if recordedState() == "running" {
                try await ensureOneCopy(.start, on: from, uuid: uuid)
                for pool in Set(source.config.disks.compactMap(\.pool)).sorted() { try? await driver.refreshPool(pool, on: from) }
                try await driver.start(uuid: uuid, on: from)
                guard let after = try await driver.domain(uuid: uuid, on: from), after.isRunning else {
                    throw StepFailure("started on \(from), but libvirt does not say it runs")
                }
                did.append("started again on \(from)")
            }
            let text = did.isEmpty ? "nothing had changed" : did.joined(separator: "; ")
            try? await writeActionRecord(entry(.done, result: text))
            return (true, text)
        } catch {
            try? await writeActionRecord(entry(.failed), error: describe(error))
            return (false, describe(error))
        }
    }
}

extension ActionRunner {
    /// A maintenance reboot move that failed falls back to the plan's `manual` move when that
    /// can help: not after a failed shutdown (a manual move begins with the same shutdown), and
    /// only once the reboot move is put back (the guest defined, and running if it ran, on its
    /// source only). Returns the manual action to run, or nil (the failure stands; a note says
    /// why there was no fallback).
    mutating func rebootFallback(_ current: Action, failedAt index: Int, _ message: String, _ fallback: Fallback,
                                 uuid: String) async -> Action? {
        if case .shutdown = current.steps[index] {
            notes.append("no fallback to manual: the shutdown failed, and a manual move begins with the same shutdown")
            return nil
        }
        guard !targetMayHaveRun else { return nil }
        let rollback = await rollBack(current, uuid: uuid)
        guard rollback.done else { return nil }
        notes.append("the reboot move failed at \(current.steps[index].op) (\(message)) and was put back (\(rollback.text)); it fell back to a manual move, as the file allows")
        try? await writeActionRecord(.fallback(to: fallback.kind), error: message)
        let manual = Action(instance: action.instance, kind: fallback.kind, from: action.from, to: action.to,
                            reasons: action.reasons, steps: fallback.steps, wave: action.wave)
        active = manual
        pointOfNoReturn = false
        targetCopyBegun = false
        ownShutdown = false
        sourceUndefined = false
        return manual
    }
}
