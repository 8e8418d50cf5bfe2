/// What libvirt reported about a fleet at one moment: plain values, saved and loaded as JSON
/// (`observe -o json`, `plan --observed`). No type here serves the desired state.
import Foundation

/// A whole observed fleet: every host named in the desired state, reachable or not.
public struct ObservedFleet: Codable, Equatable, Sendable {
    public var apiVersion: String = "virtplace/v1"
    public var kind: String = "Observed"
    public var hosts: [ObservedHost]

    public init(hosts: [ObservedHost]) {
        self.hosts = hosts
    }
}

/// One host as observed: its node facts, storage, networks and domains, or why it did not answer.
public struct ObservedHost: Codable, Equatable, Sendable {
    /// The host's key in the desired-state file.
    public var name: String
    /// The connection URI, with any query (which may carry credentials) removed.
    public var uri: String
    public var reachable: Bool
    /// Why the host could not be observed, when `reachable` is false.
    public var error: String?
    public var faultDomain: String?
    /// What the host offers: from the file when it says so, else what libvirt reports.
    public var capacity: ObservedCapacity
    /// libvirt's host UUID (`virConnectGetSysinfo`/capabilities), when known.
    public var hostUUID: String?
    /// The host CPU model from capabilities (e.g. `Skylake-Client-IBRS`), when known.
    public var cpuModel: String?
    /// The CPU vendor from capabilities (`Intel`, `AMD`), when known.
    public var cpuVendor: String?
    /// The CPU the hypervisor offers guests (domain capabilities' `host-model`, e.g. `EPYC`):
    /// what a `host-model` guest gets here; nil when not reported.
    public var offeredCPUModel: String?
    /// Whether this host can run each guest platform (CPU, machine type, emulator) seen in the
    /// fleet, as libvirt answered (sorted by `platform`): what offline plans decide from.
    public var platformChecks: [ObservedPlatformCheck]
    /// Free memory reported by the node, MiB.
    public var freeMemoryMiB: Int?
    /// The daemon's libvirt version (`virConnectGetLibVersion`, `9.0.0`), when known.
    public var libvirtVersion: String?
    /// The hypervisor's version (`virConnectGetVersion`: QEMU's, `7.2.0`), when known.
    public var hypervisorVersion: String?
    public var pools: [ObservedPool]
    public var networks: [ObservedNetwork]
    public var domains: [ObservedDomain]

    public init(
        name: String, uri: String, reachable: Bool, error: String? = nil,
        faultDomain: String? = nil, capacity: ObservedCapacity = .init(vcpus: 0, memoryMiB: 0),
        hostUUID: String? = nil, cpuModel: String? = nil, cpuVendor: String? = nil, offeredCPUModel: String? = nil,
        platformChecks: [ObservedPlatformCheck] = [], freeMemoryMiB: Int? = nil,
        pools: [ObservedPool] = [], networks: [ObservedNetwork] = [], domains: [ObservedDomain] = [],
        libvirtVersion: String? = nil, hypervisorVersion: String? = nil
    ) {
        self.libvirtVersion = libvirtVersion; self.hypervisorVersion = hypervisorVersion
        self.name = name; self.uri = uri; self.reachable = reachable; self.error = error
        self.faultDomain = faultDomain; self.capacity = capacity; self.hostUUID = hostUUID
        self.cpuModel = cpuModel; self.cpuVendor = cpuVendor; self.offeredCPUModel = offeredCPUModel
        self.platformChecks = platformChecks; self.freeMemoryMiB = freeMemoryMiB
        self.pools = pools; self.networks = networks; self.domains = domains
    }
}

/// libvirt's answer to "can this host run that guest platform": domain capabilities for the
/// guest's emulator, architecture, machine type and virtualization type
/// (`virConnectGetDomainCapabilities`), then its CPU definition against what the hypervisor
/// offers (`virConnectCompareHypervisorCPU`).
public struct ObservedPlatformCheck: Codable, Equatable, Sendable {
    /// `ObservedDomain.platformKey` of the guests it answers for.
    public var platform: String
    /// nil: compatible. Else the reason code: `cpu.incompatible` or `machine.unsupported`.
    public var reason: String?
    /// libvirt's words (the missing features, the unsupported machine), when incompatible.
    public var detail: String?
    public init(platform: String, reason: String? = nil, detail: String? = nil) {
        self.platform = platform; self.reason = reason; self.detail = detail
    }

    /// The reason codes a check may carry.
    public static let reasons = ["cpu.incompatible", "machine.unsupported"]
}

/// Host capacity: CPUs and memory.
public struct ObservedCapacity: Codable, Equatable, Sendable {
    public var vcpus: Int
    public var memoryMiB: Int
    public init(vcpus: Int, memoryMiB: Int) { self.vcpus = vcpus; self.memoryMiB = memoryMiB }
}

/// A storage pool on a host.
public struct ObservedPool: Codable, Equatable, Sendable {
    public var name: String
    /// libvirt's pool type (`dir`, `fs`, `netfs`, `logical`, …).
    public var type: String
    /// The target path, for path-based pools.
    public var path: String?
    public var active: Bool
    /// Size of the pool and the space left in it, bytes, when the pool is active.
    public var capacityBytes: Int64?
    public var availableBytes: Int64?
    /// The pool's volumes (sorted by name), when the pool is active.
    public var volumes: [ObservedVolume]
    public init(name: String, type: String, path: String?, active: Bool,
                capacityBytes: Int64? = nil, availableBytes: Int64? = nil, volumes: [ObservedVolume] = []) {
        self.name = name; self.type = type; self.path = path; self.active = active
        self.capacityBytes = capacityBytes; self.availableBytes = availableBytes; self.volumes = volumes
    }
}

/// A storage volume.
public struct ObservedVolume: Codable, Equatable, Sendable {
    public var name: String
    public var path: String?
    public var capacityBytes: Int64
    public var allocationBytes: Int64
    /// The volume's format (`qcow2`, `raw`, …), when the pool reports one.
    public var format: String?
    /// The backing file of a qcow2 overlay (`<backingStore><path>`), when it has one: its
    /// bytes refer to that path, which a copy does not carry.
    public var backingPath: String?
    public init(name: String, path: String?, capacityBytes: Int64, allocationBytes: Int64, format: String? = nil,
                backingPath: String? = nil) {
        self.name = name; self.path = path; self.capacityBytes = capacityBytes; self.allocationBytes = allocationBytes
        self.format = format; self.backingPath = backingPath
    }
}

/// A libvirt network on a host.
public struct ObservedNetwork: Codable, Equatable, Sendable {
    public var name: String
    public var active: Bool
    /// The bridge the network uses, when it has one.
    public var bridge: String?
    public init(name: String, active: Bool, bridge: String? = nil) {
        self.name = name; self.active = active; self.bridge = bridge
    }
}

/// A libvirt domain as observed on one host.
public struct ObservedDomain: Codable, Equatable, Sendable {
    public var name: String
    public var uuid: String
    /// libvirt's state name in lower case: `running`, `paused`, `shutoff`, `crashed`, `blocked`,
    /// `shutdown`, `pmsuspended`, `nostate`.
    public var state: String
    /// libvirt's reason code for the state, as a lower-case name when known (e.g. `migrated`).
    public var stateReason: String?
    public var persistent: Bool
    public var autostart: Bool
    /// vCPUs in use (live for a running or paused domain, else the definition's current count)
    /// and the maximum the definition allows.
    public var vcpus: Int
    public var maxVcpus: Int
    /// Memory in use, MiB (live balloon size for a running or paused domain, else the
    /// definition's current memory), and the definition's maximum.
    public var memoryMiB: Int
    public var maxMemoryMiB: Int
    /// `<cpu mode=…>`: `host-passthrough`, `host-model`, `custom`, or nil when absent.
    public var cpuMode: String?
    public var cpuModel: String?
    /// `<cpu><feature>` of the definition: name → policy (`require`, `disable`, …).
    public var cpuFeatures: [String: String]
    /// `<domain type=…>` (`kvm`, `qemu`), `<os><type arch=… machine=…>` and `<emulator>`:
    /// with the CPU, the platform a target must offer.
    public var virtType: String?
    public var arch: String?
    public var machine: String?
    public var emulator: String?
    /// `<os><boot dev=…>` in order (`hd`, `cdrom`, `network`, `fd`): without per-device boot
    /// orders, libvirt boots the first disk of the definition when `hd` comes first.
    public var osBoot: [String]
    public var disks: [ObservedDisk]
    public var nics: [ObservedNIC]
    public var hostdevs: [ObservedHostdev]
    public var hasTPM: Bool
    /// The TPM's `<backend type=…>`: `emulator` (swtpm, state on the host, carried by a live
    /// migration), `passthrough`, `external`; nil without a TPM or in older snapshots.
    public var tpmBackend: String?
    /// `efi` or `bios` (nil: not stated); the NVRAM path when there is one.
    public var firmware: String?
    public var nvram: String?
    /// A `<filesystem>` with the `virtiofs` driver (blocks migration).
    public var hasVirtiofs: Bool
    /// Snapshots libvirt has metadata for (any blocks migration).
    public var snapshotCount: Int
    /// Fleet name from the virtplace metadata (`urn:virtplace:1`), when managed.
    public var fleet: String?
    /// Tags from the virtplace metadata.
    public var tags: [String: String]
    /// SHA-256 of the (inactive) domain XML, hex: the basis for stale-plan checks.
    public var xmlDigest: String
    /// vCPUs of the persistent (inactive) definition, when they differ from `vcpus` of a running
    /// domain: a change made for the next restart. nil: the same as `vcpus`.
    public var configVcpus: Int?
    /// Memory of the persistent (inactive) definition, MiB, when it differs from `memoryMiB` of
    /// a running domain. nil: the same as `memoryMiB`.
    public var configMemoryMiB: Int?
    /// Memory the running guest uses, MiB: its balloon size less what the guest reports unused
    /// (`balloon.unused` of libvirt's domain statistics; needs the guest's balloon driver).
    /// nil when not reported (shut off, no driver, snapshots written before it existed): a
    /// live move's estimate then starts from `memoryMiB`.
    public var memoryInUseMiB: Int?
    /// The resident set of the running guest's QEMU process, MiB (`balloon.rss` of libvirt's
    /// domain statistics, reported with or without a balloon driver): the guest pages it ever
    /// touched plus QEMU's own memory. nil when not reported (shut off, a driver without it,
    /// snapshots written before it existed): a first live move's estimate then starts from
    /// `memoryInUseMiB` or `memoryMiB` alone.
    public var memoryResidentMiB: Int?

    public init(
        name: String, uuid: String, state: String, stateReason: String? = nil,
        persistent: Bool = true, autostart: Bool = false,
        vcpus: Int, maxVcpus: Int? = nil, memoryMiB: Int, maxMemoryMiB: Int? = nil,
        cpuMode: String? = nil, cpuModel: String? = nil, cpuFeatures: [String: String] = [:],
        virtType: String? = nil, arch: String? = nil, machine: String? = nil, emulator: String? = nil,
        osBoot: [String] = [],
        disks: [ObservedDisk] = [], nics: [ObservedNIC] = [], hostdevs: [ObservedHostdev] = [],
        hasTPM: Bool = false, tpmBackend: String? = nil, firmware: String? = nil, nvram: String? = nil, hasVirtiofs: Bool = false,
        snapshotCount: Int = 0,
        fleet: String? = nil, tags: [String: String] = [:], xmlDigest: String = "",
        configVcpus: Int? = nil, configMemoryMiB: Int? = nil, memoryInUseMiB: Int? = nil,
        memoryResidentMiB: Int? = nil
    ) {
        self.name = name; self.uuid = uuid; self.state = state; self.stateReason = stateReason
        self.persistent = persistent; self.autostart = autostart
        self.vcpus = vcpus; self.maxVcpus = maxVcpus ?? vcpus
        self.memoryMiB = memoryMiB; self.maxMemoryMiB = maxMemoryMiB ?? memoryMiB
        self.cpuMode = cpuMode; self.cpuModel = cpuModel; self.cpuFeatures = cpuFeatures
        self.virtType = virtType; self.arch = arch; self.machine = machine; self.emulator = emulator
        self.osBoot = osBoot
        self.disks = disks; self.nics = nics; self.hostdevs = hostdevs
        self.hasTPM = hasTPM; self.tpmBackend = tpmBackend; self.firmware = firmware; self.nvram = nvram; self.hasVirtiofs = hasVirtiofs
        self.snapshotCount = snapshotCount; self.fleet = fleet; self.tags = tags; self.xmlDigest = xmlDigest
        self.configVcpus = configVcpus; self.configMemoryMiB = configMemoryMiB; self.memoryInUseMiB = memoryInUseMiB
        self.memoryResidentMiB = memoryResidentMiB
    }
}

/// A disk of a domain.
public struct ObservedDisk: Codable, Equatable, Sendable {
    /// `disk`, `cdrom`, `floppy`, `lun`.
    public var device: String
    /// The guest target (`vda`, `sdb`).
    public var target: String
    public var bus: String?
    /// Driver format (`qcow2`, `raw`).
    public var format: String?
    public var cache: String?
    /// libvirt's source type: `file`, `volume`, `block`, `network`.
    public var sourceType: String
    /// The file or device path, when the source has one.
    public var path: String?
    /// The pool and volume the source resolves to, when libvirt can tell.
    public var pool: String?
    public var volume: String?
    public var readOnly: Bool
    public var shareable: Bool
    /// `<transient/>` disks block migration.
    public var transient: Bool
    /// Boot order when the disk has `<boot order=…>`.
    public var bootOrder: Int?

    public init(
        device: String = "disk", target: String, bus: String? = nil, format: String? = nil,
        cache: String? = nil, sourceType: String = "file", path: String? = nil,
        pool: String? = nil, volume: String? = nil, readOnly: Bool = false, shareable: Bool = false,
        transient: Bool = false, bootOrder: Int? = nil
    ) {
        self.device = device; self.target = target; self.bus = bus; self.format = format
        self.cache = cache; self.sourceType = sourceType; self.path = path
        self.pool = pool; self.volume = volume; self.readOnly = readOnly; self.shareable = shareable
        self.transient = transient; self.bootOrder = bootOrder
    }
}

/// A network interface of a domain.
public struct ObservedNIC: Codable, Equatable, Sendable {
    /// libvirt's interface type: `network`, `bridge`, `direct`, `hostdev`, `user`, `vdpa`, …
    public var type: String
    /// MAC address, lower case.
    public var mac: String?
    public var network: String?
    public var bridge: String?
    public var model: String?
    /// The guest-side target device name (`vnet0`) when running.
    public var target: String?

    public init(type: String, mac: String?, network: String? = nil, bridge: String? = nil,
                model: String? = nil, target: String? = nil) {
        self.type = type; self.mac = mac; self.network = network; self.bridge = bridge
        self.model = model; self.target = target
    }
}

/// A host device passed through to a domain.
public struct ObservedHostdev: Codable, Equatable, Sendable {
    /// `pci`, `scsi`, `usb`, `mdev`, `scsi_host`.
    public var type: String
    /// A readable address: `0000:03:00.0` for PCI, a UUID for mdev, `bus:device` for USB.
    public var address: String
    public init(type: String, address: String) { self.type = type; self.address = address }
}

// MARK: - JSON snapshots

extension ObservedFleet {
    /// The snapshot as `observe -o json` writes it (without the final newline): keys sorted,
    /// pretty-printed, `/` unescaped, so that equal fleets give equal bytes; strings by the one
    /// JSON rule (`Escape.appendJSONString`). What JSONEncoder would write, written field by
    /// field (`SnapshotJSONWriter`).
    public func jsonData() -> Data {
        var data = Data()
        for piece in jsonPieces() { data.append(contentsOf: piece) }
        return data
    }

    /// `jsonData()` in pieces of some 64 KiB to write one after another (`observe -o json`:
    /// a snapshot is not copied into one buffer).
    public func jsonPieces(renderedDomains: [String: RenderedDomains] = [:]) -> [[UInt8]] {
        SnapshotJSONWriter.pieces(of: self, renderedDomains: renderedDomains)
    }

    /// `host`'s domains as `jsonPieces(renderedDomains:)` writes them: `observe -o json` renders
    /// each host's as soon as it is observed, while the others still are.
    public static func renderDomains(of host: ObservedHost) -> RenderedDomains {
        SnapshotJSONWriter.domains(of: host)
    }

    /// Reads a snapshot written by `jsonData()` (or by hand: fields with a natural default may
    /// be left out, see the `init(from:)` of each type), with Foundation's decoder: for values
    /// this process wrote. A file from outside goes through `readSnapshotFile`, which checks
    /// keys, bounds, names, duplicates and URIs and locates every problem.
    /// - Throws: `DecodingError` naming the path of what is missing or mistyped.
    public init(jsonData: Data) throws {
        self = try JSONDecoder().decode(ObservedFleet.self, from: jsonData)
    }
}

// Hand-written snapshots (`plan --observed` in CI) need only what SPEC.md lists; everything
// with a natural default (false, empty, nil) may be omitted. Encoding stays synthesized.

extension ObservedFleet {
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        apiVersion = try c.decodeIfPresent(String.self, forKey: .apiVersion) ?? "virtplace/v1"
        kind = try c.decodeIfPresent(String.self, forKey: .kind) ?? "Observed"
        hosts = try c.decode([ObservedHost].self, forKey: .hosts)
    }
}

extension ObservedHost {
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            name: try c.decode(String.self, forKey: .name),
            uri: try c.decodeIfPresent(String.self, forKey: .uri) ?? "",
            reachable: try c.decodeIfPresent(Bool.self, forKey: .reachable) ?? true,
            error: try c.decodeIfPresent(String.self, forKey: .error),
            faultDomain: try c.decodeIfPresent(String.self, forKey: .faultDomain),
            capacity: try c.decodeIfPresent(ObservedCapacity.self, forKey: .capacity) ?? .init(vcpus: 0, memoryMiB: 0),
            hostUUID: try c.decodeIfPresent(String.self, forKey: .hostUUID),
            cpuModel: try c.decodeIfPresent(String.self, forKey: .cpuModel),
            cpuVendor: try c.decodeIfPresent(String.self, forKey: .cpuVendor),
            offeredCPUModel: try c.decodeIfPresent(String.self, forKey: .offeredCPUModel),
            platformChecks: try c.decodeIfPresent([ObservedPlatformCheck].self, forKey: .platformChecks) ?? [],
            freeMemoryMiB: try c.decodeIfPresent(Int.self, forKey: .freeMemoryMiB),
            pools: try c.decodeIfPresent([ObservedPool].self, forKey: .pools) ?? [],
            networks: try c.decodeIfPresent([ObservedNetwork].self, forKey: .networks) ?? [],
            domains: try c.decodeIfPresent([ObservedDomain].self, forKey: .domains) ?? [],
            libvirtVersion: try c.decodeIfPresent(String.self, forKey: .libvirtVersion),
            hypervisorVersion: try c.decodeIfPresent(String.self, forKey: .hypervisorVersion)
        )
    }
}

extension ObservedPool {
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            name: try c.decode(String.self, forKey: .name),
            type: try c.decodeIfPresent(String.self, forKey: .type) ?? "dir",
            path: try c.decodeIfPresent(String.self, forKey: .path),
            active: try c.decodeIfPresent(Bool.self, forKey: .active) ?? true,
            capacityBytes: try c.decodeIfPresent(Int64.self, forKey: .capacityBytes),
            availableBytes: try c.decodeIfPresent(Int64.self, forKey: .availableBytes),
            volumes: try c.decodeIfPresent([ObservedVolume].self, forKey: .volumes) ?? []
        )
    }
}

extension ObservedDomain {
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            name: try c.decode(String.self, forKey: .name),
            uuid: try c.decode(String.self, forKey: .uuid),
            state: try c.decode(String.self, forKey: .state),
            stateReason: try c.decodeIfPresent(String.self, forKey: .stateReason),
            persistent: try c.decodeIfPresent(Bool.self, forKey: .persistent) ?? true,
            autostart: try c.decodeIfPresent(Bool.self, forKey: .autostart) ?? false,
            vcpus: try c.decode(Int.self, forKey: .vcpus),
            maxVcpus: try c.decodeIfPresent(Int.self, forKey: .maxVcpus),
            memoryMiB: try c.decode(Int.self, forKey: .memoryMiB),
            maxMemoryMiB: try c.decodeIfPresent(Int.self, forKey: .maxMemoryMiB),
            cpuMode: try c.decodeIfPresent(String.self, forKey: .cpuMode),
            cpuModel: try c.decodeIfPresent(String.self, forKey: .cpuModel),
            cpuFeatures: try c.decodeIfPresent([String: String].self, forKey: .cpuFeatures) ?? [:],
            virtType: try c.decodeIfPresent(String.self, forKey: .virtType),
            arch: try c.decodeIfPresent(String.self, forKey: .arch),
            machine: try c.decodeIfPresent(String.self, forKey: .machine),
            emulator: try c.decodeIfPresent(String.self, forKey: .emulator),
            osBoot: try c.decodeIfPresent([String].self, forKey: .osBoot) ?? [],
            disks: try c.decodeIfPresent([ObservedDisk].self, forKey: .disks) ?? [],
            nics: try c.decodeIfPresent([ObservedNIC].self, forKey: .nics) ?? [],
            hostdevs: try c.decodeIfPresent([ObservedHostdev].self, forKey: .hostdevs) ?? [],
            hasTPM: try c.decodeIfPresent(Bool.self, forKey: .hasTPM) ?? false,
            tpmBackend: try c.decodeIfPresent(String.self, forKey: .tpmBackend),
            firmware: try c.decodeIfPresent(String.self, forKey: .firmware),
            nvram: try c.decodeIfPresent(String.self, forKey: .nvram),
            hasVirtiofs: try c.decodeIfPresent(Bool.self, forKey: .hasVirtiofs) ?? false,
            snapshotCount: try c.decodeIfPresent(Int.self, forKey: .snapshotCount) ?? 0,
            fleet: try c.decodeIfPresent(String.self, forKey: .fleet),
            tags: try c.decodeIfPresent([String: String].self, forKey: .tags) ?? [:],
            xmlDigest: try c.decodeIfPresent(String.self, forKey: .xmlDigest) ?? "",
            configVcpus: try c.decodeIfPresent(Int.self, forKey: .configVcpus),
            configMemoryMiB: try c.decodeIfPresent(Int.self, forKey: .configMemoryMiB),
            memoryInUseMiB: try c.decodeIfPresent(Int.self, forKey: .memoryInUseMiB),
            memoryResidentMiB: try c.decodeIfPresent(Int.self, forKey: .memoryResidentMiB)
        )
    }
}

extension ObservedDisk {
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            device: try c.decodeIfPresent(String.self, forKey: .device) ?? "disk",
            target: try c.decode(String.self, forKey: .target),
            bus: try c.decodeIfPresent(String.self, forKey: .bus),
            format: try c.decodeIfPresent(String.self, forKey: .format),
            cache: try c.decodeIfPresent(String.self, forKey: .cache),
            sourceType: try c.decodeIfPresent(String.self, forKey: .sourceType) ?? "file",
            path: try c.decodeIfPresent(String.self, forKey: .path),
            pool: try c.decodeIfPresent(String.self, forKey: .pool),
            volume: try c.decodeIfPresent(String.self, forKey: .volume),
            readOnly: try c.decodeIfPresent(Bool.self, forKey: .readOnly) ?? false,
            shareable: try c.decodeIfPresent(Bool.self, forKey: .shareable) ?? false,
            transient: try c.decodeIfPresent(Bool.self, forKey: .transient) ?? false,
            bootOrder: try c.decodeIfPresent(Int.self, forKey: .bootOrder)
        )
    }
}
