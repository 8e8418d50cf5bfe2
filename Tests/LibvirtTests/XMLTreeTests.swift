import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
@testable import Libvirt
import Placement
import Testing

/// `XMLTree`, the reader behind `ObservedDomain.parse`: what it accepts must read exactly as
/// FoundationXML reads it; what it declines goes to FoundationXML.
@Suite("XMLTree: the domain XML reader")
struct XMLTreeTests {
    // MARK: Both readers asked the same questions

    /// The local part of a qualified name.
    static func localPart(_ name: String) -> String {
        name.firstIndex(of: ":").map { String(name[name.index(after: $0)...]) } ?? name
    }

    /// Everything the observer may ask of an element and its descendants, one line each: names,
    /// namespace, attributes, what a lookup by each local name finds, text.
    static func dump(_ element: XMLTree.Element, depth: Int = 0) -> [String] {
        var line = String(repeating: "  ", count: depth)
        line += "<\(element.name)> local=\(element.localName) ns=\(element.namespaceURI ?? "-")"
        var lookups: [String] = []
        for (name, value) in element.allAttributes {
            line += " @\(name)=\(value.debugDescription)"
            if !lookups.contains(localPart(name)) { lookups.append(localPart(name)) }
        }
        for name in lookups { line += " ?\(name)=\(element.attribute(name)?.debugDescription ?? "nil")" }
        line += " text=\(element.stringValue.debugDescription) trimmed=\(element.trimmedText?.debugDescription ?? "nil")"
        if !element.isNamed(element.name) || !element.hasLocalName(element.localName) { line += " (name mismatch)" }
        if let uri = element.namespaceURI, !element.isInNamespace(uri) { line += " (namespace mismatch)" }
        return [line] + element.childElements.flatMap { dump($0, depth: depth + 1) }
    }

    /// The same from FoundationXML's own element (what the observer used before `XMLTree`).
    static func dump(_ element: XMLElement, depth: Int = 0) -> [String] {
        let name = element.name ?? ""
        var line = String(repeating: "  ", count: depth)
        line += "<\(name)> local=\(element.localName ?? name) ns=\(element.uri ?? "-")"
        var lookups: [String] = []
        for attribute in element.attributes ?? [] {
            let name = attribute.name ?? ""
            line += " @\(name)=\((attribute.stringValue ?? "").debugDescription)"
            if !lookups.contains(localPart(name)) { lookups.append(localPart(name)) }
        }
        for name in lookups { line += " ?\(name)=\(element.attribute(forName: name)?.stringValue?.debugDescription ?? "nil")" }
        let trimmed = (element.stringValue ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        line += " text=\((element.stringValue ?? "").debugDescription) trimmed=\(trimmed.isEmpty ? "nil" : trimmed.debugDescription)"
        return [line] + element.childElements.flatMap { dump($0, depth: depth + 1) }
    }

    /// Reads `xml` with `XMLTree`'s reader, with FoundationXML, and with FoundationXML turned
    /// into an `XMLTree`; expects the same answers from all three.
    static func expectSameAsFoundation(_ xml: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let tree = try #require(XMLTree(parsing: xml), "the reader declined \(xml.debugDescription)", sourceLocation: sourceLocation)
        let document = try XMLDocument(xmlString: xml, options: [.nodePreserveWhitespace, .nodeLoadExternalEntitiesNever])
        let foundation = try #require(document.rootElement(), sourceLocation: sourceLocation)
        let ours = dump(tree.root)
        #expect(ours == dump(foundation), sourceLocation: sourceLocation)
        #expect(ours == dump(XMLTree(foundationRoot: foundation).root), sourceLocation: sourceLocation)
    }

    // MARK: Tables

    @Test("plain well-formed XML reads as FoundationXML reads it", arguments: [
        "<r/>",
        "<r></r>",
        "  \n<r/>\n  ",
        "<!-- before --><r/><!-- after -->",
        "<r a='1' b=\"2\" c='' d=\"it's\" e='say \"hi\"'/>",
        "<r a = '1'  \n b\t=\t'2' />",
        "<r a='x\ty\nz' b='p&#10;q&#9;r' c=' s  ' d='&lt;&gt;&amp;&quot;&apos;' e='>'/>",
        "<r>t1<![CDATA[<cd> & ]]]><!--c-->t2<x>in</x>&amp;&#x41;&#66;&lt;&gt;&quot;&apos;</r>",
        "<r>a]b]]c ]> ></r>",
        "<r><!----><!-- a - b --><![CDATA[]]></r>",
        "<r xmlns:vp='urn:u1'><t vp:key='x' key='y'/><vp:instance fleet='f'/><instance xmlns='urn:u2'><tag key='k'>v</tag></instance></r>",
        "<r xmlns='urn:d'><a xmlns=''><b/></a><c/></r>",
        "<r xmlns:a='urn:x'><a:e a:p='1' q='2' a:q='3'/></r>",
        "<m><instance xmlns='urn:virtplace:1' fleet='f'><tag key='k'>v</tag></instance></m>",
        "<r xmlns='urn:d' xmlns:p='urn:d' p:x='1' x='2'/>",
        "<r xmlns:q='urn:q'><s xmlns:p='urn:p' xmlns='urn:d'/><t xmlns:p='urn:p'/></r>",
        "<r xml:lang='en' lang='x'/>",
        "<r xmlns='urn:d' xml:lang='en' lang='x'/>",
        "<r xmlns:a='urn:u' xmlns:b='urn:v' a:x='1' b:y='2' x='3'/>",
        "<r xml:lang='en'/>",
        "<r>\u{A0}x\u{A0}</r>",
        "<r>\u{2003}wide\u{3000}</r>",
        "<r>  \n </r>",
        "<r></r  >",
        "<r a='&#x10FFFF;&#233;'>é ☺ 😀 \u{FEFF}</r>",
        "<r><a><b><c>deep</c> tail</b></a></r>",
        "<r.x-y_z _u='1'><A9 B-.='2'/></r.x-y_z>",
        "<r>&#13;&#9;&#10; x &#x20;</r>",
        "<name>\n  padded\n</name>",
    ])
    func reads(xml: String) throws {
        try Self.expectSameAsFoundation(xml)
    }

    @Test("anything else is declined, for FoundationXML to decide", arguments: [
        "", "   ", "x", "<", "<r>", "<r></s>", "<r><a></r></a>", "</r>", "< r/>", "<r/ >", "<:r/>", "<r:/>",
        "<r a='1' a='2'/>", "<r a='1'b='2'/>", "<r a=1/>", "<r a='x/>", "<r a='<'/>", "<r a/>",
        "<r>]]></r>", "<r><!-- a -- b --></r>", "<r><!-- a ---></r>", "<r><!-- x</r>", "<r><![CDATA[x</r>",
        "<r>\u{1}</r>", "<r a='\u{1F}'/>", "<r>a\r\nb</r>", "<r a='\r'/>", "<r>\u{FFFE}</r>", "<r>\u{FFFF}</r>",
        "<r>&#0;</r>", "<r>&#xD800;</r>", "<r>&#xFFFE;</r>", "<r>&#x110000;</r>", "<r>&#X41;</r>", "<r>&#;</r>",
        "<r>&#x;</r>", "<r>&#12345678901;</r>", "<r>&foo;</r>", "<r>&lt</r>", "<r>& </r>",
        "<r/>x", "<r/><r/>", "<r/>&amp;",
        "<?xml version='1.0'?><r/>", "<!DOCTYPE r><r/>", "<r><?pi x?></r>", "\u{FEFF}<r/>",
        "<é/>", "<r é='1'/>", "<r><vp:x/></r>", "<r vp:a='1'/>", "<r><a:b:c/></r>", "<r xml:a:b='1'/>",
        "<r xmlns:p=''/>", "<r xmlns:xml='http://www.w3.org/XML/1998/namespace'/>", "<r xmlns:xmlns='u'/>",
        "<r xmlns='a' xmlns='b'/>", "<r xmlns:p='a' xmlns:p='b'/>", "<r xmlns:p='u' xmlns:q='u' p:a='1' q:a='2'/>",
        "<xml:r/>", "<r xmlns:a='urn:x&amp;y'/>", "<r xmlns='urn:a&#10;'/>",
        "<r xmlns:a='urn:a'><b xmlns:a='urn:a'/></r>", "<r xmlns='urn:d'><b xmlns='urn:d'/></r>",
        "<r xmlns='http://www.w3.org/XML/1998/namespace' xml:lang='en'/>", "<r xmlns:x='http://www.w3.org/XML/1998/namespace'/>",
    ])
    func declines(xml: String) {
        #expect(XMLTree(parsing: xml) == nil)
    }

    @Test("what it reads: references, attribute white space, comments and CDATA in text, namespaces")
    func values() throws {
        let tree = try #require(XMLTree(parsing: """
            <d xmlns:vp='urn:virtplace:1' a='x\ty\nz' b='p&#10;q' c='&lt;&amp;&quot;&apos;&gt;'>\
            <n>  a &lt;b&gt; &#x263A;&#65; </n><m>x<!-- c -->y<![CDATA[<z>]]></m>\
            <vp:instance fleet='f'><vp:tag key='k'>v</vp:tag></vp:instance><e/></d>
            """))
        let root = tree.root
        #expect(root.attribute("a") == "x y z")
        #expect(root.attribute("b") == "p\nq")
        #expect(root.attribute("c") == "<&\"'>")
        #expect(root.attribute("missing") == nil)
        #expect(root.element("n")?.trimmedText == "a <b> ☺A")
        #expect(root.element("m")?.stringValue == "x c y<z>")
        #expect(root.element("e")?.trimmedText == nil)
        let instance = try #require(root.element("vp:instance"))
        #expect(root.element("instance") == nil)
        #expect(instance.localName == "instance" && instance.namespaceURI == "urn:virtplace:1")
        #expect(instance.isInNamespace(VirtplaceMetadata.namespace) && instance.hasLocalName("instance"))
        #expect(VirtplaceMetadata.tags(in: instance) == ["k": "v"])
        #expect(root.childElements.map(\.name) == ["n", "m", "vp:instance", "e"])
        // No namespace of its own: FoundationXML's `uri` is the first one it declares.
        #expect(root.elements("n").count == 1 && root.namespaceURI == "urn:virtplace:1")
        #expect(root.element("n")?.namespaceURI == nil)
    }

    // MARK: Domains: the fast reader against the FoundationXML path

    /// Domain XML as libvirt writes it: every domain of the test-driver fixtures (as the test
    /// driver formats them), two from a QEMU daemon (`qemu-*.xml`), and the hand-written ones of
    /// `DomainXMLTests`.
    static func fixtureDomains() throws -> [(label: String, xml: String)] {
        var domains: [(String, String)] = []
        for host in ["host1", "host2"] {
            let connection = try Fixture.connection(host)
            for domain in try connection.listAllDomains() {
                domains.append(("\(host)/\(domain.name)", try domain.xml(flags: .inactive)))
            }
        }
        for name in ["qemu-rich", "qemu-bench"] {
            domains.append((name, try String(contentsOfFile: Fixture.path(name), encoding: .utf8)))
        }
        domains.append(("DomainXMLTests.fullXML", DomainXMLTests.fullXML))
        domains.append(("namespace quirks", Self.quirksXML))
        return domains
    }

    /// A domain whose root declares a namespace (as with `<qemu:commandline>`), with virtplace
    /// metadata in a default namespace: FoundationXML reports the root's `uri` as the declared
    /// namespace and finds no `fleet` or `key` attribute under the default namespace, so this
    /// domain reads as unmanaged; the reader must answer the same.
    static let quirksXML = """
        <domain type='kvm' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>
          <name>quirks</name>
          <uuid>00000000-0000-4000-8000-0000000000aa</uuid>
          <metadata>
            <instance xmlns="urn:virtplace:1" fleet="lab"><tag key="k">v</tag></instance>
          </metadata>
          <memory unit='MiB'>64</memory>
          <vcpu>1</vcpu>
          <os><type>hvm</type></os>
          <qemu:commandline><qemu:arg value='-S'/></qemu:commandline>
        </domain>
        """

    @Test("fixture domains: the same tree and the same observed values as through FoundationXML")
    func differential() throws {
        let domains = try Self.fixtureDomains()
        #expect(domains.count >= 10)
        for (label, xml) in domains {
            let tree = try #require(XMLTree(parsing: xml), "\(label): declined")
            let foundation = try parseXML(xml, expectingRoot: "domain")
            #expect(Self.dump(tree.root) == Self.dump(foundation), "\(label)")

            func observe(_ root: XMLTree.Element) throws -> ObservedDomain {
                try ObservedDomain.parse(
                    root: root, xml: xml, state: "running", stateReason: "booted", persistent: true, autostart: false,
                    snapshotCount: 0, liveVcpus: 1, liveMemoryMiB: 100, volumes: DomainXMLTests.volumes
                )
            }
            let fast = try observe(tree.root)
            #expect(fast == (try observe(XMLTree(foundationRoot: foundation).root)), "\(label)")
            #expect(fast.xmlDigest == SHA256.hex(xml))
        }
    }

    @Test("the QEMU fixture: every field the observer reads")
    func qemuRich() throws {
        let xml = try String(contentsOfFile: Fixture.path("qemu-rich"), encoding: .utf8)
        let domain = try ObservedDomain.parse(xml: xml, state: "shutoff", volumes: DomainXMLTests.volumes)
        #expect(domain.name == "obsperf-rich" && domain.uuid == "abcdef01-2345-4789-8bcd-ef0123456789")
        #expect(domain.vcpus == 3 && domain.maxVcpus == 8 && domain.memoryMiB == 2048 && domain.maxMemoryMiB == 4096)
        #expect(domain.cpuMode == "custom" && domain.cpuModel == "qemu64")
        #expect(domain.firmware == "efi" && domain.nvram == "/var/lib/libvirt/qemu/nvram/obsperf-rich_VARS.fd")
        #expect(domain.fleet == "prod")
        #expect(domain.tags == ["tier": "db", "quote": "a <b> & \"c\" 'd'", "path": "/srv/a b"])
        #expect(domain.disks.map(\.target) == ["vda", "vdb", "vdc", "vdd", "sdb", "sda"])
        #expect(domain.disks[1].pool == "shared" && domain.disks[1].volume == "rich-b.raw" && domain.disks[1].path == nil)
        #expect(domain.disks[3].transient && domain.disks[5].readOnly && domain.disks[0].bootOrder == 2)
        #expect(domain.nics == [
            ObservedNIC(type: "network", mac: "52:54:00:aa:bb:cc", network: "lan", model: "virtio"),
            ObservedNIC(type: "bridge", mac: "52:54:00:00:00:02", bridge: "br0", model: "e1000"),
        ])
        #expect(domain.hostdevs == [ObservedHostdev(type: "usb", address: "046d:c52b")])
        #expect(domain.hasTPM && domain.hasVirtiofs)
    }

    @Test("declined documents still read through FoundationXML, as before", arguments: [
        "<?xml version='1.0' encoding='UTF-8'?>\n<domain><name>a</name><uuid>U</uuid></domain>",
        "<!DOCTYPE domain>\n<domain><name>a</name><uuid>U</uuid></domain>",
        "<domain>\r\n<name>a</name>\r\n<uuid>U</uuid>\r\n</domain>",
        "<domain><name>a<?pi?></name><uuid>U</uuid><vcpu>2</vcpu></domain>",
    ])
    func fallback(xml: String) throws {
        // Documents libxml2 would complain about on stderr are left out: capturing stderr
        // takes a process-wide lock, and waiting for it on the cooperative pool starves the
        // timing tests that run alongside.
        #expect(XMLTree(parsing: xml) == nil)
        let domain = try ObservedDomain.parse(xml: xml, state: "shutoff")
        #expect(domain.name == "a" && domain.uuid == "u")
        #expect(domain.xmlDigest == SHA256.hex(xml))
    }

    @Test("an empty document is an error, not a crash")
    func empty() {
        #expect(throws: DomainXMLError.self) { try ObservedDomain.parse(xml: "", state: "shutoff") }
        #expect(throws: DomainXMLError.self) { try parseXML("", expectingRoot: "pool") }
    }

    @Test("a document with another root is refused by both readers", arguments: [
        "<network><name>n</name></network>", "<?xml version='1.0'?><network/>",
    ])
    func otherRoot(xml: String) {
        #expect(throws: DomainXMLError("expected a <domain> document")) { try parseXMLTree(xml, expectingRoot: "domain") }
    }
}
