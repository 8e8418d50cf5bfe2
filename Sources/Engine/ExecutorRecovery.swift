import Foundation
import Placement

/// What recovery did with the actions earlier runs left unfinished.
public struct RecoveryReport: Equatable, Sendable {
    /// One report per unfinished action, in instance order: `done` (finished, rolled back or
    /// given up — the notes say which), `failed` (finishing failed: the next run tries again)
    /// or `blocked` (held: virtplace cannot decide; the message says what to do).
    public var actions: [ActionReport]
    /// Instances recovery could not decide about, with the message: nothing touches them in
    /// this run.
    public var held: [String: String]

    /// A report value; empty when nothing was unfinished.
    public init(actions: [ActionReport] = [], held: [String: String] = [:]) {
        self.actions = actions; self.held = held
    }

    /// Whether every unfinished action was dealt with.
    public var clean: Bool { actions.allSatisfy { $0.status == .done } }
}

extension Executor {
    /// Finishes — or, where finishing is impossible, rolls back — the actions that earlier runs
    /// left unfinished (`Journal.unfinishedActions`). For each, the domain is first looked up
    /// by UUID on every host in `hosts` (names as in the placement; `uris` only for the
    /// operator's instructions), then `decideRecovery` says what to do: finishing runs the
    /// recorded action again (its steps skip what is done; the move's record and backups are
    /// the original run's), a roll-back restores the source, and an action virtplace cannot
    /// decide about is held: left alone and reported with what to do.
    public func recover(_ unfinished: [UnfinishedAction], hosts: [String], uris: [String: String] = [:]) async -> RecoveryReport {
        let shared = RunState(journal: journal)
        var report = RecoveryReport()
        for u in unfinished {
            let result = await recover(u, hosts: hosts, uris: uris, shared: shared)
            report.actions.append(result)
            if result.status == .blocked { report.held[u.instance] = result.message ?? "held" }
        }
        return report
    }

    private func recover(_ u: UnfinishedAction, hosts: [String], uris: [String: String], shared: RunState) async -> ActionReport {
        let action = u.action
        // Only a finished move reports through events (its steps run); the others are
        // returned for the caller to show once.
        func report(_ status: ActionReport.Status, _ message: String?, notes: [String] = []) -> ActionReport {
            ActionReport(instance: u.instance, kind: action?.kind ?? .blocked, from: action?.from, to: action?.to,
                         status: status, message: message, notes: notes)
        }
        var copies: [String: Sighting] = [:]
        var unreachable = Set<String>()
        if let uuid = u.uuid {
            for host in Set(hosts + [action?.from, action?.to].compactMap { $0 }).sorted() {
                do {
                    try await driver.connect(host)
                    if let facts = try await driver.domain(uuid: uuid, on: host) {
                        copies[host] = Sighting(state: facts.state, persistent: facts.persistent)
                    }
                } catch {
                    unreachable.insert(host)
                }
            }
        }
        let decision = decideRecovery(u, copies: copies, unreachable: unreachable, uris: uris)
        guard let action, let uuid = u.uuid else {
            if case .hold(let message) = decision { return report(.blocked, message) }
            return report(.blocked, "the journal does not say what the earlier run did with \(u.instance)")
        }
        var runner = ActionRunner(executor: self, action: action, uuid: uuid, shared: shared, resuming: u)
        switch decision {
        case .finish:
            return await runner.run()
        case .rollBack(let why):
            let result = await runner.rollBack(action, uuid: uuid)
            guard result.done else {
                return report(.failed, "\(why), but rolling back failed: \(result.text); the next run looks at it again")
            }
            try? await runner.writeActionRecord(.abandoned(AbandonedEntry(rolledBack: result.text)), error: why)
            return report(.done, nil, notes: ["\(why): \(result.text); the move was given up"])
        case .abandon(let why):
            var notes: [String] = []
            if action.kind == .live, u.targetCopyBegun, let from = action.from, copies[from]?.state == "running" {
                switch await endOrphanedMigration(uuid: uuid, on: from) {
                case .none: break
                case .ended(let note): notes.append(note)
                case .stillRunning(let problem):
                    return report(.failed, "\(why), but \(problem); the next run looks at it again")
                }
            }
            try? await runner.writeActionRecord(.abandoned(AbandonedEntry()), error: why)
            return report(.done, nil, notes: notes + ["the earlier \(action.kind.rawValue) move (run \(u.origin)) was given up: \(why)"])
        case .hold(let message):
            return report(.blocked, "cannot decide: \(message)")
        }
    }

    private enum OrphanedMigration {
        case none
        case ended(String)
        case stillRunning(String)
    }

    /// An interrupted live move whose guest still runs on its source may have left libvirt's
    /// migration job running there: a managed migration's job does not end when the process
    /// that drives it dies (the source goes on sending until its transfer fails or ends), and
    /// until it ends every new migration of that guest is refused ("another migration job is
    /// already running"). The journal says an earlier virtplace run started it; that run is
    /// gone (this one holds the lock), and without it the migration can never be finished (the
    /// destination's half is removed with its connection). So the job is aborted — libvirt
    /// rolls it back, the guest keeps running on the source — and waited for, at most 60 s.
    private func endOrphanedMigration(uuid: String, on host: String) async -> OrphanedMigration {
        guard (try? await driver.jobProgress(uuid: uuid, on: host)) != nil else { return .none }
        do {
            try await driver.abortJob(uuid: uuid, on: host, postcopy: false)
        } catch {
            // It may have ended in between (libvirt then says no job is running): look again.
            guard (try? await driver.jobProgress(uuid: uuid, on: host)) != nil else {
                return .ended("the migration job the earlier run had started on \(host) ended")
            }
            return .stillRunning("the migration job the earlier run had started still runs on \(host) and could not be aborted (\(describe(error)))")
        }
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            guard (try? await driver.jobProgress(uuid: uuid, on: host)) != nil else {
                return .ended("the migration job the earlier run had started was still running on \(host): aborted (the guest keeps running there)")
            }
            try? await Task.sleep(for: options.jobPollInterval)
        }
        return .stillRunning("the migration job the earlier run had started still runs on \(host) 60 s after it was aborted")
    }

    /// Gives up the unfinished actions of `instances` because the operator said so
    /// (`apply --abandon`): an `abandoned` record each; nothing on any host is changed.
    /// Returns the instances that had one.
    public func abandon(_ instances: [String], among unfinished: [UnfinishedAction]) async -> [String] {
        var given: [String] = []
        for u in unfinished where instances.contains(u.instance) {
            try? await journal.record(JournalRecord(
                run: options.run, instance: u.instance, uuid: u.uuid, kind: u.action?.kind,
                entry: .abandoned(AbandonedEntry(origin: u.origin)), error: "given up by the operator (apply --abandon)"))
            given.append(u.instance)
        }
        return given
    }
}
