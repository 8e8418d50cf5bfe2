/// The picture as one self-contained HTML page: the SVG, the hosts it folded (behind a
/// disclosure per fault domain), the action table with every reason and its code, notes and
/// unmanaged domains (the steps are in `plan -v` and the JSON). No fetch of any kind: no
/// external style, script, font or image. The page is also
/// well-formed XML (XHTML's polyglot form), so that a test can parse it strictly. It reads on
/// a phone (the table turns into cards, the picture scrolls) and prints (disclosures open, the
/// picture fitted to the page).

func pictureHTML(_ layout: PictureLayout, plan: Plan?) -> String {
    var w = MarkupWriter()
    w.reserve(layout)
    let m = layout.model
    w.raw("<!DOCTYPE html>\n<html xmlns=\"http://www.w3.org/1999/xhtml\" lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n")
    w.raw("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"/>\n<title>")
    w.text(pictureTitle(m))
    w.raw("</title>\n<style>")
    w.raw(pageCSS)
    w.raw(pictureCSS)
    w.raw("</style>\n</head>\n<body>\n<header><h1>")
    w.raw(m.isPlan ? "virtplace plan: <code>" : "virtplace observe: <code>")
    w.text(m.fleet)
    w.raw("</code></h1>\n<p class=\"summary\">")
    w.text(m.summary)
    w.raw("</p></header>\n<section class=\"picture\">\n<div class=\"pic\">")
    w.svg(layout, standalone: false)
    w.raw("</div>\n")
    folds(&w, layout)
    w.raw("</section>\n")
    if let plan {
        actionTable(&w, plan)
        notes(&w, plan)
    }
    w.raw("<script>")
    w.raw(pageScript)
    w.raw("</script>\n</body>\n</html>\n")
    return w.out
}

/// Each column's folded hosts, drawn as in the picture, behind a disclosure.
private func folds(_ w: inout MarkupWriter, _ layout: PictureLayout) {
    let columns = layout.model.columns.enumerated().filter { !$0.element.folded.isEmpty }
    guard !columns.isEmpty else { return }
    w.raw("<h2>Hosts with nothing changing</h2>\n")
    for (n, column) in columns {
        let instances = column.folded.reduce(0) { $0 + $1.chips.count }
        w.raw("<details id=\"fold-\(n)\"><summary>")
        w.raw("<code>"); w.text(column.faultDomain ?? "no fault domain"); w.raw("</code>: ")
        w.text("\(column.folded.count) host\(column.folded.count == 1 ? "" : "s"), \(instances) instance\(instances == 1 ? "" : "s")")
        w.raw("</summary>\n<div class=\"minis\">")
        for card in column.folded {
            let host = HostLayout(card)
            w.raw("<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"vp\" width=\"\(PictureMetrics.columnWidth)\" height=\"\(host.height)\" viewBox=\"0 0 \(PictureMetrics.columnWidth) \(host.height)\">")
            w.host(host, x: 0, y: 0)
            w.raw("</svg>")
        }
        w.raw("</div></details>\n")
    }
}

private func actionTable(_ w: inout MarkupWriter, _ plan: Plan) {
    w.raw("<section>\n<h2>Actions</h2>\n")
    guard !plan.actions.isEmpty else {
        w.raw("<p>Nothing to do.</p>\n</section>\n")
        return
    }
    let waits = waitsFor(plan)
    w.raw("<table>\n<thead><tr><th>Action</th><th>Instance</th><th>From</th><th>To</th><th>Wave</th><th>Why</th></tr></thead>\n<tbody>\n")
    for a in plan.actions {
        w.raw("<tr class=\"\(a.kind.rawValue)\"><td data-label=\"Action\" class=\"kind\">")
        w.raw(a.kind.rawValue)
        if a.deferred { w.raw(" (deferred)") }
        w.raw("</td><td data-label=\"Instance\"><code>"); w.text(a.instance); w.raw("</code></td>")
        w.raw("<td data-label=\"From\">"); w.text(a.from ?? "–"); w.raw("</td>")
        w.raw("<td data-label=\"To\">"); w.text(a.to ?? "–"); w.raw("</td>")
        w.raw("<td data-label=\"Wave\">"); w.raw(a.wave > 0 ? String(a.wave) : "–")
        if let after = waits[a.id] {
            w.raw("<br/><small>after "); w.text(after.joined(separator: ", ")); w.raw("</small>")
        }
        w.raw("</td>")
        // Every reason, with its code: the causes, then each refused rung or blocker.
        w.raw("<td data-label=\"Why\"><ul>")
        for r in a.reasons {
            w.raw(r.code.category == .refusal ? "<li class=\"refusal\">" : "<li>"); w.text(r.message)
            w.raw(" <code>"); w.raw(r.code.rawValue); w.raw("</code></li>")
        }
        w.raw("</ul>")
        w.raw("</td></tr>\n")
    }
    w.raw("</tbody>\n</table>\n<p class=\"summary\">")
    w.text(summaryLine(plan))
    w.raw("</p>\n</section>\n")
}

private func notes(_ w: inout MarkupWriter, _ plan: Plan) {
    guard !plan.notes.isEmpty || !plan.unmanaged.isEmpty else { return }
    w.raw("<section>\n<h2>Notes</h2>\n<ul>")
    for note in plan.notes {
        w.raw("<li><code>"); w.text(note.instance); w.raw("</code>: "); w.text(note.message)
        w.raw(" <code>"); w.raw(note.code.rawValue); w.raw("</code></li>")
    }
    for u in plan.unmanaged {
        w.raw("<li><code>"); w.text(u.name); w.raw("</code> on "); w.text(u.host); w.raw(": unmanaged, never touched</li>")
    }
    w.raw("</ul>\n</section>\n")
}

/// The page's own style: readable on a phone (the table becomes one card per action), and in
/// print (no scrolling box, the picture fitted to the page width).
private let pageCSS = """
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;margin:0;padding:12px;color:#1f2328;background:#fff}\
h1{font-size:1.3em;margin:.2em 0}h2{font-size:1.1em;margin:1.4em 0 .5em}h3{font-size:1em;margin:.8em 0 .2em}\
code{font-family:"DejaVu Sans Mono",Menlo,Consolas,monospace;font-size:.9em;overflow-wrap:break-word}\
.summary{font-weight:bold}\
.pic{overflow:auto;max-height:90vh;border:1px solid #d0d7de;border-radius:6px}.pic svg{display:block}\
.minis{display:flex;flex-wrap:wrap;gap:10px;margin:8px 0}\
details{margin:.3em 0}summary{cursor:pointer}\
table{border-collapse:collapse;width:100%}th,td{border:1px solid #d0d7de;padding:4px 6px;text-align:left;vertical-align:top;overflow-wrap:break-word}\
th{background:#f6f8fa}td ul{margin:.2em 0;padding-left:1.2em}\
.kind{font-weight:bold}.live .kind{color:#1a7f37}.reboot .kind{color:#bc4c00}.cold .kind{color:#0969da}.manual .kind{color:#8250df}\
.update .kind,.start .kind,.stop .kind{color:#1b7c83}.blocked .kind{color:#cf222e}\
td ul{list-style:none;padding-left:0}.refusal{color:#a40e26}.blocked td{background:#fff8f7}\
@media (max-width:640px){body{padding:8px}thead{display:none}table,tbody,tr,td{display:block;width:auto}\
tr{border:1px solid #d0d7de;border-radius:6px;margin:0 0 8px}td{border:0;padding:2px 8px}\
td::before{content:attr(data-label) ": ";font-weight:bold}}\
@media print{body{padding:0}.pic{overflow:visible;max-height:none;border:0}.pic svg{width:100%;height:auto}\
tr{break-inside:avoid}a{color:inherit;text-decoration:none}}

"""

/// Opens the disclosure a link in the picture points at (and every one before printing).
/// Written without `<` or `&`, so that the page stays well-formed XML.
private let pageScript = """
function vpOpen(){var id=location.hash.slice(1);var d=id?document.getElementById(id):null;if(d){if(d.tagName==="DETAILS"){d.open=true}}}\
window.addEventListener("hashchange",vpOpen);vpOpen();\
window.addEventListener("beforeprint",function(){document.querySelectorAll("details").forEach(function(d){d.open=true})});
"""
