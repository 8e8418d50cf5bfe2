import Foundation
import Libvirt
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
struct ActionRunner {
    let executor: Executor
    let action: Action
    let uuid: String?
    let shared: RunState

    var driver: any FleetDriver { executor.driver }
    var clock: ContinuousClock { ContinuousClock() }

    /// The definition saved by `record` (this run's, or the latest earlier one).
    var recordPath: String?
    var notes: [String] = []
    var migrationMs: UInt64?
    var downtimeMs: UInt64?
    var done = 0
    var skipped = 0
    /// Whether a step of this attempt has changed something on a host.
    var changed = false

    init(executor: Executor, action: Action, uuid: String?, shared: RunState) {
        self.executor = executor; self.action = action; self.uuid = uuid; self.shared = shared
    }

    /// Runs the action: checks its hosts, then each step with its journal records.
    mutating func run() async -> ActionReport {
        let started = clock.now
        executor.events(.actionStarted(instance: action.instance, kind: action.kind, from: action.from, to: action.to))
        func finish(_ status: ActionReport.Status, _ message: String?) -> ActionReport {
            let report = ActionReport(
                instance: action.instance, kind: action.kind, from: action.from, to: action.to, status: status,
                message: message, elapsedSeconds: (clock.now - started).seconds, migrationMs: migrationMs,
                downtimeMs: downtimeMs, notes: notes, stepsDone: done, stepsSkipped: skipped)
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

        for (index, step) in action.steps.enumerated() {
            if index > 0, executor.options.stopRequested() {
                // No `abandoned` record: the action stays unfinished, and the next run finishes it.
                return finish(.failed, "stopped before step \(index + 1) (\(step.op)) on request: the next run finishes it")
            }
            let stepStarted = clock.now
            var detail = stepDetail(step)
            if index == 0, let encoded = try? JSONEncoder().encode(action) {
                // Enough to run the same action again after a crash.
                detail["action"] = String(decoding: encoded, as: UTF8.self)
            }
            do {
                try await write(index, step, .intent, detail: detail)
            } catch {
                return finish(.failed, describe(error))
            }
            executor.events(.stepStarted(instance: action.instance, index: index, step: step))
            let outcome: StepOutcome
            do {
                outcome = try await perform(step, uuid: uuid)
            } catch {
                outcome = .failed(describe(error))
            }
            let seconds = (clock.now - stepStarted).seconds
            executor.events(.stepFinished(instance: action.instance, index: index, step: step, outcome: outcome, seconds: seconds))
            // An outcome that cannot be journalled stops the action: the next step would run
            // without a record of what this one did (the intent record stays, unfinished).
            do {
                switch outcome {
                case .done(let note):
                    done += 1
                    var d = stepDetail(step)
                    if let note { d["result"] = note }
                    try await write(index, step, .done, detail: d, seconds: seconds)
                case .skipped(let why):
                    skipped += 1
                    try await write(index, step, .skipped, detail: stepDetail(step).merging(["why": why]) { a, _ in a }, seconds: seconds)
                case .failed:
                    break
                }
            } catch {
                return finish(.failed, "\(step.op) ran, but \(describe(error)): stopped here")
            }
            if case .failed(let message) = outcome {
                try? await write(index, step, .failed, detail: stepDetail(step), error: message, seconds: seconds)
                // Nothing changed (no earlier step did anything, and this one undoes itself when
                // it fails: a migration rolls back, a shutdown that gives up leaves the guest
                // running): the action is closed and the next plan decides afresh. Otherwise it
                // stays open in the journal, and the next apply finishes it.
                if !changed && ["record", "migrateLive", "shutdown"].contains(step.op) {
                    try? await write(-1, nil, .abandoned, detail: ["failedStep": "\(index)"], error: message)
                    return finish(.failed, "\(step.op): \(message)")
                }
                return finish(.failed, "\(step.op): \(message) (half done: the next apply finishes it)")
            }
            if case .done = outcome, step.op != "record" { changed = true }
        }
        var final: [String: String] = [:]
        if let downtimeMs { final["downtimeMs"] = "\(downtimeMs)" }
        if let migrationMs { final["migrationMs"] = "\(migrationMs)" }
        final["seconds"] = String(format: "%.3f", (clock.now - started).seconds)
        if !notes.isEmpty { final["notes"] = notes.joined(separator: "; ") }
        do {
            try await write(-1, nil, .finished, detail: final)
        } catch {
            notes.append(describe(error))
        }
        return finish(.done, nil)
    }

    // MARK: Journal

    private func write(_ index: Int, _ step: Step?, _ phase: JournalRecord.Phase, detail: [String: String],
                       error: String? = nil, seconds: Double? = nil) async throws {
        try await executor.journal.record(JournalRecord(
            time: ISO8601DateFormatter().string(from: Date()), run: executor.options.run, instance: action.instance,
            uuid: uuid, action: action.kind.rawValue, step: index, op: step?.op ?? "", phase: phase,
            detail: detail, error: error, seconds: seconds))
    }

    /// Writes a record of something a step made that later runs must know about.
    private func note(created pool: String, _ volume: String, on host: String, step: Step) async {
        shared.markCreated(host: host, pool: pool, volume: volume)
        try? await executor.journal.record(JournalRecord(
            time: ISO8601DateFormatter().string(from: Date()), run: executor.options.run, instance: action.instance,
            uuid: uuid, action: action.kind.rawValue, step: -1, op: "createVolume", phase: .done,
            detail: ["host": host, "pool": pool, "volume": volume, "for": step.op]))
    }

    /// What a step needs to be finished or undone: its hosts and objects, the saved definition.
    private func stepDetail(_ step: Step) -> [String: String] {
        var d: [String: String] = ["hosts": step.hosts.joined(separator: ",")]
        if let recordPath { d["record"] = recordPath }
        switch step {
        case .transferVolume(let pool, let volume, let from, let to):
            d["volume"] = "\(pool)/\(volume)"; d["from"] = from; d["to"] = to
        case .migrateLive(let m):
            d["from"] = m.from; d["to"] = m.to
            if !m.copyDisks.isEmpty { d["copyDisks"] = m.copyDisks.joined(separator: ",") }
        case .defineOnTarget(let host, let from), .recreate(let host, let from, _, _):
            d["host"] = host; d["from"] = from
        case .backupVolume(_, let pool, let volume, let backup):
            d["volume"] = "\(pool)/\(volume)"; d["backup"] = backup
        default:
            break
        }
        return d
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
            return try await setMetadata(VirtplaceMetadata(fleet: fleet, tags: tags), on: host, uuid: uuid)
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

    private mutating func record(on host: String, uuid: String) async throws -> StepOutcome {
        let directory = executor.state.recordsPath + "/" + uuid
        guard let facts = try await driver.domain(uuid: uuid, on: host) else {
            if let latest = latestRecord(in: directory) {
                recordPath = latest
                return .skipped("no longer on \(host); the definition recorded earlier is used: \(latest)")
            }
            throw StepFailure("\(action.instance) (\(uuid)) is not defined on \(host), and no definition was recorded earlier")
        }
        let xml = try await driver.definition(uuid: uuid, on: host)
        let path = directory + "/" + executor.options.run + ".xml"
        let summary: [String: String] = [
            "name": facts.name, "uuid": uuid, "host": host, "state": facts.state, "autostart": "\(facts.autostart)",
            "macs": facts.config.nics.compactMap(\.mac).joined(separator: ","),
            "fleet": facts.config.fleet ?? "", "tags": facts.config.tags.keys.sorted().map { "\($0)=\(facts.config.tags[$0] ?? "")" }.joined(separator: ","),
            "run": executor.options.run,
        ]
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: 0o700])
            try writePrivate(Data(xml.utf8), to: path)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
            try writePrivate(try encoder.encode(summary), to: directory + "/" + executor.options.run + ".json")
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
    private func recordedXML() throws -> String {
        guard let recordPath, let data = FileManager.default.contents(atPath: recordPath) else {
            throw StepFailure("no recorded definition to define from (the record step did not run)")
        }
        return String(decoding: data, as: UTF8.self)
    }

    private mutating func backUp(pool: String, volume: String, as backup: String, on host: String) async throws -> StepOutcome {
        if try await driver.volume(pool: pool, name: backup, on: host) != nil {
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
        guard let facts = try await driver.domain(uuid: uuid, on: host) else {
            return .skipped("not defined on \(host) any more")
        }
        if facts.isShutOff { return .skipped("already shut off on \(host)") }
        let deadline = clock.now + .seconds(max(0, timeoutSeconds))
        var nextRequest = clock.now
        while clock.now < deadline {
            if clock.now >= nextRequest {
                // ACPI requests can be lost while a guest boots: ask again every 10 s.
                try await driver.requestShutdown(uuid: uuid, on: host)
                nextRequest = clock.now + .seconds(10)
            }
            try await Task.sleep(for: executor.options.statePollInterval)
            guard let now = try await driver.domain(uuid: uuid, on: host) else { return .done("gone from \(host)") }
            if now.isShutOff { return .done("shut off") }
        }
        guard forceOff else {
            throw StepFailure("did not shut down within \(timeoutSeconds) s, and forceOff is false: gave up (it still runs on \(host))")
        }
        try await driver.destroy(uuid: uuid, on: host)
        let after = try await require(host, uuid: uuid)
        guard after.isShutOff else { throw StepFailure("forced off, but libvirt says it is \(after.state)") }
        notes.append("forced off after \(timeoutSeconds) s without a graceful shutdown")
        return .done("did not shut down within \(timeoutSeconds) s: forced off")
    }

    private mutating func transfer(pool: String, volume: String, from: String, to: String, step: Step) async throws -> StepOutcome {
        guard let source = try await driver.volume(pool: pool, name: volume, on: from) else {
            throw StepFailure("no volume \(pool)/\(volume) on \(from) to copy")
        }
        if let existing = try await driver.volume(pool: pool, name: volume, on: to) {
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
        } else {
            try await driver.createVolume(pool: pool, name: volume, capacityBytes: source.capacityBytes, format: source.format, on: to)
            await note(created: pool, volume, on: to, step: step)
        }
        let instance = action.instance
        let events = executor.events
        let label = "\(pool)/\(volume)"
        let result = try await driver.copyVolume(pool: pool, name: volume, from: from, to: to) { p in
            let seconds = p.elapsed.seconds
            let rate = seconds > 0 ? UInt64(Double(p.bytesCovered) / seconds) : 0
            let left = rate > 0 && p.totalBytes > p.bytesCovered ? Double(p.totalBytes - p.bytesCovered) / Double(rate) : nil
            events(.transfer(instance: instance, TransferStatus(kind: .volume(label), processedBytes: p.bytesCovered,
                                                                totalBytes: p.totalBytes, bytesPerSecond: rate,
                                                                elapsedSeconds: seconds, remainingSeconds: left)))
        }
        // Verified by a read-back: the copy's size and SHA-256 (holes as zeros) against the
        // digest of what the source sent.
        let copy = try await driver.checksum(pool: pool, name: volume, on: to)
        guard let sent = result.sha256 else { throw StepFailure("the copy was not hashed") }
        guard copy.bytes == source.capacityBytes, result.bytesCovered == source.capacityBytes else {
            throw StepFailure("copy of \(pool)/\(volume) to \(to) has \(copy.bytes) bytes, the source \(source.capacityBytes): the copy is left on \(to) for inspection")
        }
        guard copy.sha256 == sent else {
            throw StepFailure("copy of \(pool)/\(volume) to \(to) differs (SHA-256 \(copy.sha256.prefix(16))… ≠ \(sent.prefix(16))…): the copy is left on \(to) for inspection")
        }
        try? await driver.refreshPool(pool, on: to)
        notes.append("source copy kept: \(from) \(pool)/\(volume)")
        return .done("copied \(mebibytes(copy.bytes)) (\(mebibytes(result.dataBytes)) of data) in \(String(format: "%.1f", result.elapsed.seconds)) s, SHA-256 \(sent.prefix(16))… verified on \(to)")
    }

    private func defineOnTarget(_ host: String, from: String, uuid: String) async throws -> StepOutcome {
        if let there = try await driver.domain(uuid: uuid, on: host), there.persistent {
            return .skipped("already defined on \(host)")
        }
        let xml = try recordedXML()
        try await driver.define(xml: xml, on: host)
        guard let defined = try await driver.domain(uuid: uuid, on: host), defined.persistent else {
            throw StepFailure("libvirt accepted the definition, but \(host) does not list it")
        }
        return .done("defined on \(host) from \(recordPath ?? "the record")")
    }

    private func recreate(on host: String, from: String, bootPool: String, bootVolume: String, uuid: String) async throws -> StepOutcome {
        if try await driver.domain(uuid: uuid, on: host) != nil {
            return .skipped("already defined on \(host)")
        }
        let xml = try recordedXML()
        guard let volume = try await driver.volume(pool: bootPool, name: bootVolume, on: host) else {
            throw StepFailure("no boot volume \(bootPool)/\(bootVolume) on \(host)")
        }
        let recorded = try ObservedDomain.parse(xml: xml, state: "shutoff")
        let old = recorded.disks.first { $0.pool == bootPool && $0.volume == bootVolume }
            ?? recorded.disks.first { $0.path != nil && $0.path == volume.path }
        let disk = DiskAttachment(key: nil, target: old?.target, pool: bootPool, volume: bootVolume, bus: old?.bus, readOnly: false)
        try await driver.recreate(recordedXML: xml, on: host, boot: disk, target: old?.target ?? "vda", format: volume.format)
        guard try await driver.domain(uuid: uuid, on: host) != nil else {
            throw StepFailure("libvirt accepted the definition, but \(host) does not list it")
        }
        return .done("re-created on \(host) from \(bootPool)/\(bootVolume)")
    }

    private func undefineSource(on host: String, uuid: String) async throws -> StepOutcome {
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
        if facts.persistent {
            try await driver.undefine(uuid: uuid, on: host)
        }
        if try await driver.domain(uuid: uuid, on: host) != nil {
            throw StepFailure("libvirt accepted the undefine, but \(host) still lists it")
        }
        return .done("undefined on \(host); its volumes are kept")
    }

    private func start(on host: String, uuid: String) async throws -> StepOutcome {
        let facts = try await require(host, uuid: uuid)
        if facts.isRunning { return .skipped("already running on \(host)") }
        guard facts.isShutOff else { throw StepFailure("it is \(facts.state) on \(host), not shut off: not started") }
        // Volumes made elsewhere in a shared pool are unknown here until the pool is re-read.
        for pool in Set(facts.config.disks.compactMap(\.pool)).sorted() {
            try? await driver.refreshPool(pool, on: host)
        }
        try await driver.start(uuid: uuid, on: host)
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

    private func setMetadata(_ metadata: VirtplaceMetadata, on host: String, uuid: String) async throws -> StepOutcome {
        func holds(_ d: ObservedDomain?) -> Bool { d?.fleet == metadata.fleet && d?.tags == metadata.tags }
        let facts = try await require(host, uuid: uuid)
        var scope: DomainModification = []
        if !holds(facts.config) { scope.insert(.config) }
        if facts.isRunning, !holds(facts.live) { scope.insert(.live) }
        if scope.isEmpty { return .skipped("metadata already says fleet \(metadata.fleet) with these tags") }
        try await driver.setMetadata(uuid: uuid, on: host, metadata: metadata, scope: scope)
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
        var scope: DomainModification = []
        if !has(facts.config) { scope.insert(.config) }
        if wantLive, !has(facts.live) { scope.insert(.live) }
        if scope.isEmpty { return .skipped("\(disk.pool)/\(disk.volume) is attached already") }
        let taken = Set(facts.config.disks.map(\.target) + (facts.live?.disks.map(\.target) ?? []))
        let prefix = disk.bus.map { ["scsi": "sd", "sata": "sd", "usb": "sd", "ide": "hd"][$0] ?? "vd" } ?? "vd"
        let target = disk.target.flatMap { taken.contains($0) ? nil : $0 } ?? DefinitionXML.freeTarget(prefix: prefix, taken: taken)
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
        var scope: DomainModification = []
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

/// Writes a file readable by its owner only (saved definitions may hold passwords).
func writePrivate(_ data: Data, to path: String) throws {
    try data.write(to: URL(fileURLWithPath: path), options: .atomic)
    _ = chmod(path, 0o600)
}

/// `12.5 MiB`.
func mebibytes(_ bytes: UInt64) -> String {
    String(format: "%.1f MiB", Double(bytes) / 1_048_576)
}

/// A message for people from any error a step or driver throws.
func describe(_ error: any Error) -> String {
    switch error {
    case let e as StepFailure: e.message
    case let e as LibvirtError: e.message
    case let e as DriverError: e.description
    case let e as EngineError: e.description
    case let e as DomainXMLError: e.message
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
