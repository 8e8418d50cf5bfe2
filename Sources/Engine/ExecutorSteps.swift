import Foundation
import Placement

/// A step that could not be completed: the action stops there.
struct StepFailure: Error, CustomStringConvertible {
    var message: String
    init(_ message: String) { self.message = message }
    var description: String { message }
}

/// Runs one action's steps in order. Each step reads the domain where it acts (by UUID) and
/// skips when its postcondition already holds, so that running an action again — after a
/// crash, a failure or a concurrent change — finishes it without repeating what is done.
///
/// Every step is journalled before it runs (intent, with what is needed to finish or undo it)
/// and after (done, skipped or failed). A move that fails before its point of no return (a
/// live migration done; the source's undefine begun) is rolled back; after it, it is left
/// unfinished for the next run to finish. A live move whose migration fails with the guest
/// still running on its source only takes the plan's fallback, when the file allowed one.
struct ActionRunner {
    let executor: Executor
    let action: Action
    /// The action whose steps run: `action`, or the fallback move it switched to.
    var active: Action
    let uuid: String?
    let shared: RunState
    /// The run that started the move: it names the move's record and backups, so that a
    /// resumed move finds what it made.
    let origin: String
    /// The earlier attempt this one resumes, when it does.
    let resuming: UnfinishedAction?

    var driver: any FleetDriver { executor.driver }
    var clock: ContinuousClock { ContinuousClock() }

    /// The definition saved by `record` (this move's).
    var recordPath: String?
    var notes: [String] = []
    var migrationMs: UInt64?
    var downtimeMs: UInt64?
    /// What the move sent, for its actuals: the migration's bytes (libvirt's completed job:
    /// all data, and memory), the volume bytes copied and the seconds spent copying them.
    var migratedBytes: UInt64?
    var migratedMemoryBytes: UInt64?
    var copiedBytes: UInt64 = 0
    var copySeconds: Double = 0
    /// When this move's own shutdown began, and how long the guest was down once it started
    /// again (a reboot or manual move's downtime, by the clock).
    var downSince: ContinuousClock.Instant?
    var downSeconds: Double?
    var done = 0
    var skipped = 0
    /// Past it the move can only be finished, not rolled back.
    var pointOfNoReturn: Bool
    /// A step that defines the domain on the target had begun: a copy there is this move's.
    var targetCopyBegun: Bool
    /// Set by a failed live migration that left the guest running on its source only, with
    /// the target answering and holding nothing of it: the fallback may run.
    var fallbackReady = false
    /// An earlier attempt of this move had begun to define the copy on the target: a copy
    /// found there may be this move's (and only then).
    let earlierTargetCopy: Bool
    /// This move shut the guest down itself (its `shutdown` step ended done, or found it shut
    /// off on its source): only that counts as "shut down", never "gone from the source".
    var ownShutdown: Bool
    /// A `start` of this move may have run the copy on the target (an attempt that was not
    /// refused): from then on its data may be newer than the source's, and the move is never
    /// rolled back past the source's undefine.
    var targetMayHaveRun: Bool
    /// This move's `undefineSource` ended done or skipped: the source holds no definition.
    var sourceUndefined: Bool
    /// Why the live migration failed, when it did (decides the fallback).
    var liveFailure: LiveFailureCause?
    /// What was tried so far (the report's `attempts`).
    var attempts: [ActionReport.Attempt] = []

    init(executor: Executor, action: Action, uuid: String?, shared: RunState, resuming: UnfinishedAction? = nil) {
        self.executor = executor; self.action = action; self.active = action; self.uuid = uuid; self.shared = shared
        self.resuming = resuming
        origin = resuming?.origin ?? executor.options.run
        recordPath = resuming?.recordPath
        pointOfNoReturn = resuming?.pastPointOfNoReturn ?? false
        targetCopyBegun = resuming?.targetCopyBegun ?? false
        earlierTargetCopy = resuming?.targetCopyBegun ?? false
        ownShutdown = resuming?.shutDownByTheMove ?? false
        targetMayHaveRun = resuming?.startMayHaveRun ?? false
        sourceUndefined = resuming?.sourceUndefined ?? false
    }

    /// How a run of steps ended.
    private enum StepsEnd {
        case completed
        case failed(index: Int, message: String)
        /// Stopped at the test crash point (`ExecutionOptions.crashPoint`).
        case crashed
        /// Stopped before this step because a stop was requested (`stopRequested`).
        case stopped(index: Int)
        /// This step ran, but its outcome could not be journalled: stopped there.
        case journalFailed(index: Int, message: String)
    }

    /// Runs the action: checks its hosts, then each step with its journal records; on a
    /// failure, falls back, rolls back or leaves the move for the next run (see the type).
    mutating func run() async -> ActionReport {
        let started = clock.now
        var kind = action.kind
        executor.events(.actionStarted(instance: action.instance, kind: action.kind, from: action.from, to: action.to))
        func finish(_ status: ActionReport.Status, _ message: String?) -> ActionReport {
            let report = ActionReport(
                instance: action.instance, kind: kind, from: action.from, to: action.to, status: status,
                message: message, elapsedSeconds: (clock.now - started).seconds, migrationMs: migrationMs,
                downtimeMs: downtimeMs, notes: notes, stepsDone: done, stepsSkipped: skipped,
                attempts: attempts.isEmpty ? [] : attempts.dropLast() + [ActionReport.Attempt(kind: kind, failure: status == .done ? nil : message)],
                estimate: action.estimate,
                actual: status == .done && kind.isMove ? actual(kind: kind, seconds: (clock.now - started).seconds) : nil)
            executor.events(.actionFinished(report))
            return report
        }
        guard let uuid else {
            return finish(.blocked, "the plan's basis has no UUID for \(action.instance): plan again")
        }
        let hosts = Set(action.steps.flatMap(\.hosts)).sorted()
        for host in hosts {
            do {
                try await driver.connect(host)
            } catch {
                return finish(.blocked, describe(error))
            }
        }
        if let resuming {
            notes.append("resumed the move run \(resuming.origin) started; it had stopped \(resuming.progress)")
        }

        var current = action
        attempts.append(ActionReport.Attempt(kind: action.kind, failure: nil))
        var end = await runSteps(current, uuid: uuid)
        if case .failed(let index, let message) = end, fallbackReady, let fallback = action.fallback,
           attempts.count < ActionReport.maxAttempts, case .migrateLive = current.steps[index] {
            attempts[attempts.count - 1].failure = "\(current.steps[index].op): \(message)"
            attempts.append(ActionReport.Attempt(kind: fallback.kind, failure: nil))
            // The file allows the next rung: the guest still runs on its source only.
            notes.append("the live migration failed (\(message)); the guest still ran on \(action.from ?? "its source") only, so the move fell back to \(fallback.kind.rawValue), as the file allows")
            try? await writeActionRecord(.fallback(to: fallback.kind), error: message)
            current = Action(instance: action.instance, kind: fallback.kind, from: action.from, to: action.to,
                             reasons: action.reasons, steps: fallback.steps, wave: action.wave)
            kind = fallback.kind
            active = current
            pointOfNoReturn = false
            end = await runSteps(current, uuid: uuid)
        } else if case .failed(let index, _) = end, let fallback = action.fallback, let cause = liveFailure,
                  !cause.rebootAvoids, case .migrateLive = current.steps[index] {
            notes.append("no fallback to \(fallback.kind.rawValue): \(cause.summary), which a \(fallback.kind.rawValue) move would meet too")
        }
        if case .failed(let index, let message) = end, current.kind == .reboot, let fallback = action.fallback,
           fallback.kind == .manual, let switched = await rebootFallback(current, failedAt: index, message, fallback, uuid: uuid) {
            current = switched
            kind = fallback.kind
            end = await runSteps(current, uuid: uuid)
        }

        switch end {
        case .completed:
            try? await writeActionRecord(.finished(FinishedEntry(seconds: (clock.now - started).seconds, downtimeMs: downtimeMs,
                                                                 migrationMs: migrationMs, notes: notes)))
            return finish(.done, nil)
        case .crashed:
            return finish(.failed, "stopped at the test crash point (a fault-injection hook of debug builds)")
        case .stopped(let index):
            return finish(.failed, "stopped before step \(index + 1) (\(current.steps[index].op)) on request: the next run finishes it")
        case .journalFailed(let index, let message):
            return finish(.failed, "\(current.steps[index].op) ran, but \(message): stopped here; the next run looks at it again")
        case .failed(let index, let message):
            let op = current.steps[index].op
            if pointOfNoReturn {
                // Past the source's undefine, the move is put back only while the copy on the
                // target has never run (its volumes hold nothing newer than the source's).
                if current.kind.isMove, current.kind != .live, !targetMayHaveRun {
                    let rollback = await rollBack(current, uuid: uuid)
                    if rollback.done {
                        try? await writeActionRecord(.abandoned(AbandonedEntry(failedStep: index, rolledBack: rollback.text)), error: message)
                        return finish(.failed, "\(op): \(message); the move could not finish, so it was put back: \(rollback.text)")
                    }
                    return finish(.failed, "\(op): \(message); it could not be put back on \(current.from ?? "its source") (\(rollback.text)): the next run finishes it")
                }
                // Never abandoned: the next run finishes it from the journal.
                return finish(.failed, "\(op): \(message); the move is past the point where it could be undone, so the next run finishes it")
            }
            guard current.kind.isMove, current.kind != .live else {
                try? await writeActionRecord(.abandoned(AbandonedEntry(failedStep: index)), error: message)
                return finish(.failed, "\(op): \(message)")
            }
            let rollback = await rollBack(current, uuid: uuid)
            if rollback.done {
                try? await writeActionRecord(.abandoned(AbandonedEntry(failedStep: index, rolledBack: rollback.text)), error: message)
                return finish(.failed, "\(op): \(message); rolled back: \(rollback.text)")
            }
            return finish(.failed, "\(op): \(message); it could not be rolled back (\(rollback.text)): the next run looks at it again")
        }
    }

    /// Runs `current`'s steps in order, each journalled before and after.
    private mutating func runSteps(_ current: Action, uuid: String) async -> StepsEnd {
        for (index, step) in current.steps.enumerated() {
            if index > 0, executor.options.stopRequested() {
                // No `abandoned` record: the action stays unfinished, and the next run finishes it.
                return .stopped(index: index)
            }
            let stepStarted = clock.now
            switch step {
            case .undefineSource where current.kind != .live: pointOfNoReturn = true
            case .recreate, .defineOnTarget, .migrateLive: targetCopyBegun = true
            default: break
            }
            do {
                // Step 0's intent holds the whole action: enough to run it again after a crash
                // (not its estimate: recovery has no use for it, and the record stays as it was).
                var recorded = current
                recorded.estimate = nil
                try await write(StepEntry(index: index, step: step, phase: .intent, origin: origin, action: index == 0 ? recorded : nil),
                                kind: current.kind)
            } catch {
                return .failed(index: index, message: describe(error))
            }
            if crashes(at: index, .afterIntent) { return .crashed }
            executor.events(.stepStarted(instance: action.instance, index: index, step: step))
            let outcome: StepOutcome
            do {
                if failsInstead(at: index) { throw StepFailure("failed at the test's request (a fault-injection hook of debug builds)") }
                outcome = try await perform(step, uuid: uuid)
            } catch {
                outcome = .failed(describe(error))
            }
            let seconds = (clock.now - stepStarted).seconds
            if case .done = outcome {
                if case .shutdown = step { downSince = downSince ?? stepStarted }
                if case .start = step, let downSince { downSeconds = (clock.now - downSince).seconds }
            }
            executor.events(.stepFinished(instance: action.instance, index: index, step: step, outcome: outcome, seconds: seconds))
            // An outcome that cannot be journalled stops the action: the next step would run
            // without a record of what this one did (the intent record stays, unfinished).
            do {
                switch outcome {
                case .done(let note):
                    done += 1
                    try await write(StepEntry(index: index, step: step, phase: .done, result: note, seconds: seconds), kind: current.kind)
                case .skipped(let why):
                    skipped += 1
                    try await write(StepEntry(index: index, step: step, phase: .skipped, why: why, seconds: seconds), kind: current.kind)
                case .failed(let message):
                    try? await write(StepEntry(index: index, step: step, phase: .failed, seconds: seconds), kind: current.kind, error: message)
                    if crashes(at: index, .afterOutcome) { return .crashed }
                    return .failed(index: index, message: message)
                }
            } catch {
                return .journalFailed(index: index, message: describe(error))
            }
            if case .migrateLive = step { pointOfNoReturn = true }
            if case .undefineSource = step, current.kind != .live { sourceUndefined = true }
            if crashes(at: index, .afterOutcome) { return .crashed }
        }
        return .completed
    }

    /// What a finished move sent and took (`ActionReport.actual`).
    private func actual(kind: ActionKind, seconds: Double) -> MoveActual {
        let migrated = migratedBytes.map { Int64(clamping: $0) }
        let bytes = (migrated ?? 0) + Int64(clamping: copiedBytes)
        let downtime: Int? = switch kind {
        case .live: downtimeMs.map { Int(clamping: $0) }
        case .cold: 0
        default: downSeconds.map { Int(($0 * 1000).rounded()) }
        }
        return MoveActual(bytes: kind == .live && migrated == nil ? nil : bytes, seconds: seconds, downtimeMs: downtime,
                          memoryBytes: migratedMemoryBytes.map { Int64(clamping: $0) },
                          migrationSeconds: migrationMs.map { Double($0) / 1000 },
                          copiedBytes: copiedBytes > 0 ? Int64(clamping: copiedBytes) : nil,
                          copySeconds: copiedBytes > 0 ? copySeconds : nil)
    }

    /// Whether the test crash point is here; calls its `crash` (which, in the CLI, does not
    /// return: the process is killed).
    /// Compiled into debug builds only: a release build never stops here, whatever is set.
    private func crashes(at index: Int, _ moment: CrashPoint.Moment) -> Bool {
        #if DEBUG
        guard let point = executor.options.crashPoint, point.step == index, point.moment == moment else { return false }
        point.crash()
        return true
        #else
        return false
        #endif
    }

    /// Whether the test asked this step to fail without running (`CrashPoint.Moment.failInstead`).
    /// Compiled into debug builds only.
    private func failsInstead(at index: Int) -> Bool {
        #if DEBUG
        guard let point = executor.options.crashPoint, point.step == index, point.moment == .failInstead else { return false }
        return true
        #else
        return false
        #endif
    }

    // MARK: Journal

    /// A step's record, with the move's saved definition once there is one.
    private func write(_ entry: StepEntry, kind: ActionKind, error: String? = nil) async throws {
        var entry = entry
        entry.definition = recordPath
        try await executor.journal.record(JournalRecord(run: executor.options.run, instance: action.instance, uuid: uuid,
                                                        kind: kind, entry: .step(entry), error: error))
    }

    /// An action-level record: finished, abandoned, fallback, rollBack, createVolume, deleteVolume.
    func writeActionRecord(_ entry: JournalEntry, error: String? = nil) async throws {
        try await executor.journal.record(JournalRecord(run: executor.options.run, instance: action.instance, uuid: uuid,
                                                        kind: action.kind, entry: entry, error: error))
    }

    /// Creates the target volume of a copy, journalled before (intent) and after (done or
    /// failed): a crash in between leaves a record that virtplace may have made it, so that a
    /// later run may write over it — and over nothing else.
    func createVolumeForCopy(pool: String, volume: String, capacityBytes: UInt64, format: String?, on host: String,
                             for op: String) async throws {
        func entry(_ phase: VolumeEntry.Phase) -> JournalEntry {
            .createVolume(VolumeEntry(phase: phase, host: host, pool: pool, volume: volume, purpose: op))
        }
        try await writeActionRecord(entry(.intent))
        do {
            try await driver.createVolume(pool: pool, name: volume, capacityBytes: capacityBytes, format: format, on: host)
        } catch {
            try? await writeActionRecord(entry(.failed), error: describe(error))
            throw error
        }
        shared.markCreated(host: host, pool: pool, volume: volume)
        try? await writeActionRecord(entry(.done))
    }

    /// Deletes a volume virtplace created for a copy of this move that did not finish,
    /// journalled before (intent) and after (done: the journal no longer counts it as
    /// virtplace's; failed: it still does, and a retry reuses it). Returns whether it is gone.
    func deleteOwnVolume(pool: String, volume: String, on host: String) async -> Bool {
        func entry(_ phase: VolumeEntry.Phase) -> JournalEntry {
            .deleteVolume(VolumeEntry(phase: phase, host: host, pool: pool, volume: volume, why: "incomplete copy"))
        }
        do {
            try await writeActionRecord(entry(.intent))
        } catch {
            return false
        }
        do {
            try await driver.deleteVolume(pool: pool, name: volume, on: host)
        } catch {
            try? await writeActionRecord(entry(.failed), error: describe(error))
            return false
        }
        shared.forget(host: host, pool: pool, volume: volume)
        try? await writeActionRecord(entry(.done))
        return true
    }

    /// The full name of a backup volume: the plan's stem, `-`, the run that started the move.
    func backupName(_ stem: String) -> String { "\(stem)-\(origin)" }

    /// The lifecycle state the move recorded before it changed anything (`running`, …).
    func recordedState() -> String? {
        guard let recordPath else { return nil }
        return MoveRecord.load(definitionPath: recordPath)?.state
    }

    // MARK: Steps

    private mutating func perform(_ step: Step, uuid: String) async throws -> StepOutcome {
        switch step {
        case .record(let host): return try await record(on: host, uuid: uuid)
        case .backupVolume(let host, let pool, let volume, let name):
            return try await backUp(pool: pool, volume: volume, as: name, on: host)
        case .shutdown(let host, let timeout, let forceOff):
            return try await shutdown(on: host, uuid: uuid, timeoutSeconds: timeout, forceOff: forceOff)
        case .migrateLive(let m): return try await migrateLive(m, uuid: uuid)
        case .transferVolume(let pool, let volume, let from, let to):
            return try await transfer(pool: pool, volume: volume, from: from, to: to, step: step)
        case .defineOnTarget(let host, let from): return try await defineOnTarget(host, from: from, uuid: uuid)
        case .recreate(let host, let from, let pool, let volume):
            return try await recreate(on: host, from: from, bootPool: pool, bootVolume: volume, uuid: uuid)
        case .undefineSource(let host): return try await undefineSource(on: host, uuid: uuid)
        case .start(let host): return try await start(on: host, uuid: uuid)
        case .setVcpus(let host, let count, let applies):
            return try await setVcpus(count, applies: applies, on: host, uuid: uuid)
        case .setMemory(let host, let mib, let applies):
            return try await setMemory(mib, applies: applies, on: host, uuid: uuid)
        case .setAutostart(let host, let enabled): return try await setAutostart(enabled, on: host, uuid: uuid)
        case .setMetadata(let host, let fleet, let tags):
            return try await setMetadata(fleet: fleet, tags: tags, on: host, uuid: uuid)
        case .attachDisk(let host, let disk, let applies): return try await attachDisk(disk, applies: applies, on: host, uuid: uuid)
        case .attachNIC(let host, let nic, let applies): return try await attachNIC(nic, applies: applies, on: host, uuid: uuid)
        }
    }

    /// The domain on `host`, failing the step when it is not there.
    func require(_ host: String, uuid: String) async throws -> DomainFacts {
        guard let facts = try await driver.domain(uuid: uuid, on: host) else {
            throw StepFailure("\(action.instance) (\(uuid)) is not defined on \(host)")
        }
        return facts
    }

    /// Saves the inactive definition (with secure data) and a `MoveRecord` under
    /// `records/UUID/ORIGIN-HOST.{xml,json}` (ORIGIN: the run that started the move, HOST: its
    /// source) before anything changes. A resumed move whose record exists keeps it: it says
    /// how the domain was before the move (running, …), which a record taken now would not.
    private mutating func record(on host: String, uuid: String) async throws -> StepOutcome {
        let directory = executor.state.recordsPath + "/" + uuid
        let path = directory + "/" + origin + "-" + host + ".xml"
        if FileManager.default.fileExists(atPath: path), MoveRecord.load(definitionPath: path) != nil {
            recordPath = path
            return .skipped("recorded by run \(origin) before the move began: \(path)")
        }
        guard let facts = try await driver.domain(uuid: uuid, on: host) else {
            if let latest = latestRecord(in: directory) {
                recordPath = latest
                return .skipped("no longer on \(host); the definition recorded earlier is used: \(latest)")
            }
            throw StepFailure("\(action.instance) (\(uuid)) is not defined on \(host), and no definition was recorded earlier")
        }
        let xml = try await driver.definition(uuid: uuid, on: host)
        let snapshots = try await driver.snapshotDefinitions(uuid: uuid, on: host)
        let snapshotDirectory = directory + "/" + origin + "-" + host + ".snapshots"
        let snapshotPaths = snapshots.enumerated().map { i, s in
            snapshotDirectory + "/" + String(format: "%02d-", i) + s.name.replacingOccurrences(of: "/", with: "_") + ".xml"
        }
        let record = MoveRecord(
            name: facts.name, uuid: uuid, host: host, faultDomain: executor.options.faultDomains[host], state: facts.state,
            persistent: facts.persistent, autostart: facts.autostart, vcpus: facts.config.vcpus,
            memoryMiB: facts.config.memoryMiB, fleet: facts.config.fleet, tags: facts.config.tags,
            disks: facts.config.disks, nics: facts.config.nics, move: action.kind.rawValue, from: action.from, to: action.to,
            run: origin, time: UTCTimestamp.iso8601(Date()), definition: path, snapshots: snapshotPaths)
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: 0o700])
            if !snapshots.isEmpty {
                try FileManager.default.createDirectory(atPath: snapshotDirectory, withIntermediateDirectories: true,
                                                        attributes: [.posixPermissions: 0o700])
                for (snapshot, file) in zip(snapshots, snapshotPaths) { try writePrivate(Data(snapshot.xml.utf8), to: file) }
            }
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
            // The JSON first: the definition's presence is what says "recorded".
            try writePrivate(try encoder.encode(record), to: MoveRecord.jsonPath(forDefinition: path))
            try writePrivate(Data(xml.utf8), to: path)
        } catch {
            throw StepFailure("cannot save the definition to \(path): \(error.localizedDescription)")
        }
        recordPath = path
        return .done("definition saved to \(path)")
    }

    /// The newest saved definition of a domain (run ids sort by time).
    private func latestRecord(in directory: String) -> String? {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return names.filter { $0.hasSuffix(".xml") }.sorted().last.map { directory + "/" + $0 }
    }

    /// The recorded definition's text.
    func recordedXML() throws -> String {
        guard let recordPath else { throw StepFailure("no recorded definition to define from (the record step did not run)") }
        do {
            return String(decoding: try MoveRecord.read(recordPath), as: UTF8.self)
        } catch {
            throw StepFailure("cannot read the recorded definition \(recordPath): \(error.reason)")
        }
    }

    /// Clones a volume on its host as `STEM-ORIGIN` (`virStorageVolCreateXMLFrom`, same pool).
    /// The backup is kept and reported; virtplace never deletes it.
    private mutating func backUp(pool: String, volume: String, as stem: String, on host: String) async throws -> StepOutcome {
        let backup = backupName(stem)
        if try await driver.volume(pool: pool, name: backup, on: host) != nil {
            notes.append("backup kept: \(host) \(pool)/\(backup)")
            return .skipped("\(pool)/\(backup) exists on \(host)")
        }
        guard try await driver.volume(pool: pool, name: volume, on: host) != nil else {
            throw StepFailure("no volume \(pool)/\(volume) on \(host) to back up")
        }
        try await driver.cloneVolume(pool: pool, name: volume, as: backup, on: host)
        notes.append("backup kept: \(host) \(pool)/\(backup)")
        return .done("cloned as \(pool)/\(backup)")
    }

    private mutating func shutdown(on host: String, uuid: String, timeoutSeconds: Int, forceOff: Bool) async throws -> StepOutcome {
        let isMoveSource = active.kind.isMove && host == active.from
        guard let facts = try await driver.domain(uuid: uuid, on: host) else {
            // Gone is not shut down: only this move's own undefine, or the move's outcome
            // already holding (the only copy on its target), explains it.
            if !isMoveSource || pointOfNoReturn { return .skipped("not defined on \(host) any more: this move undefined it") }
            if let outcome = await onlyOnTarget(uuid: uuid) { return .skipped(outcome) }
            throw StepFailure(await vanished(from: host, during: "before the shutdown"))
        }
        if facts.isShutOff {
            if isMoveSource { ownShutdown = true }
            return .skipped("already shut off on \(host)")
        }
        if isMoveSource {
            // Everything the rest of the move needs that can be known now is checked before
            // the guest goes down: one copy, the target's answer, definition, storage, networks.
            try await ensureOneCopy(.shutdown, on: host, uuid: uuid)
            try await checkTarget(uuid: uuid, copiesMade: false)
        }
        let deadline = clock.now + .seconds(max(0, timeoutSeconds))
        var nextRequest = clock.now
        while clock.now < deadline {
            if clock.now >= nextRequest {
                // ACPI requests can be lost while a guest boots: ask again every 10 s.
                try await driver.requestShutdown(uuid: uuid, on: host)
                nextRequest = clock.now + .seconds(10)
            }
            try await Task.sleep(for: executor.options.statePollInterval)
            guard let now = try await driver.domain(uuid: uuid, on: host) else {
                if isMoveSource, let outcome = await onlyOnTarget(uuid: uuid) { return .done(outcome) }
                throw StepFailure(await vanished(from: host, during: "while virtplace was shutting it down"))
            }
            if now.isShutOff {
                if isMoveSource { ownShutdown = true }
                return .done("shut off")
            }
        }
        guard forceOff else {
            throw StepFailure("did not shut down within \(timeoutSeconds) s, and forceOff is false: gave up (it still runs on \(host))")
        }
        try await driver.destroy(uuid: uuid, on: host)
        let after = try await require(host, uuid: uuid)
        guard after.isShutOff else { throw StepFailure("forced off, but libvirt says it is \(after.state)") }
        if isMoveSource { ownShutdown = true }
        notes.append("forced off after \(timeoutSeconds) s without a graceful shutdown")
        return .done("did not shut down within \(timeoutSeconds) s: forced off")
    }

    private mutating func transfer(pool: String, volume: String, from: String, to: String, step: Step) async throws -> StepOutcome {
        guard let source = try await driver.volume(pool: pool, name: volume, on: from) else {
            throw StepFailure("no volume \(pool)/\(volume) on \(from) to copy")
        }
        var createdNow = false
        if let existing = try await driver.volume(pool: pool, name: volume, on: to) {
            // Once the target defines the domain, its copy is the domain's: it may have run and
            // written to it since. Never overwritten, not even with the source's bytes.
            if let uuid, let there = try await driver.domain(uuid: uuid, on: to) {
                guard existing.capacityBytes == source.capacityBytes else {
                    throw StepFailure("\(to) defines \(action.instance) (\(there.state)) and has a \(pool)/\(volume) of another size than \(from)'s: not overwritten")
                }
                notes.append("source copy kept: \(from) \(pool)/\(volume)")
                return .skipped("\(to) already defines \(action.instance) with its copy of \(pool)/\(volume)")
            }
            if existing.capacityBytes == source.capacityBytes {
                let (a, b) = (try await driver.checksum(pool: pool, name: volume, on: from),
                              try await driver.checksum(pool: pool, name: volume, on: to))
                if a == b {
                    notes.append("source copy kept: \(from) \(pool)/\(volume)")
                    return .skipped("\(to) already has \(pool)/\(volume) with the same size and SHA-256 \(a.sha256.prefix(16))…")
                }
            }
            guard shared.wasCreated(host: to, pool: pool, volume: volume) else {
                throw StepFailure("\(to) already has a different \(pool)/\(volume) that virtplace did not create: not overwritten")
            }
            notes.append("reused \(to) \(pool)/\(volume), which virtplace had created for an earlier copy that did not finish")
        } else {
            try await createVolumeForCopy(pool: pool, volume: volume, capacityBytes: source.capacityBytes, format: source.format,
                                          on: to, for: step.op)
            createdNow = true
        }
        // From here the target volume is virtplace's own (journalled `createVolume`). A copy
        // that fails, or that does not verify, is provably incomplete: the volume this step
        // created is removed (journalled `deleteVolume`); one an earlier attempt created stays,
        // still journalled as virtplace's, for the next run to reuse.
        func incomplete(_ why: String) async -> StepFailure {
            guard createdNow else {
                notes.append("the incomplete copy \(to) \(pool)/\(volume) (virtplace's own, from an earlier attempt) is left for the next run to reuse")
                return StepFailure("\(why); the incomplete copy on \(to) is virtplace's own and is reused by the next run")
            }
            if await deleteOwnVolume(pool: pool, volume: volume, on: to) {
                notes.append("removed the incomplete copy \(to) \(pool)/\(volume) (virtplace had created it for this move)")
                return StepFailure("\(why); the incomplete copy on \(to) was removed")
            }
            notes.append("the incomplete copy \(to) \(pool)/\(volume) could not be removed: it is virtplace's own, and the next run reuses it")
            return StepFailure("\(why); the incomplete copy on \(to) is virtplace's own and is reused by the next run")
        }
        let instance = action.instance
        let events = executor.events
        let label = "\(pool)/\(volume)"
        let result: TransferProgress
        do {
            result = try await driver.copyVolume(pool: pool, name: volume, from: from, to: to) { p in
                let seconds = p.elapsed.seconds
                let rate = seconds > 0 ? UInt64(Double(p.bytesCovered) / seconds) : 0
                let left = rate > 0 && p.totalBytes > p.bytesCovered ? Double(p.totalBytes - p.bytesCovered) / Double(rate) : nil
                events(.transfer(instance: instance, TransferStatus(kind: .volume(label), processedBytes: p.bytesCovered,
                                                                    totalBytes: p.totalBytes, bytesPerSecond: rate,
                                                                    elapsedSeconds: seconds, remainingSeconds: left)))
            }
        } catch {
            throw await incomplete("copy of \(pool)/\(volume) to \(to) failed: \(describe(error))")
        }
        // Verified by what matters: the bytes of the file as stored (a read-back of the copy:
        // its length and SHA-256, holes as zeros, against what the source sent, which covered
        // the source's whole file), then the format and virtual size libvirt reports for the
        // copy against the source's. A qcow2 file is shorter than its virtual size; a sparse
        // raw file's holes read as zeros.
        let copy: VolumeChecksum
        do {
            copy = try await driver.checksum(pool: pool, name: volume, on: to)
        } catch {
            throw await incomplete("the copy of \(pool)/\(volume) on \(to) could not be read back: \(describe(error))")
        }
        guard let sent = result.sha256 else { throw await incomplete("the copy was not hashed") }
        copiedBytes += result.dataBytes
        copySeconds += result.elapsed.seconds
        guard result.bytesCovered == result.totalBytes, copy.bytes == result.totalBytes else {
            throw await incomplete("copy of \(pool)/\(volume) to \(to) holds \(copy.bytes) bytes as stored, the source's file \(result.totalBytes) (\(result.bytesCovered) sent)")
        }
        guard copy.sha256 == sent else {
            throw await incomplete("copy of \(pool)/\(volume) to \(to) differs (SHA-256 \(copy.sha256.prefix(16))… ≠ \(sent.prefix(16))…)")
        }
        try? await driver.refreshPool(pool, on: to)
        let copied: VolumeFacts?
        do {
            copied = try await driver.volume(pool: pool, name: volume, on: to)
        } catch {
            throw await incomplete("the copy of \(pool)/\(volume) on \(to) could not be described: \(describe(error))")
        }
        guard let copied else { throw await incomplete("\(to) does not list the copy \(pool)/\(volume) after the copy") }
        if let a = source.format, let b = copied.format, a != b {
            throw await incomplete("copy of \(pool)/\(volume) on \(to) is \(b) to libvirt, the source \(a)")
        }
        guard copied.capacityBytes == source.capacityBytes else {
            throw await incomplete("copy of \(pool)/\(volume) on \(to) has a virtual size of \(copied.capacityBytes) bytes to libvirt, the source \(source.capacityBytes)")
        }
        let format = copied.format.map { "\($0), " } ?? ""
        notes.append("source copy kept: \(from) \(pool)/\(volume)")
        return .done("copied \(mebibytes(copy.bytes)) (\(mebibytes(result.dataBytes)) of data; \(format)virtual size \(mebibytes(copied.capacityBytes))) in \(String(format: "%.1f", result.elapsed.seconds)) s, SHA-256 \(sent.prefix(16))… verified on \(to)")
    }

    private mutating func defineOnTarget(_ host: String, from: String, uuid: String) async throws -> StepOutcome {
        if let there = try await driver.domain(uuid: uuid, on: host), there.persistent {
            if earlierTargetCopy { return .skipped("already defined on \(host) (by this move's earlier attempt)") }
            if try await driver.domain(uuid: uuid, on: from) == nil { return .skipped("defined on \(host), and no longer on \(from)") }
        }
        try await ensureOneCopy(.define, on: host, uuid: uuid)
        try await checkTarget(uuid: uuid, copiesMade: true)
        let xml = try recordedXML()
        try await driver.define(xml: xml, on: host)
        guard let defined = try await driver.domain(uuid: uuid, on: host), defined.persistent else {
            throw StepFailure("libvirt accepted the definition, but \(host) does not list it")
        }
        return .done("defined on \(host) from \(recordPath ?? "the record")")
    }

    private mutating func recreate(on host: String, from: String, bootPool: String, bootVolume: String, uuid: String) async throws -> StepOutcome {
        if try await driver.domain(uuid: uuid, on: host) != nil {
            if earlierTargetCopy { return .skipped("already defined on \(host) (by this move's earlier attempt)") }
            if try await driver.domain(uuid: uuid, on: from) == nil { return .skipped("defined on \(host), and no longer on \(from)") }
        }
        try await ensureOneCopy(.define, on: host, uuid: uuid)
        try await checkTarget(uuid: uuid, copiesMade: true)
        let xml = try recordedXML()
        guard let volume = try await driver.volume(pool: bootPool, name: bootVolume, on: host) else {
            throw StepFailure("no boot volume \(bootPool)/\(bootVolume) on \(host)")
        }
        // The boot disk as recorded (its guest target and bus), from the move's record.
        let disks = try recordPath.flatMap { MoveRecord.load(definitionPath: $0)?.disks }
            ?? ObservedDomain.parse(xml: xml, state: "shutoff").disks
        let old = disks.first { $0.pool == bootPool && $0.volume == bootVolume }
            ?? disks.first { $0.path != nil && $0.path == volume.path }
        let disk = DiskAttachment(key: nil, target: old?.target, pool: bootPool, volume: bootVolume, bus: old?.bus, readOnly: false)
        try await driver.recreate(recordedXML: xml, on: host, boot: disk, target: old?.target ?? "vda", format: volume.format)
        guard try await driver.domain(uuid: uuid, on: host) != nil else {
            throw StepFailure("libvirt accepted the definition, but \(host) does not list it")
        }
        return .done("re-created on \(host) from \(bootPool)/\(bootVolume)")
    }

    private mutating func undefineSource(on host: String, uuid: String) async throws -> StepOutcome {
        guard let facts = try await driver.domain(uuid: uuid, on: host) else {
            return .skipped("not defined on \(host)")
        }
        // Never remove the last definition: the target must define it first.
        if let target = action.to, target != host {
            guard let there = try await driver.domain(uuid: uuid, on: target), there.persistent else {
                throw StepFailure("\(target) does not define \(action.instance): the definition on \(host) is kept")
            }
        }
        if facts.isActive {
            throw StepFailure("still \(facts.state) on \(host): not undefined")
        }
        // Snapshot metadata blocks an undefine. A manual move (the only move a domain with
        // snapshots can make) saved it with its record: it goes with this definition.
        var dropped = 0
        if facts.persistent {
            let snapshots = try await driver.snapshotDefinitions(uuid: uuid, on: host)
            if !snapshots.isEmpty {
                let saved = recordPath.flatMap { MoveRecord.load(definitionPath: $0)?.snapshots.count } ?? 0
                guard action.kind == .manual, saved >= snapshots.count else {
                    throw StepFailure("it has \(snapshots.count) snapshot\(snapshots.count == 1 ? "" : "s") whose metadata was not saved: not undefined")
                }
                dropped = snapshots.count
            }
            try await driver.undefine(uuid: uuid, on: host, droppingSnapshotMetadata: dropped > 0)
        }
        if try await driver.domain(uuid: uuid, on: host) != nil {
            throw StepFailure("libvirt accepted the undefine, but \(host) still lists it")
        }
        if dropped > 0 {
            let directory = recordPath.map { MoveRecord.jsonPath(forDefinition: $0).dropLast(5) + ".snapshots" } ?? "the records"
            notes.append("metadata of \(dropped) snapshot\(dropped == 1 ? "" : "s") saved in \(directory), not carried to \(action.to ?? "the target")")
        }
        return .done("undefined on \(host); its volumes are kept")
    }

    private mutating func start(on host: String, uuid: String) async throws -> StepOutcome {
        let facts = try await require(host, uuid: uuid)
        let movesTarget = active.kind.isMove && host == active.to
        if facts.isRunning {
            if movesTarget { targetMayHaveRun = true }
            return .skipped("already running on \(host)")
        }
        guard facts.isShutOff else { throw StepFailure("it is \(facts.state) on \(host), not shut off: not started") }
        // Never a second copy: every host of the fleet is asked first.
        try await ensureOneCopy(.start, on: host, uuid: uuid)
        let mayHaveRunBefore = targetMayHaveRun
        if movesTarget { targetMayHaveRun = true }
        // Volumes made elsewhere in a shared pool are unknown here until the pool is re-read.
        for pool in Set(facts.config.disks.compactMap(\.pool)).sorted() {
            try? await driver.refreshPool(pool, on: host)
        }
        do {
            try await driver.start(uuid: uuid, on: host)
        } catch {
            // libvirt refused: the copy did not run (a lost reply is caught by the look-up below).
            if movesTarget, (try? await driver.domain(uuid: uuid, on: host))?.isShutOff == true {
                targetMayHaveRun = mayHaveRunBefore
            }
            throw error
        }
        let after = try await require(host, uuid: uuid)
        guard after.isRunning else { throw StepFailure("started, but libvirt says it is \(after.state)") }
        return .done("running on \(host)")
    }

    private mutating func setVcpus(_ count: Int, applies: Applies, on host: String, uuid: String) async throws -> StepOutcome {
        let facts = try await require(host, uuid: uuid)
        var wantLive = applies == .live && facts.isRunning
        if wantLive, let live = facts.live, count > live.maxVcpus { wantLive = false }
        let configOK = facts.config.vcpus == count
        let liveOK = !wantLive || facts.live?.vcpus == count
        if configOK && liveOK { return .skipped("\(count) vCPUs already") }
        if !configOK {
            if count > facts.config.maxVcpus {
                try await driver.setVcpus(uuid: uuid, on: host, count: count, scope: .config, maximum: true)
            }
            try await driver.setVcpus(uuid: uuid, on: host, count: count, scope: .config, maximum: false)
        }
        if !liveOK {
            try await driver.setVcpus(uuid: uuid, on: host, count: count, scope: .live, maximum: false)
        }
        let after = try await require(host, uuid: uuid)
        guard after.config.vcpus == count else { throw StepFailure("the definition still has \(after.config.vcpus) vCPUs") }
        if wantLive, after.live?.vcpus != count { throw StepFailure("the running domain still has \(after.live?.vcpus ?? 0) vCPUs") }
        if facts.isRunning && !wantLive {
            notes.append("\(count) vCPUs take effect at the next restart")
            return .done("\(count) vCPUs in the definition: takes effect at the next restart")
        }
        return .done(facts.isRunning ? "\(count) vCPUs, live and in the definition" : "\(count) vCPUs in the definition")
    }

    private mutating func setMemory(_ mebibytes: Int, applies: Applies, on host: String, uuid: String) async throws -> StepOutcome {
        let facts = try await require(host, uuid: uuid)
        var wantLive = applies == .live && facts.isRunning
        if wantLive, let live = facts.live, mebibytes > live.maxMemoryMiB { wantLive = false }
        let configOK = facts.config.memoryMiB == mebibytes
        let liveOK = !wantLive || facts.live?.memoryMiB == mebibytes
        if configOK && liveOK { return .skipped("\(mebibytes) MiB already") }
        if !configOK {
            if mebibytes > facts.config.maxMemoryMiB {
                try await driver.setMemory(uuid: uuid, on: host, mebibytes: mebibytes, scope: .config, maximum: true)
            }
            try await driver.setMemory(uuid: uuid, on: host, mebibytes: mebibytes, scope: .config, maximum: false)
        }
        if !liveOK {
            try await driver.setMemory(uuid: uuid, on: host, mebibytes: mebibytes, scope: .live, maximum: false)
        }
        let after = try await require(host, uuid: uuid)
        guard after.config.memoryMiB == mebibytes else { throw StepFailure("the definition still has \(after.config.memoryMiB) MiB") }
        if facts.isRunning && !wantLive {
            notes.append("memory \(mebibytes) MiB takes effect at the next restart")
            return .done("\(mebibytes) MiB in the definition: takes effect at the next restart")
        }
        if wantLive, after.live?.memoryMiB != mebibytes {
            // The balloon moves when the guest's driver acts on it; the definition holds.
            notes.append("memory \(mebibytes) MiB requested live; the guest shows \(after.live?.memoryMiB ?? 0) MiB so far")
        }
        return .done(facts.isRunning ? "\(mebibytes) MiB, live and in the definition" : "\(mebibytes) MiB in the definition")
    }

    private func setAutostart(_ enabled: Bool, on host: String, uuid: String) async throws -> StepOutcome {
        let facts = try await require(host, uuid: uuid)
        if facts.autostart == enabled { return .skipped("autostart already \(enabled ? "on" : "off")") }
        try await driver.setAutostart(uuid: uuid, on: host, enabled: enabled)
        guard try await require(host, uuid: uuid).autostart == enabled else {
            throw StepFailure("autostart is still \(enabled ? "off" : "on")")
        }
        return .done("autostart \(enabled ? "on" : "off")")
    }

    private func setMetadata(fleet: String, tags: [String: String], on host: String, uuid: String) async throws -> StepOutcome {
        func holds(_ d: ObservedDomain?) -> Bool { d?.fleet == fleet && d?.tags == tags }
        let facts = try await require(host, uuid: uuid)
        var scope: DefinitionScope = []
        if !holds(facts.config) { scope.insert(.config) }
        if facts.isRunning, !holds(facts.live) { scope.insert(.live) }
        if scope.isEmpty { return .skipped("metadata already says fleet \(fleet) with these tags") }
        try await driver.setMetadata(uuid: uuid, on: host, fleet: fleet, tags: tags, scope: scope)
        let after = try await require(host, uuid: uuid)
        guard holds(after.config), !after.isRunning || holds(after.live) else {
            throw StepFailure("libvirt accepted the metadata, but the XML does not show it")
        }
        return .done(scope.contains(.live) ? "metadata set, live and in the definition" : "metadata set in the definition")
    }

    private mutating func attachDisk(_ disk: DiskAttachment, applies: Applies, on host: String, uuid: String) async throws -> StepOutcome {
        guard let volume = try await driver.volume(pool: disk.pool, name: disk.volume, on: host) else {
            throw StepFailure("no volume \(disk.pool)/\(disk.volume) on \(host)")
        }
        func has(_ d: ObservedDomain?) -> Bool {
            d?.disks.contains { ($0.pool == disk.pool && $0.volume == disk.volume) || ($0.path != nil && $0.path == volume.path) } ?? false
        }
        let facts = try await require(host, uuid: uuid)
        let wantLive = applies == .live && facts.isRunning
        var scope: DefinitionScope = []
        if !has(facts.config) { scope.insert(.config) }
        if wantLive, !has(facts.live) { scope.insert(.live) }
        if scope.isEmpty { return .skipped("\(disk.pool)/\(disk.volume) is attached already") }
        let taken = Set(facts.config.disks.map(\.target) + (facts.live?.disks.map(\.target) ?? []))
        let prefix = disk.bus.map { ["scsi": "sd", "sata": "sd", "usb": "sd", "ide": "hd"][$0] ?? "vd" } ?? "vd"
        let target = disk.target.flatMap { taken.contains($0) ? nil : $0 } ?? DiskTarget.free(prefix: prefix, taken: taken)
        try await driver.attachDisk(uuid: uuid, on: host, disk: disk, target: target, format: volume.format, scope: scope)
        try await confirm(host: host, uuid: uuid, what: "disk \(disk.pool)/\(disk.volume)") { f in
            has(f.config) && (!wantLive || has(f.live))
        }
        if facts.isRunning && !wantLive { notes.append("disk \(disk.pool)/\(disk.volume) appears at the next restart") }
        return .done("\(disk.pool)/\(disk.volume) attached as \(target)\(scope.contains(.live) ? ", live and in the definition" : " in the definition")")
    }

    private mutating func attachNIC(_ nic: NICAttachment, applies: Applies, on host: String, uuid: String) async throws -> StepOutcome {
        func matches(_ n: ObservedNIC) -> Bool {
            if let mac = nic.mac { return n.mac == mac.lowercased() }
            if let network = nic.network { return n.network == network }
            if let bridge = nic.bridge { return n.bridge == bridge }
            return false
        }
        let facts = try await require(host, uuid: uuid)
        let wantLive = applies == .live && facts.isRunning
        let inConfig = facts.config.nics.first(where: matches)
        let inLive = facts.live?.nics.first(where: matches)
        var scope: DefinitionScope = []
        if inConfig == nil { scope.insert(.config) }
        if wantLive, inLive == nil { scope.insert(.live) }
        if scope.isEmpty { return .skipped("the NIC is attached already") }
        var attach = nic
        // libvirt would invent a MAC for each definition separately: give both the same one.
        attach.mac = nic.mac?.lowercased() ?? inConfig?.mac ?? inLive?.mac ?? randomMAC()
        try await driver.attachNIC(uuid: uuid, on: host, nic: attach, scope: scope)
        let mac = attach.mac
        try await confirm(host: host, uuid: uuid, what: "NIC \(mac ?? "")") { f in
            f.config.nics.contains { $0.mac == mac } && (!wantLive || (f.live?.nics.contains { $0.mac == mac } ?? false))
        }
        if facts.isRunning && !wantLive { notes.append("NIC \(mac ?? "") appears at the next restart") }
        return .done("NIC \(mac ?? "") attached\(scope.contains(.live) ? ", live and in the definition" : " in the definition")")
    }

    /// Re-reads the domain until `holds` is true (a device can take a moment to show in the
    /// live XML), failing after `deviceConfirmTimeout`.
    private func confirm(host: String, uuid: String, what: String, _ holds: (DomainFacts) -> Bool) async throws {
        let deadline = clock.now + executor.options.deviceConfirmTimeout
        while true {
            if holds(try await require(host, uuid: uuid)) { return }
            guard clock.now < deadline else {
                throw StepFailure("libvirt accepted the \(what), but the domain XML does not show it")
            }
            try await Task.sleep(for: .milliseconds(250))
        }
    }
}

/// A locally administered MAC in QEMU's range.
func randomMAC() -> String {
    var generator = SystemRandomNumberGenerator()
    let bytes = (0..<3).map { _ in UInt8.random(in: 0...255, using: &generator) }
    return "52:54:00:" + bytes.map { String(format: "%02x", $0) }.joined(separator: ":")
}

/// `12.5 MiB`.
func mebibytes(_ bytes: UInt64) -> String {
    String(format: "%.1f MiB", Double(bytes) / 1_048_576)
}

/// A message for people from any error a step or driver throws.
func describe(_ error: any Error) -> String {
    switch error {
    case let e as StepFailure: e.message
    case let e as DriverError: e.description
    case let e as EngineError: e.description
    case is CancellationError: "cancelled"
    default: String(describing: error)
    }
}

extension Duration {
    /// The duration in seconds, as a `Double`.
    var seconds: Double {
        let (s, attoseconds) = components
        return Double(s) + Double(attoseconds) / 1e18
    }
}
