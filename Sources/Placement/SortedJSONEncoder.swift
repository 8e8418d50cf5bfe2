import Foundation

/// Writes `Encodable` values as pretty-printed JSON with sorted keys: byte for byte what
/// Foundation's `JSONEncoder` writes with `[.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]`
/// once `Escape.hardenedJSON` has escaped DEL, C1, bidi and separator characters (strings go
/// through `Escape.appendJSONString`, the one JSON string rule): two-space indent,
/// `"key" : value`, keys in UTF-8 byte order, nil fields left out, empty containers as `[\n\n]`.
///
/// Why not JSONEncoder: it boxes every value in a tree of its own and writes that, then the
/// hardening pass reads the whole text again; for an `observe -o json` snapshot of 1,000
/// domains that took 23–42 ms, a tenth of the command. This encoder collects scalars as bytes
/// and writes each container once (`bench/observe`). It knows plain values only (strings,
/// numbers, booleans, nil, arrays, keyed containers): no date, data or key strategies, so
/// `Date`, `Data` and `URL` would come out in their own Codable form. `SortedJSONEncoderTests`
/// hold it to JSONEncoder's bytes.
public enum SortedJSONEncoder {
    /// The JSON text of `value`, without a final newline.
    /// - Throws: `EncodingError.invalidValue` for a non-finite float, or when `value` encodes
    ///   nothing; whatever `value.encode(to:)` throws.
    public static func encode<Value: Encodable>(_ value: Value) throws -> [UInt8] {
        let pieces = try encodeInPieces(value)
        guard pieces.count > 1 else { return pieces.first ?? [] }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(pieces.reduce(0) { $0 + $1.count })
        for piece in pieces { bytes.append(contentsOf: piece) }
        return bytes
    }

    /// `encode(value)` in consecutive pieces of some 64 KiB, to be written one after another:
    /// a snapshot of a thousand domains (a megabyte) is never copied into one buffer, nor grown
    /// by doubling (`observe -o json`).
    /// - Throws: as `encode`.
    public static func encodeInPieces<Value: Encodable>(_ value: Value) throws -> [[UInt8]] {
        let encoder = NodeEncoder()
        try value.encode(to: encoder)
        guard let node = encoder.node else {
            throw EncodingError.invalidValue(value, .init(codingPath: [], debugDescription: "Top-level \(Value.self) did not encode any values."))
        }
        var writer = Writer()
        writer.write(node)
        writer.finishPiece()
        return writer.pieces
    }
}

// MARK: - The tree

/// A value as encoded: scalars already as bytes, containers by reference (a nested container
/// or super-encoder handed out keeps writing into them).
private enum Node {
    /// A number, `true`, `false` or `null`, as written.
    case literal(String)
    case string(String)
    case array(ArrayNode)
    case object(ObjectNode)
    /// A super-encoder's value, known once the caller is done with it.
    case deferred(NodeEncoder)
}

private final class ArrayNode {
    var elements: [Node] = []
}

private final class ObjectNode {
    /// The coding-key type that filled it: objects of one type mostly have the same keys in
    /// the same order, so the writer sorts each such list once (`Writer.order`).
    let keyType: ObjectIdentifier?
    var entries: [(key: String, value: Node)] = []
    init(keyType: ObjectIdentifier? = nil) { self.keyType = keyType }
}

/// Formats a float as JSONEncoder does: `description`, without a trailing `.0`.
private func literal<Float: BinaryFloatingPoint & LosslessStringConvertible>(_ value: Float, _ codingPath: [any CodingKey]) throws -> String {
    guard value.isFinite else {
        throw EncodingError.invalidValue(value, .init(codingPath: codingPath, debugDescription: "Unable to encode \(value) directly in JSON."))
    }
    var text = value.description
    if text.hasSuffix(".0") { text.removeLast(2) }
    return text
}

/// The node of a value: scalars directly, anything else through a nested encoder.
private func node<Value: Encodable>(_ value: Value, at codingPath: [any CodingKey]) throws -> Node {
    // The type compared before any cast: a failed dynamic cast costs far more, and most values
    // that come here (arrays, dictionaries, nested structures) are none of these.
    if Value.self == String.self, let text = value as? String { return .string(text) }
    if Value.self == Int.self, let number = value as? Int { return .literal(String(number)) }
    if Value.self == Bool.self, let flag = value as? Bool { return .literal(flag ? "true" : "false") }
    let encoder = NodeEncoder(codingPath: codingPath)
    try value.encode(to: encoder)
    // JSONEncoder writes a value that encoded nothing as an empty object.
    return encoder.node ?? .object(ObjectNode())
}

// MARK: - Encoder

private final class NodeEncoder: Encoder {
    let codingPath: [any CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }
    var node: Node?

    init(codingPath: [any CodingKey] = []) { self.codingPath = codingPath }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        if case .object(let object) = node { return KeyedEncodingContainer(KeyedContainer(object: object, codingPath: codingPath)) }
        let object = ObjectNode(keyType: ObjectIdentifier(Key.self))
        node = .object(object)
        return KeyedEncodingContainer(KeyedContainer(object: object, codingPath: codingPath))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        if case .array(let array) = node { return UnkeyedContainer(array: array, codingPath: codingPath) }
        let array = ArrayNode()
        node = .array(array)
        return UnkeyedContainer(array: array, codingPath: codingPath)
    }

    func singleValueContainer() -> any SingleValueEncodingContainer { SingleValueContainer(encoder: self) }
}

private struct KeyedContainer<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let object: ObjectNode
    let codingPath: [any CodingKey]

    private func put(_ value: Node, _ key: Key) { object.entries.append((key.stringValue, value)) }

    mutating func encodeNil(forKey key: Key) throws { put(.literal("null"), key) }
    mutating func encode(_ value: Bool, forKey key: Key) throws { put(.literal(value ? "true" : "false"), key) }
    mutating func encode(_ value: String, forKey key: Key) throws { put(.string(value), key) }
    mutating func encode(_ value: Double, forKey key: Key) throws { put(.literal(try literal(value, codingPath + [key])), key) }
    mutating func encode(_ value: Float, forKey key: Key) throws { put(.literal(try literal(value, codingPath + [key])), key) }
    mutating func encode(_ value: Int, forKey key: Key) throws { put(.literal(String(value)), key) }
    mutating func encode(_ value: Int8, forKey key: Key) throws { put(.literal(String(value)), key) }
    mutating func encode(_ value: Int16, forKey key: Key) throws { put(.literal(String(value)), key) }
    mutating func encode(_ value: Int32, forKey key: Key) throws { put(.literal(String(value)), key) }
    mutating func encode(_ value: Int64, forKey key: Key) throws { put(.literal(String(value)), key) }
    mutating func encode(_ value: UInt, forKey key: Key) throws { put(.literal(String(value)), key) }
    mutating func encode(_ value: UInt8, forKey key: Key) throws { put(.literal(String(value)), key) }
    mutating func encode(_ value: UInt16, forKey key: Key) throws { put(.literal(String(value)), key) }
    mutating func encode(_ value: UInt32, forKey key: Key) throws { put(.literal(String(value)), key) }
    mutating func encode(_ value: UInt64, forKey key: Key) throws { put(.literal(String(value)), key) }
    mutating func encode<Value: Encodable>(_ value: Value, forKey key: Key) throws {
        put(try node(value, at: codingPath + [key]), key)
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key) -> KeyedEncodingContainer<NestedKey> {
        let nested = ObjectNode(keyType: ObjectIdentifier(NestedKey.self))
        put(.object(nested), key)
        return KeyedEncodingContainer(KeyedContainer<NestedKey>(object: nested, codingPath: codingPath + [key]))
    }

    mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
        let nested = ArrayNode()
        put(.array(nested), key)
        return UnkeyedContainer(array: nested, codingPath: codingPath + [key])
    }

    mutating func superEncoder() -> any Encoder { superEncoder(named: "super") }
    mutating func superEncoder(forKey key: Key) -> any Encoder { superEncoder(named: key.stringValue) }

    private func superEncoder(named name: String) -> any Encoder {
        let encoder = NodeEncoder(codingPath: codingPath)
        object.entries.append((name, .deferred(encoder)))
        return encoder
    }
}

/// Where an unkeyed or single-value container puts each value: its scalar `encode`s, written
/// once here.
private protocol ValueSink {
    var codingPath: [any CodingKey] { get }
    func put(_ value: Node)
}

extension ValueSink {
    func encodeNil() throws { put(.literal("null")) }
    func encode(_ value: Bool) throws { put(.literal(value ? "true" : "false")) }
    func encode(_ value: String) throws { put(.string(value)) }
    func encode(_ value: Double) throws { put(.literal(try literal(value, codingPath))) }
    func encode(_ value: Float) throws { put(.literal(try literal(value, codingPath))) }
    func encode(_ value: Int) throws { put(.literal(String(value))) }
    func encode(_ value: Int8) throws { put(.literal(String(value))) }
    func encode(_ value: Int16) throws { put(.literal(String(value))) }
    func encode(_ value: Int32) throws { put(.literal(String(value))) }
    func encode(_ value: Int64) throws { put(.literal(String(value))) }
    func encode(_ value: UInt) throws { put(.literal(String(value))) }
    func encode(_ value: UInt8) throws { put(.literal(String(value))) }
    func encode(_ value: UInt16) throws { put(.literal(String(value))) }
    func encode(_ value: UInt32) throws { put(.literal(String(value))) }
    func encode(_ value: UInt64) throws { put(.literal(String(value))) }
    func encode<Value: Encodable>(_ value: Value) throws { put(try node(value, at: codingPath)) }
}

private struct UnkeyedContainer: UnkeyedEncodingContainer, ValueSink {
    let array: ArrayNode
    let codingPath: [any CodingKey]
    var count: Int { array.elements.count }

    func put(_ value: Node) { array.elements.append(value) }


    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
        let nested = ObjectNode(keyType: ObjectIdentifier(NestedKey.self))
        put(.object(nested))
        return KeyedEncodingContainer(KeyedContainer<NestedKey>(object: nested, codingPath: codingPath))
    }

    mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
        let nested = ArrayNode()
        put(.array(nested))
        return UnkeyedContainer(array: nested, codingPath: codingPath)
    }

    mutating func superEncoder() -> any Encoder {
        let encoder = NodeEncoder(codingPath: codingPath)
        put(.deferred(encoder))
        return encoder
    }
}

private struct SingleValueContainer: SingleValueEncodingContainer, ValueSink {
    let encoder: NodeEncoder
    var codingPath: [any CodingKey] { encoder.codingPath }

    func put(_ value: Node) { encoder.node = value }
}

// MARK: - Writing

/// Whether `a` sorts before `b` by their UTF-8 bytes (JSONEncoder's `.sortedKeys` order), with
/// one `memcmp`: the keys of every object of a snapshot are sorted.
private func utf8Precedes(_ a: String, _ b: String) -> Bool {
    var a = a, b = b
    return a.withUTF8 { a in
        b.withUTF8 { b in
            let common = min(a.count, b.count)
            if common > 0, let x = a.baseAddress, let y = b.baseAddress {
                let order = memcmp(x, y, common)
                if order != 0 { return order < 0 }
            }
            return a.count < b.count
        }
    }
}

private struct Writer {
    /// The piece being written.
    var bytes: [UInt8]
    /// The pieces written before it.
    private(set) var pieces: [[UInt8]] = []
    private var depth = 0
    /// A piece is ended after the element that brings it to this size (`finishPiece`).
    private static let pieceSize = 1 << 16

    init() {
        bytes = []
        bytes.reserveCapacity(Self.pieceSize + Self.pieceSize / 2)
    }

    /// Ends the piece being written (when it has anything) and starts the next.
    mutating func finishPiece() {
        guard !bytes.isEmpty else { return }
        pieces.append(bytes)
        bytes = []
        bytes.reserveCapacity(Self.pieceSize + Self.pieceSize / 2)
    }
    /// The last key list written per coding-key type, and its sorted order.
    private var orders: [ObjectIdentifier: (keys: [String], order: [Int])] = [:]

    /// The indices of `object`'s entries in key order: from the cache when the last object of
    /// its type had the same keys (a snapshot's thousand domains have), else sorted.
    private mutating func order(_ object: ObjectNode) -> [Int] {
        if let type = object.keyType, let cached = orders[type], cached.keys.count == object.entries.count,
           zip(cached.keys, object.entries).allSatisfy({ $0 == $1.key }) {
            return cached.order
        }
        let keys = object.entries.map(\.key)
        let order = keys.indices.sorted { utf8Precedes(keys[$0], keys[$1]) }
        if let type = object.keyType { orders[type] = (keys, order) }
        return order
    }

    mutating func write(_ node: Node) {
        switch node {
        case .literal(let text):
            bytes.append(contentsOf: text.utf8)
        case .string(let text):
            Escape.appendJSONString(text, to: &bytes)
        case .array(let array):
            container(open: UInt8(ascii: "["), close: UInt8(ascii: "]"), count: array.elements.count) { writer, index in
                writer.write(array.elements[index])
            }
        case .object(let object):
            let order = order(object)
            container(open: UInt8(ascii: "{"), close: UInt8(ascii: "}"), count: order.count) { writer, index in
                let entry = object.entries[order[index]]
                Escape.appendJSONString(entry.key, to: &writer.bytes)
                writer.bytes.append(contentsOf: " : ".utf8)
                writer.write(entry.value)
            }
        case .deferred(let encoder):
            write(encoder.node ?? .object(ObjectNode()))
        }
    }

    /// `{` or `[`, a line break, the elements one a line, a line break, the indented `}` or `]`
    /// (an empty container thus spans an empty line, as JSONEncoder writes it).
    private mutating func container(open: UInt8, close: UInt8, count: Int, _ element: (inout Writer, Int) -> Void) {
        bytes.append(open)
        bytes.append(UInt8(ascii: "\n"))
        depth += 1
        for index in 0..<count {
            if index > 0 { bytes.append(contentsOf: ",\n".utf8) }
            indent()
            element(&self, index)
            if bytes.count >= Self.pieceSize { finishPiece() }
        }
        depth -= 1
        bytes.append(UInt8(ascii: "\n"))
        indent()
        bytes.append(close)
    }

    private mutating func indent() {
        bytes.append(contentsOf: repeatElement(UInt8(ascii: " "), count: 2 * depth))
    }
}
