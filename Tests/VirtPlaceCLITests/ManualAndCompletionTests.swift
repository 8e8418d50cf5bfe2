import Foundation
import Testing
import Placement
@testable import VirtPlaceCLI

// Man pages and shell completions come from the declarations behind --help: these tests hold
// them to that (every command, every option, every value a fixed-list option takes), and check
// the bash script the way bash runs it (syntax, then completing real command lines).

@Suite struct ManualAndCompletionTests {
    /// Runs `program` with `arguments`: its exit status and standard output.
    func run(_ program: String, _ arguments: [String]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: program)
        process.arguments = arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    /// Runs `script` in bash with the completion script of this build sourced: standard output.
    func bash(_ script: String) throws -> String {
        try run("/bin/bash", ["--norc", "--noprofile", "-c", Completion.bash(commands: VirtPlace.commands) + "\n" + script]).output
    }

    /// Whether `shell -n` reads `script` without a syntax error.
    func syntaxChecks(_ shell: String, _ script: String) throws -> Bool {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("vp-completion-\(UUID().uuidString)")
        try script.write(to: file, atomically: false, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        return try run(shell, ["-n", file.path]).status == 0
    }

    /// What `_virtplace` offers for `words` (the last one being completed).
    func complete(_ words: [String]) throws -> [String] {
        let quoted = words.map { "'" + $0.replacingOccurrences(of: "'", with: "'\\''") + "'" }.joined(separator: " ")
        let out = try bash("COMP_WORDS=(\(quoted)); COMP_CWORD=\(words.count - 1); _virtplace; printf '%s\\n' \"${COMPREPLY[@]}\"")
        return out.split(separator: "\n").map(String.init)
    }

    @Test func everyCommandHasAPageNamingItsUsageAndEveryOption() {
        for command in VirtPlace.commands {
            let page = ManPage.page(for: command)
            #expect(page.contains(".TH VIRTPLACE\\-\(ManPage.text(command.name.uppercased())) 1"), "\(command.name)")
            #expect(page.contains(ManPage.text(command.abstract)))
            for usage in command.usage { #expect(page.contains(ManPage.text(usage)), "\(command.name): \(usage)") }
            for option in command.allOptions {
                #expect(page.contains(".B " + ManPage.text(option.usageName.trimmingCharacters(in: .whitespaces))), "\(command.name) --\(option.name)")
                #expect(page.contains(ManPage.text(option.help)), "\(command.name) --\(option.name) help")
            }
            // No line may start a roff request by accident: only our own requests and comments.
            for line in page.split(separator: "\n") where line.hasPrefix(".") || line.hasPrefix("'") {
                #expect([".TH", ".SH", ".TP", ".B", ".BR", ".PP", ".br", ".I", ".\\\""].contains { line.hasPrefix($0) }, "\(command.name): \(line)")
            }
        }
        let overview = ManPage.overview(commands: VirtPlace.commands)
        for command in VirtPlace.commands { #expect(overview.contains("virtplace\\-\(ManPage.text(command.name)) (1)")) }
    }

    @Test func roffTextCannotStartARequestOrAnEscape() {
        #expect(ManPage.text(".SH evil\n'also") == "\\&.SH evil\n\\&'also")
        #expect(ManPage.text("a\\fBb-c") == "a\\efBb\\-c")
    }

    @Test func pagesAreTheSameBytesEveryTime() {
        #expect(ManPage.page(for: PlanCommand.self) == ManPage.page(for: PlanCommand.self))
        #expect(!ManPage.overview(commands: VirtPlace.commands).contains(String(Calendar.current.component(.year, from: Date()))))
    }

    @Test func bashScriptIsValidAndCompletesCommandsOptionsAndFormats() throws {
        #expect(try syntaxChecks("/bin/bash", Completion.bash(commands: VirtPlace.commands)), "bash -n")

        #expect(try complete(["virtplace", "pl"]) == ["plan"])
        #expect(try complete(["virtplace", "re"]) == ["reconcile"])
        #expect(Set(try complete(["virtplace", ""])).isSuperset(of: VirtPlace.commands.map { $0.name }))
        #expect(try complete(["virtplace", "plan", "-o", ""]).sorted() == PlanFormat.allCases.map(\.rawValue).sorted())
        #expect(try complete(["virtplace", "observe", "--output", "j"]) == ["json"])
        #expect(try complete(["virtplace", "plan", "--det"]) == ["--detailed-exitcode"])
        #expect(try complete(["virtplace", "man", "ap"]) == ["apply"])
    }

    /// zsh reads its script without a syntax error (scripts/deps installs zsh for this).
    @Test func zshScriptIsValid() throws {
        #expect(FileManager.default.isExecutableFile(atPath: "/usr/bin/zsh"), "zsh is missing: scripts/deps installs it")
        #expect(try syntaxChecks("/usr/bin/zsh", Completion.zsh(commands: VirtPlace.commands)), "zsh -n")
    }

    /// Every value a completion offers is one the command takes, and a value it does not offer
    /// is refused: the lists cannot drift apart.
    @Test func offeredChoicesAreExactlyTheAcceptedValues() throws {
        for command in VirtPlace.commands {
            for option in command.allOptions where !option.choices.isEmpty {
                for choice in option.choices + ["no-such-\(option.name)"] {
                    let parsed = try parseArguments(["-f", "x.yaml", "--\(option.name)", choice], options: command.allOptions, command: command.name)
                    let common = try CommonOptions(parsed, environment: [:], command: command.name)
                    let accepted = (try? command.init(arguments: parsed, common: common)) != nil
                    #expect(accepted == option.choices.contains(choice), "\(command.name) --\(option.name) \(choice)")
                }
            }
        }
    }

    /// `completion names KIND -f PATH`, its standard output into a file of its own.
    func names(_ kind: String, _ path: String, in root: String) async throws -> (ExitCode, String) {
        let out = root + "/names-\(UUID().uuidString).txt"
        let descriptor = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        #expect(descriptor >= 0)
        defer { close(descriptor) }
        let parsed = try parseArguments(["names", kind, "-f", path], options: CompletionCommand.allOptions, command: "completion")
        let common = try CommonOptions(parsed, environment: [:], command: "completion")
        var console = Console(environment: [:], noColor: true, verbose: false, quiet: true)
        console.outputDescriptor = descriptor
        console.errorDescriptor = descriptor
        let context = CommandContext(console: console, environment: ["VIRTPLACE_ALLOW_TEST_DRIVER": "1"], common: common)
        let code = try await CompletionCommand(arguments: parsed, common: common).run(context)
        return (code, try String(contentsOfFile: out, encoding: .utf8))
    }

    @Test func namesComeFromThePlacementFilesOnTheLine() async throws {
        let fleet = try TestDriverFleet()
        defer { fleet.remove() }
        let path = try fleet.placement("  vm-run: {host: h1}\n  vm-off: {host: h2}")
        #expect(try await names("instances", path, in: fleet.root) == (.success, "vm-off\nvm-run\n"))
        #expect(try await names("hosts", path, in: fleet.root) == (.success, "h1\nh2\n"))
        // A file that is not there, or not valid, completes to nothing (and says nothing).
        #expect(try await names("hosts", fleet.root + "/none.yaml", in: fleet.root) == (.failure, ""))
        try "instances: [".write(toFile: fleet.root + "/bad.yaml", atomically: false, encoding: .utf8)
        #expect(try await names("hosts", fleet.root + "/bad.yaml", in: fleet.root) == (.failure, ""))
    }

    @Test func completionUsageErrors() {
        for words in [["completion"], ["completion", "fish"], ["completion", "names", "instances"], ["completion", "bash", "zsh"]] {
            let parsed = try? parseArguments(Array(words.dropFirst()), options: CompletionCommand.allOptions, command: "completion")
            let common = parsed.flatMap { try? CommonOptions($0, environment: [:], command: "completion") }
            #expect(parsed.flatMap { p in common.flatMap { try? CompletionCommand(arguments: p, common: $0) } } == nil, "\(words)")
        }
    }
}
