/// The basis of a plan: a fingerprint of what it was computed from, so that `apply PLANFILE`
/// can refuse a plan the fleet has moved away from. Digests are SHA-256 (hex) over a canonical
/// text form; SHA-256 is `SHA256` of this module (no dependencies).

/// What a plan was computed from.
///
/// Per host: whether it answered and a digest of everything about it that placement reads
/// (fault domain, capacity, CPU model, pools and their volumes, networks, and the domains not
/// involved in the plan with their sizes). Per involved domain (every instance with an action):
/// where it was, its UUID, state and definition digest. `digest` covers all of it.
public struct Basis: Codable, Equatable, Sendable {
    /// SHA-256, hex, over every host and domain entry.
    public var digest: String
    /// Every observed host, by name.
    public var hosts: [HostBasis]
    /// Every place an involved instance was found (one entry with no host when it was not
    /// found), by name then host.
    public var domains: [DomainBasis]

    /// The basis of `observed` for a plan whose actions involve the instances `names`.
    public init(observed: ObservedFleet, involving names: [String]) {
        let involved = Set(names)
        var seen = Set<String>()
        var hosts: [HostBasis] = []
        var places: [String: [DomainBasis]] = [:]
        for host in observed.hosts where seen.insert(host.name).inserted {
            hosts.append(HostBasis(host, excluding: involved))
            guard host.reachable else { continue }
            for d in host.domains where involved.contains(d.name) {
                places[d.name, default: []].append(
                    DomainBasis(name: d.name, host: host.name, uuid: d.uuid, state: d.state, xmlDigest: d.xmlDigest))
            }
        }
        hosts.sort { $0.name < $1.name }
        var domains: [DomainBasis] = []
        for name in involved.sorted() {
            let found = (places[name] ?? []).sorted { ($0.host ?? "") < ($1.host ?? "") }
            domains += found.isEmpty ? [DomainBasis(name: name, host: nil, uuid: nil, state: nil, xmlDigest: nil)] : found
        }
        var sha = SHA256()
        sha.update("virtplace-basis/1\n")
        for h in hosts { sha.update("host\t\(h.name)\t\(h.reachable)\t\(h.domains)\t\(h.digest)\n") }
        for d in domains {
            sha.update("domain\t\(d.name)\t\(d.host ?? "-")\t\(d.uuid ?? "-")\t\(d.state ?? "-")\t\(d.xmlDigest ?? "-")\n")
        }
        self.digest = sha.hexDigest()
        self.hosts = hosts
        self.domains = domains
    }

    /// A basis value as decoded or built by hand.
    public init(digest: String, hosts: [HostBasis], domains: [DomainBasis]) {
        self.digest = digest; self.hosts = hosts; self.domains = domains
    }
}

/// One host in a basis.
public struct HostBasis: Codable, Equatable, Sendable {
    public var name: String
    public var reachable: Bool
    /// How many domains the host had that the plan does not involve.
    public var domains: Int
    /// SHA-256, hex, of the host's canonical form (see `Basis`).
    public var digest: String

    /// A host-basis value.
    public init(name: String, reachable: Bool, domains: Int, digest: String) {
        self.name = name; self.reachable = reachable; self.domains = domains; self.digest = digest
    }

    init(_ host: ObservedHost, excluding involved: Set<String>) {
        var sha = SHA256()
        sha.update("host\t\(host.name)\t\(host.reachable)\n")
        sha.update("fd\t\(host.faultDomain ?? "-")\tcpu\t\(host.cpuModel ?? "-")\n")
        sha.update("capacity\t\(host.capacity.vcpus)\t\(host.capacity.memoryMiB)\n")
        var count = 0
        if host.reachable {
            for pool in host.pools.sorted(by: { $0.name < $1.name }) {
                sha.update("pool\t\(pool.name)\t\(pool.type)\t\(pool.active)\t")
                sha.update(pool.volumes.map(\.name).sorted().joined(separator: ","))
                sha.update("\n")
            }
            for net in host.networks.sorted(by: { $0.name < $1.name }) {
                sha.update("network\t\(net.name)\t\(net.active)\t\(net.bridge ?? "-")\n")
            }
            for d in host.domains.sorted(by: { ($0.name, $0.uuid) < ($1.name, $1.uuid) }) where !involved.contains(d.name) {
                count += 1
                sha.update("domain\t\(d.name)\t\(d.uuid)\t\(d.persistent)\t\(d.vcpus)\t\(d.memoryMiB)\t")
                sha.update("\(d.configVcpus ?? -1)\t\(d.configMemoryMiB ?? -1)\n")
            }
        }
        self.init(name: host.name, reachable: host.reachable, domains: count, digest: sha.hexDigest())
    }
}

/// One place an involved instance was found, or (no host) that it was not found.
public struct DomainBasis: Codable, Equatable, Sendable {
    public var name: String
    public var host: String?
    public var uuid: String?
    public var state: String?
    public var xmlDigest: String?

    /// A domain-basis value.
    public init(name: String, host: String?, uuid: String?, state: String?, xmlDigest: String?) {
        self.name = name; self.host = host; self.uuid = uuid; self.state = state; self.xmlDigest = xmlDigest
    }

    private enum CodingKeys: String, CodingKey, CaseIterable { case name, host, uuid, state, xmlDigest }

    /// Encodes every key, absent values as null.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(name, forKey: .name)
        try c.encode(host, forKey: .host)
        try c.encode(uuid, forKey: .uuid)
        try c.encode(state, forKey: .state)
        try c.encode(xmlDigest, forKey: .xmlDigest)
    }

    /// Decodes a domain-basis entry; every key must be there (null for none).
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decode(String.self, forKey: .name)
        host = try c.decodeNullable(String.self, forKey: .host)
        uuid = try c.decodeNullable(String.self, forKey: .uuid)
        state = try c.decodeNullable(String.self, forKey: .state)
        xmlDigest = try c.decodeNullable(String.self, forKey: .xmlDigest)
    }
}

/// What changed between a plan's basis and `observed`, one line per change for people
/// ("web-1: state running → shutoff on host2", "host3: became unreachable"); empty when the
/// plan still holds. Never empty when the digests differ.
public func staleness(of plan: Plan, against observed: ObservedFleet) -> [String] {
    let names = Array(Set(plan.basis.domains.map(\.name))).sorted()
    let now = Basis(observed: observed, involving: names)
    if now.digest == plan.basis.digest { return [] }
    var changes: [String] = []

    let before = Dictionary(plan.basis.hosts.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
    let after = Dictionary(now.hosts.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
    for name in Set(before.keys).union(after.keys).sorted() {
        switch (before[name], after[name]) {
        case (nil, _?):
            changes.append("\(name): newly observed")
        case (_?, nil):
            changes.append("\(name): no longer observed")
        case (let b?, let a?):
            if b.reachable && !a.reachable {
                changes.append("\(name): became unreachable")
            } else if !b.reachable && a.reachable {
                changes.append("\(name): became reachable")
            } else if b.digest != a.digest {
                let delta = a.domains - b.domains
                let count = delta == 0 ? "" : " (\(delta > 0 ? "+" : "")\(delta) domains)"
                changes.append("\(name): other domains, capacity, pools or networks changed\(count)")
            }
        case (nil, nil):
            break
        }
    }

    var was: [String: [DomainBasis]] = [:]
    var is_: [String: [DomainBasis]] = [:]
    for d in plan.basis.domains where d.host != nil { was[d.name, default: []].append(d) }
    for d in now.domains where d.host != nil { is_[d.name, default: []].append(d) }
    for name in names {
        let old = (was[name] ?? []).sorted { ($0.host ?? "") < ($1.host ?? "") }
        let new = (is_[name] ?? []).sorted { ($0.host ?? "") < ($1.host ?? "") }
        if old == new { continue }
        let oldHosts = old.compactMap(\.host).joined(separator: ", ")
        let newHosts = new.compactMap(\.host).joined(separator: ", ")
        if old.isEmpty {
            changes.append("\(name): now defined on \(newHosts) (was not found)")
        } else if new.isEmpty {
            changes.append("\(name): no longer found (was on \(oldHosts))")
        } else if old.count == 1, new.count == 1, let o = old.first, let n = new.first {
            let host = n.host ?? "?"
            if o.host != n.host {
                changes.append("\(name): now on \(host) (was \(o.host ?? "?"))")
            } else {
                if o.uuid != n.uuid { changes.append("\(name): UUID \(o.uuid ?? "-") → \(n.uuid ?? "-") on \(host) (redefined)") }
                if o.state != n.state { changes.append("\(name): state \(o.state ?? "-") → \(n.state ?? "-") on \(host)") }
                if o.xmlDigest != n.xmlDigest { changes.append("\(name): definition changed on \(host)") }
            }
        } else {
            changes.append("\(name): now on \(newHosts) (was \(oldHosts))")
        }
    }
    if changes.isEmpty {
        changes.append("the observed fleet differs from the plan's basis (digest \(plan.basis.digest.prefix(12)) → \(now.digest.prefix(12)))")
    }
    return changes
}

// MARK: - The desired state's digest

/// SHA-256 (hex) of a placement as loaded (after merging and defaults), so that a saved plan
/// can say which desired state it was made from. It reads the values, not the files: comments,
/// formatting, key order and how the documents are split over files do not change it.
///
/// The canonical form walks the value by reflection, so that a field added to the spec types
/// is covered without anyone remembering to add it: each value is written with its type name,
/// its fields by label in declaration order, strings length-prefixed, and the entries of
/// dictionaries and sets sorted by their own canonical form (their iteration order changes
/// from run to run).
public func desiredStateDigest(_ spec: PlacementSpec) -> String {
    var sha = SHA256()
    sha.update("virtplace-desired/1\n")
    sha.update(canonicalForm(spec))
    return sha.hexDigest()
}

/// One value's canonical text (see `desiredStateDigest`).
func canonicalForm(_ value: Any) -> String {
    let mirror = Mirror(reflecting: value)
    let type = String(reflecting: Swift.type(of: value))
    func text(_ s: String) -> String { "\(s.utf8.count):\(s)" }
    func fields() -> String {
        mirror.children.map { "\($0.label ?? "_")=\(canonicalForm($0.value))" }.joined(separator: ",")
    }
    switch mirror.displayStyle {
    case .optional:
        guard let wrapped = mirror.children.first else { return "nil" }
        return "some(\(canonicalForm(wrapped.value)))"
    case .collection:
        return "[\(mirror.children.map { canonicalForm($0.value) }.joined(separator: ","))]"
    case .dictionary, .set:
        return "\(type){\(mirror.children.map { canonicalForm($0.value) }.sorted().joined(separator: ","))}"
    case .tuple:
        return "(\(fields()))"
    case .enum:
        // A case without a payload has no children; one with a payload names its case by label.
        if mirror.children.isEmpty { return "\(type).\(String(describing: value))" }
        return "\(type).\(fields())"
    case .struct, .class:
        return "\(type){\(fields())}"
    default:
        if let s = value as? String { return "s" + text(s) }
        return "\(type):" + text(String(describing: value))
    }
}

extension DesiredInstance {
    /// SHA-256 (hex) of the declaration in `canonicalForm` (as `desiredStateDigest`): the same
    /// for equal declarations in every process (dictionaries and sets in sorted order, not in
    /// their per-process hash order), different when any field differs. What a reconcile run
    /// started afresh compares with the declaration an instance's action last failed under
    /// (`STATE/backoff.json`).
    public var declarationDigest: String {
        var sha = SHA256()
        sha.update("virtplace-declaration/1\n")
        sha.update(canonicalForm(self))
        return sha.hexDigest()
    }
}
