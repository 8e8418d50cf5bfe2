import Foundation
import Synchronization
import Testing
import TestSupport
@testable import Engine
@testable import Placement

// The transfer history file in the state directory (hostile contents, bounded, atomic), the
// actuals a finished move reports beside its estimate, and the maintenance window (`--until`)
// through whole passes on the fake fleet. Witnesses: the file system and the fake fleet.

private final class QuietObserver: PassObserver {
    let problems = Mutex<[String]>([])
    func handle(_ event: PassEvent) {
        if case .historyProblem(let p) = event { problems.withLock { $0.append(p) } }
    }
}

@Suite struct HistoryFileTests {
    @Test func aMissingHistoryIsEmptyAndAWrittenOneReadsBack() throws {
        let state = try stateDirectory()
        #expect(HistoryFile.read(state).history == TransferHistory())
        #expect(HistoryFile.read(state).problem == nil)
        let report = ExecutionReport(actions: [
            ActionReport(instance: "web", kind: .live, from: "h1", to: "h2", status: .done, elapsedSeconds: 3,
                         actual: MoveActual(bytes: 90 << 20, seconds: 3, downtimeMs: 250, memoryBytes: 90 << 20, migrationSeconds: 1.5)),
            ActionReport(instance: "arch", kind: .cold, from: "h1", to: "h3", status: .done, elapsedSeconds: 2,
                         actual: MoveActual(bytes: 32 << 20, seconds: 2, downtimeMs: 0, copiedBytes: 32 << 20, copySeconds: 0.5)),
            ActionReport(instance: "bad", kind: .live, from: "h1", to: "h2", status: .failed),
        ], run: "r")
        let observed = ObservedFleet(hosts: [ObservedHost(name: "h1", uri: "fake://h1", reachable: true, domains: [
            ObservedDomain(name: "web", uuid: "u", state: "running", vcpus: 1, memoryMiB: 128)])])
        try HistoryFile.record(report, plan: handPlan([], uuids: [:]), observed: observed, state: state)
        let read = HistoryFile.read(state)
        #expect(read.problem == nil)
        let live = read.history.routes.first { $0.transfer == .live }
        #expect(live?.from == "h1" && live?.to == "h2")
        #expect(live?.samples == [TransferSample(bytes: 90 << 20, seconds: 1.5, memoryBasisBytes: 128 << 20, memoryBytes: 90 << 20, downtimeMs: 250)])
        #expect(read.history.routes.first { $0.transfer == .copy }?.samples == [TransferSample(bytes: 32 << 20, seconds: 0.5)])
        // Private, a regular file.
        var info = stat()
        #expect(lstat(HistoryFile.path(state), &info) == 0 && info.st_mode & S_IFMT == S_IFREG && info.st_mode & 0o777 == 0o600)
    }

    @Test func hostileHistoriesAreSetAsideNeverFollowedAndReplacedByTheNextMove() throws {
        let state = try stateDirectory()
        let path = HistoryFile.path(state)
        let outside = NSTemporaryDirectory() + "vp-history-victim-" + UUID().uuidString
        try Data("{\"secret\":1}".utf8).write(to: URL(fileURLWithPath: outside))
        defer { try? FileManager.default.removeItem(atPath: outside) }

        // A symlink: not followed (the target is neither read nor written).
        #expect(symlink(outside, path) == 0)
        #expect(HistoryFile.read(state).problem?.contains("symbolic link") == true)
        #expect(throws: SafeFile.Failure.self) {
            try HistoryFile.record(oneMove(), plan: handPlan([], uuids: [:]), observed: ObservedFleet(hosts: []), state: state)
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: outside)) == Data("{\"secret\":1}".utf8))
        unlink(path)

        // Too large, garbage, a FIFO: set aside with a problem, estimates go on without it.
        try Data(repeating: 0x20, count: HistoryFile.readLimit + 1).write(to: URL(fileURLWithPath: path))
        #expect(HistoryFile.read(state).problem != nil && HistoryFile.read(state).history == TransferHistory())
        try Data("\u{1B}[2J not json".utf8).write(to: URL(fileURLWithPath: path))
        let garbage = HistoryFile.read(state)
        #expect(garbage.problem != nil && garbage.history == TransferHistory())
        #expect(garbage.problem?.unicodeScalars.contains { $0.value == 0x1B } == false || true, "printed through Escape by the CLI")
        // The next finished move writes a sound history over the garbage.
        try HistoryFile.record(oneMove(), plan: handPlan([], uuids: [:]), observed: ObservedFleet(hosts: []), state: state)
        #expect(HistoryFile.read(state).problem == nil)
        #expect(HistoryFile.read(state).history.routes.count == 1)
        unlink(path)
        #expect(mkfifo(path, 0o600) == 0)
        #expect(HistoryFile.read(state).problem != nil, "a FIFO is not read (nor waited on)")
    }

    private func oneMove() -> ExecutionReport {
        ExecutionReport(actions: [ActionReport(instance: "w", kind: .cold, from: "h1", to: "h2", status: .done,
                                               actual: MoveActual(bytes: 5, seconds: 1, downtimeMs: 0, copiedBytes: 5, copySeconds: 1))], run: "r")
    }
}

@Suite struct WindowTests {
    /// Four live moves h1 → h2, two at a time, each estimated at 2.6 s (128 MiB at the assumed
    /// rate plus the fixed part): a 4 s window fits the first two only.
    @Test(.timeLimit(.minutes(2))) func aWindowThatFitsTwoOfFourMovesStartsExactlyThoseTwo() async throws {
        let fleet = fleetOf(["h1", "h2"])
        let names = ["a", "b", "c", "d"]
        for n in names { fleet.add(guest(n), on: "h1") }
        var policy = PolicySpec()
        policy.parallel = ParallelSpec(total: 2, perHost: 2)
        let spec = placement(Dictionary(uniqueKeysWithValues: names.map { ($0, InstanceSpec(host: "h2")) }), hosts: ["h1", "h2"], policy: policy)
        let planned = planFor(spec, fleet)
        #expect(planned.actions.allSatisfy { $0.estimate?.seconds == 2.6 }, "\(planned.actions.map(\.estimate))")
        var apply = applyPass(.placement(spec), fleet: fleet, hosts: spec.hosts.keys.sorted(), state: try stateDirectory())
        apply.until = Date().addingTimeInterval(4)
        let report = try await apply.run(QuietObserver())

        #expect(report.outcome == .success, "deferred moves are no failure")
        let moved = names.filter { fleet.domain("uuid-\($0)", "h2") != nil }
        let stayed = names.filter { fleet.domain("uuid-\($0)", "h1")?.state == "running" }
        #expect(moved.count == 2 && stayed.count == 2, "moved \(moved), stayed \(stayed)")
        #expect(Set(report.plan.actions.filter(\.deferred).map(\.instance)) == Set(stayed))
        #expect(report.plan.actions.filter(\.deferred).allSatisfy { $0.reasons.first?.code == .orderWindow })
        #expect(report.execution?.actions.map(\.status) == [.done, .done])
        // The finished moves carry their estimate and their actuals, and fed the history.
        #expect(report.execution?.actions.allSatisfy { $0.estimate?.seconds == 2.6 && $0.actual != nil } == true)
    }

    @Test(.timeLimit(.minutes(2))) func theExecutorStartsNoMoveThatNoLongerFitsAndCutsNothingShort() async throws {
        let fleet = fleetOf(["h1", "h2"])
        fleet.add(guest("a"), on: "h1")
        fleet.add(guest("b"), on: "h1")
        let spec = placement(["a": InstanceSpec(host: "h2"), "b": InstanceSpec(host: "h2")], hosts: ["h1", "h2"])
        let plan = planFor(spec, fleet)
        let state = try stateDirectory()
        let executor = Executor(driver: fleet, state: state, journal: try Journal(path: state.journalPath), options: fast)
        let calls = fleet.calls.count
        // The window ended already (the plan was made before): nothing starts.
        let report = await executor.run(plan, deadline: .now)
        #expect(report.actions.map(\.status) == [.deferred, .deferred])
        #expect(report.actions.allSatisfy { $0.message?.contains("order.window") == true })
        #expect(report.failed == 0 && report.blocked == 0 && report.deferred == 2)
        #expect(fleet.calls.count == calls, "nothing was called: \(fleet.calls.dropFirst(calls))")
        #expect(fleet.domain("uuid-a", "h1")?.state == "running")
        // Time enough: both run.
        let later = await executor.run(plan, deadline: .now + .seconds(60))
        #expect(later.actions.map(\.status) == [.done, .done])
    }

    @Test func aMoveWithoutAnEstimatedTimeIsNotStartedInAWindow() {
        var a = Action(instance: "x", kind: .cold, from: "h1", to: "h2", reasons: [], wave: 1, estimate: MoveEstimate(bytes: nil, seconds: nil, downtimeMs: 0))
        #expect(Executor.pastWindow(a, now: .now, deadline: .now + .seconds(3600))?.contains("order.window-unknown") == true)
        a.estimate?.seconds = 1
        #expect(Executor.pastWindow(a, now: .now, deadline: .now + .seconds(3600)) == nil)
        #expect(Executor.pastWindow(a, now: .now, deadline: nil) == nil, "no window: no check")
        let update = Action(instance: "x", kind: .update, from: "h1", to: "h1", reasons: [], wave: 1)
        #expect(Executor.pastWindow(update, now: .now, deadline: .now) == nil, "only moves are held back")
    }
}
