import Engine
import Foundation
import Placement
import Testing
import YAMLDecoding
@testable import VirtPlaceCLI

// Strings from outside in what the commands print (issue 12): observe on a host whose domains
// libvirt named with controls, diagnostics echoing a hostile line under its caret, apply's
// progress lines and board, reconcile's log lines, and the console's last guard.

/// Every character no output may hold raw (an independent list, not the product's): C0
/// controls but line feeds, DEL, C1, format characters (bidi, zero-width), line and paragraph
/// separators. `allowing`: escape sequences of our own that are let through (colour, the
/// board's cursor movements), each `ESC [ digits/; final`.
private func rawUnsafe(_ text: String, allowing finals: Set<Unicode.Scalar> = [], carriageReturn: Bool = false) -> [String] {
    var found: [String] = []
    let scalars = Array(text.unicodeScalars)
    var i = 0
    while i < scalars.count {
        let s = scalars[i]
        if !finals.isEmpty, s == "\u{1B}", i + 1 < scalars.count, scalars[i + 1] == "[" {
            var j = i + 2
            while j < scalars.count, ("0"..."9").contains(scalars[j]) || scalars[j] == ";" { j += 1 }
            if j < scalars.count, finals.contains(scalars[j]) { i = j + 1; continue }
        }
        if carriageReturn, s == "\r" { i += 1; continue }
        let v = s.value
        let bad = (v < 0x20 && s != "\n") || (0x7F...0x9F).contains(v)
            || [.format, .lineSeparator, .paragraphSeparator, .control].contains(s.properties.generalCategory) && s != "\n"
        if bad { found.append("U+" + String(v, radix: 16)) }
        i += 1
    }
    return found
}

/// Filled by one reader thread, read after it is done.
private final class DataBox: @unchecked Sendable { var data = Data() }

/// What `body` writes through a console whose output and error go to pipes.
private func capture(color: Bool = false, _ body: (Console) -> Void) -> (out: String, err: String) {
    var outPipe: [Int32] = [0, 0], errPipe: [Int32] = [0, 0]
    _ = pipe(&outPipe)
    _ = pipe(&errPipe)
    var console = Console(environment: [:], noColor: true, verbose: false, quiet: false)
    console.color = color
    console.outputDescriptor = outPipe[1]
    console.errorDescriptor = errPipe[1]
    let out = FileHandle(fileDescriptor: outPipe[0], closeOnDealloc: true)
    let err = FileHandle(fileDescriptor: errPipe[0], closeOnDealloc: true)
    let outBox = DataBox(), errBox = DataBox()
    let group = DispatchGroup()
    DispatchQueue.global().async(group: group) { outBox.data = out.readDataToEndOfFile() }
    DispatchQueue.global().async(group: group) { errBox.data = err.readDataToEndOfFile() }
    body(console)
    close(outPipe[1])
    close(errPipe[1])
    group.wait()
    let result = (outBox.data, errBox.data)
    return (String(decoding: result.0, as: UTF8.self), String(decoding: result.1, as: UTF8.self))
}

private let hostile = "\u{1B}[2J\u{1B}]0;owned\u{07}\u{1B}]8;;https://evil.example/\u{1B}\\x\r\n\t\u{7F}\u{9B}31m\u{202E}\u{2028}"

@Suite("Strings in outputs: what the commands print")
struct HostileOutputCLITests {
    @Test("observe: domains libvirt named with DEL, C1, bidi and tab, on a host named with ESC sequences: text and JSON")
    func observeHostileNames() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("virtplace-escaping-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let names = ["del&#127;x", "csi&#x9b;2J", "&#x202e;gnp.exe", "tab&#9;name", "sep&#x2028;x"]
        let domains = names.enumerated().map { i, name in
            """
            <domain type='test'><name>\(name)</name><uuid>eeeeeeee-0000-4000-8000-00000000000\(i)</uuid>
              <metadata><virtplace:instance xmlns:virtplace="urn:virtplace:1" fleet="lab&#9;&#x85;">
                <virtplace:tag key="k&#10;&#x202e;">v&#13;&#x9b;</virtplace:tag></virtplace:instance></metadata>
              <memory unit='MiB'>64</memory><vcpu>1</vcpu><os><type>hvm</type></os></domain>
            """
        }.joined(separator: "\n")
        let node = "<node><cpu><mhz>2000</mhz><model>x86_64</model><nodes>1</nodes><sockets>1</sockets><cores>2</cores><threads>1</threads></cpu>"
            + "<memory>4194304</memory>\(domains)</node>"
        let path = directory.appendingPathComponent("host.xml").path
        try node.write(toFile: path, atomically: false, encoding: .utf8)

        let hostName = "host\u{1B}[2J\u{1B}]0;owned\u{07}"
        let observations = await Observer().observeWithCalls([ObserveTarget(name: hostName, uri: "test://" + path, allowTestDriver: true)])
        let fleet = ObservedFleet(hosts: observations.map(\.host))
        let host = try #require(fleet.hosts.first)
        #expect(host.reachable, "\(host.error ?? "")")
        // libvirt kept the names and tags as written.
        #expect(host.domains.map(\.name).sorted() == ["del\u{7F}x", "csi\u{9B}2J", "\u{202E}gnp.exe", "tab\tname", "sep\u{2028}x"].sorted())
        #expect(host.domains.allSatisfy { $0.fleet == "lab\t\u{85}" && $0.tags == ["k\n\u{202E}": "v\r\u{9B}"] })

        let text = renderObserved(fleet, managedNames: [], style: Console(environment: [:], noColor: true, verbose: false, quiet: false).textStyle)
        #expect(rawUnsafe(text).isEmpty, "\(rawUnsafe(text)): \(text)")
        #expect(text.contains("host\\x1b[2J\\x1b]0;owned\\x07"))
        // One heading, the versions line, a header row, a row per domain, a blank line, the
        // count line.
        #expect(text.split(separator: "\n").count == 1 + 1 + 1 + host.domains.count + 1, "\(text)")

        let json = String(decoding: fleet.jsonData(), as: UTF8.self) + "\n"
        #expect(rawUnsafe(json).isEmpty, "\(rawUnsafe(json))")
        #expect(try ObservedFleet(jsonData: Data(json.utf8)) == fleet)

        // And through the console, as `observe` prints them.
        let printed = capture { console in console.out(text); console.out(json) }
        #expect(rawUnsafe(printed.out).isEmpty)
    }

    @Test("diagnostics: the echoed line is escaped and the caret stays under its character")
    func diagnosticCaret() throws {
        let line = "  host: \"\u{1B}[2J\t\u{202E}e\u{301}\u{7F}\" Z: 1"
        let source = PlacementSource(name: "evil\u{1B}]0;t\u{07}.yaml", bytes: Array("instances:\n\(line)\r\nnext: 1\n".utf8))
        let column = Array(line.unicodeScalars).firstIndex(of: "Z").map { $0 + 1 } ?? 0
        let diagnostic = Diagnostic(.error, file: source.name, line: 2, column: column, path: "instances.\u{1B}[31mx\ny",
                                    message: "unknown host '\u{1B}]8;;https://evil.example/\u{1B}\\h\u{1B}]8;;\u{1B}\\' (did you mean\r'host1'?)")
        let console = Console(environment: [:], noColor: true, verbose: false, quiet: false)
        let text = renderDiagnostics([diagnostic], sources: [source], console: console)
        #expect(rawUnsafe(text).isEmpty, "\(rawUnsafe(text)): \(text)")
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        #expect(lines.count == 3, "message, source line, caret: \(lines)")
        guard lines.count == 3 else { return }
        let echoed = lines[1], caret = lines[2]
        let zAt = try #require(echoed.firstIndex(of: "Z")).utf16Offset(in: echoed)
        let caretAt = try #require(caret.firstIndex(of: "^")).utf16Offset(in: caret)
        // Everything before Z in the echoed line is ASCII but é (one character, two scalars):
        // compare in characters.
        #expect(echoed.distance(from: echoed.startIndex, to: echoed.firstIndex(of: "Z")!)
                == caret.distance(from: caret.startIndex, to: caret.firstIndex(of: "^")!), "\(echoed)\n\(caret) (\(zAt), \(caretAt))")
        #expect(caret.allSatisfy { $0 == " " || $0 == "^" })
    }

    @Test("apply progress, line mode: every value escaped, one line per event")
    func progressLines() {
        let step = Step.transferVolume(pool: hostile, volume: hostile, from: hostile, to: hostile)
        let printed = capture { console in
            let progress = ApplyProgress(console: console, live: false, lineInterval: .zero)
            for event in Self.events(step) { progress.handle(event) }
            progress.finish()
        }
        #expect(rawUnsafe(printed.out).isEmpty, "\(rawUnsafe(printed.out)): \(printed.out)")
        // wave, action started, step done, step skipped, step failed, transfer, action finished.
        #expect(printed.out.split(separator: "\n").count == 7, "\(printed.out)")
    }

    @Test("apply progress, on a terminal: only our colour and cursor movements are raw")
    func progressBoard() {
        let step = Step.transferVolume(pool: hostile, volume: hostile, from: hostile, to: hostile)
        let printed = capture(color: true) { console in
            let progress = ApplyProgress(console: console, live: true, lineInterval: .zero)
            for event in Self.events(step) { progress.handle(event) }
            progress.finish()
        }
        #expect(rawUnsafe(printed.out, allowing: ["m", "A", "K"], carriageReturn: true).isEmpty, "\(printed.out)")
        #expect(!printed.out.contains("\u{1B}[2J") && !printed.out.contains("\u{1B}]"))
    }

    @Test("apply's summary, dry run and recovery lines")
    func applySummary() {
        let report = ExecutionReport(actions: [
            ActionReport(instance: hostile, kind: .live, from: hostile, to: "h2", status: .failed, message: hostile, notes: [hostile]),
            ActionReport(instance: "b", kind: .cold, from: "h1", to: hostile, status: .blocked, message: hostile),
        ], run: "r")
        let printed = capture { console in
            console.out(renderApplySummary(report, plan: nil, console: console))
            console.out(renderRecovery(RecoveryReport(actions: report.actions, held: [:]), console: console))
        }
        #expect(rawUnsafe(printed.out).isEmpty)
        let summary = renderApplySummary(report, plan: nil, console: Console(environment: [:], noColor: true, verbose: false, quiet: false))
        #expect(rawUnsafe(summary).isEmpty, "\(summary)")
        // blank, two actions, one note, blank, the count line
        #expect(summary.split(separator: "\n", omittingEmptySubsequences: false).count == 7, "\(summary)")
    }

    @Test("reconcile's log lines: one JSON object per line, values intact, nothing raw")
    func reconcileLog() throws {
        let printed = capture { console in
            let log = JSONLog(console: console)
            log.write(["event": "action", "instance": hostile, "message": hostile])
            log.event(.stepFinished(instance: hostile, index: 0, step: .start(host: hostile), outcome: .failed(hostile), seconds: 1))
        }
        #expect(rawUnsafe(printed.out).isEmpty, "\(printed.out)")
        let lines = printed.out.split(separator: "\n")
        #expect(lines.count == 2)
        for line in lines {
            let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            #expect(object["instance"] as? String == hostile)
            #expect(object["message"] as? String == hostile)
        }
    }

    @Test("reconcile's log: each convergence step is one JSON line with its figures")
    func convergenceLogLine() throws {
        var c = ConvergenceController(.init(maxDowntimeMs: 300, downtimeSteps: 4, stallSeconds: 2, timeoutSeconds: 600,
                                            autoConverge: false, postcopy: false))
        #expect(c.observe(MigrationJob(dataRemaining: 20 << 20), at: 2.5) == nil)
        let decided = c.observe(MigrationJob(dataRemaining: 21 << 20, memoryBps: 8 << 20, memoryDirtyBps: 9 << 20, memoryIteration: 7), at: 4.5)
        let d = try #require(decided)
        let printed = capture { console in JSONLog(console: console).event(.convergence(instance: hostile, d)) }
        #expect(rawUnsafe(printed.out).isEmpty, "\(printed.out)")
        let lines = printed.out.split(separator: "\n")
        #expect(lines.count == 1)
        let o = try #require(try JSONSerialization.jsonObject(with: Data((lines.first ?? "").utf8)) as? [String: Any])
        #expect(o["event"] as? String == "converge" && o["instance"] as? String == hostile)
        #expect(o["action"] as? String == "downtime" && o["cause"] as? String == "stall")
        #expect(o["downtimeMs"] as? Int == 75 && o["newDowntimeMs"] as? Int == 150)
        #expect(o["remainingBytes"] as? Int == 21 << 20 && o["lowestBytes"] as? Int == 20 << 20)
        #expect(o["bytesPerSecond"] as? Int == 8 << 20 && o["dirtyBytesPerSecond"] as? Int == 9 << 20 && o["iteration"] as? Int == 7)
        #expect(o["seconds"] as? Double == 4.5 && o["stalledSeconds"] as? Double == 2 && o["attempt"] as? Int == 1)
        #expect((o["message"] as? String)?.contains("downtime 75 → 150 ms") == true, "\(o)")
    }

    @Test("the console's last guard: a raw control in any text is shown, colour only when on")
    func consoleGuard() {
        let plain = capture { console in
            console.out("a\u{1B}[2Jb\u{1B}[31mc\n")
            console.err("e\u{1B}]0;t\u{07}\r")
        }
        #expect(plain.out == "a\\x1b[2Jb\\x1b[31mc\n")
        #expect(plain.err == "e\\x1b]0;t\\x07\\r\n")
        let coloured = capture(color: true) { console in
            console.out(console.style("ok", .green) + "\u{1B}[2J\n")
        }
        #expect(coloured.out == "\u{1B}[32mok\u{1B}[0m\\x1b[2J\n")
    }

    @Test("errors quoting paths, snapshot keys or libvirt's text stay on one line, nothing raw")
    func errorMessages() {
        let errors: [any Error] = [
            HostileError(text: "snap\n.json: missing key '\u{1B}]0;owned\u{07}'\nforged"),
            EngineError.stateDirectory(path: "/tmp/\u{1B}[2J", reason: hostile),
        ]
        for error in errors {
            let message = MessageInfo(error).message
            #expect(rawUnsafe(message).isEmpty && !message.contains("\n"), "\(message)")
        }
    }

    @Test("board width: any reported width is bounded")
    func boardWidth() {
        #expect(boardColumns(0) == 80)
        #expect(boardColumns(-5) == 80)
        #expect(boardColumns(3) == 20)
        #expect(boardColumns(120) == 120)
        #expect(boardColumns(65_535) == 512)
    }

    static func events(_ step: Step) -> [ExecutionEvent] {
        [
            .waveStarted(wave: 1, actions: 1),
            .actionStarted(instance: hostile, kind: .cold, from: hostile, to: hostile),
            .stepStarted(instance: hostile, index: 0, step: step),
            .stepFinished(instance: hostile, index: 0, step: step, outcome: .done(hostile), seconds: 1),
            .stepFinished(instance: hostile, index: 1, step: step, outcome: .skipped(hostile), seconds: 1),
            .stepStarted(instance: hostile, index: 2, step: step),
            .transfer(instance: hostile, TransferStatus(kind: .volume(hostile), processedBytes: 1, totalBytes: 2, bytesPerSecond: 1, elapsedSeconds: 1)),
            .stepFinished(instance: hostile, index: 2, step: step, outcome: .failed(hostile), seconds: 1),
            .actionFinished(ActionReport(instance: hostile, kind: .cold, from: hostile, to: hostile, status: .failed, message: hostile)),
        ]
    }
}

/// An error whose text is whatever a file, a snapshot or libvirt put in it.
private struct HostileError: Error, CustomStringConvertible {
    let text: String
    var description: String { text }
}
