import Foundation

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
