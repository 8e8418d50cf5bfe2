import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif

/// An XML document libvirt returned could not be read as expected.
public struct DomainXMLError: Error, Equatable, Sendable, CustomStringConvertible {
    public var message: String
    /// An error with this message.
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Parses an XML document with FoundationXML and returns its root element.
///
/// Every document parsed here stays in memory until the process ends: swift-corelibs-foundation's
/// `XMLNode.init(ptr:)` retains each node it wraps from libxml2's private pointer and nothing
/// releases it (about 8 KB per small document, measured by `bench/soak`). Read what libvirt
/// returns with `parseXMLTree`; this is for building documents (`DefinitionXML`) and for
/// `parseXMLTree`'s fallback on input its own reader declines.
/// - Throws: `DomainXMLError` when the text is not XML (libxml2 recovers from many errors)
///   or its root is not called `rootName`.
func parseXML(_ text: String, expectingRoot rootName: String) throws(DomainXMLError) -> XMLElement {
    // FoundationXML crashes on an empty document instead of throwing.
    guard !text.isEmpty else { throw DomainXMLError("not well-formed XML (expected <\(rootName)>): empty document") }
    let document: XMLDocument
    do {
        // Keep white space (tag values are exact); never load external entities.
        document = try XMLDocument(xmlString: text, options: [.nodePreserveWhitespace, .nodeLoadExternalEntitiesNever])
    } catch {
        throw DomainXMLError("not well-formed XML (expected <\(rootName)>): \(error)")
    }
    guard let root = document.rootElement(), (root.localName ?? root.name) == rootName else {
        throw DomainXMLError("expected a <\(rootName)> document")
    }
    return root
}

/// Parses an XML document into an `XMLTree` and returns its root element: with `XMLTree`'s
/// own reader when the text is plain well-formed XML (all that libvirt writes), else through
/// FoundationXML, which also decides what is an error. Either way the tree reads the same.
/// - Throws: `DomainXMLError` when the text is not XML or its root is not called `rootName`.
func parseXMLTree(_ text: String, expectingRoot rootName: String) throws(DomainXMLError) -> XMLTree.Element {
    if let tree = XMLTree(parsing: text) {
        let root = tree.root
        guard root.localName == rootName else { throw DomainXMLError("expected a <\(rootName)> document") }
        return root
    }
    return XMLTree(foundationRoot: try parseXML(text, expectingRoot: rootName)).root
}

extension XMLElement {
    /// Child elements called `name` (no namespace), in document order.
    func elements(_ name: String) -> [XMLElement] {
        (children ?? []).compactMap { node in
            guard let element = node as? XMLElement, element.name == name else { return nil }
            return element
        }
    }

    /// The first child element called `name`.
    func element(_ name: String) -> XMLElement? {
        for node in children ?? [] {
            if let element = node as? XMLElement, element.name == name { return element }
        }
        return nil
    }

    /// The first element along a path of child names (`"os/loader"`).
    func element(path: String) -> XMLElement? {
        var current: XMLElement? = self
        for name in path.split(separator: "/") {
            current = current?.element(String(name))
        }
        return current
    }

    /// All child elements, whatever their name or namespace.
    var childElements: [XMLElement] {
        (children ?? []).compactMap { $0 as? XMLElement }
    }

    /// An attribute's value, nil when absent.
    func attribute(_ name: String) -> String? {
        attribute(forName: name)?.stringValue
    }

    /// The element's text with surrounding white space removed; nil when empty.
    var trimmedText: String? {
        let text = (stringValue ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        return text.isEmpty ? nil : text
    }
}

// MARK: - XMLTree: a small reader for the XML libvirt writes

/// A parsed XML document, read-only and flat: every element and piece of text is a `Node` in
/// document order, and names, values and text are byte ranges of one buffer, decoded only when
/// asked for. Observation reads one XML per domain: through FoundationXML's DOM that took about
/// 150 µs for a 1.5 KB domain, about as much as the libvirt call; this reader takes about 4 µs.
///
/// It answers as FoundationXML's `XMLElement` does for what the observer asks, quirks included
/// (see swift-corelibs-foundation's `CFXMLInterface.c`): qualified and local element names;
/// `uri`, which is the element's namespace or, when it has none, the first namespace it
/// declares; `attribute(forName:)` with a name without prefix, which looks in the default
/// namespace when one is in scope (so `<tag key='k'>` under `xmlns='…'` has no `key`); and
/// `stringValue`, all text below an element in document order, CDATA, comment and processing
/// instruction text included. Namespace declarations are not attributes.
///
/// `init(parsing:)` accepts only well-formed XML of a plain kind: elements, attributes quoted
/// with `'` or `"`, text, the five named entities and character references, comments and
/// CDATA sections, namespaces declared before use, ASCII names. Anything else (a DOCTYPE, a
/// processing instruction or XML declaration, a carriage return, a non-ASCII name, a namespace
/// URI with a reference in it or declared again where it is already in scope, any
/// well-formedness error) makes it return nil, and `parseXMLTree` falls back to FoundationXML,
/// whose answer (libxml2 recovers from many errors) is then the answer.
final class XMLTree: Sendable {
    /// Bytes of a name, value or text in `storage`, and how they must be decoded.
    struct Span: Sendable {
        var start: Int
        var count: Int
        var decoding: Decoding
    }

    /// What a span needs before it is text.
    enum Decoding: UInt8, Sendable {
        /// Its bytes are the text.
        case none
        /// Character data with references (`&lt;`, `&#10;`) to replace.
        case text
        /// An attribute value: references to replace, and literal tabs and line feeds become
        /// spaces (XML's attribute-value normalisation; a reference to them stays as it is).
        case attribute
    }

    /// An element or a piece of character data.
    struct Node: Sendable {
        var isElement: Bool
        /// An element's qualified name (`vp:instance`); character data's text.
        var span: Span
        /// Where the local name starts within the qualified name (0: no prefix).
        var localOffset: Int
        /// The element's namespace URI or, when it has none, the first namespace it declares
        /// (FoundationXML's `uri`); nil when neither.
        var namespace: Span?
        /// The index just past this node's subtree (its own index + 1 for character data).
        var end: Int
        /// This element's attributes, as indices into `attributes`.
        var attributes: Range<Int>
    }

    /// An attribute: qualified name and value.
    struct Attribute: Sendable {
        var name: Span
        /// Where the local name starts within the qualified name (0: no prefix).
        var localOffset: Int
        var value: Span
        /// Whether a lookup by local name finds it: an attribute without prefix when no default
        /// namespace is in scope, else one whose prefix maps to the default namespace.
        var found: Bool
    }

    let storage: [UInt8]
    let nodes: [Node]
    let attributes: [Attribute]

    private init(storage: [UInt8], nodes: [Node], attributes: [Attribute]) {
        self.storage = storage
        self.nodes = nodes
        self.attributes = attributes
    }

    /// Reads `text` with the tree's own reader; nil when it is anything but plain well-formed
    /// XML (see the type's documentation), for FoundationXML to decide.
    convenience init?(parsing text: String) {
        let storage = Array(text.utf8)
        let parsed: (nodes: [Node], attributes: [Attribute])? = storage.withUnsafeBufferPointer { buffer in
            var reader = XMLTreeReader(buffer)
            do {
                try reader.document()
            } catch {
                return nil
            }
            return (reader.nodes, reader.attributes)
        }
        guard let parsed, !parsed.nodes.isEmpty else { return nil }
        self.init(storage: storage, nodes: parsed.nodes, attributes: parsed.attributes)
    }

    /// The same tree built from a FoundationXML element: what `parseXMLTree` returns when its
    /// own reader declines a document.
    convenience init(foundationRoot root: XMLElement) {
        var builder = FoundationTreeBuilder()
        builder.add(root)
        self.init(storage: builder.storage, nodes: builder.nodes, attributes: builder.attributes)
    }

    /// The document's root element.
    var root: Element { Element(tree: self, index: 0) }

    /// A span's text, decoded.
    func string(_ span: Span) -> String {
        storage.withUnsafeBufferPointer { buffer in
            let bytes = UnsafeBufferPointer(rebasing: buffer[span.start..<span.start + span.count])
            switch span.decoding {
            case .none: return String(decoding: bytes, as: UTF8.self)
            case .text: return decodeReferences(bytes, normalizingWhiteSpace: false)
            case .attribute: return decodeReferences(bytes, normalizingWhiteSpace: true)
            }
        }
    }

    /// Whether a span's bytes are exactly `name`'s UTF-8 (names are never encoded).
    func span(_ span: Span, from offset: Int = 0, equals name: String) -> Bool {
        let count = span.count - offset
        var name = name
        return name.withUTF8 { wanted in
            guard wanted.count == count else { return false }
            return storage.withUnsafeBufferPointer { buffer in
                guard let base = buffer.baseAddress, let other = wanted.baseAddress else { return count == 0 }
                return memcmp(base + span.start + offset, other, count) == 0
            }
        }
    }

    /// An element of the tree: a cheap view, valid as long as it is held.
    struct Element: Sendable {
        let tree: XMLTree
        let index: Int

        private var node: Node { tree.nodes[index] }

        /// The qualified name (`vp:instance`).
        var name: String { tree.string(node.span) }

        /// The name without its prefix.
        var localName: String {
            let node = node
            return tree.string(Span(start: node.span.start + node.localOffset, count: node.span.count - node.localOffset, decoding: .none))
        }

        /// FoundationXML's `uri`: the element's namespace URI or, when it has none, the first
        /// namespace it declares; nil when neither.
        var namespaceURI: String? { node.namespace.map(tree.string) }

        /// Whether the qualified name is `name`.
        func isNamed(_ name: String) -> Bool { tree.span(node.span, equals: name) }

        /// Whether the local name is `name`.
        func hasLocalName(_ name: String) -> Bool {
            let node = node
            return tree.span(node.span, from: node.localOffset, equals: name)
        }

        /// Whether `namespaceURI` is `uri`.
        func isInNamespace(_ uri: String) -> Bool {
            guard let namespace = node.namespace else { return false }
            if namespace.decoding == .none { return tree.span(namespace, equals: uri) }
            return tree.string(namespace) == uri
        }

        /// All child elements, whatever their name or namespace, in document order.
        var childElements: [Element] {
            var children: [Element] = []
            forEachChild { children.append($0); return true }
            return children
        }

        /// Child elements called `name` (qualified name), in document order.
        func elements(_ name: String) -> [Element] {
            var found: [Element] = []
            forEachChild { child in
                if child.isNamed(name) { found.append(child) }
                return true
            }
            return found
        }

        /// The first child element called `name` (qualified name).
        func element(_ name: String) -> Element? {
            var found: Element?
            forEachChild { child in
                guard child.isNamed(name) else { return true }
                found = child
                return false
            }
            return found
        }

        /// The first element along a path of child names (`"cpu/model"`).
        func element(path: String) -> Element? {
            var current: Element? = self
            for name in path.split(separator: "/") {
                current = current?.element(String(name))
            }
            return current
        }

        /// Calls `body` with each child element in order until it returns false.
        private func forEachChild(_ body: (Element) -> Bool) {
            let nodes = tree.nodes
            var child = index + 1
            let end = nodes[index].end
            while child < end {
                if nodes[child].isElement, !body(Element(tree: tree, index: child)) { return }
                child = nodes[child].end
            }
        }

        /// An attribute's value by name without prefix, as FoundationXML's
        /// `attribute(forName:)` finds it (see `Attribute.found`); nil when absent.
        func attribute(_ name: String) -> String? {
            for attribute in tree.attributes[node.attributes]
            where attribute.found && tree.span(attribute.name, from: attribute.localOffset, equals: name) {
                return tree.string(attribute.value)
            }
            return nil
        }

        /// Every attribute as (qualified name, value), in document order.
        var allAttributes: [(name: String, value: String)] {
            tree.attributes[node.attributes].map { (tree.string($0.name), tree.string($0.value)) }
        }

        /// All text below the element, in document order.
        var stringValue: String {
            let nodes = tree.nodes
            let end = nodes[index].end
            var texts = (index + 1..<end).lazy.filter { !nodes[$0].isElement }.makeIterator()
            guard let first = texts.next() else { return "" }
            var text = tree.string(nodes[first].span)
            while let next = texts.next() { text += tree.string(nodes[next].span) }
            return text
        }

        /// The element's text with surrounding white space removed; nil when empty.
        var trimmedText: String? {
            let nodes = tree.nodes
            let end = nodes[index].end
            // The common case, one piece of plain text: trim ASCII white space on the bytes.
            if end == index + 2, !nodes[index + 1].isElement, nodes[index + 1].span.decoding == .none {
                var span = nodes[index + 1].span
                let edges: (first: UInt8, last: UInt8)? = tree.storage.withUnsafeBufferPointer { buffer in
                    while span.count > 0, isASCIIWhiteSpace(buffer[span.start]) { span.start += 1; span.count -= 1 }
                    while span.count > 0, isASCIIWhiteSpace(buffer[span.start + span.count - 1]) { span.count -= 1 }
                    return span.count == 0 ? nil : (buffer[span.start], buffer[span.start + span.count - 1])
                }
                guard let edges else { return nil }
                if edges.first < 0x80, edges.last < 0x80 { return tree.string(span) }
            }
            let text = stringValue.trimmingCharacters(in: .whitespacesAndNewlines)
            return text.isEmpty ? nil : text
        }
    }
}

/// White space as `CharacterSet.whitespacesAndNewlines` has it, in ASCII.
private func isASCIIWhiteSpace(_ byte: UInt8) -> Bool {
    byte == 0x20 || (0x09...0x0D).contains(byte)
}

/// Replaces the references of a span the reader validated (`&lt;`, `&#10;`, `&#x41;`); with
/// `normalizingWhiteSpace`, literal tabs and line feeds become spaces.
private func decodeReferences(_ bytes: UnsafeBufferPointer<UInt8>, normalizingWhiteSpace: Bool) -> String {
    var out: [UInt8] = []
    out.reserveCapacity(bytes.count)
    var index = 0
    while index < bytes.count {
        let byte = bytes[index]
        if normalizingWhiteSpace, byte == 0x09 || byte == 0x0A {
            out.append(0x20)
            index += 1
            continue
        }
        guard byte == UInt8(ascii: "&") else {
            out.append(byte)
            index += 1
            continue
        }
        var end = index + 1
        while end < bytes.count, bytes[end] != UInt8(ascii: ";") { end += 1 }
        let body = UnsafeBufferPointer(rebasing: bytes[index + 1..<end])
        index = end + 1
        if body.first == UInt8(ascii: "#") {
            let hex = body.count > 1 && body[1] == UInt8(ascii: "x")
            var value: UInt32 = 0
            for digit in body.dropFirst(hex ? 2 : 1) {
                value = value &* (hex ? 16 : 10) &+ UInt32(hexValue(digit) ?? 0)
            }
            if let scalar = Unicode.Scalar(value) { UTF8.encode(scalar) { out.append($0) } }
            continue
        }
        switch (body.count, body.first) {
        case (2, UInt8(ascii: "l")): out.append(UInt8(ascii: "<"))
        case (2, _): out.append(UInt8(ascii: ">"))
        case (3, _): out.append(UInt8(ascii: "&"))
        case (4, UInt8(ascii: "q")): out.append(UInt8(ascii: "\""))
        default: out.append(UInt8(ascii: "'"))
        }
    }
    return String(decoding: out, as: UTF8.self)
}

private func hexValue(_ byte: UInt8) -> UInt8? {
    switch byte {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
    case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
    case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
    default: nil
    }
}

/// Builds an `XMLTree` from a FoundationXML element: each name, value and text is appended to
/// the storage as FoundationXML reads it (already decoded).
private struct FoundationTreeBuilder {
    var storage: [UInt8] = []
    var nodes: [XMLTree.Node] = []
    var attributes: [XMLTree.Attribute] = []

    mutating func add(_ element: XMLElement) {
        let qualifiedName = element.name ?? ""
        let localName = element.localName ?? qualifiedName
        let name = append(qualifiedName)
        let localOffset = qualifiedName.hasSuffix(localName) ? qualifiedName.utf8.count - localName.utf8.count : 0
        let firstAttribute = attributes.count
        for attribute in element.attributes ?? [] {
            let qualifiedName = attribute.name ?? ""
            let localName = attribute.localName ?? qualifiedName
            let localOffset = qualifiedName.hasSuffix(localName) ? qualifiedName.utf8.count - localName.utf8.count : 0
            attributes.append(XMLTree.Attribute(
                name: append(qualifiedName), localOffset: localOffset, value: append(attribute.stringValue ?? ""),
                found: element.attribute(forName: localName)?.name == qualifiedName
            ))
        }
        let index = nodes.count
        nodes.append(XMLTree.Node(
            isElement: true, span: name, localOffset: localOffset, namespace: element.uri.map { append($0) },
            end: index + 1, attributes: firstAttribute..<attributes.count
        ))
        for child in element.children ?? [] {
            if let child = child as? XMLElement {
                add(child)
            } else {
                // Text, CDATA, and (as FoundationXML's `stringValue` has it) comments and
                // processing instructions: all count as the element's text.
                let text = append(child.stringValue ?? "")
                nodes.append(XMLTree.Node(isElement: false, span: text, localOffset: 0, namespace: nil, end: nodes.count + 1, attributes: 0..<0))
            }
        }
        nodes[index].end = nodes.count
    }

    private mutating func append(_ text: String) -> XMLTree.Span {
        let start = storage.count
        storage.append(contentsOf: text.utf8)
        return XMLTree.Span(start: start, count: storage.count - start, decoding: .none)
    }
}

/// The reader behind `XMLTree(parsing:)`: one pass over the bytes, no recursion, validating as
/// it goes; `Declined` for anything outside the plain subset it reads (see `XMLTree`).
private struct XMLTreeReader {
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
                let byte = bytes[position]
                // Most bytes are letters, digits or punctuation above `>`: take them at once.
                if byte > UInt8(ascii: ">"), byte != 0xEF { position += 1; continue }
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
                namespaces.removeSubrange(current.namespaces...)
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
            if starts(with: "/>") { position += 2; empty = true; break }
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
            namespaces.removeSubrange(namespaceMark...)
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
            guard position < bytes.count else { throw Declined() }
            let byte = bytes[position]
            if byte == quote { break }
            if byte > UInt8(ascii: "<"), byte != 0xEF { position += 1; continue }
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

        if equal(nameSpan, "xmlns") || (localOffset == 6 && equal(XMLTree.Span(start: nameStart, count: 5, decoding: .none), "xmlns")) {
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
        for earlier in attributes[firstAttribute...] where bytes(of: earlier.name).elementsEqual(bytes(of: nameSpan)) {
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
        let nameStart = position
        _ = try name()
        guard bytes[nameStart..<position].elementsEqual(bytes(of: nodes[node].span)) else { throw Declined() }
        skipWhiteSpace()
        guard at(">") else { throw Declined() }
        position += 1
    }

    /// A name of ASCII letters, digits, `_ - .`, with at most one colon between two parts
    /// (namespaces); returns where the local part starts (0: no prefix).
    private mutating func name() throws(Declined) -> Int {
        let start = position
        guard position < bytes.count, isNameStart(bytes[position]) else { throw Declined() }
        position += 1
        var colon: Int?
        while position < bytes.count {
            let byte = bytes[position]
            if isNameCharacter(byte) {
                position += 1
            } else if byte == UInt8(ascii: ":"), colon == nil, position + 1 < bytes.count, isNameStart(bytes[position + 1]) {
                colon = position
                position += 1
            } else {
                break
            }
        }
        // A colon or non-ASCII byte here (a second colon, a name ending in one): not plain.
        if position < bytes.count, bytes[position] == UInt8(ascii: ":") || bytes[position] >= 0x80 { throw Declined() }
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
        while position < bytes.count, bytes[position] == 0x20 || bytes[position] == 0x0A || bytes[position] == 0x09 {
            position += 1
        }
        return position > start
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

private func isNameStart(_ byte: UInt8) -> Bool {
    (byte | 0x20) >= UInt8(ascii: "a") && (byte | 0x20) <= UInt8(ascii: "z") || byte == UInt8(ascii: "_")
}

private func isNameCharacter(_ byte: UInt8) -> Bool {
    isNameStart(byte) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
        || byte == UInt8(ascii: "-") || byte == UInt8(ascii: ".")
}

/// XML 1.0's `Char`: tab, line feed, carriage return, and U+0020 up, less surrogates and
/// U+FFFE, U+FFFF.
private func isXMLCharacter(_ value: UInt32) -> Bool {
    switch value {
    case 0x09, 0x0A, 0x0D, 0x20...0xD7FF, 0xE000...0xFFFD, 0x10000...0x10FFFF: true
    default: false
    }
}

// MARK: - Writing and sizes

/// A size in libvirt's scaled-integer notation (`<memory unit='KiB'>…`), in bytes. libvirt's
/// default unit is KiB for domain memory and bytes for storage.
func bytes(_ element: XMLElement?, defaultUnit: String) -> UInt64? {
    guard let element else { return nil }
    return scaledBytes(element.trimmedText, unit: element.attribute("unit"), defaultUnit: defaultUnit)
}

/// A size in libvirt's scaled-integer notation, read from an `XMLTree` element.
func bytes(_ element: XMLTree.Element?, defaultUnit: String) -> UInt64? {
    guard let element else { return nil }
    return scaledBytes(element.trimmedText, unit: element.attribute("unit"), defaultUnit: defaultUnit)
}

private func scaledBytes(_ text: String?, unit: String?, defaultUnit: String) -> UInt64? {
    guard let text, let value = UInt64(text) else { return nil }
    let multiplier: UInt64
    switch (unit ?? defaultUnit).lowercased() {
    case "b", "bytes": multiplier = 1
    case "k", "kib": multiplier = 1 << 10
    case "kb": multiplier = 1_000
    case "m", "mib": multiplier = 1 << 20
    case "mb": multiplier = 1_000_000
    case "g", "gib": multiplier = 1 << 30
    case "gb": multiplier = 1_000_000_000
    case "t", "tib": multiplier = 1 << 40
    case "tb": multiplier = 1_000_000_000_000
    case "p", "pib": multiplier = 1 << 50
    case "pb": multiplier = 1_000_000_000_000_000
    case "e", "eib": multiplier = 1 << 60
    case "eb": multiplier = 1_000_000_000_000_000_000
    default: return nil
    }
    let (product, overflow) = value.multipliedReportingOverflow(by: multiplier)
    return overflow ? nil : product
}
