import Foundation

/// How a live migration's stream travels: the target's migration address (where the stream
/// goes), and `live.transport` (TLS, parallel connections, compression), checked against what
/// both hosts offer before anything moves. Pure: the planner and validation use it.

/// The rule for `hosts.NAME.migration.address` and `tlsName`: an IPv4 literal (dotted decimal,
/// no leading zeros), an IPv6 literal (without brackets or zone), or a DNS host name (labels of
/// letters, digits and `-`, at most 63 bytes each, 253 in all, the last label not all digits).
/// Nothing else: no port, user, path, query, percent-escape or space can reach the URI built
/// from it.
public enum MigrationAddress {
    /// Longest address accepted (a DNS name's limit).
    public static let maximumLength = 253

    /// Why `text` is not a usable address, or nil.
    public static func problem(_ text: String) -> String? {
        let bytes = Array(text.utf8)
        if bytes.isEmpty { return "empty" }
        if bytes.count > maximumLength { return "\(bytes.count) bytes (at most \(maximumLength))" }
        if bytes.contains(UInt8(ascii: ":")) {
            return isIPv6(text) ? nil : "not an IPv6 address (write it without brackets, port or zone)"
        }
        if bytes.allSatisfy({ isDigit($0) || $0 == UInt8(ascii: ".") }) {
            return isIPv4(bytes) ? nil : "not an IPv4 address (four numbers 0-255, no leading zeros)"
        }
        let labels = bytes.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        for label in labels {
            guard !label.isEmpty, label.count <= 63 else { return "not a host name (labels of 1 to 63 bytes)" }
            guard label.allSatisfy({ isDigit($0) || isLetter($0) || $0 == UInt8(ascii: "-") }) else {
                return "not an IP address or a host name (letters, digits, '-' and '.' only)"
            }
            if label.first == UInt8(ascii: "-") || label.last == UInt8(ascii: "-") {
                return "not a host name (a label starts or ends with '-')"
            }
        }
        if let last = labels.last, last.allSatisfy(isDigit) { return "not a host name (the last label is all digits)" }
        return nil
    }

    /// The migration URI for a valid address: `tcp://ADDR`, an IPv6 literal in brackets.
    public static func uri(_ address: String) -> String {
        address.utf8.contains(UInt8(ascii: ":")) ? "tcp://[\(address)]" : "tcp://\(address)"
    }

    private static func isDigit(_ b: UInt8) -> Bool { b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9") }
    private static func isLetter(_ b: UInt8) -> Bool {
        (b >= UInt8(ascii: "a") && b <= UInt8(ascii: "z")) || (b >= UInt8(ascii: "A") && b <= UInt8(ascii: "Z"))
    }

    private static func isIPv4(_ bytes: [UInt8]) -> Bool {
        let parts = bytes.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        guard parts.count == 4 else { return false }
        for part in parts {
            guard !part.isEmpty, part.count <= 3, part.allSatisfy(isDigit) else { return false }
            if part.count > 1 && part.first == UInt8(ascii: "0") { return false }
            var value = 0
            for b in part { value = value * 10 + Int(b - UInt8(ascii: "0")) }
            if value > 255 { return false }
        }
        return true
    }

    private static func isIPv6(_ text: String) -> Bool {
        guard text.utf8.count <= 45,
              text.utf8.allSatisfy({ isDigit($0) || isLetter($0) || $0 == UInt8(ascii: ":") || $0 == UInt8(ascii: ".") })
        else { return false }
        var storage = in6_addr()
        return inet_pton(AF_INET6, text, &storage) == 1
    }
}

/// A libvirt or QEMU version, `major.minor.micro`, as observation records it.
struct SoftwareVersion: Comparable, Sendable, CustomStringConvertible {
    let major: Int, minor: Int, micro: Int

    init(_ major: Int, _ minor: Int, _ micro: Int = 0) { self.major = major; self.minor = minor; self.micro = micro }

    /// `"9.0.0"`; nil for anything else (bounded: each part at most 6 digits).
    init?(_ text: String?) {
        guard let text else { return nil }
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3 else { return nil }
        var numbers: [Int] = []
        for part in parts {
            guard !part.isEmpty, part.count <= 6, part.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }), let n = Int(part) else { return nil }
            numbers.append(n)
        }
        self.init(numbers[0], numbers[1], numbers[2])
    }

    static func < (a: Self, b: Self) -> Bool { (a.major, a.minor, a.micro) < (b.major, b.minor, b.micro) }
    var description: String { "\(major).\(minor).\(micro)" }
}

/// What the hosts' software must be for each transport option: libvirt's QEMU driver passes
/// the option on (libvirt's NEWS), QEMU implements it.
enum TransportRequirement {
    /// `VIR_MIGRATE_PARALLEL` (libvirt 5.2); multifd stable in QEMU 4.0.
    static let parallel = (libvirt: SoftwareVersion(5, 2), qemu: SoftwareVersion(4, 0))
    /// zlib and zstd per multifd connection: libvirt 9.4 (9.0 says "Unsupported compression
    /// method 'zstd'"), QEMU 5.0.
    static let multifdCompression = (libvirt: SoftwareVersion(9, 4), qemu: SoftwareVersion(5, 0))
    /// QEMU dropped the `compress` capability (`mt`) in 9.1.
    static let mtRemoved = SoftwareVersion(9, 1)
}

extension TransportSpec {
    /// Why this transport cannot be combined as stated, whatever the hosts: nil when it can.
    /// QEMU 7.2 refuses `mt` with multifd ("Multifd is not compatible with compress").
    public var combinationProblem: String? {
        if compression.needsParallel && parallelConnections < 2 {
            return "compression \(compression.rawValue) compresses each parallel connection: set parallelConnections to 2 or more"
        }
        if compression == .mt && parallelConnections >= 2 {
            return "compression mt cannot be combined with parallel connections (QEMU: \"Multifd is not compatible with compress\"); use zlib or zstd, or parallelConnections: 1"
        }
        if let level = compressionLevel {
            guard let levels = compression.levels else {
                return "compression \(compression.rawValue) takes no level"
            }
            if !levels.contains(level) {
                return "compression level for \(compression.rawValue) must be between \(levels.lowerBound) and \(levels.upperBound), found \(level)"
            }
        }
        return nil
    }

    /// What this transport asks that QEMU accepts but does not do: nil when nothing. QEMU
    /// (7.2 and later) sends a page over the parallel connections before it would look in the
    /// XBZRLE cache, so `xbzrle` with multifd compresses nothing (libvirt and QEMU accept it).
    public var combinationWarning: String? {
        if compression == .xbzrle && parallelConnections >= 2 {
            return "compression xbzrle has no effect with parallel connections: QEMU sends the pages over them without XBZRLE; use zlib or zstd with parallel connections, or parallelConnections: 1"
        }
        return nil
    }

    /// `tls, 4 connections, compression zstd level 3`; empty when plain.
    public var phrase: String {
        var parts: [String] = []
        if tls { parts.append("TLS") }
        if parallelConnections > 1 { parts.append("\(parallelConnections) connections") }
        if compression != .none {
            parts.append("compression \(compression.rawValue)" + (compressionLevel.map { " level \($0)" } ?? ""))
        }
        return parts.joined(separator: ", ")
    }
}

extension HostInfo {
    /// The name the host's migration TLS certificate is issued for: `migration.tlsName`, else
    /// the host part of its URI (what a `qemu+tls` connection to it checks as well).
    var migrationCertificateName: String? {
        if let name = migration.tlsName { return name }
        guard let host = uriHost else { return nil }
        return host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
    }
}

/// Why `transport` cannot carry a live migration from `source` to `target`: TLS not declared
/// on either host, or software that lacks an option (versions as observed; a host whose
/// versions are not known, e.g. in an older snapshot, is not refused here and libvirt checks at
/// the move, which then fails cleanly before the guest leaves its source).
func transportRefusals(_ transport: TransportSpec, from source: HostInfo, to target: HostInfo) -> [Reason] {
    var r: [Reason] = []
    if transport.tls {
        for host in [source, target] where !host.migration.tls {
            r.append(Reason(.liveTransportTLS, "\(host.name) does not offer migration TLS (hosts.\(host.name).migration.tls is not true): the stream would be plaintext"))
        }
    }
    for host in [source, target] {
        let libvirt = SoftwareVersion(host.libvirtVersion)
        let qemu = SoftwareVersion(host.hypervisorVersion)
        func below(_ need: (libvirt: SoftwareVersion, qemu: SoftwareVersion)) -> String? {
            if let libvirt, libvirt < need.libvirt { return "libvirt \(libvirt)" }
            if let qemu, qemu < need.qemu { return "QEMU \(qemu)" }
            return nil
        }
        if transport.parallelConnections > 1, let has = below(TransportRequirement.parallel) {
            r.append(Reason(.liveTransportParallel, "\(host.name) runs \(has): parallel migration connections need libvirt \(TransportRequirement.parallel.libvirt) and QEMU \(TransportRequirement.parallel.qemu)"))
        }
        switch transport.compression {
        case .zlib, .zstd:
            if let has = below(TransportRequirement.multifdCompression) {
                r.append(Reason(.liveTransportCompression, "\(host.name) runs \(has): \(transport.compression.rawValue) compression of parallel connections needs libvirt \(TransportRequirement.multifdCompression.libvirt) and QEMU \(TransportRequirement.multifdCompression.qemu)"))
            }
        case .mt:
            if let qemu, qemu >= TransportRequirement.mtRemoved {
                r.append(Reason(.liveTransportCompression, "\(host.name) runs QEMU \(qemu), which has no mt compression (removed in \(TransportRequirement.mtRemoved)): use zlib or zstd with parallel connections"))
            }
        case .none, .xbzrle:
            break
        }
    }
    return r
}
