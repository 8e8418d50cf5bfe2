import Foundation
import Testing
@testable import Engine

@Suite struct LockAndJournalTests {
    func tempState() throws -> StateDirectory {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("vp-state-\(UUID().uuidString)").path
        let state = StateDirectory(path: dir)
        try state.prepare()
        return state
    }

    @Test func aSecondLockIsRefusedWithTheHolder() throws {
        let state = try tempState()
        defer { try? FileManager.default.removeItem(atPath: state.path) }
        let first = try StateLock(state: state)
        let second = Result { () throws(EngineError) -> StateLock in try StateLock(state: state) }
        guard case .failure(let error) = second, case .locked(let pid, let since, _) = error else {
            Issue.record("the second lock was granted or failed otherwise: \(second)")
            return
        }
        #expect(pid == getpid())
        #expect(since.hasPrefix("20"))
        #expect(error.description.hasPrefix("locked by PID \(getpid())"))
        _ = first
    }

    @Test func aLockLeftByADeadProcessIsTakenOver() throws {
        let state = try tempState()
        defer { try? FileManager.default.removeItem(atPath: state.path) }
        // What a killed process leaves: the file with its PID, and no flock (the kernel dropped it).
        try "pid=999999\nsince=2020-01-01T00:00:00Z\nhost=gone\n".write(toFile: state.lockPath, atomically: false, encoding: .utf8)
        let lock = try StateLock(state: state)
        let text = try String(contentsOfFile: state.lockPath, encoding: .utf8)
        #expect(text.contains("pid=\(getpid())"))
        _ = lock
    }

    @Test func theLockIsReleasedWhenItsOwnerGoes() throws {
        let state = try tempState()
        defer { try? FileManager.default.removeItem(atPath: state.path) }
        do { _ = try StateLock(state: state) }
        _ = try StateLock(state: state)
    }

    @Test func journalRoundTripsAndToleratesATornLine() throws {
        let state = try tempState()
        defer { try? FileManager.default.removeItem(atPath: state.path) }
        let journal = try Journal(path: state.journalPath)
        func record(_ instance: String, _ step: Int, _ phase: JournalRecord.Phase) -> JournalRecord {
            testRecord(instance, step, "migrateLive", phase, uuid: "u-\(instance)")
        }
        try journal.append(record("a", 0, .intent))
        try journal.append(record("a", 0, .done))
        try journal.append(record("a", -1, .finished))
        try journal.append(record("b", 0, .intent))
        try journal.append(record("b", 0, .done))
        try journal.append(record("b", 1, .intent))
        // A crash in the middle of a write leaves half a line.
        let handle = try #require(FileHandle(forWritingAtPath: state.journalPath))
        handle.seekToEndOfFile()
        handle.write(Data(#"{"time":"t","run":"r1","inst"#.utf8))
        try handle.close()

        let records = Array(Journal.records(path: state.journalPath))
        #expect(records.count == 6)
        let open = Journal.unfinishedActions(records)
        #expect(open.map(\.instance) == ["b"])
        #expect(open.first?.records.last?.stepIndex == 1 && open.first?.records.last?.phase == .intent)
    }

    /// `Journal.records(path:)` streams the file 64 KiB at a time: it must read exactly what
    /// reading the whole file and splitting it at line feeds reads, whatever falls on a chunk
    /// boundary. The witness is a plain split of the file's bytes, decoded record by record.
    @Test func streamedRecordsAreTheWholeFileSplitAtLineFeeds() throws {
        let state = try tempState()
        defer { try? FileManager.default.removeItem(atPath: state.path) }
        let journal = try Journal(path: state.journalPath)
        // Records of many sizes (one longer than a chunk), so that line feeds fall at many
        // offsets around the 64 KiB boundaries; empty lines and a torn last line besides.
        for index in 0..<900 {
            let pad = String(repeating: "x", count: index == 450 ? 70_000 : index % 97)
            try journal.append(testRecord("vm-\(index)", index % 3, "migrateLive", .done, run: "r", uuid: nil, error: pad))
        }
        let handle = try #require(FileHandle(forWritingAtPath: state.journalPath))
        handle.seekToEndOfFile()
        handle.write(Data("\n\n".utf8))
        handle.write(Data(#"{"time":"t","run":"r1","inst"#.utf8))
        try handle.close()

        let bytes = try Data(contentsOf: URL(fileURLWithPath: state.journalPath))
        #expect(bytes.count > 3 * (64 << 10))
        let decoder = JSONDecoder()
        let expected = bytes.split(separator: UInt8(ascii: "\n")).compactMap { try? decoder.decode(JournalRecord.self, from: Data($0)) }
        let streamed = Array(Journal.records(path: state.journalPath))
        #expect(streamed.count == 900)
        #expect(streamed == expected)
        #expect(streamed[450].error?.count == 70_000)
        // Iterating again reads the file again; a missing file has no records.
        #expect(Array(Journal.records(path: state.journalPath)).count == 900)
        #expect(Array(Journal.records(path: state.path + "/missing.jsonl")).isEmpty)
        // The last line counts without its line feed.
        try Data(#"{"action":"live","detail":{},"instance":"a","op":"","phase":"finished","run":"r","step":-1,"time":"t"}"#.utf8)
            .write(to: URL(fileURLWithPath: state.path + "/one.jsonl"))
        #expect(Array(Journal.records(path: state.path + "/one.jsonl")).map(\.instance) == ["a"])
    }

    /// A journal of `actions` finished live moves and the given extra records.
    func journal(at state: StateDirectory, actions: Int, extra: [JournalRecord] = []) throws -> Journal {
        let journal = try Journal(path: state.journalPath)
        for index in 0..<actions {
            for (step, phase) in [(0, JournalRecord.Phase.intent), (0, .done), (-1, .finished)] {
                try journal.append(testRecord("vm-\(index)", step, "migrateLive", phase, run: "r\(index)"))
            }
        }
        for record in extra { try journal.append(record) }
        return journal
    }

    func createVolume(_ instance: String, _ volume: String, _ phase: VolumeEntry.Phase, run: String = "r-copy") -> JournalRecord {
        createVolumeRecord(instance, volume: volume, phase, run: run)
    }

    @Test func aSmallJournalIsLeftAlone() throws {
        let state = try tempState()
        defer { try? FileManager.default.removeItem(atPath: state.path) }
        _ = try journal(at: state, actions: 3)
        let before = try Data(contentsOf: URL(fileURLWithPath: state.journalPath))
        #expect(try Journal.rotate(path: state.journalPath, limit: before.count, run: "now") == nil)
        #expect(try Data(contentsOf: URL(fileURLWithPath: state.journalPath)) == before)
        #expect(!FileManager.default.fileExists(atPath: state.journalPath + ".1"))
        #expect(try Journal.rotate(path: state.path + "/missing.jsonl", limit: 0, run: "now") == nil)
    }

    @Test func aJournalWithAnUnfinishedActionIsNeverRotated() throws {
        let state = try tempState()
        defer { try? FileManager.default.removeItem(atPath: state.path) }
        _ = try journal(at: state, actions: 50, extra: [
            testRecord("db-1", 0, "record", .intent, run: "r-open", kind: .manual),
        ])
        let before = try Data(contentsOf: URL(fileURLWithPath: state.journalPath))
        #expect(try Journal.rotate(path: state.journalPath, limit: 100, run: "now") == nil)
        #expect(try Data(contentsOf: URL(fileURLWithPath: state.journalPath)) == before)
    }

    @Test func aLargeJournalIsSetAsideAndTheVolumesVirtplaceCreatedAreCarriedOver() throws {
        let state = try tempState()
        defer { try? FileManager.default.removeItem(atPath: state.path) }
        _ = try journal(at: state, actions: 50, extra: [
            createVolume("arch-1", "a.img", .intent), createVolume("arch-1", "a.img", .done),
            createVolume("arch-2", "b.img", .intent),  // a crash before the outcome: may exist
            createVolume("arch-3", "c.img", .intent), createVolume("arch-3", "c.img", .failed),
            testRecord("arch-1", -1, "", .finished, run: "r-copy", kind: .cold),
            testRecord("arch-2", -1, "", .abandoned, run: "r-copy", kind: .cold),
            testRecord("arch-3", -1, "", .abandoned, run: "r-copy", kind: .cold),
        ])
        // A fresh journal left half-written by a crash in an earlier rotation is written anew.
        try Data("garbage".utf8).write(to: URL(fileURLWithPath: state.journalPath + ".new"))
        let before = try Data(contentsOf: URL(fileURLWithPath: state.journalPath))
        let oldRecords = Array(Journal.records(path: state.journalPath))

        let rotation = try #require(try Journal.rotate(path: state.journalPath, limit: 100, run: "now"))
        #expect(rotation == Journal.Rotation(bytes: before.count, previous: state.journalPath + ".1", carried: 2))
        #expect(try Data(contentsOf: URL(fileURLWithPath: state.journalPath + ".1")) == before)
        #expect(!FileManager.default.fileExists(atPath: state.journalPath + ".new"))
        let fresh = Array(Journal.records(path: state.journalPath))
        #expect(fresh.map(\.phase) == [.carried, .carried])
        let carried = fresh.compactMap { r -> VolumeEntry? in if case .createVolume(let v) = r.entry { v } else { nil } }
        #expect(carried.map(\.volume) == ["a.img", "b.img"])
        #expect(carried.map(\.carriedFrom) == ["r-copy", "r-copy"])
        #expect(fresh.allSatisfy { $0.run == "now" })
        #expect(Set(Journal.createdVolumes(fresh).keys) == Set(Journal.createdVolumes(oldRecords).keys))
        #expect(Set(Journal.createdVolumes(fresh).keys) == ["h2/local/a.img", "h2/local/b.img"])
        #expect(Journal.unfinishedActions(fresh).isEmpty)

        // The fresh journal goes on as a journal; the next rotation replaces `.1`.
        let next = try Journal(path: state.journalPath)
        for index in 0..<20 {
            try next.append(testRecord("vm-\(index)", -1, "", .finished, run: "r2"))
        }
        let second = try Data(contentsOf: URL(fileURLWithPath: state.journalPath))
        #expect(try Journal.rotate(path: state.journalPath, limit: 100, run: "later")?.carried == 2)
        #expect(try Data(contentsOf: URL(fileURLWithPath: state.journalPath + ".1")) == second)
        #expect(Set(Journal.createdVolumes(Array(Journal.records(path: state.journalPath))).keys) == ["h2/local/a.img", "h2/local/b.img"])
    }
}
