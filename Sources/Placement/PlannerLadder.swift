/// Move eligibility: the ladder live → reboot → manual for running domains, cold → manual for
/// shut-off ones, limited by the moves the instance allows. Every refused check becomes a
/// reason, kept even when a lower rung is chosen.

/// A volume that lives on one host's pool and must be copied when the instance moves.
struct LocalVolume: Sendable {
    let pool: String
    let volume: String
    /// Guest target (`vdb`).
    let target: String
    /// Bytes it takes in its pool on the source (allocation), when the source lists it.
    var allocation: Int64? = nil
}

/// A volume on a pool the file declares shared, as the source sees it.
struct SharedVolume: Sendable {
    let pool: String
    let volume: String
    let target: String
}

/// Space a copy needs in a target pool.
struct PoolNeed: Sendable {
    let pool: String
    /// Bytes the copies take plus the margin (`copySpaceNeeded`); nil when the source does not
    /// list the size of every volume (a snapshot without volume lists): not checked.
    let bytes: Int64?
    /// The volumes copied into it, for messages.
    let volumes: [String]
}

/// The margin a copy needs: the copied volumes' allocated bytes plus 5 %, plus 64 MiB the pool
/// keeps free (file-system metadata, qcow2 tables growing during a live copy). Saturating:
/// sizes come from snapshots and libvirt.
func copySpaceNeeded(_ allocations: [Int64]) -> Int64 {
    var total: Int64 = copySpaceReserve
    for a in allocations {
        let bytes = max(a, 0)
        total = saturatingAdd(total, saturatingAdd(bytes, bytes / 20))
    }
    return total
}

/// What every target pool keeps free beyond the copies: 64 MiB.
let copySpaceReserve: Int64 = 64 << 20

/// `1234567890` → `1177.4 MiB`.
func mebibytesText(_ bytes: Int64) -> String {
    let mib = Double(bytes) / 1_048_576
    return mib >= 10 ? "\(Int(mib.rounded())) MiB" : String(format: "%.1f MiB", mib)
}

/// What a moving instance needs from a target, and what its own side refuses, per rung.
struct MoveProfile: Sendable {
    let name: String
    /// The domain runs and stays running: the running ladder. Otherwise the shut-off ladder.
    let runningLadder: Bool
    /// Running now, but the file wants it stopped: shut it down first, then move it cold.
    let stopFirst: Bool
    let allowed: Set<MoveKind>
    let hostPassthrough: Bool
    /// Refusals that do not depend on the target, per rung.
    let sourceRefusals: [MoveKind: [Reason]]
    /// Pools the target must have active, with what needs them (sorted by pool).
    let pools: [(pool: String, user: String)]
    /// Non-shared volumes that are copied.
    let localVolumes: [LocalVolume]
    /// Space the copies need per target pool (sorted by pool).
    let poolNeeds: [PoolNeed]
    /// Volumes on declared-shared pools that the source lists: every target must list them too.
    let sharedVolumes: [SharedVolume]
    /// The source host's name, for messages.
    let sourceName: String
    /// The declared-shared pools its disks use (sorted): a live move may pass UNSAFE for them.
    let sharedPools: [String]
    /// Declared disks attached after the move: their volume must be on the target.
    let attachVolumes: [(pool: String, volume: String, key: String)]
    let networks: [(network: String, user: String)]
    let bridges: [(bridge: String, user: String)]
    /// The boot disk, for a manual move, and which rule chose it (a note on a manual move).
    let boot: ObservedDisk?
    let bootWhy: String?
    /// `ObservedDomain.platformKey` and its description: what every target must offer.
    let platform: String?
    let platformText: String
    /// What it reserves now (released at the source) and after the move (taken at the target).
    let footprintNow: Resources
    let footprintTarget: Resources
    /// How a live move's stream travels: what both hosts must offer.
    var transport: TransportSpec = .init()

    /// Which disk a manual move re-creates the instance from, and why: a note on manual moves.
    func bootNote(_ kind: MoveKind) -> [Reason] {
        guard kind == .manual, let bootWhy else { return [] }
        return [Reason(.manualBootDisk, bootWhy)]
    }

    /// The rungs to try, in order.
    var rungs: [MoveKind] { runningLadder ? [.live, .reboot, .manual] : [.cold, .manual] }

    /// The least disruptive allowed rung on `target`, with the refusals of every rung above it
    /// (all refusals when none works).
    func evaluate(from source: HostInfo, to target: HostInfo) -> (kind: MoveKind?, refusals: [Reason]) {
        var refusals: [Reason] = []
        for rung in rungs {
            var r: [Reason] = []
            if !allowed.contains(rung) { r.append(notAllowed(rung)) }
            r += sourceRefusals[rung] ?? []
            if rung == .live, hostPassthrough, let a = source.cpuModel, let b = target.cpuModel, a != b {
                r.append(Reason(.liveCPUPassthrough,
                                "not live-migratable: CPU mode host-passthrough, and \(source.name) (\(a)) differs from \(target.name) (\(b))"))
            }
            if rung == .live, !transport.isPlain { r += transportRefusals(transport, from: source, to: target) }
            if r.isEmpty { return (rung, unique(refusals)) }
            refusals += r
        }
        return (nil, unique(refusals))
    }

    /// The rung a failed live migration falls back to: the next one below `chosen` that the
    /// instance allows and that its own side does not refuse (the target's checks do not depend
    /// on the rung). With `afterReboot` (a maintenance move), a failed reboot move falls back
    /// to `manual` the same way. nil for every other kind, and when no rung below is usable.
    func fallbackRung(after chosen: MoveKind, afterReboot: Bool = false) -> MoveKind? {
        guard chosen == .live || (afterReboot && chosen == .reboot), let index = rungs.firstIndex(of: chosen) else { return nil }
        return rungs[(index + 1)...].first { allowed.contains($0) && (sourceRefusals[$0] ?? []).isEmpty }
    }

    private func notAllowed(_ rung: MoveKind) -> Reason {
        let list = allowed.sorted().map(\.rawValue).joined(separator: ", ")
        let allowedText = list.isEmpty ? "none" : list
        switch rung {
        case .live: return Reason(.liveNotAllowed, "live moves not allowed (moves: \(allowedText))")
        case .reboot: return Reason(.rebootNotAllowed, "reboot moves not allowed (moves: \(allowedText))")
        case .cold: return Reason(.coldNotAllowed, "cold moves not allowed (moves: \(allowedText))")
        case .manual: return Reason(.manualNotAllowed, "manual moves not allowed: list `manual` in the instance's or the policy's moves")
        }
    }

    /// When the copies into one pool of `host` do not fit: the pool's free space (a leftover
    /// this move reuses counts as free) and what other moves of the plan copy into it. nil
    /// when they fit, or when the sizes are not known.
    func shortfall(_ need: PoolNeed, on host: HostInfo, charged: [String: Int64]) -> (free: Int64, other: Int64)? {
        guard let bytes = need.bytes, let pool = host.pools[need.pool], let available = pool.availableBytes else { return nil }
        let other = max(charged[need.pool] ?? 0, 0)
        var reusable: Int64 = 0
        for v in localVolumes where v.pool == need.pool && pool.leftovers.contains(v.volume) {
            reusable = saturatingAdd(reusable, pool.allocation[v.volume] ?? 0)
        }
        let free = saturatingAdd(available, reusable)
        // `>=`: a need that saturated at the bound never fits, whatever a pool claims.
        return saturatingAdd(bytes, other) >= free ? (free, other) : nil
    }

    /// libvirt's refusal of the guest's platform on `host`, as observation recorded it (no
    /// check recorded, e.g. an older snapshot: nothing refused here; libvirt still checks when
    /// the migration or the start happens).
    func platformRefusal(_ host: HostInfo) -> Reason? {
        guard let platform, let check = host.platformChecks[platform], let code = check.reason else { return nil }
        let detail = check.detail.map { ": \($0)" } ?? ""
        if code == ReasonCode.machineUnsupported.rawValue {
            return Reason(.machineUnsupported, "\(host.name) cannot run the guest's \(platformText)\(detail)")
        }
        return Reason(.cpuIncompatible, "\(host.name) cannot offer the guest's \(platformText)\(detail)")
    }

    /// Why `host` cannot hold the instance at all (memory and vCPUs aside): its state, pools,
    /// volumes, free space, networks. `charged`: bytes other moves of the plan already copy into
    /// each of its pools.
    func targetProblems(_ host: HostInfo, charged: [String: Int64] = [:]) -> [Reason] {
        var r: [Reason] = []
        if !host.declared {
            r.append(Reason(.targetUnknown, "\(host.name) is not a host of the file"))
            return r
        }
        if !host.reachable {
            r.append(Reason(.targetUnreachable, "\(host.name) is unreachable: \(host.problem ?? "did not answer")"))
            return r
        }
        switch host.state {
        case .active: break
        case .cordoned: r.append(Reason(.targetCordoned, "\(host.name) is cordoned: it takes nothing new"))
        case .drained: r.append(Reason(.targetDrained, "\(host.name) is drained"))
        }
        if let refusal = platformRefusal(host) { r.append(refusal) }
        if host.maintenance != nil {
            r.append(Reason(.targetMaintenance, "\(host.name) is under maintenance: it takes nothing new"))
        }
        for (pool, user) in pools where host.pools[pool] == nil {
            r.append(Reason(.targetPool, "\(host.name) has no active pool \(pool) (\(user))"))
        }
        for v in localVolumes {
            if let pool = host.pools[v.pool], pool.volumes.contains(v.volume), !pool.leftovers.contains(v.volume) {
                r.append(Reason(.targetVolumeExists, "\(host.name) already has a volume \(v.pool)/\(v.volume) that virtplace did not create; it would be overwritten"))
            }
        }
        for need in poolNeeds {
            guard let short = shortfall(need, on: host, charged: charged), let bytes = need.bytes else { continue }
            let others = short.other > 0 ? ", and other moves of this plan copy \(mebibytesText(short.other)) into it" : ""
            r.append(Reason(.targetSpace, "\(host.name) has \(mebibytesText(short.free)) free in pool \(need.pool)\(others); copying \(need.volumes.joined(separator: ", ")) needs \(mebibytesText(bytes)) (allocated bytes + 5 %, + 64 MiB kept free)"))
        }
        for v in sharedVolumes {
            if let pool = host.pools[v.pool], !pool.volumes.contains(v.volume) {
                r.append(Reason(.targetSharedVolumeMissing, "pool \(v.pool) is listed as shared, but \(host.name) does not have \(v.volume) that \(sourceName) has (disk \(v.target)): not the same storage on every host"))
            }
        }
        for v in attachVolumes {
            if let pool = host.pools[v.pool], !pool.volumes.contains(v.volume) {
                r.append(Reason(.targetVolumeMissing, "\(host.name) has no volume \(v.pool)/\(v.volume) (disk \(v.key))"))
            }
        }
        for (net, user) in networks where !host.networks.contains(net) {
            r.append(Reason(.targetNetwork, "\(host.name) has no active network \(net) (\(user))"))
        }
        for (br, user) in bridges where !host.bridges.contains(br) {
            r.append(Reason(.targetBridge, "\(host.name) has no bridge \(br) (\(user))"))
        }
        return r
    }
}

/// Builds the profile of a domain that is to move.
func makeMoveProfile(_ desired: DesiredInstance, _ domain: ObservedDomain, drift: Drift, fleet: FleetIndex,
                     source: HostInfo) -> MoveProfile {
    let stopFirst = domain.isRunning && desired.state == .stopped
    let runningLadder = domain.isRunning && !stopFirst
    var live: [Reason] = []
    var migrate: [Reason] = []
    var all: [Reason] = []
    var manual: [Reason] = []

    let blockingHostdevs = domain.hostdevs.filter { $0.type.lowercased() != "usb" }
    if !blockingHostdevs.isEmpty {
        let list = blockingHostdevs.map { "\(hostdevName($0.type)) hostdev \($0.address)" }.joined(separator: ", ")
        live.append(Reason(.liveHostdev, "not live-migratable: \(list)"))
    }
    let passNICs = domain.nics.filter { ["hostdev", "vdpa"].contains($0.type.lowercased()) }
    if !passNICs.isEmpty {
        let list = passNICs.map { "\($0.type) interface \($0.mac ?? "without MAC")" }.joined(separator: ", ")
        live.append(Reason(.liveHostdevNIC, "not live-migratable: \(list)"))
    }
    let transientDisks = domain.disks.filter(\.transient)
    if !transientDisks.isEmpty {
        live.append(Reason(.liveTransientDisk, "not live-migratable: transient disk \(transientDisks.map(\.target).joined(separator: ", "))"))
    }
    // An emulated TPM's state travels in the migration stream (libvirt 9.0, swtpm); any
    // other TPM, or one an old snapshot does not describe, is not migrated live.
    if domain.hasTPM && domain.tpmBackend != "emulator" {
        live.append(Reason(.liveTPM, "not live-migratable: has a TPM\(domain.tpmBackend.map { " (\($0) backend)" } ?? "") whose state a migration does not carry"))
    }
    if domain.snapshotCount > 0 {
        let n = domain.snapshotCount
        migrate.append(Reason(.migrateSnapshots, "has \(n) snapshot\(n == 1 ? "" : "s"): libvirt refuses to migrate it, offline too"))
    }
    if !domain.persistent {
        migrate.append(Reason(.migrateTransient, "transient domain: it has no definition to move; define it persistently"))
    }

    var pools: [String: String] = [:]
    var locals: [LocalVolume] = []
    var sharedVolumes: [SharedVolume] = []
    var shared = Set<String>()
    for disk in domain.storageDisks {
        if disk.sourceType == "network" { continue }
        guard let pool = disk.pool, let volume = disk.volume else {
            all.append(Reason(.moveDiskUnknown, "disk \(disk.target) (\(disk.path ?? disk.sourceType)) is in no storage pool: nothing can bring it to another host"))
            continue
        }
        if pools[pool] == nil { pools[pool] = "disk \(disk.target)" }
        let sourcePool = source.pools[pool]
        if fleet.sharedPools.contains(pool) {
            shared.insert(pool)
            // Only what the source lists can be compared (old snapshots list no volumes).
            if sourcePool?.volumes.contains(volume) == true {
                sharedVolumes.append(SharedVolume(pool: pool, volume: volume, target: disk.target))
            }
        } else {
            locals.append(LocalVolume(pool: pool, volume: volume, target: disk.target, allocation: sourcePool?.allocation[volume]))
        }
    }
    var needs: [PoolNeed] = []
    for pool in Set(locals.map(\.pool)).sorted() {
        let copied = locals.filter { $0.pool == pool }
        let sizes = copied.compactMap(\.allocation)
        needs.append(PoolNeed(pool: pool, bytes: sizes.count == copied.count ? copySpaceNeeded(sizes) : nil,
                              volumes: copied.map(\.volume)))
    }
    if desired.live.copyStorage == .never, !locals.isEmpty {
        let list = locals.map { "\($0.target) (\($0.pool)/\($0.volume))" }.joined(separator: ", ")
        live.append(Reason(.liveStorage, "not live-migratable: disk \(list) not on shared storage, and copyStorage is never"))
    }
    // A qcow2 overlay's bytes name its backing file by path: a copy works only when every
    // host sees that file (a volume of a declared-shared pool). Otherwise the copying rungs
    // are refused before anything changes; a live move's storage copy flattens the chain.
    var copies: [Reason] = []
    for v in locals {
        guard let backing = source.pools[v.pool]?.backing[v.volume] else { continue }
        let sharedBase = fleet.sharedPools.contains { source.pools[$0]?.paths.contains(backing) == true }
        if !sharedBase {
            copies.append(Reason(.moveBackingChain, "disk \(v.target) (\(v.pool)/\(v.volume)) is a qcow2 overlay of \(backing), which is not on a shared pool: a copy would refer to a file the target lacks; put the backing file on a shared pool or flatten the disk (qemu-img convert)"))
        }
    }
    // State outside the volumes: a live migration carries it in its stream (QEMU writes the
    // flash contents into the target's NVRAM file; swtpm's state travels with the TPM); a
    // definition defined elsewhere does not, and the target would make fresh ones. Nothing is
    // lost on the source (undefine keeps both), but the guest would run without its state.
    var state: [Reason] = []
    var recreated: [Reason] = []
    if domain.firmware == "efi" || domain.nvram != nil {
        let path = domain.nvram ?? "its NVRAM"
        let sharedNVRAM = domain.nvram.map { nvram in
            fleet.sharedPools.contains { source.pools[$0]?.paths.contains(nvram) == true }
        } ?? false
        if !sharedNVRAM {
            state.append(Reason(.moveNVRAM, "its NVRAM (\(path)) is a file on \(source.name) that only a live move carries: the target would boot on a fresh copy of the firmware's template; move it live, or put the NVRAM file on a shared pool"))
        }
        // A manual move's new definition has a new NVRAM path, shared or not.
        recreated.append(Reason(.moveNVRAM, "a manual move makes a new NVRAM (\(path) is not carried): move it live, or cold with the NVRAM file on a shared pool"))
    }
    if domain.hasTPM && domain.tpmBackend != "passthrough" {
        state.append(Reason(.moveTPMState, "its TPM's state is on \(source.name), and only a live move carries it: the target would start with a new, empty TPM"))
    }
    var attach: [(pool: String, volume: String, key: String)] = []
    var networks: [String: String] = [:]
    var bridges: [String: String] = [:]
    for nic in domain.nics {
        let user = "NIC \(nic.mac ?? nic.type)"
        switch nic.type {
        case "network": if let n = nic.network, networks[n] == nil { networks[n] = user }
        case "bridge": if let b = nic.bridge, bridges[b] == nil { bridges[b] = user }
        default: break
        }
    }
    for item in drift.items {
        switch item {
        case .disk(let key, let d):
            if pools[d.pool] == nil { pools[d.pool] = "disk \(key)" }
            attach.append((d.pool, d.volume, key))
        case .nic(let key, let n):
            if let net = n.network { if networks[net] == nil { networks[net] = "NIC \(key)" } }
            else if let br = n.bridge, bridges[br] == nil { bridges[br] = "NIC \(key)" }
        default:
            break
        }
    }

    let odd = domain.nics.filter { $0.type != "network" && $0.type != "bridge" }
    if !odd.isEmpty {
        let list = odd.map { "\($0.type) interface \($0.mac ?? "without MAC")" }.joined(separator: ", ")
        manual.append(Reason(.manualNIC, "a manual move re-creates only network and bridge interfaces, not: \(list)"))
    }
    let boot = bootDisk(desired, domain)
    if boot.disk == nil, let why = boot.problem { manual.append(Reason(.manualNoBootVolume, why)) }

    var refusals: [MoveKind: [Reason]] = [:]
    refusals[.live] = live + migrate + all
    refusals[.reboot] = migrate + all + copies + state
    refusals[.cold] = migrate + all + copies + state
    refusals[.manual] = all + manual + copies + (recreated.isEmpty ? state : recreated + state.filter { $0.code != .moveNVRAM })

    let now = domain.footprint
    var target = now
    if let v = desired.config.vcpus { target.vcpus = v }
    if let m = desired.config.memoryMiB { target.memoryMiB = m }
    target = target.clamped
    return MoveProfile(
        name: desired.name, runningLadder: runningLadder, stopFirst: stopFirst, allowed: desired.moves,
        hostPassthrough: domain.cpuMode == "host-passthrough", sourceRefusals: refusals,
        pools: pools.sorted { $0.key < $1.key }.map { ($0.key, $0.value) },
        localVolumes: locals, poolNeeds: needs, sharedVolumes: sharedVolumes, sourceName: source.name,
        sharedPools: shared.sorted(), attachVolumes: attach,
        networks: networks.sorted { $0.key < $1.key }.map { ($0.key, $0.value) },
        bridges: bridges.sorted { $0.key < $1.key }.map { ($0.key, $0.value) },
        boot: boot.disk, bootWhy: boot.why, platform: domain.platformKey, platformText: domain.platformText,
        footprintNow: now, footprintTarget: target, transport: desired.live.transport)
}

/// The disk a manual move recreates the instance from, by libvirt's own rule, and why: the
/// declared `boot: true` disk overrides; else the disk with the lowest per-device boot order;
/// else, when `<os><boot dev=…>` names `hd` before any other device (libvirt's default when
/// nothing is said), the first disk of the definition; else the only disk.
func bootDisk(_ desired: DesiredInstance, _ domain: ObservedDomain) -> (disk: ObservedDisk?, problem: String?, why: String?) {
    func named(_ d: ObservedDisk) -> String { "\(d.target) (\(d.pool ?? "?")/\(d.volume ?? "?"))" }
    if let declared = desired.bootDisk?.disk {
        if let d = domain.disks.first(where: { $0.pool == declared.pool && $0.volume == declared.volume }) {
            return (d, nil, "boot disk \(named(d)): marked `boot: true` in the file")
        }
        return (nil, "boot volume not identifiable: the declared boot disk \(declared.pool)/\(declared.volume) is not attached", nil)
    }
    let disks = domain.disks.filter { $0.device == "disk" }
    let ordered = disks.filter { $0.bootOrder != nil }.sorted { ($0.bootOrder ?? 0, $0.target) < ($1.bootOrder ?? 0, $1.target) }
    func inPool(_ d: ObservedDisk, _ why: String) -> (disk: ObservedDisk?, problem: String?, why: String?) {
        guard d.pool != nil, d.volume != nil else {
            return (nil, "boot volume not identifiable: the boot disk \(d.target) (\(why)) is \(d.path ?? d.sourceType), in no storage pool", nil)
        }
        return (d, nil, "boot disk \(named(d)): \(why)")
    }
    if let first = ordered.first { return inPool(first, "the lowest boot order (\(first.bootOrder ?? 0))") }
    if domain.osBoot.first == "hd", let first = disks.first {
        return inPool(first, "the first disk of the definition, which libvirt boots for <boot dev='hd'/>")
    }
    let candidates = disks.filter { $0.pool != nil && $0.volume != nil }
    if candidates.count == 1 { return (candidates[0], nil, "boot disk \(named(candidates[0])): the only disk in a storage pool") }
    if candidates.isEmpty {
        return (nil, "boot volume not identifiable: no disk is a volume in a storage pool", nil)
    }
    let boot = domain.osBoot.isEmpty ? "no <os><boot>" : "<os><boot dev='\(domain.osBoot[0])'/>"
    return (nil, "boot volume not identifiable: \(candidates.count) disks, none has a boot order and the definition has \(boot); mark one `boot: true` in the file", nil)
}

private func hostdevName(_ type: String) -> String {
    switch type.lowercased() {
    case "pci": "PCI"
    case "scsi": "SCSI"
    case "scsi_host": "SCSI host"
    case "mdev": "mdev"
    default: type
    }
}

/// Drops repeated reasons, keeping the first of each.
func unique(_ reasons: [Reason]) -> [Reason] {
    var seen = Set<Reason>()
    return reasons.filter { seen.insert($0).inserted }
}
