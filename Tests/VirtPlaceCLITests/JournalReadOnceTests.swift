import Foundation
import Testing
@testable import Engine
@testable import VirtPlaceCLI

// A run reads its journal once: apply, a dry run, a reconcile pass and plan each open it for
// reading one time (counted by the debug build's `JournalLines.reads`), whatever recovery,
// rotation and the executor need of it. A journal the release before the typed journal wrote
// (format 0) goes on with records of this one.

@Suite struct JournalReadOnceTests {
    /// A state directory whose journal (format 0) holds a finished move, a volume virtplace
    /// created, and a move that changed nothing before its run died; the placement has the
    /// test driver's host and no instance (nothing else in the process is raced).
    func prepare() throws -> (root: String, state: String, placement: String) {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("vp-read-once-\(UUID().uuidString)").path
        let state = root + "/state"
        try FileManager.default.createDirectory(atPath: state, withIntermediateDirectories: true)
        // The action as that release wrote it: a JSON string inside the record.
        let action = #""{\"deferred\":false,\"fallback\":null,\"from\":\"h1\",\"instance\":\"gone\",\"kind\":\"manual\",\"reasons\":[],\"steps\":[{\"host\":\"h1\",\"op\":\"record\"}],\"to\":\"h1\",\"wave\":1}""#
        let lines = [
            #"{"action":"live","detail":{},"instance":"a","op":"","phase":"finished","run":"old","step":-1,"time":"t"}"#,
            #"{"action":"cold","detail":{"for":"transferVolume","host":"h1","pool":"local","volume":"a.img"},"instance":"arch","op":"createVolume","phase":"done","run":"old","step":-1,"time":"t","uuid":"u"}"#,
            #"{"action":"manual","detail":{"action":"# + action + #","host":"h1","hosts":"h1","origin":"old"},"instance":"gone","op":"record","phase":"intent","run":"old","step":0,"time":"t","uuid":"0b8f3c2e-8d1a-4a51-9c59-6e0f4f1f0c11"}"#,
        ]
        try Data((lines.joined(separator: "\n") + "\n").utf8).write(to: URL(fileURLWithPath: state + "/journal.jsonl"))
        let placement = root + "/placement.yaml"
        try """
        apiVersion: virtplace/v1
        kind: Placement
        metadata: {name: read-once}
        hosts:
          h1: {uri: "test:///default"}
        instances: {}
        """.write(toFile: placement, atomically: false, encoding: .utf8)
        return (root, state, placement)
    }

    func reads(_ state: String) -> Int { JournalLines.reads.withLock { $0[state + "/journal.jsonl"] ?? 0 } }

    @Test(arguments: ["apply", "dry-run", "reconcile", "plan"])
    func aRunReadsItsJournalOnce(_ command: String) async throws {
        let (root, state, placement) = try prepare()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let arguments: [String] = switch command {
        case "apply": ["apply", "-q", "--no-color", "--auto-approve", "--state-dir", state, "-f", placement]
        case "dry-run": ["apply", "-q", "--no-color", "--dry-run", "--state-dir", state, "-f", placement]
        case "reconcile": ["reconcile", "-q", "--state-dir", state, "-f", placement]
        default: ["plan", "-q", "--no-color", "--state-dir", state, "-f", placement]
        }
        let code = await VirtPlace.run(arguments: arguments, environment: ["VIRTPLACE_ALLOW_TEST_DRIVER": "1"])
        #expect(code == .success)
        #expect(reads(state) == 1, "\(command) read the journal \(reads(state)) times")
        let after = try Journal.load(path: state + "/journal.jsonl")
        #expect(after.unreadable.isEmpty && after.ownVolumes == ["h1/local/a.img"])
        // The move that changed nothing is given up (apply, reconcile), in this release's format.
        let recovers = command == "apply" || command == "reconcile"
        #expect(after.unfinished.isEmpty == recovers, "\(after.unfinished.map(\.instance))")
        if recovers {
            let last = try String(contentsOfFile: state + "/journal.jsonl", encoding: .utf8).split(separator: "\n").last ?? ""
            #expect(last.contains(#""entry":"abandoned""#) && last.contains(#""v":1"#) && last.contains(#""instance":"gone""#), "\(last)")
        }
    }
}
