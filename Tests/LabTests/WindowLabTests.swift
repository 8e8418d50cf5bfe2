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
        // 16 MiB/s declared: each move is estimated at 128 MiB / 16 MiB/s + the fixed part ≈ 10 s,
        // two at a time. A 15 s window: the first two fit (end at ≈ 10 s); the other two could
        // start only when those end and would end at ≈ 20 s. (Observation before the window is
        // counted eats at most the 5 s of slack.)
        let placement = try vp.placement(names.map { "  \($0): {host: host2}" }.joined(separator: "\n"), policy: """
          parallel: {total: 2, perHost: 2}
          live: {bandwidthMiBps: 16}
        """)
        let plan = vp.run(["plan", "-f", placement, "-f", lab.hostsYAML, "-o", "json"])
        #expect(plan.status == 0, "\(plan.output)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(plan.stdout.utf8)) as? [String: Any])
        let actions = try #require(json["actions"] as? [[String: Any]])
        let estimates = actions.compactMap { ($0["estimate"] as? [String: Any])?["seconds"] as? Double }
        #expect(estimates.count == 4 && estimates.allSatisfy { $0 >= 9 && $0 <= 11 }, "\(estimates)")

        let started = Date()
        let apply = vp.apply(placement, ["--auto-approve", "--until", "15s"])
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
        #expect(seconds < 40, "nothing waited for the deferred moves: \(seconds) s")
        // Each finished move reported its actuals beside its estimate.
        #expect(apply.stdout.components(separatedBy: "; estimate ").count == 3, "\(apply.stdout)")
    }
}
