import Foundation
import Placement
import Testing

/// What Foundation's JSONEncoder writes for `value` with the options `SortedJSONEncoder` stands
/// in for, strings then hardened (`Escape.hardenedJSON`): the independent witness.
private func foundationJSON<Value: Encodable>(_ value: Value) throws -> String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
    return Escape.hardenedJSON(String(decoding: try encoder.encode(value), as: UTF8.self))
}

/// `observe -o json` (`ObservedFleet.jsonData()`) writes the snapshot with `SortedJSONEncoder`;
/// these tests hold it to JSONEncoder's bytes.
@Suite("SortedJSONEncoder: JSONEncoder's bytes, for snapshots")
struct SortedJSONEncoderTests {
    /// A fleet with every field of every type set (see `everyFieldSet`), awkward strings, and
    /// an unreachable host.
    static let full = ObservedFleet(hosts: [
        ObservedHost(
            name: "host1", uri: "qemu+tcp://h1/system", reachable: true, error: "partly \"ok\"", faultDomain: "fd-1",
            capacity: ObservedCapacity(vcpus: 64, memoryMiB: 262_144), hostUUID: "0d6c-…", cpuModel: "Skylake/IBRS",
            cpuVendor: "Intel", offeredCPUModel: "Opteron_G3",
            platformChecks: [ObservedPlatformCheck(platform: "0123456789abcdef", reason: "cpu.incompatible", detail: "no \"aes\""),
                             ObservedPlatformCheck(platform: "fedcba9876543210")],
            freeMemoryMiB: -1,
            pools: [
                ObservedPool(
                    name: "local", type: "dir", path: "/var/lib/libvirt/images", active: true,
                    capacityBytes: Int64.max, availableBytes: Int64.min,
                    volumes: [ObservedVolume(name: "a b.qcow2", path: "/images/a b.qcow2", capacityBytes: 1 << 40, allocationBytes: 0, format: "qcow2",
                                            backingPath: "/images/base é.qcow2")]
                ),
            ],
            networks: [ObservedNetwork(name: "lan", active: false, bridge: "br0")],
            domains: [
                ObservedDomain(
                    name: "web-1", uuid: "11111111-aaaa-4bbb-8ccc-000000000001", state: "running", stateReason: "booted",
                    persistent: false, autostart: true, vcpus: 2, maxVcpus: 4, memoryMiB: 512, maxMemoryMiB: 1024,
                    cpuMode: "custom", cpuModel: "qemu64", cpuFeatures: ["aes": "require", "vmx": "disable"],
                    virtType: "kvm", arch: "x86_64", machine: "pc-q35-7.2", emulator: "/usr/bin/qemu-system-x86_64",
                    osBoot: ["hd", "cdrom"],
                    disks: [
                        ObservedDisk(device: "disk", target: "vda", bus: "virtio", format: "qcow2", cache: "none", sourceType: "volume",
                                     path: "/images/a.qcow2", pool: "local", volume: "a.qcow2", readOnly: true, shareable: true,
                                     transient: true, bootOrder: 1),
                        ObservedDisk(target: "sda"),
                    ],
                    nics: [ObservedNIC(type: "network", mac: "52:54:00:ab:cd:01", network: "lan", bridge: "virbr0", model: "virtio", target: "vnet0")],
                    hostdevs: [ObservedHostdev(type: "pci", address: "0000:03:00.1")],
                    hasTPM: true, tpmBackend: "emulator", firmware: "efi", nvram: "/nv/web-1_VARS.fd", hasVirtiofs: true, snapshotCount: 3,
                    fleet: "lab", tags: ["tier": "web", "Z": "upper", "é": "accent", "a10": "x", "a9": "y", "q\"/\\": "ctl\u{1}\u{1F}\u{7F}\t\n\r\u{8}\u{C}😀"],
                    xmlDigest: "847d0bb6", configVcpus: 3, configMemoryMiB: 768, memoryInUseMiB: 300
                ),
                ObservedDomain(name: "bare", uuid: "u", state: "shutoff", vcpus: 1, memoryMiB: 64),
            ],
            libvirtVersion: "9.0.0", hypervisorVersion: "7.2.0"
        ),
        ObservedHost(name: "host2", uri: "qemu+ssh://h2/system", reachable: false, error: "no answer from qemu+ssh://h2/system within 15 seconds"),
        ObservedHost(name: "empty", uri: "test:///default", reachable: true),
    ])

    @Test("byte for byte what JSONEncoder writes", arguments: [
        full,
        ObservedFleet(hosts: []),
        ObservedFleet(hosts: [ObservedHost(name: "", uri: "", reachable: true)]),
    ])
    func sameAsJSONEncoder(fleet: ObservedFleet) throws {
        #expect(String(decoding: try fleet.jsonData(), as: UTF8.self) == (try foundationJSON(fleet)))
    }

    @Test("it reads back as the same fleet")
    func roundTrip() throws {
        #expect(try ObservedFleet(jsonData: Self.full.jsonData()) == Self.full)
    }

    /// Shapes the snapshot types do not have: nested and empty containers of every kind,
    /// optionals in arrays, floats, unsigned and narrow integers, top-level scalars.
    struct Shapes: Encodable {
        var nested: [[String: [Int?]]] = [["b": [1, nil]], [:], ["a": []]]
        var floats: [Double] = [0, 1.5, -2, 1e300, 0.1]
        var small: Float = 3.25
        var unsigned: UInt64 = .max
        var narrow: [Int8] = [-128, 127]
        var empty: [String] = []
        var none: String? = nil
        var flag = false
    }

    @Test("other shapes: the same bytes as JSONEncoder")
    func otherShapes() throws {
        #expect(String(decoding: try SortedJSONEncoder.encode(Shapes()), as: UTF8.self) == (try foundationJSON(Shapes())))
        #expect(String(decoding: try SortedJSONEncoder.encode([String: Bool]()), as: UTF8.self) == (try foundationJSON([String: Bool]())))
        #expect(String(decoding: try SortedJSONEncoder.encode("a/b\u{7F}"), as: UTF8.self) == (try foundationJSON("a/b\u{7F}")))
        #expect(String(decoding: try SortedJSONEncoder.encode(42), as: UTF8.self) == (try foundationJSON(42)))
    }

    @Test("a float JSON cannot hold is refused, as JSONEncoder refuses it")
    func nonFinite() {
        #expect(throws: EncodingError.self) { try SortedJSONEncoder.encode([Double.nan]) }
        #expect(throws: EncodingError.self) { try foundationJSON([Double.nan]) }
    }

    @Test("the full fleet sets every field of every type, so a new field cannot go unwritten")
    func everyFieldSet() {
        var unset: [String] = []
        func visit(_ value: Any, path: String) {
            let mirror = Mirror(reflecting: value)
            switch mirror.displayStyle {
            case .optional:
                guard let wrapped = mirror.children.first?.value else { unset.append(path); return }
                visit(wrapped, path: path)
            case .collection, .dictionary:
                if mirror.children.isEmpty { unset.append(path) }
                // The first element of each collection is the one filled in.
                if let element = mirror.children.first?.value { visit(element, path: path + "[0]") }
            case .struct:
                for child in mirror.children { visit(child.value, path: path + "." + (child.label ?? "?")) }
            default:
                break
            }
        }
        visit(Self.full, path: "fleet")
        #expect(unset == [])
    }
}
