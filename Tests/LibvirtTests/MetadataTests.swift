import Libvirt
import Placement
import Testing

@Suite("virtplace metadata")
struct MetadataTests {
    @Test("element without prefix, tags sorted, text escaped")
    func element() {
        let metadata = VirtplaceMetadata(fleet: "lab & co", tags: ["tier": "web", "a": "<1>"])
        #expect(metadata.elementXML
            == #"<instance fleet="lab &amp; co"><tag key="a">&lt;1&gt;</tag><tag key="tier">web</tag></instance>"#)
        #expect(VirtplaceMetadata(fleet: "lab").elementXML == #"<instance fleet="lab"/>"#)
    }

    @Test("element with prefix and namespace, for hand-written domain XML")
    func prefixed() {
        #expect(VirtplaceMetadata(fleet: "lab", tags: ["k": "v"]).prefixedElementXML
            == #"<virtplace:instance xmlns:virtplace="urn:virtplace:1" fleet="lab"><virtplace:tag key="k">v</virtplace:tag></virtplace:instance>"#)
    }

    @Test("round trip through both forms")
    func roundTrip() throws {
        let metadata = VirtplaceMetadata(fleet: "prod", tags: ["tier": "db", "quote": "\"'&<>", "empty": ""])
        #expect(try VirtplaceMetadata(elementXML: metadata.elementXML) == metadata)
        #expect(try VirtplaceMetadata(elementXML: metadata.prefixedElementXML) == metadata)
    }

    @Test("embedded in a domain, it is read back by the observer's parser")
    func inDomain() throws {
        let metadata = VirtplaceMetadata(fleet: "prod", tags: ["tier": "db"])
        let xml = "<domain type='qemu'><name>d</name><uuid>00000000-0000-4000-8000-000000000009</uuid>"
            + "<metadata>\(metadata.prefixedElementXML)</metadata>"
            + "<memory unit='MiB'>64</memory><vcpu>1</vcpu><os><type>hvm</type></os></domain>"
        let domain = try ObservedDomain.parse(xml: xml, state: "shutoff")
        #expect(domain.fleet == "prod")
        #expect(domain.tags == ["tier": "db"])
    }

    @Test("an element without a fleet is refused")
    func noFleet() {
        #expect(throws: DomainXMLError.self) { try VirtplaceMetadata(elementXML: "<instance/>") }
        #expect(throws: DomainXMLError.self) { try VirtplaceMetadata(elementXML: "<other fleet='x'/>") }
    }
}
