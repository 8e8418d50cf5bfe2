// libFuzzer entry point for the YAML layer: parse, then decode into a placement-like model
// and into a generic value, checking the invariants callers rely on.
// Compiled into the YAMLDecoding module itself by `fuzz/run`; not part of the package.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    // The first byte picks the file name, so JSON handling is reached from any input.
    let file = bytes.first.map { $0 & 1 == 1 ? "fuzz.json" : "fuzz.yaml" } ?? "fuzz.yaml"
    let limits = YAMLLimits(maxFileSize: 1 << 20, maxDepth: 64, minExpandedNodes: 20_000, expansionFactor: 10)

    do {
        let documents = try YAMLParser.parseDocuments(bytes, file: file, limits: limits)
        var seen = Set<ObjectIdentifier>()
        for document in documents { check(document, limits: limits, seen: &seen) }
    } catch {
        checkDiagnostics(error.diagnostics, file: file)
        require(!error.diagnostics.isEmpty, "a load error without diagnostics")
    }

    // libyaml on a thread of its own, handing over batches of one to five events, builds
    // what it builds on demand in one batch.
    let eventsPerBatch = 1 + Int(bytes.last ?? 0) % 5
    let (inline, threaded) = bytes.withUnsafeBufferPointer { buffer in
        (summary(TreeBuilder(file: file, limits: limits, corrections: ColumnCorrections()).run(buffer, threaded: false)),
         summary(TreeBuilder(file: file, limits: limits, corrections: ColumnCorrections())
            .run(buffer, threaded: true, eventsPerBatch: eventsPerBatch)))
    }
    require(inline == threaded, "threaded parse differs:\n\(inline)\n---\n\(threaded)")

    let decoder = YAMLNodeDecoder(limits: limits)
    let model = decoder.decodeDocuments(FuzzPlacement.self, from: bytes, file: file)
    checkDiagnostics(model.diagnostics, file: file)
    let generic = decoder.decodeDocuments(FuzzValue.self, from: bytes, file: file)
    checkDiagnostics(generic.diagnostics, file: file)
    require(generic.value == nil || model.value != nil, "the parse succeeded for one decode only")
    return 0
}

/// One run of the tree builder as text: the trees node by node, or where it stopped.
private func summary(_ outcome: BuildOutcome) -> [String] {
    func dump(_ node: YAMLNode, _ depth: Int, _ lines: inout [String]) {
        let head = "\(depth) \(node.line):\(node.column) \(node.kind) \(node.tag ?? "-") \(node.anchor ?? "-")"
        switch node.content {
        case .scalar(let text, let style): lines.append("\(head) \(style) \(text.debugDescription)")
        case .sequence(let items):
            lines.append(head)
            for item in items { dump(item, depth + 1, &lines) }
        case .mapping(let pairs):
            lines.append(head)
            for pair in pairs {
                dump(pair.key, depth + 1, &lines)
                dump(pair.value, depth + 1, &lines)
            }
        }
    }
    switch outcome {
    case .parsed(let documents, let diagnostics):
        var lines = diagnostics.map(\.formatted)
        for document in documents { dump(document, 0, &lines) }
        return lines
    case .rejected(let failure, let diagnostics):
        return diagnostics.map(\.formatted) + ["\(failure.problem) \(failure.problemMark.line):\(failure.problemMark.column)"]
    case .failed(let error):
        return error.diagnostics.map(\.formatted)
    }
}

private func require(_ condition: Bool, _ message: String) {
    if !condition { fatalError("fuzz invariant broken: \(message)") }
}

private func check(_ node: YAMLNode, limits: YAMLLimits, seen: inout Set<ObjectIdentifier>) {
    guard seen.insert(ObjectIdentifier(node)).inserted else { return }
    require(node.line >= 1 && node.column >= 1, "node at \(node.line):\(node.column)")
    require(node.height <= limits.maxDepth, "height \(node.height)")
    switch node.content {
    case .scalar:
        break
    case .sequence(let items):
        for item in items { check(item, limits: limits, seen: &seen) }
    case .mapping(let pairs):
        for pair in pairs {
            check(pair.key, limits: limits, seen: &seen)
            check(pair.value, limits: limits, seen: &seen)
        }
    }
}

private func checkDiagnostics(_ diagnostics: [Diagnostic], file: String) {
    require(diagnostics == Diagnostic.sortedUnique(diagnostics), "diagnostics not sorted or repeated")
    for diagnostic in diagnostics {
        require(diagnostic.file == file, "file \(diagnostic.file)")
        require(diagnostic.line >= 0 && diagnostic.column >= 0, "position \(diagnostic.line):\(diagnostic.column)")
        require((diagnostic.line == 0) == (diagnostic.column == 0), "half a position \(diagnostic.line):\(diagnostic.column)")
        require(!diagnostic.message.isEmpty, "empty message")
    }
}

private indirect enum FuzzValue: Decodable, Equatable {
    case null, string(String), list([FuzzValue]), map([String: FuzzValue])

    struct AnyKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { return nil }
    }

    init(from decoder: any Decoder) throws {
        let single = try decoder.singleValueContainer()
        if single.decodeNil() {
            self = .null
        } else if let container = try? decoder.container(keyedBy: AnyKey.self) {
            var map: [String: FuzzValue] = [:]
            for key in container.allKeys { map[key.stringValue] = try container.decode(FuzzValue.self, forKey: key) }
            self = .map(map)
        } else if var container = try? decoder.unkeyedContainer() {
            var list: [FuzzValue] = []
            while !container.isAtEnd { list.append(try container.decode(FuzzValue.self)) }
            self = .list(list)
        } else {
            self = .string(try single.decode(String.self))
        }
    }
}

private enum FuzzMove: String, Decodable, CaseIterable { case live, reboot, cold, manual }

private struct FuzzDevice: Decodable {
    var type: String
    var pool: Located<String>?
    var volume: String?
    var boot: Bool?
    var mac: String?
}

private struct FuzzInstance: Decodable {
    var host: Located<String>?
    var profiles: [String]?
    var devices: [String: FuzzDevice]?
    var moves: [FuzzMove]?
    var memoryMiB: UInt32?
    var overcommit: Double?
    var tags: [String: String]?
}

private struct FuzzHost: Decodable {
    enum CodingKeys: String, CodingKey, CaseIterable { case uri, faultDomain, capacity, labels }
    var uri: String
    var faultDomain: String?
    var capacity: [String: Int]?
    var labels: [String: String]?
}

private struct FuzzPlacement: Decodable {
    var apiVersion: String?
    var kind: String?
    var hosts: [String: FuzzHost]?
    var instances: [String: Located<FuzzInstance>]?
    var list: [Int8]?
    var flags: [Bool]?
}
