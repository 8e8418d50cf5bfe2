import Foundation
import Placement
import Testing

// The plan's picture as a person sees it (issue 17): the real binary writes the demo's plan as
// HTML (`plan -f examples/lab --observed examples/snapshots/lab-demo.json -o html`, the demo's
// set-up as observed on a lab; and the what-if placement after the demo's apply), headless
// Chromium (Debian's `chromium`, installed by scripts/deps) lays the page out and runs a
// checking script added to it, and draws it to PNG. The checks are structural, not pixels:
// every instance a chip on its hosts, one arrow per move from its source chip to its target
// chip, coloured and labelled by kind, blocked reasons shown, nothing outside its host box or
// its chip, nothing fetched. Without Chromium these tests fail: they do not skip.

/// One page to check: the plan command's files and what the plan must show.
struct BrowserCase: Sendable, CustomTestStringConvertible {
    let name: String
    let files: [String]
    let snapshot: String
    let kinds: Set<String>
    var testDescription: String { name }
}

let browserCases = [
    BrowserCase(name: "demo", files: ["examples/lab"], snapshot: "examples/snapshots/lab-demo.json",
                kinds: ["live", "reboot", "cold", "update"]),
    BrowserCase(name: "what-if", files: ["examples/lab/what-if/placement.yaml", "examples/lab/hosts.yaml"],
                snapshot: "examples/snapshots/lab-demo-applied.json", kinds: ["manual", "blocked"]),
]

/// The repository's root (this file is Tests/VirtPlaceCLITests/PictureBrowserTests.swift).
let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

/// Chromium: `$VIRTPLACE_CHROMIUM`, else Debian's /usr/bin/chromium, else `chromium` on PATH.
func chromiumPath() -> String? {
    let environment = ProcessInfo.processInfo.environment
    var candidates = [environment["VIRTPLACE_CHROMIUM"], "/usr/bin/chromium"].compactMap { $0 }
    for dir in (environment["PATH"] ?? "").split(separator: ":") { candidates.append("\(dir)/chromium") }
    return candidates.first { FileManager.default.isExecutableFile(atPath: $0) }
}

/// Single-quoted for /bin/sh.
func shellQuoted(_ s: String) -> String { "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'" }

/// What the checking script found in the laid-out page.
struct BrowserCheck: Decodable {
    struct Chip: Decodable { var name: String; var host: String?; var cls: String; var lines: [String] }
    struct Arrow: Decodable {
        var name: String; var from: String; var to: String; var cls: String; var label: String
        var startsAtSource: Bool; var endsAtTarget: Bool; var length: Double
    }
    var chips: [Chip]
    var arrows: [Arrow]
    var overflow: [String]
    var hosts: [String]
    var resources: Int
    var svgWidth: Double
}

/// Runs in the page once it is laid out; writes its findings, percent-encoded JSON, into
/// `body[data-check]`, which `--dump-dom` prints.
let checkingScript = #"""
(function(){
var out={chips:[],arrows:[],overflow:[],hosts:[],resources:performance.getEntriesByType("resource").length,svgWidth:0};
function box(e){return e.getBoundingClientRect();}
function inside(a,b){return a.left>=b.left-0.5&&a.right<=b.right+0.5&&a.top>=b.top-0.5&&a.bottom<=b.bottom+0.5;}
function near(p,b){return p.x>=b.left-2.5&&p.x<=b.right+2.5&&p.y>=b.top-2.5&&p.y<=b.bottom+2.5;}
var svg=document.querySelector(".pic svg");out.svgWidth=svg.getBoundingClientRect().width;
document.querySelectorAll(".pic svg g.h").forEach(function(h){
  var name=h.getAttribute("data-h");out.hosts.push(name);
  var frame=h.querySelector("rect.box");if(!frame)return;var b=box(frame);
  h.querySelectorAll("rect,text,path").forEach(function(e){if(e===frame)return;if(!inside(box(e),b))out.overflow.push("outside host "+name+": "+e.tagName+" "+e.textContent);});
});
function own(t){return Array.from(t.childNodes).filter(function(n){return n.nodeType===3;}).map(function(n){return n.nodeValue;}).join("");}
function chipOf(name,host){var found=null;document.querySelectorAll(".pic svg g.h").forEach(function(h){if(h.getAttribute("data-h")!==host)return;h.querySelectorAll("g.c").forEach(function(g){var t=g.querySelector("text");if((g.getAttribute("data-i")||own(t))===name)found=g;});});return found;}
document.querySelectorAll(".pic svg g.c").forEach(function(g){
  if(g.classList.contains("lgd"))return;
  var rect=g.querySelector("rect"),texts=g.querySelectorAll("text"),name=g.getAttribute("data-i")||own(texts[0]);
  var host=g.closest("g.h"),lines=[];var r=box(rect);
  texts.forEach(function(t){if(t.classList.contains("why")){lines.push(t.textContent);return;}if(!inside(box(t),r))out.overflow.push("outside chip "+name+": "+t.textContent);});
  if(texts.length>1&&!texts[1].classList.contains("why")&&box(texts[0]).right>box(texts[1]).left)out.overflow.push("name over badge: "+name);
  out.chips.push({name:name,host:host?host.getAttribute("data-h"):null,cls:g.getAttribute("class"),lines:lines});
});
document.querySelectorAll(".pic svg g.cs").forEach(function(g){
  var rects=[],d=g.querySelector("path").getAttribute("d"),re=/M(\d+) (\d+)h(\d+)v(\d+)/g,m;
  while((m=re.exec(d))){rects.push({x:+m[1],y:+m[2],w:+m[3],h:+m[4]});}
  var host=g.closest("g.h"),texts=g.querySelectorAll("text");
  if(rects.length!==texts.length)out.overflow.push("frames and names differ in number on "+host.getAttribute("data-h"));
  texts.forEach(function(t){
    var name=t.getAttribute("data-i")||own(t),b=t.getBBox();
    if(!rects.some(function(r){return b.x>=r.x-0.5&&b.x+b.width<=r.x+r.w+0.5&&b.y>=r.y-0.5&&b.y+b.height<=r.y+r.h+0.5;}))out.overflow.push("outside chip "+name);
    out.chips.push({name:name,host:host?host.getAttribute("data-h"):null,cls:g.getAttribute("class"),lines:[]});
  });
});
document.querySelectorAll(".pic svg g.mv").forEach(function(g){
  var name=g.getAttribute("data-i");if(!name)return;
  var p=g.querySelector("path.ar"),len=p.getTotalLength(),m=p.getScreenCTM();
  function at(l){var q=svg.createSVGPoint();var s=p.getPointAtLength(l);q.x=s.x;q.y=s.y;return q.matrixTransform(m);}
  var from=chipOf(name,g.getAttribute("data-from")),to=chipOf(name,g.getAttribute("data-to"));
  out.arrows.push({name:name,from:g.getAttribute("data-from"),to:g.getAttribute("data-to"),cls:g.getAttribute("class"),
    label:g.querySelector("text").textContent,length:len,
    startsAtSource:!!from&&near(at(0),box(from.querySelector("rect"))),endsAtTarget:!!to&&near(at(len),box(to.querySelector("rect")))});
});
document.body.setAttribute("data-check",encodeURIComponent(JSON.stringify(out)));
})();
"""#

@Suite("The plan's picture in headless Chromium", .serialized)
struct PictureBrowserTests {
    @Test("the demo's plans as HTML: every instance, every arrow, reasons shown, nothing overflowing, a PNG drawn",
          .timeLimit(.minutes(5)), arguments: browserCases)
    func rendered(_ page: BrowserCase) async throws {
        guard let chromium = chromiumPath() else {
            Issue.record("chromium is not installed (scripts/deps installs Debian's chromium): the picture's browser check cannot run")
            return
        }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("vp-picture-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let root = repositoryRoot
        let files = page.files.map { "-f " + shellQuoted(root + "/" + $0) }.joined(separator: " ")
        let snapshot = shellQuoted(root + "/" + page.snapshot)
        let made = try await shell("\"$VP\" plan \(files) --observed \(snapshot) -o html > plan.html && \"$VP\" plan \(files) --observed \(snapshot) -o json > plan.json",
                                   in: dir, timeout: 60)
        #expect(made.status == 0, "\(made.stderr)")
        let plan = try JSONDecoder().decode(Plan.self, from: Data(contentsOf: URL(fileURLWithPath: dir + "/plan.json")))
        #expect(Set(plan.actions.map(\.kind.rawValue)) == page.kinds)

        // The page as written, with the checking script before </body>.
        let html = try String(contentsOfFile: dir + "/plan.html", encoding: .utf8)
        let checked = html.replacingOccurrences(of: "</body>", with: "<script>\(checkingScript)</script>\n</body>")
        #expect(checked != html)
        try checked.write(toFile: dir + "/check.html", atomically: false, encoding: .utf8)
        let browser = "\(shellQuoted(chromium)) --headless --no-sandbox --disable-gpu --hide-scrollbars --no-first-run"
            + " --disable-extensions --disable-background-networking --user-data-dir=\(shellQuoted(dir + "/profile"))"
        let dump = try await shell("\(browser) --window-size=1000,1400 --dump-dom file://\(dir)/check.html 2>browser.log", in: dir, timeout: 180)
        #expect(dump.status == 0, "chromium: \((try? String(contentsOfFile: dir + "/browser.log", encoding: .utf8)) ?? "")")
        let encoded = try #require(dump.stdout.range(of: "data-check=\"").map { range in
            String(dump.stdout[range.upperBound...].prefix { $0 != "\"" })
        }, "the checking script did not run: \(dump.stdout.prefix(400))")
        let check = try JSONDecoder().decode(BrowserCheck.self, from: Data(try #require(encoded.removingPercentEncoding).utf8))

        #expect(check.overflow.isEmpty, "\(check.overflow)")
        #expect(check.resources == 0, "the page fetched \(check.resources) resources")
        #expect(check.svgWidth > 300)
        // Every domain observed on a host drawn is a chip on that host.
        let observed = try JSONDecoder().decode(ObservedFleet.self, from: Data(contentsOf: URL(fileURLWithPath: root + "/" + page.snapshot)))
        for host in observed.hosts where check.hosts.contains(host.name) {
            for d in host.domains {
                #expect(check.chips.contains { $0.name == d.name && $0.host == host.name }, "\(d.name) on \(host.name)")
            }
        }
        for a in plan.actions {
            if a.kind.isMove {
                let arrows = check.arrows.filter { $0.name == a.instance }
                #expect(arrows.count == 1, "\(a.instance): \(arrows.count) arrows")
                guard let arrow = arrows.first else { continue }
                #expect(arrow.from == a.from && arrow.to == a.to)
                #expect(arrow.cls.split(separator: " ").contains("k-\(a.kind.rawValue)"))
                #expect(arrow.label.hasPrefix(a.kind.rawValue), "\(arrow.label)")
                #expect(arrow.startsAtSource && arrow.endsAtTarget && arrow.length > 20, "\(a.instance): \(arrow)")
                #expect(check.chips.contains { $0.name == a.instance && $0.host == a.to && $0.cls.contains(" in") })
                #expect(check.chips.contains { $0.name == a.instance && $0.host == a.from && $0.cls.contains(" out") })
            } else if a.kind == .blocked {
                let chip = try #require(check.chips.first { $0.name == a.instance && $0.host == a.from })
                #expect(chip.cls.contains(" bk"))
                let shown = chip.lines.joined(separator: " ")
                for r in a.refusals { #expect(shown.contains(String(r.message.prefix(16))), "\(r.message) not in \(shown)") }
            } else {
                #expect(check.chips.contains { $0.name == a.instance && $0.host == a.from && $0.cls.contains(" up") }, "\(a.instance) marked in place")
            }
        }
        #expect(check.arrows.count == plan.actions.filter(\.kind.isMove).count)

        // Drawn to PNG, as the README shows it.
        let png = dir + "/plan.png"
        let shot = try await shell("\(browser) --window-size=1000,760 --screenshot=\(shellQuoted(png)) file://\(dir)/plan.html 2>>browser.log", in: dir, timeout: 180)
        #expect(shot.status == 0)
        let bytes = try Data(contentsOf: URL(fileURLWithPath: png))
        #expect(bytes.prefix(8) == Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]), "not a PNG")
        #expect(bytes.count > 20_000, "\(bytes.count) bytes: an empty page?")
        if let keep = ProcessInfo.processInfo.environment["VIRTPLACE_PICTURE_PNG_DIR"] {
            try? FileManager.default.removeItem(atPath: keep + "/plan-\(page.name).png")
            try FileManager.default.copyItem(atPath: png, toPath: keep + "/plan-\(page.name).png")
        }
    }
}
