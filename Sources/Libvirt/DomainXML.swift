import Foundation
import Placement

/// Where each volume of a host's pools lives, to tell which pool volume a disk uses without
/// asking libvirt once per disk.
public struct VolumeIndex: Equatable, Sendable {
    /// A volume named by pool and volume name.
    public struct Reference: Hashable, Sendable {
        public var pool: String
        public var volume: String
        /// The volume `volume` of pool `pool`.
        public init(pool: String, volume: String) { self.pool = pool; self.volume = volume }
    }

    public private(set) var byPath: [String: Reference] = [:]
    public private(set) var pathByReference: [Reference: String] = [:]

    /// An empty index: no disk resolves.
    public init() {}

    /// Indexes the volumes of these pools (first pool wins when two list the same path).
    public init(pools: [ObservedPool]) {
        for pool in pools {
            for volume in pool.volumes {
                let reference = Reference(pool: pool.name, volume: volume.name)
                guard let path = volume.path else { continue }
                if byPath[path] == nil { byPath[path] = reference }
                pathByReference[reference] = path
            }
        }
    }
}

extension ObservedDomain {
    /// Reads a domain XML (the inactive definition, as observation fetches it) into an
    /// observed domain. Pure: the runtime facts come in as arguments, and disks resolve to pool
    /// volumes through `volumes`. `xmlDigest` is the SHA-256 of `xml` as given.
    ///
    /// `liveVcpus`/`liveMemoryMiB` are what a running domain uses now; given, they become
    /// `vcpus`/`memoryMiB` and the definition's values go to `configVcpus`/`configMemoryMiB`
    /// when they differ (a change made for the next start).
    /// - Throws: `DomainXMLError` when `xml` is not a `<domain>` document with a name and UUID.
    public static func parse(
        xml: String,
        state: String,
        stateReason: String? = nil,
        persistent: Bool = true,
        autostart: Bool = false,
        snapshotCount: Int = 0,
        liveVcpus: Int? = nil,
        liveMemoryMiB: Int? = nil,
        volumes: VolumeIndex = VolumeIndex()
    ) throws -> ObservedDomain {
        try parse(
            root: parseXMLTree(xml, expectingRoot: "domain"), xml: xml, state: state, stateReason: stateReason,
            persistent: persistent, autostart: autostart, snapshotCount: snapshotCount,
            liveVcpus: liveVcpus, liveMemoryMiB: liveMemoryMiB, volumes: volumes
        )
    }

    /// `parse(xml:…)` on a tree already read from `xml` (tests read it both ways).
    /// - Throws: `DomainXMLError` when the domain has no name or UUID.
    static func parse(
        root: XMLTree.Element, xml: String, state: String, stateReason: String?, persistent: Bool, autostart: Bool,
        snapshotCount: Int, liveVcpus: Int?, liveMemoryMiB: Int?, volumes: VolumeIndex
    ) throws(DomainXMLError) -> ObservedDomain {
        guard let name = root.element("name")?.trimmedText else { throw DomainXMLError("<domain> without <name>") }
        guard let uuid = root.element("uuid")?.trimmedText else { throw DomainXMLError("domain '\(name)' without <uuid>") }

        let vcpu = root.element("vcpu")
        let maxVcpus = vcpu?.trimmedText.flatMap { Int($0) } ?? 1
        let vcpus = vcpu?.attribute("current").flatMap { Int($0) } ?? maxVcpus
        let maxMemory = bytes(root.element("memory"), defaultUnit: "KiB") ?? 0
        let currentMemory = bytes(root.element("currentMemory"), defaultUnit: "KiB") ?? maxMemory
        let configMemoryMiB = Int(currentMemory >> 20)

        let cpu = root.element("cpu")
        let cpuModel = cpu?.element("model")?.trimmedText
        let cpuMode = cpu?.attribute("mode") ?? (cpuModel == nil ? nil : "custom")
        var cpuFeatures: [String: String] = [:]
        for feature in cpu?.elements("feature") ?? [] {
            if let name = feature.attribute("name") { cpuFeatures[name] = feature.attribute("policy") ?? "require" }
        }

        let os = root.element("os")
        let osType = os?.element("type")
        let loader = os?.element("loader")
        let nvramElement = os?.element("nvram")
        let nvram = nvramElement?.trimmedText ?? nvramElement?.element("source")?.attribute("file")
        let firmware: String?
        if let stated = os?.attribute("firmware") {
            firmware = stated
        } else if loader?.attribute("type") == "pflash" || nvramElement != nil {
            firmware = "efi"
        } else if loader != nil {
            firmware = "bios"
        } else {
            firmware = nil
        }

        let devices = root.element("devices")
        let metadata = root.element("metadata").flatMap { VirtplaceMetadata.element(inMetadata: $0) }

        return ObservedDomain(
            name: name, uuid: lowercased(uuid), state: state, stateReason: stateReason,
            persistent: persistent, autostart: autostart,
            vcpus: liveVcpus ?? vcpus, maxVcpus: maxVcpus,
            memoryMiB: liveMemoryMiB ?? configMemoryMiB, maxMemoryMiB: Int(maxMemory >> 20),
            cpuMode: cpuMode, cpuModel: cpuModel, cpuFeatures: cpuFeatures,
            virtType: root.attribute("type"), arch: osType?.attribute("arch"), machine: osType?.attribute("machine"),
            emulator: devices?.element("emulator")?.trimmedText,
            osBoot: os?.elements("boot").compactMap { $0.attribute("dev") } ?? [],
            disks: devices?.elements("disk").map { disk($0, volumes: volumes) } ?? [],
            nics: devices?.elements("interface").map(nic) ?? [],
            hostdevs: devices?.elements("hostdev").compactMap(hostdev) ?? [],
            hasTPM: devices?.element("tpm") != nil,
            tpmBackend: devices?.element("tpm")?.element("backend")?.attribute("type"),
            firmware: firmware, nvram: nvram,
            hasVirtiofs: devices?.elements("filesystem").contains { $0.element("driver")?.attribute("type") == "virtiofs" } ?? false,
            snapshotCount: snapshotCount,
            fleet: metadata?.attribute("fleet"),
            tags: metadata.map { VirtplaceMetadata.tags(in: $0) } ?? [:],
            xmlDigest: SHA256.hex(xml),
            configVcpus: liveVcpus.flatMap { $0 == vcpus ? nil : vcpus },
            configMemoryMiB: liveMemoryMiB.flatMap { $0 == configMemoryMiB ? nil : configMemoryMiB }
        )
    }

    private static func disk(_ element: XMLTree.Element, volumes: VolumeIndex) -> ObservedDisk {
        let sourceType = element.attribute("type") ?? "file"
        let source = element.element("source")
        let driver = element.element("driver")
        let target = element.element("target")
        var path: String?
        var reference: VolumeIndex.Reference?
        switch sourceType {
        case "volume":
            if let pool = source?.attribute("pool"), let volume = source?.attribute("volume") {
                reference = VolumeIndex.Reference(pool: pool, volume: volume)
                path = reference.flatMap { volumes.pathByReference[$0] }
            }
        case "network":
            path = source?.attribute("name")
        default:
            path = source?.attribute("file") ?? source?.attribute("dev") ?? source?.attribute("dir")
            reference = path.flatMap { volumes.byPath[$0] }
        }
        return ObservedDisk(
            device: element.attribute("device") ?? "disk",
            target: target?.attribute("dev") ?? "",
            bus: target?.attribute("bus"),
            format: driver?.attribute("type"),
            cache: driver?.attribute("cache"),
            sourceType: sourceType,
            path: path,
            pool: reference?.pool,
            volume: reference?.volume,
            readOnly: element.element("readonly") != nil,
            shareable: element.element("shareable") != nil,
            transient: element.element("transient") != nil,
            bootOrder: element.element("boot")?.attribute("order").flatMap { Int($0) }
        )
    }

    private static func nic(_ element: XMLTree.Element) -> ObservedNIC {
        let source = element.element("source")
        return ObservedNIC(
            type: element.attribute("type") ?? "",
            mac: element.element("mac")?.attribute("address").map(lowercased),
            network: source?.attribute("network"),
            bridge: source?.attribute("bridge"),
            model: element.element("model")?.attribute("type"),
            target: element.element("target")?.attribute("dev")
        )
    }

    /// A readable address per hostdev type: `0000:03:00.1` (PCI), `1:4` (USB bus:device) or
    /// `1234:beef` (USB vendor:product), `scsi_host0:0:0:2` (SCSI adapter:bus:target:unit),
    /// the UUID (mdev), the WWPN (scsi_host).
    private static func hostdev(_ element: XMLTree.Element) -> ObservedHostdev? {
        guard let type = element.attribute("type") else { return nil }
        let source = element.element("source")
        let address = source?.element("address")
        let readable: String
        switch type {
        case "pci":
            func field(_ name: String) -> Int { hexOrDecimal(address?.attribute(name)) ?? 0 }
            readable = String(format: "%04x:%02x:%02x.%x", field("domain"), field("bus"), field("slot"), field("function"))
        case "usb":
            if let vendor = source?.element("vendor")?.attribute("id"), let product = source?.element("product")?.attribute("id") {
                readable = "\(stripHexPrefix(vendor)):\(stripHexPrefix(product))"
            } else {
                readable = "\(address?.attribute("bus") ?? "?"):\(address?.attribute("device") ?? "?")"
            }
        case "scsi":
            if let adapter = source?.element("adapter")?.attribute("name") {
                let parts = ["bus", "target", "unit"].map { address?.attribute($0) ?? "0" }
                readable = ([adapter] + parts).joined(separator: ":")
            } else {
                readable = source?.attribute("name") ?? ""
            }
        case "mdev":
            readable = address?.attribute("uuid") ?? ""
        case "scsi_host":
            readable = source?.attribute("wwpn") ?? ""
        default:
            readable = ""
        }
        return ObservedHostdev(type: type, address: readable)
    }

    private static func hexOrDecimal(_ text: String?) -> Int? {
        guard let text else { return nil }
        if text.hasPrefix("0x") || text.hasPrefix("0X") { return Int(text.dropFirst(2), radix: 16) }
        return Int(text)
    }

    private static func stripHexPrefix(_ text: String) -> String {
        (text.hasPrefix("0x") || text.hasPrefix("0X")) ? String(text.dropFirst(2)) : text
    }
}

/// The few facts of a definition that decide flags of libvirt calls (undefine).
struct DomainDefinitionFacts {
    var hasNVRAM: Bool
    var hasEmulatedTPM: Bool

    init(xml: String) throws(DomainXMLError) {
        let root = try parseXMLTree(xml, expectingRoot: "domain")
        let os = root.element("os")
        hasNVRAM = os?.element("nvram") != nil || os?.attribute("firmware") == "efi"
            || os?.element("loader")?.attribute("type") == "pflash"
        hasEmulatedTPM = root.element("devices")?.elements("tpm").contains {
            $0.element("backend")?.attribute("type") == "emulator"
        } ?? false
    }
}

extension VirtplaceMetadata {
    /// The virtplace element inside a domain's `<metadata>`, matched by namespace.
    static func element(inMetadata metadata: XMLTree.Element) -> XMLTree.Element? {
        metadata.childElements.first { element in
            element.isInNamespace(namespace) && element.hasLocalName("instance")
        }
    }

    /// The `key` → text of the element's `tag` children, any prefix (later duplicates win).
    static func tags(in element: XMLTree.Element) -> [String: String] {
        var tags: [String: String] = [:]
        for child in element.childElements where child.hasLocalName("tag") {
            guard let key = child.attribute("key") else { continue }
            tags[key] = child.stringValue
        }
        return tags
    }
}

/// `text.lowercased()`, with no new string when there is nothing to lower: libvirt writes UUIDs
/// and MAC addresses in lower case already.
private func lowercased(_ text: String) -> String {
    text.utf8.contains { (0x41...0x5A).contains($0) || $0 >= 0x80 } ? text.lowercased() : text
}
