import Foundation
import Placement

/// What every command gets: its parsed options, the console, the environment.
struct CommandContext: Sendable {
    var console: Console
    var environment: [String: String]
    var common: CommonOptions

    /// Whether host URIs may use the test driver (`test://`, which reads local files): only
    /// when the environment has `VIRTPLACE_ALLOW_TEST_DRIVER=1`, as virtplace's own tests set it.
    var allowTestDriver: Bool { HostURI.allowsTestDriver(environment) }

    /// How placement files are loaded and validated for this run.
    var loadOptions: LoadOptions { LoadOptions(allowTestDriver: allowTestDriver) }
}

/// Options every command takes.
struct CommonOptions: Sendable, Equatable {
    var stateDir: String
    var noColor: Bool
    var verbose: Bool
    var quiet: Bool

    static let specs: [OptionSpec] = [
        .value("state-dir", "DIR", help: "journal, lock and saved definitions (default: $VIRTPLACE_STATE_DIR, else /var/lib/virtplace for root, else ~/.local/state/virtplace)"),
        .flag("no-color", help: "no colour in output (also: NO_COLOR set)"),
        .flag("verbose", short: "v", help: "say more"),
        .flag("quiet", short: "q", help: "say only what matters: results and errors"),
        .flag("help", short: "h", help: "show this help"),
    ]

    /// Reads the common options; `--verbose` with `--quiet` is a usage error.
    init(_ parsed: ParsedArguments, environment: [String: String], command: String) throws(UsageError) {
        noColor = parsed.flag("no-color")
        verbose = parsed.flag("verbose")
        quiet = parsed.flag("quiet")
        if verbose && quiet { throw UsageError(message: "--verbose and --quiet exclude each other", command: command) }
        if let dir = parsed.value("state-dir") {
            stateDir = dir
        } else if let dir = environment["VIRTPLACE_STATE_DIR"], !dir.isEmpty {
            stateDir = dir
        } else if geteuid() == 0 {
            stateDir = "/var/lib/virtplace"
        } else {
            let home = environment["HOME"] ?? NSHomeDirectory()
            stateDir = home + "/.local/state/virtplace"
        }
    }
}

/// One subcommand: a pure `init` that checks usage, and `run` that does the work.
protocol Command: Sendable {
    static var name: String { get }
    /// One line for the command list.
    static var abstract: String { get }
    /// The usage line(s) after `virtplace`.
    static var usage: [String] { get }
    /// The command's own options (the common ones are added).
    static var options: [OptionSpec] { get }
    /// Paragraphs after the options in `--help`.
    static var discussion: String { get }
    /// Whether the command needs libvirt's event loop (keepalive, events), or makes only short
    /// calls and exits (see `LibvirtLibrary.initializeWithoutEventLoop`). Default: it needs it.
    static var needsEventLoop: Bool { get }

    /// Reads and checks the arguments: throws `UsageError` for anything wrong, touches nothing.
    init(arguments: ParsedArguments, common: CommonOptions) throws(UsageError)
    /// Does the work; returns the exit code. Errors thrown are mapped in one place (`Failure`).
    func run(_ context: CommandContext) async throws -> ExitCode
}

extension Command {
    static var discussion: String { "" }
    static var needsEventLoop: Bool { true }
    static var allOptions: [OptionSpec] { options + CommonOptions.specs }

    /// The `--help` text.
    static var help: String {
        var s = "\(abstract)\n\nUsage:\n"
        for u in usage { s += "  virtplace \(u)\n" }
        s += "\nOptions:\n"
        let width = min(34, (allOptions.map { $0.usageName.count }.max() ?? 0) + 2)
        for o in allOptions {
            let name = o.usageName
            if name.count + 2 > width {
                s += "  \(name)\n" + String(repeating: " ", count: width + 2) + o.help + "\n"
            } else {
                s += "  " + name.padding(toLength: width, withPad: " ", startingAt: 0) + o.help + "\n"
            }
        }
        if !discussion.isEmpty { s += "\n" + discussion + "\n" }
        return s
    }
}
