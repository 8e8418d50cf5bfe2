import Foundation
import Testing
import TestSupport

/// The lab these tests run against: `VIRTPLACE_LAB_ENV` names its `lab.env` (written by
/// `lab/lab up`). A missing or silent lab fails the tests with a message; they never skip.
struct Lab: Sendable {
    let env: [String: String]
    let labEnvPath: String

    struct Unavailable: Error, CustomStringConvertible {
        var description: String
    }

    /// The lab, checked: every host answers `virsh version`.
    /// - Throws: `Unavailable` with what to do.
    static func require() throws -> Lab {
        guard let path = ProcessInfo.processInfo.environment["VIRTPLACE_LAB_ENV"], !path.isEmpty else {
            throw Unavailable(description: "VIRTPLACE_LAB_ENV is not set: start a lab (lab/lab up 3) and run the lab tests with VIRTPLACE_LAB_ENV=$LAB_DIR/lab.env (scripts/test does both)")
        }
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw Unavailable(description: "cannot read \(path) (VIRTPLACE_LAB_ENV): is the lab up? (lab/lab up 3)")
        }
        var env: [String: String] = [:]
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            guard let eq = line.firstIndex(of: "=") else { continue }
            env[String(line[..<eq])] = String(line[line.index(after: eq)...])
        }
        let lab = Lab(env: env, labEnvPath: path)
        guard let hosts = Int(env["LAB_HOSTS"] ?? ""), hosts >= 3 else {
            throw Unavailable(description: "\(path) names \(env["LAB_HOSTS"] ?? "no") hosts: the lab tests need 3 (lab/lab up 3)")
        }
        for i in 1...3 {
            let r = lab.virsh(i, ["version"], timeout: 15)
            guard r.status == 0 else {
                throw Unavailable(description: "lab host \(i) (\(lab.uri(i))) does not answer: \(r.stderr.trimmingCharacters(in: .whitespacesAndNewlines)) — is the lab up? (lab/lab status)")
            }
        }
        return lab
    }

    var dir: String { env["LAB_DIR"] ?? "" }
    var tool: String { env["LAB_TOOL"] ?? "lab/lab" }
    var hostsYAML: String { env["LAB_HOSTS_YAML"] ?? dir + "/hosts.yaml" }
    func uri(_ i: Int) -> String { env["LAB_URI_\(i)"] ?? "" }
    func localDir(_ i: Int) -> String { env["LAB_LOCAL_DIR_\(i)"] ?? "" }
    var consoleDir: String { env["LAB_CONSOLE_DIR"] ?? dir + "/consoles" }

    // MARK: Processes

    struct Result: Sendable {
        var status: Int32
        var stdout: String
        var stderr: String
        var output: String { stdout + stderr }
    }

    /// Runs a program to its end, output captured through files (no pipe to fill).
    static func run(_ executable: String, _ arguments: [String], environment: [String: String] = [:],
                    input: String? = nil, timeout: Double = 300) -> Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        for (k, v) in environment { env[k] = v }
        process.environment = env
        let base = NSTemporaryDirectory() + "labtest-" + UUID().uuidString
        _ = createPlainFile(atPath: base + ".out", contents: nil)
        _ = createPlainFile(atPath: base + ".err", contents: nil)
        defer {
            try? FileManager.default.removeItem(atPath: base + ".out")
            try? FileManager.default.removeItem(atPath: base + ".err")
        }
        guard let out = FileHandle(forWritingAtPath: base + ".out"), let err = FileHandle(forWritingAtPath: base + ".err") else {
            return Result(status: -1, stdout: "", stderr: "cannot create output files")
        }
        process.standardOutput = out
        process.standardError = err
        if let input {
            _ = createPlainFile(atPath: base + ".in", contents: Data(input.utf8))
            process.standardInput = FileHandle(forReadingAtPath: base + ".in")
        } else {
            process.standardInput = FileHandle.nullDevice
        }
        defer { try? FileManager.default.removeItem(atPath: base + ".in") }
        do { try process.run() } catch {
            return Result(status: -1, stdout: "", stderr: "cannot run \(executable): \(error)")
        }
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning {
            if Date() > deadline {
                process.terminate()
                break
            }
            usleep(20_000)
        }
        process.waitUntilExit()
        try? out.close()
        try? err.close()
        let stdout = (try? String(contentsOfFile: base + ".out", encoding: .utf8)) ?? ""
        let stderr = (try? String(contentsOfFile: base + ".err", encoding: .utf8)) ?? ""
        return Result(status: process.terminationStatus, stdout: stdout, stderr: stderr)
    }

    /// `virsh -c URI(i) ARGS…`: the independent witness.
    func virsh(_ host: Int, _ arguments: [String], timeout: Double = 60) -> Result {
        Lab.run("/usr/bin/virsh", ["-q", "-c", uri(host)] + arguments, timeout: timeout)
    }

    /// `lab/lab ARGS…` for this lab.
    @discardableResult
    func lab(_ arguments: [String]) -> Result {
        Lab.run("/bin/bash", [tool] + arguments, environment: ["VIRTPLACE_LAB_DIR": dir])
    }

    // MARK: Guests

    /// A name no other test uses.
    static func uniqueName(_ prefix: String) -> String {
        "lt-\(prefix)-" + String(UUID().uuidString.prefix(6)).lowercased()
    }

    /// `lab/lab guest create KIND NAME --host I OPTIONS…`; the guest's KEY=VALUE facts.
    func createGuest(_ kind: String, _ name: String, host: Int, _ options: [String] = []) throws -> [String: String] {
        let r = lab(["guest", "create", kind, name, "--host", "\(host)"] + options)
        guard r.status == 0 else {
            throw Unavailable(description: "lab/lab guest create \(kind) \(name) failed: \(r.stderr)")
        }
        var facts: [String: String] = [:]
        for line in r.stdout.split(separator: "\n") {
            guard let eq = line.firstIndex(of: "=") else { continue }
            facts[String(line[..<eq])] = String(line[line.index(after: eq)...])
        }
        return facts
    }

    func removeGuest(_ name: String) { lab(["guest", "remove", name]) }

    /// The last heartbeat counter in the guest's console, nil before the first.
    func heartbeat(_ name: String) -> Int? {
        let r = lab(["guest", "heartbeat", name])
        return r.status == 0 ? Int(r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) : nil
    }

    /// Waits for a counter above `after`; returns it.
    func waitHeartbeat(_ name: String, after: Int = -1, timeout: Int = 60) -> Int? {
        let r = lab(["guest", "wait", name, "--after", "\(after)", "--timeout", "\(timeout)"])
        return r.status == 0 ? Int(r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) : nil
    }

    /// The id of the guest's current boot (the last `hb-boot ID` line of its console): a new
    /// one after a restart, the same after a live migration.
    func bootID(_ name: String) -> String? {
        let text = (try? String(contentsOfFile: consoleDir + "/\(name).log", encoding: .utf8)) ?? ""
        // Kernel lines end in "\r\n", one Character: split on any newline.
        return text.split(whereSeparator: \.isNewline).last { $0.hasPrefix("hb-boot ") }.map { String($0.dropFirst("hb-boot ".count)) }
    }

    /// Waits for a boot id other than `old`; returns it (nil after `timeout`).
    func waitNewBoot(_ name: String, other old: String?, timeout: Double = 60) -> String? {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if let id = bootID(name), id != old { return id }
            usleep(200_000)
        }
        return nil
    }

    /// Which lab hosts define `name`, and in which state (`virsh domstate`).
    func whereIs(_ name: String) -> [Int: String] {
        var found: [Int: String] = [:]
        for i in 1...3 {
            let r = virsh(i, ["domstate", name])
            if r.status == 0 { found[i] = r.stdout.trimmingCharacters(in: .whitespacesAndNewlines) }
        }
        return found
    }

    func sha256(_ path: String) -> String? {
        let r = Lab.run("/usr/bin/sha256sum", [path])
        return r.status == 0 ? r.stdout.split(separator: " ").first.map(String.init) : nil
    }
}

/// Runs the built `virtplace` with a placement of its own and a state directory of its own.
struct VirtPlace: Sendable {
    let lab: Lab
    let workDir: String

    init(lab: Lab) throws {
        self.lab = lab
        workDir = NSTemporaryDirectory() + "virtplace-labtest-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: workDir, withIntermediateDirectories: true)
    }

    /// The `virtplace` built beside the test bundle (`.build/<triple>/debug/virtplace`).
    static var binary: String {
        let candidates = [
            URL(fileURLWithPath: CommandLine.arguments.first ?? "").deletingLastPathComponent().appendingPathComponent("virtplace").path,
            URL(fileURLWithPath: CommandLine.arguments.first ?? "").deletingLastPathComponent().deletingLastPathComponent()
                .appendingPathComponent("virtplace").path,
            URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
                .appendingPathComponent(".build/debug/virtplace").path,
        ]
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0) } ?? candidates[candidates.count - 1]
    }

    var stateDir: String { workDir + "/state" }

    /// Writes the placement (`instances:` YAML, indented by two spaces per level) and returns
    /// its path.
    func placement(_ instances: String, policy: String = "", name: String = "placement.yaml") throws -> String {
        let text = """
        apiVersion: virtplace/v1
        kind: Placement
        metadata: {name: labtest}
        policy:
          shutdownTimeoutSeconds: 30
          forceOff: true
        \(policy)
        storage: {sharedPools: [shared], localPools: [local]}
        instances:
        \(instances)
        """
        let path = workDir + "/" + name
        try text.write(toFile: path, atomically: false, encoding: .utf8)
        return path
    }

    /// `virtplace ARGS…` with the lab's hosts added to `-f` placements, the state directory,
    /// and the mutating-call count on stderr.
    func run(_ arguments: [String], timeout: Double = 300) -> Lab.Result {
        Lab.run(Self.binary, arguments + ["--state-dir", stateDir], environment: ["VIRTPLACE_DEBUG_CALLS": "1", "NO_COLOR": "1"],
                timeout: timeout)
    }

    func apply(_ placement: String, _ extra: [String] = ["--auto-approve"]) -> Lab.Result {
        run(["apply", "-f", placement, "-f", lab.hostsYAML] + extra)
    }

    /// The `libvirt mutating calls: N` a run printed: a diagnostic shown beside a difference the
    /// witness found, never the judge of "nothing changed" (that is `expectUntouched`).
    static func mutatingCalls(_ r: Lab.Result) -> Int? {
        guard let line = r.stderr.split(separator: "\n").last(where: { $0.hasPrefix("libvirt mutating calls: ") }) else { return nil }
        return Int(line.dropFirst("libvirt mutating calls: ".count).prefix { $0.isNumber })
    }
}

/// Applies again, then (unless `reconcilePass` is false: loops that converge many times do it
/// once at their end) runs one reconcile pass, and expects nothing to do from either: exit 0,
/// "No changes.", and, judged by the independent witness (virsh and sha256sum on every host,
/// `expectUntouched`), every domain's XML, state and every volume's checksum the same before
/// and after each run.
func expectConverged(_ vp: VirtPlace, _ placement: String, reconcilePass: Bool = true, sourceLocation: SourceLocation = #_sourceLocation) {
    let again = expectUntouched(vp.lab, "the second apply", sourceLocation: sourceLocation) { vp.apply(placement) }
    #expect(again.status == 0, "second apply: \(again.output)", sourceLocation: sourceLocation)
    #expect(again.stdout.contains("No changes."), "second apply: \(again.output)", sourceLocation: sourceLocation)
    guard reconcilePass else { return }
    let pass = expectUntouched(vp.lab, "a reconcile pass", sourceLocation: sourceLocation) {
        vp.run(["reconcile", "-f", placement, "-f", vp.lab.hostsYAML])
    }
    #expect(pass.status == 0, "reconcile pass: \(pass.output)", sourceLocation: sourceLocation)
    #expect(pass.stdout.contains("No changes."), "reconcile pass: \(pass.output)", sourceLocation: sourceLocation)
}
