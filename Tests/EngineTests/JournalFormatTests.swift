import Foundation
import Placement
import YAMLDecoding
import Testing
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

/// A record of a newer format is an unreadable line (never guessed at), even as a torn last
/// line (never cut off): the run is held.
@Test func aNewerFormatIsRefusedWhereItStands() throws {
    let state = try stateDirectory()
    defer { try? FileManager.default.removeItem(atPath: state.path) }
    let journal = try Journal(path: state.journalPath)
    try journal.append(testRecord("a", 0, "record", .intent))
    let newer = #"{"v":2,"time":"t","run":"r9","instance":"b","entry":"teleport"}"#
    var text = try String(contentsOfFile: state.journalPath, encoding: .utf8) + newer + "\n"
    try Data(text.utf8).write(to: URL(fileURLWithPath: state.journalPath))
    let contents = try Journal.load(path: state.journalPath)
    #expect(contents.records == 1)
    #expect(contents.unreadable.map(\.line) == [2])
    #expect(contents.unreadable.first?.reason.contains("written by a newer virtplace (journal format 2; this one reads formats 0 to 1)") == true,
            "\(contents.unreadable)")
    #expect(try Journal.rotate(path: state.journalPath, limit: 0, run: "now") == nil)

    // The same line without its newline: not a torn line to cut off.
    text.removeLast()
    try Data(text.utf8).write(to: URL(fileURLWithPath: state.journalPath))
    let torn = try Journal.load(path: state.journalPath)
    #expect(torn.tornTail == nil && torn.unreadable.map(\.line) == [2])
    #expect(throws: EngineError.self) { try Journal.repairTornTail(path: state.journalPath) }
    #expect(throws: EngineError.self) { try Journal(path: state.journalPath) }
    #expect(try String(contentsOfFile: state.journalPath, encoding: .utf8) == text, "nothing changed")
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
    #expect(contents.ownVolumes.isEmpty)
}

/// A line longer than a record may be is an unreadable line, passed over without being kept;
/// the lines after it are read. As a torn last line, it is cut off.
@Test func anOverlongLineIsUnreadableAndNotKept() throws {
    let state = try stateDirectory()
    defer { try? FileManager.default.removeItem(atPath: state.path) }
    let encoder = JSONEncoder()
    let good = String(decoding: try encoder.encode(testRecord("a", 0, "record", .intent)), as: UTF8.self)
    let long = String(repeating: "x", count: Journal.lineLimit + 70_000)
    try Data([good, long, good].joined(separator: "\n").utf8 + Data("\n".utf8)).write(to: URL(fileURLWithPath: state.journalPath))
    let contents = try Journal.load(path: state.journalPath)
    #expect(contents.records == 2)
    #expect(contents.unreadable.map(\.line) == [2])
    #expect(contents.unreadable.first?.reason.hasPrefix("longer than the 4 MiB a record may be") == true, "\(contents.unreadable)")
    #expect(contents.unreadable.first?.excerpt == String(repeating: "x", count: 80) + "…")

    try Data((good + "\n" + long).utf8).write(to: URL(fileURLWithPath: state.journalPath))
    let torn = try Journal.load(path: state.journalPath)
    #expect(torn.unreadable.isEmpty && torn.tornTail == Journal.TornTail(bytes: long.utf8.count, line: 2, whole: false))
    #expect(try Journal.repairTornTail(path: state.journalPath) == Journal.TornTail(bytes: long.utf8.count, line: 2, whole: false))
    #expect(try String(contentsOfFile: state.journalPath, encoding: .utf8) == good + "\n")
}

/// A move's record files are read as the journal is: not through a symlink, regular files
/// only, bounded.
@Test func moveRecordFilesAreReadWithoutFollowingLinks() throws {
    let state = try stateDirectory()
    defer { try? FileManager.default.removeItem(atPath: state.path) }
    let victim = state.path + "/victim.xml"
    try Data("<domain/>".utf8).write(to: URL(fileURLWithPath: victim))
    let link = state.recordsPath + "/link.xml"
    #expect(symlink(victim, link) == 0)
    #expect(throws: FileInput.Failure.self) { try MoveRecord.read(link) }
    #expect(MoveRecord.load(definitionPath: link) == nil)
    let fifo = state.recordsPath + "/fifo.xml"
    #expect(mkfifo(fifo, 0o600) == 0)
    #expect(throws: FileInput.Failure.self) { try MoveRecord.read(fifo) }
    let huge = state.recordsPath + "/huge.xml"
    let fd = open(huge, O_WRONLY | O_CREAT, 0o600)
    #expect(ftruncate(fd, off_t(MoveRecord.readLimit + 1)) == 0)
    close(fd)
    #expect(throws: FileInput.Failure.self) { try MoveRecord.read(huge) }
    #expect(try MoveRecord.read(victim) == Data("<domain/>".utf8))
}
