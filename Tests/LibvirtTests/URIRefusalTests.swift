import Foundation
@testable import Libvirt
import Testing

/// Defence in depth (issue 12): a URI that did not come through validation (a saved plan, a
/// snapshot, a caller's mistake) still cannot make libvirt run a program or read a file, and
/// what libvirt says about a URI never carries its query or password.
@Suite("URIs refused at the connection")
struct URIRefusalTests {
    /// A script that, if anything ran it, would leave a marker file: the witness that nothing did.
    static func trap() throws -> (script: String, marker: String) {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("virtplace-uri-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let script = dir.appendingPathComponent("prog").path
        let marker = dir.appendingPathComponent("ran").path
        try "#!/bin/sh\ntouch '\(marker)'\nexit 1\n".write(toFile: script, atomically: false, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: script)
        return (script, marker)
    }

    @Test("a URI that names a program is refused before libvirt sees it", arguments: [
        "qemu+ext:///system?command=PROG",
        "qemu+ssh://localhost/system?command=PROG",
        "qemu+ssh://localhost/system?netcat=PROG",
        "qemu+libssh2://localhost/system?command=PROG",
    ])
    func noProgramRuns(_ template: String) throws {
        let (script, marker) = try Self.trap()
        let uri = template.replacingOccurrences(of: "PROG", with: script)
        let error = #expect(throws: LibvirtError.self) { try Connection(uri: uri) }
        #expect(error?.code == .invalidArg)
        #expect(error?.message.contains("refused") == true)
        #expect(error?.message.contains(script) == false, "the query is not echoed")
        // Give a spawned program (there is none) time to run.
        Thread.sleep(forTimeInterval: 0.2)
        #expect(!FileManager.default.fileExists(atPath: marker), "the program ran")
    }

    @Test("the test driver only when the caller allows it")
    func testDriverNeedsTheFlag() throws {
        let refused = #expect(throws: LibvirtError.self) { try Connection(uri: "test:///default") }
        #expect(refused?.code == .invalidArg)
        #expect(throws: LibvirtError.self) { try Connection(uri: "test:///etc/passwd", allowTestDriver: true) }
        let connection = try Connection(uri: "test:///default", allowTestDriver: true)
        #expect(try connection.hypervisorType() == "TEST")
    }

    @Test("a password in a URI is refused and not echoed")
    func passwords() {
        let error = #expect(throws: LibvirtError.self) { try Connection(uri: "qemu+tls://admin:s3cret@127.0.0.1/system?keyfile=/secret/path") }
        #expect(error?.message.contains("s3cret") == false)
        #expect(error?.message.contains("/secret") == false)
    }

    @Test("an unattended run opens qemu+ssh in batch mode (no_tty=1), whatever the URI said; other schemes unchanged")
    func unattendedSSH() {
        #expect(LibvirtURI.unattended("qemu+ssh://root@h:2222/system") == "qemu+ssh://root@h:2222/system?no_tty=1")
        #expect(LibvirtURI.unattended("qemu+ssh://h/system?keyfile=/k&no_tty=0") == "qemu+ssh://h/system?keyfile=/k&no_tty=1")
        #expect(LibvirtURI.unattended("qemu+ssh://h/system?no_tty=1;keyfile=/k") == "qemu+ssh://h/system?keyfile=/k&no_tty=1")
        for uri in ["qemu+tls://h/system?pkipath=/p", "qemu+libssh2://h/system?keyfile=/k", "qemu+tcp://h/system", "test:///default"] {
            #expect(LibvirtURI.unattended(uri) == uri)
        }
    }

    @Test("a connection that refuses prompts opens like any other when none is asked")
    func refusingPromptsOpens() throws {
        let connection = try Connection(uri: "test:///default", allowTestDriver: true, prompts: .refuse)
        #expect(try connection.hypervisorType() == "TEST")
        #expect(promptKinds([5]) == "a password or passphrase")
        #expect(promptKinds([6, 2]) == "a yes/no answer (e.g. whether to accept an unknown SSH host key) and a user name")
    }

    @Test("libvirt's own messages lose the query, its values and a password")
    func redaction() {
        let uri = "qemu+ssh://admin:s3cret@h1/system?keyfile=/secret/path&known_hosts=/k/h"
        let error = LibvirtError(code: .systemError, message: "Cannot recv data: \(uri); could not read /secret/path (s3cret)")
            .redacting(uri: uri)
        #expect(!error.message.contains("s3cret"))
        #expect(!error.message.contains("/secret/path"))
        #expect(!error.message.contains("/k/h"))
        #expect(error.message.hasPrefix("Cannot recv data: qemu+ssh://admin@h1/system;"))
        // An allowed URI that fails: the message libvirt gives is redacted on the way out.
        let refused = #expect(throws: LibvirtError.self) { try Connection(uri: "qemu+tcp://127.0.0.99:1/system?keyfile=/secret/path") }
        #expect(refused?.message.contains("/secret") == false)
    }
}
