/// Drift: what the file states about an instance's config, devices and lifecycle that the
/// observed domain does not match. Only what the file states is compared; devices the file does
/// not mention are reported, never removed.

/// One correction.
enum DriftItem: Sendable {
    case vcpus(from: Int, to: Int, maximum: Int)
    case memory(from: Int, to: Int, maximum: Int)
    case autostart(to: Bool)
    /// The virtplace metadata: the fleet mark is missing and/or tags differ.
    case metadata(fleetMissing: Bool, changes: [TagChange])
    case disk(key: String, DiskSpec)
    case nic(key: String, NICSpec)
}

/// One tag the file states that the domain lacks or has with another value.
struct TagChange: Sendable {
    let key: String
    let old: String?
    let new: String
}

/// A lifecycle correction.
enum LifecycleChange: Sendable {
    case start, stop
}

/// Everything that differs, for one instance.
struct Drift: Sendable {
    var items: [DriftItem] = []
    var lifecycle: LifecycleChange?
    /// The desired state names a lifecycle, but the domain is paused, crashed, …
    var lifecycleUnsettled = false
    /// Tags after the correction: the observed ones with the file's over them.
    var tags: [String: String] = [:]
    var notes: [Note] = []

    var isEmpty: Bool { items.isEmpty && lifecycle == nil && !lifecycleUnsettled }
}

/// Compares a declared instance with its observed domain.
func computeDrift(_ desired: DesiredInstance, _ domain: ObservedDomain, fleet: String) -> Drift {
    var drift = Drift()
    let config = desired.config
    if let want = config.vcpus, want != domain.configuredVcpus {
        drift.items.append(.vcpus(from: domain.configuredVcpus, to: want, maximum: domain.maxVcpus))
    }
    if let want = config.memoryMiB, want != domain.configuredMemoryMiB {
        drift.items.append(.memory(from: domain.configuredMemoryMiB, to: want, maximum: domain.maxMemoryMiB))
    }
    let (disks, nics) = missingDevices(desired, domain, notes: &drift.notes)
    drift.items += disks
    drift.items += nics
    if let want = config.autostart, want != domain.autostart {
        drift.items.append(.autostart(to: want))
    }
    var tags = domain.tags
    var changes: [TagChange] = []
    for (key, value) in (config.tags ?? [:]).sorted(by: { $0.key < $1.key }) where tags[key] != value {
        changes.append(TagChange(key: key, old: tags[key], new: value))
        tags[key] = value
    }
    drift.tags = tags
    let fleetMissing = domain.fleet == nil
    if fleetMissing || !changes.isEmpty {
        drift.items.append(.metadata(fleetMissing: fleetMissing, changes: changes))
    }
    switch desired.state {
    case .running?:
        if domain.isShutOff { drift.lifecycle = .start } else if !domain.isRunning { drift.lifecycleUnsettled = true }
    case .stopped?:
        if domain.isRunning { drift.lifecycle = .stop } else if !domain.isShutOff { drift.lifecycleUnsettled = true }
    case nil:
        break
    }
    return drift
}

/// Declared disks (by pool and volume) and NICs (by MAC, else network or bridge) that the
/// domain lacks; notes for observed devices the file does not mention (only for a kind of
/// device the file declares at all, so an instance without `devices:` is not noisy).
private func missingDevices(_ desired: DesiredInstance, _ domain: ObservedDomain,
                            notes: inout [Note]) -> (disks: [DriftItem], nics: [DriftItem]) {
    var wantDisks: [(String, DiskSpec)] = []
    var wantNICs: [(String, NICSpec)] = []
    for key in desired.deviceKeys {
        switch desired.devices[key] {
        case .disk(let d)?: wantDisks.append((key, d))
        case .nic(let n)?: wantNICs.append((key, n))
        case .none?, nil: break
        }
    }
    var disks: [DriftItem] = []
    var claimedDisks = Set<Int>()
    for (key, d) in wantDisks {
        if let i = domain.disks.indices.first(where: { !claimedDisks.contains($0) && domain.disks[$0].pool == d.pool && domain.disks[$0].volume == d.volume }) {
            claimedDisks.insert(i)
        } else {
            disks.append(.disk(key: key, d))
        }
    }
    var nics: [DriftItem] = []
    var claimedNICs = Set<Int>()
    var unmatched: [(String, NICSpec)] = []
    for (key, n) in wantNICs {
        if let mac = n.mac?.lowercased() {
            if let i = domain.nics.indices.first(where: { !claimedNICs.contains($0) && domain.nics[$0].mac?.lowercased() == mac }) {
                claimedNICs.insert(i)
            } else {
                unmatched.append((key, n))
            }
        }
    }
    for (key, n) in wantNICs where n.mac == nil {
        let match = domain.nics.indices.first { i in
            guard !claimedNICs.contains(i) else { return false }
            let o = domain.nics[i]
            if let net = n.network { return o.network == net }
            if let br = n.bridge { return o.bridge == br }
            return true
        }
        if let i = match { claimedNICs.insert(i) } else { unmatched.append((key, n)) }
    }
    for (key, n) in unmatched.sorted(by: { $0.0 < $1.0 }) { nics.append(.nic(key: key, n)) }

    if !wantDisks.isEmpty {
        for (i, d) in domain.disks.enumerated() where d.device == "disk" && !claimedDisks.contains(i) {
            notes.append(Note(instance: desired.name, code: .noteExtraDevice,
                              message: "disk \(d.target) (\(describe(d))) is not in the file; kept"))
        }
    }
    if !wantNICs.isEmpty {
        for (i, n) in domain.nics.enumerated() where !claimedNICs.contains(i) {
            notes.append(Note(instance: desired.name, code: .noteExtraDevice,
                              message: "NIC \(n.mac ?? "without MAC") (\(n.network.map { "network \($0)" } ?? n.bridge.map { "bridge \($0)" } ?? n.type)) is not in the file; kept"))
        }
    }
    return (disks, nics)
}

/// `pool/volume`, else the path, else the source type.
func describe(_ disk: ObservedDisk) -> String {
    if let p = disk.pool, let v = disk.volume { return "\(p)/\(v)" }
    return disk.path ?? disk.sourceType
}

extension DriftItem {
    /// When the change takes effect, given whether the domain runs when it is made.
    func applies(running: Bool) -> Applies {
        guard running else { return .restart }
        switch self {
        case .vcpus(_, let to, let maximum): return to <= maximum ? .live : .restart
        case .memory(_, let to, let maximum): return to <= maximum ? .live : .restart
        case .autostart, .metadata, .disk, .nic: return .live
        }
    }

    /// The reason shown for this correction.
    func reason(running: Bool) -> Reason {
        let a = applies(running: running)
        func when(_ maximum: Int, unit: String) -> String {
            if a == .live { return "live" }
            return running ? "at next restart: above the maximum \(maximum)\(unit)" : "at next start"
        }
        switch self {
        case .vcpus(let from, let to, let maximum):
            return Reason(.driftVcpus, "vCPUs \(from) → \(to) (\(when(maximum, unit: "")))")
        case .memory(let from, let to, let maximum):
            return Reason(.driftMemory, "memory \(from) → \(to) MiB (\(when(maximum, unit: " MiB")))")
        case .autostart(let to):
            return Reason(.driftAutostart, "autostart \(to ? "off → on" : "on → off")")
        case .metadata(let fleetMissing, let changes):
            if !changes.isEmpty {
                let list = changes.map { c in c.old.map { "\(c.key) \($0) → \(c.new)" } ?? "\(c.key)=\(c.new) (new)" }
                return Reason(.driftTags, "tags: \(list.joined(separator: ", "))\(fleetMissing ? "; not yet marked as managed" : "")")
            }
            return Reason(.driftFleet, "not yet marked as managed by this fleet")
        case .disk(let key, let d):
            return Reason(.driftDisk, "disk \(key) (\(d.pool)/\(d.volume)) missing (\(a == .live ? "live" : "at next start"))")
        case .nic(let key, let n):
            let on = n.network.map { "network \($0)" } ?? n.bridge.map { "bridge \($0)" } ?? "any network"
            return Reason(.driftNIC, "NIC \(key) (\(n.mac.map { "\($0) on " } ?? "")\(on)) missing (\(a == .live ? "live" : "at next start"))")
        }
    }

    /// The step that makes the correction on `host`.
    func step(host: String, running: Bool, fleet: String, tags: [String: String]) -> Step {
        let a = applies(running: running)
        switch self {
        case .vcpus(_, let to, _): return .setVcpus(host: host, count: to, applies: a)
        case .memory(_, let to, _): return .setMemory(host: host, memoryMiB: to, applies: a)
        case .autostart(let to): return .setAutostart(host: host, enabled: to)
        case .metadata: return .setMetadata(host: host, fleet: fleet, tags: tags)
        case .disk(let key, let d):
            return .attachDisk(host: host, disk: DiskAttachment(key: key, target: nil, pool: d.pool, volume: d.volume,
                                                                bus: d.bus, readOnly: d.readOnly), applies: a)
        case .nic(let key, let n):
            return .attachNIC(host: host, nic: NICAttachment(key: key, network: n.network, bridge: n.bridge,
                                                             mac: n.mac?.lowercased(), model: n.model), applies: a)
        }
    }
}

extension Drift {
    /// Reasons for every correction, then the lifecycle one.
    func reasons(running: Bool, host: String) -> [Reason] {
        var r = items.map { $0.reason(running: running) }
        switch lifecycle {
        case .start?: r.append(Reason(.driftState, "shut off on \(host), should be running"))
        case .stop?: r.append(Reason(.driftState, "running on \(host), should be stopped"))
        case nil: break
        }
        return r
    }

    /// Steps for the config and device corrections on `host` (not the lifecycle change).
    func configSteps(host: String, running: Bool, fleet: String) -> [Step] {
        items.map { $0.step(host: host, running: running, fleet: fleet, tags: tags) }
    }

    /// The growth (or, negative, the shrink) of what the domain reserves after the change.
    func resourceDelta(from domain: ObservedDomain) -> Resources {
        var target = domain.footprint
        let running = domain.isRunning
        for item in items {
            // A change for the next restart leaves the running value in place until then.
            let pending = item.applies(running: running) == .restart && running
            switch item {
            case .vcpus(_, let to, _): target.vcpus = pending ? max(to, domain.vcpus) : to
            case .memory(_, let to, _): target.memoryMiB = pending ? max(to, domain.memoryMiB) : to
            default: break
            }
        }
        return target.clamped - domain.footprint
    }

    /// Why a correction cannot be made on `host`: a pool, volume or network it lacks.
    func unavailable(on host: HostInfo) -> [Reason] {
        var reasons: [Reason] = []
        for item in items {
            switch item {
            case .disk(let key, let d):
                if let pool = host.pools[d.pool] {
                    if !pool.volumes.contains(d.volume) {
                        reasons.append(Reason(.updateVolumeMissing, "disk \(key): no volume \(d.volume) in pool \(d.pool) on \(host.name)"))
                    }
                } else {
                    reasons.append(Reason(.updatePoolMissing, "disk \(key): no active pool \(d.pool) on \(host.name)"))
                }
            case .nic(let key, let n):
                if let net = n.network, !host.networks.contains(net) {
                    reasons.append(Reason(.updateNetworkMissing, "NIC \(key): no active network \(net) on \(host.name)"))
                } else if n.network == nil, let br = n.bridge, !host.bridges.contains(br) {
                    reasons.append(Reason(.updateNetworkMissing, "NIC \(key): no bridge \(br) on \(host.name)"))
                }
            default:
                break
            }
        }
        return reasons
    }
}
