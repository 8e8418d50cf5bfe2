import Foundation
import Testing
@testable import YAMLDecoding

@Suite struct NodeTreeTests {
    @Test func locationsOfNestedNodes() throws {
        let text = """
            hosts:
              host1:
                uri: qemu+tcp://127.0.0.11/system
                labels: {rack: r1, "zone": z}
            moves: [live, 'reboot']
            list:
              - a
              - key: b
                other: |
                  text
            """
        let root = try #require(try parse(text).first)
        #expect(root.kind == .mapping)
        #expect((root.line, root.column) == (1, 1))
        let host1 = try #require(root["hosts"]?["host1"])
        #expect((host1.line, host1.column) == (3, 5))
        let uri = try #require(host1["uri"])
        #expect((uri.line, uri.column) == (3, 10))
        #expect(uri.scalarValue == "qemu+tcp://127.0.0.11/system")
        #expect(uri.scalarStyle == .plain)
        let labels = try #require(host1["labels"])
        #expect((labels.line, labels.column) == (4, 13))
        let zoneKey = try #require(labels.pairs?[1].key)
        #expect((zoneKey.line, zoneKey.column, zoneKey.scalarStyle) == (4, 24, .doubleQuoted))
        let moves = try #require(root["moves"])
        #expect((moves.line, moves.column) == (5, 8))
        #expect(moves[1]?.scalarStyle == .singleQuoted)
        #expect((moves[1]?.line, moves[1]?.column) == (5, 15))
        let item = try #require(root["list"]?[1])
        #expect((item.line, item.column) == (8, 5))
        let other = try #require(item["other"])
        #expect((other.line, other.column, other.scalarStyle) == (9, 12, .literal))
        #expect(other.scalarValue == "text")
    }

    @Test func keyOrderAndKeyNodesAreKept() throws {
        let root = try #require(try parse("b: 1\na: 2\nc: 3\n").first)
        let keys = root.pairs?.map { $0.key.scalarValue ?? "" }
        #expect(keys == ["b", "a", "c"])
        #expect(root.pairs?.map(\.key.line) == [1, 2, 3])
    }

    @Test func columnsCountCharactersNotBytes() throws {
        let root = try #require(try parse("é: ü\nb: [x, 日本, y]\n").first)
        #expect((root["é"]?.line, root["é"]?.column) == (1, 4))
        #expect((root["b"]?[2]?.line, root["b"]?[2]?.column) == (2, 12))
    }

    @Test func tagsAndStyles() throws {
        let root = try #require(try parse("a: !!str 1\nb: \"2\"\nc: >\n  folded\nd: ! x\n").first)
        #expect(root["a"]?.tag == "tag:yaml.org,2002:str")
        #expect(root["b"]?.scalarStyle == .doubleQuoted)
        #expect(root["c"]?.scalarStyle == .folded)
        #expect(root["d"]?.tag == "!")
    }

    @Test(arguments: ["~", "null", "Null", "NULL", ""])
    func nullSpellings(_ spelling: String) throws {
        let root = try #require(try parse("a: \(spelling)\n").first)
        #expect(root["a"]?.isNull == true)
    }

    @Test(arguments: ["'null'", "\"~\"", "nil", "none", "!!str null"])
    func notNull(_ spelling: String) throws {
        let root = try #require(try parse("a: \(spelling)\n").first)
        #expect(root["a"]?.isNull == false)
    }

    @Test func severalDocuments() throws {
        let documents = try parse("a: 1\n---\nb: 2\n...\n---\n- 3\n")
        #expect(documents.count == 3)
        #expect(documents[1]["b"]?.scalarValue == "2")
        #expect((documents[1].line, documents[1].column) == (3, 1))
        #expect(documents[2][0]?.line == 6)
    }

    @Test func anEmptyDocumentIsNull() throws {
        let documents = try parse("---\n---\na: 1\n")
        #expect(documents.count == 2)
        #expect(documents[0].isNull)
    }

    @Test func anchorsAndAliasesShareTheNode() throws {
        let root = try #require(try parse("base: &b {x: 1}\none: *b\ntwo: *b\n").first)
        let one = try #require(root["one"])
        let two = try #require(root["two"])
        #expect(one === two)
        #expect(one === root["base"])
        #expect(one.anchor == "b")
        #expect((one.line, one.column) == (1, 7))
    }

    @Test func anAnchorCanBeRedefined() throws {
        let root = try #require(try parse("a: &x 1\nb: *x\nc: &x 2\nd: *x\n").first)
        #expect(root["b"]?.scalarValue == "1")
        #expect(root["d"]?.scalarValue == "2")
    }

    @Test func mergeKeys() throws {
        let text = """
            defaults: &defaults
              vcpus: 1
              memoryMiB: 128
            big: &big
              memoryMiB: 4096
              autostart: true
            web:
              name: web
              <<: [*big, *defaults]
              vcpus: 2
            """
        let root = try #require(try parse(text).first)
        let web = try #require(root["web"])
        #expect(web.pairs?.map { $0.key.scalarValue ?? "" } == ["name", "memoryMiB", "autostart", "vcpus"])
        #expect(web["vcpus"]?.scalarValue == "2")
        #expect(web["memoryMiB"]?.scalarValue == "4096")
        // Merged entries keep the location where they were written.
        #expect(web.pairs?[1].key.line == 5)
    }

    @Test func aSingleMergeAndAQuotedMergeKey() throws {
        let root = try #require(try parse("a: &a {x: 1, y: 2}\nb: {<<: *a, y: 3}\nc: {\"<<\": *a}\n").first)
        #expect(root["b"]?.pairs?.map { $0.key.scalarValue ?? "" } == ["x", "y"])
        #expect(root["b"]?["y"]?.scalarValue == "3")
        #expect(root["c"]?.pairs?.first?.key.scalarValue == "<<")
    }

    @Test func deepestNodeFollowsACodingPath() throws {
        let root = try #require(try parse("a:\n  - x\n  - b: here\n").first)
        let path: [any CodingKey] = [NameKey("a"), IndexKey(1), NameKey("b"), NameKey("missing")]
        let node = root.deepestNode(at: path)
        #expect(node.scalarValue == "here")
        #expect(yamlPathString(path) == "a[1].b.missing")
    }
}

@Suite struct ParseErrorTests {
    /// Each bad input with the exact diagnostics it gives.
    static let cases: [(name: String, input: [UInt8], expected: [String])] = [
        ("empty file", [], ["test.yaml:0:0: error: file is empty"]),
        ("only comments", Array("# nothing\n\n   # here\n".utf8),
         ["test.yaml:0:0: error: file contains no document, only comments or blank lines"]),
        ("byte-order mark", [0xEF, 0xBB, 0xBF] + Array("a: 1\n".utf8),
         ["test.yaml:1:1: error: file starts with a byte-order mark (BOM); save it as UTF-8 without a BOM"]),
        ("UTF-16", [0xFF, 0xFE, 0x61, 0x00],
         ["test.yaml:1:1: error: file starts with a UTF-16 byte-order mark; save it as UTF-8 without a BOM"]),
        ("invalid UTF-8", Array("a: 1\nbé: x".utf8) + [0xFF] + Array("\n".utf8),
         ["test.yaml:2:6: error: invalid UTF-8 (byte 0xFF)"]),
        ("truncated UTF-8", Array("a: ".utf8) + [0xE2, 0x82],
         ["test.yaml:1:4: error: invalid UTF-8 (truncated sequence starting with byte 0xE2)"]),
        ("overlong UTF-8", Array("a: ".utf8) + [0xC0, 0xAF],
         ["test.yaml:1:4: error: invalid UTF-8 (overlong encoding starting with byte 0xC0)"]),
        ("UTF-8 surrogate", Array("a: ".utf8) + [0xED, 0xA0, 0x80],
         ["test.yaml:1:4: error: invalid UTF-8 (encodes no Unicode scalar, starting with byte 0xED)"]),
        ("bad continuation byte", Array("a: ".utf8) + [0xC3, 0x41],
         ["test.yaml:1:4: error: invalid UTF-8 (byte 0xC3 followed by 0x41)"]),
        ("C1 control character", Array("a: \u{80}\n".utf8),
         ["test.yaml:1:4: error: control character U+0080 is not allowed"]),
        ("DEL", Array("a: \u{7F}\n".utf8), ["test.yaml:1:4: error: control character U+007F is not allowed"]),
        ("control character", Array("a: 1\nb: x\u{7}y\n".utf8),
         ["test.yaml:2:5: error: control character U+0007 is not allowed"]),
        ("NUL", Array("a: \u{0}\n".utf8), ["test.yaml:1:4: error: control character U+0000 is not allowed"]),
        ("tab indentation", Array("hosts:\n\thost1: {}\n".utf8),
         ["test.yaml:2:1: error: tab character used for indentation; indent with spaces"]),
        ("tab after spaces", Array("hosts:\n  host1:\n  \t uri: x\n".utf8),
         ["test.yaml:3:3: error: tab character used for indentation; indent with spaces"]),
        ("tab indentation after a value", Array("a:\n  b: 1\n\tc: 2\n".utf8),
         ["test.yaml:3:1: error: tab character used for indentation; indent with spaces"]),
        ("duplicate key", Array("a: 1\nb:\n  x: 1\n  y: 2\n  x: 3\n".utf8),
         ["test.yaml:5:3: error: b.x: duplicate key 'x' (first defined at 3:3)"]),
        ("every duplicate key", Array("a: 1\na: 2\nl:\n  - {k: 1, k: 2}\n".utf8),
         ["test.yaml:2:1: error: a: duplicate key 'a' (first defined at 1:1)",
          "test.yaml:4:12: error: l[0].k: duplicate key 'k' (first defined at 4:6)"]),
        ("duplicate key in JSON", Array("{\"a\": 1, \"a\": 2}".utf8),
         ["test.yaml:1:10: error: a: duplicate key 'a' (first defined at 1:2)"]),
        ("syntax error", Array("a: b: c\n".utf8),
         ["test.yaml:1:5: error: mapping values are not allowed in this context"]),
        ("syntax error with context", Array("a:\n  - 1\n  b: 2\n".utf8),
         ["test.yaml:3:3: error: did not find expected '-' indicator (while parsing a block collection at 2:3)"]),
        ("unclosed flow", Array("a: [1, 2\nb: 3\n".utf8),
         ["test.yaml:2:2: error: did not find expected ',' or ']' (while parsing a flow sequence at 1:4)"]),
        ("unclosed quote", Array("a: \"x\n".utf8),
         ["test.yaml:2:1: error: found unexpected end of stream (while scanning a quoted scalar at 1:4)"]),
        ("undefined alias", Array("a: *nope\n".utf8),
         ["test.yaml:1:4: error: a: undefined alias '*nope': no anchor '&nope' before it in this document"]),
        ("alias from another document", Array("a: &x 1\n---\nb: *x\n".utf8),
         ["test.yaml:3:4: error: b: undefined alias '*x': no anchor '&x' before it in this document"]),
        ("recursive alias", Array("a: &a\n  b: *a\n".utf8),
         ["test.yaml:2:6: error: a.b: alias '*a' refers to a node that contains it (recursive aliases are not allowed)"]),
        ("bad merge", Array("a:\n  <<: 5\n".utf8),
         ["test.yaml:2:7: error: a.<<: merge key '<<' needs a mapping or a list of mappings, found '5'"]),
        ("bad merge in a list", Array("x: &x [1]\na:\n  <<: [*x]\n".utf8),
         ["test.yaml:1:4: error: a.<<: merge key '<<' needs a mapping or a list of mappings, found a sequence"]),
        ("lone surrogate escape", Array("a: \"\\ud800\"\n".utf8),
         ["test.yaml:1:7: error: invalid Unicode escape (a lone UTF-16 surrogate or a value past U+10FFFF)"]),
    ]

    @Test(arguments: cases.indices)
    func exactDiagnostics(_ index: Int) {
        let (name, input, expected) = Self.cases[index]
        #expect(parseErrors(input) == expected, "\(name)")
    }

    @Test func tooLargeIsRefusedBeforeParsing() {
        let limits = YAMLLimits(maxFileSize: 16, maxDepth: 64, minExpandedNodes: 100, expansionFactor: 10)
        #expect(parseErrors("a: 12345678901234567890\n", limits: limits)
            == ["test.yaml:0:0: error: file is larger than the 16 bytes limit"])
        #expect(FileInput.tooLargeMessage(limit: 10 * 1024 * 1024) == "file is larger than the 10 MiB limit")
    }

    @Test func nestingIsBounded() {
        let deep = String(repeating: "[", count: 100) + String(repeating: "]", count: 100)
        #expect(parseErrors(deep) == ["test.yaml:1:65: error: \(String(repeating: "[0]", count: 64)): nesting deeper than 64 levels"])
        let limits = YAMLLimits(maxFileSize: 1 << 20, maxDepth: 4, minExpandedNodes: 100, expansionFactor: 10)
        #expect(parseErrors("a: &a [[1]]\nb: [*a]\n", limits: limits)
            == ["test.yaml:2:5: error: b[0]: nesting deeper than 4 levels"])
        #expect(parseErrors("a: &a [[1]]\nb: *a\n", limits: limits).isEmpty)
    }

    @Test func aLoadErrorDescribesItself() {
        let error = YAMLLoadError(diagnostics: [
            Diagnostic(.error, file: "f.yaml", line: 2, column: 3, path: "a", message: "bad"),
        ])
        #expect(error.description == "f.yaml:2:3: error: a: bad")
        #expect((error.file, error.line, error.column, error.message) == ("f.yaml", 2, 3, "bad"))
    }
}

@Suite struct TabTests {
    /// Tabs libyaml 0.2.5 rejects although YAML allows them as whitespace.
    @Test(arguments: [
        "- \tx\n",
        "-\tx\n",
        "a: 1\n\t\nb: 2\n",
        "a: 1\n\t# comment\nb: 2\n",
        "a:\n  - 1\n\t\n  - 2\n",
        "[1, 2]\n\t\n",
        "a:\t1\n",
        "a: [x,\n\ty]\n",
    ])
    func tabsAsWhitespaceAreAccepted(_ text: String) throws {
        #expect(try parse(text).count == 1)
    }

    @Test func aTabInsideABlockScalarIsContent() throws {
        let root = try #require(try parse("a: |\n  x\n  \ty\n").first)
        #expect(root["a"]?.scalarValue == "x\n\ty\n")
    }

    @Test func aRepairedTabKeepsColumns() throws {
        let root = try #require(try parse("- \tx: 1\n- \ty: 2\n").first)
        // The tab counts as one column, as libyaml counts it.
        #expect((root[0]?["x"]?.line, root[0]?["x"]?.column) == (1, 7))
        #expect((root[1]?["y"]?.line, root[1]?["y"]?.column) == (2, 7))
    }
}

@Suite struct AliasLimitTests {
    static let billionLaughs = """
        a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
        b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
        c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
        d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
        e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
        f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
        g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
        h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
        i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
        """

    @Test func billionLaughsFailsWithTheLimitError() {
        #expect(parseErrors(Self.billionLaughs)
            == ["test.yaml:6:8: error: f[0]: alias '*e' expands the document beyond the limit of 100000 nodes"])
    }

    @Test func quadraticMergeChainsAreBounded() {
        var text = "l0: &l0 {k0: 0}\n"
        for level in 1..<2000 {
            text += "l\(level): &l\(level) {<<: *l\(level - 1), k\(level): \(level)}\n"
        }
        let errors = parseErrors(text)
        #expect(errors.count == 1)
        #expect(errors.first?.contains("expands the document beyond the limit of") == true)
    }

    @Test func aliasesWithinTheBudgetAreFine() throws {
        var text = "defaults: &d {vcpus: 1, memoryMiB: 128, autostart: true}\ninstances:\n"
        for index in 0..<5000 {
            text += "  i\(index): {<<: *d, memoryMiB: 256}\n"
        }
        let root = try #require(try parse(text).first)
        #expect(root["instances"]?.pairs?.count == 5000)
    }

    @Test func theDecoderStopsAtTheBudgetToo() throws {
        // Parse with a generous limit, decode with the default one.
        let generous = YAMLLimits(maxFileSize: 1 << 20, maxDepth: 64, minExpandedNodes: 1 << 40, expansionFactor: 10)
        let root = try #require(try parse(Self.billionLaughs, limits: generous).first)
        let decoded = YAMLNodeDecoder().decode(AnyValue.self, from: root, file: "test.yaml")
        #expect(decoded.value == nil)
        #expect(decoded.diagnostics.count == 1)
        #expect(decoded.diagnostics.first?.message
            == "aliases expand the document beyond the limit of 100000 nodes while decoding")
    }
}

@Suite struct JSONTests {
    @Test func jsonGetsTheSameLocations() throws {
        let text = """
            {
              "hosts": {"host1": {"uri": "qemu:///system"}},
              "moves": ["live","cold"]
            }
            """
        let root = try #require(try parse(text, file: "p.json").first)
        let uri = try #require(root["hosts"]?["host1"]?["uri"])
        #expect((uri.line, uri.column) == (2, 30))
        #expect((root["moves"]?[1]?.line, root["moves"]?[1]?.column) == (3, 20))
    }

    /// Ordinary JSON that libyaml 0.2.5 handles by itself, and what it reads as.
    @Test(arguments: [
        ("{\"a\":1}", "1"),
        ("{\"a\":\"x\\/y\"}", "x/y"),
        ("{\"a\":12345678901234567890123}", "12345678901234567890123"),
        ("{\"a\":-1.5e-300}", "-1.5e-300"),
        ("{\"a\":\"\\u00e9\\t\\\"\\\\\"}", "é\t\"\\"),
        ("{\n\t\"a\": 1\n}", "1"),
        ("{\"a\":\t[1,\t2]}", nil),
        ("{\"a\":1}\r\n", "1"),
        ("\t{\"a\": 1}", "1"),
        ("{\"a\": \"\\ud83d\\ude00\"}", "😀"),
        ("{\"a\": \"x\\ud83d\\ude00y\\uD83D\\uDE01\", \"b\": \"\\ud83d\\ude02\"}", "x😀y😁"),
    ] as [(String, String?)])
    func ordinaryJSON(_ text: String, _ expected: String?) throws {
        let root = try #require(try parse(text, file: "p.json").first)
        #expect(root.kind == .mapping)
        if let expected { #expect(root["a"]?.scalarValue == expected) }
    }

    @Test func surrogatePairsKeepLaterColumns() throws {
        let root = try #require(try parse("{\"a\": \"\\ud83d\\ude00\", \"b\": 1}\n", file: "p.json").first)
        #expect(root["a"]?.scalarValue == "😀")
        let b = try #require(root.pairs?[1])
        #expect((b.key.line, b.key.column) == (1, 23))
        #expect((b.value.line, b.value.column) == (1, 28))
    }

    @Test func surrogatePairsInYAMLToo() throws {
        let root = try #require(try parse("a: \"\\ud83d\\ude00\"\nb: '\\ud83d\\ude00'\nc: \"\\ud83d\\ude01\"\n").first)
        #expect(root["a"]?.scalarValue == "😀")
        #expect(root["b"]?.scalarValue == "\\ud83d\\ude00")
        #expect(root["c"]?.scalarValue == "😁")
    }

    @Test func decodedJSONHasTheSameTypingRules() {
        let decoded = decode(Capacity.self, "{\"vcpus\": \"8\", \"memoryMiB\": 99999999999999999999}", file: "c.json")
        #expect(decoded.diagnostics.map(\.formatted) == [
            "c.json:1:11: error: vcpus: expected an integer, found quoted '8'",
        ])
        let big = decode(Capacity.self, "{\"vcpus\": 8, \"memoryMiB\": 99999999999999999999}", file: "c.json")
        #expect(big.diagnostics.map(\.formatted) == [
            "c.json:1:27: error: memoryMiB: integer 99999999999999999999 is out of range (-9223372036854775808...9223372036854775807)",
        ])
    }

    @Test func jsonErrorsAreLocated() {
        #expect(parseErrors("{\"a\": 1,\n \"b\" 2}", file: "p.json")
            == ["p.json:2:6: error: invalid JSON: expected ':' after the key"])
    }

    /// libyaml reads JSON as YAML flow style and lets all of these through; a `.json` file (or
    /// standard input starting with `{` or `[`) is held to RFC 8259, each at its place.
    @Test(arguments: [
        ("{\"a\": 1,}", "p.json:1:8: error: invalid JSON: trailing comma before '}' (JSON allows none)"),
        ("[1, 2,\n]", "p.json:1:6: error: invalid JSON: trailing comma before ']' (JSON allows none)"),
        ("{\"a\": 1} // note", "p.json:1:10: error: invalid JSON: comments are not JSON"),
        ("{\"a\": 1,\n # note\n \"b\": 2}", "p.json:2:2: error: invalid JSON: comments are not JSON"),
        ("{'a': 1}", "p.json:1:2: error: invalid JSON: single quotes are not JSON (use double quotes)"),
        ("{a: 1}", "p.json:1:2: error: invalid JSON: expected a key in double quotes, found unquoted 'a' (JSON strings and keys need double quotes)"),
        ("{\"a\": NaN}", "p.json:1:7: error: invalid JSON: 'NaN' is not a JSON number (JSON has no NaN or infinity)"),
        ("{\"a\": -Infinity}", "p.json:1:7: error: invalid JSON: '-Infinity' is not a JSON number (JSON has no NaN or infinity)"),
        ("{\"a\": 01}", "p.json:1:7: error: invalid JSON: a number with a leading zero is not JSON"),
        ("{\"a\": 1.}", "p.json:1:7: error: invalid JSON: a number needs digits after its '.'"),
        ("{\"a\": \"x\ty\"}", "p.json:1:9: error: invalid JSON: a control character in a string (write it as an escape, like \\n or \\t)"),
        ("{\"a\": \"\\q\"}", "p.json:1:8: error: invalid JSON: invalid escape '\\q' (JSON has \\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX)"),
        ("{\"a\": tru}", "p.json:1:7: error: invalid JSON: expected a value, found unquoted 'tru' (JSON strings and keys need double quotes)"),
        ("{\"a\": 1} {\"b\": 2}", "p.json:1:10: error: invalid JSON: more after the JSON value: a JSON file holds one value"),
        ("{\"a\": [1, 2}", "p.json:1:12: error: invalid JSON: expected ',' or ']'"),
        ("{\"a\": \"x", "p.json:1:7: error: invalid JSON: a string with no closing '\"'"),
    ])
    func strictJSON(_ text: String, _ expected: String) {
        #expect(parseErrors(text, file: "p.json") == [expected])
    }

    @Test func strictJSONAppliesToJSONNamesAndToStandardInputThatStartsAsJSON() {
        #expect(parseErrors("{\"a\": 1,}", file: "<stdin>") == ["<stdin>:1:8: error: invalid JSON: trailing comma before '}' (JSON allows none)"])
        // YAML flow style in a YAML file, or YAML on standard input, stays YAML.
        #expect(parseErrors("{a: 1, b: [x, y,],}", file: "p.yaml").isEmpty)
        #expect(parseErrors("a: 1\n", file: "<stdin>").isEmpty)
        // Valid JSON, with every allowance libyaml needs repaired, still parses.
        #expect(parseErrors("\t{\"a\": [1, -2.5e3, true, null, \"\\ud83d\\ude00\\/\"], \"b\":{}}", file: "p.json").isEmpty)
    }
}

@Suite struct FileInputTests {
    @Test func readsAFileAndNamesIt() throws {
        let path = "/tmp/yamldecoding-test-\(UInt32.random(in: 0...UInt32.max)).yaml"
        let bytes = Array("a: [1, 2\n".utf8)
        #expect(writeFile(path, bytes))
        defer { removeFile(path) }
        #expect(try YAMLParser.readFile(atPath: path) == bytes)
        #expect(throws: YAMLLoadError.self) { try YAMLParser.parseDocuments(contentsOf: path, file: "shown.yaml") }
        do {
            _ = try YAMLParser.parseDocuments(contentsOf: path, file: "shown.yaml")
        } catch {
            #expect(error.file == "shown.yaml")
            #expect(error.line == 2)
        }
        #expect(throws: YAMLLoadError.self) { try YAMLParser.readFile(atPath: path, limit: 4) }
    }

    @Test func standardInputIsReadUpToTheLimit() throws {
        let pipe = Pipe()
        pipe.fileHandleForWriting.write(Data("a: 1\nb: 2\nc: 3\n".utf8))
        try pipe.fileHandleForWriting.close()
        do {
            _ = try YAMLParser.readAll(fileDescriptor: pipe.fileHandleForReading.fileDescriptor, name: "-", limit: 10)
            Issue.record("expected an error")
        } catch {
            #expect(error.description == "-:0:0: error: file is larger than the 10 bytes limit")
        }

        let small = Pipe()
        small.fileHandleForWriting.write(Data("{\"a\": 1}".utf8))
        try small.fileHandleForWriting.close()
        let bytes = try YAMLParser.readAll(fileDescriptor: small.fileHandleForReading.fileDescriptor, name: "-")
        #expect(try YAMLParser.parseDocuments(bytes, file: "-").first?["a"]?.scalarValue == "1")
    }

    @Test func aDirectoryIsAClearError() {
        #expect(throws: YAMLLoadError.self) { try YAMLParser.parseDocuments(contentsOf: "/tmp") }
    }

    @Test func aMissingFileIsAClearError() {
        do {
            _ = try YAMLParser.parseDocuments(contentsOf: "/nonexistent/x.yaml")
            Issue.record("expected an error")
        } catch {
            #expect(error.description == "/nonexistent/x.yaml:0:0: error: cannot read the file: No such file or directory")
        }
    }
}
