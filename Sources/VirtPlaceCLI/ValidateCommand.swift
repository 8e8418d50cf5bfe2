import Foundation
import Placement
import YAMLDecoding

/// `virtplace validate -f PATH...`: offline checks of the placement, no libvirt call.
struct ValidateCommand: Command {
    static let name = "validate"
    static let abstract = "check placement files offline: syntax, schema, references, constraints"
    static let usage = ["validate -f PATH... [--no-color]"]
    static let options: [OptionSpec] = [fileOption]
    static let discussion = """
    Prints every problem as FILE:LINE:COLUMN: error|warning: PATH: message, with the line and a
    caret under the place. Exit 1 if there is any error, 0 otherwise (warnings alone pass).
    Makes no libvirt call: works with no daemon and no network.
    """

    var files: [String]

    init(arguments: ParsedArguments, common: CommonOptions) throws(UsageError) {
        try rejectPositionals(arguments, command: Self.name)
        files = try requireFiles(arguments, command: Self.name)
    }

    func run(_ context: CommandContext) async throws -> ExitCode {
        let loaded = try loadPlacement(files, context: context)
        let spec = loaded.spec
        context.console.info("\(loaded.fileCount) file(s): fleet '\(Escape.terminal(spec.metadata.name))', \(spec.hosts.count) hosts, \(spec.profiles.count) profiles, \(spec.instances.count) instances: valid.")
        return .success
    }
}
