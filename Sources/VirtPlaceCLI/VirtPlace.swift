import Foundation
import Libvirt
import YAMLDecoding
import Placement
import CBuildInfo

/// The version of virtplace: the repository's VERSION file, fixed at build time.
public let virtplaceVersion = String(cString: virtplace_build_version())
/// The git commit this binary was built from ("-dirty" for uncommitted changes; "unknown"
/// outside a git checkout).
public let virtplaceCommit = String(cString: virtplace_build_commit())

/// The command-line entry point.
public enum VirtPlace {
    /// Every subcommand, in the order `--help` lists them.
    static let commands: [any Command.Type] = [
        ValidateCommand.self, ObserveCommand.self, PlanCommand.self, ApplyCommand.self,
        ReconcileCommand.self, VersionCommand.self, CompletionCommand.self, ManCommand.self,
    ]

    /// Runs the command line and exits the process with its exit code.
    public static func main(arguments: [String]) async -> Never {
        // A closed output pipe must not kill an apply in the middle of a step, nor may a
        // libvirt connection whose peer went away (libvirt asks applications to ignore
        // SIGPIPE): writes fail with EPIPE instead, and are handled where they are made.
        signal(SIGPIPE, SIG_IGN)
        // Before any thread of ours starts: an arena per core, not eight (ProcessMemory).
        ProcessMemory.limitArenasToCores()
        Console.guardStandardDescriptors()
        let code = await run(arguments: arguments, environment: ProcessInfo.processInfo.environment, ownsProcess: true)
        exit(code.rawValue)
    }

    /// Runs the command line and returns the exit code (for tests, nothing exits). Output that
    /// could not be written (a full disk under standard output) makes it an error: exit 1, or
    /// 3 for an apply or reconcile that had already changed things (`Console`).
    /// `ownsProcess`: the process runs this one command and exits (`main`), so process-wide
    /// set-up may follow the command (`Command.needsEventLoop`); tests run many in one process.
    static func run(arguments: [String], environment: [String: String], ownsProcess: Bool = false) async -> ExitCode {
        let failures = OutputFailures()
        let code = await run(arguments: arguments, environment: environment, failures: failures, ownsProcess: ownsProcess)
        guard let message = failures.message else { return code }
        Console.write("error: \(message)\n", to: STDERR_FILENO)
        guard code == .success || code == .changesPending else { return code }
        return failures.changesHosts ? .partial : .failure
    }

    private static func run(
        arguments: [String], environment: [String: String], failures: OutputFailures, ownsProcess: Bool
    ) async -> ExitCode {
        // Common options may come before the command (`virtplace --state-dir D plan …`): they
        // are read as if they followed it.
        var arguments = arguments
        var leading: [String] = []
        while let first = arguments.first, first.hasPrefix("-"), first != "-", first != "--",
              let spec = CommonOptions.specs.first(where: { "--\($0.name)" == first.split(separator: "=").first.map(String.init) || $0.short.map { "-\($0)" } == first }),
              spec.name != "help" {
            leading.append(arguments.removeFirst())
            if spec.valueName != nil, !first.contains("="), let value = arguments.first {
                leading.append(value)
                arguments.removeFirst()
            }
        }
        if !leading.isEmpty, !arguments.isEmpty { arguments.insert(contentsOf: leading, at: 1) }
        let plain = Console(environment: environment, noColor: true, verbose: false, quiet: false, failures: failures)
        guard let first = arguments.first, first != "--help", first != "-h", first != "help" else {
            if arguments.first == "help", arguments.count > 1 {
                return await run(arguments: [arguments[1], "--help"], environment: environment, failures: failures, ownsProcess: ownsProcess)
            }
            plain.out(topLevelHelp)
            return arguments.isEmpty ? .failure : .success
        }
        if first == "--version" { return await run(arguments: ["version"], environment: environment, failures: failures, ownsProcess: ownsProcess) }
        guard let type = commands.first(where: { $0.name == first }) else {
            let hint = Suggestion.closest(to: first, among: commands.map { $0.name }).map { " (did you mean '\(Escape.terminal($0))'?)" } ?? ""
            plain.err("error: unknown command '\(Escape.terminal(first))'\(hint)\nRun 'virtplace --help' for the list of commands.")
            return .failure
        }
        return await run(type, arguments: Array(arguments.dropFirst()), environment: environment, failures: failures,
                         ownsProcess: ownsProcess)
    }

    private static func run(_ type: any Command.Type, arguments: [String], environment: [String: String],
                            failures: OutputFailures, ownsProcess: Bool) async -> ExitCode {
        let plain = Console(environment: environment, noColor: true, verbose: false, quiet: false, failures: failures)
        let command: any Command
        let context: CommandContext
        do {
            let parsed = try parseArguments(arguments, options: type.allOptions, command: type.name)
            if parsed.flag("help") {
                plain.out(type.help)
                return .success
            }
            let common = try CommonOptions(parsed, environment: environment, command: type.name)
            command = try type.init(arguments: parsed, common: common)
            let console = Console(environment: environment, noColor: common.noColor, verbose: common.verbose, quiet: common.quiet,
                                  failures: failures)
            context = CommandContext(console: console, environment: environment, common: common)
        } catch {
            // Usage errors are one line and quote the arguments as given: escaped whole.
            plain.err("error: \(Escape.terminal(error.message))\nRun 'virtplace \(type.name) --help' for usage.")
            return .failure
        }
        if let apply = command as? ApplyCommand { failures.changesHosts = !apply.dryRun }
        if let reconcile = command as? ReconcileCommand {
            failures.changesHosts = true
            // A loop that runs for months: glibc's per-thread caches off, before anything is
            // opened (a restart of the process, same id; ProcessMemory).
            if ownsProcess, reconcile.interval != nil { ProcessMemory.restartWithoutThreadCaches() }
        }
        if ownsProcess, !type.needsEventLoop { LibvirtLibrary.initializeWithoutEventLoop() }
        do {
            return try await command.run(context)
        } catch {
            let info = MessageInfo(error)
            context.console.err("error: " + info.message)
            return info.exitCode
        }
    }

    static var topLevelHelp: String {
        var s = """
        virtplace: a declarative placement reconciler for libvirt fleets.

        It reads a placement file (YAML or JSON) saying which instance (libvirt domain) belongs on
        which host or fault domain, observes the hosts over libvirt, and plans and applies the least
        disruptive moves: live, reboot, cold or manual migration, or in-place updates.

        Usage: virtplace <command> [options]

        Commands:

        """
        let width = (commands.map { $0.name.count }.max() ?? 0) + 3
        for c in commands { s += "  " + c.name.padding(toLength: width, withPad: " ", startingAt: 0) + c.abstract + "\n" }
        s += """

        Run 'virtplace <command> --help' for a command's options.
        Exit codes: 0 success; 1 error before anything changed; 2 plan --detailed-exitcode: changes
        pending; 3 apply/reconcile finished but an action failed or was blocked.

        """
        return s
    }
}

/// `virtplace version`.
struct VersionCommand: Command {
    static let name = "version"
    static let abstract = "print virtplace's version and the libvirt and libyaml it runs with"
    static let usage = ["version"]
    static let options: [OptionSpec] = []

    init(arguments: ParsedArguments, common: CommonOptions) throws(UsageError) {
        if let extra = arguments.positionals.first { throw UsageError(message: "unexpected argument '\(extra)'", command: Self.name) }
    }

    func run(_ context: CommandContext) async throws -> ExitCode {
        context.console.line("virtplace \(virtplaceVersion) (commit \(virtplaceCommit); libvirt \(libvirtLibraryVersion()), libyaml \(libyamlVersion()))")
        return .success
    }
}
