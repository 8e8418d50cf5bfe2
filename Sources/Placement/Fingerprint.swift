/// The basis of a plan: a fingerprint of what it was computed from, so that `apply PLANFILE`
/// can refuse a plan the fleet has moved away from. Digests are SHA-256 (hex) over a canonical
/// text form; SHA-256 is implemented here (no dependencies) and is internal to this module.

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

    private enum CodingKeys: String, CodingKey { case name, host, uuid, state, xmlDigest }

    /// Encodes every key, absent values as null.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(name, forKey: .name)
        try c.encode(host, forKey: .host)
        try c.encode(uuid, forKey: .uuid)
        try c.encode(state, forKey: .state)
        try c.encode(xmlDigest, forKey: .xmlDigest)
    }

    /// Decodes a domain-basis entry; absent keys are nil.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decode(String.self, forKey: .name)
        host = try c.decodeIfPresent(String.self, forKey: .host)
        uuid = try c.decodeIfPresent(String.self, forKey: .uuid)
        state = try c.decodeIfPresent(String.self, forKey: .state)
        xmlDigest = try c.decodeIfPresent(String.self, forKey: .xmlDigest)
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

/// SHA-256 (FIPS 180-4), streaming. Small and dependency-free; internal to Placement.
struct SHA256 {
    private var h: [UInt32] = [0x6a09_e667, 0xbb67_ae85, 0x3c6e_f372, 0xa54f_f53a,
                               0x510e_527f, 0x9b05_688c, 0x1f83_d9ab, 0x5be0_cd19]
    private var block = [UInt8](repeating: 0, count: 64)
    private var used = 0
    private var length: UInt64 = 0
    private var w = [UInt32](repeating: 0, count: 64)

    private static let k: [UInt32] = [
        0x428a_2f98, 0x7137_4491, 0xb5c0_fbcf, 0xe9b5_dba5, 0x3956_c25b, 0x59f1_11f1, 0x923f_82a4, 0xab1c_5ed5,
        0xd807_aa98, 0x1283_5b01, 0x2431_85be, 0x550c_7dc3, 0x72be_5d74, 0x80de_b1fe, 0x9bdc_06a7, 0xc19b_f174,
        0xe49b_69c1, 0xefbe_4786, 0x0fc1_9dc6, 0x240c_a1cc, 0x2de9_2c6f, 0x4a74_84aa, 0x5cb0_a9dc, 0x76f9_88da,
        0x983e_5152, 0xa831_c66d, 0xb003_27c8, 0xbf59_7fc7, 0xc6e0_0bf3, 0xd5a7_9147, 0x06ca_6351, 0x1429_2967,
        0x27b7_0a85, 0x2e1b_2138, 0x4d2c_6dfc, 0x5338_0d13, 0x650a_7354, 0x766a_0abb, 0x81c2_c92e, 0x9272_2c85,
        0xa2bf_e8a1, 0xa81a_664b, 0xc24b_8b70, 0xc76c_51a3, 0xd192_e819, 0xd699_0624, 0xf40e_3585, 0x106a_a070,
        0x19a4_c116, 0x1e37_6c08, 0x2748_774c, 0x34b0_bcb5, 0x391c_0cb3, 0x4ed8_aa4a, 0x5b9c_ca4f, 0x682e_6ff3,
        0x748f_82ee, 0x78a5_636f, 0x84c8_7814, 0x8cc7_0208, 0x90be_fffa, 0xa450_6ceb, 0xbef9_a3f7, 0xc671_78f2,
    ]

    mutating func update(_ text: String) {
        var text = text
        text.withUTF8 { update(bytes: $0) }
    }

    mutating func update(bytes: UnsafeBufferPointer<UInt8>) {
        length &+= UInt64(bytes.count)
        var i = 0
        let n = bytes.count
        while i < n {
            if used == 0, n - i >= 64, let base = bytes.baseAddress {
                // Whole blocks straight from the input.
                compress(UnsafeBufferPointer(start: base + i, count: 64))
                i += 64
                continue
            }
            block[used] = bytes[i]
            used += 1
            i += 1
            if used == 64 {
                let copy = block
                copy.withUnsafeBufferPointer { compress($0) }
                used = 0
            }
        }
    }

    /// Finishes the hash; the hasher is spent afterwards.
    mutating func hexDigest() -> String {
        let bits = length &* 8
        var pad: [UInt8] = [0x80]
        let rest = (used + 1) % 64
        pad += [UInt8](repeating: 0, count: rest <= 56 ? 56 - rest : 120 - rest)
        for i in (0..<8).reversed() { pad.append(UInt8(truncatingIfNeeded: bits >> (UInt64(i) * 8))) }
        let saved = length
        pad.withUnsafeBufferPointer { update(bytes: $0) }
        length = saved
        let digits: [Character] = Array("0123456789abcdef")
        var out = ""
        out.reserveCapacity(64)
        for word in h {
            for shift in stride(from: 28, through: 0, by: -4) {
                out.append(digits[Int((word >> UInt32(shift)) & 0xf)])
            }
        }
        return out
    }

    private mutating func compress(_ block: UnsafeBufferPointer<UInt8>) {
        for i in 0..<16 {
            w[i] = UInt32(block[i * 4]) << 24 | UInt32(block[i * 4 + 1]) << 16 | UInt32(block[i * 4 + 2]) << 8 | UInt32(block[i * 4 + 3])
        }
        for i in 16..<64 {
            let s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >> 3)
            let s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >> 10)
            w[i] = w[i - 16] &+ s0 &+ w[i - 7] &+ s1
        }
        var a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], hh = h[7]
        for i in 0..<64 {
            let s1 = rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)
            let ch = (e & f) ^ (~e & g)
            let t1 = hh &+ s1 &+ ch &+ SHA256.k[i] &+ w[i]
            let s0 = rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)
            let maj = (a & b) ^ (a & c) ^ (b & c)
            let t2 = s0 &+ maj
            hh = g; g = f; f = e; e = d &+ t1; d = c; c = b; b = a; a = t1 &+ t2
        }
        h[0] &+= a; h[1] &+= b; h[2] &+= c; h[3] &+= d; h[4] &+= e; h[5] &+= f; h[6] &+= g; h[7] &+= hh
    }

    @inline(__always) private func rotr(_ x: UInt32, _ n: UInt32) -> UInt32 { (x >> n) | (x << (32 - n)) }
}
