import Foundation
import Libvirt
import Testing

@Suite("Connections and errors")
struct ConnectionTests {
    @Test("a fixture host opens, with its node facts")
    func open() throws {
        let connection = try Fixture.connection("host1")
        #expect(try connection.hypervisorType() == "TEST")
        #expect(connection.isAlive)
        #expect(connection.uri == Fixture.uri("host1"))
        let node = try connection.nodeInfo()
        #expect(node.cpus == 8)
        #expect(node.memoryKiB == 16 * 1024 * 1024)
        #expect(node.model == "x86_64")
        #expect(node.sockets == 1 && node.cores == 4 && node.threads == 2)
        let capabilities = try connection.hostCapabilities()
        #expect(capabilities.arch == "i686")
        #expect(capabilities.uuid == nil)
    }

    @Test("free memory on the default test host")
    func freeMemory() throws {
        let connection = try Connection(uri: "test:///default", allowTestDriver: true)
        #expect(try connection.freeMemoryBytes() > 0)
    }

    static let badURIs = ["nosuchdriver:///system", "qemu+bogus://127.0.0.1/system", "qemu+tcp://[::1/system"]

    @Test("looking up a missing domain is .noDomain")
    func missingDomain() throws {
        let connection = try Fixture.connection()
        let error = #expect(throws: LibvirtError.self) { try connection.lookupDomain(name: "no-such-domain") }
        let caught = try #require(error)
        #expect(caught.code == .noDomain)
        #expect(!caught.message.isEmpty)
        #expect(!caught.isConnectionFailure)
        #expect(throws: LibvirtError.self) { try connection.lookupDomain(uuid: "99999999-aaaa-4bbb-8ccc-000000000000") }
    }

    @Test("a bad URI gives a typed error", arguments: badURIs)
    func badURI(uri: String) {
        #expect(throws: LibvirtError.self) { try Connection(uri: uri) }
    }

    /// Judged in a process of its own (`Alone`): in this one, other tests print on fd 2 too.
    @Test("a missing domain and bad URIs print nothing on stderr")
    func errorsPrintNothing() async throws {
        let connection = try Fixture.connection()
        #expect(throws: LibvirtError.self) { try connection.lookupDomain(name: "no-such-domain") }
        for uri in Self.badURIs {
            #expect(throws: LibvirtError.self) { try Connection(uri: uri) }
        }
        if Alone.isAlone { return Alone.ran() }
        let child = try await Alone.run(filter: "ConnectionTests/errorsPrintNothing")
        #expect(child.ran, "the filter did not select the test in its own process")
        #expect(child.status == 0, "the test failed in its own process: \(child.standardError)")
        #expect(child.standardError.isEmpty, "libvirt printed: \(child.standardError)")
    }

    @Test("a missing test-driver file is a typed error")
    func missingFixture() {
        // libxml2 itself warns on stderr about the missing file ("I/O warning : failed to load
        // external entity"): test driver only, so no stderr check here.
        _ = capturingStandardError {
            #expect(throws: LibvirtError.self) { try Connection(uri: "test:///nonexistent/host.xml", allowTestDriver: true) }
        }
    }

    /// Refused at once, not given up after the timeout: the error is libvirt's refusal, not the
    /// timeout's `operationTimeout` (judged by what happened, not by a wall-clock bound, which
    /// a busy machine running every suite at once on two threads can exceed).
    @Test("a refused host is a connection failure, refused at once rather than timed out", .timeLimit(.minutes(2)))
    func refused() async throws {
        await #expect {
            _ = try await Connection.open(uri: "qemu+tcp://127.0.0.99/system", timeout: .seconds(60))
        } throws: { error in
            guard let error = error as? LibvirtError else { return false }
            return error.isConnectionFailure && error.code != .operationTimeout
        }
    }

    @Test("run executes on the connection's queue and carries results and typed errors back")
    func run() async throws {
        let connection = try await Connection.open(uri: Fixture.uri("host2"), allowTestDriver: true)
        let names = try await connection.run { try $0.listAllDomains().map(\.name).sorted() }
        #expect(names == ["app-1", "web-2"])
        await #expect {
            try await connection.run { try $0.lookupDomain(name: "missing").name }
        } throws: { error in
            (error as? LibvirtError)?.code == .noDomain
        }
        let timed = try await connection.run(timeout: .seconds(5)) { try $0.nodeInfo().cpus }
        #expect(timed == 4)
        let long = try await connection.runDedicated { try $0.hypervisorType() }
        #expect(long == "TEST")
    }

    @Test("run with a timeout stops waiting for a stuck call")
    func runTimeout() async throws {
        let connection = try Fixture.connection("host3")
        // The call stays stuck until the timeout has been seen, however busy the machine (a
        // call that merely sleeps could finish first when other tests hold every thread).
        let stuck = DispatchSemaphore(value: 0)
        defer { stuck.signal() }
        await #expect {
            try await connection.run(timeout: .milliseconds(100)) { _ in
                stuck.wait()
                return 1
            }
        } throws: { error in
            (error as? LibvirtError)?.code == .operationTimeout
        }
    }

    @Test("the test driver lacks CPU comparison: a typed error, not a crash")
    func compareCPU() throws {
        let connection = try Fixture.connection("host3")
        #expect(throws: LibvirtError.self) {
            try connection.compareHypervisorCPU(cpuXML: "<cpu><model>qemu64</model></cpu>")
        }
    }

    @Test("each fixture connection is its own in-memory host")
    func isolation() throws {
        let first = try Fixture.connection("host3")
        let second = try Fixture.connection("host3")
        try first.defineDomain(xml: testDomainXML(name: "only-here", uuid: "33333333-0000-4000-8000-000000000001"))
        #expect(try first.listAllDomains().map(\.name) == ["only-here"])
        #expect(try second.listAllDomains().isEmpty)
    }
}

@Suite("Networks")
struct NetworkTests {
    @Test("list, bridge, active; a missing network is .noNetwork")
    func networks() throws {
        let connection = try Fixture.connection("host1")
        let networks = try connection.listAllNetworks().sorted { $0.name < $1.name }
        #expect(networks.map(\.name) == ["backend", "lan"])
        #expect(try networks.map { try $0.bridge() } == ["virbr1", "vp1lan"])
        #expect(try networks.allSatisfy { try $0.isActive() })
        #expect(try connection.listAllNetworks(.inactive).isEmpty)
        #expect(try connection.lookupNetwork(name: "lan").name == "lan")
        #expect {
            try connection.lookupNetwork(name: "nope")
        } throws: { error in
            (error as? LibvirtError)?.code == .noNetwork
        }
    }
}
