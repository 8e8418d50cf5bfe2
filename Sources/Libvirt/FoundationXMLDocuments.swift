import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif

// FoundationXML, for what `XMLTree`'s own reader declines and for building documents
// (`DefinitionXML`).

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

    /// All child elements, whatever their name or namespace.
    var childElements: [XMLElement] {
        (children ?? []).compactMap { $0 as? XMLElement }
    }
}

extension XMLTree {
    /// The same tree built from a FoundationXML element: what `parseXMLTree` returns when its
    /// own reader declines a document.
    convenience init(foundationRoot root: XMLElement) {
        var builder = FoundationTreeBuilder()
        builder.add(root)
        self.init(storage: builder.storage, nodes: builder.nodes, attributes: builder.attributes)
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
