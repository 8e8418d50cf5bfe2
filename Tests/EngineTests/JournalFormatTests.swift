import Foundation
import Placement
import YAMLDecoding
import Testing
import TestSupport
@testable import Engine

// The typed journal: every kind of record round-trips through its line, carries its format,
// names a volume's pool and volume apart, and nests the action as an object; a newer format
// is refused where it stands; the move's record files are read as the journal is.

private let planned = Action(instance: "vm", kind: .manual, from: "h1", to: "h2", reasons: [],
                             steps: [.record(host: "h1"), .transferVolume(pool: "local", volume: "vm.img", from: "h1", to: "h2")], wave: 1)

let journalEntries: [JournalEntry] = [
    .step(StepEntry(index: 0, step: .record(host: "h1"), phase: .intent, origin: "r0", action: planned)),
    .step(StepEntry(index: 1, step: .transferVolume(pool: "local", volume: "vm.img", from: "h1", to: "h2"), phase: .done,
                    definition: "/s/records/u/r0-h1.xml", result: "copied", seconds: 1.5)),
    .step(StepEntry(index: 3, step: .shutdown(host: "h1", timeoutSeconds: 5, forceOff: true), phase: .skipped, why: "shut off")),
    .step(StepEntry(index: 4, step: liveStep("h1", "h2"), phase: .failed, seconds: 0.25)),
    .step(StepEntry(index: 5, step: .attachNIC(host: "h2", nic: NICAttachment(key: nil, network: "lan", bridge: nil, mac: "52:54:00:00:00:01",
                                                                            model: "virtio"), applies: .restart), phase: .intent)),
    .createVolume(VolumeEntry(phase: .intent, host: "h2", pool: "local", volume: "vm.img", purpose: "transferVolume")),
    .createVolume(VolumeEntry(phase: .carried, host: "h2", pool: "local", volume: "vm.img", purpose: "transferVolume", carriedFrom: "r0")),
    .deleteVolume(VolumeEntry(phase: .done, host: "h2", pool: "local", volume: "vm.img", why: "incomplete copy")),
    .fallback(to: .reboot),
    .rollBack(RollBackEntry(phase: .done, from: "h1", to: "h2", origin: "r0", definition: "/s/x.xml", result: "started again on h1")),
    .finished(FinishedEntry(seconds: 3.25, downtimeMs: 42, migrationMs: 900, notes: ["a", "b; c"])),
    .abandoned(AbandonedEntry(failedStep: 2, rolledBack: "nothing had changed")),
    .abandoned(AbandonedEntry(origin: "r0")),
]

@Test("every kind of record round-trips through its line", arguments: journalEntries.indices)
func aRecordRoundTrips(_ index: Int) throws {
    let record = JournalRecord(time: "t", run: "r1", instance: "vm", uuid: "u", kind: .manual, entry: journalEntries[index],
                               error: index % 2 == 0 ? "why" : nil)
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    let line = try encoder.encode(record)
    #expect(try JSONDecoder().decode(JournalRecord.self, from: line) == record)
    let object = try #require(try JSONSerialization.jsonObject(with: line) as? [String: Any])
    #expect(object["v"] as? Int == JournalRecord.format)
    #expect(object["detail"] == nil)
    switch record.entry {
    case .step(let e):
        let step = try #require(object["step"] as? [String: Any])
        #expect(step["op"] as? String == e.op)
        if case .transferVolume = e.step { #expect(step["pool"] as? String == "local" && step["volume"] as? String == "vm.img") }
        if e.action != nil { #expect(object["action"] is [String: Any], "the action is an object, not a string") }
    case .createVolume, .deleteVolume:
        #expect(object["pool"] as? String == "local" && object["volume"] as? String == "vm.img")
    default:
        break
    }
}

/// A format-0 record that does not hold what its kind needs is an unreadable line, located;
/// the action-level records of that format convert to their typed entries.
@Test func formatZeroRecordsConvertToTheirEntries() throws {
    func decode(_ line: String) throws -> JournalRecord { try JSONDecoder().decode(JournalRecord.self, from: Data(line.utf8)) }
    let volume = try decode(#"{"action":"cold","detail":{"for":"transferVolume","host":"h2","pool":"local","volume":"a.img"},"instance":"arch","op":"createVolume","phase":"intent","run":"r","step":-1,"time":"t","uuid":"u"}"#)
    #expect(volume.entry == .createVolume(VolumeEntry(phase: .intent, host: "h2", pool: "local", volume: "a.img", purpose: "transferVolume")))
    #expect(volume.kind == .cold && volume.stepIndex == -1 && volume.op == "createVolume")
    let finished = try decode(#"{"action":"live","detail":{"downtimeMs":"42","migrationMs":"900","notes":"a; b","seconds":"1.500"},"instance":"w","op":"","phase":"finished","run":"r","step":-1,"time":"t"}"#)
    #expect(finished.entry == .finished(FinishedEntry(seconds: 1.5, downtimeMs: 42, migrationMs: 900, notes: ["a; b"])))
    let fallback = try decode(#"{"action":"live","detail":{"kind":"reboot"},"error":"refused","instance":"w","op":"fallback","phase":"intent","run":"r","step":-1,"time":"t"}"#)
    #expect(fallback.entry == .fallback(to: .reboot) && fallback.error == "refused")
    let abandoned = try decode(#"{"action":"","detail":{"origin":"r0"},"instance":"w","op":"","phase":"abandoned","run":"r","step":-1,"time":"t"}"#)
    #expect(abandoned.entry == .abandoned(AbandonedEntry(origin: "r0")) && abandoned.kind == nil)
    // The step of a format-0 record is rebuilt from the action it carries where it can be.
    let action = String(decoding: try JSONEncoder().encode(planned), as: UTF8.self)
    let detail = try String(decoding: JSONEncoder().encode(["action": action, "origin": "r0"]), as: UTF8.self)
    let intent = try decode(#"{"action":"manual","detail":"# + detail + #","instance":"vm","op":"record","phase":"intent","run":"r0","step":0,"time":"t"}"#)
    guard case .step(let e) = intent.entry else { Issue.record("\(intent.entry)"); return }
    #expect(e.action == planned && e.step == .record(host: "h1") && e.origin == "r0")

    let state = try stateDirectory()
    defer { try? FileManager.default.removeItem(atPath: state.path) }
    let lines = [#"{"action":"cold","detail":{"pool":"local","volume":"a.img"},"instance":"arch","op":"createVolume","phase":"done","run":"r","step":-1,"time":"t"}"#,
                 #"{"action":"live","detail":{},"instance":"w","op":"teleport","phase":"intent","run":"r","step":-1,"time":"t"}"#]
    try Data((lines.joined(separator: "\n") + "\n").utf8).write(to: URL(fileURLWithPath: state.journalPath))
    let contents = try Journal.load(path: state.journalPath)
    #expect(contents.unreadable.map(\.line) == [1, 2], "\(contents.unreadable)")
    #expect(contents.unreadable.first?.reason == "no 'detail.host'", "\(contents.unreadable)")
    #expect(contents.ownVolumes.isEmpty)
}
