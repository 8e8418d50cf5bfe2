import Engine
import Foundation
import Placement
import Synchronization

/// Shows an apply as it runs. On a terminal: a live bar per running action (memory or disk
/// transferred, rate, time left), with finished steps scrolling above the bars. Elsewhere (a
/// pipe, a CI log): one line per step, and one line every `lineInterval` during long
/// transfers. Events arrive from many tasks; a lock keeps the output whole. Every value in an
/// event (instance and host names, step summaries, libvirt's messages) is escaped for the
/// terminal (`Escape.terminal`) as the event arrives.
final class ApplyProgress: Sendable {
    private struct Row {
        var instance: String
        var title: String
        var status: String
        var transfer: TransferStatus?
        var lastLine: ContinuousClock.Instant?
    }

    private struct State {
        var rows: [Row] = []
        /// Lines of the board currently on screen (terminal mode).
        var drawn = 0
        var lastDraw: ContinuousClock.Instant?
        var steps: [String: Int] = [:]
    }

    private let console: Console
    private let live: Bool
    private let lineInterval: Duration
    private let state = Mutex(State())

    /// `live`: draw bars (stdout is a terminal); else plain lines.
    init(console: Console, live: Bool, lineInterval: Duration = .seconds(5)) {
        self.console = console
        self.live = live
        self.lineInterval = lineInterval
    }

    /// Receives one executor event.
    func handle(_ event: ExecutionEvent) {
        let t = Escape.terminal
        state.withLock { state in
            switch event {
            case let .waveStarted(wave, count):
                emit("wave \(wave): \(count) action\(count == 1 ? "" : "s")", &state)
            case let .actionStarted(rawInstance, kind, from, to):
                let instance = t(rawInstance)
                let route = t(from == to || to == nil ? (from ?? "-") : "\(from ?? "-") → \(to ?? "-")")
                state.rows.append(Row(instance: instance, title: "\(kind.rawValue) \(route)", status: "starting"))
                state.steps[instance] = 0
                if !live { emit("\(instance): \(kind.rawValue) \(route)", &state) }
                redraw(&state, force: true)
            case let .stepStarted(rawInstance, index, step):
                let instance = t(rawInstance)
                // In line mode the first progress line of a step comes `lineInterval` after it began.
                let now = ContinuousClock.now
                update(instance, &state) { $0.status = "\(index + 1). \(t(step.summary))"; $0.transfer = nil; $0.lastLine = now }
                redraw(&state, force: true)
            case let .stepFinished(rawInstance, index, step, outcome, seconds):
                let instance = t(rawInstance), summary = t(step.summary)
                let total = state.steps[instance].map { $0 + 1 } ?? 1
                state.steps[instance] = total
                let text: String
                switch outcome {
                case .done(let note):
                    text = "\(instance): \(index + 1). \(summary): " + console.style("done", .green)
                        + String(format: " (%.1f s)", seconds) + (note.map { ": \(t($0))" } ?? "")
                case .skipped(let why):
                    text = "\(instance): \(index + 1). \(summary): " + console.style("skipped", .dim) + ": \(t(why))"
                case .failed(let message):
                    text = "\(instance): \(index + 1). \(summary): " + console.style("failed", .red) + ": \(t(message))"
                }
                update(instance, &state) { $0.transfer = nil }
                emit(text, &state)
            case let .transfer(rawInstance, status):
                let instance = t(rawInstance)
                var due = false
                let now = ContinuousClock.now
                update(instance, &state) { row in
                    row.transfer = status
                    if !live, status.totalBytes > 0, row.lastLine.map({ now - $0 >= lineInterval }) ?? true {
                        row.lastLine = now
                        due = true
                    }
                }
                if live {
                    redraw(&state, force: false)
                } else if due {
                    emit("\(instance): " + transferText(status), &state)
                }
            case let .convergence(rawInstance, decision):
                // Every rung the controller takes is a line, on a terminal too (above the bars).
                emit("\(t(rawInstance)): converge: \(t(decision.summary))", &state)
            case let .actionFinished(report):
                let instance = t(report.instance)
                state.rows.removeAll { $0.instance == instance }
                let route = t(report.from == report.to || report.to == nil ? (report.from ?? "-") : "\(report.from ?? "-") → \(report.to ?? "-")")
                var text = "\(instance): \(report.kind.rawValue) \(route): "
                switch report.status {
                case .done:
                    text += console.style("done", .green) + String(format: " in %.1f s", report.elapsedSeconds)
                    if let d = report.downtimeMs { text += ", downtime \(d) ms" }
                case .failed: text += console.style("failed", .red) + ": \(t(report.message ?? ""))"
                case .blocked: text += console.style("blocked", .yellow) + ": \(t(report.message ?? ""))"
                case .deferred: text += console.style("deferred", .yellow) + ": \(t(report.message ?? ""))"
                }
                emit(text, &state)
            }
        }
    }

    /// Clears the bars (before the summary is printed).
    func finish() {
        state.withLock { state in
            state.rows.removeAll()
            redraw(&state, force: true)
        }
    }

    // MARK: Drawing (called with the lock held)

    private func update(_ instance: String, _ state: inout State, _ change: (inout Row) -> Void) {
        if let i = state.rows.firstIndex(where: { $0.instance == instance }) { change(&state.rows[i]) }
    }

    /// Prints a line: above the board on a terminal (the board is drawn again under it).
    private func emit(_ line: String, _ state: inout State) {
        if live {
            clearBoard(&state)
            console.out(line + "\n")
            redraw(&state, force: true)
        } else {
            console.out(line + "\n")
        }
    }

    private func clearBoard(_ state: inout State) {
        guard state.drawn > 0 else { return }
        var s = ""
        for _ in 0..<state.drawn { s += "\u{1B}[1A\u{1B}[2K" }
        console.control(s + "\r")
        state.drawn = 0
    }

    private func redraw(_ state: inout State, force: Bool) {
        guard live else { return }
        let now = ContinuousClock.now
        if !force, let last = state.lastDraw, now - last < .milliseconds(100) { return }
        clearBoard(&state)
        var s = ""
        let width = state.rows.map(\.instance.count).max() ?? 0
        // A line longer than the terminal wraps, and the board would no longer be erased
        // line for line: cut each line to the width.
        let columns = terminalColumns() - 1
        for row in state.rows {
            let name = row.instance.padding(toLength: width, withPad: " ", startingAt: 0)
            let line: String
            if let t = row.transfer {
                line = "  \(name)  \(row.title)  \(bar(t))  \(transferText(t))"
            } else {
                line = "  \(name)  \(row.title)  \(row.status)"
            }
            s += (line.count > columns ? String(line.prefix(max(10, columns - 1))) + "…" : line) + "\n"
        }
        console.out(s)
        state.drawn = state.rows.count
        state.lastDraw = now
    }

    private func bar(_ t: TransferStatus, width: Int = 24) -> String {
        guard t.totalBytes > 0 else { return "[" + String(repeating: "·", count: width) + "]" }
        let fraction = min(1, Double(t.processedBytes) / Double(t.totalBytes))
        let filled = Int((fraction * Double(width)).rounded(.down))
        return "[" + String(repeating: "#", count: filled) + String(repeating: "·", count: width - filled) + "]"
    }

    private func transferText(_ t: TransferStatus) -> String {
        var parts: [String] = []
        switch t.kind {
        case .migration:
            if let m = t.memoryProcessedBytes, let mt = t.memoryTotalBytes, mt > 0 {
                parts.append("memory \(mib(m))/\(mib(mt))")
            } else if t.totalBytes > 0 {
                parts.append("\(mib(t.processedBytes))/\(mib(t.totalBytes))")
            }
            if let d = t.diskProcessedBytes, let dt = t.diskTotalBytes, dt > 0 {
                parts.append("disk \(mib(d))/\(mib(dt))")
            }
        case .volume(let name):
            parts.append("\(Escape.terminal(name)) \(mib(t.processedBytes))/\(mib(t.totalBytes))")
        }
        if t.bytesPerSecond > 0 { parts.append("\(mib(t.bytesPerSecond))/s") }
        if let left = t.remainingSeconds { parts.append(String(format: "~%.0f s left", left.rounded(.up))) }
        parts.append(String(format: "%.1f s", t.elapsedSeconds))
        return parts.joined(separator: ", ")
    }

    /// The terminal's width as the terminal itself reports it (80 when it cannot be told),
    /// within `boardColumns`. `COLUMNS` in the environment is not read.
    private func terminalColumns() -> Int {
        var size = winsize()
        guard ioctl(STDOUT_FILENO, UInt(TIOCGWINSZ), &size) == 0 else { return 80 }
        return boardColumns(Int(size.ws_col))
    }

    private func mib(_ bytes: UInt64) -> String {
        String(format: "%.1f MiB", Double(bytes) / 1_048_576)
    }
}

/// A terminal width bounded to what the board can use: 80 for none (0), at least 20, at
/// most 512, so that a strange or hostile report cannot make board lines unbounded or
/// negative in length.
func boardColumns(_ reported: Int) -> Int {
    reported <= 0 ? 80 : min(max(reported, 20), 512)
}

/// How `apply` shows a pass (`ApplyPass`): the plan, questions on the terminal, progress, the
/// recovery of earlier runs' unfinished actions, the summary. Every value is escaped for the
/// terminal where it is rendered.
struct ApplyPresenter: PassObserver {
    let console: Console
    let verbose: Bool
    let dryRun: Bool
    let progress: ApplyProgress
    /// Told when steps may start running (recovery's or the plan's), so that Ctrl-C from then
    /// on waits for the step in progress.
    let interrupt: ApplyInterrupt?

    init(context: CommandContext, dryRun: Bool, interrupt: ApplyInterrupt? = nil) {
        console = context.console
        verbose = context.common.verbose
        self.dryRun = dryRun
        self.interrupt = interrupt
        progress = ApplyProgress(console: console, live: console.stdoutIsTerminal && !context.common.quiet)
    }

    func handle(_ event: PassEvent) {
        let t = Escape.terminal
        switch event {
        case .journalRotated(let rotation):
            console.info(rotationLine(rotation))
        case .journalRepaired(let warning):
            warn(warning)
        case let .abandoned(instance, found):
            if found {
                console.line("Forgot the unfinished move of \(t(instance)) (--abandon): it is planned afresh from what the hosts show.")
            } else {
                warn("--abandon \(t(instance)): no earlier run left anything unfinished for it")
            }
        case .unfinished(let shown):
            console.line(renderUnfinished(shown, intro: dryRun
                ? "An earlier run left unfinished (apply would first finish or roll back):"
                : "An earlier run left unfinished (finished first, or rolled back where finishing is impossible):"))
        case let .recovered(report, shown):
            progress.finish()
            // Every problem is shown; a quiet give-up of an action that changed nothing is not.
            let worth = report.actions.filter { shown.contains($0.instance) || $0.status != .done }
            console.out(renderRecovery(RecoveryReport(actions: worth, held: report.held), console: console))
        case let .observing(hosts, again):
            console.info(again ? "observing again before running…" : "observing \(hosts) host\(hosts == 1 ? "" : "s")…")
        case .hostUnreachable(let host):
            warn("host '\(t(host.name))' is unreachable: \(t(host.error ?? "no answer")); actions that touch it are blocked")
        case .planned(let plan):
            console.out(render(plan, format: .text, color: console.color, verbose: verbose))
        case .nothingToRun(let plan):
            if !plan.isEmpty { console.line("Nothing to apply: \(plan.summary.blocked) blocked, \(plan.summary.deferred) deferred.") }
        case .dryRun(let plan):
            console.out(renderDryRun(plan, console: console))
        case .executing:
            interrupt?.arm()
            console.line("")
        case .execution(let event):
            interrupt?.arm()
            progress.handle(event)
        case .manualMigrationNeeded(let line):
            progress.finish()
            console.err(console.style("error:", .red) + " " + t(line))
        case .eventsFileError(let problem), .historyProblem(let problem):
            progress.finish()
            warn(t(problem))
        case let .executed(report, plan):
            progress.finish()
            console.out(renderApplySummary(report, plan: plan, console: console))
        }
    }

    /// Asks on the terminal; anything but `yes` is a no.
    func approve(_ question: PassQuestion) async -> Bool {
        switch question {
        case .recovery(let count):
            console.out("Do you want to deal with \(count == 1 ? "it" : "them") now? Only 'yes' will be accepted: ")
        case .plan(let count):
            console.out("\nDo you want to apply \(count == 1 ? "this action" : "these \(count) actions")? Only 'yes' will be accepted: ")
        }
        return readLine(strippingNewline: true)?.trimmingCharacters(in: .whitespaces) == "yes"
    }

    private func warn(_ text: String) {
        console.err(console.style("warning:", .yellow) + " " + text)
    }
}
