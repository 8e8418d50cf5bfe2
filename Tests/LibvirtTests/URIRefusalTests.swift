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
