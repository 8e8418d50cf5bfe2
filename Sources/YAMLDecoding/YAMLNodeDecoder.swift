/// The outcome of decoding: the value (nil only when the root itself could not be decoded)
/// and every problem found, in reading order.
public struct YAMLDecoded<Value> {
    /// The decoded value; it may be present and still come with errors (an unknown key, a
    /// skipped element), so check `hasErrors` before trusting it.
    public var value: Value?
    /// Every problem found, sorted by line and column, without duplicates.
    public var diagnostics: [Diagnostic]

    /// A result from its parts.
    public init(value: Value?, diagnostics: [Diagnostic]) {
        self.value = value
        self.diagnostics = diagnostics
    }

    /// Whether any diagnostic is an error.
    public var hasErrors: Bool { diagnostics.contains { $0.severity == .error } }
}

extension YAMLDecoded: Sendable where Value: Sendable {}

/// Decodes `Decodable` values from parsed YAML nodes, reporting every problem it can find in
/// one pass, each with its file, line, column and key path.
///
/// What it adds to a plain `Decoder`:
/// - Unknown keys are reported (with a "did you mean" among the keys the type asked for)
///   once the type's `init(from:)` returns.
/// - `decodeIfPresent` of a value that fails records the problem and gives nil.
/// - An element of an array or of a `[String: T]` that fails is recorded and skipped.
/// - Scalars are typed by what the model asks for (see `docs/yaml.md`).
/// - `CaseIterable` string enums are checked against their cases ("expected one of …").
public struct YAMLNodeDecoder: Sendable {
    /// The limits; the expansion budget bounds the nodes decoding visits.
    public var limits: YAMLLimits
    /// Handed to `init(from:)` as `decoder.userInfo`.
    public var userInfo: [CodingUserInfoKey: any Sendable]

    /// A decoder with these limits, handing `userInfo` to the types it decodes.
    public init(limits: YAMLLimits = .default, userInfo: [CodingUserInfoKey: any Sendable] = [:]) {
        self.limits = limits
        self.userInfo = userInfo
    }

    /// Decodes one document's root node. `file` is the name diagnostics carry.
    public func decode<T: Decodable>(_ type: T.Type, from node: YAMLNode, file: String) -> YAMLDecoded<T> {
        let state = DecodingState(file: file, store: node.store, root: node.index, limits: limits, userInfo: userInfo)
        do {
            let value = try state.decode(T.self, node: node.index, path: .root)
            return YAMLDecoded(value: value, diagnostics: Diagnostic.sortedUnique(state.rootDiagnostics))
        } catch {
            let found = state.rootDiagnostics + state.diagnostics(for: error, node: node.index, path: .root)
            return YAMLDecoded(value: nil, diagnostics: Diagnostic.sortedUnique(found))
        }
    }

    /// Parses a YAML or JSON stream and decodes each of its documents.
    ///
    /// The value is nil when the stream cannot be parsed; otherwise it holds the documents
    /// whose root decoded. Duplicate keys are reported along with the decoding problems.
    public func decodeDocuments<T: Decodable>(
        _ type: T.Type, from bytes: [UInt8], file: String
    ) -> YAMLDecoded<[T]> {
        let loaded: (documents: [YAMLNode], diagnostics: [Diagnostic])
        do {
            loaded = try YAMLParser.load(bytes, file: file, limits: limits)
        } catch {
            return YAMLDecoded(value: nil, diagnostics: error.diagnostics)
        }
        var values: [T] = []
        var found = loaded.diagnostics
        for document in loaded.documents {
            let decoded = decode(T.self, from: document, file: file)
            if let value = decoded.value { values.append(value) }
            found += decoded.diagnostics
        }
        return YAMLDecoded(value: values, diagnostics: Diagnostic.sortedUnique(found))
    }
}
