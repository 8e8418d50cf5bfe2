import Foundation

/// The reader behind `XMLTree(parsing:)`: one pass over the bytes, no recursion, validating as
/// it goes; `Declined` for anything outside the plain subset it reads (see `XMLTree`).
struct XMLTreeReader {
    struct Declined: Error {}

    private let bytes: UnsafeBufferPointer<UInt8>
    private var position = 0
    private(set) var nodes: [XMLTree.Node] = []
    private(set) var attributes: [XMLTree.Attribute] = []
    /// Namespace declarations in scope, innermost last; a nil prefix declares the default.
    private var namespaces: [(prefix: Range<Int>?, uri: XMLTree.Span)] = []

    init(_ bytes: UnsafeBufferPointer<UInt8>) {
        self.bytes = bytes
        nodes.reserveCapacity(bytes.count / 24)
        attributes.reserveCapacity(bytes.count / 32)
    }

    /// The whole document: one root element, with only white space and comments around it.
    mutating func document() throws(Declined) {
        try skipMisc()
        guard at("<"), position + 1 < bytes.count, isNameStart(bytes[position + 1]) else { throw Declined() }
        try rootElement()
        try skipMisc()
        guard position == bytes.count else { throw Declined() }
    }

    private mutating func skipMisc() throws(Declined) {
        while true {
            skipWhiteSpace()
            guard starts(with: "<!--") else { return }
            _ = try comment()
        }
    }

    /// The root element and everything in it; on entry `position` is at its `<`.
    private mutating func rootElement() throws(Declined) {
        var open: [(node: Int, namespaces: Int)] = []
        if let opened = try startTag() { open.append(opened) }
        while let current = open.last {
            let textStart = position
            var decoding = XMLTree.Decoding.none
            while position < bytes.count {
                // Most bytes need no look (`isPlainInText`): skipped in a loop of their own, on a
                // local copy of the position (stored once, not at every byte).
                var scan = position
                while scan < bytes.count, isPlainInText(bytes[scan]) { scan += 1 }
                position = scan
                guard position < bytes.count else { break }
                let byte = bytes[position]
                if byte == UInt8(ascii: "<") { break }
                if byte == UInt8(ascii: "&") {
                    try reference()
                    decoding = .text
                    continue
                }
                // `]]>` may not appear in text.
                if byte == UInt8(ascii: ">"), position - textStart >= 2,
                   bytes[position - 1] == UInt8(ascii: "]"), bytes[position - 2] == UInt8(ascii: "]") {
                    throw Declined()
                }
                try character()
            }
            if position > textStart { appendText(XMLTree.Span(start: textStart, count: position - textStart, decoding: decoding)) }
            guard position + 1 < bytes.count else { throw Declined() }
            let next = bytes[position + 1]
            if next == UInt8(ascii: "/") {
                try endTag(of: current.node)
                nodes[current.node].end = nodes.count
                if namespaces.count > current.namespaces { namespaces.removeSubrange(current.namespaces...) }
                open.removeLast()
            } else if isNameStart(next) {
                if let opened = try startTag() { open.append(opened) }
            } else if starts(with: "<!--") {
                appendText(try comment())
            } else if starts(with: "<![CDATA[") {
                appendText(try cdata())
            } else {
                throw Declined()
            }
        }
    }

    private mutating func appendText(_ span: XMLTree.Span) {
        nodes.append(XMLTree.Node(isElement: false, span: span, localOffset: 0, namespace: nil, end: nodes.count + 1, attributes: 0..<0))
    }

    /// A start tag at `<`; returns the element and the namespace mark to restore at its end
    /// tag, or nil for an empty-element tag (`<x/>`), which is complete.
    private mutating func startTag() throws(Declined) -> (node: Int, namespaces: Int)? {
        position += 1
        let nameStart = position
        let localOffset = try name()
        let qualifiedName = XMLTree.Span(start: nameStart, count: position - nameStart, decoding: .none)
        let namespaceMark = namespaces.count
        let firstAttribute = attributes.count
        var empty = false
        while true {
            let spaced = skipWhiteSpace()
            guard position < bytes.count else { throw Declined() }
            if bytes[position] == UInt8(ascii: ">") { position += 1; break }
            if bytes[position] == UInt8(ascii: "/"), position + 1 < bytes.count, bytes[position + 1] == UInt8(ascii: ">") {
                position += 2
                empty = true
                break
            }
            guard spaced else { throw Declined() }
            try attribute(namespaceMark: namespaceMark, firstAttribute: firstAttribute)
        }
        // Prefixes resolve against the declarations in scope, this element's included; an
        // element in no namespace reports the first one it declares (FoundationXML's `uri`).
        var namespace: XMLTree.Span?
        if localOffset == 0 {
            namespace = lookUpNamespace(prefix: nil).flatMap { $0.count == 0 ? nil : $0 }
        } else {
            guard let uri = lookUpNamespace(prefix: nameStart..<nameStart + localOffset - 1) else { throw Declined() }
            namespace = uri
        }
        if namespace == nil, namespaceMark < namespaces.count { namespace = namespaces[namespaceMark].uri }
        try resolveAttributes(from: firstAttribute)
        let index = nodes.count
        nodes.append(XMLTree.Node(
            isElement: true, span: qualifiedName, localOffset: localOffset, namespace: namespace,
            end: index + 1, attributes: firstAttribute..<attributes.count
        ))
        if empty {
            if namespaces.count > namespaceMark { namespaces.removeSubrange(namespaceMark...) }
            return nil
        }
        return (index, namespaceMark)
    }

    /// One attribute (or namespace declaration) of a start tag.
    private mutating func attribute(namespaceMark: Int, firstAttribute: Int) throws(Declined) {
        let nameStart = position
        let localOffset = try name()
        let nameSpan = XMLTree.Span(start: nameStart, count: position - nameStart, decoding: .none)
        skipWhiteSpace()
        guard at("=") else { throw Declined() }
        position += 1
        skipWhiteSpace()
        guard position < bytes.count, bytes[position] == UInt8(ascii: "'") || bytes[position] == UInt8(ascii: "\"") else {
            throw Declined()
        }
        let quote = bytes[position]
        position += 1
        let valueStart = position
        var decoding = XMLTree.Decoding.none
        while true {
            // As in text: the plain bytes in a loop of their own.
            var scan = position
            while scan < bytes.count, isPlainInAttribute(bytes[scan], quote: quote) { scan += 1 }
            position = scan
            guard position < bytes.count else { throw Declined() }
            let byte = bytes[position]
            if byte == quote { break }
            switch byte {
            case UInt8(ascii: "<"):
                throw Declined()
            case UInt8(ascii: "&"):
                try reference()
                decoding = .attribute
            case 0x09, 0x0A:
                decoding = .attribute
                position += 1
            default:
                try character()
            }
        }
        let value = XMLTree.Span(start: valueStart, count: position - valueStart, decoding: decoding)
        position += 1

        if bytes[nameStart] == UInt8(ascii: "x"),
           equal(nameSpan, "xmlns") || (localOffset == 6 && equal(XMLTree.Span(start: nameStart, count: 5, decoding: .none), "xmlns")) {
            let prefix: Range<Int>? = localOffset == 0 ? nil : nameStart + 6..<nameSpan.start + nameSpan.count
            // libxml2 keeps references in a namespace URI as `&#38;`, and refuses to bind the
            // `xml` namespace to another prefix: left to it.
            guard value.decoding == .none, !bytes(of: value).elementsEqual("http://www.w3.org/XML/1998/namespace".utf8) else {
                throw Declined()
            }
            if let prefix {
                // `xmlns:xml` and `xmlns:xmlns` are reserved; a prefix cannot be undeclared.
                let prefixSpan = XMLTree.Span(start: prefix.lowerBound, count: prefix.count, decoding: .none)
                guard value.count > 0, !equal(prefixSpan, "xml"), !equal(prefixSpan, "xmlns") else { throw Declined() }
            }
            for declared in namespaces[namespaceMark...] {
                switch (declared.prefix, prefix) {
                case (nil, nil): throw Declined()
                case let (a?, b?) where bytes[a].elementsEqual(bytes[b]): throw Declined()
                default: break
                }
            }
            // A declaration repeating the one in scope is dropped by libxml2 (NSCLEAN), which
            // changes what `uri` reports: left to it.
            if let outer = lookUpNamespace(prefix: prefix, below: namespaceMark), bytes(of: outer).elementsEqual(bytes(of: value)) {
                throw Declined()
            }
            namespaces.append((prefix, value))
            return
        }
        for earlier in attributes[firstAttribute...] where earlier.name.count == nameSpan.count
            && memcmp(bytes.baseAddress! + earlier.name.start, bytes.baseAddress! + nameStart, nameSpan.count) == 0 {
            throw Declined()
        }
        attributes.append(XMLTree.Attribute(name: nameSpan, localOffset: localOffset, value: value, found: false))
    }

    /// Resolves the prefixes of the start tag's attributes, once all its declarations are read:
    /// a prefix must be declared (`xml` always is), and whether a lookup by local name finds
    /// the attribute depends on the default namespace in scope (see `Attribute.found`). Two
    /// prefixed attributes with the same local name might be one attribute under two prefixes:
    /// left to libxml2.
    private mutating func resolveAttributes(from firstAttribute: Int) throws(Declined) {
        let defaultNamespace = lookUpNamespace(prefix: nil)
        for index in firstAttribute..<attributes.count {
            let attribute = attributes[index]
            guard attribute.localOffset > 0 else {
                attributes[index].found = defaultNamespace == nil
                continue
            }
            let prefix = attribute.name.start..<attribute.name.start + attribute.localOffset - 1
            let localName = bytes[prefix.upperBound + 1..<attribute.name.start + attribute.name.count]
            for earlier in attributes[firstAttribute..<index] where earlier.localOffset > 0 {
                if bytes[earlier.name.start + earlier.localOffset..<earlier.name.start + earlier.name.count].elementsEqual(localName) {
                    throw Declined()
                }
            }
            let declared = lookUpNamespace(prefix: prefix)
            guard declared != nil || bytes[prefix].elementsEqual("xml".utf8) else { throw Declined() }
            guard let defaultNamespace else { continue }
            let inDefault = bytes(of: defaultNamespace)
            attributes[index].found = declared.map { inDefault.elementsEqual(bytes(of: $0)) }
                ?? inDefault.elementsEqual("http://www.w3.org/XML/1998/namespace".utf8)
        }
    }

    /// The URI bound to `prefix` (nil: the default namespace) by the declarations in scope, or
    /// by those below `limit` only.
    private func lookUpNamespace(prefix: Range<Int>?, below limit: Int? = nil) -> XMLTree.Span? {
        for declaration in namespaces[..<(limit ?? namespaces.count)].reversed() {
            switch (declaration.prefix, prefix) {
            case (nil, nil): return declaration.uri
            case let (declared?, wanted?) where bytes[declared].elementsEqual(bytes[wanted]): return declaration.uri
            default: continue
            }
        }
        return nil
    }

    /// An end tag at `</`, which must close `node`.
    private mutating func endTag(of node: Int) throws(Declined) {
        position += 2
        // The start tag's name, byte for byte, and then no more of a name: what `name()` would
        // read and compare, without reading it.
        let open = nodes[node].span
        guard position + open.count < bytes.count, let base = bytes.baseAddress,
              memcmp(base + position, base + open.start, open.count) == 0 else { throw Declined() }
        position += open.count
        let next = bytes[position]
        guard !isNameCharacter(next), next != UInt8(ascii: ":"), next < 0x80 else { throw Declined() }
        skipWhiteSpace()
        guard at(">") else { throw Declined() }
        position += 1
    }

    /// A name of ASCII letters, digits, `_ - .`, with at most one colon between two parts
    /// (namespaces); returns where the local part starts (0: no prefix).
    private mutating func name() throws(Declined) -> Int {
        let start = position
        let bytes = bytes
        var scan = position
        guard scan < bytes.count, isNameStart(bytes[scan]) else { throw Declined() }
        scan += 1
        var colon: Int?
        while scan < bytes.count {
            let byte = bytes[scan]
            if isNameCharacter(byte) {
                scan += 1
            } else if byte == UInt8(ascii: ":"), colon == nil, scan + 1 < bytes.count, isNameStart(bytes[scan + 1]) {
                colon = scan
                scan += 1
            } else {
                break
            }
        }
        position = scan
        // A colon or non-ASCII byte here (a second colon, a name ending in one): not plain.
        if scan < bytes.count, bytes[scan] == UInt8(ascii: ":") || bytes[scan] >= 0x80 { throw Declined() }
        return colon.map { $0 + 1 - start } ?? 0
    }

    /// A reference at `&`: `&lt; &gt; &amp; &quot; &apos;`, `&#10;` or `&#x41;` naming a
    /// character XML allows.
    private mutating func reference() throws(Declined) {
        position += 1
        guard position < bytes.count else { throw Declined() }
        if bytes[position] == UInt8(ascii: "#") {
            position += 1
            let hex = at("x")
            if hex { position += 1 }
            let digitsStart = position
            var value: UInt32 = 0
            while position < bytes.count, position - digitsStart < 8, let digit = hexValue(bytes[position]), hex || digit < 10 {
                value = value * (hex ? 16 : 10) + UInt32(digit)
                position += 1
            }
            guard position > digitsStart, at(";"), isXMLCharacter(value) else { throw Declined() }
            position += 1
            return
        }
        if starts(with: "lt;") || starts(with: "gt;") {
            position += 3
        } else if starts(with: "amp;") {
            position += 4
        } else if starts(with: "quot;") || starts(with: "apos;") {
            position += 5
        } else {
            throw Declined()
        }
    }

    /// A byte below `>` that is not markup, or a byte of a multi-byte character: control
    /// characters other than tab and line feed are declined (a carriage return included: XML
    /// would rewrite line ends), and so are U+FFFE and U+FFFF, which XML does not allow.
    private mutating func character() throws(Declined) {
        let byte = bytes[position]
        if byte < 0x20, byte != 0x09, byte != 0x0A { throw Declined() }
        if byte == 0xEF, position + 2 < bytes.count, bytes[position + 1] == 0xBF, bytes[position + 2] >= 0xBE {
            throw Declined()
        }
        position += 1
    }

    /// A comment at `<!--`; returns its text.
    private mutating func comment() throws(Declined) -> XMLTree.Span {
        position += 4
        let start = position
        while true {
            guard position + 1 < bytes.count else { throw Declined() }
            if bytes[position] == UInt8(ascii: "-"), bytes[position + 1] == UInt8(ascii: "-") { break }
            if bytes[position] < 0x20 || bytes[position] == 0xEF { try character() } else { position += 1 }
        }
        // `--` may only end a comment.
        guard position + 2 < bytes.count, bytes[position + 2] == UInt8(ascii: ">") else { throw Declined() }
        defer { position += 3 }
        return XMLTree.Span(start: start, count: position - start, decoding: .none)
    }

    /// A CDATA section at `<![CDATA[`; returns its text.
    private mutating func cdata() throws(Declined) -> XMLTree.Span {
        position += 9
        let start = position
        while !starts(with: "]]>") {
            guard position < bytes.count else { throw Declined() }
            if bytes[position] < 0x20 || bytes[position] == 0xEF { try character() } else { position += 1 }
        }
        defer { position += 3 }
        return XMLTree.Span(start: start, count: position - start, decoding: .none)
    }

    /// Skips spaces, tabs and line feeds; whether there were any.
    @discardableResult
    private mutating func skipWhiteSpace() -> Bool {
        let start = position
        var scan = position
        while scan < bytes.count, bytes[scan] == 0x20 || bytes[scan] == 0x0A || bytes[scan] == 0x09 {
            scan += 1
        }
        position = scan
        return scan > start
    }

    private func at(_ character: Unicode.Scalar) -> Bool {
        position < bytes.count && bytes[position] == UInt8(ascii: character)
    }

    private func starts(with text: StaticString) -> Bool {
        matches(start: position, count: min(text.utf8CodeUnitCount, bytes.count - position), text)
    }

    private func bytes(of span: XMLTree.Span) -> Slice<UnsafeBufferPointer<UInt8>> {
        bytes[span.start..<span.start + span.count]
    }

    private func equal(_ span: XMLTree.Span, _ text: StaticString) -> Bool {
        matches(start: span.start, count: span.count, text)
    }

    /// Whether the `count` bytes at `start` are `text`.
    private func matches(start: Int, count: Int, _ text: StaticString) -> Bool {
        guard count == text.utf8CodeUnitCount else { return false }
        for offset in 0..<count where bytes[start + offset] != text.utf8Start[offset] { return false }
        return true
    }
}

/// A byte of character data that needs no look: not markup (`<`, `&`, `>`, which may end
/// `]]>`), not a control character but tab and line feed, not the first byte of U+FFFE/U+FFFF.
@inline(__always)
private func isPlainInText(_ byte: UInt8) -> Bool {
    // Bits set for 0x00-0x08, 0x0B-0x1F, & (38), < (60), > (62): the bytes to look at.
    if byte < 64 { return (0x5000_0040_FFFF_F9FF as UInt64) >> UInt64(byte) & 1 == 0 }
    return byte != 0xEF
}

/// A byte of an attribute value that needs no look: not `<`, `&` or the closing quote, not a
/// control character (tab and line feed included: they become spaces), not the first byte of
/// U+FFFE/U+FFFF.
@inline(__always)
private func isPlainInAttribute(_ byte: UInt8, quote: UInt8) -> Bool {
    // Bits set for 0x00-0x1F, & (38), < (60), and the quote (34 or 39).
    if byte < 64 { return (0x1000_0040_FFFF_FFFF as UInt64 | 1 << UInt64(quote)) >> UInt64(byte) & 1 == 0 }
    return byte != 0xEF
}

/// ASCII letters and `_`.
@inline(__always)
private func isNameStart(_ byte: UInt8) -> Bool {
    // One bit per byte from 64 to 127: A-Z (bits 1-26), _ (31), a-z (33-58).
    byte >= 64 && byte < 128 && (0x07FF_FFFE_87FF_FFFE as UInt64) >> UInt64(byte - 64) & 1 != 0
}

/// ASCII letters, digits, `_ - .`.
@inline(__always)
private func isNameCharacter(_ byte: UInt8) -> Bool {
    // One bit per byte below 64: - (bit 45), . (46), 0-9 (48-57).
    if byte < 64 { return (0x03FF_6000_0000_0000 as UInt64) >> UInt64(byte) & 1 != 0 }
    return isNameStart(byte)
}

/// XML 1.0's `Char`: tab, line feed, carriage return, and U+0020 up, less surrogates and
/// U+FFFE, U+FFFF.
private func isXMLCharacter(_ value: UInt32) -> Bool {
    switch value {
    case 0x09, 0x0A, 0x0D, 0x20...0xD7FF, 0xE000...0xFFFD, 0x10000...0x10FFFF: true
    default: false
    }
}
