import Foundation

// The XML reader of the Libvirt module: every document libvirt returns (domains, capabilities,
// pools, volumes, networks, virtplace metadata) is read into an `XMLTree` by `parseXMLTree`.
// The parser itself is `XMLTreeReader` (XMLTreeReader.swift); what it declines goes through
// FoundationXML (FoundationXMLDocuments.swift), which also builds the definitions virtplace
// writes.

/// An XML document libvirt returned could not be read as expected.
public struct DomainXMLError: Error, Equatable, Sendable, CustomStringConvertible {
    public var message: String
    /// An error with this message.
    public init(_ message: String) { self.message = message }
    public var description: String { message }
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

    init(storage: [UInt8], nodes: [Node], attributes: [Attribute]) {
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
        // Most names asked about differ in length from the one at hand: no bytes compared.
        guard name.utf8.count == count else { return false }
        var name = name
        return name.withUTF8 { wanted in
            storage.withUnsafeBufferPointer { buffer in
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
            forEachChild(named: name) { found.append(Element(tree: tree, index: $0)); return true }
            return found
        }

        /// The first child element called `name` (qualified name).
        func element(_ name: String) -> Element? {
            var found: Int?
            forEachChild(named: name) { found = $0; return false }
            return found.map { Element(tree: tree, index: $0) }
        }

        /// Calls `body` with the index of each child element called `name`, in order, until it
        /// returns false. The observer asks each domain for some thirty children by name: the
        /// bytes are compared in place, with no element made for a child that does not match.
        private func forEachChild(named name: String, _ body: (Int) -> Bool) {
            var name = name
            name.withUTF8 { wanted in
                tree.storage.withUnsafeBufferPointer { storage in
                    tree.nodes.withUnsafeBufferPointer { nodes in
                        var child = index + 1
                        let end = nodes[index].end
                        while child < end {
                            let span = nodes[child].span
                            if nodes[child].isElement, span.count == wanted.count,
                               wanted.isEmpty || memcmp(storage.baseAddress! + span.start, wanted.baseAddress!, wanted.count) == 0,
                               !body(child) {
                                return
                            }
                            child = nodes[child].end
                        }
                    }
                }
            }
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

func hexValue(_ byte: UInt8) -> UInt8? {
    switch byte {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
    case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
    case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
    default: nil
    }
}
