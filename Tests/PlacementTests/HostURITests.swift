import Placement
import Testing

@Suite("Host URIs: the allow-list")
struct HostURITests {
    @Test("accepted", arguments: [
        "qemu+tcp://127.0.0.11/system",
        "qemu+tls://kvm-1.example.net:16514/system",
        "qemu+ssh://virtplace@kvm-a1.eu1.example.net/system",
        "qemu+ssh://root@host1/system?keyfile=/root/.ssh/id_ed25519",
        "qemu+ssh://root@127.0.6.12:2222/system?keyfile=/var/tmp/lab/ssh/id_lab&no_verify=0",
        "qemu+libssh2://root@host1/system?keyfile=/root/.ssh/id_ed25519&known_hosts=/root/.ssh/known_hosts",
        "qemu+libssh2://root@host1/system?known_hosts_verify=normal;sshauth=privkey",
        "qemu+libssh://root@host1:2222/system?known_hosts=/etc/virtplace/known_hosts&sshauth=agent",
        "qemu+tls://[::1]:16514/system?pkipath=/etc/pki/virtplace",
        "qemu+tls://127.0.6.11/system?pkipath=/var/tmp/lab/pki/client&no_verify=0",
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
        ("qemu+libssh2://h/system?known_hosts_verify=ignore", "must be one of: normal, auto"),
        // Checks that would not happen: refused rather than silently ignored.
        ("qemu+tls://h/system?no_verify=1", "would turn off the check of the host's TLS certificate"),
        ("qemu+ssh://h/system?no_verify=1", "would turn off the check"),
        ("qemu+ssh://h/system?no_verify=%31", "would turn off the check"),
        ("qemu+ssh://h/system?keyfile=/k&known_hosts=/k/h", "ignored by libvirt for qemu+ssh"),
        ("qemu+ssh://h/system?known_hosts_verify=normal", "ignored by libvirt for qemu+ssh"),
        ("qemu+ssh://h/system?sshauth=password", "ignored by libvirt for qemu+ssh"),
        // Programs, sockets and the ssh binary stay out of reach on the new schemes too.
        ("qemu+tls://h/system?pkipath=/p&command=/bin/sh", "query parameter 'command' is not allowed"),
        ("qemu+libssh2://h/system?netcat=/bin/nc", "query parameter 'netcat' is not allowed"),
        ("qemu+libssh://h/system?socket=/run/x", "query parameter 'socket' is not allowed"),
        ("qemu+ssh://h/system?proxy=native&ssh=/tmp/evil", "query parameter 'ssh' is not allowed"),
        ("qemu+tls://h/system?pkipath=/etc/pki/../../tmp", "must be an absolute path"),
        ("qemu+tls://h/system?pkipath=relative/dir", "must be an absolute path"),
        ("qemu+tls://h/system?tls_priority=NORMAL%0a", "bad percent-encoding"),
        ("qemu+ssh://-oProxyCommand=sh/system", "bad host name"),
        ("qemu+ssh://root:pw@h:2222/system?keyfile=/k", "a password in a URI is not allowed"),
        ("qemu+ssh://h/system?no_tty=1&no_tty=0", "given twice"),
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
