/// Reading an `observe -o json` snapshot (`plan --observed`): in CI it comes with the pull
/// request, so anyone may have written it. Every key, type and value is checked, with
/// file:line:col and a path like `hosts[1].domains[4].memoryMiB`, before anything is planned.
import YAMLDecoding

/// A snapshot as read: the fleet when the file is a sound snapshot, and every problem.
public struct SnapshotFileResult: Sendable {
    /// The observed fleet; nil when any error was found.
    public var fleet: ObservedFleet?
    /// Every problem found, in reading order.
    public var diagnostics: [Diagnostic]
}

/// Reads a snapshot strictly: one JSON document; no unknown key, every required key (the
/// others default as `ObservedFleet`'s decoding says, so that hand-written snapshots stay
/// short); names, UUIDs, states, URIs (under `HostURI`'s allow-list), numbers and collections
/// within `InputBounds`; no host listed twice, no domain name or UUID twice on one host, no
/// pool, volume or network twice. Pure: no file system, no libvirt.
/// - Parameters:
///   - bytes: the file's bytes (the caller bounds the read by `InputBounds.maxFileBytes`).
///   - file: the name diagnostics carry.
///   - allowTestDriver: whether `test://` URIs are allowed (`HostURI.allowsTestDriver`).
public func readSnapshotFile(_ bytes: [UInt8], file: String, allowTestDriver: Bool) -> SnapshotFileResult {
    let read = readSavedDocument(ObservedFleet.self, bytes, file: file,
                                 what: "an observe snapshot (made by 'virtplace observe -o json')") { fleet, findings in
        var checker = SnapshotChecker(findings: findings, allowTestDriver: allowTestDriver)
        checker.check(fleet)
        findings = checker.findings
    }
    return SnapshotFileResult(fleet: read.value, diagnostics: read.diagnostics)
}

extension ObservedDomain {
    /// The state names libvirt reports (`virDomainState`, lower case).
    public static let states = ["nostate", "running", "blocked", "paused", "shutdown", "shutoff", "crashed", "pmsuspended"]
}

/// The semantic checks of a decoded snapshot.
struct SnapshotChecker {
    var findings: InputFindings
    let allowTestDriver: Bool
    var domains = 0
    var volumes = 0

    mutating func check(_ fleet: ObservedFleet) {
        let root = InputPath()
        if fleet.apiVersion != "virtplace/v1" { findings.error(root("apiVersion"), "unsupported apiVersion '\(shown(fleet.apiVersion))' (expected virtplace/v1)") }
        if fleet.kind != "Observed" { findings.error(root("kind"), "unsupported kind '\(shown(fleet.kind))' (expected Observed, as 'virtplace observe -o json' writes)") }
        findings.count(fleet.hosts.count, InputBounds.maxHosts, root("hosts"), "hosts")
        var first: [String: Int] = [:]
        for (i, host) in fleet.hosts.enumerated().prefix(InputBounds.maxHosts) {
            let p = root("hosts")[i]
            if let j = first[host.name] {
                findings.error(p("name"), "host '\(shown(host.name))' is listed twice (also hosts[\(j)])")
            } else {
                first[host.name] = i
            }
            check(host, p)
        }
        if domains > InputBounds.maxDomains {
            findings.error(root("hosts"), "\(domains) domains in all: at most \(InputBounds.maxDomains) allowed")
        }
        if volumes > InputBounds.maxVolumes {
            findings.error(root("hosts"), "\(volumes) volumes in all: at most \(InputBounds.maxVolumes) allowed")
        }
    }

    mutating func check(_ host: ObservedHost, _ p: InputPath) {
        let memory = 0...InputBounds.maxMemoryMiB
        findings.placementName(host.name, p("name"), "host")
        findings.uri(host.uri, p("uri"), allowTestDriver: allowTestDriver, allowEmpty: true)
        findings.text(host.error, p("error"), "the error")
        if let fd = host.faultDomain { findings.placementName(fd, p("faultDomain"), "fault domain") }
        findings.number(host.capacity.vcpus, 0...InputBounds.maxVcpus, p("capacity")("vcpus"))
        findings.number(host.capacity.memoryMiB, memory, p("capacity")("memoryMiB"))
        findings.uuid(host.hostUUID, p("hostUUID"))
        findings.libvirtName(host.cpuModel, p("cpuModel"), "CPU model")
        findings.libvirtName(host.cpuVendor, p("cpuVendor"), "CPU vendor")
        findings.libvirtName(host.offeredCPUModel, p("offeredCPUModel"), "CPU model")
        findings.number(host.freeMemoryMiB, memory, p("freeMemoryMiB"))
        for (key, version) in [("libvirtVersion", host.libvirtVersion), ("hypervisorVersion", host.hypervisorVersion)] {
            if let version, SoftwareVersion(version) == nil {
                findings.error(p(key), "expected a version like 9.0.0, found '\(shown(version))'")
            }
        }
        findings.count(host.platformChecks.count, InputBounds.maxPlatformChecks, p("platformChecks"), "platform checks")
        var platforms = Set<String>()
        for (i, check) in host.platformChecks.enumerated().prefix(InputBounds.maxPlatformChecks) {
            let q = p("platformChecks")[i]
            if !isPlatformKey(check.platform) {
                findings.error(q("platform"), "expected a platform key (16 lower-case hex digits), found '\(shown(check.platform))'")
            } else if !platforms.insert(check.platform).inserted {
                findings.error(q("platform"), "platform \(check.platform) is listed twice")
            }
            if let reason = check.reason, !ObservedPlatformCheck.reasons.contains(reason) {
                findings.error(q("reason"), "unknown reason '\(shown(reason))' (expected \(ObservedPlatformCheck.reasons.joined(separator: " or ")), or none when compatible)")
            }
            findings.text(check.detail, q("detail"), "the detail")
        }

        findings.count(host.pools.count, InputBounds.maxPools, p("pools"), "pools")
        var pools = Set<String>()
        for (i, pool) in host.pools.enumerated().prefix(InputBounds.maxPools) {
            let q = p("pools")[i]
            findings.libvirtName(pool.name, q("name"), "pool name")
            if !pools.insert(pool.name).inserted { findings.error(q("name"), "pool '\(shown(pool.name))' is listed twice") }
            findings.libvirtName(pool.type, q("type"), "pool type")
            findings.filePath(pool.path, q("path"), "the path")
            findings.number(pool.capacityBytes, 0...InputBounds.maxStorageBytes, q("capacityBytes"))
            findings.number(pool.availableBytes, 0...InputBounds.maxStorageBytes, q("availableBytes"))
            volumes += pool.volumes.count
            guard volumes <= InputBounds.maxVolumes else { continue }
            var names = Set<String>()
            for (v, volume) in pool.volumes.enumerated() {
                let r = q("volumes")[v]
                findings.libvirtName(volume.name, r("name"), "volume name")
                if !names.insert(volume.name).inserted { findings.error(r("name"), "volume '\(shown(volume.name))' is listed twice") }
                findings.filePath(volume.path, r("path"), "the path")
                findings.number(volume.capacityBytes, 0...InputBounds.maxStorageBytes, r("capacityBytes"))
                findings.number(volume.allocationBytes, 0...InputBounds.maxStorageBytes, r("allocationBytes"))
                findings.libvirtName(volume.format, r("format"), "format")
                findings.filePath(volume.backingPath, r("backingPath"), "the backing path")
            }
        }

        findings.count(host.networks.count, InputBounds.maxNetworks, p("networks"), "networks")
        var networks = Set<String>()
        for (i, net) in host.networks.enumerated().prefix(InputBounds.maxNetworks) {
            let q = p("networks")[i]
            findings.libvirtName(net.name, q("name"), "network name")
            if !networks.insert(net.name).inserted { findings.error(q("name"), "network '\(shown(net.name))' is listed twice") }
            findings.libvirtName(net.bridge, q("bridge"), "bridge name")
        }

        domains += host.domains.count
        guard domains <= InputBounds.maxDomains else { return }
        var names: [String: Int] = [:]
        var uuids: [String: Int] = [:]
        for (i, domain) in host.domains.enumerated() {
            let q = p("domains")[i]
            if let j = names[domain.name] {
                findings.error(q("name"), "domain '\(shown(domain.name))' is listed twice on this host (also domains[\(j)])")
            } else {
                names[domain.name] = i
            }
            if let j = uuids[domain.uuid.lowercased()] {
                findings.error(q("uuid"), "UUID \(shown(domain.uuid)) is listed twice on this host (also domains[\(j)])")
            } else {
                uuids[domain.uuid.lowercased()] = i
            }
            check(domain, q)
        }
    }

    mutating func check(_ d: ObservedDomain, _ p: InputPath) {
        let vcpus = 0...InputBounds.maxVcpus
        let memory = 0...InputBounds.maxMemoryMiB
        findings.libvirtName(d.name, p("name"), "domain name")
        findings.uuid(d.uuid, p("uuid"))
        if !ObservedDomain.states.contains(d.state) {
            findings.error(p("state"), "unknown state '\(shown(d.state))' (expected one of \(ObservedDomain.states.joined(separator: ", ")))")
        }
        findings.libvirtName(d.stateReason, p("stateReason"), "state reason")
        findings.number(d.vcpus, vcpus, p("vcpus"))
        findings.number(d.maxVcpus, vcpus, p("maxVcpus"))
        findings.number(d.configVcpus, vcpus, p("configVcpus"))
        findings.number(d.memoryMiB, memory, p("memoryMiB"))
        findings.number(d.maxMemoryMiB, memory, p("maxMemoryMiB"))
        findings.number(d.configMemoryMiB, memory, p("configMemoryMiB"))
        findings.number(d.memoryInUseMiB, memory, p("memoryInUseMiB"))
        findings.number(d.memoryResidentMiB, memory, p("memoryResidentMiB"))
        findings.libvirtName(d.cpuMode, p("cpuMode"), "CPU mode")
        findings.libvirtName(d.cpuModel, p("cpuModel"), "CPU model")
        findings.count(d.cpuFeatures.count, InputBounds.maxCPUFeatures, p("cpuFeatures"), "CPU features")
        for (name, policy) in d.cpuFeatures.sorted(by: { $0.key < $1.key }).prefix(InputBounds.maxCPUFeatures) {
            findings.libvirtName(name, p("cpuFeatures")(name), "CPU feature")
            findings.libvirtName(policy, p("cpuFeatures")(name), "CPU feature policy")
        }
        findings.libvirtName(d.virtType, p("virtType"), "virtualization type")
        findings.libvirtName(d.arch, p("arch"), "architecture")
        findings.libvirtName(d.machine, p("machine"), "machine type")
        findings.filePath(d.emulator, p("emulator"), "the emulator path")
        findings.count(d.osBoot.count, InputBounds.maxBootDevices, p("osBoot"), "boot devices")
        for (i, dev) in d.osBoot.enumerated().prefix(InputBounds.maxBootDevices) {
            findings.libvirtName(dev, p("osBoot")[i], "boot device")
        }
        findings.libvirtName(d.firmware, p("firmware"), "firmware")
        findings.libvirtName(d.tpmBackend, p("tpmBackend"), "TPM backend")
        findings.filePath(d.nvram, p("nvram"), "the NVRAM path")
        findings.number(d.snapshotCount, 0...InputBounds.maxSnapshots, p("snapshotCount"))
        if let fleet = d.fleet { findings.placementName(fleet, p("fleet"), "fleet") }
        findings.tags(d.tags, p("tags"))
        findings.digest(d.xmlDigest, p("xmlDigest"), allowEmpty: true)

        findings.count(d.disks.count, InputBounds.maxDevices, p("disks"), "disks")
        for (i, disk) in d.disks.enumerated().prefix(InputBounds.maxDevices) {
            let q = p("disks")[i]
            findings.libvirtName(disk.device, q("device"), "device")
            findings.libvirtName(disk.target, q("target"), "disk target")
            findings.libvirtName(disk.bus, q("bus"), "bus")
            findings.libvirtName(disk.format, q("format"), "format")
            findings.libvirtName(disk.cache, q("cache"), "cache mode")
            findings.libvirtName(disk.sourceType, q("sourceType"), "source type")
            findings.filePath(disk.path, q("path"), "the path")
            findings.libvirtName(disk.pool, q("pool"), "pool name")
            findings.libvirtName(disk.volume, q("volume"), "volume name")
            findings.number(disk.bootOrder, 0...InputBounds.maxBootOrder, q("bootOrder"))
        }
        findings.count(d.nics.count, InputBounds.maxDevices, p("nics"), "NICs")
        for (i, nic) in d.nics.enumerated().prefix(InputBounds.maxDevices) {
            let q = p("nics")[i]
            findings.libvirtName(nic.type, q("type"), "interface type")
            if let mac = nic.mac, !isSixHexPairs(mac) {
                findings.error(q("mac"), "invalid MAC address '\(shown(mac))' (expected six hex pairs like 52:54:00:12:34:56)")
            }
            findings.libvirtName(nic.network, q("network"), "network name")
            findings.libvirtName(nic.bridge, q("bridge"), "bridge name")
            findings.libvirtName(nic.model, q("model"), "model")
            findings.libvirtName(nic.target, q("target"), "target device")
        }
        findings.count(d.hostdevs.count, InputBounds.maxDevices, p("hostdevs"), "host devices")
        for (i, dev) in d.hostdevs.enumerated().prefix(InputBounds.maxDevices) {
            let q = p("hostdevs")[i]
            findings.libvirtName(dev.type, q("type"), "host device type")
            if dev.address.utf8.count > InputBounds.maxNameBytes || dev.address.unicodeScalars.contains(where: isControl) {
                findings.error(q("address"), "invalid address '\(shown(dev.address))'")
            }
        }
    }
}

/// 16 lower-case hex digits: `ObservedDomain.platformKey`.
func isPlatformKey(_ text: String) -> Bool {
    text.utf8.count == 16 && text.utf8.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) }
}

/// Six hex pairs joined by ':' (what libvirt reports for any MAC, multicast ones included).
func isSixHexPairs(_ mac: String) -> Bool {
    let parts = mac.split(separator: ":", omittingEmptySubsequences: false)
    return parts.count == 6 && parts.allSatisfy { $0.utf8.count == 2 && $0.utf8.allSatisfy { b in
        (b >= 0x30 && b <= 0x39) || (b >= 0x61 && b <= 0x66) || (b >= 0x41 && b <= 0x46)
    } }
}
