import Engine
import Foundation
import Placement
import Synchronization

/// `virtplace observe`: what runs where, as libvirt reports it.
struct ObserveCommand: Command {
    static let name = "observe"
    static let abstract = "show what runs where, as libvirt reports it"
    static let usage = ["observe -f PATH... [-o text|json|svg|html]"]
    /// What `-o` takes.
    static let formats = ["text", "json"] + PictureFormat.allCases.map(\.rawValue)
    static let options: [OptionSpec] = [
        fileOption,
        outputOption(formats, help: "text (default): a table per host; json: a snapshot for 'plan --observed'; svg or html: a picture of every host with its domains and use"),
    ]
    static let needsEventLoop = false
    static let discussion = """
    Connects to every host of the placement in parallel. A host that does not answer is shown
    as unreachable with the reason, and the others are still listed. With a host under
    maintenance (hosts.NAME.maintenance), the text output ends with each instance's maintenance
    status there (pending live, pending cold, reboot due DATE, ...). Exit 0 when at least one
    host answered, 1 when none did (or the placement is invalid).
    """

    var files: [String]
    var format: String

    init(arguments: ParsedArguments, common: CommonOptions) throws(UsageError) {
        try rejectPositionals(arguments, command: Self.name)
        files = try requireFiles(arguments, command: Self.name)
        format = try outputFormat(arguments, allowed: Self.formats, command: Self.name)
    }

    func run(_ context: CommandContext) async throws -> ExitCode {
        let spec = try loadPlacement(files, context: context).spec
        context.console.info("observing \(spec.hosts.count) host\(spec.hosts.count == 1 ? "" : "s")…")
        // The JSON of each host's domains is written as soon as that host is observed, while
        // the others still are; the snapshot then only splices it in.
        let rendered = Mutex<[String: RenderedDomains]>([:])
        var render: (@Sendable (ObservedHost) -> Void)?
        if format == "json" {
            render = { host in
                let domains = ObservedFleet.renderDomains(of: host)
                rendered.withLock { $0[host.name] = domains }
            }
        }
        let observations = await Observer(refreshPools: true).observeWithCalls(
            observeTargets(spec, allowTestDriver: context.allowTestDriver), whenObserved: render
        )
        let fleet = ObservedFleet(hosts: observations.map(\.host))
        if context.common.verbose {
            let calls = observations.map(\.calls)
            let perHost = calls.reduce(0) { $0 + $1.perHost }, perDomain = calls.reduce(0) { $0 + $1.perDomain }
            let domains = calls.reduce(0) { $0 + $1.domains }
            context.console.err("libvirt calls: \(perHost + perDomain) (\(perHost) per-host, \(perDomain) for \(domains) domains: "
                + String(format: "%.2f", domains == 0 ? 0 : Double(perDomain) / Double(domains)) + " per domain)")
        }
        if format == "json" {
            context.console.out(utf8: fleet.jsonPieces(renderedDomains: rendered.withLock { $0 }) + [[UInt8(ascii: "\n")]])
        } else if let picture = PictureFormat(rawValue: format) {
            context.console.out(renderObservedPicture(fleet, desired: spec, format: picture))
        } else {
            context.console.out(renderObserved(fleet, managedNames: Set(spec.instances.keys), style: context.console.textStyle))
            // Hosts under maintenance: each instance's maintenance status, as plan shows it.
            if spec.hosts.values.contains(where: { $0.maintenance != nil }) {
                // Moves begun and not ended, as the journal shows them (read only, no lock).
                let journal = try? ApplyPass.readJournal(StateDirectory(path: context.common.stateDir), repair: false) { _ in }
                let inProgress = Set((journal?.unfinished ?? []).map(\.instance))
                context.console.out(renderMaintenanceStatus(makePlan(desired: spec, observed: fleet, clock: planningClock()),
                                                            inProgress: inProgress))
            }
        }
        guard fleet.hosts.contains(where: \.reachable) || fleet.hosts.isEmpty else {
            throw CLIError(message: "no host answered")
        }
        return .success
    }
}
