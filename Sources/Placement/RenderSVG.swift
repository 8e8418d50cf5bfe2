/// The picture as SVG: `PictureLayout` drawn. Every value from outside (names, states, reasons,
/// fault domains, errors) goes through `Escape.appendMarkup`; ids are numbers of ours, never
/// names. The same layout gives the same bytes.

/// The plan as a picture: fault domains as columns, hosts as boxes with vCPU and memory bars
/// before → after, instances as chips, one arrow per move, blocked instances with their reasons.
/// Hosts with nothing changing fold into a count per fault domain (listed, in the HTML, behind
/// a disclosure). Without `fleet`, only the hosts and instances the plan's actions name, and no
/// bars. The result ends with a newline.
public func renderPicture(_ plan: Plan, fleet: PictureFleet?, format: PictureFormat) -> String {
    let fleet = fleet ?? PictureFleet(desired: placementOfPlan(plan), observed: ObservedFleet(hosts: []))
    let layout = PictureLayout(pictureModel(plan: plan, fleet: fleet))
    switch format {
    case .svg: return standaloneSVG(layout)
    case .html: return pictureHTML(layout, plan: plan)
    }
}

/// The present as a picture (`observe -o svg|html`): every host of the placement with its
/// domains and its vCPU and memory use now; nothing folded. The result ends with a newline.
public func renderObservedPicture(_ observed: ObservedFleet, desired: PlacementSpec, format: PictureFormat) -> String {
    let layout = PictureLayout(pictureModel(plan: nil, fleet: PictureFleet(desired: desired, observed: observed)))
    switch format {
    case .svg: return standaloneSVG(layout)
    case .html: return pictureHTML(layout, plan: nil)
    }
}

/// What a saved plan says of its hosts, as a placement (names and fault domains only).
private func placementOfPlan(_ plan: Plan) -> PlacementSpec {
    var hosts: [String: HostSpec] = [:]
    for h in plan.hosts { hosts[h.name] = HostSpec(uri: h.uri, faultDomain: h.faultDomain) }
    return PlacementSpec(metadata: MetadataSpec(name: plan.fleet), hosts: hosts)
}

private func standaloneSVG(_ layout: PictureLayout) -> String {
    var w = MarkupWriter()
    w.reserve(layout)
    w.raw("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n")
    w.svg(layout, standalone: true)
    return w.out
}

/// One bar of a host: vCPUs or memory. Its scale stretches to the largest of the limit and
/// the two uses, so that nothing runs out of the box.
private struct BarRow {
    var text: String
    var top: Int
    var before: Int
    var after: Int?
    var limit: Int
    var tick: Int?

    var over: Bool { max(before, after ?? before) > limit }
    var overAfter: Bool { (after ?? before) > limit }

    func width(_ v: Int) -> Int {
        let scale = Double(max(limit, before, after ?? 0, 1))
        return Int((Double(max(v, 0)) / scale * Double(PictureMetrics.innerWidth)).rounded())
    }
}

/// Characters of our own text that every monospace font draws one column wide.
private let knownWidth: Set<Unicode.Scalar> = ["→", "…", "×", "–"]

/// Lines of a tooltip, each escaped, joined by line feeds of ours.
private func appendTooltip(_ lines: [String], to w: inout MarkupWriter) {
    w.raw("<title>")
    for (n, line) in lines.enumerated() {
        if n > 0 { w.raw("\n") }
        w.text(line)
    }
    w.raw("</title>")
}

/// Where a text's `x` is.
enum TextAnchor { case start, middle, end }

/// Builds a markup document in one string.
struct MarkupWriter {
    var out = ""

    mutating func reserve(_ layout: PictureLayout) {
        let chips = layout.columns.reduce(0) { $0 + $1.hosts.reduce(0) { $0 + $1.layout.chips.count } }
        let hosts = layout.columns.reduce(0) { $0 + $1.hosts.count }
        out.reserveCapacity(16_384 + chips * 110 + hosts * 700 + layout.arrows.count * 200)
    }

    mutating func raw(_ s: String) { out += s }
    /// A value from outside, escaped.
    mutating func text(_ s: String) { Escape.appendMarkup(s, to: &out) }
    mutating func int(_ n: Int) { out += String(n) }

    /// `<text class=… x=… y=…>value</text>`, the value cut to `columns`, its full form as a
    /// tooltip when cut. Text beyond ASCII and our own few signs is held to its estimated width
    /// (`textLength`), since the font that draws it is not known here.
    mutating func label(_ value: String, x: Int, y: Int, columns: Int, size: Int, cls: String? = nil, anchor: TextAnchor = .start) {
        let (shown, cut) = PictureFont.fit(value, columns: columns)
        raw("<text")
        if let cls { raw(" class=\""); raw(cls); raw("\"") }
        raw(" x=\""); int(x); raw("\" y=\""); int(y); raw("\"")
        switch anchor {
        case .start: break
        case .middle: raw(" text-anchor=\"middle\"")
        case .end: raw(" text-anchor=\"end\"")
        }
        if shown.unicodeScalars.contains(where: { $0.value >= 0x80 && !knownWidth.contains($0) }) {
            let width = Int((Double(displayColumns(shown)) * PictureFont.columnWidth(size: size)).rounded(.down))
            raw(" textLength=\""); int(max(width, 1)); raw("\" lengthAdjust=\"spacingAndGlyphs\"")
        }
        raw(">")
        if cut { raw("<title>"); text(value); raw("</title>") }
        text(shown)
        raw("</text>")
    }

    // MARK: The document

    mutating func svg(_ layout: PictureLayout, standalone: Bool) {
        let m = layout.model
        raw("<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"vp\" width=\""); int(layout.width)
        raw("\" height=\""); int(layout.height); raw("\" viewBox=\"0 0 "); int(layout.width); raw(" "); int(layout.height)
        raw("\" role=\"img\" aria-labelledby=\"vp-title\">\n<title id=\"vp-title\">")
        text(pictureTitle(m)); raw(" — "); text(m.summary)
        raw("</title>\n")
        if standalone { raw("<style>"); raw(pictureCSS); raw("</style>\n") }
        markers()
        header(layout)
        for (n, column) in layout.columns.enumerated() {
            let model = m.columns[n]
            raw("<g class=\"col\">")
            label(model.faultDomain ?? "no fault domain", x: column.x, y: PictureMetrics.headerHeight + 14, columns: 36, size: 13, cls: "fd")
            let total = model.hosts.count + model.folded.count
            let shownText = m.isPlan ? "\(total) host\(total == 1 ? "" : "s"), \(model.hosts.count) changing" : "\(total) host\(total == 1 ? "" : "s")"
            label(shownText, x: column.x, y: PictureMetrics.headerHeight + 27, columns: 46, size: 10, cls: "fs")
            raw("</g>\n")
            for host in column.hosts { self.host(host.layout, x: column.x, y: host.y) }
            if let foldY = column.foldY { fold(model.folded, index: n, x: column.x, y: foldY) }
        }
        if let unplaced = layout.unplaced {
            raw("<g class=\"col\">")
            label("on no host", x: unplaced.x, y: PictureMetrics.headerHeight + 14, columns: 36, size: 13, cls: "fd")
            raw("</g>\n<g class=\"h nohost\">")
            for chip in unplaced.chips { self.chip(chip) }
            raw("</g>\n")
        }
        for arrow in layout.arrows { self.arrow(arrow.move, from: arrow.from, to: arrow.to) }
        raw("</svg>\n")
    }

    private mutating func header(_ layout: PictureLayout) {
        let m = layout.model, x = PictureMetrics.margin
        let columns = max((layout.width - 2 * x) * 100 / 930, 40)
        label(pictureTitle(m), x: x, y: 24, columns: columns, size: 15, cls: "t")
        label(m.summary, x: x, y: 44, columns: columns * 5 / 4, size: 12, cls: "s")
        guard m.isPlan else { return }
        raw("<g class=\"lg\">")
        var lx = x
        for kind in [ActionKind.live, .reboot, .cold, .manual] {
            raw("<g class=\"mv k-\(kind.rawValue)\"><path class=\"ar\" d=\"M\(lx) 60h28\"/><text class=\"al\" x=\"\(lx + 34)\" y=\"64\">\(kind.rawValue)</text></g>")
            lx += 34 + 7 * kind.rawValue.count + 18
        }
        for (cls, name) in [("c up k-update lgd", "update"), ("c bk lgd", "blocked"), ("c out lgd", "leaves"), ("c um lgd", "unmanaged")] {
            raw("<g class=\"\(cls)\"><rect x=\"\(lx)\" y=\"53\" width=\"\(7 * name.count + 10)\" height=\"15\"/><text x=\"\(lx + 5)\" y=\"64\">\(name)</text></g>")
            lx += 7 * name.count + 22
        }
        raw("</g>\n")
    }

    /// One marker (arrow head) per move kind.
    private mutating func markers() {
        raw("<defs>")
        for kind in [ActionKind.live, .reboot, .cold, .manual] {
            raw("<marker id=\"m-\(kind.rawValue)\" viewBox=\"0 0 10 10\" refX=\"9\" refY=\"5\" markerWidth=\"7\" markerHeight=\"7\" orient=\"auto\"><path d=\"M0 0L10 5L0 10z\" fill=\"\(kindColor(kind))\"/></marker>")
        }
        raw("</defs>\n")
    }

    // MARK: Hosts

    /// A host box at (`x`, `y`): its name and state, its bars (or why it did not answer), its chips.
    mutating func host(_ layout: HostLayout, x: Int, y: Int) {
        typealias M = PictureMetrics
        let card = layout.card
        raw("<g class=\"h")
        if !card.reachable { raw(" down") }
        if let state = card.state, state != .active { raw(" st-"); raw(state.rawValue) }
        raw("\" data-h=\""); text(card.name); raw("\" transform=\"translate("); int(x); raw(","); int(y); raw(")\">")
        raw("<rect class=\"box\" width=\""); int(M.columnWidth); raw("\" height=\""); int(layout.height); raw("\" rx=\"4\"/>")
        var badge: String?
        if !card.reachable {
            badge = "unreachable"
        } else if let state = card.state, state != .active {
            badge = state.rawValue
        } else if card.maintenance != nil {
            badge = "maintenance"
        } else if card.state == nil {
            badge = "undeclared"
        }
        let badgeColumns = badge.map { $0.count + 1 } ?? 0
        label(card.name, x: M.pad, y: 15, columns: Int(Double(M.innerWidth) / PictureFont.columnWidth(size: 12)) - badgeColumns, size: 12, cls: "hn")
        if let badge { label(badge, x: M.columnWidth - M.pad, y: 15, columns: 12, size: 10, cls: "hb", anchor: .end) }
        var ly = M.titleHeight + M.lineHeight - 3
        for notice in layout.notices {
            label(notice.text, x: M.pad, y: ly, columns: 60, size: 10, cls: notice.cls)
            ly += M.lineHeight
        }
        if let top = layout.barsTop { bars(card, top: top) }
        raw("\n")
        var quiet: [PlacedChip] = []
        for chip in layout.chips {
            if chip.chip.role == .stays && !chip.chip.isWide { quiet.append(chip) } else { self.chip(chip) }
        }
        quietChips(quiet.filter(\.chip.managed), cls: "cs")
        quietChips(quiet.filter { !$0.chip.managed }, cls: "cs um")
        raw("</g>\n")
    }

    /// Chips of instances that stay as they are: one path draws all their frames, a text each
    /// names them (a tenth of 10,000 chips' bytes, against a group, a frame and a text each).
    private mutating func quietChips(_ chips: [PlacedChip], cls: String) {
        guard !chips.isEmpty else { return }
        raw("<g class=\"\(cls)\"><path d=\"")
        for c in chips { raw("M\(c.rect.x) \(c.rect.y)h\(c.rect.width)v\(c.rect.height)h-\(c.rect.width)z") }
        raw("\"/>")
        for c in chips {
            let columns = Int(Double(c.rect.width - 8) / PictureFont.columnWidth(size: 11))
            let cut = displayColumns(c.chip.instance) > columns
            raw("<text")
            if c.chip.state == "shutoff" { raw(" class=\"off\"") }
            if cut { raw(" data-i=\""); text(c.chip.instance); raw("\"") }
            raw(" x=\""); int(c.rect.x + 4); raw("\" y=\""); int(c.rect.y + 13); raw("\"")
            let (shown, _) = PictureFont.fit(c.chip.instance, columns: columns)
            if shown.unicodeScalars.contains(where: { $0.value >= 0x80 && !knownWidth.contains($0) }) {
                raw(" textLength=\""); int(max(Int((Double(displayColumns(shown)) * PictureFont.columnWidth(size: 11)).rounded(.down)), 1))
                raw("\" lengthAdjust=\"spacingAndGlyphs\"")
            }
            raw(">")
            if cut || !c.chip.managed {
                appendTooltip([c.chip.instance + (c.chip.managed ? "" : ": unmanaged, never touched")], to: &self)
            }
            text(shown)
            raw("</text>")
        }
        raw("</g>")
    }

    private mutating func bars(_ card: HostCard, top: Int) {
        typealias M = PictureMetrics
        let columns = Int(Double(M.innerWidth) / PictureFont.columnWidth(size: 10))
        guard card.measured else {
            label(card.reachable ? "capacity and use not observed" : "no answer", x: M.pad, y: top + 10, columns: columns, size: 10, cls: "bl")
            return
        }
        let vcpuText = usageText("vCPU", before: card.before.vcpus, after: card.after?.vcpus, limit: card.vcpuLimit, unit: { String($0) })
            + " (\(card.cpus) CPU\(card.cpus == 1 ? "" : "s") × \(ratioText(card)))"
        let memoryText = usageText("mem", before: card.before.memoryMiB, after: card.after?.memoryMiB, limit: card.memoryMiB, unit: mebibytes)
        let rows = [
            BarRow(text: vcpuText, top: top, before: card.before.vcpus, after: card.after?.vcpus, limit: card.vcpuLimit, tick: card.cpus),
            BarRow(text: memoryText, top: top + M.barRow, before: card.before.memoryMiB, after: card.after?.memoryMiB, limit: card.memoryMiB, tick: nil),
        ]
        for row in rows {
            label(row.text + (row.over ? " OVER" : ""), x: M.pad, y: row.top + 10, columns: columns, size: 10, cls: row.over ? "bl ov" : "bl")
        }
        // One path per kind of shape for both bars: the tracks, the use before (thin, grey)
        // and after (red beyond the limit), the marks at the limits.
        let x = M.pad, w = M.innerWidth
        raw("<path class=\"tr\" d=\"")
        for row in rows { raw("M\(x) \(row.top + 13)h\(w)v9H\(x)z") }
        raw("\"/>")
        let twoBars = card.after != nil
        if twoBars {
            raw("<path class=\"b0\" d=\"")
            for row in rows { raw("M\(x) \(row.top + 13)h\(row.width(row.before))v4H\(x)z") }
            raw("\"/>")
        }
        for over in [false, true] where rows.contains(where: { $0.overAfter == over }) {
            raw(over ? "<path class=\"b1 over\" d=\"" : "<path class=\"b1\" d=\"")
            for row in rows where row.overAfter == over {
                let value = row.after ?? row.before
                raw(twoBars ? "M\(x) \(row.top + 17)h\(row.width(value))v5H\(x)z" : "M\(x) \(row.top + 13)h\(row.width(value))v9H\(x)z")
            }
            raw("\"/>")
        }
        // The limit; for vCPUs the physical CPUs too, where overcommit begins.
        raw("<path class=\"cap\" d=\"")
        for row in rows {
            raw("M\(x + min(row.width(row.limit), w - 1)) \(row.top + 11)v13")
            if let tick = row.tick, tick < row.limit { raw("M\(x + row.width(tick)) \(row.top + 15)v5") }
        }
        raw("\"/>")
    }

    // MARK: Chips

    mutating func chip(_ placed: PlacedChip) {
        let chip = placed.chip, r = placed.rect
        raw("<g class=\"c")
        switch chip.role {
        case .blocked: raw(" bk")
        case .leaves: raw(" out")
        case .arrives, .via: raw(" in")
        case .changed: raw(" up")
        case .stays: break
        }
        if let kind = chip.kind, chip.role != .blocked { raw(" k-"); raw(kind.rawValue) }
        if chip.deferred { raw(" df") }
        if !chip.managed { raw(" um") }
        raw("\"")
        let badgeColumns = chip.badge.map { displayColumns($0) + 1 } ?? 0
        let nameColumns = Int(Double(r.width - 8) / PictureFont.columnWidth(size: 11)) - badgeColumns
        let cut = displayColumns(chip.instance) > nameColumns
        if cut { raw(" data-i=\""); text(chip.instance); raw("\"") }
        raw(">")
        var tip = chip.tooltip
        if !chip.managed { tip.insert("\(chip.instance): unmanaged, never touched", at: 0) }
        if tip.isEmpty, cut { tip = [chip.instance] }
        if !tip.isEmpty {
            if let state = chip.state, chip.role != .arrives { tip.append("state: \(state)") }
            appendTooltip(tip, to: &self)
        }
        raw("<rect x=\""); int(r.x); raw("\" y=\""); int(r.y); raw("\" width=\""); int(r.width); raw("\" height=\""); int(r.height); raw("\"/>")
        label(chip.instance, x: r.x + 4, y: r.y + 13, columns: nameColumns, size: 11, cls: chip.state == "shutoff" ? "off" : nil)
        if let badge = chip.badge {
            // `.bd` is anchored at its end by the style sheet.
            label(badge, x: r.maxX - 4, y: r.y + 13, columns: badgeColumns, size: 10, cls: "bd")
        }
        let lineColumns = Int(Double(r.width - 6) / PictureFont.columnWidth(size: 10))
        for (line, y) in zip(chip.lines, placed.lineY) {
            label(line, x: r.x + 6, y: y, columns: lineColumns, size: 10, cls: "why")
        }
        raw("</g>")
    }

    // MARK: Folds and arrows

    /// The count of a column's hosts with nothing changing; in the HTML a link to their list.
    private mutating func fold(_ hosts: [HostCard], index: Int, x: Int, y: Int) {
        typealias M = PictureMetrics
        let instances = hosts.reduce(0) { $0 + $1.chips.count }
        raw("<a href=\"#fold-\(index)\"><g class=\"fold\"><rect x=\"\(x)\" y=\"\(y)\" width=\"\(M.columnWidth)\" height=\"\(M.foldHeight)\" rx=\"4\"/>")
        label("\(hosts.count) host\(hosts.count == 1 ? "" : "s") with nothing changing", x: x + M.pad, y: y + 16, columns: 44, size: 11)
        label("\(instances) instance\(instances == 1 ? "" : "s") on them, not drawn", x: x + M.pad, y: y + 31, columns: 44, size: 10, cls: "fs")
        raw("</g></a>\n")
    }

    /// A move: a curve from the chip it leaves to the chip it arrives at (around the right of
    /// the column when both are in one column), its head, its kind and wave.
    private mutating func arrow(_ move: MoveArrow, from a: PictureRect, to b: PictureRect) {
        let x1: Int, x2: Int, c1: Int, c2: Int
        let sameColumn = b.x <= a.maxX && b.maxX >= a.x
        if b.x > a.maxX {
            x1 = a.maxX; x2 = b.x - 1
            let d = max((x2 - x1) / 3, 30)
            c1 = x1 + d; c2 = x2 - d
        } else if b.maxX < a.x {
            x1 = a.x; x2 = b.maxX + 1
            let d = max((x1 - x2) / 3, 30)
            c1 = x1 - d; c2 = x2 + d
        } else {
            let right = max(a.maxX, b.maxX)
            x1 = a.maxX; x2 = b.maxX + 1
            c1 = right + 56; c2 = right + 56
        }
        let y1 = a.midY, y2 = b.midY
        raw("<g class=\"mv k-\(move.kind.rawValue)\(move.deferred ? " df" : "")\" data-i=\""); text(move.instance)
        raw("\" data-from=\""); text(move.from); raw("\" data-to=\""); text(move.to); raw("\">")
        appendTooltip(move.tooltip, to: &self)
        raw("<path class=\"ar\" d=\"M\(x1) \(y1)C\(c1) \(y1) \(c2) \(y2) \(x2) \(y2)\" marker-end=\"url(#m-\(move.kind.rawValue))\"/>")
        // The curve's midpoint: (P0 + 3 P1 + 3 P2 + P3) / 8.
        let mx = (x1 + 3 * c1 + 3 * c2 + x2) / 8, my = (y1 + 3 * y1 + 3 * y2 + y2) / 8
        // Between columns, centred in the gap; beside one column, in the gap to its right.
        label(move.label, x: sameColumn ? mx - 8 : mx, y: my - 3, columns: 24, size: 10, cls: "al", anchor: sameColumn ? .start : .middle)
        raw("</g>\n")
    }
}

func pictureTitle(_ m: PictureModel) -> String {
    (m.isPlan ? "virtplace plan: " : "virtplace observe: ") + m.fleet
}

private func usageText(_ name: String, before: Int, after: Int?, limit: Int, unit: (Int) -> String) -> String {
    if let after, after != before { return "\(name) \(unit(before)) → \(unit(after)) of \(unit(limit))" }
    return "\(name) \(unit(before)) of \(unit(limit))"
}

private func ratioText(_ card: HostCard) -> String {
    guard card.cpus > 0 else { return "-" }
    // The limit over the CPUs, to one decimal, in whole numbers only.
    let tenths = Int((Double(card.vcpuLimit) * 10 / Double(card.cpus)).rounded())
    return "\(tenths / 10).\(tenths % 10)"
}

/// Memory for people: MiB below 10 GiB, else GiB to one decimal.
func mebibytes(_ mib: Int) -> String {
    if mib < 10_240 { return "\(mib) MiB" }
    let tenths = (mib / 1024) * 10 + ((mib % 1024) * 10 + 512) / 1024
    return "\(tenths / 10).\(tenths % 10) GiB"
}

/// The colour of a kind's arrows and badges.
func kindColor(_ kind: ActionKind) -> String {
    switch kind {
    case .live: "#1a7f37"
    case .reboot: "#bc4c00"
    case .cold: "#0969da"
    case .manual: "#8250df"
    case .update, .start, .stop: "#1b7c83"
    case .blocked: "#cf222e"
    }
}

/// The picture's style sheet (inside the SVG, or once in the HTML page's head).
let pictureCSS: String = {
    var css = """
    .vp text{font-family:"DejaVu Sans Mono",Menlo,Consolas,"Liberation Mono",monospace;font-size:11px;fill:#1f2328}\
    .vp .t{font-size:15px;font-weight:bold}.vp .s{font-size:12px}\
    .vp .fd{font-size:13px;font-weight:bold}.vp .fs,.vp .bl{font-size:10px;fill:#57606a}.vp .ov{fill:#cf222e;font-weight:bold}\
    .vp .box{fill:#f6f8fa;stroke:#8c959f}.vp .down .box{fill:#fff1f0;stroke:#cf222e}.vp .st-drained .box{stroke-dasharray:6 3}\
    .vp .hn{font-size:12px;font-weight:bold}.vp .hb{font-size:10px;fill:#9a6700}.vp .err{font-size:10px;fill:#cf222e}.vp .mt{font-size:10px;fill:#9a6700}\
    .vp .tr{fill:#eaeef2}.vp .b0{fill:#8c959f}.vp .b1{fill:#2da44e}.vp .b1.over{fill:#cf222e}\
    .vp .cap{fill:none;stroke:#1f2328;stroke-width:1.5}\
    .vp .c rect{fill:#fff;stroke:#8c959f;rx:3px}.vp .cs path{fill:#fff;stroke:#8c959f}.vp .off{fill:#6e7781}\
    .vp .um text{fill:#6e7781;font-style:italic}.vp .cs.um path{stroke-dasharray:1 2}\
    .vp .c.out rect{fill:#f6f8fa;stroke-dasharray:4 2}.vp .c.out text{fill:#57606a}\
    .vp .c.in rect,.vp .c.up rect{stroke-width:2}.vp .c.df rect{opacity:.55}\
    .vp .c.bk rect{fill:#ffebe9;stroke:#cf222e;stroke-width:2}.vp .c.bk .bd{fill:#cf222e}\
    .vp .bd{font-size:10px;font-weight:bold;text-anchor:end}.vp .why{font-size:10px;fill:#a40e26}\
    .vp .ar{fill:none;stroke-width:1.6}.vp .df .ar{opacity:.5;stroke-dasharray:5 4}\
    .vp .al{font-size:10px;font-weight:bold;paint-order:stroke;stroke:#fff;stroke-width:3px}\
    .vp .fold rect{fill:#fff;stroke:#8c959f;stroke-dasharray:3 3}\
    .vp .k-reboot .ar{stroke-dasharray:8 3}.vp .k-cold .ar{stroke-dasharray:2 3}.vp .k-manual .ar{stroke-dasharray:10 3 2 3}
    """
    for kind in ActionKind.allCases where kind != .blocked {
        let k = kind.rawValue, c = kindColor(kind)
        css += ".vp .k-\(k) rect,.vp .k-\(k) .ar{stroke:\(c)}.vp .k-\(k) .bd,.vp .k-\(k) .al{fill:\(c)}"
    }
    return css
}()
