/// Why a file could not be read or parsed: one or more located diagnostics.
///
/// A syntax error stops the parse, so it comes alone (after any duplicate keys found before
/// it); duplicate keys do not stop it, so every one of them is reported at once.
public struct YAMLLoadError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The problems, sorted by line and column; never empty.
    public var diagnostics: [Diagnostic]

    /// An error standing for these diagnostics (at least one).
    public init(diagnostics: [Diagnostic]) {
        self.diagnostics = diagnostics
    }

    init(_ diagnostic: Diagnostic) {
        self.diagnostics = [diagnostic]
    }

    init(file: String, line: Int, column: Int, path: String = "", _ message: String) {
        self.diagnostics = [Diagnostic(.error, file: file, line: line, column: column, path: path, message: message)]
    }

    private var first: Diagnostic? { diagnostics.first }
    /// The file of the first problem.
    public var file: String { first?.file ?? "" }
    /// The 1-based line of the first problem (0 for the whole file).
    public var line: Int { first?.line ?? 0 }
    /// The 1-based column of the first problem (0 for the whole file).
    public var column: Int { first?.column ?? 0 }
    /// The message of the first problem.
    public var message: String { first?.message ?? "" }

    /// Every diagnostic as `FILE:LINE:COLUMN: error: PATH: message`, one a line.
    public var description: String {
        diagnostics.map(\.formatted).joined(separator: "\n")
    }
}

extension Diagnostic {
    /// Diagnostics in reading order (line, column, then path and message), duplicates removed.
    public static func sortedUnique(_ diagnostics: [Diagnostic]) -> [Diagnostic] {
        let sorted = diagnostics.sorted {
            if $0.file != $1.file { return $0.file < $1.file }
            if $0.line != $1.line { return $0.line < $1.line }
            if $0.column != $1.column { return $0.column < $1.column }
            if $0.path != $1.path { return $0.path < $1.path }
            return $0.message < $1.message
        }
        var result: [Diagnostic] = []
        result.reserveCapacity(sorted.count)
        for diagnostic in sorted where result.last != diagnostic {
            result.append(diagnostic)
        }
        return result
    }
}
