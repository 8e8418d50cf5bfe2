import CYAML

/// Parses YAML 1.1/1.2 and JSON into located node trees, through libyaml's event API.
public enum YAMLParser {
    /// Parses every document of a stream (`---` separates them) into a node tree each.
    ///
    /// `file` is the name diagnostics carry. Files whose name ends in `.json`, or whose first
    /// character is `{` or `[`, get the JSON allowances described in `docs/yaml.md`.
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
        let bytes = try FileInput.read(path: path, name: name, limit: limits.maxFileSize)
        return try parseDocuments(bytes, file: name, limits: limits)
    }

    /// The documents, and the problems that did not stop the parse (duplicate keys).
    ///
    /// A duplicate key keeps its first value in the tree, so decoding can still report
    /// everything else wrong in the file.
    static func load(
        _ bytes: [UInt8], file: String, limits: YAMLLimits
    ) throws(YAMLLoadError) -> (documents: [YAMLNode], diagnostics: [Diagnostic]) {
        if bytes.count > limits.maxFileSize {
            throw YAMLLoadError(file: file, line: 0, column: 0, FileInput.tooLargeMessage(limit: limits.maxFileSize))
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

/// Turns libyaml events into node trees, checking duplicate keys, aliases and limits.
///
/// The children of every open collection wait in one shared buffer, the innermost
/// collection's last, so that a collection costs one array of the exact size when it ends
/// rather than an array growing item by item.
struct TreeBuilder {
    /// An open sequence or mapping: where its children start in `children`, and what has
    /// been counted of them so far. A mapping's children alternate key, value.
    struct Frame {
        var isMapping: Bool
        var mark: Mark
        var tag: String?
        var anchor: String?
        var start: Int
        var expanded = 1
        var written = 1
        var childHeight = 0
    }

    let file: String
    let limits: YAMLLimits
    let corrections: ColumnCorrections

    private var stack: [Frame] = []
    /// The children read so far of every open collection, outermost first.
    private var children: [YAMLNode] = []
    private var root: YAMLNode? = nil
    private var documents: [YAMLNode] = []
    private var diagnostics: [Diagnostic] = []
    private var anchors: [String: YAMLNode] = [:]
    private var documentExpanded = 0
    private var documentWritten = 0

    init(file: String, limits: YAMLLimits, corrections: ColumnCorrections) {
        self.file = file
        self.limits = limits
        self.corrections = corrections
    }

    /// Parses `source`, which must stay valid for the call.
    consuming func run(_ source: UnsafeBufferPointer<UInt8>) -> BuildOutcome {
        guard let base = source.baseAddress, !source.isEmpty else { return .parsed([], []) }
        let parser = UnsafeMutablePointer<yaml_parser_t>.allocate(capacity: 1)
        defer { parser.deallocate() }
        guard yaml_parser_initialize(parser) == 1 else {
            return .failed(YAMLLoadError(file: file, line: 0, column: 0, "out of memory while parsing"))
        }
        defer { yaml_parser_delete(parser) }
        yaml_parser_set_input_string(parser, base, source.count)
        yaml_parser_set_encoding(parser, YAML_UTF8_ENCODING)

        let event = UnsafeMutablePointer<yaml_event_t>.allocate(capacity: 1)
        defer { event.deallocate() }
        while true {
            guard yaml_parser_parse(parser, event) == 1 else {
                return .rejected(LibyamlFailure(parser), diagnostics)
            }
            defer { yaml_event_delete(event) }
            do {
                if try handle(event.pointee) { break }
            } catch {
                return .failed(YAMLLoadError(diagnostics: Diagnostic.sortedUnique(diagnostics + error.diagnostics)))
            }
        }
        return .parsed(documents, diagnostics)
    }

    /// Takes one event; returns true at the end of the stream.
    private mutating func handle(_ event: yaml_event_t) throws(YAMLLoadError) -> Bool {
        let mark = Mark(event.start_mark)
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
            let data = event.data.scalar
            try checkDepth(adding: 1, at: mark)
            let text: String
            if let value = data.value, data.length > 0 {
                text = String(decoding: UnsafeBufferPointer(start: value, count: data.length), as: UTF8.self)
            } else {
                text = ""
            }
            let node = makeNode(
                .scalar(text, Self.style(data.style)), mark: mark, tag: Self.string(data.tag),
                anchor: Self.string(data.anchor), expanded: 1, written: 1, height: 1)
            documentExpanded = documentExpanded.addingSaturated(1)
            documentWritten += 1
            add(node, isAlias: false)
        case YAML_ALIAS_EVENT:
            let name = Self.string(event.data.alias.anchor) ?? ""
            try addAlias(name, at: mark)
        case YAML_SEQUENCE_START_EVENT:
            let data = event.data.sequence_start
            try checkDepth(adding: 1, at: mark)
            stack.append(Frame(
                isMapping: false, mark: mark, tag: Self.string(data.tag), anchor: Self.string(data.anchor),
                start: children.count))
        case YAML_MAPPING_START_EVENT:
            let data = event.data.mapping_start
            try checkDepth(adding: 1, at: mark)
            stack.append(Frame(
                isMapping: true, mark: mark, tag: Self.string(data.tag), anchor: Self.string(data.anchor),
                start: children.count))
        case YAML_SEQUENCE_END_EVENT:
            guard let frame = stack.popLast() else { break }
            let items = Array(children[frame.start...])
            children.removeSubrange(frame.start...)
            let node = makeNode(
                .sequence(items), mark: frame.mark, tag: frame.tag, anchor: frame.anchor,
                expanded: frame.expanded, written: frame.written, height: frame.childHeight + 1)
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

    private func makeNode(
        _ content: YAMLNode.Content, mark: Mark, tag: String?, anchor: String?,
        expanded: Int, written: Int, height: Int
    ) -> YAMLNode {
        let position = corrections.userPosition(mark)
        return YAMLNode(
            content: content, line: position.line, column: position.column, tag: tag, anchor: anchor,
            expandedCount: expanded, writtenCount: written, height: height)
    }

    private mutating func add(_ node: YAMLNode, isAlias: Bool) {
        if !isAlias, let anchor = node.anchor { anchors[anchor] = node }
        guard !stack.isEmpty else {
            root = node
            return
        }
        let top = stack.count - 1
        children.append(node)
        stack[top].expanded = stack[top].expanded.addingSaturated(node.expandedCount)
        if !isAlias { stack[top].written = stack[top].written.addingSaturated(node.writtenCount) }
        if node.height > stack[top].childHeight { stack[top].childHeight = node.height }
    }

    private mutating func addAlias(_ name: String, at mark: Mark) throws(YAMLLoadError) {
        if stack.contains(where: { $0.anchor == name }) {
            throw error(at: mark, "alias '*\(name)' refers to a node that contains it (recursive aliases are not allowed)")
        }
        guard let target = anchors[name] else {
            throw error(at: mark, "undefined alias '*\(name)': no anchor '&\(name)' before it in this document")
        }
        try checkDepth(adding: target.height, at: mark)
        documentExpanded = documentExpanded.addingSaturated(target.expandedCount)
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
    /// - Parameter childrenEnd: where the children of the innermost open collection end in
    ///   `children` (all of it unless a collection just closed still has its children there).
    private func currentPath(childrenEnd: Int? = nil) -> String {
        var path = ""
        for (level, frame) in stack.enumerated() {
            let end = level + 1 < stack.count ? stack[level + 1].start : childrenEnd ?? children.count
            let count = end - frame.start
            if frame.isMapping {
                // An odd number of children: the last one is a key whose value is being read.
                let pendingKey = count % 2 == 1 ? children[end - 1].scalarValue : nil
                path = appendingPath(path, key: pendingKey ?? "?")
            } else {
                path += "[\(count)]"
            }
        }
        return path
    }

    /// Pairs keys with values (taking them off `children`), reports duplicate keys (keeping
    /// the first), applies merges.
    private mutating func finishMapping(_ frame: Frame) throws(YAMLLoadError) -> YAMLNode {
        let pairCount = (children.count - frame.start) / 2
        var pairs: [YAMLNode.Pair] = []
        pairs.reserveCapacity(pairCount)
        let useIndex = pairCount > 16
        var index: [String: YAMLNode] = [:]
        var hasMerge = false
        defer { children.removeSubrange(frame.start...) }
        for offset in 0..<pairCount {
            let key = children[frame.start + 2 * offset]
            let pair = YAMLNode.Pair(key: key, value: children[frame.start + 2 * offset + 1])
            if let text = key.scalarValue {
                let first: YAMLNode?
                if useIndex {
                    first = index[text]
                    if first == nil { index[text] = key }
                } else {
                    first = pairs.first { pair in
                        if case .scalar(let other, _) = pair.key.content { return other == text }
                        return false
                    }?.key
                }
                if let first {
                    diagnostics.append(Diagnostic(
                        .error, file: file, line: key.line, column: key.column,
                        path: appendingPath(currentPath(childrenEnd: frame.start), key: text),
                        message: "duplicate key '\(text)' (first defined at \(first.line):\(first.column))"))
                    continue
                }
                if Self.isMergeKey(key) { hasMerge = true }
            }
            pairs.append(pair)
        }
        let position = corrections.userPosition(frame.mark)
        guard hasMerge else {
            return YAMLNode(
                content: .mapping(pairs), line: position.line, column: position.column, tag: frame.tag,
                anchor: frame.anchor, expandedCount: frame.expanded, writtenCount: frame.written,
                height: frame.childHeight + 1)
        }
        let merged = try merge(pairs, childrenEnd: frame.start)
        var expanded = 1
        var height = 0
        for pair in merged {
            expanded = expanded.addingSaturated(pair.key.expandedCount).addingSaturated(pair.value.expandedCount)
            height = max(height, pair.key.height, pair.value.height)
        }
        return YAMLNode(
            content: .mapping(merged), line: position.line, column: position.column, tag: frame.tag,
            anchor: frame.anchor, expandedCount: expanded, writtenCount: frame.written, height: height + 1)
    }

    static func isMergeKey(_ key: YAMLNode) -> Bool {
        guard case .scalar("<<", let style) = key.content else { return false }
        if let tag = key.tag { return tag == YAMLTag.merge }
        return style == .plain
    }

    /// Replaces each `<<` entry by the entries of the mapping(s) it names that the mapping
    /// does not set itself; among several merged mappings the first one wins.
    private func merge(_ pairs: [YAMLNode.Pair], childrenEnd: Int) throws(YAMLLoadError) -> [YAMLNode.Pair] {
        var seen = Set<String>()
        for pair in pairs where !Self.isMergeKey(pair.key) {
            if let text = pair.key.scalarValue { seen.insert(text) }
        }
        var result: [YAMLNode.Pair] = []
        for pair in pairs {
            guard Self.isMergeKey(pair.key) else {
                result.append(pair)
                continue
            }
            let sources: [YAMLNode]
            switch pair.value.content {
            case .mapping: sources = [pair.value]
            case .sequence(let items): sources = items
            case .scalar: sources = [pair.value]
            }
            for source in sources {
                guard case .mapping(let sourcePairs) = source.content else {
                    let position = (line: source.line, column: source.column)
                    throw YAMLLoadError(
                        file: file, line: position.line, column: position.column,
                        path: appendingPath(currentPath(childrenEnd: childrenEnd), key: "<<"),
                        "merge key '<<' needs a mapping or a list of mappings, found \(Scalars.describe(source))")
                }
                for sourcePair in sourcePairs {
                    if let text = sourcePair.key.scalarValue, !seen.insert(text).inserted { continue }
                    result.append(sourcePair)
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

    static func string(_ pointer: UnsafeMutablePointer<yaml_char_t>?) -> String? {
        pointer.map { String(cString: $0) }
    }
}

extension Int {
    /// `self + other`, stopping at `Int.max` instead of overflowing.
    func addingSaturated(_ other: Int) -> Int {
        let (sum, overflow) = addingReportingOverflow(other)
        return overflow ? Int.max : sum
    }
}
