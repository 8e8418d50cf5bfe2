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
        try "pid=999999\nsince=2020-01-01T00:00:00Z\nhost=gone\n".write(toFile: state.lockPath, atomically: true, encoding: .utf8)
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
            JournalRecord(time: "t", run: "r1", instance: instance, uuid: "u-\(instance)", action: "live", step: step,
                          op: step < 0 ? "" : "migrateLive", phase: phase)
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

        let records = Journal.read(path: state.journalPath)
        #expect(records.count == 6)
        let open = Journal.unfinished(records)
        #expect(open.keys.sorted() == ["b"])
        #expect(open["b"]?.last?.step == 1 && open["b"]?.last?.phase == .intent)
    }
}
