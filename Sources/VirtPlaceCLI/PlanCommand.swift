import Engine
import Foundation
import Placement

/// `virtplace plan`: what apply would change, and why.
struct PlanCommand: Command {
    static let name = "plan"
    static let abstract = "show what apply would change, and why"
    static let usage = ["plan -f PATH... [-o text|json|markdown|svg|html] [--out PLANFILE] [--observed SNAPSHOT] [--detailed-exitcode]"]
    static let options: [OptionSpec] = [
        fileOption,
        outputOption(PlanFormat.allCases.map(\.rawValue), help: "text (default), json, markdown (a table for a pull-request comment), svg (the plan as a picture) or html (the picture, the table and every reason in one self-contained page)"),
        .value("out", "PLANFILE", help: "also save the plan as JSON, for 'virtplace apply PLANFILE' (mode 0600, written whole; only over a regular file)"),
        .value("observed", "SNAPSHOT", help: "plan against a saved 'observe -o json' snapshot: no libvirt access at all"),
        .flag("detailed-exitcode", help: "exit 0 when there is nothing to do, 2 when changes are pending"),
    ]
    static let needsEventLoop = false
    static let discussion = """
    One line per action: kind, instance, from → to, and the reason; the blocking reasons under
    a blocked action; then a summary line. With -v: waves, every reason and step, each move's
    estimate (bytes, time, downtime) and the plan's (its schedule replayed under the parallel
    limits), notes, and domains that the file does not manage. Estimates use the transfer
    history of the state directory (what earlier moves between the same hosts achieved).

    -o svg draws the plan: fault domains as columns, hosts as boxes with their vCPU and memory
    use before → after, instances as chips, one arrow per move (coloured and labelled by kind),
    blocked instances with their reasons; hosts with nothing changing are counted, not drawn.
    -o html is one self-contained page with that picture, those hosts (expandable), the action
    table and every reason and step. See docs/operations.md.

    A saved plan (and -o json) carries a digest of its content and one of the placement it was
    made from: 'apply PLANFILE' refuses it when edited, and 'apply PLANFILE -f PATH...' when
    the placement differs. A snapshot is checked as strictly as a placement file (keys, bounds,
    names, duplicates, URIs; every problem with its place). See docs/security.md.

    Exit codes: 0 success; 1 an error (invalid file, unreadable or unsound snapshot); with
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
            fleet = matchSnapshot(try readSnapshot(observed, context: context), to: spec, path: observed)
        } else {
            context.console.info("observing \(spec.hosts.count) host\(spec.hosts.count == 1 ? "" : "s")…")
            fleet = await observeFleet(spec, observer: Observer(refreshPools: true), allowTestDriver: context.allowTestDriver)
        }
        for host in fleet.hosts where !host.reachable {
            context.console.err(context.console.style("warning:", .yellow) + " host '\(Escape.terminal(host.name))' is unreachable: \(Escape.terminal(host.error ?? "no answer")); actions that touch it are blocked")
        }
        // Sealed: the digests let 'apply PLANFILE' refuse an edited plan, or one made from
        // another desired state (docs/security.md).
        // What earlier moves achieved makes the estimates (an offline plan too, where a state
        // directory is there); a history that cannot be read is set aside, with a warning.
        let state = StateDirectory(path: context.common.stateDir)
        let history = HistoryFile.read(state)
        if let problem = history.problem { context.console.err(context.console.style("warning:", .yellow) + " " + Escape.terminal(problem)) }
        let plan = makePlan(desired: spec, observed: fleet, ownVolumes: state.ownVolumes(), clock: planningClock(), history: history.history)
            .sealed(desired: spec)
        context.console.out(render(plan, format: format, color: context.console.color, verbose: context.common.verbose,
                                   fleet: PictureFleet(desired: spec, observed: fleet)))
        if let out {
            try writeAtomically(try encodePlan(plan), to: out)
            context.console.info("plan saved to \(Escape.terminal(out)): apply it with 'virtplace apply \(Escape.terminal(out))'")
        }
        return detailedExitCode && !plan.isEmpty ? .changesPending : .success
    }
}

/// Writes a file whole or not at all, private (0600), and only over a regular file: a device,
/// FIFO, directory or symlink at `path` is refused and left alone (`SafeFile`).
/// - Throws: `CLIError` saying why.
func writeAtomically(_ data: Data, to path: String) throws {
    do {
        try SafeFile.write(data, to: path, permissions: SafeFile.privateMode)
    } catch {
        throw CLIError(message: Escape.terminal("\(error)"))
    }
}
