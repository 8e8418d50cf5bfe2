import Engine
import Foundation
import Testing
@testable import VirtPlaceCLI

/// apply and reconcile rotate a large journal before anything reads it (against libvirt's
/// test driver, in-process: no daemon).
@Suite(.serialized) struct JournalRotationCommandTests {
    /// A state directory whose journal holds `bytes` of finished moves and one volume that
    /// virtplace created, and a placement of the test driver's one domain.
    func prepare(bytes: Int) throws -> (state: String, placement: String) {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("vp-rotate-\(UUID().uuidString)").path
        let state = root + "/state"
        try FileManager.default.createDirectory(atPath: state, withIntermediateDirectories: true)
        // Written at once: `Journal.append` would fsync every one of some 25 000 records.
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        var text = Data()
        var index = 0
        while text.count <= bytes {
            for entry in [JournalEntry.step(StepEntry(index: 0, step: .start(host: "h1"), phase: .intent)),
                          .step(StepEntry(index: 0, step: .start(host: "h1"), phase: .done)), .finished(FinishedEntry())] {
                text += try encoder.encode(JournalRecord(time: "t", run: "old", instance: "vm-\(index)", uuid: "u", kind: .live, entry: entry))
                text += Data("\n".utf8)
            }
            index += 1
        }
        for record in [
            JournalRecord(time: "t", run: "old", instance: "arch", uuid: "u", kind: .cold,
                          entry: .createVolume(VolumeEntry(phase: .done, host: "h1", pool: "local", volume: "a.img"))),
            JournalRecord(time: "t", run: "old", instance: "arch", uuid: "u", kind: .cold, entry: .finished(FinishedEntry())),
        ] {
            text += try encoder.encode(record) + Data("\n".utf8)
        }
        try text.write(to: URL(fileURLWithPath: state + "/journal.jsonl"))
        let placement = root + "/placement.yaml"
        try """
        apiVersion: virtplace/v1
        kind: Placement
        metadata: {name: rotation}
        hosts:
          h1: {uri: "test:///default"}
        instances:
          test: {host: h1}
        """.write(toFile: placement, atomically: false, encoding: .utf8)
        return (state, placement)
    }

    func check(_ state: String) {
        let fresh = Array(Journal.records(path: state + "/journal.jsonl"))
        #expect(FileManager.default.fileExists(atPath: state + "/journal.jsonl.1"))
        #expect(fresh.first?.phase == .carried && fresh.first?.entry == .createVolume(
            VolumeEntry(phase: .carried, host: "h1", pool: "local", volume: "a.img", carriedFrom: "old")))
        #expect(Set(Journal.createdVolumes(fresh).keys) == ["h1/local/a.img"])
        #expect(Journal.unfinishedActions(fresh).isEmpty)
        #expect(Array(Journal.records(path: state + "/journal.jsonl.1")).count > 20_000)
    }

    @Test func applyRotatesALargeJournal() async throws {
        let (state, placement) = try prepare(bytes: Journal.rotationSize + 1)
        defer { try? FileManager.default.removeItem(atPath: (state as NSString).deletingLastPathComponent) }
        let code = await VirtPlace.run(arguments: ["apply", "-q", "--no-color", "--auto-approve", "--state-dir", state, "-f", placement],
                                       environment: ["VIRTPLACE_ALLOW_TEST_DRIVER": "1"])
        #expect(code == .success)
        check(state)
    }

    @Test func reconcileRotatesALargeJournal() async throws {
        let (state, placement) = try prepare(bytes: Journal.rotationSize + 1)
        defer { try? FileManager.default.removeItem(atPath: (state as NSString).deletingLastPathComponent) }
        let code = await VirtPlace.run(arguments: ["reconcile", "-q", "--state-dir", state, "-f", placement], environment: ["VIRTPLACE_ALLOW_TEST_DRIVER": "1"])
        #expect(code == .success)
        check(state)
    }

    @Test func aDryRunLeavesTheJournalAlone() async throws {
        let (state, placement) = try prepare(bytes: Journal.rotationSize + 1)
        defer { try? FileManager.default.removeItem(atPath: (state as NSString).deletingLastPathComponent) }
        let before = try Data(contentsOf: URL(fileURLWithPath: state + "/journal.jsonl"))
        let code = await VirtPlace.run(arguments: ["apply", "-q", "--no-color", "--dry-run", "--state-dir", state, "-f", placement],
                                       environment: ["VIRTPLACE_ALLOW_TEST_DRIVER": "1"])
        #expect(code == .success)
        #expect(try Data(contentsOf: URL(fileURLWithPath: state + "/journal.jsonl")) == before)
        #expect(!FileManager.default.fileExists(atPath: state + "/journal.jsonl.1"))
    }
}
