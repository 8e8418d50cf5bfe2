import Foundation
import Placement

/// `-f PATH...`: files, directories or `-`, shared by the commands that read a placement.
let fileOption = OptionSpec.value("file", short: "f", "PATH", repeatable: true,
    help: "placement file, directory (every *.yaml, *.yml, *.json, sorted) or - for stdin; repeatable")

/// Reads the `-f` paths, or says that at least one is needed.
func requireFiles(_ arguments: ParsedArguments, command: String) throws(UsageError) -> [String] {
    let files = arguments.all("file")
    if files.isEmpty { throw UsageError(message: "missing -f PATH (a placement file, a directory, or - for stdin)", command: command) }
    if files.filter({ $0 == "-" }).count > 1 { throw UsageError(message: "standard input (-) can be read only once", command: command) }
    return files
}

/// Checks that a command got no positional arguments.
func rejectPositionals(_ arguments: ParsedArguments, command: String) throws(UsageError) {
    if let extra = arguments.positionals.first {
        throw UsageError(message: "unexpected argument '\(extra)'", command: command)
    }
}

/// `-o FORMAT`, with the formats a command writes (its `--help`, man page and completions
/// list them from here).
func outputOption(_ formats: [String], help: String) -> OptionSpec {
    .value("output", short: "o", "FORMAT", choices: formats, help: help)
}

/// An output format option, checked against what the command supports.
func outputFormat(_ arguments: ParsedArguments, allowed: [String], command: String) throws(UsageError) -> String {
    let format = arguments.value("output") ?? "text"
    guard allowed.contains(format) else {
        throw UsageError(message: "unknown output format '\(format)' (choose one of: \(allowed.joined(separator: ", ")))", command: command)
    }
    return format
}

/// `--until TIME|DURATION` (apply, reconcile): the end of a maintenance window.
let untilOption = OptionSpec.value("until", "TIME|DURATION",
    help: "a maintenance window: start no move whose estimate ends after TIME (20:00, 2026-12-07T20:00:00Z) or DURATION from now (45m, 1h30m); the others are deferred")

/// The longest window `--until` accepts: a year.
let maxUntilSeconds = 366.0 * 86_400

/// `--until`, when given, as a date.
/// - Throws: `UsageError` for a value that is neither a time nor a duration, or lies in the past
///   or more than a year ahead.
func parseUntilOption(_ arguments: ParsedArguments, command: String, now: Date = Date(),
                      timeZone: TimeZone = .current) throws(UsageError) -> Date? {
    guard let text = arguments.value("until") else { return nil }
    let shown = Escape.terminal(text)
    guard let date = parseUntil(text, now: now, timeZone: timeZone) else {
        throw UsageError(message: "invalid --until '\(shown)': a time (20:00, 20:00:30, 2026-12-07T20:00:00Z, 2026-12-07T21:00:00+01:00) or a duration (45m, 1h30m, 90s)", command: command)
    }
    let left = date.timeIntervalSince(now)
    guard left > 0 else {
        throw UsageError(message: "--until '\(shown)' is already past: nothing would fit in the window", command: command)
    }
    guard left <= maxUntilSeconds else {
        throw UsageError(message: "--until '\(shown)' is more than a year ahead", command: command)
    }
    return date
}

/// A window's end: a duration from `now` (`parseDuration`), an RFC 3339 date and time with
/// `Z` or an offset, or a time of day `HH:MM[:SS]` in `timeZone` (the next one to come: today,
/// or tomorrow when it has passed today). nil when it is none of these.
func parseUntil(_ text: String, now: Date, timeZone: TimeZone) -> Date? {
    guard text.utf8.count <= 64, text.unicodeScalars.allSatisfy({ $0.isASCII && $0.value > 0x20 && $0.value < 0x7F }) else { return nil }
    if text.first?.isNumber == true, text.last.map({ "smh".contains($0) }) == true, let seconds = parseDuration(text) {
        return seconds <= maxUntilSeconds ? now.addingTimeInterval(seconds) : now.addingTimeInterval(maxUntilSeconds + 1)
    }
    if text.contains("T") {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        if let date = formatter.date(from: text) { return date }
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.date(from: text)
    }
    let parts = text.split(separator: ":", omittingEmptySubsequences: false)
    guard (2...3).contains(parts.count), parts.allSatisfy({ $0.count == 2 && $0.allSatisfy(\.isNumber) }),
          let hour = Int(parts[0]), let minute = Int(parts[1]), hour < 24, minute < 60 else { return nil }
    let second = parts.count == 3 ? Int(parts[2]) ?? 60 : 0
    guard second < 60 else { return nil }
    var calendar = Calendar(identifier: .gregorian)
    calendar.timeZone = timeZone
    guard let today = calendar.date(bySettingHour: hour, minute: minute, second: second, of: now) else { return nil }
    return today > now ? today : calendar.date(byAdding: .day, value: 1, to: today)
}

/// A duration like `30s`, `5m`, `1h`, `1h30m`, or plain seconds.
func parseDuration(_ text: String) -> Double? {
    if let seconds = Double(text), seconds > 0 { return seconds }
    var total = 0.0
    var number = ""
    for ch in text {
        if ch.isNumber || ch == "." { number.append(ch); continue }
        guard let n = Double(number) else { return nil }
        switch ch {
        case "s": total += n
        case "m": total += n * 60
        case "h": total += n * 3600
        default: return nil
        }
        number = ""
    }
    return number.isEmpty && total > 0 ? total : nil
}
