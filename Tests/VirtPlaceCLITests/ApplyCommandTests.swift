import Engine
import Placement
import Testing
@testable import VirtPlaceCLI

@Suite struct ApplyCommandTests {
    func parse(_ args: [String]) throws -> ApplyCommand {
        let parsed = try parseArguments(args, options: ApplyCommand.allOptions, command: "apply")
        let common = try CommonOptions(parsed, environment: ["VIRTPLACE_STATE_DIR": "/tmp/x"], command: "apply")
        return try ApplyCommand(arguments: parsed, common: common)
    }

    @Test func filesOrAPlanFile() throws {
        let a = try parse(["-f", "p.yaml", "-f", "hosts.yaml", "--auto-approve"])
        #expect(a.source == .files(["p.yaml", "hosts.yaml"]))
        #expect(a.autoApprove && !a.dryRun)
        let b = try parse(["saved.json", "--dry-run"])
        #expect(b.source == .planFile("saved.json"))
        #expect(b.dryRun)
        // With -f as well: the placement the plan must have been made from.
        let c = try parse(["saved.json", "-f", "p.yaml", "-f", "hosts.yaml"])
        #expect(c.source == .planFile("saved.json", madeFrom: ["p.yaml", "hosts.yaml"]))
    }

    static let bad: [([String], String)] = [
        ([], "missing -f PATH (a placement) or PLANFILE (a saved plan)"),
        (["a.json", "b.json"], "unexpected argument 'b.json' (apply takes one PLANFILE)"),
        (["-f", "-", "-f", "-"], "standard input (-) can be read only once"),
    ]

    @Test(arguments: bad)
    func usageErrors(_ args: [String], _ message: String) {
        #expect(throws: UsageError(message: message, command: "apply")) { try parse(args) }
    }

    @Test func theDryRunListsEveryStepByWave() {
        let plan = Plan(fleet: "lab", basis: Basis(digest: "", hosts: [], domains: []), actions: [
            Action(instance: "web-1", kind: .live, from: "host1", to: "host2", reasons: [],
                   steps: [.record(host: "host1"), .setAutostart(host: "host2", enabled: true)], wave: 1),
            Action(instance: "app-1", kind: .update, from: "host2", to: "host2", reasons: [],
                   steps: [.setMemory(host: "host2", memoryMiB: 256, applies: .restart)], wave: 2),
        ], summary: Summary())
        let console = Console(environment: ["NO_COLOR": "1"], noColor: true, verbose: false, quiet: false)
        let text = renderDryRun(plan, console: console)
        #expect(text.contains("Dry run: nothing is changed."))
        #expect(text.contains("wave 1:\n  live web-1 host1 → host2\n    1. record the definition on host1\n    2. enable autostart on host2\n"))
        #expect(text.contains("wave 2:\n  update app-1 host2\n    1. set memory to 256 MiB on host2 (at next (re)start)\n"))
    }

    @Test func theSummaryGivesElapsedAndDowntimePerMove() {
        let report = ExecutionReport(actions: [
            ActionReport(instance: "web-1", kind: .live, from: "host1", to: "host2", status: .done, elapsedSeconds: 2.5,
                         migrationMs: 812, downtimeMs: 153),
            ActionReport(instance: "arch-1", kind: .cold, from: "host2", to: "host1", status: .done, elapsedSeconds: 4,
                         notes: ["source copy kept: host2 local/a.img"]),
            ActionReport(instance: "db-1", kind: .reboot, from: "host1", to: "host3", status: .failed, message: "shutdown: gave up"),
        ], run: "r")
        let console = Console(environment: ["NO_COLOR": "1"], noColor: true, verbose: false, quiet: false)
        let text = renderApplySummary(report, plan: Plan(fleet: "lab", basis: Basis(digest: "", hosts: [], domains: []),
                                                         actions: [], summary: Summary()), console: console)
        #expect(text.contains("web-1   live    host1 → host2  done  elapsed 2.50 s, downtime 153 ms (migration job 812 ms)"))
        #expect(text.contains("note: source copy kept: host2 local/a.img"))
        #expect(text.contains("db-1    reboot  host1 → host3  failed: shutdown: gave up"))
        #expect(text.contains("Apply finished with problems: 2 done, 1 failed, 0 blocked."))
    }
}
