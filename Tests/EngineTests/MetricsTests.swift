import Foundation
import Testing
@testable import Engine

@Suite struct MetricsTests {
    @Test func prometheusTextIsExactAndSorted() {
        var pass = PassMetrics()
        pass.instances = ["converged": 7, "changed": 2, "blocked": 1]
        pass.actions = [.init(kind: "live", outcome: "done"): 1, .init(kind: "update", outcome: "done"): 1, .init(kind: "cold", outcome: "blocked"): 1]
        pass.hostsReachable = 2; pass.hostsUnreachable = 1
        pass.durationSeconds = 12.5; pass.endedAt = 1_800_000_000; pass.success = false
        pass.downtimes = ["web-1": 0.217]
        var totals = MetricsTotals()
        totals.add(pass)
        let text = renderMetrics(pass, totals: totals, fleet: "lab")
        #expect(text.contains("virtplace_instances{fleet=\"lab\",status=\"converged\"} 7\n"))
        #expect(text.contains("virtplace_instances{fleet=\"lab\",status=\"failed\"} 0\n"))
        #expect(text.contains("virtplace_last_pass_actions{fleet=\"lab\",kind=\"cold\",outcome=\"blocked\"} 1\nvirtplace_last_pass_actions{fleet=\"lab\",kind=\"live\",outcome=\"done\"} 1\n"))
        #expect(text.contains("virtplace_last_pass_duration_seconds{fleet=\"lab\"} 12.5\n"))
        #expect(text.contains("virtplace_last_pass_timestamp_seconds{fleet=\"lab\"} 1800000000\n"))
        #expect(text.contains("virtplace_last_pass_success{fleet=\"lab\"} 0\n"))
        #expect(text.contains("virtplace_failed_passes_total{fleet=\"lab\"} 1\n"))
        #expect(text.contains("virtplace_migration_downtime_seconds{fleet=\"lab\",instance=\"web-1\"} 0.217\n"))
        // Every sample line belongs to a family declared just before it.
        var declared = Set<String>()
        for line in text.split(separator: "\n") {
            if line.hasPrefix("# TYPE ") { declared.insert(String(line.split(separator: " ")[2])) }
            else if !line.hasPrefix("#") { #expect(declared.contains(String(line.prefix { $0 != "{" }))) }
        }
    }

    @Test func aFractionalTimestampKeepsItsSeconds() {
        var pass = PassMetrics()
        pass.endedAt = 1_796_649_227.597
        pass.durationSeconds = 2.75
        let text = renderMetrics(pass, totals: .init(), fleet: "x")
        let line = text.split(separator: "\n").first { $0.hasPrefix("virtplace_last_pass_timestamp_seconds") } ?? ""
        let value = Double(line.split(separator: " ").last ?? "") ?? 0
        #expect(abs(value - 1_796_649_227.597) < 0.001, "\(line)")
        #expect(text.contains("virtplace_last_pass_duration_seconds{fleet=\"x\"} 2.75\n"))
    }

    @Test func labelsAreEscaped() {
        var pass = PassMetrics()
        pass.downtimes = ["a\"b\\c": 1]
        #expect(renderMetrics(pass, totals: .init(), fleet: "x").contains("instance=\"a\\\"b\\\\c\""))
    }

    @Test func writesAtomically() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("vp-metrics-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("virtplace.prom").path
        try writeMetrics("a 1\n", to: path)
        try writeMetrics("b 2\n", to: path)
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "b 2\n")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["virtplace.prom"])
        #expect(throws: EngineError.self) { try writeMetrics("x", to: "/nonexistent-dir/x.prom") }
    }
}
