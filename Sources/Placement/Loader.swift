import YAMLDecoding

/// One input: a file's name as the user gave it (or `<stdin>`) and its bytes.
public struct PlacementSource: Sendable {
    public var name: String
    public var bytes: [UInt8]
    public init(name: String, bytes: [UInt8]) { self.name = name; self.bytes = bytes }
}

/// What loading found: the merged placement when there is no error, and every diagnostic.
public struct LoadResult: Sendable {
    /// The merged, validated placement; nil when any error was found.
    public var spec: PlacementSpec?
    /// Errors and warnings, in file order then line order; at most
    /// `LoadOptions.maxDiagnosticsPerFile` a file, then one that counts the rest.
    public var diagnostics: [Diagnostic]
    /// Every error and warning found, including those `diagnostics` leaves out.
    public var errorCount: Int
    public var warningCount: Int
    public var hasErrors: Bool { errorCount > 0 }

    public init(spec: PlacementSpec?, diagnostics: [Diagnostic], errorCount: Int? = nil, warningCount: Int? = nil) {
        self.spec = spec
        self.diagnostics = diagnostics
        self.errorCount = errorCount ?? diagnostics.filter { $0.severity == .error }.count
        self.warningCount = warningCount ?? diagnostics.count - self.errorCount
    }
}

/// Parses, decodes, merges and validates placement sources: every diagnostic of every file at
/// once (up to `options.maxDiagnosticsPerFile` a file, then one that counts the rest), each
/// with its location. Pure: no file system, no libvirt.
public func loadPlacement(_ sources: [PlacementSource], options: LoadOptions = .init()) -> LoadResult {
    var diagnostics: [Diagnostic] = []
    var documents: [LoadedDocument] = []
    // Cross-document checks (references, the fleet name) would only add noise about what a
    // broken file might have said: they run when every file parsed and every root decoded.
    var complete = true
    // Validation findings counted but not built (past its own bound).
    var unlisted: (file: String, count: Int, error: Bool)? = nil

    for source in sources {
        let roots: [YAMLNode]
        do {
            roots = try YAMLParser.parseDocuments(source.bytes, file: source.name)
        } catch {
            diagnostics.append(contentsOf: error.diagnostics)
            complete = false
            continue
        }
        for root in roots {
            // A valid document is read directly; anything else goes through the decoder, which
            // finds every problem (and reads valid documents to the same value).
            let decoded = PlacementDocument.fastDecoded(from: root).map { YAMLDecoded<PlacementDocument>(value: $0, diagnostics: []) }
                ?? YAMLNodeDecoder().decode(PlacementDocument.self, from: root, file: source.name)
            diagnostics.append(contentsOf: decoded.diagnostics)
            if let value = decoded.value {
                documents.append(LoadedDocument(file: source.name, root: root, value: value))
            } else {
                complete = false
            }
        }
    }

    var merger = Merger(documents: documents)
    merger.merge()
    diagnostics.append(contentsOf: merger.diagnostics)

    if complete {
        let validation = validateCounting(merger.spec, declared: merger.declaredNames(), options: options)
        let located = validation.findings.map { merger.locate($0) }
        diagnostics.append(contentsOf: located)
        if validation.omitted > 0 {
            // Counted with the file the last built finding is in (the first file if none).
            unlisted = (located.last?.file ?? sources.first?.name ?? "<input>", validation.omitted, validation.omittedError)
        }
    }

    let order = Dictionary(sources.enumerated().map { ($0.element.name, $0.offset) }, uniquingKeysWith: { a, _ in a })
    diagnostics = Array(Set(diagnostics)).sorted {
        let fa = order[$0.file] ?? Int.max, fb = order[$1.file] ?? Int.max
        return (fa, $0.line, $0.column, $0.message) < (fb, $1.line, $1.column, $1.message)
    }
    var errors = diagnostics.filter { $0.severity == .error }.count
    var warnings = diagnostics.count - errors
    if let unlisted {
        if unlisted.error { errors += unlisted.count } else { warnings += unlisted.count }
    }
    return LoadResult(spec: errors > 0 ? nil : merger.spec,
                      diagnostics: capped(diagnostics, perFile: options.maxDiagnosticsPerFile, unlisted: unlisted),
                      errorCount: errors, warningCount: warnings)
}

/// The first `limit` diagnostics of each file, in order, and for a file that has more (or the
/// file of `unlisted`, problems counted and never built), one more after its last shown that
/// counts them (an error when any of them is).
func capped(_ diagnostics: [Diagnostic], perFile limit: Int, unlisted: (file: String, count: Int, error: Bool)? = nil) -> [Diagnostic] {
    guard diagnostics.count > limit || unlisted != nil else { return diagnostics }
    var shown: [String: Int] = [:]
    var left: [String: (first: Diagnostic, count: Int, error: Bool)] = [:]
    var result: [Diagnostic] = []
    var files: [String] = []
    for d in diagnostics {
        let count = shown[d.file, default: 0]
        if count == 0 { files.append(d.file) }
        if count < limit {
            shown[d.file] = count + 1
            result.append(d)
        } else if let previous = left[d.file] {
            left[d.file] = (previous.first, previous.count + 1, previous.error || d.severity == .error)
        } else {
            left[d.file] = (d, 1, d.severity == .error)
        }
    }
    if let unlisted {
        if !files.contains(unlisted.file) { files.append(unlisted.file) }
        let last = result.last { $0.file == unlisted.file }
        let at = left[unlisted.file]?.first ?? last
            ?? Diagnostic(.error, file: unlisted.file, line: 0, column: 0, path: "", message: "")
        let previous = left[unlisted.file]
        left[unlisted.file] = (at, (previous?.count ?? 0) + unlisted.count, (previous?.error ?? false) || unlisted.error)
    }
    for file in files {
        guard let rest = left[file] else { continue }
        let summary = Diagnostic(rest.error ? .error : .warning, file: file, line: rest.first.line, column: rest.first.column,
                                 path: "", message: "\(rest.count) more problem\(rest.count == 1 ? "" : "s") in this file not shown (only the first \(limit) are)")
        // After the file's last shown diagnostic.
        if let last = result.lastIndex(where: { $0.file == file }) {
            result.insert(summary, at: last + 1)
        } else {
            result.append(summary)
        }
    }
    return result
}

/// A decoded document and where it came from.
struct LoadedDocument {
    var file: String
    var root: YAMLNode
    var value: PlacementDocument
}

/// Merges documents section by section, remembering which document defined what so that
/// validation findings get their file, line and column.
struct Merger {
    let documents: [LoadedDocument]
    var spec = PlacementSpec()
    var diagnostics: [Diagnostic] = []
    /// "metadata", "policy", "storage" → index in `documents` of the document that set it.
    /// A host, profile or instance comes from the first document that names it
    /// (`entryOrigin`).
    var sectionOrigin: [String: Int] = [:]
    /// Entries of the hosts, profiles and instances mappings by name, built when first needed.
    let entryIndex = EntryIndex()

    init(documents: [LoadedDocument]) { self.documents = documents }

    mutating func merge() {
        for (index, doc) in documents.enumerated() {
            let v = doc.value
            // apiVersion and kind may repeat in every document; each must be ours.
            if let a = v.apiVersion, a != "virtplace/v1" {
                report(index, ["apiVersion"], "unsupported apiVersion '\(a)' (expected virtplace/v1)")
            }
            if let k = v.kind, k != "Placement" {
                report(index, ["kind"], "unsupported kind '\(k)' (expected Placement)")
            }
            if let m = v.metadata { claimSection("metadata", in: index) { $0.metadata = m } }
            if let p = v.policy { claimSection("policy", in: index) { $0.policy = p } }
            if let s = v.storage { claimSection("storage", in: index) { $0.storage = s } }
            if let hosts = v.hosts { mergeEntries(hosts, into: \.hosts, section: "hosts", in: index) }
            if let profiles = v.profiles { mergeEntries(profiles, into: \.profiles, section: "profiles", in: index) }
            if let instances = v.instances { mergeEntries(instances, into: \.instances, section: "instances", in: index) }
        }
    }

    mutating func report(_ index: Int, _ path: [String], _ message: String) {
        let at = location(document: index, path: path, atKey: false)
        diagnostics.append(Diagnostic(.error, file: documents[index].file, line: at.line, column: at.column,
                                      path: displayPath(path), message: message))
    }

    /// Sets a section from the first document that has it; reports it in any later one.
    mutating func claimSection(_ section: String, in index: Int, _ set: (inout PlacementSpec) -> Void) {
        if let first = sectionOrigin[section] {
            reportTwice([section], what: "'\(section)'", in: index, first: first)
            return
        }
        sectionOrigin[section] = index
        set(&spec)
    }

    /// Adds a document's hosts, profiles or instances; a name an earlier document defined is
    /// reported and keeps its first definition.
    mutating func mergeEntries<Value>(
        _ entries: [String: Value], into keyPath: WritableKeyPath<PlacementSpec, [String: Value]>,
        section: String, in index: Int
    ) {
        if spec[keyPath: keyPath].isEmpty {
            // Nothing of this section yet, so no name is defined twice: take them all at once.
            spec[keyPath: keyPath] = entries
            return
        }
        for (name, value) in entries.sorted(by: { $0.key < $1.key }) {
            if spec[keyPath: keyPath][name] != nil, let first = entryOrigin(section: section, name: name) {
                reportTwice([section, name], what: "\(section.dropLast()) '\(name)'", in: index, first: first)
            } else {
                spec[keyPath: keyPath][name] = value
            }
        }
    }

    /// The first document that defines host, profile or instance `name` (`section` is
    /// `hosts`, `profiles` or `instances`).
    func entryOrigin(section: String, name: String) -> Int? {
        documents.firstIndex { doc in
            switch section {
            case "hosts": doc.value.hosts?[name] != nil
            case "profiles": doc.value.profiles?[name] != nil
            case "instances": doc.value.instances?[name] != nil
            default: false
            }
        }
    }

    mutating func reportTwice(_ path: [String], what: String, in index: Int, first: Int) {
        let here = location(document: index, path: path, atKey: true)
        let there = location(document: first, path: path, atKey: true)
        diagnostics.append(Diagnostic(.error, file: documents[index].file, line: here.line, column: here.column,
            path: path.joined(separator: "."),
            message: "\(what) is defined twice (first at \(documents[first].file):\(there.line):\(there.column))"))
    }

    /// Every host, profile and instance name and fault domain written in the documents,
    /// including entries that failed to decode: a reference to one of those is not reported
    /// as unknown (the entry's own errors are).
    func declaredNames() -> DeclaredNames {
        var names = DeclaredNames()
        for doc in documents {
            for pair in doc.root["hosts"]?.pairs ?? [] {
                if let name = pair.key.scalarValue { names.hosts.insert(name) }
                if let fd = pair.value["faultDomain"]?.scalarValue { names.faultDomains.insert(fd) }
            }
            for pair in doc.root["profiles"]?.pairs ?? [] {
                if let name = pair.key.scalarValue { names.profiles.insert(name) }
            }
            if doc.root["metadata"] != nil { names.metadataWritten = true }
        }
        return names
    }

    /// Where a validation finding points: the document that defined its section, then the
    /// node at its path (or the nearest one that exists).
    func locate(_ finding: Finding) -> Diagnostic {
        let path = finding.path
        var doc: Int?
        if path.count >= 2, ["hosts", "profiles", "instances"].contains(path[0]) {
            doc = entryOrigin(section: path[0], name: path[1])
        } else if let first = path.first {
            doc = sectionOrigin[first]
        }
        let display = displayPath(path)
        guard let index = doc ?? (documents.isEmpty ? nil : 0) else {
            return Diagnostic(finding.severity, file: "<input>", line: 0, column: 0, path: display, message: finding.message)
        }
        let at = location(document: index, path: path, atKey: finding.atKey)
        return Diagnostic(finding.severity, file: documents[index].file, line: at.line, column: at.column, path: display, message: finding.message)
    }

    func location(document: Int, path: [String], atKey: Bool) -> (line: Int, column: Int) {
        let root = documents[document].root
        // hosts, profiles and instances may hold hundreds of thousands of entries: their
        // entries are found through an index built once, not by a scan per finding.
        if path.count >= 2, ["hosts", "profiles", "instances"].contains(path[0]),
           let section = root.pairs?.first(where: { $0.key.scalarValue == path[0] }) {
            let entries = entryIndex.entries(document: document, section: section)
            guard let pair = entries[path[1]] else { return (section.value.line, section.value.column) }
            if path.count == 2 {
                return atKey ? (pair.key.line, pair.key.column) : (pair.value.line, pair.value.column)
            }
            return pair.value.location(of: Array(path.dropFirst(2)), atKey: atKey, start: (pair.value.line, pair.value.column))
        }
        return root.location(of: path, atKey: atKey)
    }
}

/// `instances.web-1.profiles[0]`.
func displayPath(_ path: [String]) -> String {
    var s = ""
    for p in path {
        if p.hasPrefix("[") || s.isEmpty { s += p } else { s += "." + p }
    }
    return s
}

/// The entries of a document's section (hosts, profiles, instances) by name (the first of a
/// name wins), built once per section: a reference type so that `Merger.locate` stays a plain
/// function of the merger.
final class EntryIndex {
    private var built: [String: [String: YAMLNode.Pair]] = [:]

    func entries(document: Int, section: YAMLNode.Pair) -> [String: YAMLNode.Pair] {
        let key = "\(document)/\(section.key.scalarValue ?? "")"
        if let entries = built[key] { return entries }
        var entries: [String: YAMLNode.Pair] = [:]
        for pair in section.value.pairs ?? [] {
            if let name = pair.key.scalarValue, entries[name] == nil { entries[name] = pair }
        }
        built[key] = entries
        return entries
    }
}

extension YAMLNode {
    /// The 1-based line and column of the node at `path` (mapping keys by name, `[i]` for
    /// sequence items), or of the deepest node that exists on the way. With `atKey`, the
    /// position of the last mapping key rather than its value.
    func location(of path: [String], atKey: Bool, start: (line: Int, column: Int)? = nil) -> (line: Int, column: Int) {
        var node = self
        var at = start ?? (line: line, column: column)
        for (i, component) in path.enumerated() {
            let last = i == path.count - 1
            if component.hasPrefix("["), component.hasSuffix("]"), let index = Int(component.dropFirst().dropLast()),
               let item = node[index] {
                node = item
                at = (item.line, item.column)
            } else if let pair = node.pairs?.first(where: { $0.key.scalarValue == component }) {
                node = pair.value
                at = last && atKey ? (pair.key.line, pair.key.column) : (pair.value.line, pair.value.column)
            } else {
                break
            }
        }
        return at
    }
}
