import Foundation
import Testing

/// `apply --until`: a maintenance window that fits two of four live moves starts exactly those
/// two. Witnesses: virsh on every host (where each guest is, and that it runs) and the guests'
/// console heartbeats (the two that moved kept running: same boot).
@Suite(.serialized) struct WindowLabTests {
    @Test func aWindowThatFitsTwoOfFourMovesStartsExactlyThoseTwo() throws {
        let lab = try Lab.require()
        let vp = try VirtPlace(lab: lab)
        let names = (1...4).map { _ in Lab.uniqueName("win") }
        defer { for n in names { lab.removeGuest(n) } }
        for n in names { _ = try lab.createGuest("heartbeat", n, host: 1, ["--wait", "--memory", "128"]) }
        let boots = Dictionary(uniqueKeysWithValues: names.map { ($0, lab.bootID($0)) })
        // 8 MiB/s declared, two at a time. No history yet: each move is estimated at QEMU's
        // resident set less 120 MiB (about 96 MiB for these guests; checked against virsh
        // below) at 8 MiB/s plus the fixed part, ≈ 14 s. The window is the longest estimate
        // plus 5 s (what observation before the window is counted may eat): the first two fit;
        // the other two could start only when those end and would end at about twice that.
        let placement = try vp.placement(names.map { "  \($0): {host: host2}" }.joined(separator: "\n"), policy: """
          parallel: {total: 2, perHost: 2}
          live: {bandwidthMiBps: 8}
        """)
        // The witness for the estimate's basis: libvirt's own figure, through virsh.
        let resident = Dictionary(uniqueKeysWithValues: names.map { n in
            (n, lab.virsh(1, ["domstats", "--balloon", n]).stdout.split(separator: "\n")
                .first { $0.contains("balloon.rss=") }.flatMap { Int($0.split(separator: "=").last ?? "") } ?? -1)
        })
        let plan = vp.run(["plan", "-f", placement, "-f", lab.hostsYAML, "-o", "json"])
        #expect(plan.status == 0, "\(plan.output)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(plan.stdout.utf8)) as? [String: Any])
        let actions = try #require(json["actions"] as? [[String: Any]])
        for a in actions {
            let name = try #require(a["instance"] as? String), rss = try #require(resident[name])
            let bytes = try #require((a["estimate"] as? [String: Any])?["bytes"] as? Int)
            let expected = min(128, max(16, rss / 1024 - 120))
            #expect(rss > 0 && abs(bytes / 1_048_576 - expected) <= 4, "\(name): \(bytes) B for balloon.rss \(rss) KiB")
        }
        let estimates = actions.compactMap { ($0["estimate"] as? [String: Any])?["seconds"] as? Double }
        try #require(estimates.count == 4, "\(actions)")
        let window = Int((estimates.max() ?? 0).rounded(.up)) + 5
        try #require(2 * (estimates.min() ?? 0) > Double(window) + 1, "the second pair cannot fit: \(estimates), window \(window) s")

        let started = Date()
        let apply = vp.apply(placement, ["--auto-approve", "--until", "\(window)s"])
        let seconds = Date().timeIntervalSince(started)
        #expect(apply.status == 0, "deferred moves are no failure: \(apply.output)")

        let moved = names.filter { lab.whereIs($0) == [2: "running"] }
        let stayed = names.filter { lab.whereIs($0) == [1: "running"] }
        #expect(moved.count == 2, "exactly two moved: \(names.map { ($0, lab.whereIs($0)) })")
        #expect(stayed.count == 2, "two still on host1, running: \(names.map { ($0, lab.whereIs($0)) })")
        for n in moved { #expect(lab.bootID(n) == boots[n] ?? nil, "\(n) moved live (same boot)") }
        // The deferred ones are listed, with the reason code, and the summary counts them.
        for n in stayed {
            #expect(apply.stdout.contains(n) && apply.stdout.contains("deferred: it would take about"), "\(apply.stdout)")
        }
        #expect(apply.stdout.contains("2 done, 0 failed, 0 blocked, 2 deferred"), "\(apply.stdout)")
        #expect(seconds < Double(window) + 25, "nothing waited for the deferred moves: \(seconds) s")
        // Each finished move reported its actuals beside its estimate.
        #expect(apply.stdout.components(separatedBy: "; estimate ").count == 3, "\(apply.stdout)")
    }
}
