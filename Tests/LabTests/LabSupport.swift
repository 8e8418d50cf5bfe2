import Foundation
import Testing

/// The lab these tests run against: read from `VIRTPLACE_LAB_ENV` (the `lab.env` that
/// `lab/lab up` writes). Lab tests never skip: without a lab they fail, saying so.
struct Lab: Sendable {
    let env: [String: String]
    let repo: URL

    /// The lab, or a failure that says how to get one.
    static func current() throws -> Lab {
        let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        guard let path = ProcessInfo.processInfo.environment["VIRTPLACE_LAB_ENV"], !path.isEmpty else {
            throw LabUnavailable(message: "VIRTPLACE_LAB_ENV is not set: lab tests need a running lab (scripts/test starts one; or `lab/lab up 3` and VIRTPLACE_LAB_ENV=/var/tmp/virtplace-lab/lab.env)")
        }
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw LabUnavailable(message: "cannot read \(path): is the lab up?")
        }
        var env: [String: String] = [:]
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            let kv = line.split(separator: "=", maxSplits: 1)
            if kv.count == 2 { env[String(kv[0])] = String(kv[1]) }
        }
        let lab = Lab(env: env, repo: repo)
        for i in 1...lab.hostCount {
            let r = try lab.virsh(i, ["version"], check: false)
            guard r.status == 0 else {
                throw LabUnavailable(message: "lab host \(i) (\(lab.uri(i))) does not answer: \(r.stderr)")
            }
        }
        return lab
    }

    var dir: String { env["LAB_DIR"] ?? "" }
    var hostCount: Int { Int(env["LAB_HOSTS"] ?? "") ?? 0 }
    func uri(_ i: Int) -> String { env["LAB_URI_\(i)"] ?? "" }
    var hostsYAML: String { env["LAB_HOSTS_YAML"] ?? dir + "/hosts.yaml" }
    var tool: String { repo.appendingPathComponent("lab/lab").path }

    /// `lab/lab ARGS` for this lab.
    @discardableResult
    func lab(_ args: [String], check: Bool = true) throws -> ProcessResult {
        try run(tool, args, environment: ["VIRTPLACE_LAB_DIR": dir, "VIRTPLACE_LAB_SKIP_DEPS": "1"], check: check)
    }

    /// `virsh -c URI(i) ARGS`: the independent witness.
    @discardableResult
    func virsh(_ i: Int, _ args: [String], check: Bool = true) throws -> ProcessResult {
        try run("/usr/bin/virsh", ["-q", "-c", uri(i)] + args, check: check)
    }

    /// The domain's state on host i per virsh (`running`, `shut off`), or nil when not defined there.
    func state(_ name: String, on i: Int) throws -> String? {
        let r = try virsh(i, ["domstate", name], check: false)
        return r.status == 0 ? r.stdout.trimmingCharacters(in: .whitespacesAndNewlines) : nil
    }

    /// The last heartbeat counter in the guest's console log.
    func heartbeat(_ name: String) throws -> Int? {
        let r = try lab(["guest", "heartbeat", name], check: false)
        return r.status == 0 ? Int(r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) : nil
    }

    /// Waits until the heartbeat counter exceeds `after`.
    @discardableResult
    func waitHeartbeat(_ name: String, after: Int = -1, timeout: Int = 90) throws -> Int {
        let r = try lab(["guest", "wait", name, "--timeout", "\(timeout)", "--after", "\(after)"])
        return Int(r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1
    }

    /// The number of boots in the console log (the init prints a line at each boot).
    func consoleLog(_ name: String) throws -> String {
        let path = try lab(["guest", "console", name]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        return (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
    }
}

struct LabUnavailable: Error, CustomStringConvertible {
    var message: String
    var description: String { "lab unavailable: \(message)" }
}

struct ProcessResult: Sendable {
    var status: Int32
    var stdout: String
    var stderr: String
}

struct ProcessFailed: Error, CustomStringConvertible {
    var command: String
    var result: ProcessResult
    var description: String { "'\(command)' exited \(result.status): \(result.stderr)\(result.stdout)" }
}

/// Runs a program to completion, collecting its output (stdin is /dev/null).
@discardableResult
func run(_ program: String, _ args: [String], environment: [String: String] = [:], check: Bool = true) throws -> ProcessResult {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: program)
    process.arguments = args
    process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    process.standardInput = FileHandle.nullDevice
    try process.run()
    // Read both pipes while the process runs, so that a full pipe never blocks it.
    nonisolated(unsafe) var errData = Data()
    let reader = Thread { errData = err.fileHandleForReading.readDataToEndOfFile() }
    reader.start()
    let outData = out.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    while !reader.isFinished { usleep(1000) }
    let result = ProcessResult(status: process.terminationStatus,
                               stdout: String(decoding: outData, as: UTF8.self),
                               stderr: String(decoding: errData, as: UTF8.self))
    if check && result.status != 0 {
        throw ProcessFailed(command: ([program] + args).joined(separator: " "), result: result)
    }
    return result
}

extension Lab {
    /// The `virtplace` binary built beside these tests.
    var virtplaceBinary: String {
        let build = repo.appendingPathComponent(".build")
        for config in ["debug", "release"] {
            let path = build.appendingPathComponent(config).appendingPathComponent("virtplace").path
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        return build.appendingPathComponent("debug/virtplace").path
    }

    /// Runs `virtplace ARGS` with a state directory of its own for this lab.
    @discardableResult
    func virtplace(_ args: [String], stateDir: String? = nil, check: Bool = false) throws -> ProcessResult {
        try run(virtplaceBinary, args, environment: ["VIRTPLACE_STATE_DIR": stateDir ?? dir + "/virtplace-state", "NO_COLOR": "1"], check: check)
    }

    /// Writes a placement file for a test: the lab's hosts plus `body` (YAML), returns its path.
    func placement(_ name: String, _ body: String) throws -> String {
        let hosts = try String(contentsOfFile: hostsYAML, encoding: .utf8)
        let path = dir + "/test-\(name).yaml"
        try (body + "\n" + hosts).write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }
}
