import Testing
@testable import VirtPlaceCLI

@Suite struct ArgumentsTests {
    let options: [OptionSpec] = [
        fileOption,
        .value("output", short: "o", "FORMAT", help: ""),
        .flag("dry-run", help: ""),
    ] + CommonOptions.specs

    @Test func parsesLongShortInlineAndRepeated() throws {
        let p = try parseArguments(["-f", "a.yaml", "--file=b.yaml", "-fc.yaml", "-o", "json", "--dry-run", "-", "x"], options: options, command: "t")
        #expect(p.all("file") == ["a.yaml", "b.yaml", "c.yaml"])
        #expect(p.value("output") == "json")
        #expect(p.flag("dry-run"))
        #expect(p.positionals == ["-", "x"])
    }

    @Test func doubleDashEndsOptions() throws {
        let p = try parseArguments(["--", "--dry-run"], options: options, command: "t")
        #expect(p.positionals == ["--dry-run"])
        #expect(!p.flag("dry-run"))
    }

    static let bad: [([String], String)] = [
        (["--dryrun"], "unknown option '--dryrun' (did you mean '--dry-run'?)"),
        (["--output"], "option '--output' needs a value (FORMAT)"),
        (["--dry-run=yes"], "option '--dry-run' takes no value"),
        (["-o", "json", "-o", "text"], "option '--output' given more than once"),
        (["--frobnicate"], "unknown option '--frobnicate'"),
    ]

    @Test(arguments: bad)
    func usageErrors(_ args: [String], _ message: String) {
        #expect(throws: UsageError(message: message, command: "t")) {
            try parseArguments(args, options: options, command: "t")
        }
    }

    @Test(arguments: [("30s", 30.0), ("5m", 300), ("1h30m", 5400), ("90", 90), ("1.5m", 90)])
    func durations(_ text: String, _ seconds: Double) {
        #expect(parseDuration(text) == seconds)
    }

    @Test(arguments: ["", "5x", "m", "-3", "0"])
    func badDurations(_ text: String) {
        #expect(parseDuration(text) == nil)
    }

    @Test func stateDirDefaults() throws {
        let none = ParsedArguments()
        #expect(try CommonOptions(none, environment: ["VIRTPLACE_STATE_DIR": "/tmp/s"], command: "t").stateDir == "/tmp/s")
        var given = ParsedArguments()
        given.values["state-dir"] = ["/x"]
        #expect(try CommonOptions(given, environment: ["VIRTPLACE_STATE_DIR": "/tmp/s"], command: "t").stateDir == "/x")
    }

    @Test func verboseAndQuietExclude() {
        var p = ParsedArguments()
        p.flags = ["verbose", "quiet"]
        #expect(throws: UsageError.self) { try CommonOptions(p, environment: [:], command: "t") }
    }

    @Test func everyCommandHasHelpNamingItsOptions() {
        for command in VirtPlace.commands {
            let help = command.help
            #expect(help.contains("virtplace \(command.name)"))
            for option in command.allOptions { #expect(help.contains("--\(option.name)"), "\(command.name) --help lacks --\(option.name)") }
        }
    }
}

@Suite struct EntryPointTests {
    @Test func commonOptionsMayPrecedeTheCommand() async {
        #expect(await VirtPlace.run(arguments: ["--state-dir", "/tmp/x", "--no-color", "version"], environment: [:]) == .success)
        #expect(await VirtPlace.run(arguments: ["-q", "version"], environment: [:]) == .success)
    }

    @Test func unknownCommandsAndOptionsFail() async {
        #expect(await VirtPlace.run(arguments: ["valdate"], environment: [:]) == .failure)
        #expect(await VirtPlace.run(arguments: ["--frob", "version"], environment: [:]) == .failure)
        #expect(await VirtPlace.run(arguments: [], environment: [:]) == .failure)
        #expect(await VirtPlace.run(arguments: ["--help"], environment: [:]) == .success)
        #expect(await VirtPlace.run(arguments: ["plan"], environment: [:]) == .failure)
    }
}
