import Foundation
import Placement
import Testing
import TestSupport
@testable import Engine

// Issue 15: the convergence controller of live moves. Scripted job statistics, read at exact
// times (a stepping clock: each poll moves time on by the interval, no sleep), meet the
// controller: stalls detected, the downtime raised step by step, then the instance's ladder
// (auto-converge, post-copy, abort and the fallback move) followed.

private let mib: UInt64 = 1 << 20

/// A reading with `remaining` MiB left (and a throttle, when given).
private func reading(_ remaining: UInt64, throttle: Int? = nil) -> MigrationJob {
    MigrationJob(timeElapsedMs: 1000, dataTotal: 128 * mib, dataProcessed: 0, dataRemaining: remaining * mib,
                 memoryTotal: 128 * mib, memoryBps: 8 * mib, memoryDirtyBps: 8 * mib, autoConvergeThrottle: throttle)
}

/// Bulk copy (100 → 20 MiB), then stuck around 20 MiB (noise within 5 %) `flat` readings long.
private func stalling(flat: Int) -> [MigrationJob] {
    [100, 80, 60, 40, 20].map { reading($0) } + (0..<flat).map { reading($0 % 2 == 0 ? 20 : 21) }
}

private func settings(autoConverge: Bool = false, postcopy: Bool = false, timeout: Double = 600) -> ConvergenceController.Settings {
    .init(maxDowntimeMs: 300, downtimeSteps: 4, stallSeconds: 2, timeoutSeconds: timeout, autoConverge: autoConverge, postcopy: postcopy)
}

/// Feeds readings every 0.5 s from `start`; returns the decisions with their times.
private func feed(_ c: inout ConvergenceController, _ readings: [MigrationJob], from start: Double = 0) -> [(Double, ConvergenceController.Action)] {
    var out: [(Double, ConvergenceController.Action)] = []
    for (i, r) in readings.enumerated() {
        let t = start + Double(i + 1) * 0.5
        if let d = c.observe(r, at: t) { out.append((t, d.action)) }
    }
    return out
}

// MARK: The controller alone

@Test func theDowntimeRisesOneStepPerStallThenTheLadderGoesOn() {
    var c = ConvergenceController(settings(autoConverge: true, postcopy: true))
    #expect(c.downtimeMs == 75, "the ramp starts at maxDowntimeMs / downtimeSteps")
    // Lowest 20 MiB at 2.5 s; then no new low: a stall every 2 s.
    let first = feed(&c, stalling(flat: 20))
    #expect(first.map(\.0) == [4.5, 6.5, 8.5, 10.5])
    #expect(first.map(\.1) == [.setDowntime(milliseconds: 150), .setDowntime(milliseconds: 225), .setDowntime(milliseconds: 300),
                               .restartWithAutoConverge])
    #expect(c.downtimeMs == 300)
    c.restarted()
    #expect(c.autoConverging && c.attempt == 2 && c.downtimeMs == 300)
    // While QEMU raises its throttle the copy is still being worked on: no stall. Once the
    // throttle stops rising, a stall takes the next rung: post-copy (allowed).
    let throttled = [100, 60, 30, 20].map { reading($0) } + [20, 30, 40, 50, 60].map { reading(20, throttle: $0) }
        + (0..<8).map { _ in reading(20, throttle: 60) }
    let second = feed(&c, throttled, from: 11)
    #expect(second.map(\.1) == [.startPostCopy])
    #expect(second.map(\.0) == [11 + 13 * 0.5], "2 s after the throttle last rose (at 13.5 s)")
    #expect(c.ended)
    #expect(c.observe(reading(20), at: 30) == nil, "nothing after post-copy")
}

@Test func aStallWithEveryRungTakenAbortsAndNoiseIsNotProgress() {
    var c = ConvergenceController(settings())
    // 20 → 19.5 → 20 → 19.2 …: below the lowest, but never 5 % below it.
    let noisy = [100, 80, 60, 40, 20].map { reading($0) }
        + (0..<30).map { i in MigrationJob(dataRemaining: (20 * mib) - UInt64(i % 3) * (mib / 4)) }
    let decisions = feed(&c, noisy)
    #expect(decisions.map(\.1) == [.setDowntime(milliseconds: 150), .setDowntime(milliseconds: 225), .setDowntime(milliseconds: 300), .abort])
    #expect(c.decisions.last?.cause == .stall)
}

@Test func steadyProgressIsNeverAStallAndTheTimeoutEndsTheLadderWhereverItIs() {
    var c = ConvergenceController(settings(timeout: 20))
    // 1 % less every reading: 5 % every 2.5 s, a new low within every 2 s window or so.
    let slow = (0..<40).map { i in MigrationJob(dataRemaining: UInt64(1000.0 * pow(0.97, Double(i))) * mib) }
    let decisions = feed(&c, slow)
    #expect(decisions.map(\.1) == [.abort], "no stall, then the timeout: abort")
    #expect(decisions.first?.0 == 20)
    #expect(c.decisions.first?.cause == .timeout)
    var p = ConvergenceController(settings(postcopy: true, timeout: 5))
    #expect(feed(&p, stalling(flat: 10)).map(\.1) == [.setDowntime(milliseconds: 150), .startPostCopy], "at the timeout, post-copy when allowed")
    #expect(p.decisions.last?.cause == .timeout && p.decisions.last?.atSeconds == 5)
    // No job reported (between attempts, or it ended): nothing decided before the timeout.
    var q = ConvergenceController(settings())
    #expect(q.observe(nil, at: 100) == nil)
    #expect(q.observe(nil, at: 600)?.action == .abort)
}

@Test func aJobNotStartedYetReportingNothingRemainingIsNotTheLowestLevel() {
    // libvirt reports data_remaining 0 before the first pass is set up (seen on the lab: every
    // stall then said `lowest 0.0 MiB`, and the ramp rose every stallSeconds whatever the copy did).
    var c = ConvergenceController(settings())
    let readings = [MigrationJob(dataRemaining: 0), MigrationJob(dataRemaining: 0)] + (0..<8).map { i in reading(100 - UInt64(i) * 10) }
    #expect(feed(&c, readings).isEmpty, "a steady fall after a zero start is progress")
    let stall = feed(&c, (0..<6).map { _ in reading(30) }, from: 5)
    #expect(stall.map(\.1) == [.setDowntime(milliseconds: 150)])
    #expect(c.decisions.first?.lowestBytes == 30 * mib, "the lowest is the real one")
}

@Test func oneStepOrATinyMaximumStillGivesAPositiveDowntime() {
    #expect(ConvergenceController(.init(maxDowntimeMs: 300, downtimeSteps: 1, stallSeconds: 1, timeoutSeconds: 10,
                                        autoConverge: false, postcopy: false)).downtimeMs == 300)
    #expect(ConvergenceController(.init(maxDowntimeMs: 0, downtimeSteps: 4, stallSeconds: 1, timeoutSeconds: 10,
                                        autoConverge: false, postcopy: false)).downtimeMs == 1)
}

// MARK: Through the executor (fake fleet, stepping clock)

private func livePlan(_ fleet: FakeFleet, live: LiveOverrideSpec, moves: [MoveKind]) -> Plan {
    planFor(placement(["web": InstanceSpec(host: "h2", moves: moves, live: live)], hosts: ["h1", "h2"]), fleet)
}

private func ladder(autoConverge: Bool = false, postcopy: Bool = false) -> LiveOverrideSpec {
    var o = LiveOverrideSpec()
    o.maxDowntimeMs = 300; o.downtimeSteps = 4; o.stallSeconds = 2
    o.autoConverge = autoConverge
    o.onTimeout = postcopy ? .postcopy : .abort
    return o
}

private func decisions(_ events: [ExecutionEvent]) -> [ConvergenceController.Decision] {
    events.compactMap { if case let .convergence(_, d) = $0 { d } else { nil } }
}

@Test func aStalledLiveMoveRaisesTheDowntimeStepByStepThenAbortsAndFallsBackToAReboot() async throws {
    let fleet = FakeFleet(hosts: ["h1", "h2"])
    fleet.add(guest("web"), on: "h1")
    fleet.set { $0.jobScripts["uuid-web"] = [.init(stalling(flat: 40), completes: false)] }
    let plan = livePlan(fleet, live: ladder(), moves: [.live, .reboot])
    let (report, records, events) = try await execute(plan, on: fleet, pollClock: SteppingClock(), jobPollInterval: .milliseconds(500))
    let r = try #require(report.actions.first)
    #expect(r.status == .done && r.kind == .reboot, "\(r.message ?? "") \(r.notes)")
    let (downtimes, ends, flags) = fleet.state.withLock { ($0.downtimes["uuid-web"], $0.attemptEnds["uuid-web"], $0.autoConverge["uuid-web"]) }
    #expect(downtimes == [75, 150, 225, 300], "set at the start, then raised at each stall")
    #expect(ends == ["abortJob"])
    #expect(flags == [false])
    let d = decisions(events)
    #expect(d.map(\.action) == [.setDowntime(milliseconds: 150), .setDowntime(milliseconds: 225), .setDowntime(milliseconds: 300), .abort])
    #expect(d.map(\.atSeconds) == [4.5, 6.5, 8.5, 10.5])
    #expect(d.allSatisfy { $0.cause == .stall && $0.remainingBytes.map { $0 >= 20 * mib } == true })
    #expect(r.notes.contains { $0.hasPrefix("convergence: downtime 75 → 150 → 225 → 300 ms, aborted at 10.5 s (stall)") }, "\(r.notes)")
    #expect(r.notes.contains { $0.contains("fell back to reboot") }, "\(r.notes)")
    #expect(records.contains { $0.op == "fallback" })
    #expect(fleet.domain("uuid-web", "h2")?.state == "running")
    #expect(fleet.domain("uuid-web", "h1") == nil)
}

@Test func theLadderRestartsWithAutoConvergeThenSwitchesToPostCopyAndTheMoveStaysLive() async throws {
    let fleet = FakeFleet(hosts: ["h1", "h2"])
    fleet.add(guest("web"), on: "h1")
    let second = [100, 60, 30, 20].map { reading($0) } + [20, 40, 60].map { reading(20, throttle: $0) }
        + (0..<20).map { _ in reading(20, throttle: 60) }
    fleet.set { $0.jobScripts["uuid-web"] = [.init(stalling(flat: 40), completes: false), .init(second, completes: false)] }
    let plan = livePlan(fleet, live: ladder(autoConverge: true, postcopy: true), moves: [.live, .reboot])
    let (report, _, events) = try await execute(plan, on: fleet, pollClock: SteppingClock(), jobPollInterval: .milliseconds(500))
    let r = try #require(report.actions.first)
    #expect(r.status == .done && r.kind == .live, "\(r.message ?? "") \(r.notes)")
    let (downtimes, ends, flags) = fleet.state.withLock { ($0.downtimes["uuid-web"], $0.attemptEnds["uuid-web"], $0.autoConverge["uuid-web"]) }
    #expect(downtimes == [75, 150, 225, 300, 300], "the second attempt starts at the largest downtime")
    #expect(ends == ["abortJob", "startPostCopy"])
    #expect(flags == [false, true], "auto-converge only in the second attempt")
    let d = decisions(events)
    #expect(d.map(\.action) == [.setDowntime(milliseconds: 150), .setDowntime(milliseconds: 225), .setDowntime(milliseconds: 300),
                                .restartWithAutoConverge, .startPostCopy])
    #expect(d.map(\.attempt) == [1, 1, 1, 1, 2])
    // Attempt 2's readings start at 11 s; the throttle last rose at 11 + 6 × 0.5 = 14 s.
    #expect(d.map(\.atSeconds) == [4.5, 6.5, 8.5, 10.5, 16])
    #expect(fleet.calls.filter { $0.hasPrefix("shutdown") }.isEmpty, "never shut down: the move stayed live")
    #expect(fleet.domain("uuid-web", "h2")?.state == "running")
}

@Test func aMoveThatConvergesOnceTheDowntimeWasRaisedFinishesLiveAtThatDowntime() async throws {
    let fleet = FakeFleet(hosts: ["h1", "h2"])
    fleet.add(guest("web"), on: "h1")
    // Stuck at 20 MiB until the first raise (at 4.5 s), then down to nothing: converged.
    let script = stalling(flat: 4) + [10, 5, 1].map { reading($0) }
    fleet.set { $0.jobScripts["uuid-web"] = [.init(script, completes: true)] }
    let plan = livePlan(fleet, live: ladder(autoConverge: true, postcopy: true), moves: [.live, .reboot])
    let (report, _, events) = try await execute(plan, on: fleet, pollClock: SteppingClock(), jobPollInterval: .milliseconds(500))
    let r = try #require(report.actions.first)
    #expect(r.status == .done && r.kind == .live, "\(r.message ?? "")")
    #expect(fleet.state.withLock { $0.downtimes["uuid-web"] } == [75, 150])
    #expect(decisions(events).map(\.action) == [.setDowntime(milliseconds: 150)])
    #expect(r.notes.contains("convergence: downtime 75 → 150 ms"), "\(r.notes)")
}

@Test func aStallAfterEveryRungWithoutAFallbackLeavesTheGuestRunningOnItsSource() async throws {
    let fleet = FakeFleet(hosts: ["h1", "h2"])
    fleet.add(guest("web"), on: "h1")
    fleet.set { $0.jobScripts["uuid-web"] = [.init(stalling(flat: 40), completes: false)] }
    let plan = livePlan(fleet, live: ladder(), moves: [.live])
    let (report, _, _) = try await execute(plan, on: fleet, pollClock: SteppingClock(), jobPollInterval: .milliseconds(500))
    let r = try #require(report.actions.first)
    #expect(r.status == .failed)
    #expect(r.message?.contains("did not converge (stalled") == true, "\(r.message ?? "")")
    #expect(fleet.domain("uuid-web", "h1")?.state == "running")
    #expect(fleet.domain("uuid-web", "h2") == nil)
}
