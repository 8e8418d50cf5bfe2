import Foundation
import Placement
import YAMLDecoding

/// Reads a saved plan (`apply PLANFILE`): the size bounded, then `readPlanFile` (keys, types,
/// bounds, URIs, the content digest); every problem printed with its location. Nothing else
/// happens first, so an edited or hostile plan is refused before any connection.
/// - Throws: `ReportedFailure` (exit 1) when the plan cannot be used.
func readSavedPlan(_ path: String, context: CommandContext) throws -> Plan {
    try readSaved(path, context: context, what: "saved plan") { bytes, allow in
        let result = readPlanFile(bytes, file: path, allowTestDriver: allow)
        return (result.plan, result.diagnostics)
    }
}

/// Reads an `observe -o json` snapshot (`plan --observed`): the size bounded, then
/// `readSnapshotFile`; every problem printed with its location.
/// - Throws: `ReportedFailure` (exit 1) when the snapshot cannot be used.
func readSnapshot(_ path: String, context: CommandContext) throws -> ObservedFleet {
    try readSaved(path, context: context, what: "snapshot") { bytes, allow in
        let result = readSnapshotFile(bytes, file: path, allowTestDriver: allow)
        return (result.fleet, result.diagnostics)
    }
}

/// The bounded read and the refusal both saved files share; `read` is the strict reader.
private func readSaved<T>(_ path: String, context: CommandContext, what: String,
                          _ read: ([UInt8], Bool) -> (T?, [Diagnostic])) throws -> T {
    let bytes = try readBounded(path, context: context, what: what)
    let (value, diagnostics) = read(bytes, context.allowTestDriver)
    guard let value else {
        throw refusal(diagnostics, path: path, bytes: bytes, context: context, what: what)
    }
    return value
}

private func readBounded(_ path: String, context: CommandContext, what: String) throws -> [UInt8] {
    do {
        return try YAMLParser.readFile(atPath: path, limit: InputBounds.maxFileBytes)
    } catch {
        throw refusal(error.diagnostics, path: path, bytes: [], context: context, what: what)
    }
}

/// At most this many problems of a plan or snapshot are shown (a hostile file can hold
/// millions); the count says how many there were.
let shownDiagnostics = 100

private func refusal(_ diagnostics: [Diagnostic], path: String, bytes: [UInt8], context: CommandContext, what: String) -> ReportedFailure {
    let errors = diagnostics.filter { $0.severity == .error }.count
    let shown = Array(diagnostics.prefix(shownDiagnostics))
    context.console.err(renderDiagnostics(shown, sources: [PlacementSource(name: path, bytes: bytes)], console: context.console))
    if diagnostics.count > shown.count {
        context.console.err("… and \(diagnostics.count - shown.count) more not shown")
    }
    return ReportedFailure(summary: "the \(what) '\(path)' cannot be used: \(errors) error\(errors == 1 ? "" : "s"); nothing was changed")
}
