/// The `Decoder` a type's `init(from:)` sees: one node, its coding path, and the shared state.
struct NodeDecoder: Decoder {
    /// The node, in `state.nodes` (or a missing value's handle: see `NodeStore`).
    let node: Int
    let state: DecodingState
    let path: CodingPath

    var codingPath: [any CodingKey] { path.keys }
    var userInfo: [CodingUserInfoKey: Any] { state.userInfo }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        guard state.nodes.kind(node) == .mapping else {
            throw state.typeMismatch(
                [String: Any].self, node, path, "expected a mapping, found \(Scalars.describe(state.nodes, node))")
        }
        let usage = state.beginUsage(node: node, path: path, keyType: Key.self)
        return KeyedDecodingContainer(KeyedContainer<Key>(decoder: self, usage: usage))
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        guard state.nodes.kind(node) == .sequence else {
            throw state.typeMismatch(
                [Any].self, node, path, "expected a sequence, found \(Scalars.describe(state.nodes, node))")
        }
        return UnkeyedContainer(decoder: self)
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer {
        SingleValueContainer(decoder: self)
    }

    /// A null node standing for a missing value, located at `node`.
    func missingNode() -> Int {
        NodeTable.missing(at: node)
    }
}

struct KeyedContainer<Key: CodingKey>: KeyedDecodingContainerProtocol {
    let decoder: NodeDecoder
    let usage: (index: Int, id: Int)
    /// How many entries the mapping has.
    let count: Int
    /// Key text to entry index, for mappings too long to search.
    let index: [String: Int]?

    init(decoder: NodeDecoder, usage: (index: Int, id: Int)) {
        self.decoder = decoder
        self.usage = usage
        let nodes = decoder.state.nodes
        let mapping = decoder.node
        count = nodes.childCount(mapping)
        if count > 16 {
            var index: [String: Int] = [:]
            index.reserveCapacity(count)
            for position in 0..<count {
                if let name = nodes.scalarValue(nodes.key(mapping, position)), index[name] == nil { index[name] = position }
            }
            self.index = index
        } else {
            self.index = nil
        }
    }

    var codingPath: [any CodingKey] { decoder.codingPath }
    private var state: DecodingState { decoder.state }

    var allKeys: [Key] {
        (0..<count).compactMap { entry in state.nodes.scalarValue(keyNode(entry)).flatMap { Key(stringValue: $0) } }
    }

    private func keyNode(_ entry: Int) -> Int { decoder.state.nodes.key(decoder.node, entry) }
    private func valueNode(_ entry: Int) -> Int { decoder.state.nodes.value(decoder.node, entry) }

    /// The entry (its position in the mapping) named `name`.
    private func entry(named name: String) -> Int? {
        if let index { return index[name] }
        var name = name
        return name.withUTF8 { bytes in
            let isASCII = NodeTable.isASCII(bytes)
            for entry in 0..<count where state.nodes.scalar(keyNode(entry), equalsUTF8: bytes, isASCII: isASCII) {
                return entry
            }
            return nil
        }
    }

    /// The entry for `key`, noting that the type asked for it.
    private func find(_ key: Key) -> Int? {
        let name = key.stringValue
        let found = entry(named: name)
        state.noteQueried(name, usage: usage, found: found)
        return found
    }

    private func required(_ key: Key) throws -> Int {
        guard let found = find(key) else { throw state.keyNotFound(key, decoder.node, decoder.path) }
        return found
    }

    func contains(_ key: Key) -> Bool {
        find(key) != nil
    }

    func decodeNil(forKey key: Key) throws -> Bool {
        state.nodes.isNull(valueNode(try required(key)))
    }

    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T {
        let entry = try required(key)
        return try state.decode(
            T.self, node: valueNode(entry), path: decoder.path.appending(key, keyNode: keyNode(entry)))
    }

    /// Absent or null gives nil; a value that fails to decode is recorded and gives nil too,
    /// so that the other fields still decode and report.
    func decodeIfPresent<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T? {
        guard let found = find(key) else { return nil }
        let value = valueNode(found)
        if state.nodes.isNull(value) { return nil }
        let path = decoder.path.appending(key, keyNode: keyNode(found))
        do {
            return try state.decode(T.self, node: value, path: path)
        } catch {
            try state.record(error, node: value, path: path)
            return nil
        }
    }

    private func scalar<T: ScalarDecodable>(_ type: T.Type, forKey key: Key) throws -> T {
        try state.scalar(T.self, valueNode(try required(key)), parent: decoder.path, key: key)
    }

    private func scalarIfPresent<T: ScalarDecodable>(_ type: T.Type, forKey key: Key) throws -> T? {
        guard let found = find(key) else { return nil }
        let value = valueNode(found)
        if state.nodes.isNull(value) { return nil }
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
        try child(try required(key), key).container(keyedBy: type)
    }

    func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
        try child(try required(key), key).unkeyedContainer()
    }

    func superDecoder() throws -> any Decoder {
        try superDecoder(named: NameKey("super"))
    }

    func superDecoder(forKey key: Key) throws -> any Decoder {
        try superDecoder(named: key)
    }

    private func superDecoder(named key: any CodingKey) throws -> any Decoder {
        let name = key.stringValue
        let found = entry(named: name)
        state.noteQueried(name, usage: usage, found: found)
        guard let found else {
            return NodeDecoder(node: decoder.missingNode(), state: state, path: decoder.path.appending(key))
        }
        return NodeDecoder(
            node: valueNode(found), state: state, path: decoder.path.appending(key, keyNode: keyNode(found)))
    }

    private func child(_ entry: Int, _ key: Key) -> NodeDecoder {
        NodeDecoder(node: valueNode(entry), state: state, path: decoder.path.appending(key, keyNode: keyNode(entry)))
    }
}

struct UnkeyedContainer: UnkeyedDecodingContainer {
    let decoder: NodeDecoder
    /// How many items the sequence has.
    let itemCount: Int
    private(set) var currentIndex = 0

    init(decoder: NodeDecoder) {
        self.decoder = decoder
        self.itemCount = decoder.state.nodes.childCount(decoder.node)
    }

    var codingPath: [any CodingKey] { decoder.codingPath }
    var count: Int? { itemCount }
    var isAtEnd: Bool { currentIndex >= itemCount }
    private var state: DecodingState { decoder.state }
    private var itemPath: CodingPath { decoder.path.appending(IndexKey(currentIndex)) }

    private func current<T>(_ type: T.Type) throws -> Int {
        guard currentIndex < itemCount else {
            let message = "expected another item, found the end of the sequence"
            throw DecodingError.valueNotFound(type, DecodingError.Context(
                codingPath: itemPath.keys, debugDescription: message,
                underlyingError: DecodeIssue(
                    diagnostics: [state.diagnostic(decoder.node, decoder.path, message)], fatal: false)))
        }
        return state.nodes.item(decoder.node, currentIndex)
    }

    mutating func decodeNil() throws -> Bool {
        guard state.nodes.isNull(try current(Never.self)) else { return false }
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

    func decodeNil() -> Bool { state.nodes.isNull(decoder.node) }

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
