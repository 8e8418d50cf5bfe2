import Engine
import Foundation
import Placement

/// `virtplace observe`: what runs where, as libvirt reports it.
struct ObserveCommand: Command {
    static let name = "observe"
    static let abstract = "show what runs where, as libvirt reports it"
    static let usage = ["observe -f PATH... [-o text|json|svg|html]"]
    /// What `-o` takes.
    static let formats = ["text", "json"] + PictureFormat.allCases.map(\.rawValue)
    static let options: [OptionSpec] = [
        fileOption,
        outputOption(formats, help: "text (default): a table per host; json: a snapshot for 'plan --observed'; svg or html: a picture of every host with its domains and use"),
    ]
    static let discussion = """
    Connects to every host of the placement in parallel. A host that does not answer is shown
    as unreachable with the reason, and the others are still listed. With a host under
    maintenance (hosts.NAME.maintenance), the text output ends with each instance's maintenance
    status there (pending live, pending cold, reboot due DATE, ...). Exit 0 when at least one
    host answered, 1 when none did (or the placement is invalid).
    """

    var files: [String]
    var format: String

    init(arguments: ParsedArguments, common: CommonOptions) throws(UsageError) {
        try rejectPositionals(arguments, command: Self.name)
        files = try requireFiles(arguments, command: Self.name)
        format = try outputFormat(arguments, allowed: Self.formats, command: Self.name)
    }

    func run(_ context: CommandContext) async throws -> ExitCode {
        let spec = try loadPlacement(files, context: context).spec
        context.console.info("observing \(spec.hosts.count) host\(spec.hosts.count == 1 ? "" : "s")…")
        let observations = await Observer(refreshPools: true).observeWithCalls(observeTargets(spec, allowTestDriver: context.allowTestDriver))
        let fleet = ObservedFleet(hosts: observations.map(\.host))
        if context.common.verbose {
            let calls = observations.map(\.calls)
            let perHost = calls.reduce(0) { $0 + $1.perHost }, perDomain = calls.reduce(0) { $0 + $1.perDomain }
            let domains = calls.reduce(0) { $0 + $1.domains }
            context.console.err("libvirt calls: \(perHost + perDomain) (\(perHost) per-host, \(perDomain) for \(domains) domains: "
                + String(format: "%.2f", domains == 0 ? 0 : Double(perDomain) / Double(domains)) + " per domain)")
        }
        if format == "json" {
            context.console.out(encodeObserved(fleet))
        } else if let picture = PictureFormat(rawValue: format) {
            context.console.out(renderObservedPicture(fleet, desired: spec, format: picture))
        } else {
            context.console.out(renderObserved(fleet, managedNames: Set(spec.instances.keys), style: context.console.textStyle))
            // Hosts under maintenance: each instance's maintenance status, as plan shows it.
            if spec.hosts.values.contains(where: { $0.maintenance != nil }) {
                // Moves begun and not ended, as the journal shows them (read only, no lock).
                let journal = try? ApplyPass.readJournal(StateDirectory(path: context.common.stateDir), repair: false) { _ in }
                let inProgress = Set((journal?.unfinished ?? []).map(\.instance))
                context.console.out(renderMaintenanceStatus(makePlan(desired: spec, observed: fleet, clock: planningClock()),
                                                            inProgress: inProgress))
            }
        }
        guard fleet.hosts.contains(where: \.reachable) || fleet.hosts.isEmpty else {
            throw CLIError(message: "no host answered")
        }
        return .success
    }
}

/// An observed fleet as a snapshot: pretty JSON with sorted keys and a final newline, byte for
/// byte what `ObservedFleet.jsonData()` (JSONEncoder, then `Escape.hardenedJSON`) writes.
func encodeObserved(_ fleet: ObservedFleet) -> String {
    String(decoding: ObservedJSONWriter.snapshot(fleet), as: UTF8.self)
}

/// Writes observed values as `JSONEncoder` does with `[.prettyPrinted, .sortedKeys,
/// .withoutEscapingSlashes]` and the types' synthesized `encode(to:)`, strings escaped by
/// `Escape.appendJSONString` (JSONEncoder's escapes, and `\uHHHH` for DEL, C1, bidi and
/// separator characters, as `Escape.hardenedJSON` writes them): two-space indent,
/// `"key" : value`, keys in UTF-8 order, nil fields left out, empty containers as `[\n\n]`.
/// JSONEncoder boxes every value before writing it: for 1,000 domains that took 23–42 ms, a
/// tenth of the whole `observe`, after all hosts answered; this takes 3.5 ms.
///
/// Each type's fields are written here by hand, in sorted order. `ObserveJSONTests` compares
/// the bytes with JSONEncoder's for a fleet with every field set, and fails when a type gains
/// a field this writer does not know.
struct ObservedJSONWriter {
    private var bytes: [UInt8] = []
    private var depth = 0
    /// Whether the container being written has no element yet.
    private var first = true

    /// The snapshot of `fleet`, with a final newline.
    static func snapshot(_ fleet: ObservedFleet) -> [UInt8] {
        var json = ObservedJSONWriter()
        json.fleet(fleet)
        json.bytes.append(UInt8(ascii: "\n"))
        return json.bytes
    }

    private mutating func fleet(_ fleet: ObservedFleet) {
        bytes.reserveCapacity(4096 + fleet.hosts.reduce(0) { $0 + $1.domains.count } * 1024)
        object { json in
            json.field("apiVersion", fleet.apiVersion)
            json.field("hosts") { json in json.array(fleet.hosts) { json, host in json.host(host) } }
            json.field("kind", fleet.kind)
        }
    }

    private mutating func host(_ host: ObservedHost) {
        object { json in
            json.field("capacity") { json in
                json.object { json in
                    json.field("memoryMiB", host.capacity.memoryMiB)
                    json.field("vcpus", host.capacity.vcpus)
                }
            }
            json.field("cpuModel", host.cpuModel)
            json.field("cpuVendor", host.cpuVendor)
            json.field("domains") { json in json.array(host.domains) { json, domain in json.domain(domain) } }
            json.field("error", host.error)
            json.field("faultDomain", host.faultDomain)
            json.field("freeMemoryMiB", host.freeMemoryMiB)
            json.field("hostUUID", host.hostUUID)
            json.field("name", host.name)
            json.field("networks") { json in json.array(host.networks) { json, network in json.network(network) } }
            json.field("offeredCPUModel", host.offeredCPUModel)
            json.field("platformChecks") { json in
                json.array(host.platformChecks) { json, check in
                    json.object { json in
                        json.field("detail", check.detail)
                        json.field("platform", check.platform)
                        json.field("reason", check.reason)
                    }
                }
            }
            json.field("pools") { json in json.array(host.pools) { json, pool in json.pool(pool) } }
            json.field("reachable", host.reachable)
            json.field("uri", host.uri)
        }
    }

    private mutating func pool(_ pool: ObservedPool) {
        object { json in
            json.field("active", pool.active)
            json.field("availableBytes", pool.availableBytes)
            json.field("capacityBytes", pool.capacityBytes)
            json.field("name", pool.name)
            json.field("path", pool.path)
            json.field("type", pool.type)
            json.field("volumes") { json in
                json.array(pool.volumes) { json, volume in
                    json.object { json in
                        json.field("allocationBytes", volume.allocationBytes)
                        json.field("backingPath", volume.backingPath)
                        json.field("capacityBytes", volume.capacityBytes)
                        json.field("format", volume.format)
                        json.field("name", volume.name)
                        json.field("path", volume.path)
                    }
                }
            }
        }
    }

    private mutating func network(_ network: ObservedNetwork) {
        object { json in
            json.field("active", network.active)
            json.field("bridge", network.bridge)
            json.field("name", network.name)
        }
    }

    private mutating func domain(_ domain: ObservedDomain) {
        object { json in
            json.field("arch", domain.arch)
            json.field("autostart", domain.autostart)
            json.field("configMemoryMiB", domain.configMemoryMiB)
            json.field("configVcpus", domain.configVcpus)
            json.field("cpuFeatures") { json in json.stringMap(domain.cpuFeatures) }
            json.field("cpuMode", domain.cpuMode)
            json.field("cpuModel", domain.cpuModel)
            json.field("disks") { json in json.array(domain.disks) { json, disk in json.disk(disk) } }
            json.field("emulator", domain.emulator)
            json.field("firmware", domain.firmware)
            json.field("fleet", domain.fleet)
            json.field("hasTPM", domain.hasTPM)
            json.field("hasVirtiofs", domain.hasVirtiofs)
            json.field("hostdevs") { json in
                json.array(domain.hostdevs) { json, hostdev in
                    json.object { json in
                        json.field("address", hostdev.address)
                        json.field("type", hostdev.type)
                    }
                }
            }
            json.field("machine", domain.machine)
            json.field("maxMemoryMiB", domain.maxMemoryMiB)
            json.field("maxVcpus", domain.maxVcpus)
            json.field("memoryMiB", domain.memoryMiB)
            json.field("name", domain.name)
            json.field("nics") { json in json.array(domain.nics) { json, nic in json.nic(nic) } }
            json.field("nvram", domain.nvram)
            json.field("osBoot") { json in json.array(domain.osBoot) { json, dev in json.string(dev) } }
            json.field("persistent", domain.persistent)
            json.field("snapshotCount", domain.snapshotCount)
            json.field("state", domain.state)
            json.field("stateReason", domain.stateReason)
            json.field("tags") { json in json.stringMap(domain.tags) }
            json.field("uuid", domain.uuid)
            json.field("vcpus", domain.vcpus)
            json.field("virtType", domain.virtType)
            json.field("xmlDigest", domain.xmlDigest)
        }
    }

    private mutating func disk(_ disk: ObservedDisk) {
        object { json in
            json.field("bootOrder", disk.bootOrder)
            json.field("bus", disk.bus)
            json.field("cache", disk.cache)
            json.field("device", disk.device)
            json.field("format", disk.format)
            json.field("path", disk.path)
            json.field("pool", disk.pool)
            json.field("readOnly", disk.readOnly)
            json.field("shareable", disk.shareable)
            json.field("sourceType", disk.sourceType)
            json.field("target", disk.target)
            json.field("transient", disk.transient)
            json.field("volume", disk.volume)
        }
    }

    private mutating func nic(_ nic: ObservedNIC) {
        object { json in
            json.field("bridge", nic.bridge)
            json.field("mac", nic.mac)
            json.field("model", nic.model)
            json.field("network", nic.network)
            json.field("target", nic.target)
            json.field("type", nic.type)
        }
    }

    // MARK: Containers and scalars

    /// An object of strings, keys in UTF-8 order.
    private mutating func stringMap(_ map: [String: String]) {
        object { json in
            for (key, value) in map.sorted(by: { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }) {
                json.key(key)
                json.string(value)
            }
        }
    }

    private mutating func object(_ body: (inout ObservedJSONWriter) -> Void) {
        container(open: UInt8(ascii: "{"), close: UInt8(ascii: "}"), body)
    }

    private mutating func array<Element>(_ elements: [Element], _ write: (inout ObservedJSONWriter, Element) -> Void) {
        container(open: UInt8(ascii: "["), close: UInt8(ascii: "]")) { json in
            for element in elements {
                json.separate()
                write(&json, element)
            }
        }
    }

    /// `{` or `[`, a line break, the elements, a line break, the indented `}` or `]` (an empty
    /// container thus spans an empty line, as JSONEncoder writes it).
    private mutating func container(open: UInt8, close: UInt8, _ body: (inout ObservedJSONWriter) -> Void) {
        bytes.append(open)
        bytes.append(UInt8(ascii: "\n"))
        depth += 1
        first = true
        body(&self)
        depth -= 1
        bytes.append(UInt8(ascii: "\n"))
        indent()
        bytes.append(close)
        first = false
    }

    /// Starts an element: `,` and a line break after an earlier one, then the indentation.
    private mutating func separate() {
        if !first {
            bytes.append(UInt8(ascii: ","))
            bytes.append(UInt8(ascii: "\n"))
        }
        first = false
        indent()
    }

    private mutating func indent() {
        for _ in 0..<depth {
            bytes.append(UInt8(ascii: " "))
            bytes.append(UInt8(ascii: " "))
        }
    }

    private mutating func key(_ key: String) {
        separate()
        string(key)
        bytes.append(contentsOf: " : ".utf8)
    }

    private mutating func field(_ key: String, _ value: (inout ObservedJSONWriter) -> Void) {
        self.key(key)
        value(&self)
    }

    private mutating func field(_ key: String, _ value: String?) {
        guard let value else { return }
        self.key(key)
        string(value)
    }

    private mutating func field<Integer: BinaryInteger>(_ key: String, _ value: Integer?) {
        guard let value else { return }
        self.key(key)
        bytes.append(contentsOf: String(value).utf8)
    }

    private mutating func field(_ key: String, _ value: Bool) {
        self.key(key)
        bytes.append(contentsOf: (value ? "true" : "false").utf8)
    }

    /// A string in quotes, by the one JSON rule (`Escape.jsonString`): as JSONEncoder writes
    /// it, and DEL, C1, bidi and separator characters as `\uHHHH` too, which it leaves raw.
    private mutating func string(_ text: String) {
        Escape.appendJSONString(text, to: &bytes)
    }
}
