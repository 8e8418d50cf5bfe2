/// How scalars become typed values: by what the model asks for, never by guessing.
///
/// A `String` takes any scalar that is not null; `Bool`, integers and floating-point numbers
/// take only plain (unquoted) scalars, or ones tagged with their type (`!!int "5"`).
enum Scalars {
    /// How a node reads in "found …" messages: `'yes'`, `quoted '5'`, `null`, `a mapping`.
    static func describe<Nodes: NodeReading>(_ nodes: Nodes, _ node: Int) -> String {
        switch nodes.kind(node) {
        case .mapping: return "a mapping"
        case .sequence: return "a sequence"
        case .scalar:
            if nodes.isNull(node) { return "null" }
            let shown = "'\(excerpt(nodes.string(node)))'"
            switch nodes.style(node) {
            case .plain: return nodes.tag(node) == YAMLTag.str ? "the string \(shown)" : shown
            case .singleQuoted, .doubleQuoted: return "quoted \(shown)"
            case .literal, .folded: return "the block scalar \(shown)"
            }
        }
    }

    /// At most 40 characters of a scalar, one line, for a message.
    static func excerpt(_ text: String) -> String {
        var result = ""
        var count = 0
        for character in text.unicodeScalars {
            if count == 40 {
                result += "…"
                break
            }
            switch character {
            case "\n": result += "\\n"
            case "\r": result += "\\r"
            case "\t": result += "\\t"
            default: result.unicodeScalars.append(character)
            }
            count += 1
        }
        return result
    }

    /// Whether a scalar is written as a plain, untagged one, or carries one of `tags`.
    static func isTyped<Nodes: NodeReading>(_ nodes: Nodes, _ node: Int, as tags: String...) -> Bool {
        if let tag = nodes.tag(node) { return tags.contains(tag) }
        return nodes.style(node) == .plain
    }

    /// The message for a tag the decoder does not understand, or nil when it is fine.
    @inline(__always)
    static func unsupportedTag<Nodes: NodeReading>(_ nodes: Nodes, _ node: Int) -> String? {
        guard let tag = nodes.tag(node) else { return nil }
        return unsupported(tag)
    }

    private static func unsupported(_ tag: String) -> String? {
        switch tag {
        case YAMLTag.nonSpecific, YAMLTag.str, YAMLTag.null, YAMLTag.bool, YAMLTag.int, YAMLTag.float,
            YAMLTag.map, YAMLTag.seq:
            return nil
        default:
            let shown = tag.hasPrefix(YAMLTag.prefix) ? "!!" + tag.dropFirst(YAMLTag.prefix.count) : tag
            return "unsupported tag '\(shown)'"
        }
    }

    static func string<Nodes: NodeReading>(_ nodes: Nodes, _ node: Int) throws(ScalarMismatch) -> String {
        guard nodes.kind(node) == .scalar, !nodes.isNull(node) else {
            throw ScalarMismatch("expected a string, found \(describe(nodes, node))")
        }
        return nodes.string(node)
    }

    static func bool<Nodes: NodeReading>(_ nodes: Nodes, _ node: Int) throws(ScalarMismatch) -> Bool {
        if nodes.kind(node) == .scalar, !nodes.isNull(node), isTyped(nodes, node, as: YAMLTag.bool),
            let value = boolean(nodes, node)
        {
            return value
        }
        throw ScalarMismatch("expected true or false, found \(describe(nodes, node))")
    }

    /// `true`, `True`, `TRUE`, `false`, `False`, `FALSE` (YAML 1.2's booleans), or nil.
    private static func boolean<Nodes: NodeReading>(_ nodes: Nodes, _ node: Int) -> Bool? {
        for (name, value) in asciiBooleans where nodes.scalar(node, equals: name) { return value }
        return nil
    }

    /// The booleans, by their text.
    private static let asciiBooleans: [(String, Bool)] = [
        ("true", true), ("false", false), ("True", true), ("False", false), ("TRUE", true), ("FALSE", false),
    ]

    static func integer<T: FixedWidthInteger, Nodes: NodeReading>(_ nodes: Nodes, _ node: Int, as type: T.Type) throws(ScalarMismatch) -> T {
        guard nodes.kind(node) == .scalar, !nodes.isNull(node), isTyped(nodes, node, as: YAMLTag.int),
            let value = nodes.withText(node, parseInteger)
        else {
            throw ScalarMismatch("expected an integer, found \(describe(nodes, node))")
        }
        guard let exact = value.flatMap({ T(exactly: $0) }) else {
            throw ScalarMismatch("integer \(nodes.string(node)) is out of range (\(T.min)...\(T.max))")
        }
        return exact
    }

    /// A decimal integer (`[-+]?[0-9]+`): nil when the text is not one, `.some(nil)` when it
    /// is one too large for any supported type.
    static func parseInteger(_ text: String) -> Int128?? {
        var text = text
        return text.withUTF8(parseInteger)
    }

    /// `parseInteger` of a text's UTF-8 bytes.
    static func parseInteger(_ bytes: UnsafeBufferPointer<UInt8>) -> Int128?? {
        var utf8 = bytes[...]
        var negative = false
        if let sign = utf8.first, sign == UInt8(ascii: "-") || sign == UInt8(ascii: "+") {
            negative = sign == UInt8(ascii: "-")
            utf8 = utf8.dropFirst()
        }
        guard !utf8.isEmpty else { return nil }
        var value: Int128 = 0
        var overflow = false
        for byte in utf8 {
            guard byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") else { return nil }
            if overflow { continue }
            // Accumulate on the side of the sign, so that the most negative value fits.
            let digit = Int128(byte - UInt8(ascii: "0"))
            let (times, o1) = value.multipliedReportingOverflow(by: 10)
            let (sum, o2) = negative ? times.subtractingReportingOverflow(digit) : times.addingReportingOverflow(digit)
            if o1 || o2 { overflow = true } else { value = sum }
        }
        if overflow { return .some(nil) }
        return .some(value)
    }

    static func floating<T: BinaryFloatingPoint & LosslessStringConvertible>(
        _ nodes: some NodeReading, _ node: Int, as type: T.Type
    ) throws(ScalarMismatch) -> T {
        guard nodes.kind(node) == .scalar, !nodes.isNull(node), isTyped(nodes, node, as: YAMLTag.float, YAMLTag.int) else {
            throw ScalarMismatch("expected a number, found \(describe(nodes, node))")
        }
        let text = nodes.string(node)
        switch text {
        case ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF": return T.infinity
        case "-.inf", "-.Inf", "-.INF": return -T.infinity
        case ".nan", ".NaN", ".NAN": return T.nan
        default: break
        }
        guard isDecimalNumber(text), let value = T(text) else {
            throw ScalarMismatch("expected a number, found \(describe(nodes, node))")
        }
        guard value.isFinite else { throw ScalarMismatch("number \(text) is out of range") }
        return value
    }

    /// YAML 1.2 core floats: `[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?`.
    static func isDecimalNumber(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        var i = 0
        func digits() -> Int {
            let start = i
            while i < bytes.count, bytes[i] >= UInt8(ascii: "0"), bytes[i] <= UInt8(ascii: "9") { i += 1 }
            return i - start
        }
        if i < bytes.count, bytes[i] == UInt8(ascii: "-") || bytes[i] == UInt8(ascii: "+") { i += 1 }
        let whole = digits()
        var fraction = 0
        if i < bytes.count, bytes[i] == UInt8(ascii: ".") {
            i += 1
            fraction = digits()
        }
        guard whole > 0 || fraction > 0 else { return false }
        if i < bytes.count, bytes[i] == UInt8(ascii: "e") || bytes[i] == UInt8(ascii: "E") {
            i += 1
            if i < bytes.count, bytes[i] == UInt8(ascii: "-") || bytes[i] == UInt8(ascii: "+") { i += 1 }
            guard digits() > 0 else { return false }
        }
        return i == bytes.count
    }
}

/// Types the decoder reads straight from a scalar, without going through `init(from:)`.
protocol ScalarDecodable: Decodable {
    static func fromScalar(_ nodes: NodeStore, _ node: Int) throws(ScalarMismatch) -> Self
}

extension ScalarDecodable {
    /// `state.scalar(Self.self, …)` handed back as `T`, which is `Self` (nil otherwise): how
    /// code that holds `T` and knows only that it is some scalar type reads one.
    static func scalarValue<T>(
        _ state: DecodingState, _ node: Int, parent: CodingPath, key: (any CodingKey)?
    ) throws -> T? {
        try state.scalar(Self.self, node, parent: parent, key: key) as? T
    }
}

extension String: ScalarDecodable {
    static func fromScalar(_ nodes: NodeStore, _ node: Int) throws(ScalarMismatch) -> String { try Scalars.string(nodes, node) }
}

extension Bool: ScalarDecodable {
    static func fromScalar(_ nodes: NodeStore, _ node: Int) throws(ScalarMismatch) -> Bool { try Scalars.bool(nodes, node) }
}

extension Double: ScalarDecodable {
    static func fromScalar(_ nodes: NodeStore, _ node: Int) throws(ScalarMismatch) -> Double { try Scalars.floating(nodes, node, as: Double.self) }
}

extension Float: ScalarDecodable {
    static func fromScalar(_ nodes: NodeStore, _ node: Int) throws(ScalarMismatch) -> Float { try Scalars.floating(nodes, node, as: Float.self) }
}

extension FixedWidthInteger where Self: Decodable {
    static func fromScalar(_ nodes: NodeStore, _ node: Int) throws(ScalarMismatch) -> Self { try Scalars.integer(nodes, node, as: Self.self) }
}

extension Int: ScalarDecodable {}
extension Int8: ScalarDecodable {}
extension Int16: ScalarDecodable {}
extension Int32: ScalarDecodable {}
extension Int64: ScalarDecodable {}
extension Int128: ScalarDecodable {}
extension UInt: ScalarDecodable {}
extension UInt8: ScalarDecodable {}
extension UInt16: ScalarDecodable {}
extension UInt32: ScalarDecodable {}
extension UInt64: ScalarDecodable {}
extension UInt128: ScalarDecodable {}

/// Why a scalar is not the value the model expects: the message, written as a string.
struct ScalarMismatch: Error {
    let message: String

    init(_ message: String) {
        self.message = message
    }
}
