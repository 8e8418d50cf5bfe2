import Libvirt
import Placement

/// A host to observe, as the desired-state file names it.
public struct ObserveTarget: Equatable, Sendable {
    /// The host's key in the file.
    public var name: String
    /// The connection URI (may carry credentials in its query; never stored or printed as is).
    public var uri: String
    public var faultDomain: String?
    /// The file's capacity override; nil takes what the host reports.
    public var capacity: ObservedCapacity?
    /// Whether `uri` may use the test driver (`test://`); `Connection` refuses it otherwise.
    public var allowTestDriver: Bool

    /// A host to observe; `capacity` overrides what the host reports.
    public init(name: String, uri: String, faultDomain: String? = nil, capacity: ObservedCapacity? = nil,
                allowTestDriver: Bool = false) {
        self.name = name; self.uri = uri; self.faultDomain = faultDomain; self.capacity = capacity
        self.allowTestDriver = allowTestDriver
    }
}

/// Observes hosts in parallel, each on its own connection and off the cooperative pool. A host
/// that cannot be reached or observed comes back `reachable: false` with the reason in
/// `error`; the others are observed all the same.
public struct Observer: Sendable {
    /// Hosts observed at once.
    public var maxConcurrentHosts: Int
    /// How long to wait for a connection (a host that drops packets takes minutes to refuse).
    public var connectTimeout: Duration
    /// How long to wait for one host's observation once connected.
    public var observeTimeout: Duration
    /// Re-scan active pools before listing volumes.
    public var refreshPools: Bool

    /// An observer; `maxConcurrentHosts` is at least 1.
    public init(
        maxConcurrentHosts: Int = 8, connectTimeout: Duration = .seconds(15),
        observeTimeout: Duration = .seconds(120), refreshPools: Bool = false
    ) {
        self.maxConcurrentHosts = max(1, maxConcurrentHosts)
        self.connectTimeout = connectTimeout
        self.observeTimeout = observeTimeout
        self.refreshPools = refreshPools
    }

    /// Observes every target; hosts come back in the order given, domains sorted by name.
    public func observe(_ targets: [ObserveTarget]) async -> ObservedFleet {
        ObservedFleet(hosts: await observeWithCalls(targets).map(\.host))
    }

    /// Like `observe`, with the libvirt calls each host took (unreachable hosts: zero).
    public func observeWithCalls(_ targets: [ObserveTarget]) async -> [HostObservation] {
        let timeout = connectTimeout
        return await observeWithCalls(targets) { target in
            try await Connection.open(uri: target.uri, allowTestDriver: target.allowTestDriver, timeout: timeout)
        }
    }

    /// Observes every target over connections that `connect` gives (apply keeps its connections
    /// open for the steps that follow); a host whose connection or observation fails comes back
    /// `reachable: false`.
    public func observe(
        _ targets: [ObserveTarget], connect: @escaping @Sendable (ObserveTarget) async throws -> Connection
    ) async -> ObservedFleet {
        ObservedFleet(hosts: await observeWithCalls(targets, connect: connect).map(\.host))
    }

    /// Like `observe(_:connect:)`, with the libvirt calls each host took.
    public func observeWithCalls(
        _ targets: [ObserveTarget], connect: @escaping @Sendable (ObserveTarget) async throws -> Connection
    ) async -> [HostObservation] {
        let observed = await withTaskGroup(of: (Int, HostObservation, Connection?).self) { group in
            var results = [HostObservation?](repeating: nil, count: targets.count)
            var connections = [Connection?](repeating: nil, count: targets.count)
            var next = 0
            func startNext() {
                guard next < targets.count else { return }
                let index = next
                let target = targets[index]
                next += 1
                group.addTask {
                    do {
                        let connection = try await connect(target)
                        return (index, try await observe(target, on: connection), connection)
                    } catch {
                        return (index, Self.unreachable(target, error: Self.describe(error)), nil)
                    }
                }
            }
            for _ in 0..<min(maxConcurrentHosts, targets.count) { startNext() }
            while let (index, observation, connection) = await group.next() {
                results[index] = observation
                connections[index] = connection
                startNext()
            }
            let hosts = results.enumerated().map { index, result in
                result ?? Self.unreachable(targets[index], error: "not observed")
            }
            return (hosts, connections)
        }
        return await checkPlatforms(observed.0, on: observed.1)
    }

    /// Asks every reachable host whether it can run each guest platform seen in the fleet
    /// (`Connection.checkPlatform`), hosts in parallel, and records the answers in
    /// `platformChecks`: the planner decides CPU and machine compatibility from them, live or
    /// from a snapshot. At most `maxPlatforms` distinct platforms are asked about (the rest go
    /// unchecked: libvirt still refuses them when the move runs). A host whose check fails
    /// keeps what it answered so far; its observation stands.
    func checkPlatforms(_ hosts: [HostObservation], on connections: [Connection?]) async -> [HostObservation] {
        var platforms: [String: ObservedDomain] = [:]
        for host in hosts where host.host.reachable {
            for domain in host.host.domains {
                guard let key = domain.platformKey, platforms[key] == nil, platforms.count < Self.maxPlatforms else { continue }
                platforms[key] = domain
            }
        }
        guard !platforms.isEmpty else { return hosts }
        let guests = platforms.sorted { $0.key < $1.key }.map(\.value)
        let timeout = observeTimeout
        return await withTaskGroup(of: (Int, [ObservedPlatformCheck], Int).self) { group in
            for (index, connection) in connections.enumerated() {
                guard let connection, hosts[index].host.reachable else { continue }
                group.addTask {
                    let answers = try? await connection.run(timeout: timeout) { connection in
                        var checks: [ObservedPlatformCheck] = []
                        for guest in guests {
                            guard let check = try? connection.checkPlatform(of: guest) else { continue }
                            checks.append(check)
                        }
                        return checks
                    }
                    return (index, answers ?? [], guests.count * 2)
                }
            }
            var result = hosts
            while let (index, checks, calls) = await group.next() {
                result[index].host.platformChecks = checks
                result[index].calls.perHost += calls
            }
            return result
        }
    }

    /// Distinct guest platforms asked about in one observation.
    static let maxPlatforms = 64

    /// Observes one host on a new connection, which is closed afterwards. Never throws: a
    /// failure makes the host `reachable: false`.
    public func observe(_ target: ObserveTarget) async -> HostObservation {
        do {
            let connection = try await Connection.open(uri: target.uri, allowTestDriver: target.allowTestDriver, timeout: connectTimeout)
            return try await observe(target, on: connection)
        } catch {
            return Self.unreachable(target, error: Self.describe(error))
        }
    }

    /// Observes one host on an open connection (apply re-observes on the connections it holds).
    /// - Throws: `LibvirtError`, `DomainXMLError`, `CancellationError`.
    public func observe(_ target: ObserveTarget, on connection: Connection) async throws -> HostObservation {
        let refresh = refreshPools
        return try await connection.run(timeout: observeTimeout) { connection in
            try connection.observeHost(
                name: target.name, faultDomain: target.faultDomain, capacity: target.capacity, refreshPools: refresh
            )
        }
    }

    private static func unreachable(_ target: ObserveTarget, error: String) -> HostObservation {
        HostObservation(
            host: ObservedHost(
                name: target.name, uri: HostURI.redacted(target.uri), reachable: false, error: error,
                faultDomain: target.faultDomain, capacity: target.capacity ?? ObservedCapacity(vcpus: 0, memoryMiB: 0)
            ),
            calls: ObservationCalls()
        )
    }

    private static func describe(_ error: any Error) -> String {
        switch error {
        case let error as LibvirtError: error.message
        case let error as DriverError: error.description
        case is CancellationError: "observation cancelled"
        default: String(describing: error)
        }
    }
}
