import Foundation

struct ObserveCommand: Command {
    static let name = "observe"
    static let abstract = "show what runs where, as libvirt reports it"
    static let usage = ["observe -f PATH... [-o text|json]"]
    static let options: [OptionSpec] = [fileOption, .value("output", short: "o", "FORMAT", help: "text (default) or json (a snapshot for plan --observed)")]
    var files: [String]
    var format: String
    init(arguments: ParsedArguments, common: CommonOptions) throws(UsageError) {
        try rejectPositionals(arguments, command: Self.name)
        files = try requireFiles(arguments, command: Self.name)
        format = try outputFormat(arguments, allowed: ["text", "json"], command: Self.name)
    }
    func run(_ context: CommandContext) async throws -> ExitCode { throw CLIError(message: "observe is not available in this build yet") }
}

struct PlanCommand: Command {
    static let name = "plan"
    static let abstract = "show what apply would change, and why"
    static let usage = ["plan -f PATH... [-o text|json|markdown] [--out PLANFILE] [--observed SNAPSHOT] [--detailed-exitcode]"]
    static let options: [OptionSpec] = [
        fileOption,
        .value("output", short: "o", "FORMAT", help: "text (default), json or markdown"),
        .value("out", "PLANFILE", help: "also save the plan (JSON) for 'virtplace apply PLANFILE'"),
        .value("observed", "SNAPSHOT", help: "plan against a saved 'observe -o json' snapshot: no libvirt access"),
        .flag("detailed-exitcode", help: "exit 0 when there is nothing to do, 2 when changes are pending"),
    ]
    init(arguments: ParsedArguments, common: CommonOptions) throws(UsageError) {
        try rejectPositionals(arguments, command: Self.name)
        _ = try requireFiles(arguments, command: Self.name)
        _ = try outputFormat(arguments, allowed: ["text", "json", "markdown"], command: Self.name)
    }
    func run(_ context: CommandContext) async throws -> ExitCode { throw CLIError(message: "plan is not available in this build yet") }
}

struct ApplyCommand: Command {
    static let name = "apply"
    static let abstract = "carry out the plan: move and update instances"
    static let usage = ["apply -f PATH... [--auto-approve] [--dry-run]", "apply PLANFILE [--auto-approve]"]
    static let options: [OptionSpec] = [
        fileOption,
        .flag("auto-approve", help: "do not ask for confirmation (needed without a terminal)"),
        .flag("dry-run", help: "print what would be done, step by step, and change nothing"),
    ]
    init(arguments: ParsedArguments, common: CommonOptions) throws(UsageError) {}
    func run(_ context: CommandContext) async throws -> ExitCode { throw CLIError(message: "apply is not available in this build yet") }
}

struct ReconcileCommand: Command {
    static let name = "reconcile"
    static let abstract = "unattended drift correction: apply --auto-approve, locked, capped, logged"
    static let usage = ["reconcile -f PATH... [--interval DURATION] [--max-moves N]"]
    static let options: [OptionSpec] = [
        fileOption,
        .value("interval", "DURATION", help: "keep running, one pass per interval (30s, 5m, 1h) until SIGTERM"),
        .value("max-moves", "N", help: "at most N moves per pass (also policy.maxMovesPerRun)"),
    ]
    init(arguments: ParsedArguments, common: CommonOptions) throws(UsageError) {}
    func run(_ context: CommandContext) async throws -> ExitCode { throw CLIError(message: "reconcile is not available in this build yet") }
}
