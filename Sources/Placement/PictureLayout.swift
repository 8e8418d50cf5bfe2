/// The plan (or the present) as a picture: fault domains as columns, hosts as boxes with their
/// vCPU and memory use before → after, instances as chips, one arrow per move. This file builds
/// the picture's model from the plan, the placement and the observed fleet, and places every box
/// and chip; `RenderSVG.swift` and `RenderHTML.swift` write it. Pure and deterministic: names
/// are sorted by their UTF-8 bytes, sizes are whole pixels, so the same inputs give the same bytes.

/// What a picture is drawn from besides the plan: the placement it was made from and the fleet
/// as observed (capacity, every domain on every host). Without it a plan's picture shows only
/// the hosts and instances its actions name, with no bars.
public struct PictureFleet: Sendable {
    /// The placement (fault domains, host states and capacity overrides, cpuOvercommit).
    public var desired: PlacementSpec
    /// The fleet the plan was computed from.
    public var observed: ObservedFleet

    /// A picture-fleet value.
    public init(desired: PlacementSpec, observed: ObservedFleet) {
        self.desired = desired; self.observed = observed
    }
}

/// An output format of the picture renderers.
public enum PictureFormat: String, Sendable, CaseIterable {
    /// One SVG document.
    case svg
    /// One self-contained HTML page: the SVG, the action table, every reason; no fetches.
    case html
}

// MARK: - The model

/// vCPUs and memory a host's defined domains reserve.
struct PictureUsage: Equatable {
    var vcpus: Int
    var memoryMiB: Int
}

/// What happens to an instance on one host.
enum ChipRole: Int, Comparable {
    /// Blocked: stays where it is, with every reason.
    case blocked
    /// Leaves this host (the source end of a move).
    case leaves
    /// Arrives on this host and leaves it again (a relay host).
    case via
    /// Arrives on this host (the target end of a move).
    case arrives
    /// Changed in place: an update, a start or a stop.
    case changed
    /// Nothing happens to it.
    case stays

    static func < (a: ChipRole, b: ChipRole) -> Bool { a.rawValue < b.rawValue }
}

/// One instance on one host.
struct Chip {
    var instance: String
    var role: ChipRole
    /// The action's kind (the move's kind at both ends of a move).
    var kind: ActionKind?
    var deferred = false
    /// Declared in the placement (else found on the host and never touched).
    var managed = true
    /// libvirt's state name, when observed here.
    var state: String?
    /// Short text at the chip's right end (`update`, `blocked`, …).
    var badge: String?
    /// Lines shown under the chip (a blocked instance's reasons); raw text.
    var lines: [String] = []
    /// The tooltip's lines; raw text. Empty: the chip has none.
    var tooltip: [String] = []

    /// Takes a row of its own: it has a badge or lines (every end of a move has a badge, so
    /// that its arrow leaves and meets the host box's edge, crossing no other chip).
    var isWide: Bool { badge != nil || !lines.isEmpty }
}

/// One host of the picture.
struct HostCard {
    var name: String
    var faultDomain: String?
    /// nil: not declared in the placement.
    var state: HostState?
    /// The host's maintenance event, when the placement gives it one.
    var maintenance: MaintenanceSpec? = nil
    var reachable: Bool
    var problem: String?
    var cpus: Int
    /// Placeable vCPUs: `cpus × cpuOvercommit`.
    var vcpuLimit: Int
    var memoryMiB: Int
    /// Whether capacity and usage are known (the host was observed and answered).
    var measured: Bool
    var before: PictureUsage
    /// After the plan's scheduled actions; nil in a picture of the present.
    var after: PictureUsage?
    var chips: [Chip]

    /// Something happens on it, or it is worth a look (it did not answer).
    var isChanging: Bool { !reachable || chips.contains { $0.role != .stays } }
}

/// One fault domain's column.
struct PictureColumn {
    /// nil: the hosts without a fault domain.
    var faultDomain: String?
    var hosts: [HostCard]
    /// Hosts with nothing changing, shown as a count (and, in the HTML, behind a disclosure).
    var folded: [HostCard]
}

/// One move: an arrow from the instance's chip on `from` to its chip on `to`.
struct MoveArrow {
    var instance: String
    var kind: ActionKind
    var from: String
    var to: String
    var label: String
    var deferred: Bool
    /// The action: route, wave, every reason; raw lines.
    var tooltip: [String]
}

/// The whole picture, before any geometry.
struct PictureModel {
    var fleet: String
    /// A plan's picture (else the present: `observe`).
    var isPlan: Bool
    var summary: String
    var columns: [PictureColumn]
    /// Instances with an action but on no host (not found anywhere): blocked.
    var unplaced: [Chip]
    var moves: [MoveArrow]
}

/// Sorts strings by their UTF-8 bytes: the same order on every platform and locale.
func byteOrder(_ a: String, _ b: String) -> Bool { a.utf8.lexicographicallyPrecedes(b.utf8) }

/// The picture of `plan` (nil: of the present) over `fleet`.
func pictureModel(plan: Plan?, fleet: PictureFleet) -> PictureModel {
    let spec = fleet.desired
    var observedByName: [String: ObservedHost] = [:]
    for host in fleet.observed.hosts where observedByName[host.name] == nil { observedByName[host.name] = host }
    var afterByName: [String: ObservedHost] = [:]
    if let plan {
        for host in simulate(plan, on: fleet.observed).hosts where afterByName[host.name] == nil { afterByName[host.name] = host }
    }
    var planHosts: [String: PlanHost] = [:]
    for h in plan?.hosts ?? [] where planHosts[h.name] == nil { planHosts[h.name] = h }
    var names = Set(spec.hosts.keys).union(observedByName.keys).union(planHosts.keys)
    for a in plan?.actions ?? [] {
        if let f = a.from { names.insert(f) }
        if let t = a.to { names.insert(t) }
    }
    let ratio = spec.policy.cpuOvercommit.isFinite && spec.policy.cpuOvercommit > 0 ? spec.policy.cpuOvercommit : 1.0

    var cards: [String: HostCard] = [:]
    for name in names {
        let hostSpec = spec.hosts[name]
        let obs = observedByName[name]
        let reachable = obs?.reachable ?? (plan != nil && fleet.observed.hosts.isEmpty)
        let cpus = min(max(hostSpec?.capacity?.vcpus ?? obs?.capacity.vcpus ?? 0, 0), Resources.bound)
        let memory = min(max(hostSpec?.capacity?.memoryMiB ?? obs?.capacity.memoryMiB ?? 0, 0), Resources.bound)
        let measured = obs?.reachable == true
        var chips: [Chip] = []
        if let obs, obs.reachable {
            for d in obs.domains {
                chips.append(Chip(instance: d.name, role: .stays, managed: spec.instances[d.name] != nil, state: d.state))
            }
        }
        cards[name] = HostCard(
            name: name, faultDomain: hostSpec?.faultDomain ?? obs?.faultDomain ?? planHosts[name]?.faultDomain,
            state: hostSpec?.state, maintenance: hostSpec?.maintenance, reachable: reachable,
            problem: obs == nil ? (fleet.observed.hosts.isEmpty ? nil : "not observed") : (obs?.reachable == true ? nil : obs?.error ?? "did not answer"),
            cpus: cpus, vcpuLimit: placeableVcpus(cpus: cpus, ratio: ratio), memoryMiB: memory, measured: measured,
            before: usage(obs), after: plan == nil ? nil : usage(afterByName[name]), chips: chips)
    }

    var moves: [MoveArrow] = []
    var unplaced: [Chip] = []
    if let plan {
        mark(plan, cards: &cards, moves: &moves, unplaced: &unplaced)
    }
    for name in cards.keys {
        cards[name]?.chips.sort { a, b in a.role != b.role ? a.role < b.role : (a.managed != b.managed ? a.managed : byteOrder(a.instance, b.instance)) }
    }

    var byDomain: [String: [HostCard]] = [:]
    var loose: [HostCard] = []
    for name in names.sorted(by: byteOrder) {
        guard let card = cards[name] else { continue }
        if let fd = card.faultDomain { byDomain[fd, default: []].append(card) } else { loose.append(card) }
    }
    var columns = byDomain.keys.sorted(by: byteOrder).map { PictureColumn(faultDomain: $0, hosts: byDomain[$0] ?? [], folded: []) }
    if !loose.isEmpty { columns.append(PictureColumn(faultDomain: nil, hosts: loose, folded: [])) }
    if plan != nil {
        for i in columns.indices {
            columns[i].folded = columns[i].hosts.filter { !$0.isChanging }
            columns[i].hosts = columns[i].hosts.filter(\.isChanging)
        }
    }
    return PictureModel(fleet: plan?.fleet ?? spec.metadata.name, isPlan: plan != nil,
                        summary: plan.map(summaryLine) ?? observedSummary(fleet.observed),
                        columns: columns, unplaced: unplaced, moves: moves)
}

/// What the defined domains of `host` reserve (as the planner counts it: `footprint`).
private func usage(_ host: ObservedHost?) -> PictureUsage {
    guard let host, host.reachable else { return PictureUsage(vcpus: 0, memoryMiB: 0) }
    var total = Resources.zero
    for d in host.domains { total += d.footprint }
    return PictureUsage(vcpus: total.vcpus, memoryMiB: total.memoryMiB)
}

private func observedSummary(_ fleet: ObservedFleet) -> String {
    let reachable = fleet.hosts.filter(\.reachable).count
    let domains = fleet.hosts.reduce(0) { $0 + $1.domains.count }
    return "\(reachable) of \(fleet.hosts.count) hosts answered; \(domains) domains."
}

/// Marks every action on the chips: both ends of each move (an arrow between them), updates,
/// starts and stops in place, blocked instances with their reasons.
private func mark(_ plan: Plan, cards: inout [String: HostCard], moves: inout [MoveArrow], unplaced: inout [Chip]) {
    /// Edits the instance's chip on `host`, made with `role` when the host has none for it.
    func edit(_ instance: String, on host: String, creating role: ChipRole, _ body: (inout Chip) -> Void) {
        guard var card = cards[host] else { return }
        let i = card.chips.firstIndex { $0.instance == instance } ?? {
            card.chips.append(Chip(instance: instance, role: role))
            return card.chips.count - 1
        }()
        body(&card.chips[i])
        cards[host] = card
    }
    let waits = waitsFor(plan)
    let movedAway = Set(plan.actions.filter { $0.kind.isMove }.compactMap { a in a.from.map { "\(a.instance)\u{0}\($0)" } })
    // Moves first, so that an update waiting on a move marks the instance where it arrives.
    for a in plan.actions where a.kind.isMove {
        guard let from = a.from, let to = a.to, from != to else { continue }
        let tip = actionTooltip(a, waitsFor: waits[a.id] ?? [])
        edit(a.instance, on: from, creating: .leaves) { c in
            c.role = min(c.role, .leaves)
            c.kind = c.kind ?? a.kind
            c.deferred = a.deferred
            if c.badge == nil { c.badge = PictureFont.fit("\(a.kind.rawValue) to \(to)", columns: 20).text }
        }
        let relay = movedAway.contains("\(a.instance)\u{0}\(to)")
        edit(a.instance, on: to, creating: .arrives) { c in
            c.role = relay ? .via : .arrives
            c.kind = a.kind
            c.deferred = a.deferred
            c.badge = PictureFont.fit(relay ? "via, \(a.kind.rawValue) from \(from)" : "\(a.kind.rawValue) from \(from)", columns: 20).text
        }
        moves.append(MoveArrow(instance: a.instance, kind: a.kind, from: from, to: to, label: moveLabel(a), deferred: a.deferred, tooltip: tip))
    }
    for a in plan.actions where !a.kind.isMove {
        let tip = actionTooltip(a, waitsFor: waits[a.id] ?? [])
        guard let host = a.from ?? a.to, cards[host] != nil else {
            unplaced.append(Chip(instance: a.instance, role: .blocked, kind: a.kind, badge: a.kind.rawValue,
                                 lines: a.kind == .blocked ? blockedLines(a) : [], tooltip: tip))
            continue
        }
        edit(a.instance, on: host, creating: a.kind == .blocked ? .blocked : .changed) { c in
            if a.kind == .blocked {
                c.role = .blocked
                c.lines = blockedLines(a)
            } else if c.role == .stays {
                c.role = .changed
            }
            c.kind = c.kind ?? a.kind
            c.badge = a.deferred ? "\(a.kind.rawValue) (deferred)" : a.kind.rawValue
            c.deferred = c.deferred || a.deferred
            c.tooltip += tip
        }
    }
}

/// An arrow's label: the kind, the wave (or "deferred"), then the move's estimated bytes and
/// time when the plan carries an estimate (`88 MiB 2.4 s`).
private func moveLabel(_ a: Action) -> String {
    let base = a.deferred ? "\(a.kind.rawValue), deferred" : (a.wave > 0 ? "\(a.kind.rawValue) w\(a.wave)" : a.kind.rawValue)
    return a.estimate.map { "\(base) · \($0.brief)" } ?? base
}

/// What a blocked chip shows under it: why the action exists, then every blocker.
private func blockedLines(_ a: Action) -> [String] {
    var lines: [String] = []
    let brief = briefReason(a)
    if !brief.isEmpty { lines.append(brief) }
    for r in a.refusals where r.message != brief { lines.append(r.message) }
    return lines
}

/// The tooltip of an action's chips: kind and route, wave, every reason with its code.
func actionTooltip(_ a: Action, waitsFor: [String]) -> [String] {
    var lines = ["\(a.instance): \(a.kind.rawValue)\(a.deferred ? " (deferred)" : "") \(route(a))\(a.wave > 0 ? ", wave \(a.wave)" : "")"]
    if !waitsFor.isEmpty { lines.append("waits for: \(waitsFor.joined(separator: ", "))") }
    for r in a.reasons { lines.append("\(r.message) [\(r.code.rawValue)]") }
    return lines
}

/// What each action waits for (`dependsOn`), as `instance (kind)`, by the action's id.
func waitsFor(_ plan: Plan) -> [Int: [String]] {
    var byID: [Int: Action] = [:]
    for a in plan.actions where byID[a.id] == nil { byID[a.id] = a }
    var out: [Int: [String]] = [:]
    for a in plan.actions where !a.dependsOn.isEmpty {
        out[a.id] = a.dependsOn.map { id in byID[id].map { "\($0.instance) (\($0.kind.rawValue))" } ?? "action \(id)" }
    }
    return out
}

// MARK: - Text measure

/// Text metrics of the picture's monospace font (DejaVu Sans Mono and its kind advance 0.602 em;
/// 0.62 leaves a margin), in pixels per column at each size used.
enum PictureFont {
    static func columnWidth(size: Int) -> Double { Double(size) * 0.62 }

    /// Columns `scalar` takes once shown (as `Escape.markup` shows it): 0 for a combining
    /// mark, 2 for a wide East Asian character or an emoji, the length of its escape for an
    /// unsafe one.
    static func columns(_ scalar: Unicode.Scalar) -> Int {
        let v = scalar.value
        if v < 0x7F { return v < 0x20 ? (v == 0x09 || v == 0x0A || v == 0x0D ? 2 : 4) : 1 }
        if v == 0xFFFE || v == 0xFFFF || (v > 0xFF && Escape.isUnsafe(scalar)) {
            // `\u{HHHH}`: four hex digits at least.
            return 4 + max(4, String(v, radix: 16).count)
        }
        if Escape.isUnsafe(scalar) { return 4 }
        switch scalar.properties.generalCategory {
        case .nonspacingMark, .enclosingMark: return 0
        default: break
        }
        switch v {
        case 0x1100...0x115F, 0x2E80...0x303E, 0x3041...0x33FF, 0x3400...0x4DBF, 0x4E00...0x9FFF,
             0xA000...0xA4CF, 0xAC00...0xD7A3, 0xF900...0xFAFF, 0xFE30...0xFE4F, 0xFF00...0xFF60,
             0xFFE0...0xFFE6, 0x1F000...0x1FAFF, 0x20000...0x3FFFD:
            return 2
        default:
            return 1
        }
    }

    /// `text` cut to at most `limit` columns, ending with `…` when cut; whether it was cut.
    static func fit(_ text: String, columns limit: Int) -> (text: String, cut: Bool) {
        if displayColumns(text) <= limit { return (text, false) }
        return (prefix(text, columns: limit - 1) + "…", true)
    }

    /// The longest start of `text` that takes at most `limit` columns.
    static func prefix(_ text: String, columns limit: Int) -> String {
        var used = 0
        var out = String.UnicodeScalarView()
        for s in text.unicodeScalars {
            let w = columns(s)
            if used + w > limit { break }
            out.append(s)
            used += w
        }
        return String(out)
    }

    /// `text` broken into lines of at most `limit` columns (at spaces where it can), at most
    /// `maxLines`; the last line ends with `…` when text was left out.
    static func wrap(_ text: String, columns limit: Int, maxLines: Int) -> [String] {
        var lines: [String] = []
        var rest = Substring(text)
        while !rest.isEmpty, lines.count < maxLines {
            var used = 0, cut = rest.endIndex
            var lastSpace: String.Index?
            var i = rest.startIndex
            while i < rest.endIndex {
                let w = rest[i].unicodeScalars.reduce(0) { $0 + columns($1) }
                if used + w > limit { cut = i; break }
                if rest[i] == " " { lastSpace = i }
                used += w
                i = rest.index(after: i)
            }
            if cut < rest.endIndex, let space = lastSpace, space > rest.startIndex { cut = space }
            if cut == rest.startIndex {
                // One character wider than the line: cut it by scalars.
                let piece = prefix(String(rest), columns: max(limit, 1))
                lines.append(piece.isEmpty ? String(rest.prefix(1)) : piece)
                rest = rest.dropFirst(max(piece.count, 1))
                continue
            }
            lines.append(String(rest[..<cut]))
            rest = rest[cut...].drop { $0 == " " }
        }
        if !rest.isEmpty, let last = lines.popLast() {
            lines.append(displayColumns(last) + 2 <= limit ? last + " …" : prefix(last, columns: limit - 1) + "…")
        }
        return lines
    }
}

/// Counts a picture's text as shown (escaped), for width estimates.
func displayColumns(_ text: String) -> Int {
    text.unicodeScalars.reduce(0) { $0 + PictureFont.columns($1) }
}

// MARK: - Geometry

/// A rectangle in whole pixels.
struct PictureRect: Equatable {
    var x: Int, y: Int, width: Int, height: Int
    var maxX: Int { x + width }
    var maxY: Int { y + height }
    var midY: Int { y + height / 2 }
    var midX: Int { x + width / 2 }
}

/// Sizes of the picture, in pixels.
enum PictureMetrics {
    static let margin = 16
    static let headerHeight = 74
    static let columnWidth = 300
    static let columnGap = 96
    static let columnHeader = 34
    static let hostGap = 12
    static let pad = 8
    static let titleHeight = 22
    static let barRow = 26
    static let chipHeight = 18
    static let chipGap = 4
    static let lineHeight = 13
    static let foldHeight = 40
    static let reasonLines = 12
    static let problemLines = 3

    static var innerWidth: Int { columnWidth - 2 * pad }
    static var halfChip: Int { (innerWidth - chipGap) / 2 }
}

/// A chip's place inside its host box.
struct PlacedChip {
    var chip: Chip
    var rect: PictureRect
    /// Baselines of the lines under it.
    var lineY: [Int]
}

/// A host box's inner layout, relative to its top-left corner.
struct HostLayout {
    var card: HostCard
    var height: Int
    /// Where the bars start (nil: no bars: the host did not answer).
    var barsTop: Int?
    /// Lines under the name: why the host did not answer (class `err`), its maintenance
    /// event (class `mt`).
    var notices: [(text: String, cls: String)]
    var chips: [PlacedChip]

    init(_ card: HostCard) {
        typealias M = PictureMetrics
        self.card = card
        var y = M.titleHeight
        let noticeColumns = Int(Double(M.innerWidth) / PictureFont.columnWidth(size: 10))
        notices = []
        if let problem = card.problem, !card.reachable {
            notices += PictureFont.wrap(problem, columns: noticeColumns, maxLines: M.problemLines).map { ($0, "err") }
        }
        if let m = card.maintenance {
            let text = "maintenance due \(m.due)" + (m.reason.map { ": " + $0 } ?? "")
            notices += PictureFont.wrap(text, columns: noticeColumns, maxLines: M.problemLines).map { ($0, "mt") }
        }
        if !notices.isEmpty { y += notices.count * M.lineHeight + 2 }
        if card.reachable {
            barsTop = y
            y += 2 * M.barRow + 4
        } else {
            barsTop = nil
            y += 2
        }
        var placed: [PlacedChip] = []
        var halfOpen = false
        let reasonColumns = Int(Double(M.innerWidth - 6) / PictureFont.columnWidth(size: 10))
        for chip in card.chips {
            if chip.isWide {
                if halfOpen { y += M.chipHeight + M.chipGap; halfOpen = false }
                var c = chip
                c.lines = chip.lines.flatMap { PictureFont.wrap($0, columns: reasonColumns, maxLines: M.reasonLines) }
                if c.lines.count > M.reasonLines {
                    c.lines = Array(c.lines.prefix(M.reasonLines - 1)) + ["… \(c.lines.count - M.reasonLines + 1) more lines: see the tooltip"]
                }
                let rect = PictureRect(x: M.pad, y: y, width: M.innerWidth, height: M.chipHeight)
                y += M.chipHeight
                var lineY: [Int] = []
                for _ in c.lines { y += M.lineHeight; lineY.append(y - 3) }
                y += M.chipGap
                placed.append(PlacedChip(chip: c, rect: rect, lineY: lineY))
            } else if halfOpen {
                placed.append(PlacedChip(chip: chip, rect: PictureRect(x: M.pad + M.halfChip + M.chipGap, y: y, width: M.halfChip, height: M.chipHeight), lineY: []))
                y += M.chipHeight + M.chipGap
                halfOpen = false
            } else {
                placed.append(PlacedChip(chip: chip, rect: PictureRect(x: M.pad, y: y, width: M.halfChip, height: M.chipHeight), lineY: []))
                halfOpen = true
            }
        }
        if halfOpen { y += M.chipHeight + M.chipGap }
        chips = placed
        height = y + M.pad - M.chipGap
    }
}

/// The whole picture placed: hosts per column, folded counts, arrows' ends.
struct PictureLayout {
    var model: PictureModel
    var width: Int
    var height: Int
    /// Per column: its left edge, its hosts with their top, the folded box's top (if any).
    var columns: [(x: Int, hosts: [(y: Int, layout: HostLayout)], foldY: Int?)]
    /// The unplaced chips' column: left edge and chips (absolute).
    var unplaced: (x: Int, chips: [PlacedChip])?
    /// Each move's arrow: from and to chip rectangles, absolute.
    var arrows: [(move: MoveArrow, from: PictureRect, to: PictureRect)]

    init(_ model: PictureModel) {
        typealias M = PictureMetrics
        self.model = model
        var columns: [(x: Int, hosts: [(y: Int, layout: HostLayout)], foldY: Int?)] = []
        var chipAt: [String: PictureRect] = [:]
        var x = M.margin
        var bottom = M.headerHeight
        for column in model.columns {
            var y = M.headerHeight + M.columnHeader
            var hosts: [(y: Int, layout: HostLayout)] = []
            for card in column.hosts {
                let layout = HostLayout(card)
                hosts.append((y, layout))
                for c in layout.chips {
                    chipAt["\(c.chip.instance)\u{0}\(card.name)"] = PictureRect(x: x + c.rect.x, y: y + c.rect.y, width: c.rect.width, height: c.rect.height)
                }
                y += layout.height + M.hostGap
            }
            var foldY: Int?
            if !column.folded.isEmpty {
                foldY = y
                y += M.foldHeight + M.hostGap
            }
            columns.append((x, hosts, foldY))
            bottom = max(bottom, y)
            x += M.columnWidth + M.columnGap
        }
        var unplaced: (x: Int, chips: [PlacedChip])?
        if !model.unplaced.isEmpty {
            var card = HostCard(name: "", reachable: true, cpus: 0, vcpuLimit: 0, memoryMiB: 0, measured: false,
                                before: PictureUsage(vcpus: 0, memoryMiB: 0), chips: model.unplaced.sorted { byteOrder($0.instance, $1.instance) })
            card.state = nil
            let layout = HostLayout(card)
            let top = M.headerHeight + M.columnHeader - (layout.chips.first?.rect.y ?? 0)
            unplaced = (x, layout.chips.map { c in
                var c = c
                c.rect.x += x; c.rect.y += top
                c.lineY = c.lineY.map { $0 + top }
                return c
            })
            bottom = max(bottom, (unplaced?.chips.last.map { ($0.lineY.last ?? $0.rect.maxY) + M.pad }) ?? bottom)
            x += M.columnWidth + M.columnGap
        }
        self.columns = columns
        self.unplaced = unplaced
        arrows = model.moves.compactMap { move in
            guard let a = chipAt["\(move.instance)\u{0}\(move.from)"], let b = chipAt["\(move.instance)\u{0}\(move.to)"] else { return nil }
            return (move, a, b)
        }
        width = max(x - M.columnGap + M.columnGap / 2 + M.margin, 640)
        height = bottom + M.margin
    }
}
