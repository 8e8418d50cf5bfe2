import Foundation

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

    /// The element without a prefix, as `virDomainSetMetadata` takes it.
    public var elementXML: String {
        render(prefix: "", namespaceDeclaration: "")
    }

    /// The element with its prefix and namespace declaration, to embed in `<metadata>` of a
    /// domain XML written by hand.
    public var prefixedElementXML: String {
        render(prefix: "\(Self.prefix):", namespaceDeclaration: " xmlns:\(Self.prefix)=\"\(Self.namespace)\"")
    }

    private func render(prefix: String, namespaceDeclaration: String) -> String {
        var xml = "<\(prefix)instance\(namespaceDeclaration) fleet=\"\(xmlEscaped(fleet))\""
        guard !tags.isEmpty else { return xml + "/>" }
        xml += ">"
        for key in tags.keys.sorted() {
            xml += "<\(prefix)tag key=\"\(xmlEscaped(key))\">\(xmlEscaped(tags[key] ?? ""))</\(prefix)tag>"
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
