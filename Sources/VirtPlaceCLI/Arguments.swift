import Placement
import YAMLDecoding

/// A small command-line parser: options declared per command, `--name value`, `--name=value`,
/// `-x value`, bundled flags are not supported (none of ours are single letters that combine).

/// One option a command accepts.
struct OptionSpec: Sendable {
    /// Long name without dashes (`state-dir`).
    var name: String
    /// Short letter without dash (`f`), if any.
    var short: Character?
    /// The placeholder for its value (`PATH`); nil for a flag.
    var valueName: String?
    var repeatable: Bool = false
    /// The values it takes, when they are a fixed list (output formats): what the shell
    /// completions offer, and what the command checks the value against.
    var choices: [String] = []
    var help: String

    static func flag(_ name: String, short: Character? = nil, help: String) -> OptionSpec {
        OptionSpec(name: name, short: short, valueName: nil, help: help)
    }
    static func value(_ name: String, short: Character? = nil, _ valueName: String, repeatable: Bool = false,
                      choices: [String] = [], help: String) -> OptionSpec {
        OptionSpec(name: name, short: short, valueName: valueName, repeatable: repeatable, choices: choices, help: help)
    }

    var usageName: String {
        let long = "--\(name)"
        let names = short.map { "-\($0), \(long)" } ?? "    \(long)"
        return valueName.map { "\(names) \($0)" } ?? names
    }
}

/// What the parser found.
struct ParsedArguments: Sendable {
    var values: [String: [String]] = [:]
    var flags: Set<String> = []
    var positionals: [String] = []

    func flag(_ name: String) -> Bool { flags.contains(name) }
    func value(_ name: String) -> String? { values[name]?.last }
    func all(_ name: String) -> [String] { values[name] ?? [] }
}

/// A usage mistake: exit 1 with the command's usage hint.
struct UsageError: Error, Equatable, Sendable {
    var message: String
    var command: String?
}

/// Parses `arguments` against `options`. `--` ends options; `-` alone is a value (stdin).
func parseArguments(_ arguments: [String], options: [OptionSpec], command: String) throws(UsageError) -> ParsedArguments {
    var result = ParsedArguments()
    var i = 0
    var onlyPositionals = false

    func spec(long: String) -> OptionSpec? { options.first { $0.name == long } }
    func spec(short: Character) -> OptionSpec? { options.first { $0.short == short } }

    while i < arguments.count {
        let arg = arguments[i]
        i += 1
        if onlyPositionals || arg == "-" || !arg.hasPrefix("-") {
            result.positionals.append(arg)
            continue
        }
        if arg == "--" { onlyPositionals = true; continue }

        var name = arg
        var inline: String?
        let found: OptionSpec?
        if arg.hasPrefix("--") {
            name = String(arg.dropFirst(2))
            if let eq = name.firstIndex(of: "=") {
                inline = String(name[name.index(after: eq)...])
                name = String(name[..<eq])
            }
            found = spec(long: name)
        } else {
            let letters = Array(arg.dropFirst())
            guard letters.count >= 1 else { throw UsageError(message: "unexpected argument '\(arg)'", command: command) }
            if letters.count > 1 { inline = String(letters.dropFirst()) }
            found = spec(short: letters[0])
        }
        guard let option = found else {
            let known = options.map { "--\($0.name)" }
            let hint = Suggestion.closest(to: arg.split(separator: "=").first.map(String.init) ?? arg, among: known).map { " (did you mean '\($0)'?)" } ?? ""
            throw UsageError(message: "unknown option '\(arg)'\(hint)", command: command)
        }
        if option.valueName == nil {
            if inline != nil { throw UsageError(message: "option '--\(option.name)' takes no value", command: command) }
            result.flags.insert(option.name)
            continue
        }
        let value: String
        if let inline {
            value = inline
        } else if i < arguments.count {
            value = arguments[i]
            i += 1
        } else {
            throw UsageError(message: "option '--\(option.name)' needs a value (\(option.valueName ?? "VALUE"))", command: command)
        }
        if !option.repeatable, result.values[option.name] != nil {
            throw UsageError(message: "option '--\(option.name)' given more than once", command: command)
        }
        result.values[option.name, default: []].append(value)
    }
    return result
}

