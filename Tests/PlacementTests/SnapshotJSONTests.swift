import Foundation
import Placement
import Testing

/// What Foundation's JSONEncoder writes for `value` with the options `observe -o json` writes
/// with, strings then hardened (`Escape.hardenedJSON`): the independent witness.
private func foundationJSON<Value: Encodable>(_ value: Value) throws -> String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
    return Escape.hardenedJSON(String(decoding: try encoder.encode(value), as: UTF8.self))
}

/// `observe -o json` (`ObservedFleet.jsonData()`, `jsonPieces()`) writes the snapshot field
/// by field (`SnapshotJSONWriter`); these tests hold it to JSONEncoder's bytes, for fleets with
/// every field set, hostile strings in every string field, and fleets made at random.
@Suite("Snapshot JSON: JSONEncoder's bytes, written by hand")
struct SnapshotJSONTests {
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
                    xmlDigest: "847d0bb6", configVcpus: 3, configMemoryMiB: 768, memoryInUseMiB: 300,
                    memoryResidentMiB: 420
                ),
                ObservedDomain(name: "bare", uuid: "u", state: "shutoff", vcpus: 1, memoryMiB: 64),
            ],
            libvirtVersion: "9.0.0", hypervisorVersion: "7.2.0"
        ),
        ObservedHost(name: "host2", uri: "qemu+ssh://h2/system", reachable: false, error: "no answer from qemu+ssh://h2/system within 15 seconds"),
        ObservedHost(name: "empty", uri: "test:///default", reachable: true),
    ])

    /// Strings a host or a guest definition could hand us: JSON's own characters, every C0
    /// control, DEL, C1, bidi overrides, line and paragraph separators, a lone combining mark,
    /// non-BMP characters, an XML/HTML-looking string, NUL.
    static let hostileStrings = [
        "\"quoted\" \\ back\\slash / slash",
        String((0..<0x20).map { Character(Unicode.Scalar($0)!) }),
        "del\u{7F} c1\u{80}\u{85}\u{9F} nbsp\u{A0}",
        "bidi\u{202E}evil\u{202C} \u{200E}\u{200F}\u{2066}\u{2069} zw\u{200B}\u{FEFF}",
        "sep\u{2028}line\u{2029}para",
        "\u{301}combining é e\u{301} 日本語 😀🇫🇷 \u{10FFFF}",
        "</script><!--&amp;-->",
        "nul\u{0}inside",
        "",
    ]

    /// A fleet whose every string field, dictionary key and value is `text`, with numbers at
    /// their extremes.
    static func hostile(_ text: String, _ index: Int) -> ObservedFleet {
        ObservedFleet(hosts: [
            ObservedHost(
                name: text, uri: text, reachable: index % 2 == 0, error: text, faultDomain: text,
                capacity: ObservedCapacity(vcpus: Int.max, memoryMiB: Int.min), hostUUID: text, cpuModel: text,
                cpuVendor: text, offeredCPUModel: text,
                platformChecks: [ObservedPlatformCheck(platform: text, reason: text, detail: text)],
                freeMemoryMiB: 0,
                pools: [ObservedPool(name: text, type: text, path: text, active: index % 2 == 1, capacityBytes: 0, availableBytes: -1,
                                     volumes: [ObservedVolume(name: text, path: text, capacityBytes: Int64.min, allocationBytes: Int64.max,
                                                              format: text, backingPath: text)])],
                networks: [ObservedNetwork(name: text, active: true, bridge: text)],
                domains: [ObservedDomain(
                    name: text, uuid: text, state: text, stateReason: text, persistent: true, autostart: false,
                    vcpus: -5, maxVcpus: 0, memoryMiB: Int.max, maxMemoryMiB: Int.min, cpuMode: text, cpuModel: text,
                    cpuFeatures: Dictionary([(text, text), (text + "2", ""), ("", text)], uniquingKeysWith: { first, _ in first }), virtType: text, arch: text, machine: text, emulator: text,
                    osBoot: [text, text], disks: [ObservedDisk(device: text, target: text, bus: text, format: text, cache: text,
                                                            sourceType: text, path: text, pool: text, volume: text, bootOrder: -1)],
                    nics: [ObservedNIC(type: text, mac: text, network: text, bridge: text, model: text, target: text)],
                    hostdevs: [ObservedHostdev(type: text, address: text)], hasTPM: false, tpmBackend: text, firmware: text,
                    nvram: text, hasVirtiofs: false, snapshotCount: Int.min, fleet: text, tags: [text: text, "x" + text: text + "y"],
                    xmlDigest: text, configVcpus: 0, configMemoryMiB: -0, memoryInUseMiB: Int.max, memoryResidentMiB: Int.min
                )],
                libvirtVersion: text, hypervisorVersion: text
            ),
        ])
    }

    /// A fleet drawn at random from `seed` (the same seed, the same fleet): hosts, domains and
    /// their parts in varying numbers, optional fields set or not, strings from a hostile
    /// alphabet.
    static func random(seed: UInt64) -> ObservedFleet {
        var generator = SplitMix64(seed: seed)
        let alphabet: [Character] = ["a", "Z", "0", "-", "/", "\\", "\"", " ", "\n", "\u{1}", "\u{7F}", "\u{85}", "é", "\u{202E}", "\u{2028}", "😀", "日"]
        func text() -> String { String((0..<Int.random(in: 0...12, using: &generator)).map { _ in alphabet.randomElement(using: &generator)! }) }
        func maybe<T>(_ value: @autoclosure () -> T) -> T? { Bool.random(using: &generator) ? value() : nil }
        func number() -> Int { [0, 1, -1, Int.max, Int.min, Int.random(in: -1_000_000...1_000_000, using: &generator)].randomElement(using: &generator)! }
        func some<T>(_ most: Int, _ make: () -> T) -> [T] { (0..<Int.random(in: 0...most, using: &generator)).map { _ in make() } }
        func map() -> [String: String] { Dictionary(some(4) { (text(), text()) }, uniquingKeysWith: { first, _ in first }) }
        return ObservedFleet(hosts: some(3) {
            ObservedHost(
                name: text(), uri: text(), reachable: Bool.random(using: &generator), error: maybe(text()), faultDomain: maybe(text()),
                capacity: ObservedCapacity(vcpus: number(), memoryMiB: number()), hostUUID: maybe(text()), cpuModel: maybe(text()),
                cpuVendor: maybe(text()), offeredCPUModel: maybe(text()),
                platformChecks: some(2) { ObservedPlatformCheck(platform: text(), reason: maybe(text()), detail: maybe(text())) },
                freeMemoryMiB: maybe(number()),
                pools: some(2) {
                    ObservedPool(name: text(), type: text(), path: maybe(text()), active: Bool.random(using: &generator),
                                 capacityBytes: maybe(Int64(number())), availableBytes: maybe(Int64(number())),
                                 volumes: some(2) { ObservedVolume(name: text(), path: maybe(text()), capacityBytes: Int64(number()),
                                                                   allocationBytes: Int64(number()), format: maybe(text()), backingPath: maybe(text())) })
                },
                networks: some(2) { ObservedNetwork(name: text(), active: Bool.random(using: &generator), bridge: maybe(text())) },
                domains: some(40) {
                    ObservedDomain(
                        name: text(), uuid: text(), state: text(), stateReason: maybe(text()), persistent: Bool.random(using: &generator),
                        autostart: Bool.random(using: &generator), vcpus: number(), maxVcpus: number(), memoryMiB: number(),
                        maxMemoryMiB: number(), cpuMode: maybe(text()), cpuModel: maybe(text()), cpuFeatures: map(),
                        virtType: maybe(text()), arch: maybe(text()), machine: maybe(text()), emulator: maybe(text()),
                        osBoot: some(3) { text() },
                        disks: some(3) {
                            ObservedDisk(device: text(), target: text(), bus: maybe(text()), format: maybe(text()), cache: maybe(text()),
                                         sourceType: text(), path: maybe(text()), pool: maybe(text()), volume: maybe(text()),
                                         readOnly: Bool.random(using: &generator), shareable: Bool.random(using: &generator),
                                         transient: Bool.random(using: &generator), bootOrder: maybe(number()))
                        },
                        nics: some(3) { ObservedNIC(type: text(), mac: maybe(text()), network: maybe(text()), bridge: maybe(text()),
                                                    model: maybe(text()), target: maybe(text())) },
                        hostdevs: some(2) { ObservedHostdev(type: text(), address: text()) },
                        hasTPM: Bool.random(using: &generator), tpmBackend: maybe(text()), firmware: maybe(text()), nvram: maybe(text()),
                        hasVirtiofs: Bool.random(using: &generator), snapshotCount: number(), fleet: maybe(text()), tags: map(),
                        xmlDigest: text(), configVcpus: maybe(number()), configMemoryMiB: maybe(number()), memoryInUseMiB: maybe(number()),
                        memoryResidentMiB: maybe(number())
                    )
                },
                libvirtVersion: maybe(text()), hypervisorVersion: maybe(text())
            )
        })
    }

    @Test("byte for byte what JSONEncoder writes", arguments: [
        full,
        ObservedFleet(hosts: []),
        ObservedFleet(hosts: [ObservedHost(name: "", uri: "", reachable: true)]),
    ])
    func sameAsJSONEncoder(fleet: ObservedFleet) throws {
        #expect(String(decoding: fleet.jsonData(), as: UTF8.self) == (try foundationJSON(fleet)))
    }

    @Test("hostile strings in every string field and key: JSONEncoder's bytes", arguments: hostileStrings.indices)
    func hostileStringsAsJSONEncoder(index: Int) throws {
        let fleet = Self.hostile(Self.hostileStrings[index], index)
        let json = String(decoding: fleet.jsonData(), as: UTF8.self)
        #expect(json == (try foundationJSON(fleet)))
        // No raw control, DEL, C1, bidi or separator character left in the text.
        #expect(!json.unicodeScalars.contains { ($0.value < 0x20 && $0 != "\n") || (0x7F...0x9F).contains($0.value)
                || [0x200E, 0x200F, 0x2028, 0x2029, 0x202A, 0x202B, 0x202C, 0x202D, 0x202E, 0x2066, 0x2067, 0x2068, 0x2069].contains($0.value) })
        #expect(try ObservedFleet(jsonData: fleet.jsonData()) == fleet)
    }

    @Test("fleets drawn at random: JSONEncoder's bytes", arguments: 1...40)
    func randomFleets(seed: UInt64) throws {
        let fleet = Self.random(seed: seed)
        #expect(String(decoding: fleet.jsonData(), as: UTF8.self) == (try foundationJSON(fleet)))
    }

    @Test("a thousand domains: the pieces are some 64 KiB each, end after whole elements, and join to the snapshot")
    func pieces() throws {
        let domain = Self.full.hosts[0].domains[0]
        var host = Self.full.hosts[0]
        host.domains = (0..<1000).map { var copy = domain; copy.name = "web-\($0)-é😀"; return copy }
        let fleet = ObservedFleet(hosts: [host])
        let pieces = fleet.jsonPieces()
        #expect(pieces.count > 10)
        #expect(pieces.dropLast().allSatisfy { (1 << 16..<(1 << 16) + 8192).contains($0.count) })
        // Each piece is whole UTF-8 (a piece goes to the terminal guard on its own).
        #expect(pieces.allSatisfy { String(validating: $0, as: UTF8.self) != nil })
        #expect(Array(pieces.joined()) == Array(fleet.jsonData()))
        #expect(String(decoding: fleet.jsonData(), as: UTF8.self) == (try foundationJSON(fleet)))
    }

    /// `observe -o json` writes each host's domains as soon as the host is observed and splices
    /// them in: the same bytes as writing the fleet at once, for the full fleet, random ones and
    /// a thousand domains (pieces of their own); a host whose rendered array holds another
    /// number of domains is written afresh.
    @Test("domains rendered beforehand splice into the same bytes", arguments: 0...12)
    func renderedDomainsSplice(seed: UInt64) throws {
        var fleet = seed == 0 ? Self.full : Self.random(seed: seed)
        if seed == 12 {
            let domain = Self.full.hosts[0].domains[0]
            fleet.hosts[0].domains = (0..<1000).map { var copy = domain; copy.name = "web-\($0)"; return copy }
        }
        // Host names are the placement's keys: unique.
        for index in fleet.hosts.indices { fleet.hosts[index].name += "-\(index)" }
        let rendered = Dictionary(fleet.hosts.map { ($0.name, ObservedFleet.renderDomains(of: $0)) }) { first, _ in first }
        let whole = Array(fleet.jsonPieces().joined())
        #expect(Array(fleet.jsonPieces(renderedDomains: rendered).joined()) == whole)
        if let host = fleet.hosts.first, !host.domains.isEmpty {
            var stale = fleet
            stale.hosts[0].domains.removeLast()
            #expect(Array(stale.jsonPieces(renderedDomains: rendered).joined()) == Array(stale.jsonPieces().joined()))
        }
    }

    @Test("it reads back as the same fleet")
    func roundTrip() throws {
        #expect(try ObservedFleet(jsonData: Self.full.jsonData()) == Self.full)
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
        unset = []
        visit(Self.hostile("x", 0), path: "hostile")
        #expect(unset == [])
    }
}

