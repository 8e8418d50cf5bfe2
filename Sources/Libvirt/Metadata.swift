import Foundation
import Placement

/// What virtplace records in a managed domain's XML, in namespace `urn:virtplace:1`:
///
/// ```xml
/// <metadata>
///   <virtplace:instance xmlns:virtplace="urn:virtplace:1" fleet="lab">
///     <virtplace:tag key="tier">web</virtplace:tag>
///   </virtplace:instance>
/// </metadata>
/// ```
///
/// `fleet` is the desired-state file's `metadata.name`; one `tag` per tag, sorted by key.
/// It travels with the definition (migration with `PERSIST_DEST`, define elsewhere).
public struct VirtplaceMetadata: Equatable, Sendable {
    /// The XML namespace of virtplace's metadata element.
    public static let namespace = "urn:virtplace:1"
    /// The prefix libvirt writes the element under.
    public static let prefix = "virtplace"

    public var fleet: String
    public var tags: [String: String]

    /// Metadata for an instance of fleet `fleet` with these tags.
    public init(fleet: String, tags: [String: String] = [:]) {
        self.fleet = fleet
        self.tags = tags
    }

    /// The element without a prefix, as `virDomainSetMetadata` takes it. The fleet name and
    /// tag keys are escaped by `Escape.xmlAttribute`, tag values by `Escape.xmlText`: tabs,
    /// line feeds and CRs read back as they were; a character XML cannot hold is written as
    /// U+FFFD (validation refuses such names and tags before anything is applied).
    public var elementXML: String {
        render(prefix: "", namespaceDeclaration: "")
    }

    /// The element with its prefix and namespace declaration, to embed in `<metadata>` of a
    /// domain XML written by hand.
    public var prefixedElementXML: String {
        render(prefix: "\(Self.prefix):", namespaceDeclaration: " xmlns:\(Self.prefix)=\"\(Self.namespace)\"")
    }

    private func render(prefix: String, namespaceDeclaration: String) -> String {
        var xml = "<\(prefix)instance\(namespaceDeclaration) fleet=\"\(Escape.xmlAttribute(fleet))\""
        guard !tags.isEmpty else { return xml + "/>" }
        xml += ">"
        for key in tags.keys.sorted() {
            xml += "<\(prefix)tag key=\"\(Escape.xmlAttribute(key))\">\(Escape.xmlText(tags[key] ?? ""))</\(prefix)tag>"
        }
        return xml + "</\(prefix)instance>"
    }

    /// Reads the element as `virDomainGetMetadata` returns it (or either form above), with
    /// `parseXMLTree` (FoundationXML keeps every document it parses: see `parseXML`).
    /// - Throws: `DomainXMLError` when it is not an `instance` element with a `fleet`.
    public init(elementXML: String) throws {
        let root = try parseXMLTree(elementXML, expectingRoot: "instance")
        guard let fleet = root.attribute("fleet") else {
            throw DomainXMLError("virtplace metadata without a fleet attribute")
        }
        self.init(fleet: fleet, tags: Self.tags(in: root))
    }
}
