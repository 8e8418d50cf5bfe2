import Foundation
import Placement
import Synchronization
import Testing
import TestSupport
@testable import Engine

// Journals written by the release before the typed journal (format 0: `detail` a map of
// strings, the action a JSON string inside it), checked in under Fixtures/journal-v0/, and what
// that release made of each: the unfinished actions it found, the volumes it counted as its
// own, its recovery decisions for where the domain was, and how its recovery ended. The
// scenarios below set the fleet up as each journal's run left it; the test swaps the journal
// for the checked-in one and expects the same.
//
// `VIRTPLACE_WRITE_JOURNAL_FIXTURES=DIR` writes the journals and expectations of the code under
// test to DIR instead of comparing (how Fixtures/journal-v0/ was made, at main f784998).

let fixtureRun = "run-crashed"
/// The hosts of every scenario.
let fixtureHosts = ["h1", "h2"]

/// Runs `plan` with a crash point, as a killed process would leave it (a crash point whose
/// `crash` returns makes the runner stop there and write nothing more).
@discardableResult
func crashRun(_ plan: Plan, on fleet: FakeFleet, step: Int, moment: CrashPoint.Moment, state: StateDirectory,
              run: String = fixtureRun) async throws -> ExecutionReport {
    let journal = try Journal(path: state.journalPath)
    let options = ExecutionOptions(parallel: ParallelSpec(total: 4, perHost: 2), jobPollInterval: .milliseconds(20),
                                   statePollInterval: .milliseconds(20), deviceConfirmTimeout: .milliseconds(200),
                                   run: run, crashPoint: CrashPoint(step: step, moment: moment, crash: {}))
    return await Executor(driver: fleet, state: state, journal: journal, options: options).run(plan)
}

/// Runs `plan` to its end under run `run`.
func fullRun(_ plan: Plan, on fleet: FakeFleet, state: StateDirectory, run: String = fixtureRun) async throws {
    let journal = try Journal(path: state.journalPath)
    let options = ExecutionOptions(parallel: ParallelSpec(total: 4, perHost: 2), jobPollInterval: .milliseconds(20),
                                   statePollInterval: .milliseconds(20), deviceConfirmTimeout: .milliseconds(200), run: run)
    _ = await Executor(driver: fleet, state: state, journal: journal, options: options).run(plan)
}

/// Recovers what the journal at `state` holds unfinished, as the next apply would.
func recoverRun(_ fleet: FakeFleet, state: StateDirectory, run: String = "run-recovery", crashAt: Int? = nil) async throws -> RecoveryReport {
    let journal = try Journal(path: state.journalPath)
    let options = ExecutionOptions(jobPollInterval: .milliseconds(20), statePollInterval: .milliseconds(20),
                                   deviceConfirmTimeout: .milliseconds(200), run: run,
                                   crashPoint: crashAt.map { CrashPoint(step: $0, moment: .afterOutcome, crash: {}) })
    let executor = Executor(driver: fleet, state: state, journal: journal, options: options)
    return await executor.recover(fixtureUnfinished(state), hosts: fixtureHosts)
}

/// A journal scenario: sets a fleet up and runs what leaves the journal to check.
struct JournalScenario: Sendable, CustomTestStringConvertible {
    let name: String
    let uuid: String
    /// Whether recovering it is part of the check (scenarios that leave something unfinished).
    var recovers = true
    let make: @Sendable (StateDirectory) async throws -> FakeFleet
    var testDescription: String { name }
}

/// A guest as a manual move meets it: boot volume on the source's local pool (transferred), a
/// data volume on the shared pool, two NICs, autostart, tags.
func manualFleet() -> FakeFleet {
    let fleet = FakeFleet(hosts: ["h1", "h2"])
    var vm = FakeFleet.FakeDomain(uuid: "uuid-vm", name: "vm", autostart: true)
    vm.disks = [ObservedDisk(target: "vda", sourceType: "volume", path: "/local/vm-boot.img", pool: "local", volume: "vm-boot.img", bootOrder: 1),
                ObservedDisk(target: "vdb", sourceType: "volume", path: "/shared/vm-data.img", pool: "shared", volume: "vm-data.img")]
    vm.nics = [ObservedNIC(type: "network", mac: "52:54:00:00:00:01", network: "lan"),
               ObservedNIC(type: "network", mac: "52:54:00:00:00:02", network: "lan")]
    vm.fleet = "lab"
    vm.tags = ["tier": "db"]
    fleet.add(vm, on: "h1")
    fleet.addVolume("local", "vm-boot.img", .init(capacity: 8 << 20, content: "boot with /marker"), on: "h1")
    for h in ["h1", "h2"] { fleet.addVolume("shared", "vm-data.img", .init(capacity: 32 << 20, content: "data"), on: h) }
    return fleet
}

func manualSpec() -> PlacementSpec {
    var policy = PolicySpec()
    policy.backups = true
    var spec = placement(["vm": InstanceSpec(host: "h2", config: ConfigSpec(tags: ["tier": "db", "moved": "yes"]),
                                             moves: [.manual])], hosts: ["h1", "h2"], policy: policy)
    spec.storage = StorageSpec(sharedPools: ["shared"], localPools: ["local"])
    return spec
}

/// A guest for a reboot, cold or live move: one volume on the source's local pool.
func otherFleet(_ kind: String) -> FakeFleet {
    let fleet = FakeFleet(hosts: ["h1", "h2"])
    var vm = guest("vm", state: kind == "cold" ? "shutoff" : "running")
    vm.autostart = true
    vm.disks = [ObservedDisk(target: "vda", sourceType: "volume", path: "/local/vm.img", pool: "local", volume: "vm.img")]
    fleet.add(vm, on: "h1")
    fleet.addVolume("local", "vm.img", .init(capacity: 1 << 20, content: "bytes"), on: "h1")
    return fleet
}

func otherSpec(_ kind: String) -> PlacementSpec {
    var spec = placement(["vm": InstanceSpec(host: "h2", moves: kind == "live" ? [.live] : (kind == "cold" ? [.cold] : [.reboot]))],
                         hosts: ["h1", "h2"])
    spec.storage = StorageSpec(sharedPools: ["shared"], localPools: ["local"])
    return spec
}

/// Every scenario: a move of each kind killed after each step's intent and after each outcome,
/// a resumed move killed again, a fallback killed, a move failed past its point of no return,
/// a roll-back, a copy's debris removed, a rotation's carried records, an `--abandon`, and
/// finished moves of each kind.
let journalScenarios: [JournalScenario] = {
    var all: [JournalScenario] = []
    let moments: [(String, CrashPoint.Moment)] = [("intent", .afterIntent), ("outcome", .afterOutcome)]
    for (label, moment) in moments {
        for step in 0..<12 {
            all.append(JournalScenario(name: "manual-\(label)-\(step)", uuid: "uuid-vm") { state in
                let fleet = manualFleet()
                try await crashRun(planFor(manualSpec(), fleet), on: fleet, step: step, moment: moment, state: state)
                return fleet
            })
        }
    }
    for kind in ["reboot", "cold", "live"] {
        let count = planFor(otherSpec(kind), otherFleet(kind)).actions.first?.steps.count ?? 0
        for (label, moment) in moments {
            for step in 0..<count {
                all.append(JournalScenario(name: "\(kind)-\(label)-\(step)", uuid: "uuid-vm") { state in
                    let fleet = otherFleet(kind)
                    try await crashRun(planFor(otherSpec(kind), fleet), on: fleet, step: step, moment: moment, state: state)
                    return fleet
                })
            }
        }
    }
    for (first, second) in [(5, 1), (9, 0)] {
        all.append(JournalScenario(name: "manual-resumed-\(first)-then-\(second)", uuid: "uuid-vm") { state in
            let fleet = manualFleet()
            try await crashRun(planFor(manualSpec(), fleet), on: fleet, step: first, moment: .afterOutcome, state: state)
            _ = try await recoverRun(fleet, state: state, run: "run-2", crashAt: second)
            return fleet
        })
    }
    all.append(JournalScenario(name: "live-fallback-reboot-outcome-2", uuid: "uuid-web") { state in
        let fleet = FakeFleet(hosts: ["h1", "h2"])
        fleet.add(guest("web"), on: "h1")
        fleet.set { $0.migration["uuid-web"] = .fail(.failed(.liveUnsupported, message: "migration refused")) }
        let plan = planFor(placement(["web": InstanceSpec(host: "h2", moves: [.live, .reboot])], hosts: ["h1", "h2"]), fleet)
        try await crashRun(plan, on: fleet, step: 2, moment: .afterOutcome, state: state)
        fleet.set { $0.migration["uuid-web"] = nil }
        return fleet
    })
    all.append(JournalScenario(name: "reboot-start-failed-past-point-of-no-return", uuid: "uuid-vm") { state in
        let fleet = FakeFleet(hosts: ["h1", "h2"])
        fleet.add(guest("vm"), on: "h1")
        fleet.set { $0.failStart = ["uuid-vm"] }
        try await fullRun(planFor(placement(["vm": InstanceSpec(host: "h2", moves: [.reboot])], hosts: ["h1", "h2"]), fleet),
                          on: fleet, state: state)
        fleet.set { $0.failStart = [] }
        return fleet
    })
    all.append(JournalScenario(name: "manual-rolled-back", uuid: "uuid-vm", recovers: false) { state in
        let (fleet, plan) = rollBackFleetAndPlan()
        try await fullRun(plan, on: fleet, state: state)
        return fleet
    })
    all.append(JournalScenario(name: "cold-copy-failed-debris-removed", uuid: "uuid-arch", recovers: false) { state in
        let fleet = localGuestFleet()
        fleet.set { $0.failCopies = true }
        try await fullRun(coldPlan, on: fleet, state: state)
        return fleet
    })
    all.append(JournalScenario(name: "cold-copy-killed-after-transfer-intent", uuid: "uuid-arch") { state in
        let fleet = localGuestFleet()
        try await crashRun(coldPlan, on: fleet, step: 2, moment: .afterIntent, state: state)
        return fleet
    })
    all.append(JournalScenario(name: "manual-finished-then-rotated", uuid: "uuid-vm", recovers: false) { state in
        let fleet = manualFleet()
        try await fullRun(planFor(manualSpec(), fleet), on: fleet, state: state)
        _ = try Journal.rotate(path: state.journalPath, limit: 0, run: "run-rotation", time: "2026-01-01T00:00:00Z")
        return fleet
    })
    all.append(JournalScenario(name: "manual-abandoned-by-the-operator", uuid: "uuid-vm", recovers: false) { state in
        let fleet = manualFleet()
        try await crashRun(planFor(manualSpec(), fleet), on: fleet, step: 6, moment: .afterOutcome, state: state)
        let executor = Executor(driver: fleet, state: state, journal: try Journal(path: state.journalPath),
                                options: ExecutionOptions(run: "run-op"))
        _ = await executor.abandon(["vm"], among: fixtureUnfinished(state))
        return fleet
    })
    for kind in ["reboot", "cold", "live"] {
        all.append(JournalScenario(name: "\(kind)-finished", uuid: "uuid-vm", recovers: false) { state in
            let fleet = otherFleet(kind)
            try await fullRun(planFor(otherSpec(kind), fleet), on: fleet, state: state)
            return fleet
        })
    }
    return all
}()

// MARK: What a release makes of a journal

/// The unfinished actions of the journal at `state`, read as the code under test reads them.
func fixtureUnfinished(_ state: StateDirectory) -> [UnfinishedAction] {
    (try? Journal.load(path: state.journalPath))?.unfinished ?? []
}

/// The volumes the journal at `state` counts as virtplace's, as the code under test reads them.
func fixtureOwnVolumes(_ state: StateDirectory) -> [String] {
    state.ownVolumes().sorted()
}

/// What a release made of one journal (Fixtures/journal-v0/NAME.expect.json).
struct JournalExpectation: Codable, Equatable {
    struct Unfinished: Codable, Equatable {
        var instance: String
        var uuid: String?
        var origin: String
        var lastRun: String
        /// The action to resume, encoded with sorted keys.
        var action: String?
        var progress: String
        var changedSomething: Bool
        var targetCopyBegun: Bool
        var pastPointOfNoReturn: Bool
        var sourceUndefined: Bool
        var shutDownByTheMove: Bool
        var startMayHaveRun: Bool
        var recordPath: String?
    }
    struct Decision: Codable, Equatable {
        /// Host → `state/persistent`.
        var copies: [String: String]
        var unreachable: [String]
        var decision: String
        var message: String
    }
    struct Outcome: Codable, Equatable {
        var instance: String
        var kind: String
        var status: String
        var message: String?
        var notes: [String]
    }
    /// The state directory the journal was written in (its paths name it).
    var stateDir: String
    var unfinished: [Unfinished]
    var ownVolumes: [String]
    var decisions: [Decision]
    var recovery: [Outcome]?
    var held: [String: String]?
}

/// The action as the expectations hold it: JSON with sorted keys, without the keys an action
/// gained after format 0 (`id`, `dependsOn`: its place in a plan, which a resumed move does
/// not have).
private func sortedJSON(_ action: Action?) -> String? {
    guard let action, let data = try? JSONEncoder().encode(action),
          var object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else { return nil }
    object["id"] = nil
    object["dependsOn"] = nil
    // A note added to actions since that release (recovery never reads reasons).
    if let reasons = object["reasons"] as? [[String: Any]] {
        object["reasons"] = reasons.filter { ($0["code"] as? String) != "manual.boot-disk" }
    }
    return (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]))
        .map { String(decoding: $0, as: UTF8.self) }
}

/// The view of the code under test: unfinished actions, own volumes, and its decisions for
/// where the domain is now (as the fleet shows it, and with each host unreachable in turn).
func journalView(state: StateDirectory, fleet: FakeFleet, uuid: String) -> JournalExpectation {
    let unfinished = fixtureUnfinished(state)
    var decisions: [JournalExpectation.Decision] = []
    let hosts = fixtureHosts
    var copies: [String: Sighting] = [:]
    for h in hosts { if let d = fleet.domain(uuid, h) { copies[h] = Sighting(state: d.state, persistent: d.persistent) } }
    let uris = Dictionary(uniqueKeysWithValues: hosts.map { ($0, "qemu+tcp://\($0)/system") })
    for u in unfinished {
        for down in [[]] + hosts.map({ [$0] }) {
            let seen = copies.filter { !down.contains($0.key) }
            let (name, message): (String, String) = switch decideRecovery(u, copies: seen, unreachable: Set(down), uris: uris) {
            case .finish: ("finish", "")
            case .rollBack(let m): ("rollBack", m)
            case .abandon(let m): ("abandon", m)
            case .hold(let m): ("hold", m)
            }
            decisions.append(.init(copies: seen.mapValues { "\($0.state)/\($0.persistent)" }, unreachable: down,
                                   decision: name, message: message))
        }
    }
    return JournalExpectation(
        stateDir: state.path,
        unfinished: unfinished.map { u in
            .init(instance: u.instance, uuid: u.uuid, origin: u.origin, lastRun: u.lastRun, action: sortedJSON(u.action),
                  progress: u.progress, changedSomething: u.changedSomething, targetCopyBegun: u.targetCopyBegun,
                  pastPointOfNoReturn: u.pastPointOfNoReturn, sourceUndefined: u.sourceUndefined,
                  shutDownByTheMove: u.shutDownByTheMove, startMayHaveRun: u.startMayHaveRun, recordPath: u.recordPath)
        },
        ownVolumes: fixtureOwnVolumes(state), decisions: decisions)
}

func outcomes(_ report: RecoveryReport) -> [JournalExpectation.Outcome] {
    report.actions.map { .init(instance: $0.instance, kind: $0.kind.rawValue, status: $0.status.rawValue, message: $0.message, notes: $0.notes) }
}

let journalFixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/journal-v0")

@Test("a journal of the release before the typed journal is read and recovered as that release did",
      .timeLimit(.minutes(5)), arguments: journalScenarios)
func oldJournalIsRecoveredAsBefore(_ scenario: JournalScenario) async throws {
    let state = try stateDirectory()
    let fleet = try await scenario.make(state)
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
    if let out = ProcessInfo.processInfo.environment["VIRTPLACE_WRITE_JOURNAL_FIXTURES"], !out.isEmpty {
        var view = journalView(state: state, fleet: fleet, uuid: scenario.uuid)
        // The journal as it was before recovery wrote to it.
        let journal = try #require(FileManager.default.contents(atPath: state.journalPath))
        if scenario.recovers {
            let report = try await recoverRun(fleet, state: state, run: "run-recovery")
            view.recovery = outcomes(report)
            view.held = report.held
        }
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        try journal.write(to: URL(fileURLWithPath: out + "/\(scenario.name).jsonl"))
        try (encoder.encode(view) + Data("\n".utf8)).write(to: URL(fileURLWithPath: out + "/\(scenario.name).expect.json"))
        return
    }
    let name = scenario.name
    let expected = try JSONDecoder().decode(JournalExpectation.self, from: Data(contentsOf: journalFixtures.appendingPathComponent("\(name).expect.json")))
    let fixture = try Data(contentsOf: journalFixtures.appendingPathComponent("\(name).jsonl"))
    // The old state directory's paths, as this test's.
    func rebased<T: Codable>(_ value: T) throws -> T {
        let text = String(decoding: try encoder.encode(value), as: UTF8.self).replacingOccurrences(of: expected.stateDir, with: state.path)
        return try JSONDecoder().decode(T.self, from: Data(text.utf8))
    }
    var reading = expected
    reading.recovery = nil
    reading.held = nil

    // The journal this virtplace wrote for the same run reads as the old one did.
    let mine = journalView(state: state, fleet: fleet, uuid: scenario.uuid)
    #expect(mine == (try rebased(reading)), "\(name): this release's own journal")

    // The old journal, byte for byte: the same unfinished actions, own volumes and decisions.
    try fixture.write(to: URL(fileURLWithPath: state.journalPath))
    let contents = try Journal.load(path: state.journalPath)
    #expect(contents.unreadable.isEmpty && contents.tornTail == nil, "\(name): \(contents.unreadable)")
    #expect(contents.records == String(decoding: fixture, as: UTF8.self).split(separator: "\n").count, "\(name): every line a record")
    var old = journalView(state: state, fleet: fleet, uuid: scenario.uuid)
    old.stateDir = expected.stateDir
    #expect(old == reading, "\(name): the old journal")

    // Recovered from it as that release recovered: the same outcome, word for word.
    guard scenario.recovers, let before = expected.recovery else { return }
    let text = String(decoding: fixture, as: UTF8.self).replacingOccurrences(of: expected.stateDir, with: state.path)
    try Data(text.utf8).write(to: URL(fileURLWithPath: state.journalPath))
    let report = try await recoverRun(fleet, state: state, run: "run-recovery")
    #expect(outcomes(report) == (try rebased(before)), "\(name): recovery")
    #expect(report.held == (try rebased(expected.held ?? [:])), "\(name): held")
}

/// Journals the release before the typed journal wrote on the lab (its debug binary, built from
/// main f784998, killed by `VIRTPLACE_TEST_KILL_AFTER_STEP` during a manual and a reboot move
/// between real daemons): read as that binary read them (`apply --dry-run` of that binary said
/// the `progress` below), and decided as it decides for where the domain was left, shut off on
/// both hosts. (The new binary then recovered both moves on the lab: one copy, running on host2,
/// `No changes.` after.)
@Test(arguments: [
    ("lab-manual-killed-after-step-6", "oldm", "20261207T164941Z-17753", "after step 7 (recreate) finished", ActionKind.manual),
    ("lab-reboot-killed-after-step-3", "oldr", "20261207T165034Z-19864", "after step 4 (defineOnTarget) finished", .reboot),
])
func aJournalTheOldBinaryWroteOnTheLabIsReadAsItReadIt(_ name: String, _ instance: String, _ run: String, _ progress: String,
                                                       _ kind: ActionKind) throws {
    let state = try stateDirectory()
    defer { try? FileManager.default.removeItem(atPath: state.path) }
    try Data(contentsOf: journalFixtures.appendingPathComponent("\(name).jsonl")).write(to: URL(fileURLWithPath: state.journalPath))
    let contents = try Journal.load(path: state.journalPath)
    #expect(contents.unreadable.isEmpty && contents.tornTail == nil)
    let u = try #require(contents.unfinished.first)
    #expect(contents.unfinished.count == 1 && u.instance == instance && u.origin == run && u.progress == progress)
    #expect(u.action?.kind == kind && u.action?.from == "host1" && u.action?.to == "host2")
    #expect(u.changedSomething && u.targetCopyBegun && u.shutDownByTheMove && !u.pastPointOfNoReturn)
    #expect(u.recordPath?.hasSuffix("/\(run)-host1.xml") == true)
    #expect(contents.ownVolumes == Set((kind == .manual ? ["oldm-boot.img", "oldm-data.img"] : ["oldr-disk.img"]).map { "host2/local/\($0)" }))
    let off = Sighting(state: "shutoff", persistent: true)
    #expect(decideRecovery(u, copies: ["host1": off, "host2": off], unreachable: []) == .finish)
}
