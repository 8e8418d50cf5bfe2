import Foundation
import Placement
import Synchronization

/// Where a command writes, and how: the only place that prints.
///
/// Whatever the stream (a terminal, a pipe, a CI log), no raw control character leaves here:
/// values are escaped where they are put into the text (`Escape.terminal`), and `out`/`err`
/// pass everything through `Escape.terminalOutput` as the last guard, which keeps line feeds
/// and, when colour is on, our own colour sequences. Only `control` writes raw, for the
/// progress board's cursor movements.
///
/// A write that fails (a full disk, a closed descriptor, an I/O error) is remembered in
/// `failures`, and the entry point turns it into an error message and a non-zero exit code: a
/// truncated `plan -o json` never exits 0. A reader that went away (EPIPE: `virtplace plan |
/// head`) is not a failure: the rest of the output is dropped and the command goes on.
struct Console: Sendable {
    var color: Bool
    var stdoutIsTerminal: Bool
    var stdinIsTerminal: Bool
    var verbose: Bool
    var quiet: Bool
    /// Where `out` and `err` write (tests point them at a pipe).
    var outputDescriptor: Int32 = STDOUT_FILENO
    var errorDescriptor: Int32 = STDERR_FILENO
    /// The writes that failed, shared by every copy of this console.
    let failures: OutputFailures

    init(environment: [String: String], noColor: Bool, verbose: Bool, quiet: Bool, failures: OutputFailures = OutputFailures()) {
        stdoutIsTerminal = isatty(STDOUT_FILENO) == 1
        stdinIsTerminal = isatty(STDIN_FILENO) == 1
        color = stdoutIsTerminal && !noColor && environment["NO_COLOR"].map(\.isEmpty) != false
            && environment["TERM"] != "dumb"
        self.verbose = verbose
        self.quiet = quiet
        self.failures = failures
    }

    /// Standard output, every control character shown visibly but line feeds and (with
    /// colour) our colour sequences.
    func out(_ text: String) {
        failures.note(Self.write(Escape.terminalOutput(text, keepingColor: color), to: outputDescriptor), stream: "standard output")
    }

    /// UTF-8 text on standard output in pieces, guarded as `out` is: written as they are when
    /// every byte is printable ASCII or a line feed (a JSON snapshot, which escapes everything
    /// else), else joined and through `out`. A megabyte of JSON is not copied into a String
    /// and scanned by Unicode scalar.
    func out(utf8 pieces: [[UInt8]]) {
        let plain = pieces.allSatisfy { piece in piece.withUnsafeBytes { Self.isPlainText($0) } }
        guard plain else { return out(String(decoding: Array(pieces.joined()), as: UTF8.self)) }
        for piece in pieces {
            let result = piece.withUnsafeBytes { Self.write($0, to: outputDescriptor) }
            failures.note(result, stream: "standard output")
            guard result == .written else { return }
        }
    }

    /// Whether every byte is printable ASCII or a line feed: eight bytes at a time, each byte
    /// judged on its own within the word (no carry or borrow crosses a byte), line feeds and
    /// all (a snapshot has one every few dozen bytes).
    static func isPlainText(_ bytes: UnsafeRawBufferPointer) -> Bool {
        func plain(_ byte: UInt8) -> Bool { (byte >= 0x20 && byte < 0x7F) || byte == 0x0A }
        let low: UInt64 = 0x7F7F_7F7F_7F7F_7F7F, high: UInt64 = 0x8080_8080_8080_8080
        /// The high bit of each byte of `word` that is not zero.
        func nonzero(_ word: UInt64) -> UInt64 { (((word & low) &+ low) | word) & high }
        var index = 0
        while index + 8 <= bytes.count {
            let word = bytes.loadUnaligned(fromByteOffset: index, as: UInt64.self)
            // The high bit of a byte is set in `control` when the byte is under 0x20 and not a
            // line feed, in `above` when it is over 0x7E.
            let control = ~nonzero(word & 0xE0E0_E0E0_E0E0_E0E0) & nonzero(word ^ 0x0A0A_0A0A_0A0A_0A0A) & high
            let above = (((word & low) &+ 0x0101_0101_0101_0101) | word) & high
            if control | above != 0 { return false }
            index += 8
        }
        while index < bytes.count {
            if !plain(bytes[index]) { return false }
            index += 1
        }
        return true
    }

    /// Cursor movements of the progress board on standard output, written raw: only ever
    /// constant sequences of our own, never a value.
    func control(_ sequence: String) {
        failures.note(Self.write(sequence, to: outputDescriptor), stream: "standard output")
    }

    /// A line on standard output.
    func line(_ text: String = "") { out(text + "\n") }

    /// A line on standard error, guarded as `out` is.
    func err(_ text: String) {
        failures.note(Self.write(Escape.terminalOutput(text + "\n", keepingColor: color), to: errorDescriptor), stream: "standard error")
    }

    /// How a write ended.
    enum WriteResult: Equatable, Sendable {
        case written
        /// The reader went away (EPIPE): the rest was dropped, and that is not an error.
        case readerGone
        /// The write failed with this errno.
        case failed(Int32)
    }

    /// Writes all of `text`, or as much as its reader takes: when the reader has gone (a
    /// closed pipe: `virtplace apply | head`) the rest is dropped and the command goes on, so
    /// that no step is cut short by its output. `FileHandle.write` would crash there, with
    /// SIGPIPE ignored (`VirtPlace.main`). A descriptor left non-blocking by whoever started
    /// virtplace is waited on, not given up on.
    @discardableResult
    static func write(_ text: String, to descriptor: Int32) -> WriteResult {
        var text = text
        return text.withUTF8 { write(UnsafeRawBufferPointer($0), to: descriptor) }
    }

    /// `write(_:to:)` for bytes.
    @discardableResult
    static func write(_ bytes: UnsafeRawBufferPointer, to descriptor: Int32) -> WriteResult {
        if closedAtStart.withLock({ $0.contains(descriptor) }) { return .failed(EBADF) }
        guard let base = bytes.baseAddress else { return .written }
        var offset = 0
        while offset < bytes.count {
            let written = Glibc.write(descriptor, base + offset, bytes.count - offset)
            if written < 0 {
                switch errno {
                case EINTR: continue
                case EAGAIN:
                    var wanted = pollfd(fd: descriptor, events: Int16(POLLOUT), revents: 0)
                    _ = poll(&wanted, 1, 1000)
                    continue
                case EPIPE: return .readerGone
                case let code: return .failed(code)
                }
            }
            guard written > 0 else { return .failed(EIO) }
            offset += written
        }
        return .written
    }

    /// Makes sure descriptors 0, 1 and 2 are what whoever started virtplace gave it. When one
    /// was closed (`>&-`, `<&-`), the next file opened would take its number and console
    /// output would land in it (or `-f -` read it). A closed one gets /dev/null, opened so
    /// that using it fails (write-only for standard input, read-only for the others); one
    /// that the Swift runtime already took for itself (it opens descriptors before `main`
    /// runs; they are close-on-exec, which an inherited descriptor never is) is left to it,
    /// and marked unusable. Either way, reading or writing that stream fails with a message.
    static func guardStandardDescriptors() {
        var unusable: Set<Int32> = []
        for descriptor in [STDIN_FILENO, STDOUT_FILENO, STDERR_FILENO] {
            let flags = fcntl(descriptor, F_GETFD)
            if flags >= 0 {
                if flags & FD_CLOEXEC != 0 { unusable.insert(descriptor) }
                continue
            }
            unusable.insert(descriptor)
            let opened = open("/dev/null", (descriptor == STDIN_FILENO ? O_WRONLY : O_RDONLY))
            if opened >= 0 && opened != descriptor {
                _ = dup2(opened, descriptor)
                close(opened)
            }
        }
        closedAtStart.withLock { $0 = unusable }
    }

    /// The standard descriptors that were closed when virtplace started (`guardStandardDescriptors`).
    static let closedAtStart = Mutex<Set<Int32>>([])

    /// Whether standard input was closed when virtplace started.
    static var standardInputClosed: Bool { closedAtStart.withLock { $0.contains(STDIN_FILENO) } }

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

/// The console writes that failed in a run, shared by every console of the run (a class, so
/// that copies of a `Console` share it).
final class OutputFailures: Sendable {
    private let first = Mutex<(stream: String, code: Int32)?>(nil)
    private let changes = Mutex(false)

    /// Whether the command run may change hosts (apply, reconcile): a failed write then exits
    /// 3 ("finished, but something failed"), not 1 ("nothing was changed").
    var changesHosts: Bool {
        get { changes.withLock { $0 } }
        set { changes.withLock { $0 = newValue } }
    }

    init() {}

    func note(_ result: Console.WriteResult, stream: String) {
        guard case .failed(let code) = result else { return }
        first.withLock { if $0 == nil { $0 = (stream, code) } }
    }

    /// The first failure, as a message: `cannot write to standard output: No space left on device`.
    var message: String? {
        first.withLock { $0.map { "cannot write to \($0.stream): \(String(cString: strerror($0.code)))" } }
    }
}
