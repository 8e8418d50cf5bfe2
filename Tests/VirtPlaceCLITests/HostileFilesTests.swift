import Engine
import Foundation
import Placement
import Testing
import TestSupport
@testable import VirtPlaceCLI

// Files that virtplace did not write, or must not replace: device nodes, FIFOs, symlinks,
// a state directory someone else can write, a torn or damaged journal, standard streams that
// are closed, full or never send. Each test reproduces what an attacker (or a full disk) did
// to the code before issue 12, and checks the outcome with the file system itself as witness
// (`lstat`, the bytes of the files), never with virtplace's own report. See docs/security.md.

/// A temporary directory for one test, removed by `done()`.
struct Scratch {
    let path: String
    init() throws {
        path = try scratchDirectory("vp-hostile")
    }
    func done() { try? FileManager.default.removeItem(atPath: path) }
    /// The placement with an instance, for `plan` (written by `placementAndSnapshot`).
    var planned: String { path + "/planned.yaml" }

    /// A placement with one host (libvirt's test driver) and one instance, and a snapshot of
    /// that host where the instance is not defined: `plan --observed` plans it without
    /// libvirt. `apply` and `reconcile` get the same host and no instance: they observe it
    /// and change nothing, so that these tests never race other tests on the test driver's
    /// domain, which every test in this process shares.
    func placementAndSnapshot() throws -> (placement: String, snapshot: String) {
        let placement = path + "/placement.yaml"
        try """
        apiVersion: virtplace/v1
        kind: Placement
        metadata: {name: hostile}
        hosts:
          h1: {uri: "test:///default"}
        instances: {}
        """.write(toFile: placement, atomically: false, encoding: .utf8)
        try """
        apiVersion: virtplace/v1
        kind: Placement
        metadata: {name: hostile}
        hosts:
          h1: {uri: "test:///default"}
        instances:
          test: {host: h1}
        """.write(toFile: path + "/planned.yaml", atomically: false, encoding: .utf8)
        let snapshot = path + "/observed.json"
        let fleet = ObservedFleet(hosts: [ObservedHost(name: "h1", uri: "test:///default", reachable: true,
                                                       capacity: ObservedCapacity(vcpus: 8, memoryMiB: 8192))])
        try JSONEncoder().encode(fleet).write(to: URL(fileURLWithPath: snapshot))
        return (placement, snapshot)
    }

    /// A victim file some link points at: its bytes must never change.
    func victim() throws -> (path: String, bytes: Data) {
        let victim = path + "/victim"
        try victimBytes.write(to: URL(fileURLWithPath: victim))
        return (victim, victimBytes)
    }
}

/// The environment of every run: the test driver allowed, no colour.
let hostileEnvironment = ["VIRTPLACE_ALLOW_TEST_DRIVER": "1", "NO_COLOR": "1"]

/// `virtplace ARGS` in this process.
func virtplace(_ arguments: [String]) async -> ExitCode {
    await VirtPlace.run(arguments: arguments, environment: hostileEnvironment)
}

/// The `virtplace` binary built beside the tests (`swift build --build-tests` builds it).
var virtplaceBinary: String {
    let candidates = [
        URL(fileURLWithPath: CommandLine.arguments.first ?? "").deletingLastPathComponent().appendingPathComponent("virtplace").path,
        URL(fileURLWithPath: CommandLine.arguments.first ?? "").deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("virtplace").path,
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent(".build/debug/virtplace").path,
    ]
    return candidates.first { FileManager.default.isExecutableFile(atPath: $0) } ?? candidates[candidates.count - 1]
}

/// What a run of the binary did.
struct ShellResult {
    /// The exit status, or 128 + the signal that ended it; -1 when it was killed for taking too long.
    var status: Int32
    var stdout: String
    var stderr: String
    var seconds: Double
}

/// `shellBlocking` on a thread of its own, awaited: waiting for the child never holds one of
/// the few threads of Swift's cooperative pool, which the other tests of this process need.
func shell(_ script: String, in directory: String, timeout: Double = 15) async throws -> ShellResult {
    try await withCheckedThrowingContinuation { continuation in
        let thread = Thread {
            continuation.resume(with: Result { try shellBlocking(script, in: directory, timeout: timeout) })
        }
        thread.start()
    }
}

/// Runs `script` with `/bin/sh -c`, `$VP` naming the binary, in `directory`; kills it (its
/// process group, by the PID of the child this started) after `timeout` seconds. Standard output and error go to files, read afterwards.
func shellBlocking(_ script: String, in directory: String, timeout: Double) throws -> ShellResult {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/bin/sh")
    process.arguments = ["-c", script]
    process.currentDirectoryURL = URL(fileURLWithPath: directory)
    var environment = ProcessInfo.processInfo.environment
    for (k, v) in hostileEnvironment { environment[k] = v }
    environment["VP"] = virtplaceBinary
    environment["VIRTPLACE_STATE_DIR"] = directory + "/state"
    process.environment = environment
    let out = directory + "/.stdout-\(UUID().uuidString)", err = directory + "/.stderr-\(UUID().uuidString)"
    _ = createPlainFile(atPath: out, contents: nil)
    _ = createPlainFile(atPath: err, contents: nil)
    let outHandle = try FileHandle(forWritingTo: URL(fileURLWithPath: out))
    let errHandle = try FileHandle(forWritingTo: URL(fileURLWithPath: err))
    defer { try? outHandle.close(); try? errHandle.close() }
    process.standardOutput = outHandle
    process.standardError = errHandle
    process.standardInput = FileHandle.nullDevice
    let started = Date()
    try process.run()
    var killed = false
    while process.isRunning {
        if Date().timeIntervalSince(started) > timeout {
            // Foundation starts the child in a process group of its own: the whole pipeline
            // goes, by the group's id (the child's PID); otherwise the child alone.
            let pid = process.processIdentifier
            kill(getpgid(pid) == pid ? -pid : pid, SIGKILL)
            killed = true
            break
        }
        usleep(20_000)
    }
    process.waitUntilExit()
    let seconds = Date().timeIntervalSince(started)
    let status: Int32 = killed ? -1 : (process.terminationReason == .uncaughtSignal ? 128 + process.terminationStatus : process.terminationStatus)
    return ShellResult(status: status, stdout: (try? String(contentsOfFile: out, encoding: .utf8)) ?? "",
                       stderr: (try? String(contentsOfFile: err, encoding: .utf8)) ?? "", seconds: seconds)
}

// MARK: Writing: plan --out and reconcile --metrics-file

@Suite struct HostileOutputFileTests {
    /// `plan --out` over a device node (a /dev/null and a /dev/full of our own, made with
    /// mknod as root in the scratch directory): refused, and each node is still a device. The
    /// machine's own /dev is never the target: a regression would replace it for every other
    /// process (it once did, while this test was written against the old code). Without root
    /// (no mknod) /dev/null itself, which such a run cannot replace, is the witness.
    @Test func planOutRefusesADeviceNode() async throws {
        let scratch = try Scratch()
        defer { scratch.done() }
        let (_, snapshot) = try scratch.placementAndSnapshot()
        for (name, minor) in [("null", UInt32(3)), ("full", 7)] {
            let target = deviceNode(name, minor: minor, in: scratch.path)
            #expect(fileType(target) == S_IFCHR)
            let code = await virtplace(["plan", "-q", "-f", scratch.planned, "--observed", snapshot, "--out", target])
            #expect(code == .failure)
            #expect(fileType(target) == S_IFCHR, "\(target) was replaced")
        }
    }

    /// A symlink at the target (to /etc/passwd, say): neither followed nor replaced.
    @Test func planOutRefusesASymlink() async throws {
        let scratch = try Scratch()
        defer { scratch.done() }
        let (_, snapshot) = try scratch.placementAndSnapshot()
        let (victim, bytes) = try scratch.victim()
        let link = scratch.path + "/plan.json"
        #expect(symlink(victim, link) == 0)
        let code = await virtplace(["plan", "-q", "-f", scratch.planned, "--observed", snapshot, "--out", link])
        #expect(code == .failure)
        #expect(fileType(link) == S_IFLNK, "the symlink was replaced")
        #expect(try Data(contentsOf: URL(fileURLWithPath: victim)) == bytes)
    }

    @Test func planOutRefusesAFIFOAndADirectory() async throws {
        let scratch = try Scratch()
        defer { scratch.done() }
        let (_, snapshot) = try scratch.placementAndSnapshot()
        let fifo = scratch.path + "/fifo"
        #expect(mkfifo(fifo, 0o600) == 0)
        let directory = scratch.path + "/dir"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: false)
        for target in [fifo, directory] {
            let code = await virtplace(["plan", "-q", "-f", scratch.planned, "--observed", snapshot, "--out", target])
            #expect(code == .failure)
        }
        #expect(fileType(fifo) == S_IFIFO)
        #expect(fileType(directory) == S_IFDIR)
    }

    /// A regular file is replaced whole, private (0600), and no temporary file is left.
    @Test func planOutReplacesARegularFileWholeAndPrivate() async throws {
        let scratch = try Scratch()
        defer { scratch.done() }
        let (_, snapshot) = try scratch.placementAndSnapshot()
        let out = scratch.path + "/out/plan.json"
        try FileManager.default.createDirectory(atPath: scratch.path + "/out", withIntermediateDirectories: false)
        try Data("old".utf8).write(to: URL(fileURLWithPath: out))
        chmod(out, 0o644)
        let code = await virtplace(["plan", "-q", "-f", scratch.planned, "--observed", snapshot, "--out", out])
        #expect(code == .success)
        #expect(fileType(out) == S_IFREG)
        #expect(fileMode(out) == 0o600)
        let plan = try decodePlan(try Data(contentsOf: URL(fileURLWithPath: out)))
        #expect(plan.kind == "Plan")
        #expect(try FileManager.default.contentsOfDirectory(atPath: scratch.path + "/out") == ["plan.json"])
    }

    /// `reconcile --metrics-file` over a symlink or a device: refused (the pass says so and
    /// exits non-zero), nothing replaced.
    @Test func metricsFileRefusesASymlinkAndADevice() async throws {
        let scratch = try Scratch()
        defer { scratch.done() }
        let (placement, _) = try scratch.placementAndSnapshot()
        let (victim, bytes) = try scratch.victim()
        let link = scratch.path + "/metrics.prom"
        #expect(symlink(victim, link) == 0)
        let node = deviceNode("null", minor: 3, in: scratch.path)
        for target in [link, node] {
            let code = await virtplace(["reconcile", "-q", "--state-dir", scratch.path + "/state", "-f", placement, "--metrics-file", target])
            #expect(code != .success)
        }
        #expect(fileType(link) == S_IFLNK)
        #expect(try Data(contentsOf: URL(fileURLWithPath: victim)) == bytes)
        #expect(fileType(node) == S_IFCHR)
    }

    /// The temporary file of the metrics file was `.NAME.PID.tmp` beside it, opened following
    /// symlinks: a link planted under that name redirected the write.
    @Test func aPlantedTemporaryNameIsNotFollowed() async throws {
        let scratch = try Scratch()
        defer { scratch.done() }
        let (victim, bytes) = try scratch.victim()
        let target = scratch.path + "/metrics.prom"
        // Every name a writer might pick for its temporary file, pointing at the victim.
        for name in [".metrics.prom.\(getpid()).tmp", "metrics.prom.tmp-\(getpid())", "metrics.prom.new"] {
            #expect(symlink(victim, scratch.path + "/" + name) == 0)
        }
        try writeMetrics("a 1\n", to: target)
        #expect(try String(contentsOfFile: target, encoding: .utf8) == "a 1\n")
        #expect(try Data(contentsOf: URL(fileURLWithPath: victim)) == bytes)
        #expect(fileMode(target) == 0o644, "node-exporter (another user) reads it")
    }
}

// MARK: The state directory, the lock and the journal

@Suite struct HostileStateDirectoryTests {
    func apply(_ state: String, _ placement: String, dryRun: Bool = false) async -> ExitCode {
        await virtplace(["apply", "-q", "--auto-approve", "--state-dir", state, "-f", placement] + (dryRun ? ["--dry-run"] : []))
    }

    @Test func aStateDirectoryOthersCanWriteIsRefused() async throws {
        let scratch = try Scratch()
        defer { scratch.done() }
        let (placement, _) = try scratch.placementAndSnapshot()
        let state = scratch.path + "/state"
        try FileManager.default.createDirectory(atPath: state, withIntermediateDirectories: false)
        chmod(state, 0o777)
        #expect(await apply(state, placement) == .failure)
        #expect(!FileManager.default.fileExists(atPath: state + "/lock"), "nothing is created in it")
        chmod(state, 0o770)
        #expect(await apply(state, placement) == .failure)
    }

    @Test func aStateDirectoryThatIsASymlinkOrAFileIsRefused() async throws {
        let scratch = try Scratch()
        defer { scratch.done() }
        let (placement, _) = try scratch.placementAndSnapshot()
        let real = scratch.path + "/real"
        try FileManager.default.createDirectory(atPath: real, withIntermediateDirectories: false)
        let link = scratch.path + "/state"
        #expect(symlink(real, link) == 0)
        #expect(await apply(link, placement) == .failure)
        #expect(try FileManager.default.contentsOfDirectory(atPath: real).isEmpty)
        let file = scratch.path + "/file"
        try Data().write(to: URL(fileURLWithPath: file))
        #expect(await apply(file, placement) == .failure)
    }

    /// Owned by someone else: as root, a directory given to `nobody`; otherwise `/`, which
    /// root owns.
    @Test func aStateDirectoryOwnedBySomeoneElseIsRefused() async throws {
        let scratch = try Scratch()
        defer { scratch.done() }
        let (placement, _) = try scratch.placementAndSnapshot()
        var state = "/"
        if geteuid() == 0 {
            state = scratch.path + "/state"
            try FileManager.default.createDirectory(atPath: state, withIntermediateDirectories: false)
            chmod(state, 0o700)
            #expect(chown(state, 65534, 65534) == 0)
        }
        #expect(await apply(state, placement) == .failure)
    }

    @Test func aMissingStateDirectoryIsCreatedPrivate() async throws {
        let scratch = try Scratch()
        defer { scratch.done() }
        let (placement, _) = try scratch.placementAndSnapshot()
        let state = scratch.path + "/a/b/state"
        #expect(await apply(state, placement) == .success)
        #expect(fileType(state) == S_IFDIR && fileMode(state) == 0o700)
        #expect(fileMode(state + "/records") == 0o700)
        #expect(fileMode(state + "/lock") == 0o600)
    }

    /// The lock followed a symlink, and emptied what it pointed at (ftruncate) to write its
    /// holder there.
    @Test func aLockThatIsASymlinkIsRefusedAndItsTargetUntouched() async throws {
        let scratch = try Scratch()
        defer { scratch.done() }
        let (placement, _) = try scratch.placementAndSnapshot()
        let (victim, bytes) = try scratch.victim()
        let state = scratch.path + "/state"
        try FileManager.default.createDirectory(atPath: state, withIntermediateDirectories: false)
        #expect(symlink(victim, state + "/lock") == 0)
        #expect(await apply(state, placement) == .failure)
        #expect(try Data(contentsOf: URL(fileURLWithPath: victim)) == bytes)
        #expect(fileType(state + "/lock") == S_IFLNK)
    }

    @Test func aJournalThatIsASymlinkIsRefusedAndItsTargetUntouched() async throws {
        let scratch = try Scratch()
        defer { scratch.done() }
        let (placement, _) = try scratch.placementAndSnapshot()
        let (victim, bytes) = try scratch.victim()
        let state = scratch.path + "/state"
        try FileManager.default.createDirectory(atPath: state, withIntermediateDirectories: false)
        #expect(symlink(victim, state + "/journal.jsonl") == 0)
        #expect(await apply(state, placement) == .failure)
        #expect(await apply(state, placement, dryRun: true) == .failure)
        #expect(try Data(contentsOf: URL(fileURLWithPath: victim)) == bytes)
        #expect(fileType(state + "/journal.jsonl") == S_IFLNK)
    }

    /// A record that cannot be read may be the one that says a move is half done: the run
    /// stops before anything (exit 1), and the journal is left as it was. So does a record of a
    /// newer journal format (a newer virtplace wrote it), even as a last line without its
    /// newline (never cut off as a torn line).
    @Test func anUnreadableJournalLineHoldsTheRun() async throws {
        let scratch = try Scratch()
        defer { scratch.done() }
        let (placement, _) = try scratch.placementAndSnapshot()
        let state = scratch.path + "/state"
        try FileManager.default.createDirectory(atPath: state, withIntermediateDirectories: false)
        let good = #"{"action":"live","detail":{},"instance":"a","op":"","phase":"finished","run":"r","step":-1,"time":"t"}"#
        let newer = #"{"v":2,"time":"t","run":"r9","instance":"b","entry":"teleport"}"#
        for text in [good + "\n" + #"{"action":"live","instance":"b","op":"shutd\#u{0}own",garbage"# + "\n" + good + "\n",
                     good + "\n" + newer + "\n", good + "\n" + newer] {
            try Data(text.utf8).write(to: URL(fileURLWithPath: state + "/journal.jsonl"))
            #expect(await apply(state, placement) == .failure)
            #expect(await apply(state, placement, dryRun: true) == .failure)
            #expect(await virtplace(["reconcile", "-q", "--state-dir", state, "-f", placement]) == .failure)
            #expect(try String(contentsOfFile: state + "/journal.jsonl", encoding: .utf8) == text)
        }
    }

    /// A torn last line (a full disk, a crash in a write) is cut off before anything is
    /// appended: every line of the journal reads after the run.
    @Test func aTornLastLineIsRepairedBeforeTheRunAppends() async throws {
        let scratch = try Scratch()
        defer { scratch.done() }
        let (placement, _) = try scratch.placementAndSnapshot()
        let state = scratch.path + "/state"
        try FileManager.default.createDirectory(atPath: state, withIntermediateDirectories: false)
        let good = #"{"action":"live","detail":{},"instance":"a","op":"","phase":"finished","run":"r","step":-1,"time":"t"}"#
        try Data((good + "\n" + #"{"time":"t","run":"r1","inst"#).utf8).write(to: URL(fileURLWithPath: state + "/journal.jsonl"))
        #expect(await apply(state, placement) == .success)
        let after = try String(contentsOfFile: state + "/journal.jsonl", encoding: .utf8)
        #expect(after.hasPrefix(good + "\n"))
        #expect(after.hasSuffix("\n"))
        #expect(!after.contains(#""inst{"#), "a record was merged into the torn line")
        for line in after.split(separator: "\n") {
            #expect((try? JSONDecoder().decode(JournalRecord.self, from: Data(line.utf8))) != nil, "unreadable: \(line)")
        }
    }
}

// MARK: Standard output and error that fail, standard input that is hostile

@Suite(.serialized) struct HostileStreamTests {
    @Test func theBinaryIsBuilt() {
        #expect(FileManager.default.isExecutableFile(atPath: virtplaceBinary), "build with 'swift build --build-tests' first")
    }

    /// A full disk under standard output: exit 1 and an error on stderr, not 0.
    @Test(arguments: [["-o", "json"], ["-o", "text"], ["-o", "markdown"]])
    func planToAFullStandardOutputFails(_ format: [String]) async throws {
        let scratch = try Scratch()
        defer { scratch.done() }
        let (_, snapshot) = try scratch.placementAndSnapshot()
        let r = try await shell("exec \"$VP\" plan -f \(scratch.planned) --observed \(snapshot) \(format.joined(separator: " ")) > /dev/full", in: scratch.path)
        #expect(r.status == 1, "\(r)")
        #expect(r.stderr.contains("standard output"), "\(r.stderr)")
    }

    @Test func observeAndValidateToAFullOutputFail() async throws {
        let scratch = try Scratch()
        defer { scratch.done() }
        let (placement, _) = try scratch.placementAndSnapshot()
        for command in ["observe", "observe -o json"] {
            let r = try await shell("exec \"$VP\" \(command) -f \(placement) > /dev/full", in: scratch.path)
            #expect(r.status == 1, "\(command): \(r)")
            #expect(r.stderr.contains("standard output"), "\(command): \(r.stderr)")
        }
        // validate says "valid" on standard error: when that cannot be written, it fails too.
        let r = try await shell("exec \"$VP\" validate -f \(placement) 2> /dev/full", in: scratch.path)
        #expect(r.status == 1, "validate: \(r)")
    }

    /// apply and reconcile may have changed hosts before a write failed: exit 3, never 0; a
    /// dry run changed nothing: exit 1.
    @Test func applyAndReconcileToAFullStandardOutputFail() async throws {
        let scratch = try Scratch()
        defer { scratch.done() }
        let (placement, _) = try scratch.placementAndSnapshot()
        for (command, status) in [("apply --auto-approve", Int32(3)), ("reconcile", 3), ("apply --dry-run", 1)] {
            let r = try await shell("exec \"$VP\" \(command) -f \(placement) > /dev/full", in: scratch.path)
            #expect(r.status == status, "\(command): \(r)")
            #expect(r.stderr.contains("cannot write to standard output"), "\(command): \(r.stderr)")
        }
    }

    /// A closed standard output: the error is reported, nothing written elsewhere by mistake.
    @Test func aClosedStandardOutputFails() async throws {
        let scratch = try Scratch()
        defer { scratch.done() }
        let (_, snapshot) = try scratch.placementAndSnapshot()
        let r = try await shell("exec \"$VP\" plan -f \(scratch.planned) --observed \(snapshot) --out plan.json >&-", in: scratch.path)
        #expect(r.status == 1, "\(r)")
        let saved = try Data(contentsOf: URL(fileURLWithPath: scratch.path + "/plan.json"))
        #expect(try decodePlan(saved).kind == "Plan", "the plan file holds the plan, not the console output")
    }

    /// A reader that went away is not an error, nor a crash.
    @Test func aReaderThatWentAwayIsNotAnError() async throws {
        let scratch = try Scratch()
        defer { scratch.done() }
        let (_, snapshot) = try scratch.placementAndSnapshot()
        let r = try await shell("{ \"$VP\" plan -f \(scratch.planned) --observed \(snapshot) -v; echo $? > status; } | true", in: scratch.path)
        let status = try String(contentsOfFile: scratch.path + "/status", encoding: .utf8)
        #expect(status == "0\n", "\(r)")
    }

    @Test func aClosedStandardInputIsAnErrorNotACrash() async throws {
        let scratch = try Scratch()
        defer { scratch.done() }
        let r = try await shell("exec \"$VP\" validate -f - <&-", in: scratch.path)
        #expect(r.status == 1, "\(r)")
        #expect(r.stderr.contains("standard input is closed"), "\(r.stderr)")
    }

    /// An endless standard input is cut at the 10 MiB limit, not read to the end of memory.
    @Test func anEndlessStandardInputStopsAtTheLimit() async throws {
        let scratch = try Scratch()
        defer { scratch.done() }
        let r = try await shell("yes | \"$VP\" validate -f -", in: scratch.path, timeout: 20)
        #expect(r.status == 1, "\(r)")
        #expect(r.stderr.contains("10 MiB"), "\(r.stderr)")
        #expect(r.seconds < 5)
    }

    /// A standard input that never sends (and never closes): refused after 5 seconds. The
    /// pipeline lasts as long as its `sleep`; virtplace's own status and time are written down
    /// by the shell as it ends.
    @Test func aSilentStandardInputTimesOut() async throws {
        let scratch = try Scratch()
        defer { scratch.done() }
        let r = try await shell("""
            start=$(date +%s%N)
            sleep 9 | { "$VP" validate -f -; echo "$? $(( ($(date +%s%N) - start) / 1000000 ))" > result; }
            """, in: scratch.path, timeout: 20)
        let fields = try String(contentsOfFile: scratch.path + "/result", encoding: .utf8).split(separator: " ")
        #expect(fields.first == "1", "\(r)")
        #expect(r.stderr.contains("standard input") && r.stderr.contains("5 seconds"), "\(r.stderr)")
        let milliseconds = Int(fields.last?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "") ?? .max
        #expect(milliseconds >= 4_900 && milliseconds < 6_500, "\(milliseconds) ms")
    }

    /// A FIFO with no writer blocked the open for ever; a device was read to the limit. Both
    /// are refused at once, for -f, --observed and a saved plan, and so is /dev/stdin.
    @Test func fifosAndDevicesAreRefusedAsInputs() async throws {
        let scratch = try Scratch()
        defer { scratch.done() }
        let (_, snapshot) = try scratch.placementAndSnapshot()
        let fifo = scratch.path + "/fifo"
        #expect(mkfifo(fifo, 0o600) == 0)
        let runs = [
            "\"$VP\" validate -f \(fifo)",
            "\"$VP\" validate -f /dev/zero",
            "echo x | \"$VP\" validate -f /dev/stdin",
            "\"$VP\" plan -f \(scratch.planned) --observed \(fifo)",
            "\"$VP\" plan -f \(scratch.planned) --observed /dev/zero",
            "\"$VP\" apply --auto-approve \(fifo)",
            "\"$VP\" apply --auto-approve /dev/zero",
        ]
        for script in runs {
            let r = try await shell(script, in: scratch.path, timeout: 10)
            #expect(r.status == 1, "\(script): \(r)")
            #expect(r.seconds < 5, "\(script): \(r.seconds) s")
            #expect(r.stderr.contains("regular file"), "\(script): \(r.stderr)")
        }
        _ = snapshot
    }

    /// A regular file through standard input (`-f - < FILE`, `-f /dev/stdin < FILE`) still works.
    @Test func aRegularFileOnStandardInputIsRead() async throws {
        let scratch = try Scratch()
        defer { scratch.done() }
        let (placement, _) = try scratch.placementAndSnapshot()
        for script in ["\"$VP\" validate -f - < \(placement)", "cat \(placement) | \"$VP\" validate -f -",
                       "\"$VP\" validate -f /dev/stdin < \(placement)"] {
            let r = try await shell(script, in: scratch.path)
            #expect(r.status == 0, "\(script): \(r)")
        }
    }
}
