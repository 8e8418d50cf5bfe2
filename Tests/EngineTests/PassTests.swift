import Foundation
import Placement
import Synchronization
import Testing
@testable import Engine
import TestSupport

// Whole passes without the CLI: `ApplyPass` (what `apply` runs once) and `ReconcileLoop`
// (what `reconcile` runs each pass) against the in-memory fleet, from the lock to the report.
// The fake's own state (where each domain is, which calls were made) is the witness, not the
// pass's report of itself.

/// Records what a pass reports, and answers its questions with `answer`.
final class RecordingObserver: ReconcileObserver {
    private let events = Mutex<[String]>([])
    private let passEvents = Mutex<[PassEvent]>([])
    let answer: Bool
    init(answer: Bool = true) { self.answer = answer }

    func handle(_ event: PassEvent) {
        passEvents.withLock { $0.append(event) }
        let name: String
        switch event {
        case .journalRotated: name = "journalRotated"
        case .journalRepaired: name = "journalRepaired"
        case .abandoned(let instance, _): name = "abandoned \(instance)"
        case .unfinished(let list): name = "unfinished \(list.map(\.instance).joined(separator: ","))"
        case .recovered(let report, _): name = "recovered \(report.actions.map { "\($0.instance):\($0.status.rawValue)" }.joined(separator: ","))"
        case .observing(_, let again): name = again ? "observing again" : "observing"
        case .hostUnreachable(let host): name = "unreachable \(host.name)"
        case .planned: name = "planned"
        case .nothingToRun: name = "nothingToRun"
        case .dryRun: name = "dryRun"
        case .executing: name = "executing"
        case .execution: return
        case .manualMigrationNeeded(let line): name = "manual \(line)"
        case .eventsFileError: name = "eventsFileError"
        case .historyProblem: name = "historyProblem"
        case .executed: name = "executed"
        }
        events.withLock { $0.append(name) }
    }

    func approve(_ question: PassQuestion) async -> Bool {
        events.withLock { $0.append("asked \(question)") }
        return answer
    }

    func reconcile(_ event: ReconcileEvent) {
        let name: String
        switch event {
        case .passStarted: name = "passStarted"
        case .holding(let instance, _): name = "holding \(instance)"
        case .metricsError: name = "metricsError"
        case .passEnded: name = "passEnded"
        case .sleeping: name = "sleeping"
        case .stopped: name = "stopped"
        case .backoffFileProblem: name = "backoffFileProblem"
        }
        events.withLock { $0.append(name) }
    }

    var names: [String] { events.withLock { $0 } }
    var stepsFinished: [String] {
        passEvents.withLock { list in
            list.compactMap { e in
                if case .execution(.stepFinished(let instance, _, let step, _, _)) = e { return "\(instance) \(step.op)" }
                return nil
            }
        }
    }
}

/// A clock the test moves by hand.
final class ManualClock: Sendable {
    private let now = Mutex(Date(timeIntervalSince1970: 1_800_000_000))
    func read() -> Date { now.withLock { $0 } }
    func advance(_ seconds: Double) { now.withLock { $0 = $0.addingTimeInterval(seconds) } }
}

/// Short polls for the fake fleet (here and in EstimateEngineTests).
let fast = ExecutionOptions(jobPollInterval: .milliseconds(20), statePollInterval: .milliseconds(20),
                            deviceConfirmTimeout: .milliseconds(200))

func applyPass(_ desired: ApplyPass.Desired, fleet: FakeFleet, hosts: [String], state: StateDirectory,
                       crashAt step: Int? = nil) -> ApplyPass {
    var options = fast
    options.hosts = hosts
    options.run = "run-\(UUID().uuidString.prefix(8))"
    options.crashPoint = step.map { CrashPoint(step: $0, moment: .afterOutcome, crash: {}) }
    var pass = ApplyPass(desired: desired, targets: hosts.map { ObserveTarget(name: $0, uri: "fake://\($0)", faultDomain: "fd-\($0)") },
                         state: state, options: options)
    pass.connect = { _ in fleet }
    return pass
}

/// A fake fleet whose hosts observe with the fault domains `placement()` declares.
func fleetOf(_ hosts: [String]) -> FakeFleet {
    let fleet = FakeFleet(hosts: hosts)
    fleet.set { $0.faultDomains = Dictionary(uniqueKeysWithValues: hosts.map { ($0, "fd-\($0)") }) }
    return fleet
}

/// What the journal shows unfinished, read as a run reads it.
private func unfinished(_ state: StateDirectory) -> [UnfinishedAction] {
    (try? Journal.load(path: state.journalPath))?.unfinished ?? []
}

// MARK: ApplyPass

@Test(.timeLimit(.minutes(2))) func aWholeApplyMovesTheGuestAndTheNextPassHasNothingToDo() async throws {
    let fleet = fleetOf(["h1", "h2"])
    fleet.add(guest("web"), on: "h1")
    let spec = placement(["web": InstanceSpec(host: "h2")], hosts: ["h1", "h2"])
    let state = try stateDirectory()
    let observer = RecordingObserver()
    let report = try await applyPass(.placement(spec), fleet: fleet, hosts: ["h1", "h2"], state: state).run(observer)

    #expect(report.outcome == .success)
    #expect(report.plan.actions.map(\.kind) == [.live])
    #expect(report.execution?.actions.map(\.status) == [.done])
    #expect(observer.names == ["observing", "planned", "executing", "executed"])
    #expect(observer.stepsFinished.contains("web migrateLive"))
    // The witness: the fake fleet has it on h2, running, and nowhere else.
    #expect(fleet.domain("uuid-web", "h2")?.state == "running")
    #expect(fleet.domain("uuid-web", "h1") == nil)
    #expect(unfinished(state).isEmpty)
    // The lock was released at the end: another pass takes it.
    let calls = fleet.calls.count
    let again = RecordingObserver()
    let second = try await applyPass(.placement(spec), fleet: fleet, hosts: ["h1", "h2"], state: state).run(again)
    #expect(second.outcome == .success && second.plan.isEmpty && second.execution == nil)
    #expect(again.names == ["observing", "planned", "nothingToRun"])
    #expect(fleet.calls.count == calls, "nothing changed: \(fleet.calls.dropFirst(calls))")
}

@Test(.timeLimit(.minutes(2))) func aPassAsksBeforeItRunsAndADeclinedPlanChangesNothing() async throws {
    let fleet = fleetOf(["h1", "h2"])
    fleet.add(guest("web"), on: "h1")
    let spec = placement(["web": InstanceSpec(host: "h2")], hosts: ["h1", "h2"])
    var pass = applyPass(.placement(spec), fleet: fleet, hosts: ["h1", "h2"], state: try stateDirectory())
    pass.ask = true
    let observer = RecordingObserver(answer: false)
    await #expect(throws: PassError.self) { try await pass.run(observer) }
    #expect(observer.names == ["observing", "planned", "asked plan(actions: 1)"])
    #expect(fleet.calls.isEmpty)
    #expect(fleet.domain("uuid-web", "h1")?.state == "running")
    // Answered yes: observed again (the answer may come late), then run.
    let yes = RecordingObserver(answer: true)
    let report = try await pass.run(yes)
    #expect(report.outcome == .success)
    #expect(yes.names == ["observing", "planned", "asked plan(actions: 1)", "observing again", "executing", "executed"])
    #expect(fleet.domain("uuid-web", "h2")?.state == "running")
}

@Test(.timeLimit(.minutes(2))) func aDryRunChangesNothingAndTakesNoLock() async throws {
    let fleet = fleetOf(["h1", "h2"])
    fleet.add(guest("web"), on: "h1")
    let spec = placement(["web": InstanceSpec(host: "h2")], hosts: ["h1", "h2"])
    let state = try stateDirectory()
    // Another holder of the lock does not stop a dry run.
    let lock = try StateLock(state: state)
    var pass = applyPass(.placement(spec), fleet: fleet, hosts: ["h1", "h2"], state: state)
    pass.dryRun = true
    let observer = RecordingObserver()
    let report = try await pass.run(observer)
    withExtendedLifetime(lock) {}
    #expect(report.outcome == .success && report.execution == nil)
    #expect(observer.names == ["observing", "planned", "dryRun"])
    #expect(fleet.calls.isEmpty)
}

@Test(.timeLimit(.minutes(2))) func aPassFinishesTheMoveAnEarlierPassLeftUnfinished() async throws {
    let fleet = fleetOf(["h1", "h2"])
    fleet.add(guest("db", state: "shutoff"), on: "h1")
    fleet.addVolume("local", "db.img", .init(capacity: 8 << 20, content: "db data"), on: "h1")
    fleet.state.withLock { s in
        s.hosts["h1"]?["uuid-db"]?.disks = [ObservedDisk(target: "vda", sourceType: "volume", path: "/local/db.img",
                                                         pool: "local", volume: "db.img", bootOrder: 1)]
    }
    var spec = placement(["db": InstanceSpec(host: "h2")], hosts: ["h1", "h2"])
    spec.storage = StorageSpec(sharedPools: [], localPools: ["local"])
    let state = try stateDirectory()
    let plan = planFor(spec, fleet)
    let steps = try #require(plan.actions.first?.steps).map(\.op)
    #expect(plan.actions.first?.kind == .cold, "\(plan.actions)")
    // The first pass stops as if killed once the definition is on the target.
    let killAt = try #require(steps.firstIndex(of: "defineOnTarget"), "\(steps)")
    let first = try await applyPass(.placement(spec), fleet: fleet, hosts: ["h1", "h2"], state: state, crashAt: killAt)
        .run(RecordingObserver())
    #expect(first.outcome == .incomplete)
    #expect(unfinished(state).map(\.instance) == ["db"])
    #expect(fleet.domain("uuid-db", "h2") != nil && fleet.domain("uuid-db", "h1") != nil, "half done: a copy on each host")

    // The next pass finishes it before it plans: one copy, on h2, the data there; nothing
    // left to plan.
    let observer = RecordingObserver()
    let second = try await applyPass(.placement(spec), fleet: fleet, hosts: ["h1", "h2"], state: state).run(observer)
    #expect(second.outcome == .success, "\(second.recovery.actions)")
    #expect(second.recovery.clean && second.recovery.actions.map(\.instance) == ["db"])
    #expect(observer.names.prefix(2) == ["unfinished db", "recovered db:done"], "\(observer.names)")
    #expect(second.plan.isEmpty, "\(second.plan.actions)")
    #expect(fleet.domain("uuid-db", "h1") == nil)
    #expect(fleet.domain("uuid-db", "h2")?.state == "shutoff")
    #expect(fleet.volume("local", "db.img", "h2")?.content == "db data")
    #expect(fleet.volume("local", "db.img", "h1")?.content == "db data", "the source copy is kept")
    #expect(unfinished(state).isEmpty)
}

@Test(.timeLimit(.minutes(2))) func aStaleSavedPlanIsRefusedAndNothingIsChanged() async throws {
    let fleet = fleetOf(["h1", "h2"])
    fleet.add(guest("web"), on: "h1")
    fleet.add(guest("api"), on: "h1")
    let spec = placement(["web": InstanceSpec(host: "h2"), "api": InstanceSpec(host: "h1")], hosts: ["h1", "h2"])
    let saved = planFor(spec, fleet)
    #expect(saved.actions.map(\.instance) == ["web"])
    // Behind the plan's back: an operator stops `web`.
    fleet.state.withLock { $0.hosts["h1"]?["uuid-web"]?.state = "shutoff" }
    let observer = RecordingObserver()
    do {
        _ = try await applyPass(.savedPlan(saved), fleet: fleet, hosts: ["h1", "h2"], state: try stateDirectory()).run(observer)
        Issue.record("a stale plan ran")
    } catch let error as PassError {
        guard case let .stalePlan(changes, afterRecovery) = error else { Issue.record("\(error)"); return }
        #expect(!afterRecovery && !error.changedHosts)
        #expect(changes == ["web: state running → shutoff on h1"], "\(changes)")
        #expect(error.description.hasPrefix("the plan is stale"))
    }
    #expect(observer.names == ["observing"])
    #expect(fleet.calls.isEmpty, "\(fleet.calls)")
    #expect(fleet.domain("uuid-web", "h1")?.state == "shutoff")
}

@Test(.timeLimit(.minutes(2))) func aJournalLineThatCannotBeReadHoldsThePass() async throws {
    let fleet = fleetOf(["h1", "h2"])
    fleet.add(guest("web"), on: "h1")
    let state = try stateDirectory()
    try Data("{\"not\": \"a record\"}\n".utf8).write(to: URL(fileURLWithPath: state.journalPath))
    let spec = placement(["web": InstanceSpec(host: "h2")], hosts: ["h1", "h2"])
    await #expect {
        _ = try await applyPass(.placement(spec), fleet: fleet, hosts: ["h1", "h2"], state: state).run(RecordingObserver())
    } throws: { error in
        guard case .unreadableJournal(_, let lines)? = error as? PassError else { return false }
        return lines.map(\.line) == [1]
    }
    #expect(fleet.calls.isEmpty)
}

// MARK: ReconcileLoop

private func loop(_ fleet: FakeFleet, state: StateDirectory, clock: ManualClock? = nil, interval: Double? = nil) -> ReconcileLoop {
    var configuration = ReconcileLoop.Configuration(state: state)
    configuration.connect = { _ in fleet }
    configuration.execution = fast
    configuration.interval = interval
    if let clock { configuration.clock = { clock.read() } }
    return ReconcileLoop(configuration)
}

@Test(.timeLimit(.minutes(2))) func aReconcilePassCorrectsDriftAndCountsIt() async throws {
    let fleet = fleetOf(["h1", "h2"])
    fleet.add(guest("web"), on: "h1")
    fleet.add(guest("api"), on: "h2")
    let spec = placement(["web": InstanceSpec(host: "h2"), "api": InstanceSpec(host: "h2", state: .stopped)], hosts: ["h1", "h2"])
    var reconciler = loop(fleet, state: try stateDirectory())
    let observer = RecordingObserver()
    let result = await reconciler.pass(load: { spec }, observer: observer)
    #expect(result.error == nil && result.outcome == .success)
    #expect(result.fleet == "lab")
    #expect(result.metrics.instances == ["changed": 2], "\(result.metrics.instances)")
    #expect(result.metrics.hostsReachable == 2 && result.metrics.success)
    #expect(observer.names.first == "passStarted" && observer.names.last == "passEnded")
    #expect(fleet.domain("uuid-web", "h2")?.state == "running")
    #expect(fleet.domain("uuid-api", "h2")?.state == "shutoff")

    let again = await reconciler.pass(load: { spec }, observer: RecordingObserver())
    #expect(again.outcome == .success && again.metrics.instances == ["converged": 2])
    #expect(reconciler.totals.passes == 2 && reconciler.totals.failedPasses == 0)
}

@Test(.timeLimit(.minutes(2))) func aPlacementThatDoesNotLoadStopsThePassBeforeAnything() async throws {
    struct Broken: Error {}
    let fleet = fleetOf(["h1"])
    var reconciler = loop(fleet, state: try stateDirectory())
    let result = await reconciler.pass(load: { throw Broken() }, observer: RecordingObserver())
    #expect(result.error is Broken && result.outcome == nil && !result.metrics.success)
    #expect(reconciler.totals.failedPasses == 1)
    #expect(fleet.calls.isEmpty)
}

@Test(.timeLimit(.minutes(2))) func aHostThatDoesNotAnswerRestsAndIsNotContacted() async throws {
    let fleet = fleetOf(["h1", "h2"])
    fleet.add(guest("web"), on: "h1")
    fleet.set { $0.unreachable = ["h2"] }
    let spec = placement(["web": InstanceSpec(host: "h1")], hosts: ["h1", "h2"])
    let clock = ManualClock()
    var reconciler = loop(fleet, state: try stateDirectory(), clock: clock, interval: 10)
    let first = await reconciler.pass(load: { spec }, observer: RecordingObserver())
    #expect(first.outcome == .incomplete, "an unreachable host makes a reconcile pass incomplete")
    #expect(reconciler.hostBackoff["h2"]?.failures == 1)
    clock.advance(5)
    let resting = await reconciler.pass(load: { spec }, observer: RecordingObserver())
    #expect(resting.restingHosts.keys.sorted() == ["h2"])
    let h2 = resting.report?.observed.hosts.first { $0.name == "h2" }
    #expect(h2?.reachable == false && h2?.error?.hasPrefix("not contacted: backing off until") == true)
    fleet.set { $0.unreachable = [] }
    clock.advance(10)
    let back = await reconciler.pass(load: { spec }, observer: RecordingObserver())
    #expect(back.outcome == .success && reconciler.hostBackoff.isEmpty)
}

/// Issue 14: an instance whose move failed is not retried every pass. Its backoff grows
/// (interval × 2ⁿ), a changed declaration is tried at once, and a success resets it. The
/// fake's migrate calls are the witness of each attempt.
@Test(.timeLimit(.minutes(2))) func anInstanceWhoseMoveFailedBacksOffAcrossPasses() async throws {
    let fleet = fleetOf(["h1", "h2"])
    fleet.add(guest("web"), on: "h1")
    fleet.add(guest("api"), on: "h1")
    fleet.set { $0.migration["uuid-web"] = .fail(.failed(.other, message: "migration refused")) }
    var spec = placement(["web": InstanceSpec(host: "h2", moves: [.live]), "api": InstanceSpec(host: "h1")], hosts: ["h1", "h2"])
    let clock = ManualClock()
    var reconciler = loop(fleet, state: try stateDirectory(), clock: clock, interval: 10)
    func attempts() -> Int { fleet.calls.filter { $0.hasPrefix("migrate ") && $0.contains("uuid-web") }.count }

    // Pass 1: tried, failed: backs off 20 s (10 × 2¹).
    let first = await reconciler.pass(load: { spec }, observer: RecordingObserver())
    #expect(first.outcome == .incomplete)
    #expect(attempts() == 1, "\(fleet.calls)")
    #expect(first.backingOff["web"]?.failures == 1)
    #expect(first.backingOff["web"]?.message?.contains("migration refused") == true)
    #expect(fleet.domain("uuid-web", "h1")?.state == "running", "the guest stays where it ran")

    // Pass 2, 10 s later: held, not tried; the report says why; the other instance is still
    // reconciled (an operator's stop of `api` is corrected).
    fleet.state.withLock { $0.hosts["h1"]?["uuid-api"]?.state = "shutoff" }
    spec.instances["api"]?.state = .running
    clock.advance(10)
    let observer = RecordingObserver()
    let second = await reconciler.pass(load: { spec }, observer: observer)
    #expect(attempts() == 1, "not retried while backing off")
    #expect(second.held == ["web"] && observer.names.contains("holding web"))
    let held = second.report?.execution?.actions.first { $0.instance == "web" }
    #expect(held?.status == .blocked)
    #expect(held?.message?.hasPrefix("not run: reconcile backs off from it after 1 failed attempt") == true, "\(held?.message ?? "")")
    #expect(second.outcome == .incomplete)
    #expect(fleet.domain("uuid-api", "h1")?.state == "running")

    // Pass 3, 21 s after the failure: tried again, failed again: 40 s now.
    clock.advance(11)
    let third = await reconciler.pass(load: { spec }, observer: RecordingObserver())
    #expect(attempts() == 2)
    #expect(third.backingOff["web"]?.failures == 2)
    let wait = try #require(third.backingOff["web"]?.until).timeIntervalSince(clock.read())
    #expect(wait == 40)
    clock.advance(30)
    _ = await reconciler.pass(load: { spec }, observer: RecordingObserver())
    #expect(attempts() == 2, "still backing off after 30 of 40 s")

    // A changed declaration is tried at once (and fails: a fresh count).
    spec.instances["web"]?.config.tags = ["tier": "web"]
    let changed = await reconciler.pass(load: { spec }, observer: RecordingObserver())
    #expect(attempts() == 3)
    #expect(changed.backingOff["web"]?.failures == 1)

    // The cause gone and the backoff over: moved, and the backoff reset.
    fleet.set { $0.migration["uuid-web"] = .succeed }
    clock.advance(20)
    let done = await reconciler.pass(load: { spec }, observer: RecordingObserver())
    #expect(attempts() == 4)
    #expect(done.outcome == .success && done.backingOff.isEmpty && reconciler.instanceBackoff.isEmpty)
    #expect(fleet.domain("uuid-web", "h2")?.state == "running" && fleet.domain("uuid-web", "h1") == nil)
}

/// A reconcile started afresh (a timer, cron: one pass per process, no interval) holds an
/// instance whose action failed in the run before, from `STATE/backoff.json`, instead of trying
/// (and perhaps rebooting) it again on every run. Each run is a new `ReconcileLoop`; the fake's
/// migrate calls are the witness of each attempt.
@Test(.timeLimit(.minutes(2))) func aReconcileStartedAfreshHoldsWhatFailedInTheRunBefore() async throws {
    let fleet = fleetOf(["h1", "h2"])
    fleet.add(guest("web"), on: "h1")
    fleet.set { $0.migration["uuid-web"] = .fail(.failed(.other, message: "migration refused")) }
    var spec = placement(["web": InstanceSpec(host: "h2", moves: [.live])], hosts: ["h1", "h2"])
    let clock = ManualClock()
    let state = try stateDirectory()
    func attempts() -> Int { fleet.calls.filter { $0.hasPrefix("migrate ") && $0.contains("uuid-web") }.count }
    func run() async -> (ReconcilePassResult, RecordingObserver) {
        var fresh = loop(fleet, state: state, clock: clock)   // a new process each time
        let observer = RecordingObserver()
        return (await fresh.pass(load: { spec }, observer: observer), observer)
    }

    // Run 1 fails: 120 s (60 × 2¹) of backoff, written down.
    let (first, _) = await run()
    #expect(attempts() == 1 && first.backingOff["web"]?.failures == 1)
    let file = try String(contentsOfFile: BackoffFile.path(state), encoding: .utf8)
    #expect(file.contains("\"web\"") && file.contains("migration refused"), "\(file)")

    // Run 2, a minute later, in a new process: held, not tried; the file not rewritten (a
    // write replaces it by rename: a new inode).
    func inode() throws -> Int { try #require(FileManager.default.attributesOfItem(atPath: BackoffFile.path(state))[.systemFileNumber] as? Int) }
    let written = try inode()
    clock.advance(60)
    let (second, observer) = await run()
    #expect(try inode() == written, "a pass that changed no backoff writes nothing")
    #expect(attempts() == 1, "not retried by a new process while backing off")
    #expect(second.held == ["web"] && observer.names.contains("holding web"))
    #expect(second.report?.execution?.actions.first?.message?.hasPrefix("not run: reconcile backs off from it after 1 failed attempt") == true)

    // Run 3, after the backoff: tried, failed again: the count goes on (240 s now).
    clock.advance(61)
    let (third, _) = await run()
    #expect(attempts() == 2 && third.backingOff["web"]?.failures == 2)
    #expect(try #require(third.backingOff["web"]?.until).timeIntervalSince(clock.read()) == 240)

    // A changed declaration is tried at once by a new process too.
    spec.instances["web"]?.config.tags = ["tier": "web"]
    _ = await run()
    #expect(attempts() == 3)

    // An operator who removes the file lets it be tried at once.
    try FileManager.default.removeItem(atPath: BackoffFile.path(state))
    _ = await run()
    #expect(attempts() == 4)

    // Success clears it, in the file too.
    fleet.set { $0.migration["uuid-web"] = .succeed }
    clock.advance(3600)
    let (done, _) = await run()
    #expect(attempts() == 5 && done.outcome == .success && done.backingOff.isEmpty)
    let after = try String(contentsOfFile: BackoffFile.path(state), encoding: .utf8)
    #expect(!after.contains("\"web\""), "\(after)")
}

/// The backoff file is input like any other: a count or a time out of range is brought into
/// range (never held longer than the longest backoff), a message cut short, and a file that is
/// not one (or a link) is set aside with a warning, never fatal: the instance is tried.
@Test(.timeLimit(.minutes(2))) func aHostileBackoffFileHoldsNothingLongerThanTheLimit() async throws {
    let fleet = fleetOf(["h1", "h2"])
    fleet.add(guest("web"), on: "h1")
    let spec = placement(["web": InstanceSpec(host: "h2", moves: [.live])], hosts: ["h1", "h2"])
    let clock = ManualClock()
    let state = try stateDirectory()
    let digest = try #require(spec.desired("web")).declarationDigest
    let long = String(repeating: "x", count: 5000)
    let forever = #"{"version": 1, "instances": {"web": {"failures": 9223372036854775807, "until": 1e300, "message": "\#(long)", "declaration": "\#(digest)"}}}"#
    try forever.write(toFile: BackoffFile.path(state), atomically: false, encoding: .utf8)
    var reconciler = loop(fleet, state: state, clock: clock)
    let held = await reconciler.pass(load: { spec }, observer: RecordingObserver())
    #expect(held.held == ["web"])
    let b = try #require(reconciler.instanceBackoff["web"])
    #expect(b.until.timeIntervalSince(clock.read()) <= 3600, "at most the longest backoff from now")
    #expect(b.failures == 1_000_000 && (b.message?.count ?? 0) <= 1001)
    clock.advance(3601)
    var later = loop(fleet, state: state, clock: clock)
    _ = await later.pass(load: { spec }, observer: RecordingObserver())
    #expect(fleet.domain("uuid-web", "h2")?.state == "running", "tried once the limit passed")

    for bad in ["{", #"{"version": 2, "instances": {}}"#, #"{"version": 1, "instances": {"web": {"failures": "x"}}}"#] {
        let fleet = fleetOf(["h1", "h2"])
        fleet.add(guest("web"), on: "h1")
        let state = try stateDirectory()
        try bad.write(toFile: BackoffFile.path(state), atomically: false, encoding: .utf8)
        var reconciler = loop(fleet, state: state, clock: clock)
        let observer = RecordingObserver()
        let pass = await reconciler.pass(load: { spec }, observer: observer)
        #expect(observer.names.contains("backoffFileProblem"), "\(bad)")
        #expect(pass.outcome == .success && fleet.domain("uuid-web", "h2")?.state == "running", "\(bad)")
    }
    // A link is not followed.
    let linked = try stateDirectory()
    try FileManager.default.createSymbolicLink(atPath: BackoffFile.path(linked), withDestinationPath: BackoffFile.path(state))
    var reconciler2 = loop(fleet, state: linked, clock: clock)
    let observer = RecordingObserver()
    _ = await reconciler2.pass(load: { spec }, observer: observer)
    #expect(observer.names.contains("backoffFileProblem"))
}

/// The declaration digest is the same for equal declarations whatever the order their
/// dictionaries and sets were built in, and differs when a field does.
@Test func theDeclarationDigestIsCanonical() throws {
    var a = placement(["web": InstanceSpec(host: "h2", moves: [.live, .reboot, .cold])], hosts: ["h1", "h2"])
    a.instances["web"]?.config.tags = ["a": "1", "b": "2", "c": "3", "d": "4"]
    var b = placement(["web": InstanceSpec(host: "h2", moves: [.cold, .reboot, .live])], hosts: ["h1", "h2"])
    b.instances["web"]?.config.tags = ["d": "4", "c": "3", "b": "2", "a": "1"]
    let da = try #require(a.desired("web")), db = try #require(b.desired("web"))
    #expect(da == db && da.declarationDigest == db.declarationDigest)
    b.instances["web"]?.config.tags = ["d": "4", "c": "3", "b": "2", "a": "1,b"]
    #expect(try #require(b.desired("web")).declarationDigest != da.declarationDigest)
    b.instances["web"]?.config.tags = ["a": "1", "b": "2", "c": "3", "d": "4"]
    b.instances["web"]?.host = "h1"
    #expect(try #require(b.desired("web")).declarationDigest != da.declarationDigest)
    #expect(da.declarationDigest.count == 64)
}

@Test(.timeLimit(.minutes(2))) func backoffIsBoundedWhateverTheCount() {
    #expect(Backoff.wait(base: 10, failures: 1, doubleFirst: false, limit: 3600) == 10)
    #expect(Backoff.wait(base: 10, failures: 3, doubleFirst: false, limit: 3600) == 40)
    #expect(Backoff.wait(base: 10, failures: 1, doubleFirst: true, limit: 3600) == 20)
    #expect(Backoff.wait(base: 10, failures: 10_000, doubleFirst: true, limit: 3600) == 3600)
    #expect(Backoff.wait(base: 10, failures: Int.max, doubleFirst: true, limit: 3600) == 3600)
    #expect(Backoff.wait(base: 10, failures: Int.min, doubleFirst: true, limit: 3600) == 10)
}

@Test(.timeLimit(.minutes(2))) func aStopDuringTheSleepEndsTheLoopAndItSaysSo() async throws {
    let fleet = fleetOf(["h1"])
    fleet.add(guest("web"), on: "h1")
    let spec = placement(["web": InstanceSpec(host: "h1")], hosts: ["h1"])
    let observer = RecordingObserver()
    var configuration = ReconcileLoop.Configuration(state: try stateDirectory())
    configuration.connect = { _ in fleet }
    configuration.interval = 3600
    configuration.sleepSlice = .milliseconds(10)
    // The stop comes once the loop has begun its hour's sleep: it must not sleep it out.
    configuration.stopRequested = { observer.names.contains("sleeping") }
    var reconciler = ReconcileLoop(configuration)
    let last = await reconciler.run(load: { spec }, observer: observer)
    #expect(last.outcome == .success && last.report == nil && last.requeueAfter == 3600)
    #expect(observer.names == ["passStarted", "observing", "planned", "nothingToRun", "passEnded", "sleeping", "stopped"])
}
