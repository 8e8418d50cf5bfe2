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

/// Parses an XML document and returns its root element.
func parseXML(_ text: String, expectingRoot rootName: String) throws(DomainXMLError) -> XMLElement {
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

/// Escapes text for use in XML content and attribute values.
func xmlEscaped(_ text: String) -> String {
    var escaped = ""
    escaped.reserveCapacity(text.count)
    for character in text {
        switch character {
        case "&": escaped += "&amp;"
        case "<": escaped += "&lt;"
        case ">": escaped += "&gt;"
        case "\"": escaped += "&quot;"
        case "'": escaped += "&apos;"
        default: escaped.append(character)
        }
    }
    return escaped
}

/// A size in libvirt's scaled-integer notation (`<memory unit='KiB'>…`), in bytes. libvirt's
/// default unit is KiB for domain memory and bytes for storage.
func bytes(_ element: XMLElement?, defaultUnit: String) -> UInt64? {
    guard let element, let text = element.trimmedText, let value = UInt64(text) else { return nil }
    let unit = (element.attribute("unit") ?? defaultUnit).lowercased()
    let multiplier: UInt64
    switch unit {
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
