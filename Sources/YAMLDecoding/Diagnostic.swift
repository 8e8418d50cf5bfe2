/// A problem found in an input file, with where it is and what it is.
///
/// Rendered as `FILE:LINE:COLUMN: error: PATH: message`. Line and column are 1-based; a
/// diagnostic about a whole file (an empty file, say) has line 0 and column 0.
public struct Diagnostic: Error, Equatable, Hashable, Sendable, Codable {
    /// How bad a problem is; an error makes the input unusable.
    public enum Severity: String, Sendable, Codable, Comparable {
        case warning, error
        public static func < (a: Severity, b: Severity) -> Bool { a == .warning && b == .error }
    }

    public var severity: Severity
    /// The file name as the user gave it.
    public var file: String
    /// 1-based line; 0 for the whole file.
    public var line: Int
    /// 1-based column in Unicode scalars; 0 for the whole file.
    public var column: Int
    /// The key path inside the document, like `instances.web-1.devices.data.pool`; empty for
    /// the whole document.
    public var path: String
    /// What is wrong, quoting names and suggesting the fix where it can.
    public var message: String

    /// A diagnostic from its parts.
    public init(_ severity: Severity, file: String, line: Int, column: Int, path: String, message: String) {
        self.severity = severity; self.file = file; self.line = line; self.column = column
        self.path = path; self.message = message
    }

    /// `FILE:LINE:COLUMN: error: PATH: message` (the PATH part left out when empty). Raw: the
    /// file name, path and message may quote anything the input holds, so whoever prints it
    /// escapes it for its output (the CLI's diagnostics go through `Escape.terminal`, log
    /// lines through JSON; docs/security.md, "Strings in outputs").
    public var formatted: String {
        let place = path.isEmpty ? "" : "\(path): "
        return "\(file):\(line):\(column): \(severity.rawValue): \(place)\(message)"
    }
}
