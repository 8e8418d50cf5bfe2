@testable import Engine
import Foundation
import Libvirt
import Placement
import Testing

/// The parallel observer over libvirt's test driver (the fixtures of LibvirtTests, one
/// `test:///ABS/PATH.xml` per simulated host) and hosts that cannot be reached.
@Suite("Observer")
struct ObserverTests {
    static func fixture(_ name: String) -> String {
        let tests = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        return "test://" + tests.appendingPathComponent("LibvirtTests/Fixtures/\(name).xml").path
    }

    // No wall-clock bound (a busy machine made them flaky): what proves "at once" and "given
    // up" is the error, refused versus timed out; the time limit catches "for ever".
    @Test("hosts observed in parallel; an unreachable one is isolated; order as given", .timeLimit(.minutes(2)))
    func fleet() async throws {
        // A port this test holds without listening: connections to it are refused, certainly
        // (an address merely assumed closed could be some lab's).
        let closed = try SilentListener(address: "127.0.0.1", port: 0, listening: false)
        defer { closed.close() }
        let targets = [
            ObserveTarget(name: "host2", uri: Self.fixture("host2"), faultDomain: "fd-2", allowTestDriver: true),
            ObserveTarget(name: "down", uri: "qemu+tcp://127.0.0.1:\(closed.port)/system?keyfile=/secret/key", faultDomain: "fd-9",
                          capacity: ObservedCapacity(vcpus: 4, memoryMiB: 4096)),
            ObserveTarget(name: "host1", uri: Self.fixture("host1"), faultDomain: "fd-1", allowTestDriver: true),
            ObserveTarget(name: "bogus", uri: "nosuchdriver:///system"),
        ]
        let clock = ContinuousClock()
        let start = clock.now
        let fleet = await Observer(connectTimeout: .seconds(60)).observe(targets)
        // The refused host failed on the refusal, not on the 60 s connect timeout.
        _ = (clock, start)
        #expect(fleet.hosts.map(\.name) == ["host2", "down", "host1", "bogus"])
        #expect(fleet.hosts.map(\.reachable) == [true, false, true, false])

        let down = fleet.hosts[1]
        #expect(down.uri == "qemu+tcp://127.0.0.1:\(closed.port)/system")
        #expect(down.error?.contains("refused") == true, "\(down.error ?? "")")
        #expect(down.error?.contains("no answer") == false, "\(down.error ?? "")")
        // The key file's path (a query value) is in neither the URI nor libvirt's message.
        #expect(!(down.error ?? "").contains("secret"))
        #expect(down.faultDomain == "fd-9")
        #expect(down.capacity == ObservedCapacity(vcpus: 4, memoryMiB: 4096))
        #expect(down.domains.isEmpty)
        #expect(fleet.hosts[3].error?.isEmpty == false)

        #expect(fleet.hosts[0].domains.map(\.name) == ["app-1", "web-2"])
        #expect(fleet.hosts[2].domains.map(\.name) == ["db-1", "efi-1", "tmp-1", "web-1"])
        #expect(fleet.hosts[2].faultDomain == "fd-1")
        #expect(try ObservedFleet(jsonData: fleet.jsonData()) == fleet)
    }

    @Test("bounded concurrency still observes every host, in order", arguments: [1, 2, 8])
    func bounded(limit: Int) async {
        let names = ["host1", "host2", "host3", "host1", "host2", "host3"]
        let targets = names.enumerated().map { index, fixture in
            ObserveTarget(name: "h\(index)", uri: Self.fixture(fixture), allowTestDriver: true)
        }
        let observations = await Observer(maxConcurrentHosts: limit).observeWithCalls(targets)
        #expect(observations.map(\.host.name) == (0..<6).map { "h\($0)" })
        #expect(observations.allSatisfy { $0.host.reachable })
        #expect(observations.map(\.host.domains.count) == [4, 2, 0, 4, 2, 0])
        #expect(observations[0].calls.domains == 4)
    }

    /// Each host is asked about its own guests' platforms as soon as it is observed; after the
    /// last host only the rest is asked, and the answers read as if all were asked then: in
    /// the fleet's platform order, nothing asked twice (two calls a platform), a platform
    /// outside the fleet's set left out. libvirt's test driver answers no platform question,
    /// so what a host holds here is what it was given before.
    @Test("platform checks asked early are kept, the rest asked once, in the fleet's order")
    func platformChecksAskedEarly() async throws {
        let targets = ["host1", "host2"].map { ObserveTarget(name: $0, uri: Self.fixture($0), allowTestDriver: true) }
        let observer = Observer()
        var connections: [Connection?] = []
        var hosts: [HostObservation] = []
        for target in targets {
            let connection = try await Connection.open(uri: target.uri, allowTestDriver: true)
            connections.append(connection)
            hosts.append(try await observer.observe(target, on: connection))
        }
        let keys = Observer.platforms(of: hosts).map(\.key)
        try #require(keys.count >= 2 && keys == keys.sorted(), "\(keys)")
        // Each host's own platforms are among the fleet's, and the fleet's are those of both.
        let own = hosts.map { Set(Observer.platforms(of: [$0]).map(\.key)) }
        #expect(own[0].union(own[1]) == Set(keys))

        let early = ObservedPlatformCheck(platform: keys[1], reason: ReasonCode.cpuIncompatible.rawValue, detail: "asked early")
        let stray = ObservedPlatformCheck(platform: "not-in-the-fleet")
        let asked = [
            Observer.AskedPlatforms(keys: [keys[1], stray.platform], answers: [keys[1]: early, stray.platform: stray]),
            Observer.AskedPlatforms(),
        ]
        let checked = await observer.checkPlatforms(hosts, on: connections, asked: asked)
        #expect(checked[0].host.platformChecks == [early])
        #expect(checked[1].host.platformChecks == [])
        // host1: its two early questions and the fleet's other platforms; host2: all of them.
        #expect(checked[0].calls.perHost - hosts[0].calls.perHost == 2 * (2 + keys.count - 1))
        #expect(checked[1].calls.perHost - hosts[1].calls.perHost == 2 * keys.count)
        #expect(checked.map(\.host.domains) == hosts.map(\.host.domains))

        // Without early answers, every host is asked about every platform (as before).
        let late = await observer.checkPlatforms(hosts, on: connections)
        #expect(late.map(\.calls.perHost) == hosts.map { $0.calls.perHost + 2 * keys.count })
    }

    @Test("a daemon that accepts but never answers is given up after the connect timeout", .timeLimit(.minutes(2)))
    func silentHost() async throws {
        // An ephemeral port: a fixed one can still be held by an earlier run's half-closed
        // connections.
        let listener = try SilentListener(address: "127.0.0.98", port: 0)
        defer { listener.close() }
        let clock = ContinuousClock()
        let start = clock.now
        let fleet = await Observer(connectTimeout: .milliseconds(500)).observe([
            ObserveTarget(name: "silent", uri: "qemu+tcp://127.0.0.98:\(listener.port)/system"),
            ObserveTarget(name: "host3", uri: Self.fixture("host3"), allowTestDriver: true),
        ])
        // Without the timeout the open would wait for ever (the time limit fails it); the error
        // says it was the timeout of 500 ms that gave up.
        _ = (clock, start)
        #expect(fleet.hosts.map(\.reachable) == [false, true])
        #expect(fleet.hosts[0].error?.contains("no answer") == true)
        #expect(fleet.hosts[0].error?.contains("within 0.5 seconds") == true, "\(fleet.hosts[0].error ?? "")")
    }

    @Test("no hosts, no work")
    func empty() async {
        #expect(await Observer().observe([]).hosts.isEmpty)
    }
}

/// A TCP socket that listens (the kernel completes connections into its backlog) but never
/// accepts or answers: what a hung daemon looks like to a client. With `listening: false` it
/// only holds the port: connections are refused, and no one else can take it meanwhile.
struct SilentListener {
    let descriptor: Int32
    /// The port it listens on (the one asked for, or the kernel's choice for 0).
    let port: UInt16

    init(address: String, port: UInt16, listening: Bool = true) throws {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        self.descriptor = descriptor
        var reuse: Int32 = 1
        setsockopt(descriptor, SOL_SOCKET, SO_REUSEADDR, &reuse, socklen_t(MemoryLayout<Int32>.size))
        var socketAddress = sockaddr_in()
        socketAddress.sin_family = sa_family_t(AF_INET)
        socketAddress.sin_port = port.bigEndian
        inet_pton(AF_INET, address, &socketAddress.sin_addr)
        let bound = withUnsafePointer(to: &socketAddress) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard bound == 0, !listening || listen(descriptor, 8) == 0 else {
            Glibc.close(descriptor)
            throw POSIXError(.EADDRINUSE)
        }
        var actual = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &actual) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
        }
        self.port = UInt16(bigEndian: actual.sin_port)
    }

    func close() {
        Glibc.close(descriptor)
    }
}
