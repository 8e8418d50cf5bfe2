import CYAML

/// Parses YAML 1.1/1.2 and JSON into located node trees, through libyaml's event API.
public enum YAMLParser {
    /// Parses every document of a stream (`---` separates them) into a node tree each.
    ///
    /// `file` is the name diagnostics carry. Files whose name ends in `.json`, or whose first
    /// character is `{` or `[`, get the JSON allowances described in `docs/yaml.md`; a file
    /// named `*.json`, and standard input (`<stdin>`) that starts with `{` or `[`, must be
    /// strict JSON (RFC 8259): a trailing comma, a comment, single quotes, an unquoted key or
    /// `NaN` is an error at its place.
    ///
    /// - Throws: `YAMLLoadError` for a file over `limits.maxFileSize`, an empty file, a
    ///   byte-order mark, invalid UTF-8, a syntax error, tabs used for indentation, duplicate
    ///   keys (all of them), an undefined alias, a bad merge key, or a document nested too
    ///   deeply or expanding too far through aliases.
    public static func parseDocuments(
        _ bytes: [UInt8], file: String, limits: YAMLLimits = .default
    ) throws(YAMLLoadError) -> [YAMLNode] {
        let loaded = try load(bytes, file: file, limits: limits)
        guard loaded.diagnostics.isEmpty else { throw YAMLLoadError(diagnostics: loaded.diagnostics) }
        return loaded.documents
    }

    /// Reads a file (refusing one over `limits.maxFileSize` before reading it all) and parses
    /// every document in it.
    ///
    /// - Parameter file: the name diagnostics carry; the path when nil.
    /// - Throws: `YAMLLoadError` when the file cannot be read or is too large, and for every
    ///   problem `parseDocuments(_:file:limits:)` reports.
    public static func parseDocuments(
        contentsOf path: String, file: String? = nil, limits: YAMLLimits = .default
    ) throws(YAMLLoadError) -> [YAMLNode] {
        let name = file ?? path
        let bytes = try readFile(atPath: path, name: name, limit: limits.fileSizeLimit)
        return try parseDocuments(bytes, file: name, limits: limits)
    }

    /// The documents, and the problems that did not stop the parse (duplicate keys).
    ///
    /// A duplicate key keeps its first value in the tree, so decoding can still report
    /// everything else wrong in the file.
    static func load(
        _ bytes: [UInt8], file: String, limits: YAMLLimits
    ) throws(YAMLLoadError) -> (documents: [YAMLNode], diagnostics: [Diagnostic]) {
        if bytes.count > limits.fileSizeLimit {
            throw YAMLLoadError(file: file, line: 0, column: 0, FileInput.tooLargeMessage(limit: limits.fileSizeLimit))
        }
        if bytes.isEmpty {
            throw YAMLLoadError(file: file, line: 0, column: 0, "file is empty")
        }
        let problem = bytes.withUnsafeBufferPointer { buffer in
            SourceText.firstEncodingProblem(buffer).map { found in
                (SourceText.position(ofByte: found.offset, in: buffer), found.message)
            }
        }
        if let (position, message) = problem {
            throw YAMLLoadError(file: file, line: position.line, column: position.column, message)
        }
        let json = bytes.withUnsafeBufferPointer { SourceText.looksLikeJSON($0, file: file) }
        // A file that says it is JSON is held to JSON's grammar, which libyaml does not check.
        let jsonProblem = bytes.withUnsafeBufferPointer { buffer in
            StrictJSON.applies(file: file, bytes: buffer)
                ? StrictJSON.firstProblem(buffer).map { (SourceText.position(ofByte: $0.offset, in: buffer), $0.message) }
                : nil
        }
        if let (position, message) = jsonProblem {
            throw YAMLLoadError(file: file, line: position.line, column: position.column, "invalid JSON: \(message)")
        }

        // libyaml rejects a few things that YAML or JSON allow (a tab where a space would do,
        // a JSON surrogate-pair escape); each rejection of that kind is repaired in a copy
        // and the parse run again, a bounded number of times.
        var repaired: [UInt8]? = nil
        var corrections = ColumnCorrections()
        var repairs = 0
        while true {
            let outcome = (repaired ?? bytes).withUnsafeBufferPointer { buffer in
                TreeBuilder(file: file, limits: limits, corrections: corrections).run(buffer)
            }
            switch outcome {
            case .parsed(let documents, let diagnostics):
                if documents.isEmpty {
                    throw YAMLLoadError(
                        file: file, line: 0, column: 0, "file contains no document, only comments or blank lines")
                }
                return (documents, Diagnostic.sortedUnique(diagnostics))
            case .failed(let error):
                throw error
            case .rejected(let failure, let diagnostics):
                let source = repaired ?? bytes
                if repairs < Repair.maximum,
                    let fixed = Repair.attempt(failure, source: source, json: json, corrections: &corrections)
                {
                    repaired = fixed
                    repairs += 1
                    continue
                }
                let diagnostic = source.withUnsafeBufferPointer { buffer in
                    failure.diagnostic(file: file, source: buffer, json: json, corrections: corrections)
                }
                throw YAMLLoadError(diagnostics: Diagnostic.sortedUnique(diagnostics + [diagnostic]))
            }
        }
    }
}

/// A position libyaml reports: 0-based line, 0-based column in Unicode scalars.
struct Mark: Equatable {
    var line: Int
    var column: Int

    init(line: Int, column: Int) {
        self.line = line
        self.column = column
    }

    init(_ mark: yaml_mark_t) {
        self.line = mark.line
        self.column = mark.column
    }
}

/// Column shifts on lines where a repair made the text shorter than the user wrote it.
struct ColumnCorrections {
    /// For each 0-based line: (first column after a shortened escape, how much shorter), in
    /// column order.
    private var shifts: [Int: [(column: Int, delta: Int)]] = [:]

    var isEmpty: Bool { shifts.isEmpty }

    mutating func add(line: Int, after column: Int, delta: Int) {
        shifts[line, default: []].append((column, delta))
    }

    /// The 1-based line and column the user sees for a libyaml mark.
    func userPosition(_ mark: Mark) -> (line: Int, column: Int) {
        var column = mark.column + 1
        if !shifts.isEmpty, let lineShifts = shifts[mark.line] {
            for shift in lineShifts where shift.column <= mark.column {
                column += shift.delta
            }
        }
        return (mark.line + 1, column)
    }
}

/// What libyaml said when it stopped.
struct LibyamlFailure {
    var kind: yaml_error_type_t
    var problem: String
    var problemMark: Mark
    var problemOffset: Int
    var context: String?
    var contextMark: Mark

    init(_ parser: UnsafePointer<yaml_parser_t>) {
        let p = parser.pointee
        kind = p.error
        problem = p.problem.map { String(cString: $0) } ?? "syntax error"
        problemMark = Mark(p.problem_mark)
        problemOffset = p.problem_offset
        context = p.context.map { String(cString: $0) }
        contextMark = Mark(p.context_mark)
    }

    /// The byte offset of the problem in `source`, when it names one.
    func offset(in source: UnsafeBufferPointer<UInt8>) -> Int? {
        if kind == YAML_READER_ERROR { return problemOffset < source.count ? problemOffset : nil }
        return SourceText.offset(line: problemMark.line, column: problemMark.column, in: source)
    }

    func diagnostic(
        file: String, source: UnsafeBufferPointer<UInt8>, json: Bool, corrections: ColumnCorrections
    ) -> Diagnostic {
        func error(_ position: (line: Int, column: Int), _ message: String) -> Diagnostic {
            Diagnostic(.error, file: file, line: position.line, column: position.column, path: "", message: message)
        }
        switch kind {
        case YAML_MEMORY_ERROR:
            return error((0, 0), "out of memory while parsing")
        case YAML_READER_ERROR:
            let position = SourceText.position(ofByte: min(problemOffset, source.count), in: source)
            return error(position, problem)
        default:
            break
        }
        let position = corrections.userPosition(problemMark)
        if let offset = offset(in: source), source[offset] == UInt8(ascii: "\t") {
            return error(position, Repair.isIndentationTab(at: offset, in: source)
                ? "tab character used for indentation; indent with spaces"
                : "tab character where YAML needs a space")
        }
        if problem == "found invalid Unicode character escape code" {
            return error(position, "invalid Unicode escape (a lone UTF-16 surrogate or a value past U+10FFFF)")
        }
        guard let context else { return error(position, problem) }
        if contextMark == problemMark || kind == YAML_READER_ERROR {
            return error(position, "\(problem) (\(context))")
        }
        let start = corrections.userPosition(contextMark)
        return error(position, "\(problem) (\(context) at \(start.line):\(start.column))")
    }
}

/// The result of one run of libyaml over the input.
enum BuildOutcome {
    case parsed([YAMLNode], [Diagnostic])
    /// libyaml stopped; the diagnostics found before that come along.
    case rejected(LibyamlFailure, [Diagnostic])
    /// The tree itself is unacceptable (undefined alias, limits, bad merge key).
    case failed(YAMLLoadError)
}

/// Turns libyaml events into a `NodeStore`, checking duplicate keys, aliases and limits.
///
/// Nodes are appended to flat arrays as they end. The children of every open collection wait
/// in one shared buffer, the innermost collection's last, and move to the store's children
/// array when their collection ends.
struct TreeBuilder {
    /// An open sequence or mapping: where its children start in `pending`, and what has been
    /// counted of them so far. A mapping's children alternate key, value.
    struct Frame {
        var isMapping: Bool
        var mark: Mark
        var properties: NodeTable.Properties?
        var start: Int
        var expanded = 1
        var written = 1
        var childHeight = 0
    }

    let file: String
    let limits: YAMLLimits
    let corrections: ColumnCorrections

    private var nodes = NodeTable()
    private var stack: [Frame] = []
    /// The children read so far of every open collection, outermost first.
    private var pending: [Int] = []
    private var root: Int? = nil
    private var documents: [Int] = []
    private var diagnostics: [Diagnostic] = []
    private var anchors: [String: Int] = [:]
    private var documentExpanded = 0
    private var documentWritten = 0

    init(file: String, limits: YAMLLimits, corrections: ColumnCorrections) {
        self.file = file
        self.limits = limits
        self.corrections = corrections
    }

    /// Parses `source`, which must stay valid for the call.
    ///
    /// - Parameters:
    ///   - threaded: whether libyaml reads on a thread of its own while the tree is built
    ///     (nil: when the input is at least `EventStream.threadThreshold` long).
    ///   - eventsPerBatch: how many events libyaml hands over at a time.
    consuming func run(
        _ source: UnsafeBufferPointer<UInt8>, threaded: Bool? = nil, eventsPerBatch: Int = EventBatch.eventLimit
    ) -> BuildOutcome {
        guard !source.isEmpty else { return .parsed([], []) }
        let reader = EventReader(source, eventsPerBatch: eventsPerBatch)
        guard reader.isReady else {
            return .failed(YAMLLoadError(file: file, line: 0, column: 0, "out of memory while parsing"))
        }
        // Placement files hold a node every 7 or 8 bytes: room for twice that many spares
        // copying the arrays as they grow (pages not written to cost nothing).
        nodes.records.reserveCapacity(source.count / 4 + 16)
        nodes.children.reserveCapacity(source.count / 4 + 16)
        nodes.text.reserveCapacity(source.count / 2 + 16)

        let events = EventStream(reader, threaded: threaded ?? (source.count >= EventStream.threadThreshold))
        defer { events.finish() }
        while let batch = events.next() {
            do {
                for event in batch.pointee.events {
                    if try handle(event, text: batch.pointee.text) { break }
                }
            } catch {
                return .failed(YAMLLoadError(diagnostics: Diagnostic.sortedUnique(diagnostics + error.diagnostics)))
            }
            if let failure = batch.pointee.failure { return .rejected(failure, diagnostics) }
        }
        let store = NodeStore(nodes)
        return .parsed(documents.map { store.view($0) }, diagnostics)
    }

    /// Takes one event; returns true at the end of the stream.
    private mutating func handle(_ event: CopiedEvent, text: [UInt8]) throws(YAMLLoadError) -> Bool {
        let mark = event.mark
        switch event.type {
        case YAML_STREAM_END_EVENT:
            return true
        case YAML_DOCUMENT_START_EVENT:
            root = nil
            anchors.removeAll(keepingCapacity: true)
            documentExpanded = 0
            documentWritten = 0
        case YAML_DOCUMENT_END_EVENT:
            if let root { documents.append(root) }
            root = nil
        case YAML_SCALAR_EVENT:
            try checkDepth(adding: 1, at: mark)
            let start = nodes.text.count
            var isASCII = true
            if event.value.count > 0 {
                text.withUnsafeBufferPointer { buffer in
                    let bytes = event.value.bytes(in: buffer)
                    isASCII = NodeTable.isASCII(bytes)
                    nodes.text.append(contentsOf: bytes)
                }
            }
            let node = append(
                .scalar, Self.style(event.style), mark: mark, start: start, count: nodes.text.count - start,
                properties: Self.properties(event, text), counts: nil, isASCII: isASCII)
            documentExpanded = documentExpanded.addingSaturated(1)
            documentWritten += 1
            add(node, isAlias: false)
        case YAML_ALIAS_EVENT:
            try addAlias(Self.string(event.value, text) ?? "", at: mark)
        case YAML_SEQUENCE_START_EVENT, YAML_MAPPING_START_EVENT:
            try checkDepth(adding: 1, at: mark)
            stack.append(Frame(
                isMapping: event.type == YAML_MAPPING_START_EVENT, mark: mark,
                properties: Self.properties(event, text), start: pending.count))
        case YAML_SEQUENCE_END_EVENT:
            guard let frame = stack.popLast() else { break }
            let start = nodes.children.count
            for child in pending[frame.start...] { nodes.children.append(UInt32(truncatingIfNeeded: child)) }
            pending.removeSubrange(frame.start...)
            let node = append(
                .sequence, .plain, mark: frame.mark, start: start, count: nodes.children.count - start,
                properties: frame.properties,
                counts: NodeTable.Counts(expanded: frame.expanded, written: frame.written, height: frame.childHeight + 1))
            documentExpanded = documentExpanded.addingSaturated(1)
            documentWritten += 1
            add(node, isAlias: false)
        case YAML_MAPPING_END_EVENT:
            guard let frame = stack.popLast() else { break }
            let node = try finishMapping(frame)
            documentExpanded = documentExpanded.addingSaturated(1)
            documentWritten += 1
            add(node, isAlias: false)
        default:
            break
        }
        return false
    }

    /// An event's tag and anchor; nil when it has neither.
    private static func properties(_ event: CopiedEvent, _ text: [UInt8]) -> NodeTable.Properties? {
        if event.tag.isAbsent && event.anchor.isAbsent { return nil }
        return NodeTable.Properties(tag: string(event.tag, text), anchor: string(event.anchor, text))
    }

    /// Adds a node record; returns its index.
    private mutating func append(
        _ kind: YAMLNode.Kind, _ style: YAMLNode.ScalarStyle, mark: Mark, start: Int, count: Int,
        properties: NodeTable.Properties?, counts: NodeTable.Counts?, isASCII: Bool = true
    ) -> Int {
        let node = nodes.records.count
        if let counts { nodes.counts.append(counts) }
        if let properties { nodes.properties[node] = properties }
        let position = corrections.userPosition(mark)
        nodes.records.append(NodeTable.Record(
            line: position.line, column: position.column, start: start, count: count,
            counts: counts == nil ? 0 : nodes.counts.count - 1, kind: kind, style: style, isASCII: isASCII,
            hasProperties: properties != nil))
        return node
    }

    private mutating func add(_ node: Int, isAlias: Bool) {
        if !isAlias, let anchor = nodes.anchor(node) { anchors[anchor] = node }
        guard !stack.isEmpty else {
            root = node
            return
        }
        let top = stack.count - 1
        pending.append(node)
        stack[top].expanded = stack[top].expanded.addingSaturated(nodes.expandedCount(node))
        if !isAlias { stack[top].written = stack[top].written.addingSaturated(nodes.writtenCount(node)) }
        let height = nodes.height(node)
        if height > stack[top].childHeight { stack[top].childHeight = height }
    }

    private mutating func addAlias(_ name: String, at mark: Mark) throws(YAMLLoadError) {
        if stack.contains(where: { $0.properties?.anchor == name }) {
            throw error(at: mark, "alias '*\(name)' refers to a node that contains it (recursive aliases are not allowed)")
        }
        guard let target = anchors[name] else {
            throw error(at: mark, "undefined alias '*\(name)': no anchor '&\(name)' before it in this document")
        }
        try checkDepth(adding: nodes.height(target), at: mark)
        documentExpanded = documentExpanded.addingSaturated(nodes.expandedCount(target))
        let budget = limits.expansionBudget(writtenNodes: documentWritten)
        if documentExpanded > budget {
            throw error(at: mark, "alias '*\(name)' expands the document beyond the limit of \(budget) nodes")
        }
        add(target, isAlias: true)
    }

    private func checkDepth(adding height: Int, at mark: Mark) throws(YAMLLoadError) {
        if stack.count + height > limits.maxDepth {
            throw error(at: mark, "nesting deeper than \(limits.maxDepth) levels")
        }
    }

    private func error(at mark: Mark, _ message: String) -> YAMLLoadError {
        let position = corrections.userPosition(mark)
        return YAMLLoadError(file: file, line: position.line, column: position.column, path: currentPath(), message)
    }

    /// The path of the node being read, from the open collections.
    ///
    /// - Parameter pendingEnd: where the children of the innermost open collection end in
    ///   `pending` (all of it unless a collection just closed still has its children there).
    private func currentPath(pendingEnd: Int? = nil) -> String {
        var path = ""
        for (level, frame) in stack.enumerated() {
            let end = level + 1 < stack.count ? stack[level + 1].start : pendingEnd ?? pending.count
            let count = end - frame.start
            if frame.isMapping {
                // An odd number of children: the last one is a key whose value is being read.
                let pendingKey = count % 2 == 1 ? nodes.scalarValue(pending[end - 1]) : nil
                path = appendingPath(path, key: pendingKey ?? "?")
            } else {
                path += "[\(count)]"
            }
        }
        return path
    }

    /// Pairs keys with values (taking them off `pending`), reports duplicate keys (keeping
    /// the first), applies merges; returns the mapping's index.
    private mutating func finishMapping(_ frame: Frame) throws(YAMLLoadError) -> Int {
        let pairCount = (pending.count - frame.start) / 2
        // The kept entries go straight to the children array, where the mapping will point.
        let start = nodes.children.count
        let useIndex = pairCount > 16
        var index: [String: Int] = [:]
        var hasMerge = false
        defer { pending.removeSubrange(frame.start...) }
        for offset in 0 ..< pairCount {
            let key = pending[frame.start + 2 * offset]
            let value = pending[frame.start + 2 * offset + 1]
            if nodes.kind(key) == .scalar {
                let first: Int?
                if useIndex {
                    let text = nodes.string(key)
                    first = index[text]
                    if first == nil { index[text] = key }
                } else {
                    first = firstScalarKey(equalTo: key, amongKeptFrom: start)
                }
                if let first {
                    let text = nodes.string(key)
                    diagnostics.append(Diagnostic(
                        .error, file: file, line: nodes.line(key), column: nodes.column(key),
                        path: appendingPath(currentPath(pendingEnd: frame.start), key: text),
                        message: "duplicate key '\(text)' (first defined at \(nodes.line(first)):\(nodes.column(first)))"))
                    continue
                }
                if isMergeKey(key) { hasMerge = true }
            }
            nodes.children.append(UInt32(truncatingIfNeeded: key))
            nodes.children.append(UInt32(truncatingIfNeeded: value))
        }
        guard hasMerge else {
            return append(
                .mapping, .plain, mark: frame.mark, start: start, count: nodes.children.count - start,
                properties: frame.properties,
                counts: NodeTable.Counts(expanded: frame.expanded, written: frame.written, height: frame.childHeight + 1))
        }
        let kept = nodes.children[start...].map { Int($0) }
        nodes.children.removeSubrange(start...)
        let merged = try merge(kept, pendingEnd: frame.start)
        for node in merged { nodes.children.append(UInt32(truncatingIfNeeded: node)) }
        var expanded = 1
        var height = 0
        for node in merged {
            expanded = expanded.addingSaturated(nodes.expandedCount(node))
            height = max(height, nodes.height(node))
        }
        return append(
            .mapping, .plain, mark: frame.mark, start: start, count: merged.count, properties: frame.properties,
            counts: NodeTable.Counts(expanded: expanded, written: frame.written, height: height + 1))
    }

    /// The first key kept so far (in `nodes.children` from `start`, alternating with
    /// values) that is a scalar with the same text as `key`.
    private func firstScalarKey(equalTo key: Int, amongKeptFrom start: Int) -> Int? {
        for position in stride(from: start, to: nodes.children.count, by: 2) {
            let kept = Int(nodes.children[position])
            if nodes.kind(kept) == .scalar && nodes.scalarsEqual(kept, key) { return kept }
        }
        return nil
    }

    /// Whether a key is the merge key: a plain `<<`, or one tagged `!!merge`.
    private func isMergeKey(_ key: Int) -> Bool {
        guard nodes.scalar(key, equals: "<<") else { return false }
        if let tag = nodes.tag(key) { return tag == YAMLTag.merge }
        return nodes.style(key) == .plain
    }

    /// Replaces each `<<` entry by the entries of the mapping(s) it names that the mapping
    /// does not set itself; among several merged mappings the first one wins.
    ///
    /// - Parameter entries: the mapping's keys and values, alternating.
    private func merge(_ entries: [Int], pendingEnd: Int) throws(YAMLLoadError) -> [Int] {
        var seen = Set<String>()
        for offset in stride(from: 0, to: entries.count, by: 2) where !isMergeKey(entries[offset]) {
            if let text = nodes.scalarValue(entries[offset]) { seen.insert(text) }
        }
        var result: [Int] = []
        for offset in stride(from: 0, to: entries.count, by: 2) {
            let key = entries[offset]
            let value = entries[offset + 1]
            guard isMergeKey(key) else {
                result.append(key)
                result.append(value)
                continue
            }
            let sources: [Int]
            switch nodes.kind(value) {
            case .mapping, .scalar: sources = [value]
            case .sequence: sources = (0 ..< nodes.childCount(value)).map { nodes.item(value, $0) }
            }
            for source in sources {
                guard nodes.kind(source) == .mapping else {
                    throw YAMLLoadError(
                        file: file, line: nodes.line(source), column: nodes.column(source),
                        path: appendingPath(currentPath(pendingEnd: pendingEnd), key: "<<"),
                        "merge key '<<' needs a mapping or a list of mappings, found \(Scalars.describe(nodes, source))")
                }
                for entry in 0 ..< nodes.childCount(source) {
                    let sourceKey = nodes.key(source, entry)
                    if let text = nodes.scalarValue(sourceKey), !seen.insert(text).inserted { continue }
                    result.append(sourceKey)
                    result.append(nodes.value(source, entry))
                }
            }
        }
        return result
    }

    static func style(_ style: yaml_scalar_style_t) -> YAMLNode.ScalarStyle {
        switch style {
        case YAML_SINGLE_QUOTED_SCALAR_STYLE: .singleQuoted
        case YAML_DOUBLE_QUOTED_SCALAR_STYLE: .doubleQuoted
        case YAML_LITERAL_SCALAR_STYLE: .literal
        case YAML_FOLDED_SCALAR_STYLE: .folded
        default: .plain
        }
    }

    static func string(_ range: CopiedEvent.TextRange, _ text: [UInt8]) -> String? {
        if range.isAbsent { return nil }
        return text.withUnsafeBufferPointer { String(decoding: range.bytes(in: $0), as: UTF8.self) }
    }
}

extension Int {
    /// `self + other`, stopping at `Int.max` instead of overflowing.
    func addingSaturated(_ other: Int) -> Int {
        let (sum, overflow) = addingReportingOverflow(other)
        return overflow ? Int.max : sum
    }
}
