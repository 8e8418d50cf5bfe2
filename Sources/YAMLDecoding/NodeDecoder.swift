/// The `Decoder` a type's `init(from:)` sees: one node, its coding path, and the shared state.
struct NodeDecoder: Decoder {
    let node: YAMLNode
    let state: DecodingState
    let path: CodingPath

    var codingPath: [any CodingKey] { path.keys }
    var userInfo: [CodingUserInfoKey: Any] { state.userInfo }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        guard case .mapping(let pairs) = node.content else {
            throw state.typeMismatch(
                [String: Any].self, node, path, "expected a mapping, found \(Scalars.describe(node))")
        }
        let usage = state.beginUsage(node: node, pairs: pairs, path: path, keyType: Key.self)
        return KeyedDecodingContainer(KeyedContainer<Key>(decoder: self, pairs: pairs, usage: usage))
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        guard case .sequence(let items) = node.content else {
            throw state.typeMismatch([Any].self, node, path, "expected a sequence, found \(Scalars.describe(node))")
        }
        return UnkeyedContainer(decoder: self, items: items)
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer {
        SingleValueContainer(decoder: self)
    }

    /// A null node standing for a missing value, located at `node`.
    func missingNode() -> YAMLNode {
        YAMLNode(
            content: .scalar("", .plain), line: node.line, column: node.column, tag: nil, anchor: nil,
            expandedCount: 1, writtenCount: 1, height: 1)
    }
}

struct KeyedContainer<Key: CodingKey>: KeyedDecodingContainerProtocol {
    let decoder: NodeDecoder
    let pairs: [YAMLNode.Pair]
    let usage: (index: Int, id: Int)
    /// Key text to entry index, for mappings too long to search.
    let index: [String: Int]?

    init(decoder: NodeDecoder, pairs: [YAMLNode.Pair], usage: (index: Int, id: Int)) {
        self.decoder = decoder
        self.pairs = pairs
        self.usage = usage
        if pairs.count > 16 {
            var index: [String: Int] = [:]
            index.reserveCapacity(pairs.count)
            for (position, pair) in pairs.enumerated() {
                if let name = pair.key.scalarValue, index[name] == nil { index[name] = position }
            }
            self.index = index
        } else {
            self.index = nil
        }
    }

    var codingPath: [any CodingKey] { decoder.codingPath }
    private var state: DecodingState { decoder.state }

    var allKeys: [Key] {
        pairs.compactMap { pair in pair.key.scalarValue.flatMap { Key(stringValue: $0) } }
    }

    /// The entry for `key`, noting that the type asked for it.
    private func find(_ key: Key) -> Int? {
        let name = key.stringValue
        let found: Int?
        if let index {
            found = index[name]
        } else {
            found = pairs.firstIndex { pair in
                if case .scalar(let text, _) = pair.key.content { return text == name }
                return false
            }
        }
        state.noteQueried(name, usage: usage, found: found)
        return found
    }

    private func required(_ key: Key) throws -> YAMLNode.Pair {
        guard let found = find(key) else { throw state.keyNotFound(key, decoder.node, decoder.path) }
        return pairs[found]
    }

    func contains(_ key: Key) -> Bool {
        find(key) != nil
    }

    func decodeNil(forKey key: Key) throws -> Bool {
        try required(key).value.isNull
    }

    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T {
        let pair = try required(key)
        return try state.decode(T.self, node: pair.value, path: decoder.path.appending(key, keyNode: pair.key))
    }

    /// Absent or null gives nil; a value that fails to decode is recorded and gives nil too,
    /// so that the other fields still decode and report.
    func decodeIfPresent<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T? {
        guard let found = find(key) else { return nil }
        let pair = pairs[found]
        if pair.value.isNull { return nil }
        let path = decoder.path.appending(key, keyNode: pair.key)
        do {
            return try state.decode(T.self, node: pair.value, path: path)
        } catch {
            try state.record(error, node: pair.value, path: path)
            return nil
        }
    }

    private func scalar<T: ScalarDecodable>(_ type: T.Type, forKey key: Key) throws -> T {
        try state.scalar(T.self, try required(key).value, parent: decoder.path, key: key)
    }

    private func scalarIfPresent<T: ScalarDecodable>(_ type: T.Type, forKey key: Key) throws -> T? {
        guard let found = find(key) else { return nil }
        let value = pairs[found].value
        if value.isNull { return nil }
        do {
            return try state.scalar(T.self, value, parent: decoder.path, key: key)
        } catch {
            try state.record(error, node: value, path: decoder.path.appending(key))
            return nil
        }
    }

    func decode(_ type: Bool.Type, forKey key: Key) throws -> Bool { try scalar(type, forKey: key) }
    func decode(_ type: String.Type, forKey key: Key) throws -> String { try scalar(type, forKey: key) }
    func decode(_ type: Double.Type, forKey key: Key) throws -> Double { try scalar(type, forKey: key) }
    func decode(_ type: Float.Type, forKey key: Key) throws -> Float { try scalar(type, forKey: key) }
    func decode(_ type: Int.Type, forKey key: Key) throws -> Int { try scalar(type, forKey: key) }
    func decode(_ type: Int8.Type, forKey key: Key) throws -> Int8 { try scalar(type, forKey: key) }
    func decode(_ type: Int16.Type, forKey key: Key) throws -> Int16 { try scalar(type, forKey: key) }
    func decode(_ type: Int32.Type, forKey key: Key) throws -> Int32 { try scalar(type, forKey: key) }
    func decode(_ type: Int64.Type, forKey key: Key) throws -> Int64 { try scalar(type, forKey: key) }
    func decode(_ type: Int128.Type, forKey key: Key) throws -> Int128 { try scalar(type, forKey: key) }
    func decode(_ type: UInt.Type, forKey key: Key) throws -> UInt { try scalar(type, forKey: key) }
    func decode(_ type: UInt8.Type, forKey key: Key) throws -> UInt8 { try scalar(type, forKey: key) }
    func decode(_ type: UInt16.Type, forKey key: Key) throws -> UInt16 { try scalar(type, forKey: key) }
    func decode(_ type: UInt32.Type, forKey key: Key) throws -> UInt32 { try scalar(type, forKey: key) }
    func decode(_ type: UInt64.Type, forKey key: Key) throws -> UInt64 { try scalar(type, forKey: key) }
    func decode(_ type: UInt128.Type, forKey key: Key) throws -> UInt128 { try scalar(type, forKey: key) }

    func decodeIfPresent(_ type: Bool.Type, forKey key: Key) throws -> Bool? { try scalarIfPresent(type, forKey: key) }
    func decodeIfPresent(_ type: String.Type, forKey key: Key) throws -> String? { try scalarIfPresent(type, forKey: key) }
    func decodeIfPresent(_ type: Double.Type, forKey key: Key) throws -> Double? { try scalarIfPresent(type, forKey: key) }
    func decodeIfPresent(_ type: Float.Type, forKey key: Key) throws -> Float? { try scalarIfPresent(type, forKey: key) }
    func decodeIfPresent(_ type: Int.Type, forKey key: Key) throws -> Int? { try scalarIfPresent(type, forKey: key) }
    func decodeIfPresent(_ type: Int8.Type, forKey key: Key) throws -> Int8? { try scalarIfPresent(type, forKey: key) }
    func decodeIfPresent(_ type: Int16.Type, forKey key: Key) throws -> Int16? { try scalarIfPresent(type, forKey: key) }
    func decodeIfPresent(_ type: Int32.Type, forKey key: Key) throws -> Int32? { try scalarIfPresent(type, forKey: key) }
    func decodeIfPresent(_ type: Int64.Type, forKey key: Key) throws -> Int64? { try scalarIfPresent(type, forKey: key) }
    func decodeIfPresent(_ type: Int128.Type, forKey key: Key) throws -> Int128? { try scalarIfPresent(type, forKey: key) }
    func decodeIfPresent(_ type: UInt.Type, forKey key: Key) throws -> UInt? { try scalarIfPresent(type, forKey: key) }
    func decodeIfPresent(_ type: UInt8.Type, forKey key: Key) throws -> UInt8? { try scalarIfPresent(type, forKey: key) }
    func decodeIfPresent(_ type: UInt16.Type, forKey key: Key) throws -> UInt16? { try scalarIfPresent(type, forKey: key) }
    func decodeIfPresent(_ type: UInt32.Type, forKey key: Key) throws -> UInt32? { try scalarIfPresent(type, forKey: key) }
    func decodeIfPresent(_ type: UInt64.Type, forKey key: Key) throws -> UInt64? { try scalarIfPresent(type, forKey: key) }
    func decodeIfPresent(_ type: UInt128.Type, forKey key: Key) throws -> UInt128? { try scalarIfPresent(type, forKey: key) }

    func nestedContainer<NestedKey: CodingKey>(
        keyedBy type: NestedKey.Type, forKey key: Key
    ) throws -> KeyedDecodingContainer<NestedKey> {
        let pair = try required(key)
        return try child(pair, key).container(keyedBy: type)
    }

    func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
        let pair = try required(key)
        return try child(pair, key).unkeyedContainer()
    }

    func superDecoder() throws -> any Decoder {
        try superDecoder(named: NameKey("super"))
    }

    func superDecoder(forKey key: Key) throws -> any Decoder {
        try superDecoder(named: key)
    }

    private func superDecoder(named key: any CodingKey) throws -> any Decoder {
        let name = key.stringValue
        let found = index?[name] ?? pairs.firstIndex { $0.key.scalarValue == name }
        state.noteQueried(name, usage: usage, found: found)
        guard let found else {
            return NodeDecoder(node: decoder.missingNode(), state: state, path: decoder.path.appending(key))
        }
        return NodeDecoder(
            node: pairs[found].value, state: state, path: decoder.path.appending(key, keyNode: pairs[found].key))
    }

    private func child(_ pair: YAMLNode.Pair, _ key: Key) -> NodeDecoder {
        NodeDecoder(node: pair.value, state: state, path: decoder.path.appending(key, keyNode: pair.key))
    }
}

struct UnkeyedContainer: UnkeyedDecodingContainer {
    let decoder: NodeDecoder
    let items: [YAMLNode]
    private(set) var currentIndex = 0

    init(decoder: NodeDecoder, items: [YAMLNode]) {
        self.decoder = decoder
        self.items = items
    }

    var codingPath: [any CodingKey] { decoder.codingPath }
    var count: Int? { items.count }
    var isAtEnd: Bool { currentIndex >= items.count }
    private var state: DecodingState { decoder.state }
    private var itemPath: CodingPath { decoder.path.appending(IndexKey(currentIndex)) }

    private func current<T>(_ type: T.Type) throws -> YAMLNode {
        guard currentIndex < items.count else {
            let message = "expected another item, found the end of the sequence"
            throw DecodingError.valueNotFound(type, DecodingError.Context(
                codingPath: itemPath.keys, debugDescription: message,
                underlyingError: DecodeIssue(
                    diagnostics: [state.diagnostic(decoder.node, decoder.path, message)], fatal: false)))
        }
        return items[currentIndex]
    }

    mutating func decodeNil() throws -> Bool {
        guard try current(Never.self).isNull else { return false }
        currentIndex += 1
        return true
    }

    mutating func decode<T: Decodable>(_ type: T.Type) throws -> T {
        let value = try state.decode(T.self, node: try current(T.self), path: itemPath)
        currentIndex += 1
        return value
    }

    private mutating func scalar<T: ScalarDecodable>(_ type: T.Type) throws -> T {
        let value = try state.scalar(T.self, try current(T.self), parent: decoder.path, key: IndexKey(currentIndex))
        currentIndex += 1
        return value
    }

    mutating func decode(_ type: Bool.Type) throws -> Bool { try scalar(type) }
    mutating func decode(_ type: String.Type) throws -> String { try scalar(type) }
    mutating func decode(_ type: Double.Type) throws -> Double { try scalar(type) }
    mutating func decode(_ type: Float.Type) throws -> Float { try scalar(type) }
    mutating func decode(_ type: Int.Type) throws -> Int { try scalar(type) }
    mutating func decode(_ type: Int8.Type) throws -> Int8 { try scalar(type) }
    mutating func decode(_ type: Int16.Type) throws -> Int16 { try scalar(type) }
    mutating func decode(_ type: Int32.Type) throws -> Int32 { try scalar(type) }
    mutating func decode(_ type: Int64.Type) throws -> Int64 { try scalar(type) }
    mutating func decode(_ type: Int128.Type) throws -> Int128 { try scalar(type) }
    mutating func decode(_ type: UInt.Type) throws -> UInt { try scalar(type) }
    mutating func decode(_ type: UInt8.Type) throws -> UInt8 { try scalar(type) }
    mutating func decode(_ type: UInt16.Type) throws -> UInt16 { try scalar(type) }
    mutating func decode(_ type: UInt32.Type) throws -> UInt32 { try scalar(type) }
    mutating func decode(_ type: UInt64.Type) throws -> UInt64 { try scalar(type) }
    mutating func decode(_ type: UInt128.Type) throws -> UInt128 { try scalar(type) }

    mutating func nestedContainer<NestedKey: CodingKey>(
        keyedBy type: NestedKey.Type
    ) throws -> KeyedDecodingContainer<NestedKey> {
        let container = try nextDecoder().container(keyedBy: type)
        currentIndex += 1
        return container
    }

    mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer {
        let container = try nextDecoder().unkeyedContainer()
        currentIndex += 1
        return container
    }

    mutating func superDecoder() throws -> any Decoder {
        let decoder = try nextDecoder()
        currentIndex += 1
        return decoder
    }

    private func nextDecoder() throws -> NodeDecoder {
        NodeDecoder(node: try current(Any.self), state: state, path: itemPath)
    }
}

struct SingleValueContainer: SingleValueDecodingContainer {
    let decoder: NodeDecoder

    var codingPath: [any CodingKey] { decoder.codingPath }
    private var state: DecodingState { decoder.state }

    func decodeNil() -> Bool { decoder.node.isNull }

    func decode<T: Decodable>(_ type: T.Type) throws -> T {
        try state.decode(T.self, node: decoder.node, path: decoder.path)
    }

    private func scalar<T: ScalarDecodable>(_ type: T.Type) throws -> T {
        try state.scalar(T.self, decoder.node, parent: decoder.path, key: nil)
    }

    func decode(_ type: Bool.Type) throws -> Bool { try scalar(type) }
    func decode(_ type: String.Type) throws -> String { try scalar(type) }
    func decode(_ type: Double.Type) throws -> Double { try scalar(type) }
    func decode(_ type: Float.Type) throws -> Float { try scalar(type) }
    func decode(_ type: Int.Type) throws -> Int { try scalar(type) }
    func decode(_ type: Int8.Type) throws -> Int8 { try scalar(type) }
    func decode(_ type: Int16.Type) throws -> Int16 { try scalar(type) }
    func decode(_ type: Int32.Type) throws -> Int32 { try scalar(type) }
    func decode(_ type: Int64.Type) throws -> Int64 { try scalar(type) }
    func decode(_ type: Int128.Type) throws -> Int128 { try scalar(type) }
    func decode(_ type: UInt.Type) throws -> UInt { try scalar(type) }
    func decode(_ type: UInt8.Type) throws -> UInt8 { try scalar(type) }
    func decode(_ type: UInt16.Type) throws -> UInt16 { try scalar(type) }
    func decode(_ type: UInt32.Type) throws -> UInt32 { try scalar(type) }
    func decode(_ type: UInt64.Type) throws -> UInt64 { try scalar(type) }
    func decode(_ type: UInt128.Type) throws -> UInt128 { try scalar(type) }
}
