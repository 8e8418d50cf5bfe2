import Foundation
import Placement

/// Where a command writes, and how: the only place that prints.
///
/// Whatever the stream (a terminal, a pipe, a CI log), no raw control character leaves here:
/// values are escaped where they are put into the text (`Escape.terminal`), and `out`/`err`
/// pass everything through `Escape.terminalOutput` as the last guard, which keeps line feeds
/// and, when colour is on, our own colour sequences. Only `control` writes raw, for the
/// progress board's cursor movements.
struct Console: Sendable {
    var color: Bool
    var stdoutIsTerminal: Bool
    var stdinIsTerminal: Bool
    var verbose: Bool
    var quiet: Bool
    /// Where `out` and `err` write (tests point them at a pipe).
    var outputDescriptor: Int32 = STDOUT_FILENO
    var errorDescriptor: Int32 = STDERR_FILENO

    init(environment: [String: String], noColor: Bool, verbose: Bool, quiet: Bool) {
        stdoutIsTerminal = isatty(STDOUT_FILENO) == 1
        stdinIsTerminal = isatty(STDIN_FILENO) == 1
        color = stdoutIsTerminal && !noColor && environment["NO_COLOR"].map(\.isEmpty) != false
            && environment["TERM"] != "dumb"
        self.verbose = verbose
        self.quiet = quiet
    }

    /// Standard output, every control character shown visibly but line feeds and (with
    /// colour) our colour sequences.
    func out(_ text: String) {
        Self.write(Escape.terminalOutput(text, keepingColor: color), to: outputDescriptor)
    }

    /// Cursor movements of the progress board on standard output, written raw: only ever
    /// constant sequences of our own, never a value.
    func control(_ sequence: String) {
        Self.write(sequence, to: outputDescriptor)
    }

    /// A line on standard output.
    func line(_ text: String = "") { out(text + "\n") }

    /// A line on standard error, guarded as `out` is.
    func err(_ text: String) {
        Self.write(Escape.terminalOutput(text + "\n", keepingColor: color), to: errorDescriptor)
    }

    /// Writes all of `text`, or as much as its reader takes: when the reader has gone (a
    /// closed pipe: `virtplace apply | head`) the rest is dropped and the command goes on, so
    /// that no step is cut short by its output. `FileHandle.write` would crash there, with
    /// SIGPIPE ignored (`VirtPlace.main`).
    static func write(_ text: String, to descriptor: Int32) {
        var text = text
        text.withUTF8 { bytes in
            var offset = 0
            while offset < bytes.count {
                let written = Glibc.write(descriptor, bytes.baseAddress! + offset, bytes.count - offset)
                if written < 0 && errno == EINTR { continue }
                guard written > 0 else { return }
                offset += written
            }
        }
    }

    /// A progress or information line on standard error, unless `--quiet`.
    func info(_ text: String) { if !quiet { err(text) } }

    func style(_ text: String, _ code: ANSI) -> String {
        color ? "\u{1B}[\(code.rawValue)m\(text)\u{1B}[0m" : text
    }
}

/// The ANSI styles we use.
enum ANSI: String, Sendable {
    case bold = "1", dim = "2", red = "31", green = "32", yellow = "33", blue = "34", magenta = "35", cyan = "36"
}

extension Console {
    /// A style function for the pure renderers: colour only when this console has it.
    var textStyle: @Sendable (String, TextStyle) -> String {
        let color = self.color
        return { text, style in
            guard color else { return text }
            let code: String = switch style {
            case .bold: "1"
            case .dim: "2"
            case .red: "31"
            case .green: "32"
            case .yellow: "33"
            case .blue: "34"
            case .magenta: "35"
            case .cyan: "36"
            }
            return "\u{1B}[\(code)m\(text)\u{1B}[0m"
        }
    }
}
