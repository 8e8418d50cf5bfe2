import Engine
import Foundation
import Placement

/// `virtplace plan`: what apply would change, and why.
struct PlanCommand: Command {
    static let name = "plan"
    static let abstract = "show what apply would change, and why"
    static let usage = ["plan -f PATH... [-o text|json|markdown] [--out PLANFILE] [--observed SNAPSHOT] [--detailed-exitcode]"]
    static let options: [OptionSpec] = [
        fileOption,
        .value("output", short: "o", "FORMAT", help: "text (default), json, or markdown (a table for a pull-request comment)"),
        .value("out", "PLANFILE", help: "also save the plan as JSON, for 'virtplace apply PLANFILE'"),
        .value("observed", "SNAPSHOT", help: "plan against a saved 'observe -o json' snapshot: no libvirt access at all"),
        .flag("detailed-exitcode", help: "exit 0 when there is nothing to do, 2 when changes are pending"),
    ]
    static let discussion = """
    One line per action: kind, instance, from → to, and the reason; the blocking reasons under
    a blocked action; then a summary line. With -v: waves, every reason and step, notes, and
    domains that the file does not manage.

    Exit codes: 0 success; 1 an error (invalid file, unreadable snapshot); with
    --detailed-exitcode, 2 when there are changes (blocked actions count as changes).
    """

    var files: [String]
    var format: PlanFormat
    var out: String?
    var observed: String?
    var detailedExitCode: Bool

    init(arguments: ParsedArguments, common: CommonOptions) throws(UsageError) {
        try rejectPositionals(arguments, command: Self.name)
        files = try requireFiles(arguments, command: Self.name)
        format = PlanFormat(rawValue: try outputFormat(arguments, allowed: PlanFormat.allCases.map(\.rawValue), command: Self.name)) ?? .text
        out = arguments.value("out")
        observed = arguments.value("observed")
        detailedExitCode = arguments.flag("detailed-exitcode")
    }

    func run(_ context: CommandContext) async throws -> ExitCode {
        let spec = try loadPlacement(files, context: context).spec
        let fleet: ObservedFleet
        if let observed {
            fleet = try loadSnapshot(path: observed, for: spec)
        } else {
            context.console.info("observing \(spec.hosts.count) host\(spec.hosts.count == 1 ? "" : "s")…")
            fleet = await observeFleet(spec, allowTestDriver: context.allowTestDriver)
        }
        for host in fleet.hosts where !host.reachable {
            context.console.err(context.console.style("warning:", .yellow) + " host '\(host.name)' is unreachable: \(host.error ?? "no answer"); actions that touch it are blocked")
        }
        let plan = makePlan(desired: spec, observed: fleet)
        context.console.out(render(plan, format: format, color: context.console.color, verbose: context.common.verbose))
        if let out {
            try writeAtomically(try encodePlan(plan), to: out)
            context.console.info("plan saved to \(out): apply it with 'virtplace apply \(out)'")
        }
        return detailedExitCode && !plan.isEmpty ? .changesPending : .success
    }
}

/// Writes a file whole or not at all (a temporary file renamed over the target).
func writeAtomically(_ data: Data, to path: String) throws {
    do {
        try data.write(to: URL(fileURLWithPath: path), options: .atomic)
    } catch {
        throw CLIError(message: "cannot write '\(path)': \(error.localizedDescription)")
    }
}
