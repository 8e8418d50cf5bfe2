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
        /// Where the scope's entries start in `missingKeys`, and the last usage id before it.
        var missingStart: Int
        var usageIDMark: Int
        var diagnostics: [Diagnostic] = []
    }

    /// What a type asked of one mapping through keyed containers.
    struct KeyUsage {
        let id: Int
        /// The mapping, and how many entries it has.
        let node: Int
        let entryCount: Int
        let path: CodingPath
        /// Which entries the type asked for: a bit each for the first 64, then an array.
        var usedBits: UInt64 = 0
        var usedBeyond: [Bool] = []
        var keyType: any CodingKey.Type
        var moreKeyTypes: [any CodingKey.Type] = []

        var keyTypes: [any CodingKey.Type] { [keyType] + moreKeyTypes }

        /// Whether the type asked for every entry: then no key is unknown.
        var usedAll: Bool {
            if entryCount < 64 { return usedBits == (1 << UInt64(entryCount)) - 1 }
            return usedBits == UInt64.max && usedBeyond.count == entryCount - 64 && !usedBeyond.contains(false)
        }

        func isUsed(_ index: Int) -> Bool {
            index < 64 ? usedBits & (1 << UInt64(index)) != 0 : index - 64 < usedBeyond.count && usedBeyond[index - 64]
        }

        mutating func markUsed(_ index: Int) {
            if index < 64 {
                usedBits |= 1 << UInt64(index)
            } else {
                if usedBeyond.isEmpty { usedBeyond = [Bool](repeating: false, count: entryCount - 64) }
                usedBeyond[index - 64] = true
            }
        }
    }

    let file: String
    /// The document's nodes, and its root.
    let nodes: NodeStore
    let root: Int
    let limits: YAMLLimits
    let userInfo: [CodingUserInfoKey: Any]
    let visitBudget: Int
    @exclusivity(unchecked) private(set) var visits = 0
    @exclusivity(unchecked) private var activeDepth = 0
    @exclusivity(unchecked) private var nextUsageID = 0
    @exclusivity(unchecked) private(set) var usages: [KeyUsage] = []
    /// Keys the types asked for that their mappings lack, by usage id: the candidates for
    /// "did you mean". One buffer for all open scopes, each scope's entries after those of the
    /// scopes around it (a container is asked while its `init(from:)` runs, not while a value
    /// inside it decodes), so that a missing key costs no allocation.
    @exclusivity(unchecked) private var missingKeys: [(usage: Int, name: String)] = []
    /// The types seen, and how `decode` treats them; a model has few.
    @exclusivity(unchecked) private var shapes: [(type: ObjectIdentifier, shape: TypeShape)] = []
    @exclusivity(unchecked) private var scopes: [Scope] = [Scope(usageStart: 0, missingStart: 0, usageIDMark: 0)]

    init(file: String, store: NodeStore, root: Int, limits: YAMLLimits, userInfo: [CodingUserInfoKey: Any]) {
        self.file = file
        self.nodes = store
        self.root = root
        self.limits = limits
        self.userInfo = userInfo
        self.visitBudget = limits.expansionBudget(writtenNodes: store.writtenCount(root))
    }

    // MARK: Errors and recovery

    func diagnostic(_ node: Int, _ path: CodingPath, _ message: String) -> Diagnostic {
        Diagnostic(.error, file: file, line: nodes.line(node), column: nodes.column(node), path: path.string, message: message)
    }

    func typeMismatch(_ type: Any.Type, _ node: Int, _ path: CodingPath, _ message: String) -> DecodingError {
        .typeMismatch(type, DecodingError.Context(
            codingPath: path.keys, debugDescription: message,
            underlyingError: DecodeIssue(diagnostics: [diagnostic(node, path, message)], fatal: false)))
    }

    func keyNotFound(_ key: any CodingKey, _ node: Int, _ path: CodingPath) -> DecodingError {
        let message = "missing required key '\(key.stringValue)'"
        return .keyNotFound(key, DecodingError.Context(
            codingPath: path.keys, debugDescription: message,
            underlyingError: DecodeIssue(diagnostics: [diagnostic(node, path, message)], fatal: false)))
    }

    func fatal(_ node: Int, _ path: CodingPath, _ message: String) -> DecodingError {
        .dataCorrupted(DecodingError.Context(
            codingPath: path.keys, debugDescription: message,
            underlyingError: DecodeIssue(diagnostics: [diagnostic(node, path, message)], fatal: true)))
    }

    /// The diagnostics an error stands for: its own when this decoder threw it; located by
    /// its coding path when model code threw a `DecodingError`; at `node` otherwise.
    func diagnostics(for error: any Error, node: Int, path: CodingPath) -> [Diagnostic] {
        if let decodingError = error as? DecodingError {
            if let issue = decodingError.yamlIssue { return issue.diagnostics }
            if let context = decodingError.yamlContext {
                let located = nodes.deepestNode(root, at: context.codingPath)
                var message = context.debugDescription
                if message.isEmpty {
                    switch decodingError {
                    case .keyNotFound(let key, _): message = "missing required key '\(key.stringValue)'"
                    case .valueNotFound: message = "expected a value, found \(Scalars.describe(nodes, located))"
                    default: message = "invalid value \(Scalars.describe(nodes, located))"
                    }
                }
                return [diagnostic(located, CodingPath(keys: context.codingPath), message)]
            }
        }
        return [diagnostic(node, path, "\(error)")]
    }

    /// A recovery point: records what `error` stands for in the current scope and returns,
    /// unless the error is fatal, which it throws on.
    func record(_ error: any Error, node: Int, path: CodingPath) throws {
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
    private func enter(_ node: Int, _ path: CodingPath) throws {
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
        _ type: T.Type, _ node: Int, parent: CodingPath, key: (any CodingKey)?
    ) throws -> T {
        visits += 1
        if visits > visitBudget {
            let path = key.map { parent.appending($0) } ?? parent
            throw fatal(node, path, "aliases expand the document beyond the limit of \(visitBudget) nodes while decoding")
        }
        if let message = Scalars.unsupportedTag(nodes, node) {
            throw typeMismatch(T.self, node, key.map { parent.appending($0) } ?? parent, message)
        }
        do {
            return try T.fromScalar(nodes, node)
        } catch {
            throw typeMismatch(T.self, node, key.map { parent.appending($0) } ?? parent, error.message)
        }
    }

    /// Decodes a value of any type from `node`: scalars directly; arrays and string-keyed
    /// dictionaries element by element, skipping (and recording) the elements that fail;
    /// anything else through its `init(from:)`, in a scope of its own.
    ///
    /// Generic code that is not specialized asks the runtime for the metadata of every
    /// generic type it names, each call; the common paths here name none but `T`, and the
    /// helpers that need `T?` are apart.
    func decode<T: Decodable>(
        _ type: T.Type, node: Int, path: CodingPath
    ) throws -> T {
        let shape = shape(of: T.self)
        switch shape {
        case .string:
            return try decodeScalar(T.self, String.self, node: node, path: path, shape: shape)
        case .scalar(let scalarType):
            return try decodeScalar(T.self, scalarType, node: node, path: path, shape: shape)
        case .collection(let collection):
            return try decodeCollection(T.self, collection, node: node, path: path, shape: shape)
        case .strings, .stringMap:
            return try decodeStrings(T.self, node: node, path: path, shape: shape)
        case .choice, .other:
            return try decodeValue(T.self, node: node, path: path, shape: shape, entered: false)
        }
    }

    /// `decode` of a scalar type, read straight from the node.
    @inline(never)
    private func decodeScalar<T: Decodable>(
        _ type: T.Type, _ scalarType: any ScalarDecodable.Type, node: Int, path: CodingPath, shape: TypeShape
    ) throws -> T {
        if let value: T = try scalarValue(scalarType, node, parent: path, key: nil) { return value }
        return try decodeValue(T.self, node: node, path: path, shape: shape, entered: false)
    }

    /// `decode` of a collection, element by element.
    @inline(never)
    private func decodeCollection<T: Decodable>(
        _ type: T.Type, _ collection: any SkippingCollection.Type, node: Int, path: CodingPath, shape: TypeShape
    ) throws -> T {
        try enter(node, path)
        if let message = Scalars.unsupportedTag(nodes, node) { throw typeMismatch(T.self, node, path, message) }
        activeDepth += 1
        let decoded: T?
        do {
            decoded = try collection.decodeSkipping(node: node, path: path, state: self) as? T
        } catch {
            activeDepth -= 1
            throw error
        }
        activeDepth -= 1
        if let decoded { return decoded }
        return try decodeValue(T.self, node: node, path: path, shape: shape, entered: true)
    }

    /// `decode` of `[String]` or `[String: String]` (profiles, tags, labels: common), by code
    /// made for them rather than the generic collections'.
    @inline(never)
    private func decodeStrings<T: Decodable>(_ type: T.Type, node: Int, path: CodingPath, shape: TypeShape) throws -> T {
        try enter(node, path)
        if let message = Scalars.unsupportedTag(nodes, node) { throw typeMismatch(T.self, node, path, message) }
        activeDepth += 1
        let decoded: Any
        do {
            if case .strings = shape {
                decoded = try decodeStringArray(node: node, path: path)
            } else {
                decoded = try decodeStringMap(node: node, path: path)
            }
        } catch {
            activeDepth -= 1
            throw error
        }
        activeDepth -= 1
        if let value = decoded as? T { return value }
        return try decodeValue(T.self, node: node, path: path, shape: shape, entered: true)
    }

    /// `decode` of anything else: the visit counted and the tag checked (unless `entered`),
    /// a string enum's value checked against its cases, then the type's `init(from:)` in a
    /// scope of its own.
    private func decodeValue<T: Decodable>(
        _ type: T.Type, node: Int, path: CodingPath, shape: TypeShape, entered: Bool
    ) throws -> T {
        if !entered {
            try enter(node, path)
            if let message = Scalars.unsupportedTag(nodes, node) { throw typeMismatch(T.self, node, path, message) }
        }
        if case .choice(let names, let list) = shape {
            try checkChoice(names: names, list: list, T.self, node, path)
        }
        activeDepth += 1
        defer { activeDepth -= 1 }
        scopes.append(Scope(usageStart: usages.count, missingStart: missingKeys.count, usageIDMark: nextUsageID))
        let decoder = NodeDecoder(node: node, state: self, path: path)
        do {
            let value = try T(from: decoder)
            let found = closeScope(succeeded: true)
            if !found.isEmpty { scopes[scopes.count - 1].diagnostics += found }
            return value
        } catch {
            let found = closeScope(succeeded: false)
            throw attach(found, to: error, node: node, path: path)
        }
    }

    /// "expected one of a, b, c" for string enums that list their cases.
    private func checkChoice(names: [String], list: String, _ type: Any.Type, _ node: Int, _ path: CodingPath) throws {
        guard nodes.kind(node) == .scalar, !nodes.isNull(node) else {
            throw typeMismatch(type, node, path, "expected one of \(list), found \(Scalars.describe(nodes, node))")
        }
        if !names.contains(where: { nodes.scalar(node, equals: $0) }) {
            let text = nodes.string(node)
            throw typeMismatch(
                type, node, path,
                "expected one of \(list), found \(Scalars.describe(nodes, node))\(Suggestion.hint(for: text, among: names))")
        }
    }

    // MARK: Types

    /// How `decode` treats a type. Worked out once per type and decode, since the dynamic
    /// casts that tell are slow next to decoding a small value.
    enum TypeShape {
        /// Read straight from a scalar: `String`, the most common, or another type.
        case string
        case scalar(any ScalarDecodable.Type)
        /// An array or a string-keyed dictionary, decoded element by element.
        case collection(any SkippingCollection.Type)
        /// `[String]` and `[String: String]`: collections too, with code of their own.
        case strings
        case stringMap
        /// A string enum that lists its cases: its value is checked against them first.
        case choice(names: [String], list: String)
        /// Anything else: through its `init(from:)`.
        case other

        /// The type read straight from a scalar, if it is one.
        var scalarType: (any ScalarDecodable.Type)? {
            switch self {
            case .string: String.self
            case .scalar(let type): type
            case .collection, .strings, .stringMap, .choice, .other: nil
            }
        }
    }

    /// A scalar of `scalarType` (as `shape(of:)` found for `T`, so the same type) as `T`.
    func scalarValue<T>(
        _ scalarType: any ScalarDecodable.Type, _ node: Int, parent: CodingPath, key: (any CodingKey)?
    ) throws -> T? {
        if scalarType == String.self { return try scalar(String.self, node, parent: parent, key: key) as? T }
        return try scalarType.scalarValue(self, node, parent: parent, key: key)
    }

    func shape(of type: Any.Type) -> TypeShape {
        let id = ObjectIdentifier(type)
        for known in shapes where known.type == id { return known.shape }
        let shape: TypeShape
        if type == String.self {
            shape = .string
        } else if type == [String].self {
            shape = .strings
        } else if type == [String: String].self {
            shape = .stringMap
        } else if let scalarType = type as? any ScalarDecodable.Type {
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
        shapes.append((id, shape))
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
                let unknown = unknownKeys(usage, succeeded: succeeded)
                if !unknown.isEmpty { found += unknown }
            }
            usages.removeSubrange(scope.usageStart...)
        }
        if scope.missingStart < missingKeys.count {
            // The scope's entries go; an outer container's (asked from inside, unusually) stay.
            var kept = scope.missingStart
            for index in scope.missingStart..<missingKeys.count where missingKeys[index].usage <= scope.usageIDMark {
                missingKeys[kept] = missingKeys[index]
                kept += 1
            }
            missingKeys.removeSubrange(kept...)
        }
        return found
    }

    private func attach(_ found: [Diagnostic], to error: any Error, node: Int, path: CodingPath) -> any Error {
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
    func beginUsage(node: Int, path: CodingPath, keyType: any CodingKey.Type) -> (index: Int, id: Int) {
        let start = scopes.last?.usageStart ?? 0
        if start < usages.count {
            for index in start..<usages.count where usages[index].node == node && usages[index].path.isSame(as: path) {
                usages[index].moreKeyTypes.append(keyType)
                return (index, usages[index].id)
            }
        }
        nextUsageID += 1
        usages.append(KeyUsage(
            id: nextUsageID, node: node, entryCount: nodes.childCount(node), path: path, keyType: keyType))
        return (usages.count - 1, nextUsageID)
    }

    func noteQueried(_ name: String, usage: (index: Int, id: Int), found index: Int?) {
        guard usage.index < usages.count, usages[usage.index].id == usage.id else { return }
        if let index {
            usages[usage.index].markUsed(index)
        } else {
            missingKeys.append((usage.id, name))
        }
    }

    /// The keys of a mapping nobody asked for. After a failed `init(from:)`, only keys that
    /// no container's key type can even name count: the others may just not have been
    /// reached.
    private func unknownKeys(_ usage: KeyUsage, succeeded: Bool) -> [Diagnostic] {
        if usage.usedAll { return [] }
        var found: [Diagnostic] = []
        var candidates: [String]? = nil
        let keyTypes = usage.keyTypes
        let entryCount = usage.entryCount
        for index in 0..<entryCount where !usage.isUsed(index) {
            let key = nodes.key(usage.node, index)
            guard let name = nodes.scalarValue(key) else {
                found.append(diagnostic(key, usage.path, "mapping keys must be scalars, found \(Scalars.describe(nodes, key))"))
                continue
            }
            if !succeeded, keyTypes.contains(where: { $0.init(stringValue: name) != nil }) { continue }
            if candidates == nil {
                // Keys the type asked for or can name, that the mapping lacks.
                var names = Set(missingKeys.lazy.filter { $0.usage == usage.id }.map(\.name))
                for keyType in keyTypes { names.formUnion(caseNames(keyType)) }
                names.subtract((0..<entryCount).compactMap { nodes.scalarValue(nodes.key(usage.node, $0)) })
                candidates = Array(names)
            }
            let hint = Suggestion.hint(for: name, among: candidates ?? [])
            found.append(diagnostic(key, usage.path.appending(NameKey(name)), "unknown key '\(name)'\(hint)"))
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

extension DecodingState {
    /// `[String].decodeSkipping`: a sequence of strings, the items that fail skipped.
    func decodeStringArray(node: Int, path: CodingPath) throws -> [String] {
        guard nodes.kind(node) == .sequence else {
            throw typeMismatch([String].self, node, path, "expected a sequence, found \(Scalars.describe(nodes, node))")
        }
        let count = nodes.childCount(node)
        var result: [String] = []
        result.reserveCapacity(count)
        for index in 0..<count {
            let item = nodes.item(node, index)
            // The item's path is built only for a problem.
            do {
                result.append(try scalar(String.self, item, parent: path, key: IndexKey(index)))
            } catch {
                try record(error, node: item, path: path.appending(IndexKey(index)))
            }
        }
        return result
    }

    /// `[String: String].decodeSkipping`: a mapping of strings, the entries that fail skipped.
    func decodeStringMap(node: Int, path: CodingPath) throws -> [String: String] {
        guard nodes.kind(node) == .mapping else {
            throw typeMismatch(
                [String: String].self, node, path, "expected a mapping, found \(Scalars.describe(nodes, node))")
        }
        let count = nodes.childCount(node)
        var result = [String: String](minimumCapacity: count)
        for entry in 0..<count {
            let key = nodes.key(node, entry)
            let value = nodes.value(node, entry)
            guard let name = nodes.scalarValue(key) else {
                report(diagnostic(key, path, "mapping keys must be scalars, found \(Scalars.describe(nodes, key))"))
                continue
            }
            // The value's path is built only for a problem.
            do {
                result[name] = try scalar(String.self, value, parent: path, key: NameKey(name))
            } catch {
                try record(error, node: value, path: path.appending(NameKey(name), keyNode: key))
            }
        }
        return result
    }
}

/// Collections the decoder builds itself, so that one bad element does not hide the others.
protocol SkippingCollection {
    static func decodeSkipping(node: Int, path: CodingPath, state: DecodingState) throws -> Self
}

extension Array: SkippingCollection where Element: Decodable {
    static func decodeSkipping(node: Int, path: CodingPath, state: DecodingState) throws -> [Element] {
        let nodes = state.nodes
        guard nodes.kind(node) == .sequence else {
            throw state.typeMismatch(Self.self, node, path, "expected a sequence, found \(Scalars.describe(nodes, node))")
        }
        let count = nodes.childCount(node)
        var result: [Element] = []
        result.reserveCapacity(count)
        if let scalarType = state.shape(of: Element.self).scalarType {
            // The item's path is built only for a problem.
            for index in 0..<count {
                let item = nodes.item(node, index)
                do {
                    if let value: Element = try state.scalarValue(scalarType, item, parent: path, key: IndexKey(index)) {
                        result.append(value)
                    }
                } catch {
                    try state.record(error, node: item, path: path.appending(IndexKey(index)))
                }
            }
            return result
        }
        for index in 0..<count {
            let item = nodes.item(node, index)
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
    static func decodeSkipping(node: Int, path: CodingPath, state: DecodingState) throws -> [String: Value] {
        let nodes = state.nodes
        guard nodes.kind(node) == .mapping else {
            throw state.typeMismatch(Self.self, node, path, "expected a mapping, found \(Scalars.describe(nodes, node))")
        }
        let count = nodes.childCount(node)
        var result = [String: Value](minimumCapacity: count)
        let scalarType = state.shape(of: Value.self).scalarType
        for entry in 0..<count {
            let key = nodes.key(node, entry)
            let value = nodes.value(node, entry)
            guard let name = nodes.scalarValue(key) else {
                state.report(state.diagnostic(key, path, "mapping keys must be scalars, found \(Scalars.describe(nodes, key))"))
                continue
            }
            if let scalarType {
                // The value's path is built only for a problem.
                do {
                    if let decoded: Value = try state.scalarValue(scalarType, value, parent: path, key: NameKey(name)) {
                        result[name] = decoded
                    }
                } catch {
                    try state.record(error, node: value, path: path.appending(NameKey(name), keyNode: key))
                }
                continue
            }
            let valuePath = path.appending(NameKey(name), keyNode: key)
            do {
                result[name] = try state.decode(Value.self, node: value, path: valuePath)
            } catch {
                try state.record(error, node: value, path: valuePath)
            }
        }
        return result
    }
}
