import Foundation
import Placement

/// The hosts of a placement as observation targets, sorted by name; `allowTestDriver` lets
/// their connections use `test://` URIs (only the tests set it).
public func observeTargets(_ spec: PlacementSpec, allowTestDriver: Bool = false) -> [ObserveTarget] {
    spec.hosts.keys.sorted().compactMap { name in
        spec.hosts[name].map { ObserveTarget(name: name, uri: $0.uri, faultDomain: $0.faultDomain, allowTestDriver: allowTestDriver) }
    }
}

/// Observes every host of the placement in parallel; unreachable hosts come back
/// `reachable: false` with the reason.
public func observeFleet(_ spec: PlacementSpec, observer: Observer = Observer(), allowTestDriver: Bool = false) async -> ObservedFleet {
    await observer.observe(observeTargets(spec, allowTestDriver: allowTestDriver))
}

/// A saved `observe -o json` snapshot, matched to the placement's hosts: a host the file names
/// but the snapshot lacks is unreachable ("not in the snapshot"); hosts the file does not name
/// are dropped.
/// - Throws: `SnapshotError` when the file cannot be read or is not a snapshot.
public func loadSnapshot(path: String, for spec: PlacementSpec) throws(SnapshotError) -> ObservedFleet {
    guard let data = FileManager.default.contents(atPath: path) else {
        throw .unreadable(path: path, reason: FileManager.default.fileExists(atPath: path) ? "cannot read it" : "no such file")
    }
    let fleet: ObservedFleet
    do {
        fleet = try JSONDecoder().decode(ObservedFleet.self, from: data)
    } catch let error as DecodingError {
        throw .invalid(path: path, reason: describe(error))
    } catch {
        throw .invalid(path: path, reason: "\(error)")
    }
    guard fleet.apiVersion == "virtplace/v1", fleet.kind == "Observed" else {
        throw .invalid(path: path, reason: "apiVersion '\(fleet.apiVersion)', kind '\(fleet.kind)': expected virtplace/v1, Observed (made by 'virtplace observe -o json')")
    }
    let byName = Dictionary(fleet.hosts.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
    return ObservedFleet(hosts: observeTargets(spec).map { target in
        byName[target.name] ?? ObservedHost(name: target.name, uri: HostURI.redacted(target.uri), reachable: false,
                                            error: "not in the snapshot \(path)", faultDomain: target.faultDomain)
    })
}

/// Why a snapshot could not be used.
public enum SnapshotError: Error, Equatable, Sendable, CustomStringConvertible {
    case unreadable(path: String, reason: String)
    case invalid(path: String, reason: String)

    public var description: String {
        switch self {
        case let .unreadable(path, reason): "cannot read the snapshot '\(path)': \(reason)"
        case let .invalid(path, reason): "'\(path)' is not an observe snapshot: \(reason)"
        }
    }
}

private func describe(_ error: DecodingError) -> String {
    func path(_ context: DecodingError.Context) -> String {
        let p = context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
        return p.isEmpty ? "" : " at \(p.hasPrefix(".") ? String(p.dropFirst()) : p)"
    }
    switch error {
    case let .keyNotFound(key, context): return "missing key '\(key.stringValue)'\(path(context))"
    case let .typeMismatch(_, context), let .valueNotFound(_, context): return "\(context.debugDescription)\(path(context))"
    case let .dataCorrupted(context): return "\(context.debugDescription)\(path(context))"
    @unknown default: return "\(error)"
    }
}
