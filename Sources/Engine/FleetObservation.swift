import Foundation
import Placement
import YAMLDecoding

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

/// A snapshot (read and checked by `readSnapshotFile`) matched to the placement's hosts: a
/// host the file names but the snapshot lacks is unreachable ("not in the snapshot"); hosts the
/// file does not name are dropped.
public func matchSnapshot(_ fleet: ObservedFleet, to spec: PlacementSpec, path: String) -> ObservedFleet {
    let byName = Dictionary(fleet.hosts.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
    return ObservedFleet(hosts: observeTargets(spec).map { target in
        byName[target.name] ?? ObservedHost(name: target.name, uri: HostURI.redacted(target.uri), reachable: false,
                                            error: "not in the snapshot \(path)", faultDomain: target.faultDomain)
    })
}
