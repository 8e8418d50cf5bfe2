import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import Libvirt
import Placement
import Testing

/// The XML virtplace writes for libvirt holds any name or tag as it was (issue 12): tabs, line
/// feeds and CRs are not normalised away by the parser, markup characters and `]]>` stay text,
/// and a character XML 1.0 cannot hold is never written.
@Suite("XML for libvirt: every value escaped")
struct XMLEscapingTests {
    /// Values XML can hold but a parser would change if they were written raw, and markup.
    static let awkward: [String] = [
        "tab\there", "line\nfeed", "carriage\rreturn", "crlf\r\nend", " lead and trail ",
        "<&\"'>", "cdata]]>end", "del\u{7F} c1\u{9B} bidi\u{202E} sep\u{2028}",
    ]

    @Test("metadata: fleet, tag keys and values read back the same, through both forms", arguments: awkward)
    func metadataRoundTrip(_ value: String) throws {
        let metadata = VirtplaceMetadata(fleet: "f" + value, tags: [value: value, "k": value, "v" + value: "plain"])
        #expect(try VirtplaceMetadata(elementXML: metadata.elementXML) == metadata, "\(metadata.elementXML)")
        #expect(try VirtplaceMetadata(elementXML: metadata.prefixedElementXML) == metadata)
        // An independent parser (libxml2 through Foundation) reads the same attribute values.
        let element = try XMLElement(xmlString: metadata.elementXML)
        #expect(element.attribute(forName: "fleet")?.stringValue == "f" + value)
    }

    @Test("metadata: a character XML cannot hold is never written; the element stays well-formed")
    func metadataUnrepresentable() throws {
        let metadata = VirtplaceMetadata(fleet: "esc\u{1B}[2J", tags: ["nul\u{0}": "bell\u{7}", "ok": "\u{FFFF}"])
        let xml = metadata.elementXML
        #expect(!xml.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0xFFFE || $0.value == 0xFFFF }, "\(xml)")
        let read = try VirtplaceMetadata(elementXML: xml)
        #expect(read.fleet == "esc\u{FFFD}[2J")
        #expect(read.tags == ["nul\u{FFFD}": "bell\u{FFFD}", "ok": "\u{FFFD}"])
    }

    @Test("metadata through libvirt (test driver): tags with tabs, newlines, CRs and markup come back unchanged")
    func metadataThroughLibvirt() throws {
        let connection = try Fixture.connection("host1")
        let domain = try connection.defineDomain(xml: testDomainXML(name: "escaping-1", uuid: "eeeeeeee-0000-4000-8000-000000000012"))
        var tags: [String: String] = [:]
        for (i, value) in Self.awkward.enumerated() { tags["k\(i)" + value] = value }
        let metadata = VirtplaceMetadata(fleet: "lab\tone", tags: tags)
        try domain.setVirtplaceMetadata(metadata, flags: .config)
        #expect(try domain.virtplaceMetadata(flags: .config) == metadata)
        let observed = try #require(try connection.observeHost(name: "host1").host.domains.first { $0.name == "escaping-1" })
        #expect(observed.tags == tags)
        #expect(observed.fleet == "lab\tone")
    }

    @Test("volume, disk and interface XML: names read back as given", arguments: awkward)
    func definitions(_ value: String) throws {
        let volume = try XMLElement(xmlString: DefinitionXML.volume(name: value, capacityBytes: 1, format: "q'" + value))
        #expect(volume.elements(forName: "name").first?.stringValue == value)
        let format = volume.elements(forName: "target").first?.elements(forName: "format").first
        #expect(format?.attribute(forName: "type")?.stringValue == "q'" + value)

        let disk = try XMLElement(xmlString: DefinitionXML.volumeDisk(pool: "p" + value, volume: value, format: value, target: "vd'" + value,
                                                                      bus: value, readOnly: false))
        let source = disk.elements(forName: "source").first
        #expect(source?.attribute(forName: "pool")?.stringValue == "p" + value)
        #expect(source?.attribute(forName: "volume")?.stringValue == value)
        #expect(disk.elements(forName: "target").first?.attribute(forName: "dev")?.stringValue == "vd'" + value)
        #expect(disk.elements(forName: "target").first?.attribute(forName: "bus")?.stringValue == value)

        let nic = try XMLElement(xmlString: DefinitionXML.interface(network: value, bridge: nil, mac: nil, model: value))
        #expect(nic.elements(forName: "source").first?.attribute(forName: "network")?.stringValue == value)
        #expect(nic.elements(forName: "model").first?.attribute(forName: "type")?.stringValue == value)
    }

    @Test("a volume name's CR survives as a character reference")
    func carriageReturnInText() throws {
        let xml = DefinitionXML.volume(name: "a\rb", capacityBytes: 1, format: nil)
        #expect(xml.contains("<name>a&#13;b</name>"))
        #expect(try XMLElement(xmlString: xml).elements(forName: "name").first?.stringValue == "a\rb")
    }
}
