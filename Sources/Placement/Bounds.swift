/// The ranges every number of a placement file must fall in, and the rules every name and free
/// string must follow: what libvirt, QEMU and real hosts allow, and small enough that no sum or
/// product the planner and the engine make of them can overflow (docs/reference.md, "Bounds and
/// name rules"; schemas/placement.schema.json carries the same minimum and maximum values).
public enum SpecBounds {
    /// An instance's vCPUs: KVM_MAX_VCPUS is 4096 on x86-64 (Linux 6.x), and QEMU's `-smp`
    /// maxima are at most that.
    public static let vcpus = 1...4096
    /// An instance's memory, MiB: up to 16 TiB.
    public static let memoryMiB = 1...16_777_216
    /// A host's CPUs for placement: Linux's NR_CPUS is at most 8192.
    public static let hostVCPUs = 1...8192
    /// A host's memory for placement, MiB: up to 64 TiB.
    public static let hostMemoryMiB = 1...67_108_864
    /// `policy.cpuOvercommit`: greater than 0, at most 64, and finite.
    public static let cpuOvercommitMaximum = 64.0
    public static let parallelTotal = 1...1024
    public static let parallelPerHost = 1...64
    /// `policy.maxMovesPerRun`; 0 = unlimited.
    public static let maxMovesPerRun = 0...100_000
    /// `policy.shutdownTimeoutSeconds`: up to a week.
    public static let shutdownTimeoutSeconds = 0...604_800
    /// `live.maxDowntimeMs`: QEMU refuses a `downtime-limit` past 2,000 s.
    public static let maxDowntimeMs = 0...2_000_000
    /// `live.bandwidthMiBps`; 0 = unlimited; up to 1 TiB/s.
    public static let bandwidthMiBps = 0...1_048_576
    /// `live.timeoutSeconds`: up to a week.
    public static let timeoutSeconds = 1...604_800
    /// `live.stallSeconds`: at least 1 s (two readings of the job), at most a day.
    public static let stallSeconds = 1...86_400
    /// `live.downtimeSteps`: 1 (no ramp) to 100.
    public static let downtimeSteps = 1...100
    /// `live.transport.parallelConnections`: QEMU's `multifd-channels` is 1 to 255.
    public static let parallelConnections = 1...255

    /// Names: instances (libvirt domains), hosts, profiles, the fleet, fault domains, spread
    /// groups, device keys, NIC models: at most this many bytes.
    public static let nameLength = 64
    /// Pool, volume and network names: at most this many bytes.
    public static let objectNameLength = 255
    /// Bridge names: Linux interface names are at most 15 bytes.
    public static let bridgeNameLength = 15
    /// Tag and label keys: at most this many bytes.
    public static let tagKeyLength = 128
    /// Tag and label values: at most this many bytes.
    public static let tagValueLength = 1024
    /// Tags of one instance or profile, labels of one host.
    public static let tagCount = 256
}

/// The kinds of string a placement file holds, each with one rule (`problem(_:)`).
public enum NameKind: Sendable {
    /// Instance (domain), host, profile and fleet names, fault domains, spread groups, device
    /// keys, NIC models: letters, digits, `.`, `_`, `+`, `-`, starting with a letter, digit or
    /// `_`, at most 64 bytes: what libvirt and a shell both take without quoting.
    case name
    /// Pool, volume and network names (libvirt objects that live in their own XML and, for
    /// volumes, as a file in a directory): 1 to 255 bytes, no `/`, not `.` or `..`, no leading
    /// `-`, no control character, no white space at either end, only characters XML 1.0 holds.
    case object
    /// Host bridges: Linux interface names: 1 to 15 bytes of letters, digits, `.`, `_`, `-`,
    /// not starting with `-` or `.`.
    case bridge
    /// Tag and label keys: 1 to 128 bytes; tag and label values: up to 1024 bytes; neither
    /// with a control character (C0 including tab, CR and LF; DEL; C1), a character XML 1.0
    /// cannot hold, or white space at either end.
    case tagKey
    case tagValue

    /// A short statement of the rule, for messages.
    public var rule: String {
        switch self {
        case .name: "letters, digits, '.', '_', '+', '-'; starting with a letter, digit or '_'; at most \(SpecBounds.nameLength) bytes"
        case .object: "1 to \(SpecBounds.objectNameLength) bytes; no '/', control character or white space at either end; not '.', '..' or starting with '-'"
        case .bridge: "1 to \(SpecBounds.bridgeNameLength) bytes of letters, digits, '.', '_', '-'; not starting with '-' or '.'"
        case .tagKey: "1 to \(SpecBounds.tagKeyLength) bytes; no control character (tab, CR, LF, …) or white space at either end"
        case .tagValue: "at most \(SpecBounds.tagValueLength) bytes; no control character (tab, CR, LF, …) or white space at either end"
        }
    }

    /// Whether `text` follows this kind's rule.
    public func allows(_ text: String) -> Bool {
        switch self {
        case .name: return isValidName(text)
        case .bridge:
            guard !text.isEmpty, text.utf8.count <= SpecBounds.bridgeNameLength,
                  let first = text.utf8.first, first != UInt8(ascii: "-"), first != UInt8(ascii: ".") else { return false }
            return text.utf8.allSatisfy { isPlainNameByte($0) && $0 != UInt8(ascii: "+") }
        case .object:
            guard !text.isEmpty, text.utf8.count <= SpecBounds.objectNameLength, text != ".", text != "..",
                  !text.hasPrefix("-"), !text.utf8.contains(UInt8(ascii: "/")) else { return false }
            return isStorableText(text)
        case .tagKey:
            return !text.isEmpty && text.utf8.count <= SpecBounds.tagKeyLength && isStorableText(text)
        case .tagValue:
            return text.utf8.count <= SpecBounds.tagValueLength && (text.isEmpty || isStorableText(text))
        }
    }

    /// Why `text` breaks the rule (nil when it does not), naming it as `what`; the text is
    /// shown escaped and cut short.
    public func problem(_ text: String, what: String) -> String? {
        allows(text) ? nil : "invalid \(what) \(quotedForMessage(text)) (\(rule))"
    }
}

/// Letters, digits, `.`, `_`, `+`, `-`.
func isPlainNameByte(_ b: UInt8) -> Bool {
    (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A)
        || b == 0x5F || b == 0x2E || b == 0x2B || b == 0x2D
}

/// Domain, host, profile and fleet names: what libvirt and a shell both take without quoting.
func isValidName(_ name: String) -> Bool {
    guard !name.isEmpty, name.utf8.count <= SpecBounds.nameLength else { return false }
    for (i, b) in name.utf8.enumerated() {
        let alnum = (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A)
        if alnum || b == 0x5F { continue }
        if i > 0 && (b == 0x2E || b == 0x2B || b == 0x2D) { continue }
        return false
    }
    return true
}

/// Whether libvirt stores `text` (a tag, a label, an object name) and gives it back unchanged:
/// no C0 control (tab, CR and LF included), DEL or C1 control, no character XML 1.0 cannot hold
/// (U+FFFE, U+FFFF), no white space at either end.
///
/// Checked on libvirt 9.0's test driver (define, then dumpxml): a raw tab in an attribute comes
/// back as a space and a raw CR in text as LF (XML's attribute-value and end-of-line
/// normalisation), which would make the instance drift on every run; leading and trailing
/// spaces survive there, but a value of white space only is dropped by parsers that remove
/// blank text nodes, so white space at either end is refused too.
func isStorableText(_ text: String) -> Bool {
    // The common case: printable ASCII without white space at the ends.
    if text.utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }) {
        return text.utf8.first != 0x20 && text.utf8.last != 0x20
    }
    for scalar in text.unicodeScalars {
        let v = scalar.value
        if v < 0x20 || (0x7F...0x9F).contains(v) || v == 0xFFFE || v == 0xFFFF { return false }
    }
    guard let first = text.unicodeScalars.first, let last = text.unicodeScalars.last else { return true }
    return !first.properties.isWhitespace && !last.properties.isWhitespace
}

/// `'text'` for a message (`shown` between quotes).
func quotedForMessage(_ text: String) -> String {
    "'" + shown(text) + "'"
}

/// A value as a message quotes it, for every reader's diagnostics: at most 80 characters;
/// tab, LF and CR as `\t`, `\n`, `\r`; other controls and U+FFFE/U+FFFF as `\u{…}`; `'` and
/// `\` escaped, so that the quoted text is unambiguous.
func shown(_ text: String) -> String {
    var out = ""
    var count = 0
    for scalar in text.unicodeScalars {
        count += 1
        if count > 80 { out += "…"; break }
        let v = scalar.value
        if v < 0x20 || (0x7F...0x9F).contains(v) || v == 0xFFFE || v == 0xFFFF || v == 0x27 || v == 0x5C {
            switch v {
            case 0x09: out += "\\t"
            case 0x0A: out += "\\n"
            case 0x0D: out += "\\r"
            case 0x27: out += "\\'"
            case 0x5C: out += "\\\\"
            default: out += "\\u{\(String(v, radix: 16))}"
            }
        } else {
            out.unicodeScalars.append(scalar)
        }
    }
    return out
}
