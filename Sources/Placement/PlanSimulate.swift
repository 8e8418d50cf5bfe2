/// An in-memory executor: what the fleet would look like after a plan's steps ran, as far as
/// libvirt would report it. Used by tests (a plan applied and planned again is empty) and by
/// `apply --dry-run` style previews; it is a model of the steps' effects, not of libvirt.

/// The fleet after every scheduled action of `plan` (blocked and deferred ones are skipped),
/// wave by wave, step by step. Steps whose domain or host is missing are skipped, as an
/// idempotent executor would find their postcondition unreachable.
public func simulate(_ plan: Plan, on observed: ObservedFleet) -> ObservedFleet {
    var sim = Simulation(observed)
    for action in plan.actions where action.isScheduled {
        var recorded: ObservedDomain?
        for step in action.steps {
            sim.apply(step, instance: action.instance, recorded: &recorded)
        }
    }
    return sim.fleet
}

private struct Simulation {
    var fleet: ObservedFleet
    var hostIndex: [String: Int] = [:]

    init(_ fleet: ObservedFleet) {
        self.fleet = fleet
        for (i, h) in fleet.hosts.enumerated() where hostIndex[h.name] == nil { hostIndex[h.name] = i }
    }

    func domainIndex(_ name: String, on h: Int) -> Int? {
        fleet.hosts[h].domains.firstIndex { $0.name == name }
    }

    /// Runs `body` on the named domain on `host`, when both exist.
    mutating func withDomain(_ name: String, on host: String, _ body: (inout ObservedDomain) -> Void) {
        guard let h = hostIndex[host], let d = domainIndex(name, on: h) else { return }
        body(&fleet.hosts[h].domains[d])
    }

    mutating func put(_ domain: ObservedDomain, on host: String) {
        guard let h = hostIndex[host] else { return }
        if let d = domainIndex(domain.name, on: h) {
            fleet.hosts[h].domains[d] = domain
        } else {
            fleet.hosts[h].domains.append(domain)
        }
    }

    mutating func remove(_ name: String, from host: String) {
        guard let h = hostIndex[host] else { return }
        fleet.hosts[h].domains.removeAll { $0.name == name }
    }

    mutating func addVolume(pool: String, volume: String, on host: String, like template: ObservedVolume?) {
        guard let h = hostIndex[host], let p = fleet.hosts[h].pools.firstIndex(where: { $0.name == pool }) else { return }
        guard !fleet.hosts[h].pools[p].volumes.contains(where: { $0.name == volume }) else { return }
        let base = fleet.hosts[h].pools[p].path
        fleet.hosts[h].pools[p].volumes.append(ObservedVolume(
            name: volume, path: base.map { "\($0)/\(volume)" },
            capacityBytes: template?.capacityBytes ?? 0, allocationBytes: template?.allocationBytes ?? 0))
        fleet.hosts[h].pools[p].volumes.sort { $0.name < $1.name }
    }

    func volume(pool: String, volume: String, on host: String) -> ObservedVolume? {
        guard let h = hostIndex[host] else { return nil }
        return fleet.hosts[h].pools.first { $0.name == pool }?.volumes.first { $0.name == volume }
    }

    mutating func apply(_ step: Step, instance name: String, recorded: inout ObservedDomain?) {
        switch step {
        case .record(let host):
            guard let h = hostIndex[host], let d = domainIndex(name, on: h) else { return }
            recorded = fleet.hosts[h].domains[d]
        case .backupVolume(let host, let pool, let vol, let backup):
            addVolume(pool: pool, volume: backup, on: host, like: volume(pool: pool, volume: vol, on: host))
        case .shutdown(let host, _, _):
            withDomain(name, on: host) { $0.stop() }
        case .migrateLive(let m):
            guard let h = hostIndex[m.from], let d = domainIndex(name, on: h) else { return }
            var domain = fleet.hosts[h].domains[d]
            for disk in domain.disks where m.copyDisks.contains(disk.target) {
                if let pool = disk.pool, let vol = disk.volume {
                    addVolume(pool: pool, volume: vol, on: m.to, like: volume(pool: pool, volume: vol, on: m.from))
                }
            }
            remove(name, from: m.from)
            domain.autostart = false
            put(domain, on: m.to)
        case .transferVolume(let pool, let vol, let from, let to):
            addVolume(pool: pool, volume: vol, on: to, like: volume(pool: pool, volume: vol, on: from))
        case .defineOnTarget(let host, let from):
            guard var domain = recorded ?? hostIndex[from].flatMap({ h in domainIndex(name, on: h).map { fleet.hosts[h].domains[$0] } }) else { return }
            domain.stop()
            domain.autostart = false
            put(domain, on: host)
        case .recreate(let host, _, let bootPool, let bootVolume):
            guard let base = recorded else { return }
            let boot = base.disks.first { $0.pool == bootPool && $0.volume == bootVolume }
                ?? ObservedDisk(target: "vda", sourceType: "volume", pool: bootPool, volume: bootVolume)
            var domain = ObservedDomain(
                name: base.name, uuid: base.uuid, state: "shutoff", persistent: true, autostart: false,
                vcpus: base.configuredVcpus, maxVcpus: max(base.maxVcpus, base.configuredVcpus),
                memoryMiB: base.configuredMemoryMiB, maxMemoryMiB: max(base.maxMemoryMiB, base.configuredMemoryMiB),
                cpuMode: base.cpuMode, cpuModel: base.cpuModel, disks: [boot], firmware: base.firmware,
                xmlDigest: base.xmlDigest)
            domain.snapshotCount = 0
            put(domain, on: host)
        case .undefineSource(let host):
            remove(name, from: host)
        case .start(let host):
            withDomain(name, on: host) { $0.startFromDefinition() }
        case .setVcpus(let host, let count, let applies):
            withDomain(name, on: host) { d in
                if d.isRunning && applies == .restart {
                    d.configVcpus = count == d.vcpus ? nil : count
                } else {
                    d.vcpus = count
                    d.configVcpus = nil
                    d.maxVcpus = max(d.maxVcpus, count)
                }
            }
        case .setMemory(let host, let mib, let applies):
            withDomain(name, on: host) { d in
                if d.isRunning && applies == .restart {
                    d.configMemoryMiB = mib == d.memoryMiB ? nil : mib
                } else {
                    d.memoryMiB = mib
                    d.configMemoryMiB = nil
                    d.maxMemoryMiB = max(d.maxMemoryMiB, mib)
                }
            }
        case .setAutostart(let host, let enabled):
            withDomain(name, on: host) { $0.autostart = enabled }
        case .setMetadata(let host, let fleetName, let tags):
            withDomain(name, on: host) { d in
                d.fleet = fleetName
                d.tags = tags
            }
        case .attachDisk(let host, let disk, _):
            withDomain(name, on: host) { d in
                let used = Set(d.disks.map(\.target))
                let target = disk.target ?? (0..<26).lazy.map { "vd\(Character(UnicodeScalar(UInt8(97 + $0))))" }.first { !used.contains($0) } ?? "vdz"
                d.disks.append(ObservedDisk(target: target, bus: disk.bus, sourceType: "volume",
                                            pool: disk.pool, volume: disk.volume, readOnly: disk.readOnly))
            }
        case .attachNIC(let host, let nic, _):
            withDomain(name, on: host) { d in
                let mac = nic.mac ?? "52:54:00:00:\(hex2(d.nics.count / 256)):\(hex2(d.nics.count % 256))"
                d.nics.append(ObservedNIC(type: nic.network != nil ? "network" : "bridge", mac: mac,
                                          network: nic.network, bridge: nic.bridge, model: nic.model))
            }
        }
    }
}

private extension ObservedDomain {
    /// Shut off: what runs next is the persistent definition.
    mutating func stop() {
        state = "shutoff"
        applyDefinition()
    }

    mutating func startFromDefinition() {
        applyDefinition()
        state = "running"
    }

    mutating func applyDefinition() {
        vcpus = configuredVcpus
        memoryMiB = configuredMemoryMiB
        maxVcpus = max(maxVcpus, vcpus)
        maxMemoryMiB = max(maxMemoryMiB, memoryMiB)
        configVcpus = nil
        configMemoryMiB = nil
    }
}

/// Two lower-case hex digits.
private func hex2(_ n: Int) -> String {
    let s = String(n & 0xff, radix: 16)
    return s.count == 1 ? "0" + s : s
}
