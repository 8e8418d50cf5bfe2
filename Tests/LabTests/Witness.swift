import Foundation
import Testing

// The independent witness of "nothing changed": what every lab host holds, read with virsh and
// sha256sum, never with virtplace. Two snapshots taken around a run that should change nothing
// must be equal; virtplace's own `libvirt mutating calls: N` line is only shown beside a
// difference, as a diagnostic.

/// Every fact the witness reads, keyed by where it was read (`host2 domain web-1 xml-inactive`,
/// `volume /var/…/web-1.img sha256`).
struct FleetSnapshot: Equatable, Sendable {
    var facts: [String: String]

    /// The keys whose values differ (or exist on one side only), each with the first line that
    /// differs, sorted.
    func differences(to other: FleetSnapshot) -> [String] {
        Set(facts.keys).union(other.facts.keys).sorted().compactMap { (key: String) -> String? in
            let a = facts[key], b = other.facts[key]
            guard a != b else { return nil }
            guard let a, let b else { return "\(key): \(a == nil ? "appeared" : "disappeared")" }
            let la = a.split(separator: "\n", omittingEmptySubsequences: false)
            let lb = b.split(separator: "\n", omittingEmptySubsequences: false)
            let i = Array(zip(la, lb)).firstIndex { $0.0 != $0.1 } ?? min(la.count, lb.count)
            let before = i < la.count ? String(la[i]) : "(end)"
            let after = i < lb.count ? String(lb[i]) : "(end)"
            return "\(key): line \(i + 1): \(before.trimmingCharacters(in: .whitespaces)) → \(after.trimmingCharacters(in: .whitespaces))"
        }
    }

    /// How many domains and volumes it holds (a witness that saw nothing proves nothing).
    var domainCount: Int { facts.keys.filter { $0.hasSuffix(" state") }.count }
    var volumeCount: Int { facts.keys.filter { $0.hasSuffix(" sha256") }.count }
}

extension Lab {
    /// What every host holds, as virsh reports it: each domain's inactive and live XML, its
    /// state with the reason, persistence, autostart, managed save and snapshots; each pool's
    /// volumes; each volume file's SHA-256 (the shared pool's files once).
    func snapshot() -> FleetSnapshot {
        var facts: [String: String] = [:]
        var paths = Set<String>()
        for i in 1...3 {
            let host = "host\(i)"
            let lists = sections(virsh(i, ["echo @@domains@@; list --all --name; echo @@pools@@; pool-list --all --name; echo @@end@@"]).stdout)
            let domains = words(lists["domains"])
            let pools = words(lists["pools"])
            facts["\(host) domains"] = domains.sorted().joined(separator: " ")
            facts["\(host) pools"] = pools.sorted().joined(separator: " ")
            // The pools re-read first: a shared directory's listing on one host is libvirt's
            // cached view, which another host's new file (or virtplace's own pool refresh
            // before planning) changes without any change to the storage.
            var commands: [String] = ["echo @@refresh@@"] + pools.map { "pool-refresh \($0)" }
            for d in domains {
                commands += ["echo @@domain \(d) xml-inactive@@", "dumpxml --inactive --security-info \(d)",
                             "echo @@domain \(d) xml-live@@", "dumpxml --security-info \(d)",
                             "echo @@domain \(d) state@@", "domstate --reason \(d)",
                             "echo @@domain \(d) info@@", "dominfo \(d)",
                             "echo @@domain \(d) snapshots@@", "snapshot-list --name \(d)"]
            }
            for p in pools { commands += ["echo @@pool \(p) volumes@@", "vol-list \(p)"] }
            commands.append("echo @@end@@")
            let details = sections(virsh(i, [commands.joined(separator: "; ")], timeout: 120).stdout)
            for (key, value) in details where key != "end" && key != "refresh" {
                if key.hasSuffix(" info") {
                    // Only what an operation changes, not the CPU time a running guest uses.
                    let wanted = ["Persistent:", "Autostart:", "Managed save:", "State:", "UUID:", "Max memory:", "CPU(s):"]
                    let kept = value.split(separator: "\n").filter { line in wanted.contains { line.hasPrefix($0) } }
                    facts["\(host) \(key)"] = kept.joined(separator: "\n")
                } else if key.hasSuffix(" volumes") {
                    // Name and path of each volume, not virsh's column padding (its width
                    // follows the longest name in the pool).
                    let rows = value.split(separator: "\n").map { $0.split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ") }
                    facts["\(host) \(key)"] = rows.filter { !$0.isEmpty }.joined(separator: "\n")
                } else {
                    facts["\(host) \(key)"] = value.trimmingCharacters(in: .whitespacesAndNewlines)
                }
                if key.hasSuffix(" volumes") {
                    for line in value.split(separator: "\n") {
                        let fields = line.split(separator: " ", omittingEmptySubsequences: true)
                        if fields.count >= 2, let path = fields.last, path.hasPrefix("/") { paths.insert(String(path)) }
                    }
                }
            }
        }
        if !paths.isEmpty {
            let sums = Lab.run("/usr/bin/sha256sum", paths.sorted(), timeout: 300).stdout
            for line in sums.split(separator: "\n") {
                let fields = line.split(separator: " ", maxSplits: 1)
                guard fields.count == 2 else { continue }
                facts["volume \(fields[1].trimmingCharacters(in: .whitespaces)) sha256"] = String(fields[0])
            }
            for path in paths where facts["volume \(path) sha256"] == nil { facts["volume \(path) sha256"] = "unreadable" }
        }
        return facts.isEmpty ? FleetSnapshot(facts: ["witness": "virsh read nothing"]) : FleetSnapshot(facts: facts)
    }

    /// `@@NAME@@` markers (virsh `echo`) split the output of one virsh run into named parts.
    private func sections(_ text: String) -> [String: String] {
        var result: [String: String] = [:]
        let parts = text.components(separatedBy: "@@")
        var i = 1
        while i + 1 < parts.count {
            result[parts[i]] = parts[i + 1]
            i += 2
        }
        return result
    }

    private func words(_ text: String?) -> [String] {
        (text ?? "").split(whereSeparator: \.isWhitespace).map(String.init)
    }
}

/// Runs `body` (a virtplace run that must change nothing) between two snapshots and expects
/// them equal; returns what `body` returned. On a difference, the message lists every fact that
/// changed and, as a diagnostic only, the mutating calls virtplace counted.
@discardableResult
func expectUntouched<T>(_ lab: Lab, _ what: String, sourceLocation: SourceLocation = #_sourceLocation,
                        _ body: () throws -> T) rethrows -> T {
    let before = lab.snapshot()
    let result = try body()
    let after = lab.snapshot()
    let diff = before.differences(to: after)
    let calls = (result as? Lab.Result).flatMap { VirtPlace.mutatingCalls($0) }.map { "\($0)" } ?? "not printed"
    #expect(diff.isEmpty, "\(what) changed the fleet (virtplace counted \(calls) mutating calls):\n\(diff.joined(separator: "\n"))",
            sourceLocation: sourceLocation)
    #expect(before.domainCount > 0, "\(what): the witness saw no domain at all", sourceLocation: sourceLocation)
    return result
}
