import Testing
@testable import YAMLDecoding

/// libyaml reads a large input on a thread of its own while the tree is built from earlier
/// batches of its events; a small one is read on demand. Both must build the same trees and
/// stop with the same diagnostics, wherever in the stream a problem comes.
@Suite struct EventStreamTests {
    /// Every node of a tree, in document order, with its position and properties.
    static func dump(_ node: YAMLNode, into lines: inout [String], depth: Int = 0) {
        let head = "\(String(repeating: " ", count: depth))\(node.line):\(node.column) \(node.kind) tag=\(node.tag ?? "-") anchor=\(node.anchor ?? "-")"
        switch node.content {
        case .scalar(let text, let style): lines.append("\(head) \(style) \(text.debugDescription)")
        case .sequence(let items):
            lines.append(head)
            for item in items { dump(item, into: &lines, depth: depth + 1) }
        case .mapping(let pairs):
            lines.append(head)
            for pair in pairs {
                dump(pair.key, into: &lines, depth: depth + 1)
                dump(pair.value, into: &lines, depth: depth + 1)
            }
        }
    }

    /// What one run of the tree builder gives: the dumped trees, or the diagnostics.
    static func outcome(_ text: String, threaded: Bool, eventsPerBatch: Int = EventBatch.eventLimit) -> [String] {
        let bytes = Array(text.utf8)
        let outcome = bytes.withUnsafeBufferPointer { buffer in
            TreeBuilder(file: "big.yaml", limits: .default, corrections: ColumnCorrections())
                .run(buffer, threaded: threaded, eventsPerBatch: eventsPerBatch)
        }
        switch outcome {
        case .parsed(let documents, let diagnostics):
            var lines = diagnostics.map(\.formatted)
            for document in documents { dump(document, into: &lines) }
            return lines
        case .rejected(let failure, let diagnostics):
            return diagnostics.map(\.formatted) + ["libyaml: \(failure.problem) at \(failure.problemMark.line):\(failure.problemMark.column)"]
        case .failed(let error):
            return error.diagnostics.map(\.formatted)
        }
    }

    /// Many batches' worth of events: every event kind, tags, anchors, aliases, merges,
    /// multi-byte text, block scalars, several documents.
    static func large(entries: Int, tail: String = "") -> String {
        var text = "base: &base {vcpus: 2, tags: {team: \"é✓\"}}\nitems:\n"
        for i in 0..<entries {
            text += "  vm-\(i):\n    <<: *base\n    list: [a, 'b', \"c\\u00e9\", !!str \(i)]\n    note: |\n      line \(i)\n    ref: &r\(i) {x: \(i)}\n    again: *r\(i)\n"
        }
        return text + "---\nsecond: document\n" + tail
    }

    @Test func aLargeStreamBuildsTheSameTreesOnAThreadAsOnDemand() {
        let text = Self.large(entries: 3_500)
        #expect(text.utf8.count > EventStream.threadThreshold)
        let threaded = Self.outcome(text, threaded: true)
        // Many more events than the ring of four batches holds.
        #expect(threaded.count > 16 * EventBatch.eventLimit)
        #expect(threaded == Self.outcome(text, threaded: false))
    }

    @Test func aSyntaxErrorAfterManyBatchesIsReportedAlike() {
        let text = Self.large(entries: 3_500, tail: "broken: [unclosed\n")
        let threaded = Self.outcome(text, threaded: true)
        #expect(threaded.last?.hasPrefix("libyaml: ") == true)
        #expect(threaded == Self.outcome(text, threaded: false))
    }

    @Test func duplicateKeysAndUndefinedAliasesFarIntoTheStreamAreReportedAlike() {
        let duplicate = Self.large(entries: 3_000) + "second: again\n"
        #expect(Self.outcome(duplicate, threaded: true).first?.contains("duplicate key 'second'") == true)
        #expect(Self.outcome(duplicate, threaded: true) == Self.outcome(duplicate, threaded: false))
        let alias = Self.large(entries: 3_000) + "third: *nowhere\n"
        #expect(Self.outcome(alias, threaded: true).first?.contains("undefined alias '*nowhere'") == true)
        #expect(Self.outcome(alias, threaded: true) == Self.outcome(alias, threaded: false))
    }

    /// The builder stops at the first batch while libyaml's thread has a long way to go: the
    /// stream stops that thread and waits for it before the input goes away.
    @Test func theBuilderStoppingEarlyStopsTheReader() {
        for _ in 0..<10 {
            let text = "first: *nowhere\n" + Self.large(entries: 3_500)
            let threaded = Self.outcome(text, threaded: true)
            #expect(threaded == ["big.yaml:1:8: error: first: undefined alias '*nowhere': no anchor '&nowhere' before it in this document"])
        }
    }

    /// Batches of a few events put batch boundaries everywhere: inside flow collections, between
    /// an anchor and its alias, between a key and its value.
    @Test(arguments: [1, 2, 3, 7])
    func smallBatchesBuildTheSameTrees(_ eventsPerBatch: Int) {
        let texts = [
            Self.large(entries: 40), Self.large(entries: 40, tail: "broken: [unclosed\n"),
            Self.large(entries: 40) + "second: again\n", "first: *nowhere\n" + Self.large(entries: 40),
            "a: &x [1, {b: *x}]\n", "x", "- - - []\n", "{\"json\": [1, 2.5, \"\\u00e9\"]}",
        ]
        for text in texts {
            let expected = Self.outcome(text, threaded: false)
            #expect(Self.outcome(text, threaded: false, eventsPerBatch: eventsPerBatch) == expected)
            #expect(Self.outcome(text, threaded: true, eventsPerBatch: eventsPerBatch) == expected)
        }
    }

    @Test func theParserPicksTheThreadForLargeInputs() throws {
        let documents = try parse(Self.large(entries: 3_000))
        #expect(documents.count == 2)
        #expect(documents[0]["items"]?["vm-2999"]?["again"]?["x"]?.scalarValue == "2999")
    }
}
