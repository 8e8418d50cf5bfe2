import YAMLDecoding

/// A problem validation found in a merged placement: where (a key path) and what. The loader
/// turns the path into FILE:LINE:COLUMN.
public struct Finding: Equatable, Sendable {
    public var severity: Diagnostic.Severity
    /// Key path components: `["instances", "web-1", "host"]`.
    public var path: [String]
    /// The finding is about the key at the end of `path` (e.g. a bad name), not its value.
    public var atKey: Bool
    public var message: String

    public init(_ severity: Diagnostic.Severity, _ path: [String], _ message: String, atKey: Bool = false) {
        self.severity = severity; self.path = path; self.message = message; self.atKey = atKey
    }

    /// `instances.web-1.devices.data.pool`.
    public var dottedPath: String { path.joined(separator: ".") }
}

/// Checks a merged placement for what decoding cannot see: references, names, ranges,
/// conflicts. Returns every finding, sorted by path; no libvirt, no I/O.
public func validate(_ spec: PlacementSpec, declared: DeclaredNames = .init()) -> [Finding] {
    var v = Validator(spec: spec, declared: declared)
    v.run()
    return v.findings
}

/// Names written in the input whose entries may have failed to decode.
public struct DeclaredNames: Sendable {
    public var hosts: Set<String> = []
    public var profiles: Set<String> = []
    public var faultDomains: Set<String> = []
    /// Some document has a `metadata` section (whose own errors are reported by decoding).
    public var metadataWritten = false
    public init() {}
}

private struct Validator {
    let spec: PlacementSpec
    let declared: DeclaredNames
    /// `storage.sharedPools` then `storage.localPools`: the pools a disk may name.
    let pools: [String]
    var findings: [Finding] = []

    init(spec: PlacementSpec, declared: DeclaredNames) {
        self.spec = spec
        self.declared = declared
        self.pools = spec.storage.sharedPools + spec.storage.localPools
    }

    mutating func error(_ path: [String], _ message: String, atKey: Bool = false) {
        findings.append(Finding(.error, path, message, atKey: atKey))
    }
    mutating func warning(_ path: [String], _ message: String, atKey: Bool = false) {
        findings.append(Finding(.warning, path, message, atKey: atKey))
    }

    mutating func run() {
        if spec.metadata.name.isEmpty {
            if !declared.metadataWritten { error(["metadata", "name"], "the fleet needs a name: set metadata.name") }
        } else if !isValidName(spec.metadata.name) {
            error(["metadata", "name"], "invalid fleet name '\(spec.metadata.name)' (\(nameRule))")
        }
        checkPolicy()
        checkStorage()
        checkHosts()
        for name in spec.profiles.keys.sorted() { checkProfile(name) }
        checkInstances()
    }

    // MARK: policy and storage

    mutating func checkPolicy() {
        let p = spec.policy
        positive(p.parallel.total, ["policy", "parallel", "total"])
        positive(p.parallel.perHost, ["policy", "parallel", "perHost"])
        nonNegative(p.maxMovesPerRun, ["policy", "maxMovesPerRun"])
        nonNegative(p.shutdownTimeoutSeconds, ["policy", "shutdownTimeoutSeconds"])
        if !(p.cpuOvercommit > 0) || !p.cpuOvercommit.isFinite {
            error(["policy", "cpuOvercommit"], "must be a number greater than 0, found \(p.cpuOvercommit)")
        }
        duplicates(p.moves.map(\.rawValue), ["policy", "moves"], what: "move kind")
        checkLive(p.live, ["policy", "live"])
    }

    mutating func checkLive(_ live: LivePolicySpec, _ path: @autoclosure () -> [String]) {
        nonNegative(live.maxDowntimeMs, path() + ["maxDowntimeMs"])
        nonNegative(live.bandwidthMiBps, path() + ["bandwidthMiBps"])
        positive(live.timeoutSeconds, path() + ["timeoutSeconds"])
    }

    mutating func checkStorage() {
        duplicates(spec.storage.sharedPools, ["storage", "sharedPools"], what: "pool")
        duplicates(spec.storage.localPools, ["storage", "localPools"], what: "pool")
        for pool in Set(spec.storage.sharedPools).intersection(spec.storage.localPools).sorted() {
            error(["storage", "localPools"], "pool '\(pool)' is listed as both shared and local")
        }
    }

    // MARK: hosts

    mutating func checkHosts() {
        var byURI: [String: String] = [:]
        for name in spec.hosts.keys.sorted() {
            guard let host = spec.hosts[name] else { continue }
            let path = ["hosts", name]
            if !isValidName(name) { error(path, "invalid host name '\(name)' (\(nameRule))", atKey: true) }
            if let problem = uriProblem(host.uri) {
                error(path + ["uri"], problem)
            } else {
                let normalized = normalizedURI(host.uri)
                if let other = byURI[normalized] {
                    error(path + ["uri"], "host '\(other)' has the same URI '\(host.uri)': one libvirt daemon cannot be two hosts")
                } else {
                    byURI[normalized] = name
                }
            }
            if let fd = host.faultDomain, fd.isEmpty { error(path + ["faultDomain"], "must not be empty") }
            if let cap = host.capacity {
                if let v = cap.vcpus { positive(v, path + ["capacity", "vcpus"]) }
                if let v = cap.memoryMiB { positive(v, path + ["capacity", "memoryMiB"]) }
            }
        }
    }

    // MARK: profiles and instances

    mutating func checkProfile(_ name: String) {
        guard let profile = spec.profiles[name] else { return }
        let path = ["profiles", name]
        checkConfig(profile.config, path + ["config"])
        checkDevices(profile.devices, path + ["devices"])
    }

    mutating func checkConfig(_ config: ConfigSpec, _ path: @autoclosure () -> [String]) {
        if let v = config.vcpus { positive(v, path() + ["vcpus"]) }
        if let v = config.memoryMiB { positive(v, path() + ["memoryMiB"]) }
        // Sorting the keys only orders the findings: skip it when every key is plainly fine.
        guard let tags = config.tags, tags.keys.contains(where: { !isPlainOneLine($0) }) else { return }
        for key in tags.keys.sorted() where key.isEmpty || key.contains(where: { $0.isNewline }) {
            error(path() + ["tags", key], "invalid tag key '\(key)' (must be non-empty, one line)", atKey: true)
        }
    }

    mutating func checkDevices(_ devices: [String: DeviceSpec], _ path: @autoclosure () -> [String]) {
        // Sorting the keys only orders the findings: skip it when every device is plainly fine.
        guard devices.values.contains(where: { !isPlainlyFine($0) }) else { return }
        for key in devices.keys.sorted() {
            guard let device = devices[key] else { continue }
            let p = path() + [key]
            switch device {
            case .disk(let d):
                if d.volume.isEmpty || d.volume.contains("/") {
                    error(p + ["volume"], "invalid volume name '\(d.volume)' (a name inside the pool, without '/')")
                }
                if !pools.contains(d.pool) {
                    let hint = closestName(d.pool, in: pools).map { "did you mean '\($0)'? " } ?? ""
                    error(p + ["pool"], "unknown pool '\(d.pool)' (\(hint)declare it in storage.sharedPools or storage.localPools)")
                }
                if let bus = d.bus, !diskBuses.contains(bus) {
                    error(p + ["bus"], "unknown disk bus '\(bus)' (expected one of: virtio, sata, scsi, ide, usb)")
                }
            case .nic(let n):
                if n.network == nil && n.bridge == nil {
                    error(p, "a nic needs a network or a bridge")
                } else if n.network != nil && n.bridge != nil {
                    error(p + ["bridge"], "a nic has a network or a bridge, not both")
                }
                if let mac = n.mac, let problem = macProblem(mac) { error(p + ["mac"], problem) }
            case .none:
                break
            }
        }
    }

    /// Whether a device certainly passes `checkDevices` (false is a "maybe"): the cheap test
    /// the common, valid device takes.
    func isPlainlyFine(_ device: DeviceSpec) -> Bool {
        switch device {
        case .disk(let d):
            return !d.volume.isEmpty && !d.volume.utf8.contains(UInt8(ascii: "/")) && pools.contains(d.pool)
                && (d.bus.map { diskBuses.contains($0) } ?? true)
        case .nic(let n):
            return (n.network == nil) != (n.bridge == nil) && (n.mac.map { macProblem($0) == nil } ?? true)
        case .none:
            return true
        }
    }

    mutating func checkInstances() {
        let faultDomains = Set(spec.hosts.values.compactMap(\.faultDomain))
        var macOwners: [String: DeviceOwner] = [:]
        var volumeOwners: [VolumeID: DeviceOwner] = [:]
        var spreadGroups: [String: [String]] = [:]
        var profileMerge: ProfileMerge? = nil
        macOwners.reserveCapacity(spec.instances.count)
        volumeOwners.reserveCapacity(spec.instances.count)

        // In name order, by dictionary position: no lookup of each name again.
        var order = Array(spec.instances.indices)
        order.sort { spec.instances[$0].key < spec.instances[$1].key }
        for position in order {
            let (name, inst) = spec.instances[position]
            // Paths are built only for a finding: most instances have none.
            if !isValidName(name) { error(["instances", name], "invalid domain name '\(name)' (\(nameRule))", atKey: true) }

            if inst.host != nil && inst.faultDomain != nil {
                error(["instances", name, "faultDomain"], "an instance has a host or a faultDomain, not both")
            }
            if let host = inst.host {
                if let h = spec.hosts[host] {
                    if h.state == .drained {
                        warning(["instances", name, "host"], "host '\(host)' is drained: the instance is placed elsewhere until the host is active again")
                    }
                } else if !declared.hosts.contains(host) {
                    error(["instances", name, "host"], "unknown host '\(host)'" + didYouMean(host, declared.hosts.union(spec.hosts.keys)))
                }
            }
            if let fd = inst.faultDomain, !faultDomains.contains(fd), !declared.faultDomains.contains(fd) {
                error(["instances", name, "faultDomain"], "unknown fault domain '\(fd)' (no host is in it)" + didYouMean(fd, faultDomains.union(declared.faultDomains)))
            }
            if let group = inst.spread { spreadGroups[group, default: []].append(name) }

            for (i, profile) in inst.profiles.enumerated() where spec.profiles[profile] == nil && !declared.profiles.contains(profile) {
                error(["instances", name, "profiles", "[\(i)]"], "unknown profile '\(profile)'" + didYouMean(profile, declared.profiles.union(spec.profiles.keys)))
            }
            duplicates(inst.profiles, ["instances", name, "profiles"], what: "profile")
            if let moves = inst.moves { duplicates(moves.map(\.rawValue), ["instances", name, "moves"], what: "move kind") }
            checkConfig(inst.config, ["instances", name, "config"])
            checkDevices(inst.devices, ["instances", name, "devices"])
            if let live = inst.live { checkLive(live.applied(to: spec.policy.live), ["instances", name, "live"]) }

            // What the merged instance means (as `spec.desired(name)` has it): one boot disk,
            // no device twice, no MAC or volume shared with another instance.
            guard let devices = mergedDevices(inst, profiles: &profileMerge) else { continue }
            var bootCount = 0
            for entry in devices { if case .disk(let d) = entry.device, d.boot { bootCount += 1 } }
            if bootCount > 1 {
                let boots = devices.compactMap { entry -> String? in
                    if case .disk(let d) = entry.device, d.boot { return entry.key } else { return nil }
                }
                error(["instances", name, "devices"], "more than one boot disk: \(boots.joined(separator: ", "))")
            }
            for (key, device) in devices {
                switch device {
                case .disk(let d):
                    let id = VolumeID(pool: d.pool, volume: d.volume)
                    if let other = volumeOwners[id] {
                        error(devicePath(name, key, inst) + ["volume"], "volume '\(d.pool)/\(d.volume)' is also used by \(other)")
                    } else {
                        volumeOwners[id] = DeviceOwner(instance: name, key: key)
                    }
                case .nic(let n):
                    if let mac = n.mac, macProblem(mac) == nil {
                        if let other = macOwners[mac] {
                            error(devicePath(name, key, inst) + ["mac"], "MAC \(mac) is also used by \(other)")
                        } else {
                            macOwners[mac] = DeviceOwner(instance: name, key: key)
                        }
                    }
                case .none:
                    break
                }
            }
        }

        for group in spreadGroups.keys.sorted() {
            guard let members = spreadGroups[group], members.count > faultDomains.count else { continue }
            warning(["instances", members[faultDomains.count], "spread"],
                    "spread group '\(group)' has \(members.count) instances but there are only \(faultDomains.count) fault domains: some will share one")
        }
    }

    /// The instance's devices once its profiles are merged, `none` entries removed, sorted by
    /// key: `spec.desired(name)`'s `devices` in `deviceKeys` order, without building the rest
    /// of it. Nil when the merged vCPUs or memory are not positive (reported elsewhere).
    ///
    /// - Parameter profiles: the merge of the last instance's profiles, reused when this one
    ///   lists the same (instances of a fleet mostly share a few lists).
    func mergedDevices(_ inst: InstanceSpec, profiles: inout ProfileMerge?) -> [(key: String, device: DeviceSpec)]? {
        if profiles?.names != inst.profiles {
            var merge = ProfileMerge(names: inst.profiles)
            for p in inst.profiles {
                guard let profile = spec.profiles[p] else { continue }
                if let v = profile.config.vcpus { merge.vcpus = v }
                if let v = profile.config.memoryMiB { merge.memoryMiB = v }
                ProfileMerge.put(profile.devices, into: &merge.devices)
            }
            profiles = merge
        }
        var vcpus = profiles?.vcpus
        var memoryMiB = profiles?.memoryMiB
        var merged = profiles?.devices ?? []
        merged.reserveCapacity(merged.count + inst.devices.count)
        if let v = inst.config.vcpus { vcpus = v }
        if let v = inst.config.memoryMiB { memoryMiB = v }
        ProfileMerge.put(inst.devices, into: &merged)
        if (vcpus ?? 1) <= 0 || (memoryMiB ?? 1) <= 0 { return nil }
        merged.removeAll { entry in
            if case .none = entry.device { return true } else { return false }
        }
        merged.sort { $0.key < $1.key }
        return merged
    }

    /// Where an instance's device is stated: its own `devices` when it names the key, else the
    /// instance (the device came from a profile).
    func devicePath(_ name: String, _ key: String, _ inst: InstanceSpec) -> [String] {
        if inst.devices[key] != nil { return ["instances", name, "devices", key] }
        for p in inst.profiles.reversed() where spec.profiles[p]?.devices[key] != nil {
            return ["profiles", p, "devices", key]
        }
        return ["instances", name]
    }

    // MARK: small checks

    mutating func positive(_ v: Int, _ path: @autoclosure () -> [String]) {
        if v <= 0 { error(path(), "must be greater than 0, found \(v)") }
    }
    mutating func nonNegative(_ v: Int, _ path: @autoclosure () -> [String]) {
        if v < 0 { error(path(), "must not be negative, found \(v)") }
    }
    mutating func duplicates(_ items: [String], _ path: @autoclosure () -> [String], what: String) {
        if items.count < 2 { return }
        if items.count <= 16 {
            // A few items: comparing each with those before it is cheaper than a set.
            for i in 1..<items.count where items[..<i].contains(items[i]) {
                error(path() + ["[\(i)]"], "\(what) '\(items[i])' listed twice")
            }
            return
        }
        var seen = Set<String>()
        for (i, item) in items.enumerated() where !seen.insert(item).inserted {
            error(path() + ["[\(i)]"], "\(what) '\(item)' listed twice")
        }
    }
}

/// What a list of profiles gives an instance: the last vCPUs and memory they state, and their
/// devices merged by key.
private struct ProfileMerge {
    var names: [String]
    var vcpus: Int? = nil
    var memoryMiB: Int? = nil
    var devices: [(key: String, device: DeviceSpec)] = []

    /// Adds `devices`, replacing entries of the same key, as `Dictionary.merge` does.
    static func put(_ devices: [String: DeviceSpec], into merged: inout [(key: String, device: DeviceSpec)]) {
        for (key, device) in devices {
            if let index = merged.firstIndex(where: { $0.key == key }) {
                merged[index].device = device
            } else {
                merged.append((key, device))
            }
        }
    }
}

/// Who uses a volume or a MAC address first: shown as `web-1.root`.
private struct DeviceOwner: CustomStringConvertible {
    var instance: String
    var key: String
    var description: String { "\(instance).\(key)" }
}

/// A volume as `pool/volume`, compared as that string would be without building it: two
/// names without a `/` join into a string with one `/`, which only the same two names give;
/// names with a `/` are kept as the joined string.
private enum VolumeID: Hashable {
    case parts(pool: String, volume: String)
    case joined(String)

    init(pool: String, volume: String) {
        let slash = UInt8(ascii: "/")
        if pool.utf8.contains(slash) || volume.utf8.contains(slash) {
            self = .joined("\(pool)/\(volume)")
        } else {
            self = .parts(pool: pool, volume: volume)
        }
    }
}

/// The buses a disk may name.
private let diskBuses: Set<String> = ["virtio", "sata", "scsi", "ide", "usb"]

/// Whether `text` is certainly a valid tag key (non-empty, one line); false is a "maybe":
/// non-empty ASCII without line-break bytes.
private func isPlainOneLine(_ text: String) -> Bool {
    !text.isEmpty && text.utf8.allSatisfy { $0 < 0x80 && !(0x0A...0x0D).contains($0) }
}

let nameRule = "letters, digits, '.', '_', '+', '-'; starting with a letter, digit or '_'; at most 64 characters"

/// Domain, host, profile and fleet names: what libvirt and a shell both take without quoting.
func isValidName(_ name: String) -> Bool {
    guard !name.isEmpty, name.utf8.count <= 64 else { return false }
    for (i, b) in name.utf8.enumerated() {
        let alnum = (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A)
        if alnum || b == 0x5F { continue }
        if i > 0 && (b == 0x2E || b == 0x2B || b == 0x2D) { continue }
        return false
    }
    return true
}

/// Why `mac` is not a usable unicast MAC address, or nil.
func macProblem(_ mac: String) -> String? {
    if isPlainUnicastMAC(mac) { return nil }
    let parts = mac.split(separator: ":", omittingEmptySubsequences: false)
    guard parts.count == 6, parts.allSatisfy({ $0.count == 2 && $0.allSatisfy(\.isHexDigit) }) else {
        return "invalid MAC address '\(mac)' (expected six hex pairs like 52:54:00:12:34:56)"
    }
    if let first = UInt8(parts[0], radix: 16), first & 1 == 1 {
        return "invalid MAC address '\(mac)': a multicast address (odd first octet) cannot be a NIC's"
    }
    if mac == "00:00:00:00:00:00" { return "invalid MAC address '\(mac)': all zeros" }
    return nil
}

/// Whether `mac` is certainly a valid unicast MAC (`macProblem` gives nil); false is a
/// "maybe": six ASCII hex pairs joined by `:`, an even first octet, not all zeros.
private func isPlainUnicastMAC(_ mac: String) -> Bool {
    guard mac.utf8.count == 17 else { return false }
    var mac = mac
    return mac.withUTF8(isPlainUnicastMAC)
}

private func isPlainUnicastMAC(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
    var first: UInt8 = 0
    var nonZero = false
    for position in 0..<17 {
        let byte = bytes[position]
        if position % 3 == 2 {
            guard byte == UInt8(ascii: ":") else { return false }
            continue
        }
        let value: UInt8
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): value = byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): value = byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): value = byte - UInt8(ascii: "A") + 10
        default: return false
        }
        if position == 0 { first = value << 4 } else if position == 1 { first |= value }
        if value != 0 { nonZero = true }
    }
    return first & 1 == 0 && nonZero
}

/// Why `uri` is not a libvirt connection URI we can use, or nil.
func uriProblem(_ uri: String) -> String? {
    if isPlainValidURI(uri) { return nil }
    let chars = Array(uri)
    guard let at = (0..<max(0, chars.count - 2)).first(where: { chars[$0] == ":" && chars[$0 + 1] == "/" && chars[$0 + 2] == "/" }) else {
        return "malformed URI '\(uri)' (expected driver[+transport]://[user@]host[:port]/path, like qemu+tcp://10.0.0.1/system)"
    }
    let scheme = String(chars[..<at])
    let parts = scheme.split(separator: "+", omittingEmptySubsequences: false)
    let drivers = ["qemu", "test", "xen", "lxc", "vbox", "bhyve", "ch", "vmware", "esx", "libxl"]
    let transports = ["tcp", "tls", "ssh", "libssh", "libssh2", "unix", "ext"]
    guard let driver = parts.first, drivers.contains(String(driver)), parts.count <= 2 else {
        return "malformed URI '\(uri)': unknown driver '\(scheme)' (expected e.g. qemu, qemu+ssh, qemu+tcp, qemu+tls, test)"
    }
    if parts.count == 2, !transports.contains(String(parts[1])) {
        return "malformed URI '\(uri)': unknown transport '\(parts[1])' (expected one of: \(transports.joined(separator: ", ")))"
    }
    let rest = String(chars[(at + 3)...])
    guard let slash = rest.firstIndex(of: "/") else {
        return "malformed URI '\(uri)': no path (add /system or /session)"
    }
    let authority = rest[..<slash]
    if authority.contains(where: { $0 == " " }) || uri.contains(where: { $0.isWhitespace }) {
        return "malformed URI '\(uri)': contains white space"
    }
    if parts.count == 2, parts[1] != "unix", parts[1] != "ext", authority.split(separator: "@").last.map({ $0.isEmpty || $0.hasPrefix(":") }) ?? true {
        return "malformed URI '\(uri)': a remote transport needs a host"
    }
    if let port = authority.split(separator: "@").last?.split(separator: ":").dropFirst().first,
       !(Int(port).map { (1...65535).contains($0) } ?? false) {
        return "malformed URI '\(uri)': bad port '\(port)'"
    }
    return nil
}

/// Whether `uri` certainly passes `uriProblem` (false is a "maybe"): printable ASCII
/// `driver[+transport]://host/path` with a known driver and transport and a host of letters,
/// digits, `.`, `-` and `_` only (no user, no port), as most files write it.
private func isPlainValidURI(_ uri: String) -> Bool {
    let bytes = uri.utf8
    guard bytes.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else { return false }
    var scheme: [UInt8] = []
    var iterator = bytes.makeIterator()
    // The scheme: up to the first ':', which must start "://".
    while let byte = iterator.next() {
        if byte == UInt8(ascii: ":") { break }
        scheme.append(byte)
    }
    guard iterator.next() == UInt8(ascii: "/"), iterator.next() == UInt8(ascii: "/") else { return false }
    let parts = scheme.split(separator: UInt8(ascii: "+"), omittingEmptySubsequences: false)
    guard parts.count <= 2, let driver = parts.first,
        plainURIDrivers.contains(String(decoding: driver, as: UTF8.self))
    else { return false }
    var transport: String? = nil
    if parts.count == 2 {
        let name = String(decoding: parts[1], as: UTF8.self)
        guard plainURITransports.contains(name) else { return false }
        transport = name
    }
    var hostLength = 0
    var sawSlash = false
    while let byte = iterator.next() {
        if byte == UInt8(ascii: "/") {
            sawSlash = true
            break
        }
        let plain = (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z")) || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z"))
            || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")) || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "-")
            || byte == UInt8(ascii: "_")
        guard plain else { return false }
        hostLength += 1
    }
    guard sawSlash else { return false }
    // A remote transport needs a host.
    if let transport, transport != "unix", transport != "ext", hostLength == 0 { return false }
    return true
}

private let plainURIDrivers: Set<String> = ["qemu", "test", "xen", "lxc", "vbox", "bhyve", "ch", "vmware", "esx", "libxl"]
private let plainURITransports: Set<String> = ["tcp", "tls", "ssh", "libssh", "libssh2", "unix", "ext"]

/// The URI without its query, for comparing two hosts.
func normalizedURI(_ uri: String) -> String {
    // Without a query or capitals there is nothing to take off or lower.
    if uri.utf8.allSatisfy({ $0 < 0x80 && $0 != UInt8(ascii: "?") && !(UInt8(ascii: "A")...UInt8(ascii: "Z")).contains($0) }) {
        return uri
    }
    return String(uri.split(separator: "?", maxSplits: 1).first ?? "").lowercased()
}

func didYouMean<S: Sequence<String>>(_ word: String, _ candidates: S) -> String {
    closestName(word, in: Array(candidates)).map { " (did you mean '\($0)'?)" } ?? ""
}

/// The candidate nearest to `word`, when close enough to be a typo.
public func closestName(_ word: String, in candidates: [String]) -> String? {
    var best: (name: String, distance: Int)?
    for c in candidates.sorted() {
        let d = levenshtein(word.lowercased(), c.lowercased())
        if d < best?.distance ?? Int.max { best = (c, d) }
    }
    guard let best, best.distance <= max(2, word.count / 3) else { return nil }
    return best.name
}

/// Edit distance between two strings.
public func levenshtein(_ a: String, _ b: String) -> Int {
    let a = Array(a.unicodeScalars), b = Array(b.unicodeScalars)
    if a.isEmpty { return b.count }
    if b.isEmpty { return a.count }
    var previous = Array(0...b.count)
    var current = [Int](repeating: 0, count: b.count + 1)
    for i in 1...a.count {
        current[0] = i
        for j in 1...b.count {
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
        }
        swap(&previous, &current)
    }
    return previous[b.count]
}
