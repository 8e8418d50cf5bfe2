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
    /// Whether its connection may ask for credentials on the terminal (`apply` on one); false:
    /// it refuses every prompt (every other run). See `CredentialPrompts` in the Libvirt module.
    public var answersPrompts: Bool = false

    /// A host to observe; `capacity` overrides what the host reports.
    public init(name: String, uri: String, faultDomain: String? = nil, capacity: ObservedCapacity? = nil,
                allowTestDriver: Bool = false) {
        self.name = name; self.uri = uri; self.faultDomain = faultDomain; self.capacity = capacity
        self.allowTestDriver = allowTestDriver
    }
}

/// Observes hosts in parallel, each on its own connection and off the cooperative pool. A host
/// that cannot be reached or observed comes back `reachable: false` with the reason in
/// `error`; the others are observed all the same. How many at once and how long each may take
/// are here; the observation over libvirt is in LibvirtFleet.swift.
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

    /// Runs `body` for every target, at most `maxConcurrentHosts` at once; the results come
    /// back in the order given (`missing` stands in for one that never ran).
    func eachHost<T: Sendable>(
        _ targets: [ObserveTarget], missing: @Sendable (ObserveTarget) -> T,
        _ body: @escaping @Sendable (ObserveTarget) async -> T
    ) async -> [T] {
        await withTaskGroup(of: (Int, T).self) { group in
            var results = [T?](repeating: nil, count: targets.count)
            var next = 0
            func startNext() {
                guard next < targets.count else { return }
                let index = next
                let target = targets[index]
                next += 1
                group.addTask { (index, await body(target)) }
            }
            for _ in 0..<min(maxConcurrentHosts, targets.count) { startNext() }
            while let (index, result) = await group.next() {
                results[index] = result
                startNext()
            }
            return results.enumerated().map { index, result in result ?? missing(targets[index]) }
        }
    }
}
