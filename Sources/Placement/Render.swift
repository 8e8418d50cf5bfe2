import Foundation

/// Rendering a plan for people and tools: pure functions of the plan and display options.
/// Display options never change the plan, so what apply does never depends on them.

/// An output format for `virtplace plan -o`.
public enum PlanFormat: String, CaseIterable, Sendable {
    /// Aligned lines, one per action, then the summary line.
    case text
    /// The plan itself: pretty-printed JSON with sorted keys (also the saved-plan format).
    case json
    /// A table for a pull-request comment, then the summary line.
    case markdown
    /// The plan as a picture, one SVG document (`renderPicture`).
    case svg
    /// The picture, the action table and every reason in one self-contained HTML page.
    case html
}

/// Renders `plan`. The result ends with a newline (print it with `terminator: ""`).
///
/// `color` adds ANSI colours to the text format only; `verbose` adds waves, every reason,
/// every step, notes and unmanaged domains to the text and markdown formats. JSON is always
/// the whole plan; the SVG and HTML pictures draw `fleet` (the placement and the observed fleet
/// the plan was made from) when given, else only what the plan names.
public func render(_ plan: Plan, format: PlanFormat, color: Bool, verbose: Bool, fleet: PictureFleet? = nil) -> String {
    switch format {
    case .text: renderText(plan, color: color, verbose: verbose)
    case .json: renderJSON(plan)
    case .markdown: renderMarkdown(plan, verbose: verbose)
    case .svg: renderPicture(plan, fleet: fleet, format: .svg)
    case .html: renderPicture(plan, fleet: fleet, format: .html)
    }
}

/// `Plan: 2 live, 1 reboot, 1 update, 1 blocked; 7 unchanged.`, or, when there is nothing to
/// do at all, `No changes. 7 instances unchanged.`
public func summaryLine(_ plan: Plan) -> String {
    let s = plan.summary
    var parts = ActionKind.allCases.compactMap { kind -> String? in
        let n = s.count(kind)
        return n > 0 ? "\(n) \(kind.rawValue)" : nil
    }
    if s.deferred > 0 { parts.append("\(s.deferred) deferred") }
    if parts.isEmpty {
        return "No changes. \(s.unchanged) instance\(s.unchanged == 1 ? "" : "s") unchanged."
    }
    return "Plan: \(parts.joined(separator: ", ")); \(s.unchanged) unchanged."
}

/// The plan as JSON: sorted keys, pretty-printed, slashes unescaped. This is the saved-plan
/// format; `readPlanFile` (or `decodePlan`) reads it back.
/// - Throws: `EncodingError` (not expected: a plan holds only strings, integers and booleans).
public func encodePlan(_ plan: Plan) throws -> Data {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
    // JSONEncoder escapes the C0 controls but not DEL, C1, bidi or separator characters.
    let json = Escape.hardenedJSON(String(decoding: try encoder.encode(plan), as: UTF8.self))
    var data = Data(json.utf8)
    data.append(0x0A)
    return data
}


// MARK: - JSON

private func renderJSON(_ plan: Plan) -> String {
    guard let data = try? encodePlan(plan), let text = String(data: data, encoding: .utf8) else {
        return "{\"error\": \"the plan could not be encoded\"}\n"
    }
    return text
}

// MARK: - Text

/// How an action's route reads: `host1 → host2`, `host1` in place, `-` for no (single) host.
/// Raw: the text renderer escapes it for the terminal.
func route(_ a: Action) -> String {
    switch (a.from, a.to) {
    case (let f?, let t?) where f != t: "\(f) → \(t)"
    case (let f?, _): f
    case (nil, let t?): "- → \(t)"
    case (nil, nil): "-"
    }
}

/// The reason in a few words: what causes the action; for a move, the first refused rung too;
/// for a deferred one, why it waits. A blocked action's blockers are listed separately. Raw:
/// the messages quote names from outside, and each renderer escapes the result its way.
func briefReason(_ a: Action) -> String {
    var parts = a.causes.map(\.message)
    if a.kind.isMove, let refused = a.refusals.first { parts.append(refused.message) }
    if let relay = a.reasons.first(where: { $0.code == .orderRelay }) { parts.append(relay.message) }
    if a.kind == .blocked, parts.isEmpty, let first = a.refusals.first {
        // Nothing caused it but a blocker (not found, conflict): that is the story.
        parts.append(first.message)
    }
    if a.deferred, let why = a.reasons.first(where: { [.orderDeferred, .orderWindow, .orderWindowUnknown].contains($0.code) }) {
        parts.insert(why.message, at: 0)
    }
    return parts.joined(separator: "; ")
}

/// A blocked action's blockers, unless its brief reason already is the only one.
func blockers(_ a: Action) -> [Reason] {
    guard a.kind == .blocked else { return [] }
    let listed = a.refusals
    // A lone blocker already shown as the brief reason is not repeated.
    if a.causes.isEmpty, listed.count == 1 { return [] }
    return listed
}

private func ansi(_ kind: ActionKind, deferred: Bool) -> String {
    if deferred { return "\u{1B}[2m" }
    switch kind {
    case .live: return "\u{1B}[32m"
    case .reboot, .cold: return "\u{1B}[33m"
    case .manual: return "\u{1B}[35m"
    case .update, .start, .stop: return "\u{1B}[36m"
    case .blocked: return "\u{1B}[31m"
    }
}

private func pad(_ s: String, _ width: Int) -> String {
    let n = s.count
    return n >= width ? s : s + String(repeating: " ", count: width - n)
}

/// `, after #3 web-1, #5 db-2` for an action that waits on others (see `Action.dependsOn`);
/// empty when it waits on none.
private func waitsOn(_ a: Action, in plan: Plan) -> String {
    guard !a.dependsOn.isEmpty else { return "" }
    let names = a.dependsOn.map { id in
        let name = plan.actions.indices.contains(id - 1) ? plan.actions[id - 1].instance : "?"
        return "#\(id) \(Escape.terminal(name))"
    }
    return " (#\(a.id)), after \(names.joined(separator: ", "))"
}

/// The `policy.parallel` limits the plan runs under, for the verbose renders.
func limitsLine(_ p: ParallelSpec) -> String {
    "moves at once: \(p.total) in all, \(p.perHost) per host, \(p.incomingLimit) arriving and \(p.outgoingLimit) leaving per host"
}

private func renderText(_ plan: Plan, color: Bool, verbose: Bool) -> String {
    var out: [String] = []
    // Every value from outside (names, reasons quoting them, steps) is escaped for the
    // terminal before it is padded: no control reaches the terminal, no newline starts a line.
    let t = Escape.terminal
    let rows = plan.actions.map { a in (kind: a.kind.rawValue, instance: t(a.instance), route: t(route(a)), why: t(briefReason(a))) }
    let kindWidth = rows.map(\.kind.count).max() ?? 0
    let instanceWidth = rows.map(\.instance.count).max() ?? 0
    let routeWidth = rows.map(\.route.count).max() ?? 0
    let indent = String(repeating: " ", count: kindWidth + 2)
    for (a, row) in zip(plan.actions, rows) {
        var kind = pad(row.kind, kindWidth)
        if color { kind = ansi(a.kind, deferred: a.deferred) + row.kind + "\u{1B}[0m" + String(repeating: " ", count: kindWidth - row.kind.count) }
        var line = "\(kind)  \(pad(row.instance, instanceWidth))  \(pad(row.route, routeWidth))  \(row.why)"
        while line.last == " " { line.removeLast() }
        out.append(line)
        for r in blockers(a) { out.append("\(indent)- \(t(r.message)) [\(r.code.rawValue)]") }
        guard verbose else { continue }
        if a.wave > 0 { out.append("\(indent)wave \(a.wave)" + waitsOn(a, in: plan)) }
        if let e = a.estimate { out.append("\(indent)estimate: \(e.summary)") }
        if a.kind != .blocked {
            for r in a.reasons where r.code.category == .refusal || r.code == .manualBootDisk {
                out.append("\(indent)- \(t(r.message)) [\(r.code.rawValue)]")
            }
        }
        for (n, step) in a.steps.enumerated() { out.append("\(indent)\(n + 1). \(t(step.summary))") }
        if let fallback = a.fallback {
            out.append("\(indent)if the migration fails and the guest still runs on \(a.from.map(t) ?? "its source") only: a \(fallback.kind.rawValue) move (\(fallback.steps.count) steps)")
        }
    }
    // Someone else's migration is shown without -v: the instance is waited for, not planned.
    for n in plan.notes where n.code == .instanceMigrating && !verbose {
        out.append("waiting  \(t(n.instance))  \(t(n.message)) [\(n.code.rawValue)]")
    }
    let (maintenance, otherNotes) = splitMaintenanceNotes(plan.notes)
    if !maintenance.isEmpty {
        if !out.isEmpty { out.append("") }
        out.append("Maintenance:")
        for n in maintenance { out.append("  \(t(n.instance)): \(t(n.message))") }
    }
    if verbose {
        if !out.isEmpty { out.append("") }
        out.append("Limits: \(limitsLine(plan.parallel))")
        if let e = plan.estimate { out.append("Estimate: \(e.summary) (the schedule replayed under these limits)") }
        if !otherNotes.isEmpty {
            if !out.isEmpty { out.append("") }
            out.append("Notes:")
            for n in otherNotes { out.append("  \(t(n.instance)): \(t(n.message)) [\(n.code.rawValue)]") }
        }
        if !plan.unmanaged.isEmpty {
            if !out.isEmpty { out.append("") }
            out.append("Unmanaged (never touched):")
            for u in plan.unmanaged { out.append("  \(t(u.name)) on \(t(u.host))") }
        }
    }
    if !out.isEmpty { out.append("") }
    out.append(summaryLine(plan))
    return out.joined(separator: "\n") + "\n"
}

/// `Maintenance:` and one line per instance on a host under maintenance (its status note),
/// for `observe`; empty when there is none. Instances in `inProgress` (a move the journal shows
/// begun and not ended) say so instead. Escaped for the terminal.
public func renderMaintenanceStatus(_ plan: Plan, inProgress: Set<String> = []) -> String {
    let notes = splitMaintenanceNotes(plan.notes).maintenance
    guard !notes.isEmpty else { return "" }
    return "\nMaintenance:\n" + notes.map { note in
        let status = inProgress.contains(note.instance)
            ? "in progress (a move has begun and not ended: running now, or the next run finishes it)" : note.message
        return "  \(Escape.terminal(note.instance)): \(Escape.terminal(status))\n"
    }.joined()
}

/// The maintenance status notes (`maintenance.*`, shown whatever the verbosity), and the rest.
func splitMaintenanceNotes(_ notes: [Note]) -> (maintenance: [Note], others: [Note]) {
    let isStatus: (Note) -> Bool = { $0.code.rawValue.hasPrefix("maintenance.") }
    return (notes.filter(isStatus), notes.filter { !isStatus($0) })
}

// MARK: - Markdown

// Names are code spans (`Escape.markdownCode`), prose is escaped text (`Escape.markdownText`):
// no value can end a cell or a row, or open a link, an image, emphasis or an HTML tag.

private func renderMarkdown(_ plan: Plan, verbose: Bool) -> String {
    let code = Escape.markdownCode, text = Escape.markdownText
    var out: [String] = ["### virtplace plan: \(code(plan.fleet))", ""]
    if !plan.actions.isEmpty {
        out.append("| Action | Instance | From | To | Wave | Estimate | Why |")
        out.append("| --- | --- | --- | --- | --- | --- | --- |")
        for a in plan.actions {
            let kind = a.kind == .blocked ? "**blocked**" : (a.deferred ? "\(a.kind.rawValue) (deferred)" : a.kind.rawValue)
            var why = text(briefReason(a))
            for r in blockers(a) { why += "<br>• \(text(r.message)) (`\(r.code.rawValue)`)" }
            let wave = a.wave > 0 ? String(a.wave) : "–"
            let estimate = a.estimate.map { text($0.summary) } ?? "–"
            out.append("| \(kind) | \(code(a.instance)) | \(a.from.map(text) ?? "–") | \(a.to.map(text) ?? "–") | \(wave) | \(estimate) | \(why) |")
        }
        out.append("")
    }
    out.append("**\(summaryLine(plan))**")
    if let e = plan.estimate, plan.actions.contains(where: { $0.estimate != nil }) {
        out.append("")
        out.append("Estimate: \(text(e.summary)) (the schedule replayed under the `parallel` limits)")
    }
    let maintenance = splitMaintenanceNotes(plan.notes).maintenance
    if !maintenance.isEmpty {
        out.append("")
        out.append("| Maintenance | Status |")
        out.append("| --- | --- |")
        for n in maintenance { out.append("| \(code(n.instance)) | \(text(n.message)) |") }
    }
    if verbose {
        out.append("")
        out.append("Limits: \(text(limitsLine(plan.parallel)))")
        let detailed = plan.actions.filter { !$0.steps.isEmpty }
        if !detailed.isEmpty {
            out.append("")
            out.append("<details><summary>Steps</summary>")
            out.append("")
            for a in detailed {
                let after = a.dependsOn.map { id in "#\(id) \(plan.actions.indices.contains(id - 1) ? code(plan.actions[id - 1].instance) : "?")" }
                out.append("**\(text(a.instance))** (#\(a.id), \(a.kind.rawValue), wave \(a.wave)\(after.isEmpty ? "" : ", after " + after.joined(separator: ", ")))")
                out.append("")
                for (n, step) in a.steps.enumerated() { out.append("\(n + 1). \(text(step.summary))") }
                out.append("")
            }
            out.append("</details>")
        }
        if !plan.notes.isEmpty || !plan.unmanaged.isEmpty {
            out.append("")
            out.append("<details><summary>Notes</summary>")
            out.append("")
            for n in plan.notes { out.append("- \(code(n.instance)): \(text(n.message)) (`\(n.code.rawValue)`)") }
            for u in plan.unmanaged { out.append("- \(code(u.name)) on \(text(u.host)): unmanaged, never touched") }
            out.append("")
            out.append("</details>")
        }
    }
    return out.joined(separator: "\n") + "\n"
}
