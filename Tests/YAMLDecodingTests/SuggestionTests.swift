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
