/// What saved plans and snapshots share as input from outside: the bounds on their numbers,
/// collections and strings, the rules for names and identifiers, and a collector of located
/// findings. Both are read through `YAMLNodeDecoder` (JSON is YAML to it), so unknown keys,
/// wrong types and missing keys come back located; the checks here add what types cannot say.
import YAMLDecoding

/// Bounds on what a saved plan or a snapshot may hold: generous for any real fleet, small
/// enough that no sum of them overflows and no input makes the planner or the executor work
/// without end. docs/security.md lists them.
public enum InputBounds {
    /// The largest plan or snapshot file read, in bytes.
    public static let maxFileBytes = 64 * 1024 * 1024
    /// Hosts in a plan or a snapshot.
    public static let maxHosts = 10_000
    /// Domains in a snapshot (all hosts together); actions, unmanaged domains and basis
    /// entries in a plan.
    public static let maxDomains = 100_000
    /// Steps of one action (or of its fallback).
    public static let maxSteps = 1_000
    /// Reasons of one action.
    public static let maxReasons = 1_000
    /// Notes in a plan.
    public static let maxNotes = 1_000_000
    /// Tags on one domain or in one metadata step.
    public static let maxTags = 1_000
    /// Disks, NICs, host devices of one domain; disks copied by one live migration.
    public static let maxDevices = 1_024
    /// Pools, networks on one host.
    public static let maxPools = 10_000
    public static let maxNetworks = 10_000
    /// Volumes in a snapshot (all pools of all hosts together).
    public static let maxVolumes = 1_000_000
    /// Bytes of a name or identifier from libvirt (domain, pool, volume, network, target, model…).
    public static let maxNameBytes = 1_024
    /// Bytes of a path.
    public static let maxPathBytes = 4_096
    /// Bytes of free text (a reason's or note's message, a host's error).
    public static let maxTextBytes = 65_536
    /// Bytes of a tag's key and of its value.
    public static let maxTagKeyBytes = 256
    public static let maxTagValueBytes = 4_096
    /// vCPUs of a domain or a host.
    public static let maxVcpus = 16_384
    /// Memory of a domain or a host, MiB (64 TiB).
    public static let maxMemoryMiB = 64 * 1024 * 1024
    /// Bytes of a pool or a volume (1 EiB).
    public static let maxStorageBytes: Int64 = 1 << 60
    /// Snapshots of one domain.
    public static let maxSnapshots = 1_000_000
    /// Boot order of one disk.
    public static let maxBootOrder = 65_535
    /// Platform checks of one host (one per distinct guest platform in the fleet).
    public static let maxPlatformChecks = 10_000
    /// CPU features of one domain; `<os><boot>` entries of one domain.
    public static let maxCPUFeatures = 1_024
    public static let maxBootDevices = 16
    /// Shutdown and live-migration timeouts, seconds (7 days).
    public static let maxTimeoutSeconds = 7 * 86_400
    /// A live migration's maximum downtime, ms (1 hour).
    public static let maxDowntimeMs = 3_600_000
    /// A live migration's bandwidth, MiB/s.
    public static let maxBandwidthMiBps = 1 << 20
    /// A live migration's stall window, seconds (a day), and its downtime steps.
    public static let maxStallSeconds = 86_400
    public static let maxDowntimeSteps = 100
    /// `parallel.total` and `parallel.perHost`.
    public static let maxParallel = 10_000
}

/// A key of a located path: a mapping key or a sequence index.
struct PathKey: CodingKey {
    var stringValue: String
    var intValue: Int?
    init(stringValue: String) { self.stringValue = stringValue; self.intValue = nil }
    init(intValue: Int) { self.stringValue = "\(intValue)"; self.intValue = intValue }
    init(_ name: String) { self.init(stringValue: name) }
}

/// A path into a plan or a snapshot, built as the checks walk it.
struct InputPath {
    var keys: [PathKey] = []
    func callAsFunction(_ name: String) -> InputPath { var p = self; p.keys.append(PathKey(name)); return p }
    subscript(_ index: Int) -> InputPath { var p = self; p.keys.append(PathKey(intValue: index)); return p }

    /// As diagnostics show it: `actions[3].steps[1].timeoutSeconds`.
    var text: String {
        var result = ""
        for key in keys {
            if let index = key.intValue {
                result += "[\(index)]"
            } else {
                if !result.isEmpty { result += "." }
                result += key.stringValue
            }
        }
        return result
    }
}

/// Collects findings with the location of the node each path names.
struct InputFindings {
    let root: YAMLNode
    let file: String
    var diagnostics: [Diagnostic] = []

    mutating func error(_ path: InputPath, _ message: String) {
        let node = root.deepestNode(at: path.keys)
        diagnostics.append(Diagnostic(.error, file: file, line: node.line, column: node.column,
                                      path: path.text, message: message))
    }

    /// `value` within `range`.
    mutating func number<T: BinaryInteger>(_ value: T, _ range: ClosedRange<T>, _ path: InputPath) {
        if !range.contains(value) { error(path, "\(value) is out of range (\(range.lowerBound)...\(range.upperBound))") }
    }

    mutating func number<T: BinaryInteger>(_ value: T?, _ range: ClosedRange<T>, _ path: InputPath) {
        if let value { number(value, range, path) }
    }

    /// At most `limit` items.
    mutating func count(_ n: Int, _ limit: Int, _ path: InputPath, _ what: String) {
        if n > limit { error(path, "\(n) \(what): at most \(limit) allowed") }
    }

    /// A host, domain (instance) or fleet name as the placement file allows it.
    mutating func placementName(_ name: String, _ path: InputPath, _ what: String) {
        if !isValidName(name) { error(path, "invalid \(what) name '\(shown(name))' (\(NameKind.name.rule))") }
    }

    /// A name or identifier that libvirt reported (a domain on a host, a pool, a volume, …).
    mutating func libvirtName(_ name: String, _ path: InputPath, _ what: String) {
        if let problem = libvirtNameProblem(name) { error(path, "invalid \(what) '\(shown(name))': \(problem)") }
    }

    mutating func libvirtName(_ name: String?, _ path: InputPath, _ what: String) {
        if let name { libvirtName(name, path, what) }
    }

    /// A path (a file, a pool's target).
    mutating func filePath(_ text: String?, _ path: InputPath, _ what: String) {
        guard let text else { return }
        if text.utf8.count > InputBounds.maxPathBytes {
            error(path, "\(what) is longer than \(InputBounds.maxPathBytes) bytes")
        } else if text.unicodeScalars.contains(where: isControl) {
            error(path, "\(what) contains a control character")
        }
    }

    /// Free text: bounded, any character (it is escaped where it is shown).
    mutating func text(_ text: String?, _ path: InputPath, _ what: String) {
        if let text, text.utf8.count > InputBounds.maxTextBytes {
            error(path, "\(what) is longer than \(InputBounds.maxTextBytes) bytes")
        }
    }

    /// A SHA-256 in hex (64 lower-case hex digits); `allowEmpty` for digests a hand-made
    /// value may leave out.
    mutating func digest(_ text: String?, _ path: InputPath, allowEmpty: Bool = false) {
        guard let text else { return }
        if allowEmpty && text.isEmpty { return }
        if !isHexDigest(text) { error(path, "expected a SHA-256 digest (64 lower-case hex digits), found '\(shown(text))'") }
    }

    /// A UUID in libvirt's form (8-4-4-4-12 hex digits).
    mutating func uuid(_ text: String?, _ path: InputPath) {
        guard let text else { return }
        if !isUUID(text) { error(path, "expected a UUID like 4dea22b3-1d52-d8f3-2516-782e98ab3fa0, found '\(shown(text))'") }
    }

    /// Tags: bounded in number and size, keys as the placement file allows them.
    mutating func tags(_ tags: [String: String], _ path: InputPath) {
        count(tags.count, InputBounds.maxTags, path, "tags")
        for key in tags.keys.sorted() {
            if key.isEmpty || key.utf8.count > InputBounds.maxTagKeyBytes || key.unicodeScalars.contains(where: isControl) {
                error(path(key), "invalid tag key '\(shown(key))': 1 to \(InputBounds.maxTagKeyBytes) bytes, no control character")
            }
            if let value = tags[key], value.utf8.count > InputBounds.maxTagValueBytes || value.unicodeScalars.contains(where: isControl) {
                error(path(key), "invalid value of tag '\(shown(key))': at most \(InputBounds.maxTagValueBytes) bytes, no control character")
            }
        }
    }

    /// A connection URI under `HostURI`'s allow-list. An empty one is allowed when `allowEmpty`
    /// (a hand-written snapshot may leave it out).
    mutating func uri(_ text: String, _ path: InputPath, allowTestDriver: Bool, allowEmpty: Bool = false) {
        if allowEmpty && text.isEmpty { return }
        do {
            _ = try HostURI(text, allowTestDriver: allowTestDriver)
        } catch let refused {
            error(path, refused.description)
        }
    }
}

/// Why `name` is not a name libvirt could have reported, or nil. The rule for names that come
/// from libvirt rather than from the placement file: not empty, bounded, no control character,
/// no '/' (libvirt refuses it in domain, pool, volume and network names), not '.' or '..'.
///
/// One small function on purpose: when Validation gains its shared rules for pool, volume and
/// network names, this is the one place to call them instead.
func libvirtNameProblem(_ name: String) -> String? {
    if name.isEmpty { return "empty" }
    if name.utf8.count > InputBounds.maxNameBytes { return "longer than \(InputBounds.maxNameBytes) bytes" }
    if name.unicodeScalars.contains(where: isControl) { return "contains a control character" }
    if name.contains("/") { return "contains '/'" }
    if name == "." || name == ".." { return "not a name" }
    return nil
}

/// C0 and C1 control characters and DEL.
func isControl(_ scalar: Unicode.Scalar) -> Bool {
    scalar.value < 0x20 || (scalar.value >= 0x7F && scalar.value < 0xA0)
}

func isHexDigest(_ text: String) -> Bool {
    text.utf8.count == 64 && text.utf8.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) }
}

func isUUID(_ text: String) -> Bool {
    let bytes = Array(text.utf8)
    guard bytes.count == 36 else { return false }
    for (i, b) in bytes.enumerated() {
        if [8, 13, 18, 23].contains(i) {
            if b != 0x2D { return false }
        } else if !((b >= 0x30 && b <= 0x39) || (b >= 0x61 && b <= 0x66) || (b >= 0x41 && b <= 0x46)) {
            return false
        }
    }
    return true
}

/// Reads one JSON (or YAML) document for a plan or snapshot reader: the root node, or the
/// diagnostics that say why there is none.
func parseSingleDocument(_ bytes: [UInt8], file: String, what: String) -> (root: YAMLNode?, diagnostics: [Diagnostic]) {
    let limits = YAMLLimits(maxFileSize: InputBounds.maxFileBytes, maxDepth: 64,
                            minExpandedNodes: YAMLLimits.default.minExpandedNodes, expansionFactor: 1)
    let documents: [YAMLNode]
    do {
        documents = try YAMLParser.parseDocuments(bytes, file: file, limits: limits)
    } catch {
        return (nil, error.diagnostics)
    }
    guard documents.count == 1, let root = documents.first else {
        return (nil, [Diagnostic(.error, file: file, line: 0, column: 0, path: "",
                                 message: documents.isEmpty ? "empty: expected \(what)" : "\(documents.count) documents: expected one, \(what)")])
    }
    return (root, [])
}

/// What the plan and snapshot readers share: one document decoded strictly into `T` (no
/// unknown key, every type checked), then the semantic checks of `check`; the value only when
/// nothing is an error, every diagnostic sorted and unique.
func readSavedDocument<T: Decodable>(
    _ type: T.Type, _ bytes: [UInt8], file: String, what: String,
    check: (T, inout InputFindings) -> Void
) -> (value: T?, diagnostics: [Diagnostic]) {
    let parsed = parseSingleDocument(bytes, file: file, what: what)
    guard let root = parsed.root else { return (nil, parsed.diagnostics) }
    let limits = YAMLLimits(maxFileSize: InputBounds.maxFileBytes, maxDepth: 64,
                            minExpandedNodes: YAMLLimits.default.minExpandedNodes, expansionFactor: 1)
    let decoded = YAMLNodeDecoder(limits: limits).decode(T.self, from: root, file: file)
    guard let value = decoded.value, !decoded.hasErrors else { return (nil, decoded.diagnostics) }
    var findings = InputFindings(root: root, file: file)
    check(value, &findings)
    let diagnostics = Diagnostic.sortedUnique(decoded.diagnostics + findings.diagnostics)
    return (diagnostics.contains { $0.severity == .error } ? nil : value, diagnostics)
}
