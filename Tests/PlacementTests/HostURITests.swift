import Placement
import Testing

@Suite("Host URIs: the allow-list")
struct HostURITests {
    @Test("accepted", arguments: [
        "qemu+tcp://127.0.0.11/system",
        "qemu+tls://kvm-1.example.net:16514/system",
        "qemu+ssh://virtplace@kvm-a1.eu1.example.net/system",
        "qemu+ssh://root@host1/system?keyfile=/root/.ssh/id_ed25519&known_hosts=/root/.ssh/known_hosts",
        "qemu+libssh2://root@host1/system?known_hosts_verify=normal;sshauth=privkey",
        "qemu+tls://[::1]:16514/system?pkipath=/etc/pki/virtplace",
        "qemu:///system",
        "qemu+unix:///session",
        "qemu+ssh://h/system?no_tty=1&mode=direct&proxy=native",
    ])
    func accepted(uri: String) throws {
        #expect(HostURI.problem(uri, allowTestDriver: false) == nil)
    }

    @Test("anything that runs a program, opens a local file or names another URI is refused", arguments: [
        ("qemu+ssh://h/system?command=/bin/sh", "query parameter 'command' is not allowed"),
        ("qemu+ssh://h/system?c%6fmmand=/bin/sh", "query parameter 'command' is not allowed"),
        ("qemu+ssh://h/system?netcat=/tmp/x", "query parameter 'netcat' is not allowed"),
        ("qemu+ssh://h/system?keyfile=/k;netcat=/tmp/x", "query parameter 'netcat' is not allowed"),
        ("qemu+ext:///system?command=/tmp/x", "transport 'ext' runs a program"),
        ("qemu+ssh://h/system?socket=/tmp/s", "query parameter 'socket' is not allowed"),
        ("qemu+tcp://h/system?name=test:///etc/shadow", "query parameter 'name' is not allowed"),
        ("qemu:///embed?root=/tmp/r", "path '/embed'"),
        ("test:///etc/passwd", "the test driver reads local files"),
        ("test:///default", "the test driver reads local files"),
        ("lxc:///system", "unknown driver 'lxc'"),
        ("qemu+ssh://h/system?proxy=netcat", "must be one of: auto, native"),
        ("qemu+ssh://h/system?keyfile=../../etc/shadow", "must be an absolute path"),
        ("qemu+ssh://h/system?known_hosts_verify=ignore", "must be one of: normal, auto"),
        ("qemu+ssh://h/system#frag", "a fragment"),
        ("qemu+ssh://h/system?keyfile=%00", "bad percent-encoding"),
        ("qemu+tcp://-oProxyCommand=x/system", "bad host name"),
        ("qemu+tcp:///system", "a remote transport needs a host"),
        ("qemu+tcp://h:0/system", "bad port"),
        ("qemu+tcp://h:99999/system", "bad port"),
        ("qemu+tcp://h/sys\u{1b}[2Jtem", "control character"),
        ("qemu+tcp://h /system", "white space"),
    ])
    func refused(uri: String, expected: String) {
        let problem = HostURI.problem(uri, allowTestDriver: false)
        #expect(problem?.contains(expected) == true, "\(problem ?? "accepted")")
        // The message never carries a control character.
        #expect(problem?.unicodeScalars.allSatisfy { $0.value >= 0x20 && $0.value < 0x7F } == true)
    }

    @Test("the test driver only when allowed, and only its two forms")
    func testDriver() {
        #expect(HostURI.problem("test:///default", allowTestDriver: true) == nil)
        #expect(HostURI.problem("test:///tmp/host1.xml", allowTestDriver: true) == nil)
        #expect(HostURI.problem("test:///tmp/../etc/x.xml", allowTestDriver: true) != nil)
        #expect(HostURI.problem("test:///etc/passwd", allowTestDriver: true) != nil)
        #expect(HostURI.problem("test+tcp://h/default", allowTestDriver: true) != nil)
        #expect(HostURI.allowsTestDriver(["VIRTPLACE_ALLOW_TEST_DRIVER": "1"]))
        #expect(!HostURI.allowsTestDriver(["VIRTPLACE_ALLOW_TEST_DRIVER": "yes"]))
        #expect(!HostURI.allowsTestDriver([:]))
    }

    @Test("a password is refused and never shown")
    func password() {
        let problem = HostURI.problem("qemu+tls://admin:s3cret@host2/system", allowTestDriver: false)
        #expect(problem?.contains("password") == true)
        #expect(problem?.contains("s3cret") == false)
        #expect(HostURI.redacted("qemu+tls://admin:s3cret@host2:16514/system?pkipath=/etc/pki") == "qemu+tls://admin@host2:16514/system")
        #expect(HostURI.redacted("junk:s3cret@x") .contains("s3cret") == false)
        #expect(HostURI.redacted("q\u{1b}]0;x\u{7}") == "q?]0;x?")
        #expect(HostURI.redacted(String(repeating: "a", count: 5000)).count == HostURI.maximumLength)
    }

    @Test("one daemon, however it is spelled")
    func daemonKey() throws {
        let a = try HostURI("qemu+tcp://Host1/system", allowTestDriver: false)
        let b = try HostURI("qemu+tcp://host1/system?mode=direct", allowTestDriver: false)
        #expect(a.daemonKey == b.daemonKey)
    }
}
