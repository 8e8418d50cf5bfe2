import Libvirt
import Placement
import Testing

@Suite("URIs")
struct URITests {
    @Test("redaction drops the query and a password", arguments: [
        ("qemu+tcp://127.0.0.11/system", "qemu+tcp://127.0.0.11/system"),
        ("qemu+ssh://root@host1/system?keyfile=/root/.ssh/id&no_verify=1", "qemu+ssh://root@host1/system"),
        ("qemu+tls://admin:secret@host2:16514/system?pkipath=/etc/pki", "qemu+tls://admin@host2:16514/system"),
        ("test:///default", "test:///default"),
        ("qemu:///system?socket=/run/x", "qemu:///system"),
    ])
    func redaction(uri: String, expected: String) {
        #expect(HostURI.redacted(uri) == expected)
    }

    @Test("remote URIs are those with a host or a transport", arguments: [
        ("qemu+tcp://127.0.0.11/system", true),
        ("qemu://host/system", true),
        ("qemu+ssh://root@host1/system", true),
        ("qemu:///system", false),
        ("test:///default", false),
        ("test:///tmp/host1.xml", false),
    ])
    func remote(uri: String, expected: Bool) {
        #expect(LibvirtURI.isRemote(uri) == expected)
    }
}
