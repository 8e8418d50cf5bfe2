import Foundation
import Placement
import Testing

/// Secure control connections (issue 16): `observe` and `apply` with host1 reached over
/// `qemu+tls://` (the lab CA's client certificate) and host2 over `qemu+ssh://` (the lab's sshd,
/// key login), judged by virsh over plain tcp and by the SSH host's own sshd log; credential
/// prompts refused in unattended runs, without waiting for an answer.
@Suite(.serialized) struct SecureConnectionLabTests {
    /// A hosts file: the lab's hosts, with `uris[i]` in place of host i's tcp URI.
    static func hostsFile(_ lab: Lab, _ vp: VirtPlace, _ uris: [Int: String], name: String = "secure-hosts.yaml") throws -> String {
        var text = "hosts:\n"
        for i in 1...3 {
            text += "  host\(i):\n    uri: \"\(uris[i] ?? lab.uri(i))\"\n    faultDomain: \(lab.env["LAB_FD_\(i)"] ?? "fd-\(i)")\n"
        }
        let path = vp.workDir + "/" + name
        try text.write(toFile: path, atomically: false, encoding: .utf8)
        return path
    }

    static func tlsURI(_ lab: Lab, _ i: Int) throws -> String {
        try #require(lab.env["LAB_TLS_URI_\(i)"], "lab.env has no LAB_TLS_URI_\(i): a lab from before TLS? (lab/lab down; lab/lab up 3)")
    }

    static func sshURI(_ lab: Lab) throws -> String {
        let uri = try #require(lab.env["LAB_SSH_URI"], "lab.env has no LAB_SSH_URI: a lab from before SSH? (lab/lab down; lab/lab up 3)")
        #expect(lab.env["LAB_SSH_HOST"] == "2", "the tests expect host2 to be the SSH host")
        return uri
    }

    /// Logins the SSH host's sshd accepted so far (its own log: the witness that a connection
    /// really went over SSH).
    static func sshLogins(_ lab: Lab) -> Int {
        let log = (try? String(contentsOfFile: lab.dir + "/hosts/host2/sshd/sshd.log", encoding: .utf8)) ?? ""
        return log.components(separatedBy: "Accepted publickey for root").count - 1
    }

    @Test func observeOverTLSAndSSHSeesWhatVirshSees() throws {
        let lab = try Lab.require()
        let vp = try VirtPlace(lab: lab)
        let on1 = Lab.uniqueName("sec-obs1"), on2 = Lab.uniqueName("sec-obs2")
        defer { for n in [on1, on2] { lab.removeGuest(n) } }
        _ = try lab.createGuest("heartbeat", on1, host: 1, ["--memory", "96"])
        _ = try lab.createGuest("shutoff", on2, host: 2, ["--vcpus", "2"])
        let hosts = try Self.hostsFile(lab, vp, [1: try Self.tlsURI(lab, 1), 2: try Self.sshURI(lab)])
        let logins = Self.sshLogins(lab)

        let file = try vp.placement("  {}")
        let r = vp.run(["observe", "-o", "json", "-f", file, "-f", hosts], timeout: 120)
        #expect(r.status == 0, "\(r.output)")
        let fleet = try JSONDecoder().decode(ObservedFleet.self, from: Data(r.stdout.utf8))
        #expect(fleet.hosts.map(\.name) == ["host1", "host2", "host3"])
        let problems = fleet.hosts.map { "\($0.name): \($0.error ?? "ok")" }
        #expect(fleet.hosts.allSatisfy { $0.reachable }, "\(problems)")
        // The URIs are shown without their query (the key and certificate paths).
        #expect(fleet.hosts[0].uri.hasPrefix("qemu+tls://") && !fleet.hosts[0].uri.contains("pkipath"))
        #expect(fleet.hosts[1].uri.hasPrefix("qemu+ssh://") && !fleet.hosts[1].uri.contains("keyfile"))
        #expect(!r.output.contains(lab.env["LAB_SSH_KEY"] ?? "no key"), "the key's path was printed")
        #expect(Self.sshLogins(lab) > logins, "the SSH host's sshd logged no login: observe did not go over SSH")

        // What virsh (over tcp) sees of our guests is what was observed over TLS and SSH.
        let d1 = try #require(fleet.hosts[0].domains.first { $0.name == on1 }, "not observed over TLS")
        #expect(d1.state == "running" && d1.memoryMiB == 96)
        #expect(d1.uuid == lab.virsh(1, ["domuuid", on1]).stdout.trimmingCharacters(in: .whitespacesAndNewlines))
        let d2 = try #require(fleet.hosts[1].domains.first { $0.name == on2 }, "not observed over SSH")
        #expect(d2.state == "shutoff" && d2.vcpus == 2)
        #expect(d2.uuid == lab.virsh(2, ["domuuid", on2]).stdout.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    @Test func aLiveMoveFromATLSHostToAnSSHHostAndBack() throws {
        let lab = try Lab.require()
        let vp = try VirtPlace(lab: lab)
        let name = Lab.uniqueName("sec-live")
        defer { lab.removeGuest(name) }
        _ = try lab.createGuest("heartbeat", name, host: 1, ["--wait"])
        let before = try #require(lab.waitHeartbeat(name, after: 1), "no heartbeat before the move")
        let boot = try #require(lab.bootID(name))
        let hosts = try Self.hostsFile(lab, vp, [1: try Self.tlsURI(lab, 1), 2: try Self.sshURI(lab)])
        let logins = Self.sshLogins(lab)

        let there = try vp.placement("  \(name):\n    host: host2\n", name: "there.yaml")
        let r = vp.run(["apply", "-f", there, "-f", hosts, "--auto-approve"], timeout: 300)
        #expect(r.status == 0, "\(r.output)")
        #expect(r.stdout.range(of: #"downtime \d+ ms"#, options: .regularExpression) != nil, "a live move: \(r.stdout)")
        // Witnessed over tcp by virsh: on host2 only, running, and the same boot.
        #expect(lab.whereIs(name) == [2: "running"])
        let after = try #require(lab.waitHeartbeat(name, after: before), "no heartbeat after the move")
        #expect(after > before)
        #expect(lab.bootID(name) == boot, "the guest booted again: not a live move")
        #expect(Self.sshLogins(lab) > logins, "apply did not reach host2 over SSH")

        // And back: the SSH host is the source, the TLS host the target.
        let back = try vp.placement("  \(name):\n    host: host1\n", name: "back.yaml")
        let b = vp.run(["apply", "-f", back, "-f", hosts, "--auto-approve"], timeout: 300)
        #expect(b.status == 0, "\(b.output)")
        #expect(lab.whereIs(name) == [1: "running"])
        #expect(try #require(lab.waitHeartbeat(name, after: after)) > after)
        #expect(lab.bootID(name) == boot, "the guest booted again on the way back")

        // Converged over the secure connections too: a second apply and a reconcile pass do nothing.
        let again = vp.run(["apply", "-f", back, "-f", hosts, "--auto-approve"])
        #expect(again.status == 0 && again.stdout.contains("No changes."), "\(again.output)")
        let pass = vp.run(["reconcile", "-f", back, "-f", hosts])
        #expect(pass.status == 0 && pass.stdout.contains("No changes."), "\(pass.output)")
    }

    @Test func aWrongCertificateOrKeyLeavesTheHostUnreachableAndTheOthersObserved() throws {
        let lab = try Lab.require()
        let vp = try VirtPlace(lab: lab)
        // A pkipath without the lab CA's files, and a key the SSH host does not know.
        let emptyPKI = vp.workDir + "/no-pki"
        try FileManager.default.createDirectory(atPath: emptyPKI, withIntermediateDirectories: true)
        let strangerKey = vp.workDir + "/stranger"
        let keygen = Lab.run("/usr/bin/ssh-keygen", ["-q", "-t", "ecdsa", "-b", "256", "-N", "", "-f", strangerKey])
        #expect(keygen.status == 0, "\(keygen.output)")
        let addr1 = try #require(lab.env["LAB_ADDR_1"]), addr2 = try #require(lab.env["LAB_ADDR_2"])
        let port = lab.env["LAB_SSH_PORT"] ?? "2222"
        let hosts = try Self.hostsFile(lab, vp, [
            1: "qemu+tls://\(addr1)/system?pkipath=\(emptyPKI)",
            2: "qemu+ssh://root@\(addr2):\(port)/system?keyfile=\(strangerKey)",
        ])
        let file = try vp.placement("  {}")
        let started = Date()
        let r = vp.run(["observe", "-o", "json", "-f", file, "-f", hosts], timeout: 120)
        #expect(Date().timeIntervalSince(started) < 60, "observe took \(Date().timeIntervalSince(started)) s")
        #expect(r.status == 0, "host3 answered: \(r.output)")
        let fleet = try JSONDecoder().decode(ObservedFleet.self, from: Data(r.stdout.utf8))
        let reachable = fleet.hosts.map { $0.reachable }, problems = fleet.hosts.map { "\($0.name): \($0.error ?? "ok")" }
        #expect(reachable == [false, false, true], "\(problems)")
        #expect(!r.output.contains(emptyPKI) && !r.output.contains(strangerKey), "a credential path was printed: \(r.output)")
    }

    /// Unattended runs answer no prompt: reconcile, with a terminal as its standard input and
    /// controlling terminal (`script`), facing (a) libssh2 asking whether to accept a host key it
    /// does not know and (b) OpenSSH asking for a key's passphrase. Neither waits for an answer:
    /// the host is unreachable with a message that says a prompt was refused, the pass ends
    /// with exit 3 (docs/operations.md), and the other hosts are observed.
    @Test func promptsAreRefusedInReconcileEvenOnATerminal() throws {
        let lab = try Lab.require()
        let vp = try VirtPlace(lab: lab)
        let addr2 = try #require(lab.env["LAB_ADDR_2"])
        let port = lab.env["LAB_SSH_PORT"] ?? "2222"
        let key = try #require(lab.env["LAB_SSH_KEY"])
        // (a) libssh2 with an empty known_hosts file: the host key is unknown, libvirt asks.
        let emptyKnown = vp.workDir + "/known_hosts"
        try "".write(toFile: emptyKnown, atomically: false, encoding: .utf8)
        let unknownKey = "qemu+libssh2://root@\(addr2):\(port)/system?keyfile=\(key)&known_hosts=\(emptyKnown)&known_hosts_verify=normal&sshauth=privkey"
        // (b) OpenSSH with a key that has a passphrase, in PEM form and with no .pub beside it:
        // ssh must decrypt it even to learn its public half, so it would ask for the passphrase
        // on the terminal (witnessed with virsh under script(1): "Enter passphrase for key",
        // waiting). A key in OpenSSH's own format carries its public half in the clear, and
        // ssh would not ask for a key the host does not know.
        let locked = vp.workDir + "/locked"
        let keygen = Lab.run("/usr/bin/ssh-keygen", ["-q", "-t", "ecdsa", "-b", "256", "-m", "PEM", "-N", "not-typed", "-f", locked])
        #expect(keygen.status == 0, "\(keygen.output)")
        try? FileManager.default.removeItem(atPath: locked + ".pub")
        let passphrase = "qemu+ssh://root@\(addr2):\(port)/system?keyfile=\(locked)"

        for (label, uri, asked) in [("libssh2, unknown host key", unknownKey, "asked for a yes/no answer"),
                                    ("ssh, key with a passphrase", passphrase, "")] {
            let hosts = try Self.hostsFile(lab, vp, [2: uri], name: "prompt-hosts.yaml")
            let file = try vp.placement("  {}", name: "prompt.yaml")
            let command = ([VirtPlace.binary, "reconcile", "-f", file, "-f", hosts, "--state-dir", vp.stateDir])
                .map { "'\($0)'" }.joined(separator: " ")
            let started = Date()
            // script(1) gives the run a pseudo-terminal: stdin and the controlling terminal.
            // Its own stdin is /dev/null, so nothing could ever answer a prompt.
            let r = Lab.run("/usr/bin/script", ["-qefc", command, "/dev/null"], environment: ["NO_COLOR": "1"], timeout: 90)
            let seconds = Date().timeIntervalSince(started)
            #expect(seconds < 45, "\(label): reconcile took \(seconds) s: it waited for an answer")
            #expect(r.status == 3, "\(label): exit \(r.status): \(r.output)")
            #expect(r.output.contains("host-unreachable"), "\(label): \(r.output)")
            if !asked.isEmpty {
                #expect(r.output.contains(asked) && r.output.contains("answers no prompts"), "\(label): \(r.output)")
            }
            #expect(!r.output.contains("Enter passphrase"), "\(label): ssh asked on the terminal: \(r.output)")
            #expect(!r.output.contains(locked) && !r.output.contains(emptyKnown), "\(label): a credential path was printed")
        }
    }
}
