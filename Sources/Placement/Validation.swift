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

/// What loading and validation accept beyond the file itself, as the command passes it in.
public struct LoadOptions: Sendable, Equatable {
    /// Accept `test://` host URIs: the in-process test driver, which reads any local file its
    /// path names. Only when the environment has `VIRTPLACE_ALLOW_TEST_DRIVER=1` (the tests).
    public var allowTestDriver: Bool
    /// Diagnostics reported per file (and findings per validation); past that, one more
    /// diagnostic counts the rest, so that a hostile file cannot make the report (or the
    /// suggestions and locations behind it) unbounded.
    public var maxDiagnosticsPerFile: Int

    public init(allowTestDriver: Bool = false, maxDiagnosticsPerFile: Int = 100) {
        self.allowTestDriver = allowTestDriver
        self.maxDiagnosticsPerFile = max(1, maxDiagnosticsPerFile)
    }
}

/// Checks a merged placement for what decoding cannot see: references, names, ranges,
/// conflicts. Returns the findings in the order found, at most ten times
/// `options.maxDiagnosticsPerFile` of them and then one that counts the rest; no libvirt, no I/O.
public func validate(_ spec: PlacementSpec, declared: DeclaredNames = .init(), options: LoadOptions = .init()) -> [Finding] {
    let result = validateCounting(spec, declared: declared, options: options)
    var findings = result.findings
    if result.omitted > 0 {
        findings.append(Finding(result.omittedError ? .error : .warning, [],
                                "\(result.omitted) more problem\(result.omitted == 1 ? "" : "s") not listed"))
    }
    return findings
}

/// `validate`'s findings, and how many more it counted without building them (an error among
/// them or not).
func validateCounting(_ spec: PlacementSpec, declared: DeclaredNames, options: LoadOptions)
    -> (findings: [Finding], omitted: Int, omittedError: Bool)
{
    var v = Validator(spec: spec, declared: declared, options: options)
    v.run()
    return (v.findings, v.omitted, v.omittedError)
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
    let options: LoadOptions
    /// `storage.sharedPools` then `storage.localPools`: the pools a disk may name.
    let pools: [String]
    /// The same, for lookups: a file may list many pools, and every disk names one.
    let poolSet: Set<String>
    var findings: [Finding] = []
    /// Findings past `maximumFindings`: counted, not built (their messages, with suggestions,
    /// are never computed). Ten times a file's share, so that the first by line, which is
    /// what the report shows, are almost always among those built.
    var omitted = 0
    var omittedError = false
    var maximumFindings: Int { options.maxDiagnosticsPerFile.multipliedReportingOverflow(by: 10).partialValue }
    /// "Did you mean" searches left: each may compare against every host, so only the first
    /// `maxDiagnosticsPerFile` findings that want one get one.
    var suggestionsLeft: Int

    init(spec: PlacementSpec, declared: DeclaredNames, options: LoadOptions) {
        self.spec = spec
        self.declared = declared
        self.options = options
        self.pools = spec.storage.sharedPools + spec.storage.localPools
        self.poolSet = Set(pools)
        self.suggestionsLeft = options.maxDiagnosticsPerFile
    }

    /// `" (did you mean 'x'?)"` while the suggestion budget lasts.
    mutating func hint(_ word: String, _ kind: CandidateKind) -> String {
        guard findings.count < maximumFindings, suggestionsLeft > 0 else { return "" }
        suggestionsLeft -= 1
        if let index = candidates[kind] { return index.hint(for: word) }
        // Built the first time a name of this kind is unknown: a valid file never pays for it.
        let names: Set<String>
        switch kind {
        case .host: names = declared.hosts.union(spec.hosts.keys)
        case .profile: names = declared.profiles.union(spec.profiles.keys)
        case .faultDomain: names = Set(spec.hosts.values.compactMap(\.faultDomain)).union(declared.faultDomains)
        }
        let index = SuggestionIndex(names.sorted())
        candidates[kind] = index
        return index.hint(for: word)
    }

    enum CandidateKind { case host, profile, faultDomain }
    var candidates: [CandidateKind: SuggestionIndex] = [:]

    mutating func error(_ path: @autoclosure () -> [String], _ message: @autoclosure () -> String, atKey: Bool = false) {
        record(.error, path, message, atKey: atKey)
    }
    mutating func warning(_ path: @autoclosure () -> [String], _ message: @autoclosure () -> String, atKey: Bool = false) {
        record(.warning, path, message, atKey: atKey)
    }

    mutating func record(_ severity: Diagnostic.Severity, _ path: () -> [String], _ message: () -> String, atKey: Bool) {
        guard findings.count < maximumFindings else {
            omitted += 1
            if severity == .error { omittedError = true }
            return
        }
        findings.append(Finding(severity, path(), message(), atKey: atKey))
    }

    /// A string of kind `kind` at `path`: an error when it breaks the kind's rule.
    mutating func check(_ text: String, _ kind: NameKind, what: String, _ path: @autoclosure () -> [String], atKey: Bool = false) {
        if kind.allows(text) { return }
        error(path(), kind.problem(text, what: what) ?? "invalid \(what)", atKey: atKey)
    }

    /// An integer at `path` that must lie in `range`.
    mutating func bounded(_ v: Int, _ range: ClosedRange<Int>, _ path: @autoclosure () -> [String]) {
        if !range.contains(v) { error(path(), "must be between \(range.lowerBound) and \(range.upperBound), found \(v)") }
    }

    /// Tags or labels: keys and values that libvirt stores and gives back unchanged.
    mutating func checkTags(_ tags: [String: String], _ path: @autoclosure () -> [String], what: String) {
        if tags.count > SpecBounds.tagCount {
            error(path(), "\(tags.count) \(what)s (at most \(SpecBounds.tagCount))")
        }
        // Sorting the keys only orders the findings: skip it when every entry is fine.
        guard tags.contains(where: { !NameKind.tagKey.allows($0.key) || !NameKind.tagValue.allows($0.value) }) else { return }
        for key in tags.keys.sorted() {
            check(key, .tagKey, what: "\(what) key", path() + [key], atKey: true)
            if let value = tags[key] { check(value, .tagValue, what: "\(what) value", path() + [key]) }
        }
    }

    mutating func run() {
        if spec.metadata.name.isEmpty {
            if !declared.metadataWritten { error(["metadata", "name"], "the fleet needs a name: set metadata.name") }
        } else {
            check(spec.metadata.name, .name, what: "fleet name", ["metadata", "name"])
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
        bounded(p.parallel.total, SpecBounds.parallelTotal, ["policy", "parallel", "total"])
        bounded(p.parallel.perHost, SpecBounds.parallelPerHost, ["policy", "parallel", "perHost"])
        if let v = p.parallel.perHostIn { bounded(v, SpecBounds.parallelPerHost, ["policy", "parallel", "perHostIn"]) }
        if let v = p.parallel.perHostOut { bounded(v, SpecBounds.parallelPerHost, ["policy", "parallel", "perHostOut"]) }
        bounded(p.maxMovesPerRun, SpecBounds.maxMovesPerRun, ["policy", "maxMovesPerRun"])
        bounded(p.shutdownTimeoutSeconds, SpecBounds.shutdownTimeoutSeconds, ["policy", "shutdownTimeoutSeconds"])
        if !(p.cpuOvercommit > 0 && p.cpuOvercommit <= SpecBounds.cpuOvercommitMaximum) {
            error(["policy", "cpuOvercommit"], "must be a number greater than 0 and at most \(Int(SpecBounds.cpuOvercommitMaximum)), found \(p.cpuOvercommit)")
        }
        duplicates(p.moves.map(\.rawValue), ["policy", "moves"], what: "move kind")
        var stated = LiveOverrideSpec()
        stated.maxDowntimeMs = p.live.maxDowntimeMs
        stated.bandwidthMiBps = p.live.bandwidthMiBps
        stated.timeoutSeconds = p.live.timeoutSeconds
        stated.stallSeconds = p.live.stallSeconds
        stated.downtimeSteps = p.live.downtimeSteps
        checkLive(stated, ["policy", "live"])
        let transport = p.live.transport
        bounded(transport.parallelConnections, SpecBounds.parallelConnections, ["policy", "live", "transport", "parallelConnections"])
        if let problem = transport.combinationProblem { error(["policy", "live", "transport", "compression"], problem) }
        if let note = transport.combinationWarning { warning(["policy", "live", "transport", "compression"], note) }
    }

    /// An instance's `live.transport`: its bounds, and what it makes of the policy's (a
    /// combination the policy alone makes is reported once, at the policy).
    mutating func checkTransport(_ stated: TransportOverrideSpec, effective: TransportSpec, _ path: @autoclosure () -> [String]) {
        if let v = stated.parallelConnections { bounded(v, SpecBounds.parallelConnections, path() + ["parallelConnections"]) }
        guard SpecBounds.parallelConnections.contains(effective.parallelConnections) else { return }
        let at = path() + (stated.compression != nil ? ["compression"] : [])
        if let problem = effective.combinationProblem, spec.policy.live.transport.combinationProblem != problem {
            error(at, problem)
        } else if let note = effective.combinationWarning, spec.policy.live.transport.combinationWarning != note {
            warning(at, note)
        }
    }

    /// The live settings a file states (the policy's, or an instance's overrides alone: a
    /// policy value out of range is reported once, at the policy).
    mutating func checkLive(_ live: LiveOverrideSpec, _ path: @autoclosure () -> [String]) {
        if let v = live.maxDowntimeMs { bounded(v, SpecBounds.maxDowntimeMs, path() + ["maxDowntimeMs"]) }
        if let v = live.bandwidthMiBps { bounded(v, SpecBounds.bandwidthMiBps, path() + ["bandwidthMiBps"]) }
        if let v = live.timeoutSeconds { bounded(v, SpecBounds.timeoutSeconds, path() + ["timeoutSeconds"]) }
        if let v = live.stallSeconds { bounded(v, SpecBounds.stallSeconds, path() + ["stallSeconds"]) }
        if let v = live.downtimeSteps { bounded(v, SpecBounds.downtimeSteps, path() + ["downtimeSteps"]) }
    }

    mutating func checkStorage() {
        for (i, pool) in spec.storage.sharedPools.enumerated() { check(pool, .object, what: "pool name", ["storage", "sharedPools", "[\(i)]"]) }
        for (i, pool) in spec.storage.localPools.enumerated() { check(pool, .object, what: "pool name", ["storage", "localPools", "[\(i)]"]) }
        duplicates(spec.storage.sharedPools, ["storage", "sharedPools"], what: "pool")
        duplicates(spec.storage.localPools, ["storage", "localPools"], what: "pool")
        for pool in Set(spec.storage.sharedPools).intersection(spec.storage.localPools).sorted() {
            error(["storage", "localPools"], "pool \(quotedForMessage(pool)) is listed as both shared and local")
        }
    }

    // MARK: hosts

    mutating func checkHosts() {
        var byURI: [String: String] = [:]
        var byMigrationAddress: [String: String] = [:]
        for name in spec.hosts.keys.sorted() {
            guard let host = spec.hosts[name] else { continue }
            let path = ["hosts", name]
            check(name, .name, what: "host name", path, atKey: true)
            do {
                let uri = try HostURI(host.uri, allowTestDriver: options.allowTestDriver)
                let key = uri.daemonKey
                if let other = byURI[key] {
                    error(path + ["uri"], "host '\(other)' has the same URI '\(HostURI.redacted(host.uri))': one libvirt daemon cannot be two hosts")
                } else {
                    byURI[key] = name
                }
            } catch let refusal {
                error(path + ["uri"], refusal.description)
            }
            if let fd = host.faultDomain { check(fd, .name, what: "fault domain", path + ["faultDomain"]) }
            if let address = host.migration.address {
                if let problem = MigrationAddress.problem(address) {
                    error(path + ["migration", "address"], "invalid migration address \(quotedForMessage(address)): \(problem)")
                } else if let other = byMigrationAddress[address.lowercased()] {
                    error(path + ["migration", "address"], "host '\(other)' has the same migration address \(quotedForMessage(address)): streams for two hosts cannot go to one address")
                } else {
                    byMigrationAddress[address.lowercased()] = name
                }
            }
            if let tlsName = host.migration.tlsName, let problem = MigrationAddress.problem(tlsName) {
                error(path + ["migration", "tlsName"], "invalid certificate name \(quotedForMessage(tlsName)): \(problem)")
            }
            checkTags(host.labels, path + ["labels"], what: "label")
            if let cap = host.capacity {
                if let v = cap.vcpus { bounded(v, SpecBounds.hostVCPUs, path + ["capacity", "vcpus"]) }
                if let v = cap.memoryMiB { bounded(v, SpecBounds.hostMemoryMiB, path + ["capacity", "memoryMiB"]) }
            }
            if let m = host.maintenance {
                if m.dueSeconds == nil {
                    error(path + ["maintenance", "due"], "invalid due time \(quotedForMessage(m.due)): expected \(MaintenanceTime.rule)")
                }
                if let reason = m.reason { check(reason, .tagValue, what: "maintenance reason", path + ["maintenance", "reason"]) }
            }
        }
    }

    // MARK: profiles and instances

    mutating func checkProfile(_ name: String) {
        guard let profile = spec.profiles[name] else { return }
        let path = ["profiles", name]
        check(name, .name, what: "profile name", path, atKey: true)
        checkConfig(profile.config, path + ["config"])
        checkDevices(profile.devices, path + ["devices"])
    }

    mutating func checkConfig(_ config: ConfigSpec, _ path: @autoclosure () -> [String]) {
        if let v = config.vcpus { bounded(v, SpecBounds.vcpus, path() + ["vcpus"]) }
        if let v = config.memoryMiB { bounded(v, SpecBounds.memoryMiB, path() + ["memoryMiB"]) }
        if let tags = config.tags { checkTags(tags, path() + ["tags"], what: "tag") }
    }

    mutating func checkDevices(_ devices: [String: DeviceSpec], _ path: @autoclosure () -> [String]) {
        // Sorting the keys only orders the findings: skip it when every device is plainly fine.
        guard devices.contains(where: { !isPlainlyFine($0.key, $0.value) }) else { return }
        for key in devices.keys.sorted() {
            guard let device = devices[key] else { continue }
            let p = path() + [key]
            check(key, .name, what: "device key", p, atKey: true)
            switch device {
            case .disk(let d):
                check(d.volume, .object, what: "volume name", p + ["volume"])
                if !poolSet.contains(d.pool) {
                    // A handful of pools: no budget needed.
                    let pools = self.pools
                    error(p + ["pool"], "unknown pool \(quotedForMessage(d.pool)) (\(Suggestion.closest(to: d.pool, among: pools).map { "did you mean '\($0)'? " } ?? "")declare it in storage.sharedPools or storage.localPools)")
                }
                if let bus = d.bus, !diskBuses.contains(bus) {
                    error(p + ["bus"], "unknown disk bus \(quotedForMessage(bus)) (expected one of: virtio, sata, scsi, ide, usb)")
                }
            case .nic(let n):
                if n.network == nil && n.bridge == nil {
                    error(p, "a nic needs a network or a bridge")
                } else if n.network != nil && n.bridge != nil {
                    error(p + ["bridge"], "a nic has a network or a bridge, not both")
                }
                if let network = n.network { check(network, .object, what: "network name", p + ["network"]) }
                if let bridge = n.bridge { check(bridge, .bridge, what: "bridge name", p + ["bridge"]) }
                if let model = n.model { check(model, .name, what: "NIC model", p + ["model"]) }
                if let mac = n.mac, let problem = macProblem(mac) { error(p + ["mac"], problem) }
            case .none:
                break
            }
        }
    }

    /// Whether a device certainly passes `checkDevices` (false is a "maybe"): the cheap test
    /// the common, valid device takes.
    func isPlainlyFine(_ key: String, _ device: DeviceSpec) -> Bool {
        guard isValidName(key) else { return false }
        switch device {
        case .disk(let d):
            return NameKind.object.allows(d.volume) && poolSet.contains(d.pool)
                && (d.bus.map { diskBuses.contains($0) } ?? true)
        case .nic(let n):
            return (n.network == nil) != (n.bridge == nil) && (n.mac.map { macProblem($0) == nil } ?? true)
                && (n.network.map { NameKind.object.allows($0) } ?? true)
                && (n.bridge.map { NameKind.bridge.allows($0) } ?? true)
                && (n.model.map { isValidName($0) } ?? true)
        case .none:
            return true
        }
    }

    mutating func checkInstances() {
        let faultDomains = Set(spec.hosts.values.compactMap(\.faultDomain))
        let spec = self.spec
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
            check(name, .name, what: "domain name", ["instances", name], atKey: true)

            if inst.host != nil && inst.faultDomain != nil {
                error(["instances", name, "faultDomain"], "an instance has a host or a faultDomain, not both")
            }
            if let host = inst.host {
                if let h = spec.hosts[host] {
                    if h.state == .drained {
                        warning(["instances", name, "host"], "host '\(host)' is drained: the instance is placed elsewhere until the host is active again")
                    } else if h.maintenance != nil {
                        warning(["instances", name, "host"], "host '\(host)' is under maintenance: the instance is placed elsewhere until the maintenance entry is removed")
                    }
                } else if !declared.hosts.contains(host) {
                    let hint = hint(host, .host)
                    error(["instances", name, "host"], "unknown host \(quotedForMessage(host))" + hint)
                }
            }
            if let fd = inst.faultDomain, !faultDomains.contains(fd), !declared.faultDomains.contains(fd) {
                let hint = hint(fd, .faultDomain)
                error(["instances", name, "faultDomain"], "unknown fault domain \(quotedForMessage(fd)) (no host is in it)" + hint)
            }
            if let group = inst.spread {
                check(group, .name, what: "spread group", ["instances", name, "spread"])
                spreadGroups[group, default: []].append(name)
            }

            for (i, profile) in inst.profiles.enumerated() where spec.profiles[profile] == nil && !declared.profiles.contains(profile) {
                let hint = hint(profile, .profile)
                error(["instances", name, "profiles", "[\(i)]"], "unknown profile \(quotedForMessage(profile))" + hint)
            }
            duplicates(inst.profiles, ["instances", name, "profiles"], what: "profile")
            if let moves = inst.moves { duplicates(moves.map(\.rawValue), ["instances", name, "moves"], what: "move kind") }
            checkConfig(inst.config, ["instances", name, "config"])
            checkDevices(inst.devices, ["instances", name, "devices"])
            if let live = inst.live {
                checkLive(live, ["instances", name, "live"])
                if let transport = live.transport {
                    checkTransport(transport, effective: transport.applied(to: spec.policy.live.transport), ["instances", name, "live", "transport"])
                }
            }

            // What the merged instance means (`spec.desired`): one boot disk,
            // no device twice, no MAC or volume shared with another instance.
            if profileMerge?.names != inst.profiles { profileMerge = spec.mergeProfiles(inst.profiles) }
            // Not positive vCPUs or memory are reported elsewhere.
            guard let desired = spec.desired(name, profiles: profileMerge),
                  (desired.config.vcpus ?? 1) > 0, (desired.config.memoryMiB ?? 1) > 0 else { continue }
            let devices = desired.devices.sorted { $0.key < $1.key }.map { (key: $0.key, device: $0.value) }
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
                        error(Self.devicePath(spec, name, key, inst) + ["volume"], "volume '\(d.pool)/\(d.volume)' is also used by \(other)")
                    } else {
                        volumeOwners[id] = DeviceOwner(instance: name, key: key)
                    }
                case .nic(let n):
                    if let mac = n.mac, macProblem(mac) == nil {
                        if let other = macOwners[mac] {
                            error(Self.devicePath(spec, name, key, inst) + ["mac"], "MAC \(mac) is also used by \(other)")
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

    /// Where an instance's device is stated: its own `devices` when it names the key, else the
    /// instance (the device came from a profile).
    static func devicePath(_ spec: PlacementSpec, _ name: String, _ key: String, _ inst: InstanceSpec) -> [String] {
        if inst.devices[key] != nil { return ["instances", name, "devices", key] }
        for p in inst.profiles.reversed() where spec.profiles[p]?.devices[key] != nil {
            return ["profiles", p, "devices", key]
        }
        return ["instances", name]
    }

    // MARK: small checks

    mutating func duplicates(_ items: [String], _ path: @autoclosure () -> [String], what: String) {
        if items.count < 2 { return }
        if items.count <= 16 {
            // A few items: comparing each with those before it is cheaper than a set.
            for i in 1..<items.count where items[..<i].contains(items[i]) {
                error(path() + ["[\(i)]"], "\(what) \(quotedForMessage(items[i])) listed twice")
            }
            return
        }
        var seen = Set<String>()
        for (i, item) in items.enumerated() where !seen.insert(item).inserted {
            error(path() + ["[\(i)]"], "\(what) \(quotedForMessage(item)) listed twice")
        }
    }
}

/// What a list of profiles gives an instance: the last vCPUs and memory they state, and their
/// devices merged by key.
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
