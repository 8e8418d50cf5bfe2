import Foundation
import Synchronization
import Testing
import TestSupport
import YAMLDecoding
@testable import Engine
@testable import Placement

// The state directory, the lock, the journal and SafeFile against what an attacker or a full
// disk leaves (issue 12, docs/security.md). The witnesses are the file system (`lstat`, the
// bytes of files) and the fake fleet's own record of calls.

private func record(_ instance: String, _ step: Int, _ phase: JournalRecord.Phase, run: String = "r1") -> JournalRecord {
    testRecord(instance, step, "shutdown", phase, run: run, kind: .reboot, uuid: "u-\(instance)")
}

@Suite struct SafeFileTests {
    /// A /dev/null and a /dev/full (our own, made in a scratch directory: never the machine's,
    /// which a regression would replace for every process) stay character devices: refused,
    /// never replaced.
    @Test func deviceNodesAreRefusedAndStayDevices() throws {
        let dir = try scratchDirectory("vp-hostile-engine")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for device in [deviceNode("null", minor: 3, in: dir), deviceNode("full", minor: 7, in: dir)] {
            #expect(fileType(device) == S_IFCHR)
            #expect(throws: SafeFile.Failure.self) { try SafeFile.write(Data("x".utf8), to: device, permissions: 0o600) }
            #expect(fileType(device) == S_IFCHR, "\(device) was replaced")
        }
    }

    @Test func symlinksFIFOsAndDirectoriesAreRefused() throws {
        let dir = try scratchDirectory("vp-hostile-engine")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let victim = dir + "/victim"
        try victimBytes.write(to: URL(fileURLWithPath: victim))
        #expect(symlink(victim, dir + "/link") == 0)
        #expect(symlink(dir + "/nowhere", dir + "/dangling") == 0)
        #expect(mkfifo(dir + "/fifo", 0o600) == 0)
        try FileManager.default.createDirectory(atPath: dir + "/sub", withIntermediateDirectories: false)
        for (name, kind) in [("link", S_IFLNK), ("dangling", S_IFLNK), ("fifo", S_IFIFO), ("sub", S_IFDIR)] {
            do {
                try SafeFile.write(Data("x".utf8), to: dir + "/" + name, permissions: 0o600)
                Issue.record("\(name) was written")
            } catch {
                #expect(error.reason.contains("never replaces"), "\(error)")
            }
            #expect(fileType(dir + "/" + name) == kind)
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: victim)) == victimBytes)
        #expect(!FileManager.default.fileExists(atPath: dir + "/nowhere"))
        let left = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasSuffix(".tmp") }
        #expect(left.isEmpty, "temporary files left: \(left)")
    }

    @Test func aRegularFileIsReplacedWithTheModeGivenWhateverTheUmask() throws {
        let dir = try scratchDirectory("vp-hostile-engine")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/file"
        try Data("old".utf8).write(to: URL(fileURLWithPath: path))
        chmod(path, 0o666)
        try SafeFile.write(Data("new".utf8), to: path, permissions: SafeFile.privateMode)
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "new")
        #expect(fileMode(path) == 0o600)
        try SafeFile.write(Data("public".utf8), to: dir + "/metrics", permissions: SafeFile.publicMode)
        #expect(fileMode(dir + "/metrics") == 0o644)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).sorted() == ["file", "metrics"])
    }

    /// The saved definitions a move writes (`writePrivate`) go through the same door.
    @Test func savedDefinitionsAreWrittenPrivateAndNeverThroughALink() throws {
        let dir = try scratchDirectory("vp-hostile-engine")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let victim = dir + "/victim"
        try victimBytes.write(to: URL(fileURLWithPath: victim))
        #expect(symlink(victim, dir + "/run-h1.xml") == 0)
        #expect(throws: (any Error).self) { try writePrivate(Data("<domain/>".utf8), to: dir + "/run-h1.xml") }
        #expect(try Data(contentsOf: URL(fileURLWithPath: victim)) == victimBytes)
        try writePrivate(Data("<domain/>".utf8), to: dir + "/run-h2.xml")
        #expect(fileMode(dir + "/run-h2.xml") == 0o600)
    }
}

@Suite struct StateDirectoryTrustTests {
    @Test func aMissingDirectoryIsCreatedPrivate() throws {
        let dir = try scratchDirectory("vp-hostile-engine")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let state = StateDirectory(path: dir + "/x/y/state")
        try state.prepare()
        #expect(fileMode(state.path) == 0o700 && fileMode(state.recordsPath) == 0o700)
    }

    @Test func unsafeDirectoriesAreRefused() throws {
        let dir = try scratchDirectory("vp-hostile-engine")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // Group- or world-writable.
        for bits: mode_t in [0o777, 0o770, 0o702] {
            let path = dir + "/open-\(String(bits, radix: 8))"
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: false)
            chmod(path, bits)
            #expect(throws: EngineError.self) { try StateDirectory(path: path).prepare() }
            #expect(!FileManager.default.fileExists(atPath: path + "/records"))
        }
        // A symlink to a good directory, and a file.
        let real = dir + "/real"
        try FileManager.default.createDirectory(atPath: real, withIntermediateDirectories: false)
        #expect(symlink(real, dir + "/link") == 0)
        #expect(throws: EngineError.self) { try StateDirectory(path: dir + "/link").prepare() }
        try Data().write(to: URL(fileURLWithPath: dir + "/file"))
        #expect(throws: EngineError.self) { try StateDirectory(path: dir + "/file").prepare() }
        // records/ is checked too.
        let state = StateDirectory(path: dir + "/state")
        try state.prepare()
        chmod(state.recordsPath, 0o777)
        #expect(throws: EngineError.self) { try state.prepare() }
    }

    @Test func aDirectoryOfAnotherUserIsRefused() throws {
        let dir = try scratchDirectory("vp-hostile-engine")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var path = "/"
        if geteuid() == 0 {
            path = dir + "/theirs"
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: false)
            chmod(path, 0o700)
            #expect(chown(path, 65534, 65534) == 0)
        }
        do {
            try StateDirectory(path: path).prepare()
            Issue.record("accepted")
        } catch {
            #expect(error.description.contains("belongs to uid"))
        }
    }

    /// The lock followed a symlink and truncated what it pointed at.
    @Test func theLockNeverFollowsASymlink() throws {
        let dir = try scratchDirectory("vp-hostile-engine")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let state = StateDirectory(path: dir + "/state")
        try state.prepare()
        try victimBytes.write(to: URL(fileURLWithPath: dir + "/victim"))
        #expect(symlink(dir + "/victim", state.lockPath) == 0)
        #expect(throws: EngineError.self) { try StateLock(state: state) }
        #expect(try Data(contentsOf: URL(fileURLWithPath: dir + "/victim")) == victimBytes)
        unlink(state.lockPath)
        #expect(mkfifo(state.lockPath, 0o600) == 0)
        #expect(throws: EngineError.self) { try StateLock(state: state) }
    }
}

@Suite struct JournalIntegrityTests {
    func state() throws -> StateDirectory {
        let state = StateDirectory(path: try scratchDirectory("vp-hostile-engine") + "/state")
        try state.prepare()
        return state
    }

    @Test func theJournalNeverFollowsASymlink() throws {
        let state = try state()
        defer { try? FileManager.default.removeItem(atPath: (state.path as NSString).deletingLastPathComponent) }
        let victim = (state.path as NSString).deletingLastPathComponent + "/victim"
        try victimBytes.write(to: URL(fileURLWithPath: victim))
        #expect(symlink(victim, state.journalPath) == 0)
        #expect(throws: EngineError.self) { try Journal(path: state.journalPath) }
        #expect(throws: EngineError.self) { try Journal.load(path: state.journalPath) }
        #expect(throws: EngineError.self) { try Journal.repairTornTail(path: state.journalPath) }
        #expect(try Journal.rotate(path: state.journalPath, limit: 0, run: "now") == nil)
        #expect(try Data(contentsOf: URL(fileURLWithPath: victim)) == victimBytes)
    }

    /// A write cut short left half a line; the next record was appended to it, and both were
    /// lost to every reader. Now the torn tail is cut off before the first append.
    @Test func aTornTailIsCutOffBeforeTheNextRecord() throws {
        let state = try state()
        defer { try? FileManager.default.removeItem(atPath: (state.path as NSString).deletingLastPathComponent) }
        do {
            let journal = try Journal(path: state.journalPath)
            try journal.append(record("a", 0, .intent))
            try journal.append(record("a", 0, .done))
        }
        let handle = try #require(FileHandle(forWritingAtPath: state.journalPath))
        handle.seekToEndOfFile()
        handle.write(Data(#"{"time":"t","run":"r1","inst"#.utf8))
        try handle.close()

        let before = try Journal.load(path: state.journalPath)
        #expect(before.records == 2)
        #expect(before.tornTail == Journal.TornTail(bytes: 28, line: 3, whole: false))
        #expect(before.unreadable.isEmpty)

        let journal = try Journal(path: state.journalPath)
        #expect(journal.repaired == Journal.TornTail(bytes: 28, line: 3, whole: false))
        try journal.append(record("a", 1, .intent))
        let after = try Journal.load(path: state.journalPath)
        #expect(Array(Journal.records(path: state.journalPath)) == [record("a", 0, .intent), record("a", 0, .done), record("a", 1, .intent)])
        #expect(after.unreadable.isEmpty && after.tornTail == nil)
    }

    /// A whole record whose newline was lost is kept (it may be an intent whose step ran).
    @Test func aWholeRecordWithoutItsNewlineIsKept() throws {
        let state = try state()
        defer { try? FileManager.default.removeItem(atPath: (state.path as NSString).deletingLastPathComponent) }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        var text = try encoder.encode(record("a", 0, .intent)) + Data("\n".utf8)
        text += try encoder.encode(record("a", 1, .intent))
        try text.write(to: URL(fileURLWithPath: state.journalPath))
        #expect(try Journal.load(path: state.journalPath).records == 2)
        let repaired = try #require(try Journal.repairTornTail(path: state.journalPath))
        #expect(repaired.whole && repaired.line == 2)
        #expect(try Data(contentsOf: URL(fileURLWithPath: state.journalPath)) == text + Data("\n".utf8))
        #expect(try Journal.repairTornTail(path: state.journalPath) == nil)
        #expect(Journal.unfinishedActions(Array(Journal.records(path: state.journalPath))).first?.lastStep?.index == 1)
    }

    /// Lines that are not records are reported with their numbers, never dropped silently; a
    /// journal holding one is never rotated away.
    @Test func unreadableLinesAreReportedWithTheirNumbers() throws {
        let state = try state()
        defer { try? FileManager.default.removeItem(atPath: (state.path as NSString).deletingLastPathComponent) }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let good = String(decoding: try encoder.encode(record("a", 0, .intent)), as: UTF8.self)
        let text = [good, "garbage\u{1B}[2J", "", #"{"time":"t"}"#, good.replacingOccurrences(of: "intent", with: "teleported"), good]
            .joined(separator: "\n") + "\n"
        try Data(text.utf8).write(to: URL(fileURLWithPath: state.journalPath))
        let contents = try Journal.load(path: state.journalPath)
        #expect(contents.records == 2)
        #expect(contents.unreadable.map(\.line) == [2, 4, 5])
        #expect(contents.unreadable.map(\.reason) == ["not JSON", "no 'run'", "a wrong value at 'phase'"])
        #expect(!contents.unreadable[0].excerpt.contains("\u{1B}"), "control characters are not shown raw")
        #expect(try Journal.rotate(path: state.journalPath, limit: 10, run: "now") == nil)
        #expect(!FileManager.default.fileExists(atPath: state.journalPath + ".1"))
    }

    /// A journal larger than the read limit is refused, not read whole.
    @Test func aHugeJournalIsRefused() throws {
        let state = try state()
        defer { try? FileManager.default.removeItem(atPath: (state.path as NSString).deletingLastPathComponent) }
        let fd = open(state.journalPath, O_WRONLY | O_CREAT, 0o600)
        #expect(ftruncate(fd, off_t(Journal.readLimit + 1)) == 0)
        close(fd)
        #expect(throws: EngineError.self) { try Journal.load(path: state.journalPath) }
    }
}

/// A journal write that fails (a full disk) stops the action before its next step: the
/// destructive steps of a reboot move (undefining the source) never run without their intent
/// on disk.
@Test func aFailingJournalStopsTheMoveBeforeItsDestructiveStep() async throws {
    let fleet = FakeFleet(hosts: ["h1", "h2"])
    fleet.add(guest("batch"), on: "h1")
    let plan = planFor(placement(["batch": InstanceSpec(host: "h2", moves: [.reboot])], hosts: ["h1", "h2"]), fleet)
    #expect(plan.summary.reboot == 1)
    let ops = plan.actions.first?.steps.map(\.op) ?? []
    #expect(ops.contains("undefineSource"))
    let state = try stateDirectory()
    defer { try? FileManager.default.removeItem(atPath: state.path) }

    // The journal is a real file until the guest is shut down; from then on every write to
    // it fails as on a full disk (/dev/full put in its place under the same descriptor).
    let descriptor = open(state.journalPath, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o600)
    let full = open("/dev/full", O_WRONLY | O_CLOEXEC)
    #expect(descriptor >= 0 && full >= 0)
    defer { close(full) }
    let journal = Journal(descriptor: descriptor, path: state.journalPath)
    let swapped = Mutex(false)
    var options = ExecutionOptions(parallel: ParallelSpec(), statePollInterval: .milliseconds(20))
    options.stopRequested = {
        if fleet.domain("uuid-batch", "h1")?.state == "shutoff" {
            swapped.withLock { done in
                if !done { done = dup2(full, descriptor) == descriptor }
            }
        }
        return false
    }
    let report = await Executor(driver: fleet, state: state, journal: journal, options: options).run(plan)
    #expect(swapped.withLock { $0 }, "the journal was never made to fail")
    #expect(report.actions.first?.status == .failed)
    #expect(fleet.domain("uuid-batch", "h1") != nil, "the source definition is still there")
    #expect(!fleet.calls.contains { $0.hasPrefix("undefine h1") }, "\(fleet.calls)")
    #expect(fleet.domain("uuid-batch", "h2") == nil || fleet.domain("uuid-batch", "h2")?.state == "shutoff")
    // What reached the disk ends with a whole line: the failed appends left nothing behind.
    let contents = try Journal.load(path: state.journalPath)
    #expect(contents.tornTail == nil && contents.unreadable.isEmpty)
    #expect(!contents.unfinished.isEmpty, "the move stays unfinished for the next run")
}

// MARK: Journal lines of a newer format, too long; a move's record files

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
