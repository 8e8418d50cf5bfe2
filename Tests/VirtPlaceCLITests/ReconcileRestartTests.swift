import Foundation
import Testing
import TestSupport

/// `reconcile --interval` starts itself again once with glibc's per-thread malloc caches off
/// (`ProcessMemory.restartWithoutThreadCaches`). Witness: the kernel's copy of the environment
/// the process was last started with (`/proc/PID/environ`), for the process id `Process`
/// started, not anything virtplace says.
@Suite struct ReconcileRestartTests {
    /// The environment `pid` was last exec'd with, entry by entry. glibc cuts its own copy of
    /// `GLIBC_TUNABLES` at each `:` (it writes NULs into it), so a list of tunables shows as
    /// several entries.
    private func execEnvironment(_ pid: Int32) -> [String] {
        guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/environ") else { return [] }
        return data.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
    }

    /// Runs `reconcile --interval 1s` on an empty fleet until its first pass ends, and returns
    /// what its environment was, its log, and its exit code after SIGTERM.
    private func firstPass(tunables: String?) async throws -> (environment: [String], log: String, status: Int32) {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("vp-restart-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: root) }
        try "apiVersion: virtplace/v1\nkind: Placement\nmetadata: {name: restart}\nhosts: {}\ninstances: {}\n"
            .write(toFile: root + "/p.yaml", atomically: false, encoding: .utf8)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: virtplaceBinary)
        process.arguments = ["reconcile", "-f", root + "/p.yaml", "--interval", "1s", "--state-dir", root + "/state"]
        var env = ProcessInfo.processInfo.environment
        env["GLIBC_TUNABLES"] = tunables
        process.environment = env
        let out = root + "/out"
        _ = createPlainFile(atPath: out, contents: nil)
        process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: out))
        process.standardError = FileHandle.nullDevice
        try process.run()
        func log() -> String { (try? String(contentsOfFile: out, encoding: .utf8)) ?? "" }
        let deadline = Date().addingTimeInterval(60)
        while !log().contains(#""event":"pass-end""#), Date() < deadline, process.isRunning { try await Task.sleep(for: .milliseconds(50)) }
        let environment = execEnvironment(process.processIdentifier)
        kill(process.processIdentifier, SIGTERM)
        process.waitUntilExit()
        return (environment, log(), process.terminationStatus)
    }

    @Test func aLoopRunsWithoutThreadCaches() async throws {
        let run = try await firstPass(tunables: nil)
        #expect(run.log.contains(#""event":"pass-end""#), "\(run.log)")
        #expect(run.environment.contains("GLIBC_TUNABLES=glibc.malloc.tcache_count=0"), "\(run.environment.filter { $0.contains("glibc") })")
        #expect(run.status == 0)
    }

    /// Other tunables are kept, the caches' setting added after them.
    @Test func otherTunablesAreKept() async throws {
        let run = try await firstPass(tunables: "glibc.pthread.stack_cache_size=0")
        let glibc = run.environment.filter { $0.contains("glibc.") }
        #expect(glibc == ["GLIBC_TUNABLES=glibc.pthread.stack_cache_size=0", "glibc.malloc.tcache_count=0"], "\(glibc)")
        #expect(run.status == 0)
    }

    /// An operator's own setting of the caches stands: no restart.
    @Test func anOperatorsSettingStands() async throws {
        let run = try await firstPass(tunables: "glibc.malloc.tcache_count=3")
        let glibc = run.environment.filter { $0.contains("glibc.") }
        #expect(glibc == ["GLIBC_TUNABLES=glibc.malloc.tcache_count=3"], "\(glibc)")
        #expect(run.status == 0)
    }
}
