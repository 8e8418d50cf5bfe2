/// What the decoder carries inside a `DecodingError` it throws: the located problems, so that
/// whoever catches the error (a recovery point of this decoder, or the root) can report them.
struct DecodeIssue: Error {
    /// The problem itself first, then those found inside the value before it failed.
    var diagnostics: [Diagnostic]
    /// A limit was hit: no recovery point may swallow it.
    var fatal: Bool
}

extension DecodingError {
    var yamlContext: Context? {
        switch self {
        case .typeMismatch(_, let context), .valueNotFound(_, let context), .keyNotFound(_, let context),
            .dataCorrupted(let context):
            context
        @unknown default:
            nil
        }
    }

    var yamlIssue: DecodeIssue? { yamlContext?.underlyingError as? DecodeIssue }

    /// The same error, carrying `issue` instead.
    func replacingIssue(_ issue: DecodeIssue) -> DecodingError {
        func context(_ old: Context) -> Context {
            Context(codingPath: old.codingPath, debugDescription: old.debugDescription, underlyingError: issue)
        }
        switch self {
        case .typeMismatch(let type, let old): return .typeMismatch(type, context(old))
        case .valueNotFound(let type, let old): return .valueNotFound(type, context(old))
        case .keyNotFound(let key, let old): return .keyNotFound(key, context(old))
        case .dataCorrupted(let old): return .dataCorrupted(context(old))
        @unknown default: return .dataCorrupted(Context(codingPath: [], debugDescription: "\(self)", underlyingError: issue))
        }
    }
}

/// The mutable side of one `decode` call: diagnostics gathered so far, which keys each
/// keyed container was asked for, and the counters that bound the work.
///
/// Diagnostics live in scopes, one per value being decoded through `init(from:)`. When the
/// value decodes, its scope's diagnostics (and its unknown keys) move to the enclosing
/// scope; when it fails, they ride inside the error, so that if model code swallows the
/// error (`try?`) they vanish with it, and if a recovery point catches it they are recorded.
final class DecodingState {
    struct Scope {
        var usageStart: Int
        var diagnostics: [Diagnostic] = []
    }

    /// What a type asked of one mapping through keyed containers.
    struct KeyUsage {
        let id: Int
        let node: YAMLNode
        let pairs: [YAMLNode.Pair]
        let path: CodingPath
        /// Which entries the type asked for: a bit each for the first 64, then an array.
        var usedBits: UInt64 = 0
        var usedBeyond: [Bool] = []
        /// Keys the type asked for that the mapping lacks: the candidates for "did you mean".
        var missing: [String] = []
        var keyType: any CodingKey.Type
        var moreKeyTypes: [any CodingKey.Type] = []

        var keyTypes: [any CodingKey.Type] { [keyType] + moreKeyTypes }

        func isUsed(_ index: Int) -> Bool {
            index < 64 ? usedBits & (1 << UInt64(index)) != 0 : index - 64 < usedBeyond.count && usedBeyond[index - 64]
        }

        mutating func markUsed(_ index: Int) {
            if index < 64 {
                usedBits |= 1 << UInt64(index)
            } else {
                if usedBeyond.isEmpty { usedBeyond = [Bool](repeating: false, count: pairs.count - 64) }
                usedBeyond[index - 64] = true
            }
        }
    }

    let file: String
    let root: YAMLNode
    let limits: YAMLLimits
    let userInfo: [CodingUserInfoKey: Any]
    let visitBudget: Int
    private(set) var visits = 0
    private var activeDepth = 0
    private var nextUsageID = 0
    private(set) var usages: [KeyUsage] = []
    private var shapes: [ObjectIdentifier: TypeShape] = [:]
    private var scopes: [Scope] = [Scope(usageStart: 0)]

    init(file: String, root: YAMLNode, limits: YAMLLimits, userInfo: [CodingUserInfoKey: Any]) {
        self.file = file
        self.root = root
        self.limits = limits
        self.userInfo = userInfo
        self.visitBudget = limits.expansionBudget(writtenNodes: root.writtenCount)
    }

    // MARK: Errors and recovery

    func diagnostic(_ node: YAMLNode, _ path: CodingPath, _ message: String) -> Diagnostic {
        Diagnostic(.error, file: file, line: node.line, column: node.column, path: path.string, message: message)
    }

    func typeMismatch(_ type: Any.Type, _ node: YAMLNode, _ path: CodingPath, _ message: String) -> DecodingError {
        .typeMismatch(type, DecodingError.Context(
            codingPath: path.keys, debugDescription: message,
            underlyingError: DecodeIssue(diagnostics: [diagnostic(node, path, message)], fatal: false)))
    }

    func keyNotFound(_ key: any CodingKey, _ node: YAMLNode, _ path: CodingPath) -> DecodingError {
        let message = "missing required key '\(key.stringValue)'"
        return .keyNotFound(key, DecodingError.Context(
            codingPath: path.keys, debugDescription: message,
            underlyingError: DecodeIssue(diagnostics: [diagnostic(node, path, message)], fatal: false)))
    }

    func fatal(_ node: YAMLNode, _ path: CodingPath, _ message: String) -> DecodingError {
        .dataCorrupted(DecodingError.Context(
            codingPath: path.keys, debugDescription: message,
            underlyingError: DecodeIssue(diagnostics: [diagnostic(node, path, message)], fatal: true)))
    }

    /// The diagnostics an error stands for: its own when this decoder threw it; located by
    /// its coding path when model code threw a `DecodingError`; at `node` otherwise.
    func diagnostics(for error: any Error, node: YAMLNode, path: CodingPath) -> [Diagnostic] {
        if let decodingError = error as? DecodingError {
            if let issue = decodingError.yamlIssue { return issue.diagnostics }
            if let context = decodingError.yamlContext {
                let located = root.deepestNode(at: context.codingPath)
                var message = context.debugDescription
                if message.isEmpty {
                    switch decodingError {
                    case .keyNotFound(let key, _): message = "missing required key '\(key.stringValue)'"
                    case .valueNotFound: message = "expected a value, found \(Scalars.describe(located))"
                    default: message = "invalid value \(Scalars.describe(located))"
                    }
                }
                return [diagnostic(located, CodingPath(keys: context.codingPath), message)]
            }
        }
        return [diagnostic(node, path, "\(error)")]
    }

    /// A recovery point: records what `error` stands for in the current scope and returns,
    /// unless the error is fatal, which it throws on.
    func record(_ error: any Error, node: YAMLNode, path: CodingPath) throws {
        if let issue = (error as? DecodingError)?.yamlIssue, issue.fatal { throw error }
        scopes[scopes.count - 1].diagnostics += diagnostics(for: error, node: node, path: path)
    }

    /// Records a problem that does not stop decoding (an unknown key, a bad dictionary key).
    func report(_ diagnostic: Diagnostic) {
        scopes[scopes.count - 1].diagnostics.append(diagnostic)
    }

    /// Everything recorded at the root.
    var rootDiagnostics: [Diagnostic] { scopes.first?.diagnostics ?? [] }

    // MARK: Decoding

    /// Counts a visit, enforcing the expansion budget and the nesting bound.
    private func enter(_ node: YAMLNode, _ path: CodingPath) throws {
        visits += 1
        if visits > visitBudget {
            throw fatal(node, path, "aliases expand the document beyond the limit of \(visitBudget) nodes while decoding")
        }
        // Wrappers (optionals, `Located`) decode the same node again, so allow a few calls a level.
        if activeDepth > limits.maxDepth * 4 + 16 {
            throw fatal(node, path, "nesting deeper than \(limits.maxDepth) levels")
        }
    }

    /// A scalar read straight from the node at `parent` + `key` (the path is built only for
    /// an error).
    func scalar<T: ScalarDecodable>(
        _ type: T.Type, _ node: YAMLNode, parent: CodingPath, key: (any CodingKey)?
    ) throws -> T {
        visits += 1
        if visits > visitBudget {
            let path = key.map { parent.appending($0) } ?? parent
            throw fatal(node, path, "aliases expand the document beyond the limit of \(visitBudget) nodes while decoding")
        }
        if node.tag != nil, let message = Scalars.unsupportedTag(node) {
            throw typeMismatch(T.self, node, key.map { parent.appending($0) } ?? parent, message)
        }
        switch T.fromScalar(node) {
        case .success(let value): return value
        case .failure(let mismatch):
            throw typeMismatch(T.self, node, key.map { parent.appending($0) } ?? parent, mismatch.message)
        }
    }

    /// Decodes a value of any type from `node`: scalars directly; arrays and string-keyed
    /// dictionaries element by element, skipping (and recording) the elements that fail;
    /// anything else through its `init(from:)`, in a scope of its own.
    func decode<T: Decodable>(
        _ type: T.Type, node: YAMLNode, path: CodingPath
    ) throws -> T {
        let shape = shape(of: T.self)
        if case .scalar(let scalarType) = shape {
            if let value: T = try scalarType.scalarValue(self, node, parent: path, key: nil) { return value }
        }
        try enter(node, path)
        if node.tag != nil, let message = Scalars.unsupportedTag(node) { throw typeMismatch(T.self, node, path, message) }
        switch shape {
        case .collection(let collection):
            activeDepth += 1
            defer { activeDepth -= 1 }
            if let value = try collection.decodeSkipping(node: node, path: path, state: self) as? T { return value }
        case .choice(let names, let list):
            try checkChoice(names: names, list: list, T.self, node, path)
        case .scalar, .other:
            break
        }
        activeDepth += 1
        defer { activeDepth -= 1 }
        scopes.append(Scope(usageStart: usages.count))
        let decoder = NodeDecoder(node: node, state: self, path: path)
        do {
            let value = try T(from: decoder)
            let found = closeScope(succeeded: true)
            scopes[scopes.count - 1].diagnostics += found
            return value
        } catch {
            let found = closeScope(succeeded: false)
            throw attach(found, to: error, node: node, path: path)
        }
    }

    /// "expected one of a, b, c" for string enums that list their cases.
    private func checkChoice(names: [String], list: String, _ type: Any.Type, _ node: YAMLNode, _ path: CodingPath) throws {
        guard case .scalar(let text, _) = node.content, !node.isNull else {
            throw typeMismatch(type, node, path, "expected one of \(list), found \(Scalars.describe(node))")
        }
        if !names.contains(text) {
            throw typeMismatch(
                type, node, path,
                "expected one of \(list), found \(Scalars.describe(node))\(Suggestion.hint(for: text, among: names))")
        }
    }

    // MARK: Types

    /// How `decode` treats a type. Worked out once per type and decode, since the dynamic
    /// casts that tell are slow next to decoding a small value.
    enum TypeShape {
        /// Read straight from a scalar.
        case scalar(any ScalarDecodable.Type)
        /// An array or a string-keyed dictionary, decoded element by element.
        case collection(any SkippingCollection.Type)
        /// A string enum that lists its cases: its value is checked against them first.
        case choice(names: [String], list: String)
        /// Anything else: through its `init(from:)`.
        case other
    }

    func shape(of type: Any.Type) -> TypeShape {
        let id = ObjectIdentifier(type)
        if let known = shapes[id] { return known }
        let shape: TypeShape
        if let scalarType = type as? any ScalarDecodable.Type {
            shape = .scalar(scalarType)
        } else if let collection = type as? any SkippingCollection.Type {
            shape = .collection(collection)
        } else if let enumeration = type as? any (RawRepresentable & CaseIterable).Type,
            case let names = caseNames(enumeration), !names.isEmpty
        {
            shape = .choice(names: names, list: names.joined(separator: ", "))
        } else {
            shape = .other
        }
        shapes[id] = shape
        return shape
    }

    private func caseNames<E: RawRepresentable & CaseIterable>(_ type: E.Type) -> [String] {
        E.allCases.compactMap { $0.rawValue as? String }
    }

    /// Ends the innermost scope and returns its diagnostics, unknown keys included.
    private func closeScope(succeeded: Bool) -> [Diagnostic] {
        guard let scope = scopes.popLast() else { return [] }
        var found = scope.diagnostics
        if scope.usageStart < usages.count {
            for usage in usages[scope.usageStart...] {
                found += unknownKeys(usage, succeeded: succeeded)
            }
            usages.removeSubrange(scope.usageStart...)
        }
        return found
    }

    private func attach(_ found: [Diagnostic], to error: any Error, node: YAMLNode, path: CodingPath) -> any Error {
        guard !found.isEmpty else { return error }
        if let decodingError = error as? DecodingError {
            let fatal = decodingError.yamlIssue?.fatal ?? false
            let own = diagnostics(for: error, node: node, path: path)
            return decodingError.replacingIssue(DecodeIssue(diagnostics: own + found, fatal: fatal))
        }
        let own = diagnostics(for: error, node: node, path: path)
        return DecodingError.dataCorrupted(DecodingError.Context(
            codingPath: path.keys, debugDescription: "\(error)",
            underlyingError: DecodeIssue(diagnostics: own + found, fatal: false)))
    }

    // MARK: Keys

    /// Starts tracking a keyed container over `node`, or joins the tracking of another
    /// container over the same mapping in the same scope.
    func beginUsage(node: YAMLNode, pairs: [YAMLNode.Pair], path: CodingPath, keyType: any CodingKey.Type) -> (index: Int, id: Int) {
        let start = scopes.last?.usageStart ?? 0
        if start < usages.count {
            for index in start..<usages.count where usages[index].node === node && usages[index].path.isSame(as: path) {
                usages[index].moreKeyTypes.append(keyType)
                return (index, usages[index].id)
            }
        }
        nextUsageID += 1
        usages.append(KeyUsage(
            id: nextUsageID, node: node, pairs: pairs, path: path,
            keyType: keyType))
        return (usages.count - 1, nextUsageID)
    }

    func noteQueried(_ name: String, usage: (index: Int, id: Int), found index: Int?) {
        guard usage.index < usages.count, usages[usage.index].id == usage.id else { return }
        if let index {
            usages[usage.index].markUsed(index)
        } else {
            usages[usage.index].missing.append(name)
        }
    }

    /// The keys of a mapping nobody asked for. After a failed `init(from:)`, only keys that
    /// no container's key type can even name count: the others may just not have been
    /// reached.
    private func unknownKeys(_ usage: KeyUsage, succeeded: Bool) -> [Diagnostic] {
        var found: [Diagnostic] = []
        var candidates: [String]? = nil
        let keyTypes = usage.keyTypes
        for (index, pair) in usage.pairs.enumerated() where !usage.isUsed(index) {
            guard let name = pair.key.scalarValue else {
                found.append(diagnostic(pair.key, usage.path, "mapping keys must be scalars, found \(Scalars.describe(pair.key))"))
                continue
            }
            if !succeeded, keyTypes.contains(where: { $0.init(stringValue: name) != nil }) { continue }
            if candidates == nil {
                // Keys the type asked for or can name, that the mapping lacks.
                var names = Set(usage.missing)
                for keyType in keyTypes { names.formUnion(caseNames(keyType)) }
                names.subtract(usage.pairs.compactMap { $0.key.scalarValue })
                candidates = Array(names)
            }
            let hint = Suggestion.hint(for: name, among: candidates ?? [])
            found.append(diagnostic(pair.key, usage.path.appending(NameKey(name)), "unknown key '\(name)'\(hint)"))
        }
        return found
    }

    private func caseNames(_ keyType: any CodingKey.Type) -> [String] {
        guard let iterable = keyType as? any (CodingKey & CaseIterable).Type else { return [] }
        return allNames(iterable)
    }

    private func allNames<K: CodingKey & CaseIterable>(_ type: K.Type) -> [String] {
        K.allCases.map(\.stringValue)
    }
}

/// Collections the decoder builds itself, so that one bad element does not hide the others.
protocol SkippingCollection {
    static func decodeSkipping(node: YAMLNode, path: CodingPath, state: DecodingState) throws -> Self
}

extension Array: SkippingCollection where Element: Decodable {
    static func decodeSkipping(node: YAMLNode, path: CodingPath, state: DecodingState) throws -> [Element] {
        guard case .sequence(let items) = node.content else {
            throw state.typeMismatch(Self.self, node, path, "expected a sequence, found \(Scalars.describe(node))")
        }
        var result: [Element] = []
        result.reserveCapacity(items.count)
        if case .scalar(let scalarType) = state.shape(of: Element.self) {
            // The item's path is built only for a problem.
            for (index, item) in items.enumerated() {
                do {
                    if let value: Element = try scalarType.scalarValue(state, item, parent: path, key: IndexKey(index)) {
                        result.append(value)
                    }
                } catch {
                    try state.record(error, node: item, path: path.appending(IndexKey(index)))
                }
            }
            return result
        }
        for (index, item) in items.enumerated() {
            let itemPath = path.appending(IndexKey(index))
            do {
                result.append(try state.decode(Element.self, node: item, path: itemPath))
            } catch {
                try state.record(error, node: item, path: itemPath)
            }
        }
        return result
    }
}

extension Dictionary: SkippingCollection where Key == String, Value: Decodable {
    static func decodeSkipping(node: YAMLNode, path: CodingPath, state: DecodingState) throws -> [String: Value] {
        guard case .mapping(let pairs) = node.content else {
            throw state.typeMismatch(Self.self, node, path, "expected a mapping, found \(Scalars.describe(node))")
        }
        var result: [String: Value] = [:]
        result.reserveCapacity(pairs.count)
        let scalarType: (any ScalarDecodable.Type)?
        if case .scalar(let type) = state.shape(of: Value.self) { scalarType = type } else { scalarType = nil }
        for pair in pairs {
            guard let name = pair.key.scalarValue else {
                state.report(state.diagnostic(pair.key, path, "mapping keys must be scalars, found \(Scalars.describe(pair.key))"))
                continue
            }
            if let scalarType {
                // The value's path is built only for a problem.
                do {
                    if let value: Value = try scalarType.scalarValue(state, pair.value, parent: path, key: NameKey(name)) {
                        result[name] = value
                    }
                } catch {
                    try state.record(error, node: pair.value, path: path.appending(NameKey(name), keyNode: pair.key))
                }
                continue
            }
            let valuePath = path.appending(NameKey(name), keyNode: pair.key)
            do {
                result[name] = try state.decode(Value.self, node: pair.value, path: valuePath)
            } catch {
                try state.record(error, node: pair.value, path: valuePath)
            }
        }
        return result
    }
}
