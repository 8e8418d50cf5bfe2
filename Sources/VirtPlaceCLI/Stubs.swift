import Foundation

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
