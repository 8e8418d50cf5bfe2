/// The snapshot's JSON (`observe -o json`), written field by field: byte for byte what
/// Foundation's `JSONEncoder` writes for an `ObservedFleet` with `[.prettyPrinted, .sortedKeys,
/// .withoutEscapingSlashes]` once `Escape.hardenedJSON` has escaped DEL, C1, bidi and separator
/// characters: two-space indent, `"key" : value`, keys in UTF-8 byte order, nil fields left out,
/// an empty container as `[`, an empty line, `]`. Every string goes through
/// `Escape.appendJSONString`, the one JSON string rule.
///
/// Why by hand: through `Codable` (an `Encoder` that kept scalars as bytes, sorted each kind of
/// object's keys once) a snapshot of 1,000 domains took about 10 ms, most of it the generic
/// calls of the synthesized `encode(to:)`; this writer takes under 2 ms (`bench/observe`).
/// It writes into a buffer of its own (`Buffer`): through `[UInt8].append(contentsOf:)` every
/// key, indent and separator cost a generic call, and the snapshot of 1,000 domains took 31
/// million instructions (callgrind), 19 with the buffer.
/// The price is that a new field of an observed type must be written here too:
/// `SnapshotJSONTests` hold this writer to JSONEncoder's bytes for a fleet that sets every
/// field of every type (and checks by reflection that it does), so a field left out fails.
/// The keys of each type are listed below in their sorted order; the test catches a slip.
struct SnapshotJSONWriter {
    /// The piece being written.
    private var bytes: Buffer
    /// The pieces written before it.
    private(set) var pieces: [[UInt8]] = []
    private var depth = 0
    /// Whether the container being written has no element yet.
    private var first = true
    /// A piece is ended after the element that brings it to this size.
    private static let pieceSize = 1 << 16

    private init(buffer: Buffer) {
        bytes = buffer
    }

    /// The JSON of `fleet` (no final newline) in consecutive pieces of some 64 KiB, each ending
    /// after a whole element: a megabyte snapshot is neither grown by doubling nor copied.
    /// `renderedDomains`: hosts' `domains` arrays written beforehand (`domains(of:)`), by host
    /// name; a host whose array is not there, or holds another number of domains, is written
    /// here.
    static func pieces(of fleet: ObservedFleet, renderedDomains: [String: RenderedDomains] = [:]) -> [[UInt8]] {
        let buffer = Buffer(capacity: pieceSize + pieceSize / 2)
        defer { buffer.free() }
        var writer = SnapshotJSONWriter(buffer: buffer)
        writer.renderedDomains = renderedDomains
        writer.fleet(fleet)
        writer.finishPiece()
        return writer.pieces
    }

    /// `host`'s `domains` array as `pieces(of:)` writes it inside the fleet: at the depth of a
    /// host's keys, after `"domains" : `.
    static func domains(of host: ObservedHost) -> RenderedDomains {
        let buffer = Buffer(capacity: pieceSize + pieceSize / 2)
        defer { buffer.free() }
        var writer = SnapshotJSONWriter(buffer: buffer)
        writer.depth = 3
        writer.array(host.domains) { $0.domain($1) }
        writer.finishPiece()
        return RenderedDomains(domains: host.domains.count, pieces: writer.pieces)
    }

    /// Domains arrays written beforehand, by host name.
    private var renderedDomains: [String: RenderedDomains] = [:]

    // MARK: The types, keys in UTF-8 byte order

    private mutating func fleet(_ fleet: ObservedFleet) {
        open("{")
        key("apiVersion"); string(fleet.apiVersion)
        key("hosts"); array(fleet.hosts) { $0.host($1) }
        key("kind"); string(fleet.kind)
        close("}")
    }

    private mutating func host(_ host: ObservedHost) {
        open("{")
        key("capacity"); capacity(host.capacity)
        if let value = host.cpuModel { key("cpuModel"); string(value) }
        if let value = host.cpuVendor { key("cpuVendor"); string(value) }
        key("domains")
        if let rendered = renderedDomains[host.name], rendered.domains == host.domains.count {
            finishPiece()
            pieces.append(contentsOf: rendered.pieces)
            first = false
        } else {
            array(host.domains) { $0.domain($1) }
        }
        if let value = host.error { key("error"); string(value) }
        if let value = host.faultDomain { key("faultDomain"); string(value) }
        if let value = host.freeMemoryMiB { key("freeMemoryMiB"); integer(value) }
        if let value = host.hostUUID { key("hostUUID"); string(value) }
        if let value = host.hypervisorVersion { key("hypervisorVersion"); string(value) }
        if let value = host.libvirtVersion { key("libvirtVersion"); string(value) }
        key("name"); string(host.name)
        key("networks"); array(host.networks) { $0.network($1) }
        if let value = host.offeredCPUModel { key("offeredCPUModel"); string(value) }
        key("platformChecks"); array(host.platformChecks) { $0.platformCheck($1) }
        key("pools"); array(host.pools) { $0.pool($1) }
        key("reachable"); boolean(host.reachable)
        key("uri"); string(host.uri)
        close("}")
    }

    private mutating func capacity(_ capacity: ObservedCapacity) {
        open("{")
        key("memoryMiB"); integer(capacity.memoryMiB)
        key("vcpus"); integer(capacity.vcpus)
        close("}")
    }

    private mutating func platformCheck(_ check: ObservedPlatformCheck) {
        open("{")
        if let value = check.detail { key("detail"); string(value) }
        key("platform"); string(check.platform)
        if let value = check.reason { key("reason"); string(value) }
        close("}")
    }

    private mutating func pool(_ pool: ObservedPool) {
        open("{")
        key("active"); boolean(pool.active)
        if let value = pool.availableBytes { key("availableBytes"); integer(value) }
        if let value = pool.capacityBytes { key("capacityBytes"); integer(value) }
        key("name"); string(pool.name)
        if let value = pool.path { key("path"); string(value) }
        key("type"); string(pool.type)
        key("volumes"); array(pool.volumes) { $0.volume($1) }
        close("}")
    }

    private mutating func volume(_ volume: ObservedVolume) {
        open("{")
        key("allocationBytes"); integer(volume.allocationBytes)
        if let value = volume.backingPath { key("backingPath"); string(value) }
        key("capacityBytes"); integer(volume.capacityBytes)
        if let value = volume.format { key("format"); string(value) }
        key("name"); string(volume.name)
        if let value = volume.path { key("path"); string(value) }
        close("}")
    }

    private mutating func network(_ network: ObservedNetwork) {
        open("{")
        key("active"); boolean(network.active)
        if let value = network.bridge { key("bridge"); string(value) }
        key("name"); string(network.name)
        close("}")
    }

    private mutating func domain(_ domain: ObservedDomain) {
        open("{")
        if let value = domain.arch { key("arch"); string(value) }
        key("autostart"); boolean(domain.autostart)
        if let value = domain.configMemoryMiB { key("configMemoryMiB"); integer(value) }
        if let value = domain.configVcpus { key("configVcpus"); integer(value) }
        key("cpuFeatures"); dictionary(domain.cpuFeatures)
        if let value = domain.cpuMode { key("cpuMode"); string(value) }
        if let value = domain.cpuModel { key("cpuModel"); string(value) }
        key("disks"); array(domain.disks) { $0.disk($1) }
        if let value = domain.emulator { key("emulator"); string(value) }
        if let value = domain.firmware { key("firmware"); string(value) }
        if let value = domain.fleet { key("fleet"); string(value) }
        key("hasTPM"); boolean(domain.hasTPM)
        key("hasVirtiofs"); boolean(domain.hasVirtiofs)
        key("hostdevs"); array(domain.hostdevs) { $0.hostdev($1) }
        if let value = domain.machine { key("machine"); string(value) }
        key("maxMemoryMiB"); integer(domain.maxMemoryMiB)
        key("maxVcpus"); integer(domain.maxVcpus)
        if let value = domain.memoryInUseMiB { key("memoryInUseMiB"); integer(value) }
        key("memoryMiB"); integer(domain.memoryMiB)
        if let value = domain.memoryResidentMiB { key("memoryResidentMiB"); integer(value) }
        key("name"); string(domain.name)
        key("nics"); array(domain.nics) { $0.nic($1) }
        if let value = domain.nvram { key("nvram"); string(value) }
        key("osBoot"); array(domain.osBoot) { $0.string($1) }
        key("persistent"); boolean(domain.persistent)
        key("snapshotCount"); integer(domain.snapshotCount)
        key("state"); string(domain.state)
        if let value = domain.stateReason { key("stateReason"); string(value) }
        key("tags"); dictionary(domain.tags)
        if let value = domain.tpmBackend { key("tpmBackend"); string(value) }
        key("uuid"); string(domain.uuid)
        key("vcpus"); integer(domain.vcpus)
        if let value = domain.virtType { key("virtType"); string(value) }
        key("xmlDigest"); string(domain.xmlDigest)
        close("}")
    }

    private mutating func disk(_ disk: ObservedDisk) {
        open("{")
        if let value = disk.bootOrder { key("bootOrder"); integer(value) }
        if let value = disk.bus { key("bus"); string(value) }
        if let value = disk.cache { key("cache"); string(value) }
        key("device"); string(disk.device)
        if let value = disk.format { key("format"); string(value) }
        if let value = disk.path { key("path"); string(value) }
        if let value = disk.pool { key("pool"); string(value) }
        key("readOnly"); boolean(disk.readOnly)
        key("shareable"); boolean(disk.shareable)
        key("sourceType"); string(disk.sourceType)
        key("target"); string(disk.target)
        key("transient"); boolean(disk.transient)
        if let value = disk.volume { key("volume"); string(value) }
        close("}")
    }

    private mutating func nic(_ nic: ObservedNIC) {
        open("{")
        if let value = nic.bridge { key("bridge"); string(value) }
        if let value = nic.mac { key("mac"); string(value) }
        if let value = nic.model { key("model"); string(value) }
        if let value = nic.network { key("network"); string(value) }
        if let value = nic.target { key("target"); string(value) }
        key("type"); string(nic.type)
        close("}")
    }

    private mutating func hostdev(_ hostdev: ObservedHostdev) {
        open("{")
        key("address"); string(hostdev.address)
        key("type"); string(hostdev.type)
        close("}")
    }

    // MARK: JSON

    /// `{` or `[` and a line break; elements follow, one a line (`key`, `element`).
    private mutating func open(_ bracket: Unicode.Scalar) {
        bytes.append(UInt8(ascii: bracket), UInt8(ascii: "\n"))
        depth += 1
        first = true
    }

    /// A line break and the indented `}` or `]` (an empty container thus spans an empty line,
    /// as JSONEncoder writes it). The enclosing container's next element is not its first.
    private mutating func close(_ bracket: Unicode.Scalar) {
        depth -= 1
        bytes.append(UInt8(ascii: "\n"))
        bytes.appendSpaces(2 * depth)
        bytes.append(UInt8(ascii: bracket))
        first = false
        if bytes.count >= Self.pieceSize { finishPiece() }
    }

    /// The separator before an element of the container being written, and its indent.
    private mutating func element() {
        if !first { bytes.append(UInt8(ascii: ","), UInt8(ascii: "\n")) }
        first = false
        bytes.appendSpaces(2 * depth)
    }

    /// An object's key (ASCII, nothing to escape: the field names above) and ` : `.
    private mutating func key(_ name: StaticString) {
        element()
        bytes.append(UInt8(ascii: "\""))
        bytes.append(name.utf8Start, count: name.utf8CodeUnitCount)
        bytes.append(StaticString(#"" : "#))
    }

    private mutating func string(_ text: String) {
        bytes.appendJSONString(text)
    }

    private mutating func boolean(_ flag: Bool) {
        bytes.append(flag ? "true" : "false")
    }

    /// A decimal integer, as `String(value)` writes it.
    private mutating func integer<Value: SignedInteger & FixedWidthInteger>(_ value: Value) {
        bytes.appendDecimal(Int64(value))
    }

    private mutating func array<Element>(_ elements: [Element], _ write: (inout SnapshotJSONWriter, Element) -> Void) {
        open("[")
        for element in elements {
            self.element()
            write(&self, element)
            if bytes.count >= Self.pieceSize { finishPiece() }
        }
        close("]")
    }

    /// A string → string map as an object: keys in UTF-8 byte order, escaped like any string.
    private mutating func dictionary(_ entries: [String: String]) {
        open("{")
        for (name, value) in entries.sorted(by: { utf8Precedes($0.key, $1.key) }) {
            element()
            bytes.appendJSONString(name)
            bytes.append(StaticString(" : "))
            string(value)
        }
        close("}")
    }

    /// Ends the piece being written (when it has anything) and starts the next.
    private mutating func finishPiece() {
        guard bytes.count > 0 else { return }
        pieces.append(bytes.take())
    }

    /// The bytes of the piece being written, in memory of the writer's own: appending costs a
    /// bounds check and a copy, not a generic call on an array that may be shared. Freed by
    /// whoever made it (`pieces(of:)`), once the writer is done.
    private struct Buffer {
        private var base: UnsafeMutablePointer<UInt8>
        private var capacity: Int
        private(set) var count = 0

        init(capacity: Int) {
            base = .allocate(capacity: capacity)
            self.capacity = capacity
        }

        func free() { base.deallocate() }

        /// The bytes written, as an array; the buffer is empty again.
        mutating func take() -> [UInt8] {
            defer { count = 0 }
            return Array(UnsafeBufferPointer(start: base, count: count))
        }

        /// Room for `more` bytes: a larger buffer when a value outgrows this one.
        private mutating func reserve(_ more: Int) {
            guard count + more > capacity else { return }
            let grown = max(2 * capacity, count + more)
            let larger = UnsafeMutablePointer<UInt8>.allocate(capacity: grown)
            larger.update(from: base, count: count)
            base.deallocate()
            base = larger
            capacity = grown
        }

        mutating func append(_ byte: UInt8) {
            reserve(1)
            base[count] = byte
            count += 1
        }

        mutating func append(_ a: UInt8, _ b: UInt8) {
            reserve(2)
            base[count] = a
            base[count + 1] = b
            count += 2
        }

        mutating func append(_ bytes: UnsafePointer<UInt8>, count more: Int) {
            reserve(more)
            (base + count).update(from: bytes, count: more)
            count += more
        }

        mutating func append(_ text: StaticString) {
            append(text.utf8Start, count: text.utf8CodeUnitCount)
        }

        mutating func appendSpaces(_ spaces: Int) {
            reserve(spaces)
            (base + count).initialize(repeating: UInt8(ascii: " "), count: spaces)
            count += spaces
        }

        /// `value` in decimal, as `String(value)` writes it.
        mutating func appendDecimal(_ value: Int64) {
            reserve(20)
            var magnitude = value.magnitude
            var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)
            let written = withUnsafeMutableBytes(of: &digits) { scratch in
                var end = scratch.count
                repeat {
                    end -= 1
                    scratch[end] = UInt8(ascii: "0") + UInt8(magnitude % 10)
                    magnitude /= 10
                } while magnitude > 0
                if value < 0 { end -= 1; scratch[end] = UInt8(ascii: "-") }
                let length = scratch.count - end
                (base + count).update(from: scratch.baseAddress!.assumingMemoryBound(to: UInt8.self) + end, count: length)
                return length
            }
            count += written
        }

        /// A JSON string: `Escape.appendJSONString`'s rule. Plain ASCII (nearly every value)
        /// is copied as it is; anything else goes through that function.
        mutating func appendJSONString(_ text: String) {
            var text = text
            let plain: Bool = text.withUTF8 { utf8 in
                guard Escape.isPlainJSON(utf8) else { return false }
                reserve(utf8.count + 2)
                base[count] = UInt8(ascii: "\"")
                if let start = utf8.baseAddress { (base + count + 1).update(from: start, count: utf8.count) }
                base[count + 1 + utf8.count] = UInt8(ascii: "\"")
                count += utf8.count + 2
                return true
            }
            guard !plain else { return }
            var escaped: [UInt8] = []
            Escape.appendJSONString(text, to: &escaped)
            escaped.withUnsafeBufferPointer { append($0.baseAddress!, count: $0.count) }
        }
    }
}

/// Whether `a` sorts before `b` by their UTF-8 bytes (JSONEncoder's `.sortedKeys` order).
private func utf8Precedes(_ a: String, _ b: String) -> Bool {
    a.utf8.lexicographicallyPrecedes(b.utf8)
}

/// A host's `domains` array in the snapshot's JSON, written as soon as the host was observed,
/// while the others still were (`observe -o json`): the fleet's JSON then splices it in.
public struct RenderedDomains: Sendable {
    /// How many domains it holds (a host whose count differs is written afresh).
    let domains: Int
    let pieces: [[UInt8]]
}
