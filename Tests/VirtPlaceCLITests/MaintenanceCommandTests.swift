import Foundation
import Testing
@testable import VirtPlaceCLI

// Issue 19 on the command line: `apply --now NAME` and `--events FILE` are checked before
// anything changes (exit 1), and a maintenance event shows in plan and observe.
@Suite(.serialized) struct MaintenanceCommandTests {
    @Test func nowAndEventsAreCheckedBeforeAnythingChanges() async throws {
        let fleet = try TestDriverFleet()
        defer { fleet.remove() }
        let placement = try fleet.placement("  vm-run: {host: h1, state: stopped}")
        // An unknown --now name: exit 1, and vm-run is not stopped (the state directory is not
        // even created).
        #expect(await fleet.run(["apply", "-f", placement, "--auto-approve", "--now", "vm-rnu"]) == .failure)
        #expect(!FileManager.default.fileExists(atPath: fleet.state + "/journal.jsonl"))
        // --now with a saved plan: a usage error.
        #expect(await fleet.run(["apply", fleet.root + "/saved.json", "--now", "vm-run"]) == .failure)
        // An events file that is a directory (or a FIFO): exit 1, nothing changed.
        try FileManager.default.createDirectory(atPath: fleet.root + "/events-dir", withIntermediateDirectories: true)
        #expect(await fleet.run(["apply", "-f", placement, "--auto-approve", "--events", fleet.root + "/events-dir"]) == .failure)
        #expect(await fleet.run(["reconcile", "-f", placement, "--events", fleet.root + "/events-dir"]) == .failure)
        #expect(mkfifo(fleet.root + "/events.fifo", 0o600) == 0)
        #expect(await fleet.run(["reconcile", "-f", placement, "--events", fleet.root + "/events.fifo"]) == .failure)
        #expect(!FileManager.default.fileExists(atPath: fleet.state + "/journal.jsonl"), "nothing ran")
        // A regular events file: the apply runs (no maintenance move: the file stays empty).
        #expect(await fleet.run(["apply", "-f", placement, "--auto-approve", "--events", fleet.root + "/events.jsonl"]) == .success)
        #expect((try? String(contentsOfFile: fleet.root + "/events.jsonl", encoding: .utf8)) == "")
        #expect(FileManager.default.fileExists(atPath: fleet.state + "/journal.jsonl"), "the apply ran: the journal checks above were not vacuous")
    }

    @Test func aDueDateThatIsNotATimeIsALocatedError() async throws {
        let fleet = try TestDriverFleet()
        defer { fleet.remove() }
        let path = fleet.root + "/bad.yaml"
        try """
        apiVersion: virtplace/v1
        kind: Placement
        metadata: {name: claims}
        hosts:
          h1:
            uri: "test://\(fleet.node)"
            maintenance: {due: "next tuesday"}
        """.write(toFile: path, atomically: false, encoding: .utf8)
        #expect(await fleet.run(["validate", "-f", path]) == .failure)
        #expect(await fleet.run(["reconcile", "-f", path]) == .failure)
    }
}
