import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import Testing
@testable import Placement

// The plan as a picture (issue 17): the SVG parses as XML, the HTML as XML (its polyglot form)
// and as HTML; every instance is a chip and every move one arrow; hostile names stay text;
// the same inputs give the same bytes; unchanged hosts fold. The page as a browser draws it is
// checked in VirtPlaceCLITests (PictureBrowserTests).

/// The showcase plan with the fleet it was made from.
func showcasePicture() -> (Plan, PictureFleet) {
    let (desired, observed) = showcase()
    return (makePlan(desired: desired, observed: observed), PictureFleet(desired: desired, observed: observed))
}

/// Parses `text` as XML, strictly; the error says where it failed.
func parseXMLStrictly(_ text: String) throws -> XMLDocument {
    try XMLDocument(data: Data(text.utf8), options: [])
}

/// Every element of `node`'s subtree, depth first.
func elements(_ node: XMLNode) -> [XMLElement] {
    var out: [XMLElement] = []
    if let e = node as? XMLElement { out.append(e) }
    for child in node.children ?? [] { out += elements(child) }
    return out
}

/// An attribute's value (FoundationXML's `attribute(forName:)` finds nothing in a document
/// with a default namespace).
func attr(_ e: XMLElement, _ name: String) -> String? {
    e.attributes?.first { $0.name == name }?.stringValue
}

extension XMLElement {
    func attr(_ name: String) -> String? { attributes?.first { $0.name == name }?.stringValue }
    /// Child elements named `name` (not `elements(forName:)`, for the same reason).
    func kids(_ name: String) -> [XMLElement] { (children ?? []).compactMap { $0 as? XMLElement }.filter { $0.name == name } }
}

func classes(_ e: XMLElement) -> [String] {
    (attr(e, "class") ?? "").split(separator: " ").map(String.init)
}

/// The text of an element's own text nodes (not of a `<title>` in it).
func ownText(_ e: XMLElement) -> String {
    (e.children ?? []).filter { $0.kind == .text }.compactMap(\.stringValue).joined()
}

/// The chips of a parsed picture: instance name (the full one: `data-i` when the text was cut),
/// of chips drawn one by one (`g.c`) and of the chips of instances that stay (`g.cs`).
func chipNames(_ doc: XMLNode) -> [String] {
    elements(doc).filter { $0.name == "g" }.flatMap { g -> [String] in
        let cls = classes(g)
        if cls.first == "c", !cls.contains("lgd") {
            return [attr(g, "data-i") ?? g.kids("text").first.map(ownText) ?? ""]
        }
        if cls.first == "cs" { return g.kids("text").map { attr($0, "data-i") ?? ownText($0) } }
        return []
    }
}

@Suite("The plan as a picture: SVG and HTML")
struct PictureTests {
    @Test("the SVG parses as XML; one chip per instance on each host it touches, one arrow per move")
    func svgStructure() throws {
        let (plan, fleet) = showcasePicture()
        let svg = renderPicture(plan, fleet: fleet, format: .svg)
        let doc = try parseXMLStrictly(svg)
        #expect(doc.rootElement()?.name == "svg")
        let all = elements(doc)
        let arrows = all.filter { $0.name == "g" && classes($0).first == "mv" && attr($0, "data-i") != nil }
        let moves = plan.actions.filter { $0.kind.isMove && $0.from != nil && $0.to != nil }
        #expect(!moves.isEmpty)
        #expect(arrows.count == moves.count)
        for move in moves {
            let arrow = arrows.first { attr($0, "data-i") == move.instance }
            #expect(arrow?.attr("data-from") == move.from)
            #expect(arrow?.attr("data-to") == move.to)
            #expect(arrow.map(classes)?.contains("k-\(move.kind.rawValue)") == true, "arrow of \(move.instance) coloured by its kind")
            #expect(arrow?.kids("text").first?.stringValue?.hasPrefix(move.kind.rawValue) == true, "labelled by kind")
        }
        // Every action's instance has a chip; a move has two (source and target).
        let chips = chipNames(doc)
        for a in plan.actions {
            let count = chips.filter { $0 == a.instance }.count
            #expect(count >= (a.kind.isMove ? 2 : 1), "\(a.instance): \(count) chips")
        }
        // Blocked instances show their reasons as text, and as a tooltip.
        for a in plan.actions where a.kind == .blocked {
            let chip = all.first { $0.name == "g" && classes($0).contains("bk") && (attr($0, "data-i") ?? $0.kids("text").first.map(ownText)) == a.instance }
            let shown = chip?.kids("text").filter { classes($0).contains("why") }.compactMap(\.stringValue).joined(separator: " ") ?? ""
            let first = try #require(a.refusals.first)
            #expect(shown.contains(String(first.message.prefix(20))), "\(a.instance): \(shown)")
            #expect(chip?.kids("title").first?.stringValue?.contains(first.code.rawValue) == true)
        }
        // Updates are marked in place.
        for a in plan.actions where a.kind == .update {
            let marked = all.contains { $0.name == "g" && classes($0).contains("up") && $0.kids("text").contains { $0.stringValue == "update" } }
            #expect(marked, "\(a.instance) marked as an update")
        }
    }

    @Test("the HTML is one self-contained page: well-formed XML, parsed as HTML, with the table and every reason, nothing fetched")
    func htmlPage() throws {
        let (plan, fleet) = showcasePicture()
        let html = renderPicture(plan, fleet: fleet, format: .html)
        #expect(html.hasPrefix("<!DOCTYPE html>\n"))
        let doc = try parseXMLStrictly(html)
        let all = elements(doc)
        #expect(all.filter { $0.name == "svg" }.count >= 1)
        #expect(all.filter { $0.name == "table" }.count == 1)
        #expect(all.filter { $0.name == "tr" }.count == plan.actions.count + 1)
        for a in plan.actions { for r in a.reasons { #expect(html.contains(Escape.markup(r.message)), "\(r.code.rawValue)") } }
        // Nothing to fetch: no src, no external href, no @import or url() in the style.
        for e in all {
            #expect(attr(e, "src") == nil, "\(e.name ?? "") has a src")
            if let href = attr(e, "href") {
                #expect(href.hasPrefix("#"), "\(href)")
            }
        }
        #expect(!html.contains("@import") && !html.contains("url(http"))
        #expect(all.filter { $0.name == "script" }.count == 1)
        // And as HTML: libxml2's HTML parser reads the same page.
        let parsed = try XMLDocument(data: Data(html.utf8), options: [.documentTidyHTML])
        #expect(elements(parsed).filter { $0.name == "table" }.count == 1)
    }

    @Test("hostile names, fault domains, states and reasons stay text in SVG and HTML", arguments: hostileValues)
    func hostile(_ value: String) throws {
        let observed = hostileFleet(value)
        var desired = PlacementSpec(metadata: MetadataSpec(name: value))
        for host in observed.hosts { desired.hosts[host.name] = HostSpec(uri: host.uri, faultDomain: value) }
        desired.instances[value] = InstanceSpec()
        let outputs = [
            renderPicture(hostilePlan(value), fleet: nil, format: .svg),
            renderPicture(hostilePlan(value), fleet: nil, format: .html),
            renderObservedPicture(observed, desired: desired, format: .svg),
            renderObservedPicture(observed, desired: desired, format: .html),
        ]
        for out in outputs {
            #expect(rawUnsafe(out).isEmpty, "\(rawUnsafe(out))")
            let doc = try parseXMLStrictly(out)
            let all = elements(doc)
            // A value never becomes an element or an attribute of its own.
            #expect(all.filter { $0.name == "script" }.count <= 1)
            #expect(!all.contains { e in (e.attributes ?? []).contains { $0.name?.hasPrefix("on") == true } })
            #expect(!all.contains { $0.name == "a" && attr($0, "href")?.hasPrefix("#") == false })
        }
        // The plan's picture without a fleet still draws the instance and its arrow.
        let doc = try parseXMLStrictly(outputs[0])
        #expect(elements(doc).filter { $0.name == "g" && classes($0).first == "mv" && attr($0, "data-i") != nil }.count == 1)
    }

    @Test("the markup rule: visible escapes, then the five characters markup acts on")
    func markupRule() {
        #expect(Escape.markup("web-1 é 😀") == "web-1 é 😀")
        #expect(Escape.markup("<a href='x'>&\"</a>") == "&lt;a href=&#39;x&#39;&gt;&amp;&quot;&lt;/a&gt;")
        #expect(Escape.markup("a\u{1B}[2Jb\n\t\r") == "a\\x1b[2Jb\\n\\t\\r")
        #expect(Escape.markup("\u{202E}x\u{2028}\u{FEFF}\u{9B}\u{7F}") == "\\u{202e}x\\u{2028}\\u{feff}\\x9b\\x7f")
        #expect(Escape.markup("\u{FFFE}\u{FFFF}") == "\\u{fffe}\\u{ffff}")
        // A character reference would bring the character back: none is written for them.
        #expect(!Escape.markup("\u{1B}\u{202E}").contains("&#"))
        for value in hostileValues {
            let m = Escape.markup(value)
            #expect(rawUnsafe(m).isEmpty && !m.contains("<") && !m.contains(">") && !m.contains("\"") && !m.contains("'"))
        }
    }

    @Test("the same plan gives the same bytes, whatever order the hosts and domains were observed in")
    func deterministic() {
        let (plan, fleet) = showcasePicture()
        var shuffled = fleet
        shuffled.observed.hosts.reverse()
        for i in shuffled.observed.hosts.indices { shuffled.observed.hosts[i].domains.reverse() }
        for format in PictureFormat.allCases {
            let a = renderPicture(plan, fleet: fleet, format: format)
            #expect(a == renderPicture(plan, fleet: fleet, format: format))
            #expect(a == renderPicture(plan, fleet: shuffled, format: format))
        }
        #expect(renderObservedPicture(fleet.observed, desired: fleet.desired, format: .svg)
                == renderObservedPicture(shuffled.observed, desired: fleet.desired, format: .svg))
    }

    @Test("hosts with nothing changing fold into a count per fault domain; the HTML lists them behind a disclosure")
    func folding() throws {
        var hosts = [host("busy", fd: "fd-1", domains: [dom("mover")]), host("target", fd: "fd-2")]
        for n in 0..<30 { hosts.append(host("quiet-\(n)", fd: n % 2 == 0 ? "fd-1" : "fd-2", domains: [dom("vm-\(n)")])) }
        let observed = ObservedFleet(hosts: hosts)
        var instances: [String: InstanceSpec] = ["mover": InstanceSpec(host: "target")]
        for n in 0..<30 { instances["vm-\(n)"] = InstanceSpec() }
        let desired = spec(observed, instances: instances)
        let plan = makePlan(desired: desired, observed: observed)
        #expect(plan.actions.map(\.instance) == ["mover"])
        let fleet = PictureFleet(desired: desired, observed: observed)
        let svg = try parseXMLStrictly(renderPicture(plan, fleet: fleet, format: .svg))
        let drawn = elements(svg).filter { $0.name == "g" && classes($0).first == "h" }.compactMap { attr($0, "data-h") }
        #expect(drawn.sorted() == ["busy", "target"])
        let folds = elements(svg).filter { $0.name == "g" && classes($0) == ["fold"] }.map { $0.kids("text").first?.stringValue ?? "" }
        #expect(folds == ["15 hosts with nothing changing", "15 hosts with nothing changing"])
        let html = try parseXMLStrictly(renderPicture(plan, fleet: fleet, format: .html))
        let details = elements(html).filter { $0.name == "details" && attr($0, "id")?.hasPrefix("fold-") == true }
        #expect(details.count == 2)
        let listed = details.flatMap { elements($0).filter { $0.name == "g" && classes($0).first == "h" } }.compactMap { attr($0, "data-h") }
        #expect(Set(listed) == Set((0..<30).map { "quiet-\($0)" }))
        // The count in the picture links to its list.
        let links = elements(html).filter { $0.name == "a" }.compactMap { attr($0, "href") }.filter { $0.hasPrefix("#fold-") }
        #expect(Set(links) == Set(details.compactMap { attr($0, "id") }.map { "#" + $0 }))
        // The present folds nothing.
        let present = try parseXMLStrictly(renderObservedPicture(observed, desired: desired, format: .svg))
        #expect(elements(present).filter { $0.name == "g" && classes($0).first == "h" }.count == 32)
    }

    @Test("bars show capacity and use before → after; use beyond the limit is marked")
    func bars() throws {
        let observed = ObservedFleet(hosts: [
            host("full", fd: "fd-1", cpus: 1, mem: 1024, domains: [dom("a", vcpus: 2, mem: 2048), dom("b", vcpus: 1, mem: 512)]),
            host("roomy", fd: "fd-1", cpus: 8, mem: 16384),
        ])
        let desired = spec(observed, instances: ["a": InstanceSpec(), "b": InstanceSpec(host: "roomy")])
        let plan = makePlan(desired: desired, observed: observed)
        let svg = renderPicture(plan, fleet: PictureFleet(desired: desired, observed: observed), format: .svg)
        let texts = elements(try parseXMLStrictly(svg)).filter { $0.name == "text" }.compactMap(\.stringValue)
        #expect(texts.contains("mem 2560 MiB → 2048 MiB of 1024 MiB OVER"), "\(texts)")
        #expect(texts.contains("mem 0 MiB → 512 MiB of 16.0 GiB"), "\(texts)")
        #expect(texts.contains { $0.hasPrefix("vCPU 0 → 1 of 32 (8 CPUs × 4.0)") }, "\(texts)")
    }

    @Test("long names are cut to their chip with the whole name kept (data-i and a tooltip); wide text is held to its width")
    func longNames() throws {
        let long = String(repeating: "very-long-instance-name-", count: 4)
        let wide = "数据库服务器数据库服务器数据库服务器"
        let observed = ObservedFleet(hosts: [host("h1", fd: "fd", domains: [dom(long), dom(wide)])])
        let desired = spec(observed, instances: [long: InstanceSpec(), wide: InstanceSpec()])
        let svg = renderObservedPicture(observed, desired: desired, format: .svg)
        let all = elements(try parseXMLStrictly(svg))
        let named = try #require(all.first { attr($0, "data-i") == long })
        #expect(elements(named).contains { $0.name == "title" && ($0.stringValue ?? "").contains(long) })
        let shown = named.name == "text" ? ownText(named) : ownText(try #require(named.kids("text").first))
        #expect(shown.hasSuffix("…") && shown.count < long.count)
        let wideText = try #require(all.first { $0.name == "text" && $0.stringValue?.hasPrefix("数据") == true })
        #expect(attr(wideText, "textLength") != nil)
    }

    @Test("a host's maintenance event is shown on its box; what an action waits for is in the table and the tooltip")
    func maintenanceAndDependencies() throws {
        let observed = ObservedFleet(hosts: [host("old", fd: "fd-1", domains: [dom("a"), dom("b")]), host("new", fd: "fd-1")])
        var desired = spec(observed, instances: ["a": InstanceSpec(host: "new"), "b": InstanceSpec(host: "new")])
        desired.hosts["old"]?.maintenance = MaintenanceSpec(due: "2026-12-20T06:00:00Z", reason: "firmware <update>")
        var summary = Summary()
        summary.live = 2
        let plan = Plan(fleet: "lab", basis: Basis(digest: "", hosts: [], domains: []), actions: [
            Action(instance: "a", kind: .live, from: "old", to: "new", reasons: [Reason(.placeHost, "declared on new")], wave: 1, id: 1),
            Action(instance: "b", kind: .live, from: "old", to: "new", reasons: [Reason(.placeHost, "declared on new")], wave: 2, id: 2, dependsOn: [1]),
        ], summary: summary)
        let fleet = PictureFleet(desired: desired, observed: observed)
        let svg = try parseXMLStrictly(renderPicture(plan, fleet: fleet, format: .svg))
        let shown = elements(svg).filter { $0.name == "text" && classes($0) == ["mt"] }.map(ownText).joined(separator: " ")
        #expect(shown == "maintenance due 2026-12-20T06:00:00Z: firmware <update>", "\(shown)")
        let arrow = try #require(elements(svg).first { $0.name == "g" && attr($0, "data-i") == "b" && classes($0).first == "mv" })
        #expect(arrow.kids("title").first?.stringValue?.contains("waits for: a (live)") == true)
        let html = renderPicture(plan, fleet: fleet, format: .html)
        _ = try parseXMLStrictly(html)
        #expect(html.contains("<small>after a (live)</small>"))
    }
}
