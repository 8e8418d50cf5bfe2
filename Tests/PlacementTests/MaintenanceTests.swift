import Foundation
import Testing
import YAMLDecoding
@testable import Placement

/// Maintenance events: the times they carry, their validation, and the planning rules
/// (PlannerMaintenance.swift).
@Suite struct MaintenanceTests {
    // MARK: times

    @Test(arguments: [
        ("2026-12-20", Int64(1_797_724_800)),
        ("2026-12-20T06:00:00Z", Int64(1_797_746_400)),
        ("2026-12-20T06:00Z", Int64(1_797_746_400)),
        ("2026-12-20T08:00:00+02:00", Int64(1_797_746_400)),
        ("2026-12-19T23:30:00-06:30", Int64(1_797_746_400)),
        ("2000-02-29T00:00:00Z", Int64(951_782_400)),
        ("2999-12-31T23:59:59Z", Int64(32_503_679_999)),
    ])
    func validTimesParse(_ text: String, _ seconds: Int64) {
        #expect(MaintenanceTime.parse(text) == seconds)
    }

    @Test(arguments: [
        "", "tomorrow", "2026-12-32", "2026-02-29", "2026-13-01", "1999-12-31", "3000-01-01",
        "2026-12-20T24:00:00Z", "2026-12-20T06:60Z", "2026-12-20T06:00:60Z", "2026-12-20T06:00:00",
        "2026-12-20T06:00:00+2", "2026-12-20 06:00:00Z", "2026-12-20T06:00:00Z ", "+2026-12-20",
        "2026-1-20", "20261220", String(repeating: "9", count: 100),
    ])
    func invalidTimesAreRefused(_ text: String) {
        #expect(MaintenanceTime.parse(text) == nil)
    }

    @Test func formatIsUTCAndRoundTrips() {
        for t: Int64 in [951_782_400, 1_797_746_400, 32_503_679_999] {
            #expect(MaintenanceTime.parse(MaintenanceTime.format(t)) == t)
        }
        #expect(MaintenanceTime.format(1_797_746_400) == "2026-12-20T06:00:00Z")
    }

    // MARK: validation

    func load(_ text: String) -> LoadResult {
        loadPlacement([PlacementSource(name: "m.yaml", bytes: Array(text.utf8))])
    }

    @Test func maintenanceDecodesWithLocatedErrors() {
        let result = load("""
        metadata: {name: lab}
        hosts:
          host1:
            uri: qemu+tcp://127.0.0.11/system
            maintenance: {due: "2026-12-40", reason: "firmware"}
          host2:
            uri: qemu+tcp://127.0.0.12/system
            maintenance: {due: 2026-12-20T06:00:00Z, reson: x}
          host3:
            uri: qemu+tcp://127.0.0.13/system
            maintenance: {reason: "no due"}
        instances:
          a: {host: host1, maintenance: {afterMove: stoped}}
          b: {maintenance: {proactive: yes please}}
        """)
        #expect(result.diagnostics.map(\.formatted) == [
            "m.yaml:5:24: error: hosts.host1.maintenance.due: invalid due time '2026-12-40': expected \(MaintenanceTime.rule)",
            "m.yaml:8:46: error: hosts.host2.maintenance.reson: unknown key 'reson' (did you mean 'reason'?)",
            "m.yaml:11:18: error: hosts.host3.maintenance: missing required key 'due'",
            "m.yaml:13:13: warning: instances.a.host: host 'host1' is under maintenance: the instance is placed elsewhere until the maintenance entry is removed",
            "m.yaml:13:45: error: instances.a.maintenance.afterMove: expected one of previous, stopped, found 'stoped' (did you mean 'stopped'?)",
            "m.yaml:14:32: error: instances.b.maintenance.proactive: expected true or false, found 'yes please'",
        ])
        #expect(result.spec == nil)
    }

    @Test func aValidEventLoadsAndWarnsAboutInstancesDeclaredThere() throws {
        let result = load("""
        metadata: {name: lab}
        storage: {sharedPools: [shared]}
        hosts:
          host1:
            uri: qemu+tcp://127.0.0.11/system
            maintenance: {due: "2026-12-20T08:00:00+02:00", reason: "firmware update"}
          host2: {uri: qemu+tcp://127.0.0.12/system}
        instances:
          a: {host: host1, maintenance: {afterMove: stopped, proactive: true}}
        """)
        let spec = try #require(result.spec)
        #expect(spec.hosts["host1"]?.maintenance == MaintenanceSpec(due: "2026-12-20T08:00:00+02:00", reason: "firmware update"))
        #expect(spec.hosts["host1"]?.maintenance?.dueSeconds == 1_797_746_400)
        #expect(spec.instances["a"]?.maintenance == InstanceMaintenanceSpec(afterMove: .stopped, proactive: true))
        #expect(result.diagnostics.map(\.formatted).contains {
            $0.contains("warning: instances.a.host: host 'host1' is under maintenance")
        })
    }

    @Test func aReasonWithAControlCharacterIsRefused() {
        let result = load("""
        metadata: {name: lab}
        hosts:
          host1:
            uri: qemu+tcp://127.0.0.11/system
            maintenance: {due: "2026-12-20", reason: "a\\u0007b"}
        """)
        #expect(result.diagnostics.map(\.formatted).contains { $0.contains("hosts.host1.maintenance.reason") }, "\(result.diagnostics)")
    }

    // MARK: planning rules

    static let due: Int64 = 1_797_746_400  // 2026-12-20T06:00:00Z
    static let before = PlanningClock(now: due - 86_400)
    static let after = PlanningClock(now: due + 1)

    /// host1 under maintenance with three guests: `live` (may go live), `reboot` (may not:
    /// moves [reboot, manual]), `off` (shut off); host2 and host3 take them.
    func fleet(extra: [String: InstanceSpec] = [:]) -> (PlacementSpec, ObservedFleet) {
        let observed = ObservedFleet(hosts: [
            host("host1", fd: "fd-1", domains: [dom("live"), dom("reboot"), dom("off", state: "shutoff")]),
            host("host2", fd: "fd-2"),
            host("host3", fd: "fd-1"),
        ])
        var instances: [String: InstanceSpec] = [
            "live": InstanceSpec(), "reboot": InstanceSpec(moves: [.reboot, .manual]), "off": InstanceSpec(),
        ]
        instances.merge(extra) { _, new in new }
        var desired = spec(observed, instances: instances)
        desired.hosts["host1"]?.maintenance = MaintenanceSpec(due: "2026-12-20T06:00:00Z", reason: "firmware")
        return (desired, observed)
    }

    func status(_ plan: Plan, _ instance: String) -> Note? {
        plan.notes.first { $0.instance == instance && $0.code.rawValue.hasPrefix("maintenance.") }
    }

    @Test func beforeTheDueDateLiveAndColdMoveAndTheRebootWaits() throws {
        let (desired, observed) = fleet()
        let plan = makePlan(desired: desired, observed: observed, clock: Self.before)
        let live = try #require(plan.action("live"))
        #expect(live.kind == .live && live.isScheduled && live.to != "host1")
        #expect(live.fallback == nil, "no reboot fallback before the due date")
        #expect(live.causes.map(\.code) == [.placeMaintenance])
        let off = try #require(plan.action("off"))
        #expect(off.kind == .cold && off.isScheduled)
        let reboot = try #require(plan.action("reboot"))
        #expect(reboot.kind == .reboot && reboot.deferred && !reboot.isScheduled && reboot.steps.isEmpty)
        #expect(reboot.reasons.contains { $0.code == .orderDeferred && $0.message.hasPrefix("reboot due 2026-12-20T06:00:00Z") })
        #expect(status(plan, "live")?.code == .maintenancePendingLive)
        #expect(status(plan, "off")?.code == .maintenancePendingCold)
        #expect(status(plan, "reboot")?.code == .maintenanceDue)
        #expect(status(plan, "reboot")?.message.hasPrefix("reboot due 2026-12-20T06:00:00Z") == true)
        #expect(plan.summary.deferred == 1 && plan.summary.blocked == 0)
        let text = render(plan, format: .text, color: false, verbose: false)
        #expect(text.contains("Maintenance:\n") && text.contains("reboot: reboot due 2026-12-20T06:00:00Z"), "\(text)")
        let markdown = render(plan, format: .markdown, color: false, verbose: false)
        #expect(markdown.contains("| Maintenance | Status |\n| --- | --- |\n"), "\(markdown)")
        #expect(markdown.contains("| `reboot` | reboot due 2026-12-20T06:00:00Z"), "\(markdown)")
        #expect(markdown.contains("| reboot (deferred) | `reboot` |"), "\(markdown)")
    }

    @Test func observeShowsAMoveTheJournalHasBegunAsInProgress() {
        let (desired, observed) = fleet()
        let plan = makePlan(desired: desired, observed: observed, clock: Self.before)
        let text = renderMaintenanceStatus(plan, inProgress: ["live"])
        #expect(text.hasPrefix("\nMaintenance:\n"))
        #expect(text.contains("  live: in progress ("))
        #expect(text.contains("  reboot: reboot due 2026-12-20T06:00:00Z"))
        #expect(text.contains("  off: pending cold to "))
        #expect(renderMaintenanceStatus(makePlan(desired: spec(observed, instances: [:]), observed: observed)) == "")
    }

    @Test func fromTheDueDateTheRebootRuns() throws {
        let (desired, observed) = fleet()
        let plan = makePlan(desired: desired, observed: observed, clock: Self.after)
        let reboot = try #require(plan.action("reboot"))
        #expect(reboot.kind == .reboot && reboot.isScheduled)
        #expect(reboot.steps.contains { $0.op == "start" }, "running before: started again on the target")
        #expect(status(plan, "reboot")?.code == .maintenancePendingReboot)
        #expect(plan.action("live")?.fallback?.kind == .reboot, "from the due date a failed live move falls back")
    }

    @Test func noClockMeansNotDue() throws {
        let (desired, observed) = fleet()
        let plan = makePlan(desired: desired, observed: observed)
        #expect(plan.action("reboot")?.deferred == true)
    }

    @Test func proactiveAndNowMoveEarly() throws {
        let (desired, observed) = fleet(extra: ["reboot": InstanceSpec(moves: [.reboot], maintenance: .init(proactive: true))])
        let plan = makePlan(desired: desired, observed: observed, clock: Self.before)
        #expect(plan.action("reboot")?.isScheduled == true)
        #expect(status(plan, "reboot")?.message.contains("moved early (proactive)") == true)

        let (d2, o2) = fleet()
        var clock = Self.before
        clock.moveNow = ["reboot"]
        let now = makePlan(desired: d2, observed: o2, clock: clock)
        #expect(now.action("reboot")?.isScheduled == true)
        #expect(status(now, "reboot")?.message.contains("moved early (--now)") == true)
    }

    @Test func afterMoveStoppedShutsDownAndMovesColdAtTheDueDate() throws {
        let (desired, observed) = fleet(extra: ["live": InstanceSpec(maintenance: .init(afterMove: .stopped))])
        let before = makePlan(desired: desired, observed: observed, clock: Self.before)
        #expect(before.action("live")?.deferred == true, "a stop is downtime: it waits for the due date")
        #expect(status(before, "live")?.code == .maintenanceDue)
        let after = makePlan(desired: desired, observed: observed, clock: Self.after)
        let action = try #require(after.action("live"))
        #expect(action.kind == .cold && action.isScheduled)
        #expect(action.steps.contains { $0.op == "shutdown" } && !action.steps.contains { $0.op == "start" })
    }

    @Test func nothingNewGoesToAHostUnderMaintenance() throws {
        let observed = ObservedFleet(hosts: [
            host("host1", fd: "fd-1"),
            host("host2", fd: "fd-2", domains: [dom("a")]),
        ])
        var desired = spec(observed, states: ["host2": .drained], instances: ["a": InstanceSpec()])
        desired.hosts["host1"]?.maintenance = MaintenanceSpec(due: "2026-12-20")
        let plan = makePlan(desired: desired, observed: observed, clock: Self.before)
        let a = try #require(plan.action("a"))
        #expect(a.kind == .blocked)
        #expect(a.reasons.contains { $0.code == .targetMaintenance }, "\(a.reasons)")
    }

    @Test func removingTheEventBringsPinnedInstancesBack() throws {
        let observed = ObservedFleet(hosts: [
            host("host1", fd: "fd-1"),
            host("host2", fd: "fd-2", domains: [dom("a"), dom("b")]),
        ])
        let instances = ["a": InstanceSpec(host: "host1"), "b": InstanceSpec()]
        var during = spec(observed, instances: instances)
        during.hosts["host1"]?.maintenance = MaintenanceSpec(due: "2026-12-20")
        let held = makePlan(desired: during, observed: observed, clock: Self.before)
        #expect(held.actions.isEmpty)
        #expect(held.notes.contains { $0.instance == "a" && $0.code == .placeHeld && $0.message.contains("under maintenance") })

        let ended = makePlan(desired: spec(observed, instances: instances), observed: observed, clock: Self.before)
        #expect(ended.action("a")?.kind == .live && ended.action("a")?.to == "host1")
        #expect(ended.action("b") == nil, "an instance without host: stays where the event put it")
    }

    @Test func extendingTheDueDatePostponesTheReboot() throws {
        var (desired, observed) = fleet()
        desired.hosts["host1"]?.maintenance?.due = "2026-12-27T06:00:00Z"
        let plan = makePlan(desired: desired, observed: observed, clock: Self.after)
        #expect(plan.action("reboot")?.deferred == true)
        #expect(status(plan, "reboot")?.message.hasPrefix("reboot due 2026-12-27T06:00:00Z") == true)
    }

    @Test func aMoveTheFileDeclaresDoesNotWaitForTheDueDate() throws {
        let (desired, observed) = fleet(extra: ["reboot": InstanceSpec(host: "host2", moves: [.reboot])])
        let plan = makePlan(desired: desired, observed: observed, clock: Self.before)
        #expect(plan.action("reboot")?.isScheduled == true && plan.action("reboot")?.to == "host2")
        #expect(status(plan, "reboot")?.message.hasPrefix("pending reboot to host2, as the file declares it elsewhere") == true)
    }

    @Test func anInstanceNothingCanMoveNeedsManualMigration() throws {
        let (desired, observed) = fleet(extra: ["reboot": InstanceSpec(moves: [.cold])])
        let plan = makePlan(desired: desired, observed: observed, clock: Self.after)
        #expect(plan.action("reboot")?.kind == .blocked)
        #expect(status(plan, "reboot")?.code == .maintenanceManualNeeded)
        #expect(status(plan, "reboot")?.message.hasPrefix("failed: manual migration needed") == true)
    }
}

/// A reason case on `twoHosts` with a maintenance event on `host` (due 2026-12-20, not yet
/// reached: the reason-code table plans without a clock).
func maintenanceCase(_ code: ReasonCode, _ name: String, on host: String, _ observed: ObservedFleet,
                     _ instances: [String: InstanceSpec], _ expected: [Expect]) -> ReasonCase {
    var s = scenario(name, observed, instances, expected)
    var desired = s.spec
    desired.hosts[host]?.maintenance = MaintenanceSpec(due: "2026-12-20", reason: "firmware")
    s = Scenario(name: s.name, spec: desired, observed: s.observed, expected: s.expected)
    return ReasonCase(code: code, scenario: s)
}

let maintenanceReasonCases: [ReasonCase] = [
    maintenanceCase(.placeMaintenance, "host under maintenance", on: "h1", twoHosts([dom("web-1")]), ["web-1": InstanceSpec()],
                    [expect(.live, "web-1", "h1", "h2", .placeMaintenance)]),
    maintenanceCase(.targetMaintenance, "the only host of the fault domain under maintenance", on: "h2", twoHosts([dom("web-1")]),
                    ["web-1": InstanceSpec(faultDomain: "fd-2")], [expect(.blocked, "web-1", "h1", nil, .targetMaintenance)]),
    maintenanceCase(.maintenancePendingLive, "a live-eligible instance", on: "h1", twoHosts([dom("web-1")]), ["web-1": InstanceSpec()],
                    [expect(.live, "web-1", "h1", "h2")]),
    maintenanceCase(.maintenancePendingCold, "a shut-off instance", on: "h1", twoHosts([dom("web-1", state: "shutoff")]),
                    ["web-1": InstanceSpec()], [expect(.cold, "web-1", "h1", "h2")]),
    maintenanceCase(.maintenancePendingReboot, "an instance moved early", on: "h1", twoHosts([dom("web-1")]),
                    ["web-1": InstanceSpec(moves: [.reboot], maintenance: .init(proactive: true))], [expect(.reboot, "web-1", "h1", "h2")]),
    maintenanceCase(.maintenanceDue, "an instance that cannot go live", on: "h1", twoHosts([dom("web-1")]),
                    ["web-1": InstanceSpec(moves: [.reboot])], [expect(.reboot, "web-1", "h1", "h2", deferred: true)]),
    maintenanceCase(.maintenanceManualNeeded, "a running instance allowed only cold moves", on: "h1", twoHosts([dom("web-1")]),
                    ["web-1": InstanceSpec(moves: [.cold])], [expect(.blocked, "web-1", "h1", nil)]),
]
