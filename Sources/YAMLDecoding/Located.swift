/// A decoded value together with where it was written, so that later checks (a reference
/// to an unknown host, say) can point at it.
///
/// Decoded by `YAMLNodeDecoder`, it records the value node's file, line, column and path,
/// and the key's line and column when the value is a mapping entry's. Decoded by another
/// decoder, it records the path only (line and column 0). Encoding writes the value alone.
public struct Located<Value> {
    /// The decoded value.
    public var value: Value
    /// The file name diagnostics carry.
    public var file: String
    /// 1-based line of the value (0 when unknown).
    public var line: Int
    /// 1-based column of the value (0 when unknown).
    public var column: Int
    /// The key path, like `instances.web-1.host`.
    public var path: String
    /// The 1-based line of the key of the mapping entry holding the value, when there is one.
    public var keyLine: Int?
    /// The 1-based column of that key, when there is one.
    public var keyColumn: Int?

    /// A value with its location given (for tests, or values made up by later stages).
    public init(
        _ value: Value, file: String = "", line: Int = 0, column: Int = 0, path: String = "",
        keyLine: Int? = nil, keyColumn: Int? = nil
    ) {
        self.value = value
        self.file = file
        self.line = line
        self.column = column
        self.path = path
        self.keyLine = keyLine
        self.keyColumn = keyColumn
    }

    /// A diagnostic located at the value.
    public func diagnostic(_ message: String, severity: Diagnostic.Severity = .error) -> Diagnostic {
        Diagnostic(severity, file: file, line: line, column: column, path: path, message: message)
    }

    /// A diagnostic located at the key (at the value when there is no key).
    public func keyDiagnostic(_ message: String, severity: Diagnostic.Severity = .error) -> Diagnostic {
        Diagnostic(severity, file: file, line: keyLine ?? line, column: keyColumn ?? column, path: path, message: message)
    }
}

extension Located: Decodable where Value: Decodable {
    /// Decodes the value and records its location.
    ///
    /// - Throws: whatever decoding `Value` throws.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let value = try container.decode(Value.self)
        guard let nodeDecoder = decoder as? NodeDecoder else {
            self.init(value, path: yamlPathString(decoder.codingPath))
            return
        }
        let nodes = nodeDecoder.state.nodes
        let keyNode = nodeDecoder.path.keyNode
        self.init(
            value, file: nodeDecoder.state.file, line: nodes.line(nodeDecoder.node),
            column: nodes.column(nodeDecoder.node), path: nodeDecoder.path.string,
            keyLine: keyNode.map { nodes.line($0) }, keyColumn: keyNode.map { nodes.column($0) })
    }
}

extension Located: Encodable where Value: Encodable {
    /// Encodes the value alone.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(value)
    }
}

extension Located: Equatable where Value: Equatable {}
extension Located: Hashable where Value: Hashable {}
extension Located: Sendable where Value: Sendable {}
