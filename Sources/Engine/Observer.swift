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
        await withTaskGroup(of: (Int, HostObservation).self) { group in
            var results = [HostObservation?](repeating: nil, count: targets.count)
            var next = 0
            func startNext() {
                guard next < targets.count else { return }
                let index = next
                let target = targets[index]
                next += 1
                group.addTask {
                    do {
                        let connection = try await connect(target)
                        return (index, try await observe(target, on: connection))
                    } catch {
                        return (index, Self.unreachable(target, error: Self.describe(error)))
                    }
                }
            }
            for _ in 0..<min(maxConcurrentHosts, targets.count) { startNext() }
            while let (index, observation) = await group.next() {
                results[index] = observation
                startNext()
            }
            return results.enumerated().map { index, result in
                result ?? Self.unreachable(targets[index], error: "not observed")
            }
        }
    }

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
