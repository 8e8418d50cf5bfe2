import Foundation
import Placement
import Synchronization

extension ActionRunner {
    /// A live move: managed migration (`virDomainMigrate3`, this process holding both
    /// connections) with `LIVE | PERSIST_DEST | UNDEFINE_SOURCE | ABORT_ON_ERROR`, plus
    /// `NON_SHARED_DISK` and `migrate_disks` for the disks the plan copies (their target volumes
    /// are created first), `UNSAFE` only when every other disk is on a pool the file declares
    /// shared, `POSTCOPY` when the instance allows post-copy; bandwidth as a parameter. A
    /// watchdog reads the job statistics every `jobPollInterval` (progress) and feeds them to the
    /// convergence controller (`ConvergenceController`): the allowed downtime rises in steps at
    /// each stall, then the ladder goes on — a second attempt with `AUTO_CONVERGE` (the first is
    /// aborted: a pre-copy abort rolls back, the guest running on its source only, checked by
    /// UUID on both hosts before the restart), post-copy, or abort (then the fallback).
    ///
    /// After a failure the domain is looked up by UUID on both hosts before anything is
    /// decided: a lost reply can hide a migration that succeeded. At the end the completed job
    /// statistics are read on the destination: libvirt's job time and the guest's downtime.
    mutating func migrateLive(_ m: LiveMigration, uuid: String) async throws -> StepOutcome {
        let source = try await driver.domain(uuid: uuid, on: m.from)
        let target = try await driver.domain(uuid: uuid, on: m.to)
        if let done = try await alreadyMigrated(m, uuid: uuid, source: source, target: target) { return done }
        guard let source else {
            throw StepFailure("\(action.instance) (\(uuid)) is on neither \(m.from) nor \(m.to)")
        }
        guard source.isRunning else {
            throw StepFailure("it is \(source.state) on \(m.from), not running: not migrated live")
        }
        if let target {
            throw StepFailure("\(m.to) already has \(action.instance) (\(target.state)\(target.persistent ? "" : ", transient")) as well as \(m.from): not migrated")
        }

        // Storage: target volumes for the copied disks, shared pools re-read on the target.
        let copy = Set(m.copyDisks)
        var created: [String] = []
        var nonCopiedPools: [String?] = []
        for disk in source.config.disks where disk.path != nil || disk.volume != nil {
            if copy.contains(disk.target) {
                guard let pool = disk.pool, let name = disk.volume else {
                    throw StepFailure("disk \(disk.target) is to be copied but is in no storage pool")
                }
                if try await prepareCopy(pool: pool, volume: name, from: m.from, to: m.to) { created.append("\(pool)/\(name)") }
            } else if disk.readOnly || disk.sourceType == "network" {
                continue
            } else {
                nonCopiedPools.append(disk.pool)
                if let pool = disk.pool { try? await driver.refreshPool(pool, on: m.to) }
            }
        }
        let shared = Set(m.sharedPools)
        let unsafe = !nonCopiedPools.isEmpty && nonCopiedPools.allSatisfy { $0.map(shared.contains) ?? false }

        var request = MigrationRequest(
            copyDisks: m.copyDisks.sorted(), sharedStorageDeclared: unsafe, autoConverge: false,
            allowPostCopy: m.onTimeout == .postcopy, bandwidthMiBps: m.bandwidthMiBps > 0 ? UInt64(m.bandwidthMiBps) : nil)
        request.migrationAddress = m.migrationAddress
        request.transport = m.transport
        request.tlsDestination = m.tlsDestination

        let watch = Watch(ConvergenceController(.init(m)))
        let started = ContinuousClock.now
        let stepStart = executor.options.pollClock.now()
        var failure: (any Error)?
        while true {
            let (downtime, autoConverge) = watch.attemptSettings
            request.autoConverge = autoConverge
            try await driver.setMaxDowntime(uuid: uuid, on: m.from, milliseconds: downtime)
            failure = nil
            do {
                try await runWatched(m, uuid: uuid, request: request, watch: watch, stepStart: stepStart)
            } catch {
                failure = error
            }
            // The controller aborted this attempt to start again with auto-converge: only when
            // the abort left the guest running on its source and nothing on the target.
            guard watch.takeRestart(), failure != nil else { break }
            guard try await driver.domain(uuid: uuid, on: m.from)?.isRunning == true,
                  (try? await driver.domain(uuid: uuid, on: m.to).map { _ in false } ?? true) == true else { break }
            watch.restarted()
        }
        let wall = (ContinuousClock.now - started).seconds
        convergenceNotes(watch.decisions)

        // Whatever libvirt said, find out where the domain is now: by UUID, on both hosts.
        let sourceAfter = try await driver.domain(uuid: uuid, on: m.from)
        let targetAfter: DomainFacts?
        do {
            targetAfter = try await driver.domain(uuid: uuid, on: m.to)
        } catch {
            // The destination went away (its daemon died, the network broke): the guest stays
            // where libvirt left it; whatever the destination kept is looked at by the next run.
            let place = sourceAfter.map { "it is \($0.state) on \(m.from)" } ?? "it is not on \(m.from) any more"
            let what = failure.map(describe) ?? "libvirt reported success"
            if !created.isEmpty { notes.append("created for the copy and left on \(m.to): \(created.joined(separator: ", "))") }
            let how = watch.lostDestination ? "its connection was lost, so the migration was aborted" : describe(error)
            throw StepFailure("\(m.to) stopped answering during the migration (\(how)): \(what); \(place); what \(m.to) kept is checked when it answers again")
        }
        let after = (source: sourceAfter, target: targetAfter)
        if let failure {
            if let recovered = try await recover(m, uuid: uuid, after: after, failure: failure) {
                return recovered
            }
            var message = describe(failure)
            if watch.lostDestination {
                message = "the connection to \(m.to) was lost during the migration, so it was aborted: \(message)"
            } else if let timedOut = watch.timedOut {
                message = "did not finish within \(m.timeoutSeconds) s (\(timedOut)): \(message)"
            } else if let stall = watch.stalled {
                message = "did not converge (\(stall)): \(message)"
            }
            let place: String
            switch (after.source, after.target) {
            case (.some(let s), .none): place = "it is \(s.state) on \(m.from)"
            case (.none, .some(let t)): place = "it is \(t.state) on \(m.to)"
            case (.some(let s), .some(let t)): place = "it is \(s.state) on \(m.from) and \(t.state) on \(m.to): an operator must decide"
            case (.none, .none): place = "it is on neither host (the definition is saved in \(recordPath ?? "the records"))"
            }
            // After a switch to post-copy the guest ran on the target: whatever the hosts show,
            // nothing there is debris and no other move may start from the source.
            let clean = after.source?.isRunning == true && after.target == nil && !watch.postCopyStarted
            if !created.isEmpty {
                if clean {
                    // The guest runs on the source only: the copies made for it on the target
                    // are virtplace's own (journalled) and incomplete. Removed, journalled.
                    await removeIncompleteCopies(created, on: m.to)
                } else {
                    notes.append("created for the copy and left on \(m.to): \(created.joined(separator: ", "))")
                }
            }
            // Only a clean failure may fall back to the next rung (the guest runs on the
            // source, and the target, answering, holds nothing of it), and only for a cause a
            // reboot move avoids: what the target lacks, a reboot move lacks too.
            let cause = LiveFailureCause.classify(failure, timedOut: watch.timedOut != nil, lostDestination: watch.lostDestination,
                                                  stalled: watch.stalled != nil)
            liveFailure = cause
            fallbackReady = clean && cause.rebootAvoids
            throw StepFailure("\(message); \(place)")
        }
        guard let arrived = after.target, arrived.isRunning, arrived.persistent, after.source == nil else {
            throw StepFailure("libvirt reported success, but \(describePlace(after, m))")
        }
        return try await finishMigration(m, uuid: uuid, wallSeconds: wall, note: nil)
    }

    /// The postcondition: running and persistent on the target, gone from the source (an
    /// inactive definition left on the source is removed, which finishes an interrupted move).
    private mutating func alreadyMigrated(_ m: LiveMigration, uuid: String, source: DomainFacts?, target: DomainFacts?) async throws -> StepOutcome? {
        guard let target, target.isRunning, target.persistent else { return nil }
        if let source {
            guard !source.isActive else { return nil }
            try await driver.undefine(uuid: uuid, on: m.from)
            notes.append("an inactive definition left on \(m.from) by an earlier migration was removed")
            return .done("already running on \(m.to); removed the definition left on \(m.from)")
        }
        keepCopiesNote(m)
        return .skipped("already running on \(m.to) and gone from \(m.from)")
    }

    /// After a failed migration call: a migration that in fact succeeded (a lost reply, or a
    /// destination that could not be made persistent) is finished; nil when it really failed.
    private mutating func recover(_ m: LiveMigration, uuid: String, after: (source: DomainFacts?, target: DomainFacts?),
                                  failure: any Error) async throws -> StepOutcome? {
        guard let target = after.target, target.isRunning else { return nil }
        if let source = after.source, source.isActive { return nil }
        var notes: [String] = ["libvirt reported \"\(describe(failure))\", but the guest runs on \(m.to)"]
        if !target.persistent {
            // PERSIST_DEST failed: define it there from the recorded definition.
            try await driver.define(xml: try recordedDefinition(), on: m.to)
            notes.append("made persistent on \(m.to) from the recorded definition")
        }
        if after.source != nil {
            try await driver.undefine(uuid: uuid, on: m.from)
            notes.append("the definition left on \(m.from) was removed")
        }
        self.notes += notes
        return try await finishMigration(m, uuid: uuid, wallSeconds: nil, note: notes.first)
    }

    /// Reads the completed job on the destination and reports the move.
    private mutating func finishMigration(_ m: LiveMigration, uuid: String, wallSeconds: Double?, note: String?) async throws -> StepOutcome {
        let stats = try? await driver.completedJob(uuid: uuid, on: m.to)
        migrationMs = stats?.timeElapsedMs
        downtimeMs = stats?.downtimeMs
        migratedBytes = stats?.dataProcessed
        migratedMemoryBytes = stats?.memoryProcessed
        keepCopiesNote(m)
        var parts: [String] = []
        if let wallSeconds { parts.append(String(format: "migrated in %.2f s", wallSeconds)) } else { parts.append("migrated") }
        if let ms = migrationMs { parts.append("job \(ms) ms") }
        parts.append(downtimeMs.map { "downtime \($0) ms" } ?? "downtime not reported")
        if let note { parts.append(note) }
        return .done(parts.joined(separator: ", "))
    }

    private mutating func keepCopiesNote(_ m: LiveMigration) {
        guard !m.copyDisks.isEmpty else { return }
        notes.append("source copies of \(m.copyDisks.sorted().joined(separator: ", ")) kept on \(m.from)")
    }

    private func recordedDefinition() throws -> String {
        guard let recordPath else { throw StepFailure("no recorded definition to make the domain persistent with") }
        do {
            return String(decoding: try MoveRecord.read(recordPath), as: UTF8.self)
        } catch {
            throw StepFailure("cannot read the recorded definition \(recordPath): \(error.reason)")
        }
    }

    private func describePlace(_ after: (source: DomainFacts?, target: DomainFacts?), _ m: LiveMigration) -> String {
        let s = after.source.map { "\($0.state) on \(m.from)" } ?? "gone from \(m.from)"
        let t = after.target.map { "\($0.state)\($0.persistent ? "" : " (transient)") on \(m.to)" } ?? "not on \(m.to)"
        return "it is \(s) and \(t)"
    }

    /// Removes volumes this migration created on `to` for a copy that did not happen (the guest
    /// still runs on its source only), each journalled (`deleteVolume`), each reported.
    private mutating func removeIncompleteCopies(_ created: [String], on to: String) async {
        for item in created {
            guard let slash = item.firstIndex(of: "/") else { continue }
            let pool = String(item[..<slash]), volume = String(item[item.index(after: slash)...])
            if await deleteOwnVolume(pool: pool, volume: volume, on: to) {
                notes.append("removed the incomplete copy \(item) this move had created on \(to)")
            } else {
                notes.append("the incomplete copy \(item) this move created on \(to) could not be removed: it is virtplace's own, and the next run reuses it")
            }
        }
    }

    /// Creates the target volume of a copied disk (same size and format), unless it exists;
    /// an existing one is accepted only when virtplace created it (an earlier attempt).
    /// Returns whether it created one.
    private func prepareCopy(pool: String, volume: String, from: String, to: String) async throws -> Bool {
        guard let source = try await driver.volume(pool: pool, name: volume, on: from) else {
            throw StepFailure("no volume \(pool)/\(volume) on \(from)")
        }
        if try await driver.volume(pool: pool, name: volume, on: to) != nil {
            guard shared.wasCreated(host: to, pool: pool, volume: volume) else {
                throw StepFailure("\(to) already has a volume \(pool)/\(volume) that virtplace did not create: not overwritten")
            }
            return false
        }
        try await createVolumeForCopy(pool: pool, volume: volume, capacityBytes: source.capacityBytes, format: source.format,
                                      on: to, for: "migrateLive")
        return true
    }

    /// The controller's decisions, kept with the move's report (`notes`): one line for the
    /// whole ladder, e.g. `convergence: downtime 75 → 150 → 225 → 300 ms, restarted with
    /// auto-converge, aborted`.
    private mutating func convergenceNotes(_ decisions: [ConvergenceController.Decision]) {
        guard !decisions.isEmpty else { return }
        var parts: [String] = []
        var ramp: [UInt64] = []
        func flush() {
            if !ramp.isEmpty { parts.append("downtime " + ramp.map(String.init).joined(separator: " → ") + " ms"); ramp = [] }
        }
        for d in decisions {
            switch d.action {
            case .setDowntime(let ms):
                if ramp.isEmpty { ramp.append(d.downtimeMs) }
                ramp.append(ms)
            case .restartWithAutoConverge:
                flush(); parts.append(String(format: "restarted with auto-converge at %.1f s", d.atSeconds))
            case .startPostCopy:
                flush(); parts.append(String(format: "post-copy at %.1f s (%@)", d.atSeconds, d.cause.rawValue))
            case .abort:
                flush(); parts.append(String(format: "aborted at %.1f s (%@)", d.atSeconds, d.cause.rawValue))
            }
        }
        flush()
        notes.append("convergence: " + parts.joined(separator: ", "))
    }

    /// Runs the migration call and, beside it, the watchdog: progress from the job statistics
    /// every `jobPollInterval`, each reading given to the convergence controller, whose
    /// decisions it carries out (and reports as events).
    private func runWatched(_ m: LiveMigration, uuid: String, request: MigrationRequest, watch: Watch, stepStart: Double) async throws {
        let driver = self.driver
        let events = executor.events
        let instance = action.instance
        let interval = executor.options.jobPollInterval
        let clock = executor.options.pollClock
        // Children say whether they are the migration: the watchdog may end first (after an
        // abort), and the migration's outcome is what counts.
        try await withThrowingTaskGroup(of: Bool.self) { group in
            group.addTask {
                try await driver.migrate(uuid: uuid, from: m.from, to: m.to, request: request)
                return true
            }
            group.addTask {
                let started = clock.now()
                var lost = false
                while !Task.isCancelled {
                    do { try await clock.sleep(for: interval) } catch { return false }
                    if !lost, !watch.postCopyStarted, !(await driver.isAlive(m.to)) {
                        // A managed migration goes on QEMU to QEMU without the destination's
                        // daemon, then fails at its end: stop it now, the source resumes (not in
                        // post-copy: the guest runs on the target, and QEMU refuses the abort).
                        lost = true
                        watch.markLost()
                        try? await driver.abortJob(uuid: uuid, on: m.from, postcopy: false)
                    }
                    let stats = try? await driver.jobProgress(uuid: uuid, on: m.from)
                    if let stats {
                        events(.transfer(instance: instance, TransferStatus(migration: stats, elapsed: clock.now() - started)))
                    }
                    guard !lost, let decision = watch.observe(stats, at: clock.now() - stepStart) else { continue }
                    events(.convergence(instance: instance, decision))
                    switch decision.action {
                    case .setDowntime(let ms):
                        try? await driver.setMaxDowntime(uuid: uuid, on: m.from, milliseconds: ms)
                    case .startPostCopy:
                        try? await driver.startPostCopy(uuid: uuid, on: m.from)
                    case .restartWithAutoConverge, .abort:
                        // Aborted: the job rolls back and the migration call returns; nothing
                        // more to watch (had the abort failed, the watch goes on).
                        if (try? await driver.abortJob(uuid: uuid, on: m.from, postcopy: false)) != nil { return false }
                    }
                }
                return false
            }
            // Until the migration ends; then the watchdog is stopped.
            while let migration = try await group.next(), !migration {}
            group.cancelAll()
        }
    }
}

/// The watchdog's state, shared between the migration step and its watchdog task: the
/// convergence controller, and what was done (read after the migration call returned).
final class Watch: Sendable {
    private struct State {
        var controller: ConvergenceController
        var timedOut: String?
        var stalled: String?
        var restart = false
        var lost = false
        var postCopy = false
    }
    private let state: Mutex<State>

    init(_ controller: ConvergenceController) { state = Mutex(State(controller: controller)) }

    /// The downtime and auto-converge flag the next attempt starts with.
    var attemptSettings: (downtimeMs: UInt64, autoConverge: Bool) {
        state.withLock { ($0.controller.downtimeMs, $0.controller.autoConverging) }
    }

    /// One reading of the job, to the controller; what it decided is remembered here too.
    func observe(_ job: MigrationJob?, at seconds: Double) -> ConvergenceController.Decision? {
        state.withLock { s in
            guard let d = s.controller.observe(job, at: seconds) else { return nil }
            switch (d.action, d.cause) {
            case (.restartWithAutoConverge, _): s.restart = true
            case (.abort, .timeout): s.timedOut = "aborted"
            case (.startPostCopy, .timeout): s.timedOut = "switched to post-copy"
            case (.abort, .stall): s.stalled = d.summary
            case (.startPostCopy, .stall), (.setDowntime, _): break
            }
            if d.action == .startPostCopy { s.postCopy = true }
            return d
        }
    }

    /// Whether the controller asked for a restart with auto-converge (and forgets it).
    func takeRestart() -> Bool { state.withLock { s in defer { s.restart = false }; return s.restart } }
    /// The next attempt begins (with auto-converge).
    func restarted() { state.withLock { $0.controller.restarted() } }
    var decisions: [ConvergenceController.Decision] { state.withLock { $0.controller.decisions } }
    /// Set when the timeout aborted the job or switched it to post-copy.
    var timedOut: String? { state.withLock { $0.timedOut } }
    /// Set when the controller aborted a stalled job, its ladder done: the decision's words.
    var stalled: String? { state.withLock { $0.stalled } }
    /// The controller decided to switch to post-copy (set before the call): from then on the
    /// guest may run on the target, and the migration can be neither aborted nor fallen back from.
    var postCopyStarted: Bool { state.withLock { $0.postCopy } }
    /// The destination's connection went away and the job was aborted.
    func markLost() { state.withLock { $0.lost = true } }
    var lostDestination: Bool { state.withLock { $0.lost } }
}

extension TransferStatus {
    /// Progress of a migration job from its figures.
    init(migration stats: MigrationJob, elapsed: Double) {
        let memoryDone = stats.memoryProcessed ?? 0
        let diskDone = stats.diskProcessed ?? 0
        let total = stats.dataTotal ?? ((stats.memoryTotal ?? 0) + (stats.diskTotal ?? 0))
        let processed = stats.dataProcessed ?? (memoryDone + diskDone)
        let rate = (stats.memoryBps ?? 0) + (stats.diskBps ?? 0)
        var remaining: Double?
        if let left = stats.timeRemainingMs, left > 0 {
            remaining = Double(left) / 1000
        } else if rate > 0, let dataLeft = stats.dataRemaining {
            remaining = Double(dataLeft) / Double(rate)
        }
        self.init(kind: .migration, processedBytes: processed, totalBytes: total, bytesPerSecond: rate,
                  elapsedSeconds: stats.timeElapsedMs.map { Double($0) / 1000 } ?? elapsed, remainingSeconds: remaining)
        memoryProcessedBytes = stats.memoryProcessed
        memoryTotalBytes = stats.memoryTotal
        diskProcessedBytes = stats.diskProcessed
        diskTotalBytes = stats.diskTotal
    }
}
