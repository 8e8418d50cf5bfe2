import Foundation
import Placement
import Testing
import YAMLDecoding

// Hostile strings in every output (issue 12, "strings in outputs"). The inputs are built as
// values (plans, observed fleets), not through placement files: validation refuses control
// characters in names and tags, but names seen on hosts, libvirt's messages and saved
// snapshots reach the renderers without it.

/// Values an attacker would name things with: terminal escapes (clear screen, an OSC 8
/// hyperlink, an OSC 0 window title), CR/LF/tab, other C0 controls, DEL, a C1 CSI, bidi
/// override, line separator, zero-width space, and what markdown, HTML and XML act on.
let hostileValues: [String] = [
    "clear\u{1B}[2J\u{1B}[H",
    "\u{1B}]8;;https://evil.example/\u{1B}\\click\u{1B}]8;;\u{1B}\\",
    "\u{1B}]0;owned\u{07}title",
    "cr\roverwritten",
    "web-1\nlive  forged  host1 → host2  a forged line",
    "tab\there",
    "bell\u{07}bs\u{08}vt\u{0B}ff\u{0C}so\u{0E}us\u{1F}",
    "del\u{7F}",
    "c1\u{9B}31mred",
    "\u{202E}gnp.exe",
    "line\u{2028}sep\u{2029}para",
    "zero\u{200B}width\u{FEFF}",
    "pipe | forged | cells |\n| row | row |",
    "`code` ``two`` <script>alert(1)</script> &amp; [link](https://evil.example) ![img](x) *em* _em_ ~~s~~ # h",
    "<&\"'>]]>",
]

/// Every character in `text` that no output may hold raw (an independent list, not the
/// product's): C0 controls but the line feeds between lines, DEL, C1, format characters (Cf:
/// bidi, zero-width), line and paragraph separators. With `colour`, our own SGR sequences
/// (`ESC [ digits m`) are allowed.
func rawUnsafe(_ text: String, colour: Bool = false) -> [String] {
    var found: [String] = []
    let scalars = Array(text.unicodeScalars)
    var i = 0
    while i < scalars.count {
        let s = scalars[i]
        if colour, s == "\u{1B}", i + 1 < scalars.count, scalars[i + 1] == "[" {
            var j = i + 2
            while j < scalars.count, ("0"..."9").contains(scalars[j]) || scalars[j] == ";" { j += 1 }
            if j < scalars.count, scalars[j] == "m" { i = j + 1; continue }
        }
        let v = s.value
        let bad = (v < 0x20 && s != "\n") || (0x7F...0x9F).contains(v)
            || [.format, .lineSeparator, .paragraphSeparator, .control].contains(s.properties.generalCategory) && s != "\n"
        if bad { found.append("U+" + String(v, radix: 16)) }
        i += 1
    }
    return found
}

/// A plan where every string from outside is `value`: instance, hosts, reasons, steps,
/// notes, unmanaged domains, the fleet name.
func hostilePlan(_ value: String) -> Plan {
    let move = Action(instance: value, kind: .reboot, from: "src" + value, to: "dst" + value,
                      reasons: [Reason(.placeHost, "declared on '\(value)'"), Reason(.liveHostdev, "not live-migratable: \(value)")],
                      steps: [.shutdown(host: value, timeoutSeconds: 5, forceOff: false),
                              .transferVolume(pool: value, volume: value, from: value, to: value),
                              .setMetadata(host: value, fleet: value, tags: [value: value])],
                      wave: 1)
    let blocked = Action(instance: "b" + value, kind: .blocked, from: value, to: nil,
                         reasons: [Reason(.instanceNotFound, "not found: \(value)"), Reason(.manualNotAllowed, "manual: \(value)")])
    var summary = Summary()
    summary.reboot = 1
    summary.blocked = 1
    return Plan(fleet: value, basis: Basis(digest: "", hosts: [], domains: []), actions: [move, blocked], summary: summary,
                notes: [Note(instance: value, code: .placeHost, message: "note \(value)")],
                unmanaged: [UnmanagedDomain(name: value, host: value)])
}

@Suite("Strings in outputs: hostile names, tags and messages")
struct HostileOutputTests {
    @Test("plan text: no raw control, and one line per line the renderer writes", arguments: hostileValues)
    func planText(_ value: String) {
        let plain = render(hostilePlan(value), format: .text, color: false, verbose: false)
        #expect(rawUnsafe(plain).isEmpty, "\(rawUnsafe(plain))")
        // As many lines as with a harmless name.
        let benign = render(hostilePlan("x"), format: .text, color: false, verbose: false)
        #expect(plain.split(separator: "\n").count == benign.split(separator: "\n").count, "\(plain)")
        let verbose = render(hostilePlan(value), format: .text, color: true, verbose: true)
        #expect(rawUnsafe(verbose, colour: true).isEmpty, "\(rawUnsafe(verbose, colour: true))")
        // Every line starts where the renderer starts it: an action kind, an indented detail,
        // a section heading, or blank.
        for line in verbose.split(separator: "\n") {
            let ok = line.hasPrefix("\u{1B}[") || line.hasPrefix(" ") || line.hasPrefix("Notes:")
                || line.hasPrefix("Unmanaged") || line.hasPrefix("Plan:") || line.hasPrefix("Limits:")
            #expect(ok, "a forged line: \(line)")
        }
    }

    @Test("plan markdown: rows and cells cannot be forged, no HTML, link or code from a value", arguments: hostileValues)
    func planMarkdown(_ value: String) {
        let md = render(hostilePlan(value), format: .markdown, color: false, verbose: true)
        #expect(rawUnsafe(md).isEmpty, "\(rawUnsafe(md))")
        let lines = md.split(separator: "\n", omittingEmptySubsequences: false)
        let rows = lines.filter { $0.hasPrefix("|") }
        #expect(rows.count == 4, "header, rule, two actions:\n\(md)")
        for row in rows {
            // GitHub splits cells at every `|` not preceded by a backslash: 8 per row.
            var delimiters = 0
            var previous: Character = " "
            for c in row {
                if c == "|", previous != "\\" { delimiters += 1 }
                previous = c
            }
            #expect(delimiters == 8, "\(row)")
        }
        // Outside code spans (where nothing is interpreted), no tag or link from the value.
        let prose = withoutCodeSpans(md)
        #expect(!prose.contains("<script"), "\(prose)")
        #expect(!prose.contains("](https://evil"), "\(prose)")
        // Lines the renderer writes: heading, table, summary, details, numbered steps, notes.
        for line in lines where !line.isEmpty {
            let ok = line.hasPrefix("###") || line.hasPrefix("|") || line.hasPrefix("**") || line.hasPrefix("<details>")
                || line.hasPrefix("</details>") || line.first?.isNumber == true || line.hasPrefix("- ") || line.hasPrefix("Limits:")
            #expect(ok, "a forged line: \(line)")
        }
    }

    @Test("a backtick in a name keeps its code span closed; `|` in code is `\\|`")
    func markdownCodeSpans() {
        let md = render(hostilePlan("a`b|c"), format: .markdown, color: false, verbose: false)
        #expect(md.contains("| ``a`b\\|c`` |"), "\(md)")
        #expect(md.contains("### virtplace plan: ``a`b\\|c``"), "\(md)")
    }

    @Test("plan JSON: every value reads back; no raw control, DEL, C1, bidi or separator", arguments: hostileValues)
    func planJSON(_ value: String) throws {
        let plan = hostilePlan(value)
        let json = render(plan, format: .json, color: false, verbose: false)
        #expect(rawUnsafe(json).isEmpty, "\(rawUnsafe(json))")
        // The escaping loses nothing: a plain JSON decoder reads every value back.
        #expect(try JSONDecoder().decode(Plan.self, from: Data(json.utf8)) == plan)
        #expect(try JSONDecoder().decode(Plan.self, from: try encodePlan(plan)) == plan)
        // The strict plan reader refuses such a plan (names no file allows, hosts it does not list).
        #expect(throws: Diagnostic.self) { try decodePlan(try encodePlan(plan)) }
    }

    @Test("observe text: names seen on hosts, tags, paths and errors", arguments: hostileValues)
    func observedText(_ value: String) {
        let fleet = hostileFleet(value)
        let text = renderObserved(fleet, managedNames: ["web-1"], style: { s, _ in "\u{1B}[1m\(s)\u{1B}[0m" })
        #expect(rawUnsafe(text, colour: true).isEmpty, "\(rawUnsafe(text, colour: true))")
        // As many lines as with a harmless name.
        let benign = renderObserved(hostileFleet("x"), managedNames: ["web-1"])
        #expect(text.split(separator: "\n").count == benign.split(separator: "\n").count, "\(text)")
    }

    @Test("observe text names the libvirt and QEMU versions a transport depends on")
    func observedVersions() {
        var fleet = hostileFleet("x")
        fleet.hosts[0].uri = "qemu+tls://kvm-1/system"
        fleet.hosts[0].libvirtVersion = "9.0.0"
        fleet.hosts[0].hypervisorVersion = "7.2.0"
        #expect(renderObserved(fleet).split(separator: "\n").contains("  libvirt 9.0.0, QEMU 7.2.0"))
        fleet.hosts[0].uri = "test:///default"
        fleet.hosts[0].hypervisorVersion = nil
        #expect(renderObserved(fleet).split(separator: "\n").contains("  libvirt 9.0.0"))
        fleet.hosts[0].libvirtVersion = nil
        #expect(!renderObserved(fleet).contains("libvirt "))
    }
}

/// `markdown` with its code spans (a run of n backticks up to the next run of exactly n, as
/// CommonMark reads them) and backslash-escaped characters removed.
func withoutCodeSpans(_ markdown: String) -> String {
    let chars = Array(markdown)
    var out = ""
    var i = 0
    func run(at k: Int) -> Int { var n = 0; while k + n < chars.count, chars[k + n] == "`" { n += 1 }; return n }
    while i < chars.count {
        if chars[i] == "\\", i + 1 < chars.count { i += 2; continue }
        if chars[i] == "`" {
            let n = run(at: i)
            var j = i + n
            var closed: Int?
            while j < chars.count {
                if chars[j] == "`" {
                    let m = run(at: j)
                    if m == n { closed = j + m; break }
                    j += m
                } else { j += 1 }
            }
            if let closed { i = closed; continue }
            i += n
            continue
        }
        out.append(chars[i])
        i += 1
    }
    return out
}

/// A fleet where every string from outside is `value`: one reachable host with a domain whose
/// name, state, disks, NICs and tags are `value`, one unreachable host whose error is `value`.
func hostileFleet(_ value: String) -> ObservedFleet {
    let domain = ObservedDomain(
        name: value, uuid: value, state: value, vcpus: 1, memoryMiB: 64,
        disks: [ObservedDisk(device: "disk", target: value, sourceType: "volume", path: value, pool: value, volume: value)],
        nics: [ObservedNIC(type: value, mac: value, network: value)],
        fleet: value, tags: [value: value, "k": value])
    return ObservedFleet(hosts: [
        ObservedHost(name: "h" + value, uri: "test:///" + value, reachable: true, faultDomain: value,
                     capacity: ObservedCapacity(vcpus: 1, memoryMiB: 1024), domains: [domain],
                     libvirtVersion: value, hypervisorVersion: value),
        ObservedHost(name: "u" + value, uri: value, reachable: false, error: "libvirt: " + value),
    ])
}

@Suite("Escape: one rule per output")
struct EscapeRuleTests {
    @Test("terminal: controls, DEL, C1, bidi and separators shown visibly")
    func terminal() {
        #expect(Escape.terminal("plain-name_1.qcow2 → host2 é 😀") == "plain-name_1.qcow2 → host2 é 😀")
        #expect(Escape.terminal("a\u{1B}[2Jb") == "a\\x1b[2Jb")
        #expect(Escape.terminal("\u{1B}]0;t\u{07}") == "\\x1b]0;t\\x07")
        #expect(Escape.terminal("a\nb\rc\td") == "a\\nb\\rc\\td")
        #expect(Escape.terminal("\u{0}\u{7F}\u{80}\u{9B}") == "\\x00\\x7f\\x80\\x9b")
        #expect(Escape.terminal("\u{202E}x\u{2066}\u{2028}\u{2029}\u{200B}\u{FEFF}\u{E0001}")
                == "\\u{202e}x\\u{2066}\\u{2028}\\u{2029}\\u{200b}\\u{feff}\\u{e0001}")
        for value in hostileValues { #expect(rawUnsafe(Escape.terminal(value)).isEmpty && !Escape.terminal(value).contains("\n")) }
    }

    @Test("terminal output: line feeds and our colour kept, anything else escaped")
    func terminalOutput() {
        #expect(Escape.terminalOutput("a\nb\n", keepingColor: false) == "a\nb\n")
        #expect(Escape.terminalOutput("\u{1B}[31mred\u{1B}[0m\n", keepingColor: true) == "\u{1B}[31mred\u{1B}[0m\n")
        #expect(Escape.terminalOutput("\u{1B}[31mred\u{1B}[0m", keepingColor: false) == "\\x1b[31mred\\x1b[0m")
        #expect(Escape.terminalOutput("\u{1B}[2J\u{1B}]0;t\u{07}\r\t", keepingColor: true) == "\\x1b[2J\\x1b]0;t\\x07\\r\\t")
        #expect(Escape.terminalOutput("\u{1B}[", keepingColor: true) == "\\x1b[")
    }

    @Test("markdown text and code")
    func markdown() {
        #expect(Escape.markdownText("a|b") == "a\\|b")
        #expect(Escape.markdownText("<b>&") == "&lt;b&gt;&amp;")
        #expect(Escape.markdownText("x\\|y") == "x\\\\\\|y")
        #expect(Escape.markdownText("[l](u) *e* _e_ `c` ~s~ #") == "\\[l\\](u) \\*e\\* \\_e\\_ \\`c\\` \\~s\\~ \\#")
        #expect(Escape.markdownText("a\nb") == "a\\\\nb")
        #expect(Escape.markdownCode("web-1") == "`web-1`")
        #expect(Escape.markdownCode("a`b") == "``a`b``")
        #expect(Escape.markdownCode("`a") == "`` `a ``")
        #expect(Escape.markdownCode("a|b\n") == "`a\\|b\\n`")
        #expect(Escape.markdownCode("") == "` `")
    }

    @Test("JSON strings: JSONEncoder's escapes, and \\u for DEL, C1, bidi, separators")
    func json() throws {
        #expect(Escape.jsonString("a\"b\\c/") == #""a\"b\\c/""#)
        #expect(Escape.jsonString("\u{8}\u{C}\n\r\t\u{1}\u{1B}") == #""\b\f\n\r\t\u0001\u001b""#)
        #expect(Escape.jsonString("\u{7F}\u{9B}\u{202E}\u{2028}\u{E0001}é😀") == #""\u007f\u009b\u202e\u2028\udb40\udc01é😀""#)
        for value in hostileValues {
            let literal = Escape.jsonString(value)
            #expect(rawUnsafe(literal).isEmpty && !literal.contains("\n"))
            #expect(try JSONDecoder().decode(String.self, from: Data(literal.utf8)) == value)
        }
    }

    @Test("hardened JSON decodes to the same values")
    func hardenedJSON() throws {
        let values = hostileValues + ["é", "😀", "\u{E0001}"]
        let raw = String(decoding: try JSONEncoder().encode(values), as: UTF8.self)
        let hardened = Escape.hardenedJSON(raw)
        #expect(rawUnsafe(hardened).isEmpty)
        #expect(try JSONDecoder().decode([String].self, from: Data(hardened.utf8)) == values)
        #expect(Escape.hardenedJSON("{\"a\" : 1}\n") == "{\"a\" : 1}\n")
    }

    @Test("XML text and attributes")
    func xml() {
        #expect(Escape.xmlText("a<b>&c]]>\"'") == "a&lt;b&gt;&amp;c]]&gt;\"'")
        #expect(Escape.xmlAttribute("a<b>&\"'") == "a&lt;b&gt;&amp;&quot;&apos;")
        #expect(Escape.xmlText("t\tn\nr\r") == "t\tn\nr&#13;")
        #expect(Escape.xmlAttribute("t\tn\nr\r") == "t&#9;n&#10;r&#13;")
        #expect(Escape.xmlText("\u{1B}\u{0}\u{FFFE}\u{7F}\u{9B}") == "\u{FFFD}\u{FFFD}\u{FFFD}\u{7F}\u{9B}")
        #expect(Escape.xmlUnrepresentable(in: "ok\t\n\r\u{7F}é") == nil)
        #expect(Escape.xmlUnrepresentable(in: "esc\u{1B}[2J") == "\u{1B}")
    }

    @Test("C strings with lone bytes: Swift repairs them to U+FFFD, and the escapes keep controls out")
    func loneBytes() {
        // What `String(cString:)` (every name libvirt hands back) does with invalid UTF-8.
        let bytes: [CChar] = [0x77, CChar(bitPattern: 0xFF), 0x1B, CChar(bitPattern: 0xC0), 0x5B, 0]
        let name = bytes.withUnsafeBufferPointer { buffer in buffer.baseAddress.map { String(cString: $0) } ?? "" }
        #expect(name == "w\u{FFFD}\u{1B}\u{FFFD}[")
        #expect(Escape.terminal(name) == "w\u{FFFD}\\x1b\u{FFFD}[")
        #expect(Escape.jsonString(name) == "\"w\u{FFFD}\\u001b\u{FFFD}[\"")
    }
}
