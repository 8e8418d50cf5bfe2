import Foundation
import Testing
import TestSupport
@testable import VirtPlaceCLI

// Claims of SPEC.md and docs/operations.md that had no test: exit codes of `plan
// --detailed-exitcode`, of apply and reconcile with an unreachable host, and reconcile's lock
// refusal. In-process, against libvirt's test driver (a host per node file; an unreachable one
// is a test:// path that does not exist): the same command code as against a daemon.

/// A scratch directory with one simulated host (`vm-run` running, `vm-off` shut off) and a
/// placement over it and an unreachable second host.
struct TestDriverFleet {
    let root: String
    var state: String { root + "/state" }
    var node: String { root + "/node.xml" }

    init() throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("vp-claims-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        try """
        <node>
          <cpu><mhz>2000</mhz><model>x86_64</model><nodes>1</nodes><sockets>1</sockets><cores>4</cores><threads>1</threads></cpu>
          <memory>8388608</memory>
          <domain type='test'>
            <name>vm-run</name><uuid>22222222-aaaa-4bbb-8ccc-000000000001</uuid>
            <metadata><virtplace:instance xmlns:virtplace="urn:virtplace:1" fleet="claims"/></metadata>
            <memory unit='MiB'>128</memory><vcpu>1</vcpu><os><type>hvm</type></os>
          </domain>
          <domain type='test' xmlns:test='http://libvirt.org/schemas/domain/test/1.0'>
            <name>vm-off</name><uuid>22222222-aaaa-4bbb-8ccc-000000000002</uuid>
            <metadata><virtplace:instance xmlns:virtplace="urn:virtplace:1" fleet="claims"/></metadata>
            <memory unit='MiB'>128</memory><vcpu>1</vcpu><os><type>hvm</type></os>
            <test:runstate>5</test:runstate>
          </domain>
        </node>
        """.write(toFile: node, atomically: false, encoding: .utf8)
    }

    /// A placement: `instances` (YAML, two-space indented) over h1 (this node) and h2 (a
    /// test:// path that does not exist: unreachable).
    func placement(_ instances: String) throws -> String {
        let path = root + "/placement-\(UUID().uuidString.prefix(8)).yaml"
        try """
        apiVersion: virtplace/v1
        kind: Placement
        metadata: {name: claims}
        hosts:
          h1: {uri: "test://\(node)"}
          h2: {uri: "test://\(root)/no-such-host.xml"}
        instances:
        \(instances)
        """.write(toFile: path, atomically: false, encoding: .utf8)
        return path
    }

    func run(_ arguments: [String]) async -> ExitCode {
        await VirtPlace.run(arguments: arguments + ["-q", "--no-color", "--state-dir", state],
                            environment: ["VIRTPLACE_ALLOW_TEST_DRIVER": "1", "NO_COLOR": "1"])
    }

    func remove() { try? FileManager.default.removeItem(atPath: root) }
}

@Suite(.serialized) struct ClaimsCommandTests {
    @Test func planDetailedExitcodeIs0WithoutChangesAnd2WithChangesOrBlockedActions() async throws {
        let fleet = try TestDriverFleet()
        defer { fleet.remove() }
        let converged = try fleet.placement("  vm-run: {host: h1}\n  vm-off: {host: h1}")
        let update = try fleet.placement("  vm-run: {host: h1, config: {memoryMiB: 256}}")
        let stop = try fleet.placement("  vm-run: {host: h1, state: stopped}")
        let blocked = try fleet.placement("  vm-off: {host: h2}")
        #expect(await fleet.run(["plan", "-f", converged, "--detailed-exitcode"]) == .success)
        #expect(await fleet.run(["plan", "-f", update, "--detailed-exitcode"]) == .changesPending)
        #expect(await fleet.run(["plan", "-f", stop, "--detailed-exitcode"]) == .changesPending)
        #expect(await fleet.run(["plan", "-f", blocked, "--detailed-exitcode"]) == .changesPending, "blocked actions count as changes")
        // Without the flag, pending changes are still a success.
        #expect(await fleet.run(["plan", "-f", update]) == .success)
        #expect(ExitCode.changesPending.rawValue == 2 && ExitCode.partial.rawValue == 3)
    }

    @Test(arguments: ["apply", "reconcile"])
    func anUnreachableHostExits3AndBlocksOnlyWhatTouchesIt(command: String) async throws {
        let fleet = try TestDriverFleet()
        defer { fleet.remove() }
        // vm-off pinned to the unreachable h2: blocked. vm-run only needs h1: applied.
        let placement = try fleet.placement("  vm-off: {host: h2}\n  vm-run: {host: h1, state: stopped}")
        let extra = command == "apply" ? ["--auto-approve"] : []
        #expect(await fleet.run([command, "-f", placement] + extra) == .partial)
        // Nothing to do on the reachable host: apply exits 0; reconcile still 3, because a host
        // was unreachable (its exit codes, docs/operations.md).
        let reachable = try fleet.placement("  vm-run: {host: h1}")
        #expect(await fleet.run([command, "-f", reachable] + extra) == (command == "apply" ? .success : .partial))
    }

    @Test func reconcileRefusesWithExit1WhileAnotherProcessHoldsTheLock() async throws {
        let fleet = try TestDriverFleet()
        defer { fleet.remove() }
        let placement = try fleet.placement("  vm-run: {host: h1}")
        #expect(await fleet.run(["apply", "-f", placement, "--auto-approve"]) == .success, "unlocked, it runs")
        // flock(1), not virtplace's own lock code, holds STATE/lock, in a shell that becomes
        // the sleep: one process, ended by its PID.
        let holder = Process()
        holder.executableURL = URL(fileURLWithPath: "/bin/sh")
        holder.arguments = ["-c", "exec 9>>\"$0\"; /usr/bin/flock -n 9 || exit 1; echo held; exec sleep 60", fleet.state + "/lock"]
        let out = Pipe()
        holder.standardOutput = out
        try holder.run()
        defer {
            kill(holder.processIdentifier, SIGKILL)   // the child this test started
            holder.waitUntilExit()
        }
        // The holder has the lock once it prints (an explicit signal, not a sleep).
        let line = out.fileHandleForReading.availableData
        #expect(String(decoding: line, as: UTF8.self).hasPrefix("held"))
        #expect(await fleet.run(["reconcile", "-f", placement]) == .failure)
        #expect(await fleet.run(["apply", "-f", placement, "--auto-approve"]) == .failure)
    }

    @Test func theStateDirectoryIs0700AndItsJournalAndRecords0600() async throws {
        let fleet = try TestDriverFleet()
        defer { fleet.remove() }
        // A stop (recorded first) writes the journal; the mode bits are read from the file
        // system, not from virtplace.
        let placement = try fleet.placement("  vm-run: {host: h1, state: stopped}")
        #expect(await fleet.run(["apply", "-f", placement, "--auto-approve"]) == .success)
        func mode(_ path: String) -> Int? {
            var st = stat()
            return stat(path, &st) == 0 ? Int(st.st_mode & 0o777) : nil
        }
        #expect(mode(fleet.state) == 0o700)
        #expect(mode(fleet.state + "/journal.jsonl") == 0o600)
        #expect(mode(fleet.state + "/lock") == 0o600)
        if let records = FileManager.default.enumerator(atPath: fleet.state + "/records") {
            for case let file as String in records {
                let path = fleet.state + "/records/" + file
                var isDirectory: ObjCBool = false
                _ = FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory)
                #expect(mode(path) == (isDirectory.boolValue ? 0o700 : 0o600), "\(file)")
            }
        }
    }

    /// A host that keeps failing is retried with backoff (interval × 2^n), not every pass: a
    /// listener of the test's own stands in for the host, accepts and hangs up, and counts the
    /// connections; `reconcile --interval 1s` runs some seven passes meanwhile.
    @Test func reconcileBacksOffFromAHostThatKeepsFailing() async throws {
        let fleet = try TestDriverFleet()
        defer { fleet.remove() }
        let listener = try CountingListener()
        defer { listener.close() }
        let path = fleet.root + "/backoff.yaml"
        try """
        apiVersion: virtplace/v1
        kind: Placement
        metadata: {name: claims}
        hosts:
          h1: {uri: "test://\(fleet.node)"}
          h2: {uri: "qemu+tcp://127.0.0.1:\(listener.port)/system"}
        instances:
          vm-run: {host: h1}
        """.write(toFile: path, atomically: false, encoding: .utf8)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: virtplaceBinary)
        process.arguments = ["reconcile", "-f", path, "--interval", "1s", "--state-dir", fleet.state]
        var env = ProcessInfo.processInfo.environment
        env["VIRTPLACE_ALLOW_TEST_DRIVER"] = "1"
        process.environment = env
        let out = fleet.root + "/reconcile.out"
        _ = createPlainFile(atPath: out, contents: nil)
        process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: out))
        process.standardError = FileHandle.nullDevice
        try process.run()
        func log() -> String { (try? String(contentsOfFile: out, encoding: .utf8)) ?? "" }
        func passes() -> Int { log().components(separatedBy: #""event":"pass-end""#).count - 1 }
        // Seven passes (an explicit count, read from its own log), then SIGTERM to this child.
        let deadline = Date().addingTimeInterval(60)
        // Polling the child's log; Task.sleep yields this thread to the other tests meanwhile.
        while passes() < 7, Date() < deadline, process.isRunning { try await Task.sleep(for: .milliseconds(50)) }
        kill(process.processIdentifier, SIGTERM)
        process.waitUntilExit()
        let n = passes()
        let contacts = listener.accepted
        #expect(n >= 7, "\(n) passes: \(log())")
        // Without backoff, every pass would connect; with it, passes 1, 2, 4 (and 8) do.
        #expect(contacts >= 2 && contacts <= 4, "\(contacts) connections over \(n) passes")
        #expect(log().contains("not contacted: backing off until"), "\(log())")
    }
}

/// A TCP listener on 127.0.0.1 (a port the kernel picks) that accepts each connection, hangs
/// up at once, and counts them: a host that always fails, and a witness of each attempt.
final class CountingListener: @unchecked Sendable {
    let port: UInt16
    private let fd: Int32
    private let lock = NSLock()
    private var count = 0
    private var closed = false

    struct Failed: Error { var what: String }

    init() throws {
        let sock = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard sock >= 0 else { throw Failed(what: "socket") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(sock, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(sock, 16) == 0 else { _ = Glibc.close(sock); throw Failed(what: "bind/listen") }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(sock, $0, &length) }
        }
        fd = sock
        port = UInt16(bigEndian: address.sin_port)
        Thread { [self] in
            while true {
                let client = accept(sock, nil, nil)
                if client < 0 { return }
                lock.lock(); count += 1; lock.unlock()
                _ = Glibc.close(client)
            }
        }.start()
    }

    var accepted: Int { lock.lock(); defer { lock.unlock() }; return count }

    /// A libvirt URI that reaches it.
    var uri: String { "qemu+tcp://127.0.0.1:\(port)/system" }

    func close() {
        lock.lock(); defer { lock.unlock() }
        guard !closed else { return }
        closed = true
        shutdown(fd, Int32(SHUT_RDWR))
        _ = Glibc.close(fd)
    }
}
