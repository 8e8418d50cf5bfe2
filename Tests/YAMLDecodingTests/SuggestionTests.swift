import Foundation
import Testing
@testable import YAMLDecoding

@Suite struct SuggestionTests {
    @Test(arguments: [
        ("hsot2", ["host1", "host2"], "host2"),
        ("hots", ["host", "uri"], "host"),
        ("faultdomain", ["faultDomain", "labels"], "faultDomain"),
        ("memoryMib", ["memoryMiB", "vcpus"], "memoryMiB"),
        ("url", ["uri", "labels"], "uri"),
        ("volum", ["volume", "pool"], "volume"),
        ("cpu", ["vcpus"], nil),
        ("zzz", ["host"], nil),
        ("x", [], nil),
    ] as [(String, [String], String?)])
    func closest(_ name: String, _ candidates: [String], _ expected: String?) {
        #expect(Suggestion.closest(to: name, among: candidates) == expected)
    }

    @Test func hint() {
        #expect(Suggestion.hint(for: "hsot2", among: ["host2"]) == " (did you mean 'host2'?)")
        #expect(Suggestion.hint(for: "abc", among: ["xyz"]) == "")
    }

    /// The banded, trimmed distance agrees with the full dynamic programme wherever it is
    /// within the limit, and says "past" exactly when the full one is past it.
    @Test func boundedDistanceMatchesTheFullOne() {
        var generator = SystemRandomNumberGenerator()
        let alphabet: [Unicode.Scalar] = ["a", "b", "c", "h", "é"]
        for _ in 0..<3000 {
            let x = (0..<Int.random(in: 0...9, using: &generator)).map { _ in alphabet.randomElement(using: &generator) ?? "a" }
            let y = (0..<Int.random(in: 0...9, using: &generator)).map { _ in alphabet.randomElement(using: &generator) ?? "a" }
            let full = Self.fullDistance(x, y)
            for limit in 1...3 {
                let bounded = Suggestion.boundedDistance(x, y, limit: limit)
                #expect(bounded == min(full, limit + 1), "\(x) \(y) limit \(limit): \(bounded) vs \(full)")
            }
        }
    }

    /// Optimal string alignment, the textbook way.
    static func fullDistance(_ x: [Unicode.Scalar], _ y: [Unicode.Scalar]) -> Int {
        if x.isEmpty || y.isEmpty { return max(x.count, y.count) }
        var d = [[Int]](repeating: [Int](repeating: 0, count: y.count + 1), count: x.count + 1)
        for i in 0...x.count { d[i][0] = i }
        for j in 0...y.count { d[0][j] = j }
        for i in 1...x.count {
            for j in 1...y.count {
                let cost = x[i - 1] == y[j - 1] ? 0 : 1
                d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost)
                if i > 1, j > 1, x[i - 1] == y[j - 2], x[i - 2] == y[j - 1] { d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1) }
            }
        }
        return d[x.count][y.count]
    }

    @Test func anIndexGivesWhatTheOneOffSearchGives() {
        let hosts = (0..<500).map { "host\($0)" } + ["web", "db-primary"]
        let index = SuggestionIndex(hosts)
        for word in ["hsot12", "host1O", "db-primray", "wbe", "nothing-like-it", "", String(repeating: "h", count: 65)] {
            #expect(index.closest(to: word) == Suggestion.closest(to: word, among: hosts))
        }
        #expect(index.closest(to: "hsot12") == "host12")
        #expect(index.closest(to: "db-primray") == "db-primary")
    }

    @Test func longNamesAndHugeListsAreBounded() {
        // No suggestion for a name past the limit, and only the first maximumCandidates looked at.
        #expect(Suggestion.closest(to: String(repeating: "a", count: 65), among: [String(repeating: "a", count: 64)]) == nil)
        let many = (0..<Suggestion.maximumCandidates).map { "zzzz\($0)" } + ["host"]
        #expect(Suggestion.closest(to: "hots", among: many) == nil)
    }

    @Test func editDistanceCountsASwapAsOne() {
        #expect(Suggestion.editDistance("host", "hsot") == 1)
        #expect(Suggestion.editDistance("kitten", "sitting") == 3)
        #expect(Suggestion.editDistance("", "abc") == 3)
    }
}

@Suite struct LocatedTests {
    @Test func throughAnotherDecoderOnlyThePathIsKnown() throws {
        struct Holder: Decodable { var host: Located<String> }
        let holder = try JSONDecoder().decode(Holder.self, from: Data("{\"host\": \"h1\"}".utf8))
        #expect(holder.host == Located("h1", path: "host"))
    }

    @Test func encodesAsTheBareValue() throws {
        let data = try JSONEncoder().encode(["a": Located(5, file: "f", line: 1, column: 2, path: "a")])
        #expect(String(decoding: data, as: UTF8.self) == "{\"a\":5}")
    }

    @Test func locatedItemsOfASequenceHaveNoKey() throws {
        let decoded = decode([Located<Int>].self, "- 1\n- 2\n", file: "s.yaml")
        #expect(decoded.value == [
            Located(1, file: "s.yaml", line: 1, column: 3, path: "[0]"),
            Located(2, file: "s.yaml", line: 2, column: 3, path: "[1]"),
        ])
    }
}

@Suite struct PathTests {
    @Test func pathsRenderTheSameFromLinksAndArrays() {
        let keys: [any CodingKey] = [IndexKey(0), NameKey("a.b"), NameKey("[x]"), IndexKey(2), IndexKey(3), NameKey("c")]
        #expect(yamlPathString(keys) == "[0].a.b.[x][2][3].c")
        #expect(CodingPath(keys: keys).string == yamlPathString(keys))
        #expect(CodingPath.root.string == "")
    }
}
