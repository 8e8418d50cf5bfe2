import Foundation
import Testing
@testable import Placement
import YAMLDecoding

/// Snapshots (`observe -o json`, read by `plan --observed`) are input from outside: the strict
/// reader and its bounds (hostile-input suite, issue 12).
@Suite struct SnapshotReaderTests {
    static let good = """
    {"apiVersion": "virtplace/v1", "kind": "Observed", "hosts": [
      {"name": "h1", "uri": "qemu+tcp://10.0.0.1/system", "reachable": true, "faultDomain": "fd-1",
       "capacity": {"vcpus": 8, "memoryMiB": 8192},
       "domains": [
         {"name": "web-1", "uuid": "4dea22b3-1d52-d8f3-2516-782e98ab3fa0", "state": "running", "vcpus": 1, "memoryMiB": 512,
          "disks": [{"target": "vda", "pool": "shared", "volume": "web-1.qcow2", "bootOrder": 1}],
          "nics": [{"type": "network", "mac": "52:54:00:12:34:56", "network": "default"}], "tags": {"tier": "web"}},
         {"name": "db-1", "uuid": "4dea22b3-1d52-d8f3-2516-782e98ab3fa1", "state": "shutoff", "vcpus": 2, "memoryMiB": 1024}]},
      {"name": "h2", "uri": "qemu+tcp://10.0.0.2/system", "reachable": false, "error": "no answer",
       "capacity": {"vcpus": 0, "memoryMiB": 0}}]}
    """

    func read(_ text: String, allowTestDriver: Bool = false) -> SnapshotFileResult {
        readSnapshotFile(Array(text.utf8), file: "snap.json", allowTestDriver: allowTestDriver)
    }

    /// `good` with one piece of text replaced.
    func edited(_ old: String, _ new: String) -> String {
        precondition(Self.good.contains(old), "the fixture has no '\(old)'")
        return Self.good.replacingOccurrences(of: old, with: new)
    }

    func expectRefused(_ text: String, at path: String, _ message: String, line: Int? = nil, allowTestDriver: Bool = false,
                       sourceLocation: SourceLocation = #_sourceLocation) {
        let result = read(text, allowTestDriver: allowTestDriver)
        #expect(result.fleet == nil, sourceLocation: sourceLocation)
        let hit = result.diagnostics.first { $0.path == path && $0.message.contains(message) }
        #expect(hit != nil, "no '\(message)' at \(path) in:\n\(result.diagnostics.map(\.formatted).joined(separator: "\n"))",
                sourceLocation: sourceLocation)
        if let hit {
            #expect(hit.severity == .error && hit.line > 0 && hit.column > 0, sourceLocation: sourceLocation)
            if let line { #expect(hit.line == line, sourceLocation: sourceLocation) }
        }
    }

    @Test func aSoundSnapshotReads() throws {
        let result = read(Self.good)
        #expect(result.diagnostics.isEmpty, "\(result.diagnostics.map(\.formatted))")
        let fleet = try #require(result.fleet)
        #expect(fleet.hosts.map(\.name) == ["h1", "h2"])
        #expect(fleet.hosts[0].domains[0].tags == ["tier": "web"])
        // What observe writes reads back the same.
        let again = readSnapshotFile(Array(fleet.jsonData()), file: "again.json", allowTestDriver: false)
        #expect(again.fleet == fleet)
    }

    @Test func negativeAndAbsurdNumbersAreRefused() {
        expectRefused(edited(#""vcpus": 8, "memoryMiB": 8192"#, #""vcpus": 8, "memoryMiB": -8192"#),
                      at: "hosts[0].capacity.memoryMiB", "-8192 is out of range", line: 3)
        expectRefused(edited(#""vcpus": 8, "memoryMiB": 8192"#, #""vcpus": -1, "memoryMiB": 8192"#),
                      at: "hosts[0].capacity.vcpus", "out of range")
        expectRefused(edited(#""vcpus": 8, "memoryMiB": 8192"#, #""vcpus": 8, "memoryMiB": 9223372036854775807"#),
                      at: "hosts[0].capacity.memoryMiB", "out of range")
        expectRefused(edited(#""vcpus": 2, "memoryMiB": 1024"#, #""vcpus": 2, "memoryMiB": 9223372036854775807"#),
                      at: "hosts[0].domains[1].memoryMiB", "out of range")
        expectRefused(edited(#""bootOrder": 1"#, #""bootOrder": -1"#), at: "hosts[0].domains[0].disks[0].bootOrder", "out of range")
        expectRefused(edited(#""vcpus": 8, "memoryMiB": 8192"#, #""vcpus": 8, "memoryMiB": 99999999999999999999999"#),
                      at: "hosts[0].capacity.memoryMiB", "out of range")
    }

    @Test func theResidentSetIsBoundedAndAnOlderSnapshotWithoutItReads() throws {
        let field = #""state": "running", "vcpus": 1, "memoryMiB": 512,"#
        expectRefused(edited(field, #""state": "running", "vcpus": 1, "memoryMiB": 512, "memoryResidentMiB": -1,"#),
                      at: "hosts[0].domains[0].memoryResidentMiB", "out of range")
        expectRefused(edited(field, #""state": "running", "vcpus": 1, "memoryMiB": 512, "memoryResidentMiB": 9223372036854775807,"#),
                      at: "hosts[0].domains[0].memoryResidentMiB", "out of range")
        expectRefused(edited(field, #""state": "running", "vcpus": 1, "memoryMiB": 512, "memoryResidentMiB": "216","#),
                      at: "hosts[0].domains[0].memoryResidentMiB", "expected an integer")
        let with = read(edited(field, #""state": "running", "vcpus": 1, "memoryMiB": 512, "memoryResidentMiB": 216,"#))
        #expect(with.diagnostics.isEmpty, "\(with.diagnostics.map(\.formatted))")
        #expect(with.fleet?.hosts[0].domains[0].memoryResidentMiB == 216)
        // A snapshot written before the field existed (the fixture has none) reads; the figure is nil.
        #expect(try #require(read(Self.good).fleet).hosts[0].domains[0].memoryResidentMiB == nil)
    }

    @Test func hostsAndDomainsListedTwiceAreRefused() {
        expectRefused(edited(#"{"name": "h2""#, #"{"name": "h1""#), at: "hosts[1].name", "host 'h1' is listed twice")
        expectRefused(edited(#"{"name": "db-1""#, #"{"name": "web-1""#), at: "hosts[0].domains[1].name", "domain 'web-1' is listed twice")
        expectRefused(edited("fa1", "fa0"), at: "hosts[0].domains[1].uuid", "is listed twice")
    }

    @Test func badStatesUUIDsAndNamesAreRefused() {
        expectRefused(edited(#""state": "shutoff""#, #""state": "gone""#), at: "hosts[0].domains[1].state", "unknown state 'gone'")
        expectRefused(edited("4dea22b3-1d52-d8f3-2516-782e98ab3fa1", "not-a-uuid"), at: "hosts[0].domains[1].uuid", "expected a UUID")
        expectRefused(edited(#"{"name": "db-1""#, #"{"name": "a/../b""#), at: "hosts[0].domains[1].name", "contains '/'")
        expectRefused(edited(#"{"name": "db-1""#, #"{"name": "x\u001b[31m""#), at: "hosts[0].domains[1].name", "control character")
        expectRefused(edited(#"{"name": "h2""#, #"{"name": "-rf""#), at: "hosts[1].name", "invalid host name")
        expectRefused(edited(#""mac": "52:54:00:12:34:56""#, #""mac": "zz""#), at: "hosts[0].domains[0].nics[0].mac", "invalid MAC")
        expectRefused(edited(#"{"tier": "web"}"#, #"{"": "web"}"#), at: "hosts[0].domains[0].tags.", "invalid tag key")
    }

    @Test func urisFollowTheAllowList() {
        expectRefused(edited("qemu+tcp://10.0.0.1/system", "qemu+ssh://10.0.0.1/system?command=/tmp/x"),
                      at: "hosts[0].uri", "refused")
        expectRefused(edited("qemu+tcp://10.0.0.1/system", "test:///etc/passwd"), at: "hosts[0].uri", "test driver")
        #expect(read(edited("qemu+tcp://10.0.0.1/system", "test:///default"), allowTestDriver: true).fleet != nil)
        // A hand-written snapshot may leave the URI out.
        #expect(read(edited(#""uri": "qemu+tcp://10.0.0.2/system", "#, "")).fleet != nil)
    }

    @Test func theSchemaIsStrict() {
        expectRefused(edited(#""reachable": true"#, #""reachable": true, "reachble": false"#), at: "hosts[0].reachble", "unknown key 'reachble'")
        expectRefused(edited(#""vcpus": 2, "memoryMiB": 1024"#, #""vcpus": "2", "memoryMiB": 1024"#), at: "hosts[0].domains[1].vcpus", "expected an integer")
        expectRefused(edited(#""uuid": "4dea22b3-1d52-d8f3-2516-782e98ab3fa1", "#, ""), at: "hosts[0].domains[1]", "missing required key 'uuid'")
        expectRefused(edited(#""kind": "Observed""#, #""kind": "Plan""#), at: "kind", "unsupported kind")
        #expect(read("").fleet == nil)
    }

    @Test func collectionsAreBounded() {
        let nics = Array(repeating: #"{"type": "network", "mac": "52:54:00:12:34:56"}"#, count: InputBounds.maxDevices + 1).joined(separator: ",")
        expectRefused(edited(#""nics": [{"type": "network", "mac": "52:54:00:12:34:56", "network": "default"}]"#, #""nics": [\#(nics)]"#),
                      at: "hosts[0].domains[0].nics", "at most \(InputBounds.maxDevices)")
    }
}

/// The fuzzers' seeds are real files, made with the test driver: both readers accept them
/// (with the test driver allowed), and refuse them without it.
@Test func theFuzzSeedsAreSoundFiles() throws {
    let fuzz = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("fuzz")
    var seen = 0
    for (folder, isPlan) in [("corpus-plan", true), ("corpus-snapshot", false)] {
        let dir = fuzz.appendingPathComponent(folder)
        for name in try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted() where name.hasSuffix(".json") {
            let bytes = Array(try Data(contentsOf: dir.appendingPathComponent(name)))
            let diagnostics = isPlan ? readPlanFile(bytes, file: name, allowTestDriver: true).diagnostics
                                     : readSnapshotFile(bytes, file: name, allowTestDriver: true).diagnostics
            #expect(diagnostics.isEmpty, "\(folder)/\(name): \(diagnostics.map(\.formatted))")
            seen += 1
        }
    }
    #expect(seen >= 5)
}
