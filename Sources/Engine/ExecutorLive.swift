import Foundation
import Placement
import Synchronization

extension ActionRunner {
    /// A live move: managed migration (`virDomainMigrate3`, this process holding both
    /// connections) with `LIVE | PERSIST_DEST | UNDEFINE_SOURCE | ABORT_ON_ERROR`, plus
    /// `NON_SHARED_DISK` and `migrate_disks` for the disks the plan copies (their target volumes
    /// are created first), `UNSAFE` only when every other disk is on a pool the file declares
    /// shared, `AUTO_CONVERGE` and `POSTCOPY` as the policy says; bandwidth as a parameter and
    /// the maximum downtime set before the job starts. A watchdog reads the job statistics
    /// (progress) and, after the timeout, aborts the job or switches it to post-copy.
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
            copyDisks: m.copyDisks.sorted(), sharedStorageDeclared: unsafe, autoConverge: m.autoConverge,
            allowPostCopy: m.onTimeout == .postcopy, bandwidthMiBps: m.bandwidthMiBps > 0 ? UInt64(m.bandwidthMiBps) : nil)
        request.migrationAddress = m.migrationAddress
        request.transport = m.transport
        request.tlsDestination = m.tlsDestination
        try await driver.setMaxDowntime(uuid: uuid, on: m.from, milliseconds: UInt64(max(1, m.maxDowntimeMs)))

        let watch = Watch()
        let started = ContinuousClock.now
        var failure: (any Error)?
        do {
            try await runWatched(m, uuid: uuid, request: request, watch: watch)
        } catch {
            failure = error
        }
        let wall = (ContinuousClock.now - started).seconds

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
            }
            let place: String
            switch (after.source, after.target) {
            case (.some(let s), .none): place = "it is \(s.state) on \(m.from)"
            case (.none, .some(let t)): place = "it is \(t.state) on \(m.to)"
            case (.some(let s), .some(let t)): place = "it is \(s.state) on \(m.from) and \(t.state) on \(m.to): an operator must decide"
            case (.none, .none): place = "it is on neither host (the definition is saved in \(recordPath ?? "the records"))"
            }
            let clean = after.source?.isRunning == true && after.target == nil
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
            let cause = LiveFailureCause.classify(failure, timedOut: watch.timedOut != nil, lostDestination: watch.lostDestination)
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

    /// Runs the migration call and, beside it, the watchdog: progress from the job statistics
    /// every `jobPollInterval`, and the timeout (abort, or switch to post-copy).
    private func runWatched(_ m: LiveMigration, uuid: String, request: MigrationRequest, watch: Watch) async throws {
        let driver = self.driver
        let events = executor.events
        let instance = action.instance
        let interval = executor.options.jobPollInterval
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                try await driver.migrate(uuid: uuid, from: m.from, to: m.to, request: request)
            }
            group.addTask {
                let clock = ContinuousClock()
                let started = clock.now
                let deadline = started + .seconds(max(1, m.timeoutSeconds))
                var acted = false
                var lost = false
                while !Task.isCancelled {
                    do { try await Task.sleep(for: interval) } catch { return }
                    if !lost, !(await driver.isAlive(m.to)) {
                        // A managed migration goes on QEMU to QEMU without the destination's
                        // daemon, then fails at its end: stop it now, the source resumes.
                        lost = true
                        watch.markLost()
                        try? await driver.abortJob(uuid: uuid, on: m.from, postcopy: false)
                    }
                    if let stats = try? await driver.jobProgress(uuid: uuid, on: m.from) {
                        events(.transfer(instance: instance, TransferStatus(migration: stats, elapsed: (clock.now - started).seconds)))
                    }
                    if !acted && !lost && clock.now >= deadline {
                        acted = true
                        switch m.onTimeout {
                        case .abort:
                            watch.set("aborted")
                            try? await driver.abortJob(uuid: uuid, on: m.from, postcopy: false)
                        case .postcopy:
                            watch.set("switched to post-copy")
                            try? await driver.startPostCopy(uuid: uuid, on: m.from)
                        }
                    }
                }
            }
            // The migration ends first; then the watchdog is stopped.
            try await group.next()
            group.cancelAll()
        }
    }
}

/// What the watchdog did, read after the migration call returned.
final class Watch: Sendable {
    private let state = Mutex<String?>(nil)
    func set(_ what: String) { state.withLock { $0 = what } }
    var timedOut: String? { state.withLock { $0 } }
    private let lost = Mutex(false)
    /// The destination's connection went away and the job was aborted.
    func markLost() { lost.withLock { $0 = true } }
    var lostDestination: Bool { lost.withLock { $0 } }
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
