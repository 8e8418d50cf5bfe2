import Foundation
import Testing

// The `libvirt mutating calls: N` diagnostic is only worth reading if every libvirt C function
// that changes a host goes through the counter (Sources/Libvirt/CallCounter.swift). This test
// reads the sources: it lists every libvirt C function they name (the names come from the
// installed libvirt headers, so nothing is missed by a pattern), requires each to be classified
// in the table below, and requires every call of a mutating one to be counted by
// `MutatingCalls.record` earlier in the same Swift function. A newly called C function fails
// the test until someone classifies it here.

/// What a libvirt C function does to a host.
enum CallClass: Equatable {
    /// Reads (lookups, XML, state, stats, lists, pool refreshes): nothing on the host changes.
    case read
    /// Bookkeeping in this process: connections, freeing objects, errors, the event loop,
    /// typed-parameter lists, stream objects.
    case local
    /// Moves the bytes of a stream whose opening call is classified on its own (an upload is
    /// counted at `virStorageVolUpload`, a download is a read).
    case streamData
    /// Changes a host: must be counted, under its own name or the name given.
    case mutating(countedAs: String? = nil)
}

/// Every libvirt C function the sources may name, classified. Keep it exact: a function added
/// to the sources must be added here; one no longer used must be removed.
let libvirtCallTable: [String: CallClass] = [
    // Connections, library, errors, event loop.
    "virInitialize": .local, "virGetVersion": .read, "virConnectOpenAuth": .local, "virConnectClose": .local,
    "virConnectIsAlive": .read, "virConnectSetKeepAlive": .local, "virConnectGetType": .read,
    "virConnectGetHostname": .read, "virConnectGetCapabilities": .read, "virConnectCompareHypervisorCPU": .read,
    "virGetLastError": .local, "virResetLastError": .local, "virSetErrorFunc": .local,
    "virEventRegisterDefaultImpl": .local, "virEventRunDefaultImpl": .local,
    // Listing and observing.
    "virConnectListAllDomains": .read, "virConnectListAllNetworks": .read, "virConnectListAllStoragePools": .read,
    "virConnectGetAllDomainStats": .read, "virDomainStatsRecordListFree": .local,
    "virNodeGetInfo": .read, "virNodeGetFreeMemory": .read,
    // Domains: reads.
    "virDomainLookupByName": .read, "virDomainLookupByUUIDString": .read, "virDomainFree": .local,
    "virDomainGetName": .read, "virDomainGetUUIDString": .read, "virDomainGetXMLDesc": .read,
    "virDomainGetState": .read, "virDomainGetInfo": .read, "virDomainIsActive": .read, "virDomainIsPersistent": .read,
    "virDomainHasManagedSaveImage": .read, "virDomainGetAutostart": .read, "virDomainGetMetadata": .read,
    "virDomainGetJobStats": .read, "virDomainListAllSnapshots": .read, "virDomainSnapshotNum": .read,
    "virDomainSnapshotGetName": .read, "virDomainSnapshotGetXMLDesc": .read, "virDomainSnapshotFree": .local,
    // Domains: changes.
    "virDomainDefineXMLFlags": .mutating(), "virDomainCreateXML": .mutating(), "virDomainUndefineFlags": .mutating(),
    "virDomainCreateWithFlags": .mutating(), "virDomainShutdown": .mutating(), "virDomainDestroy": .mutating(),
    "virDomainSuspend": .mutating(), "virDomainResume": .mutating(), "virDomainSetAutostart": .mutating(),
    "virDomainAttachDeviceFlags": .mutating(), "virDomainDetachDeviceFlags": .mutating(),
    "virDomainUpdateDeviceFlags": .mutating(), "virDomainSetVcpusFlags": .mutating(), "virDomainSetMemoryFlags": .mutating(),
    "virDomainSetMetadata": .mutating(), "virDomainSnapshotCreateXML": .mutating(),
    // Migration and its job.
    "virDomainMigrateToURI3": .mutating(), "virDomainMigrate3": .mutating(), "virDomainAbortJob": .mutating(),
    "virDomainAbortJobFlags": .mutating(countedAs: "virDomainAbortJob"),
    "virDomainMigrateSetMaxDowntime": .mutating(), "virDomainMigrateSetMaxSpeed": .mutating(),
    "virDomainMigrateStartPostCopy": .mutating(),
    "virTypedParamsAddInt": .local, "virTypedParamsAddString": .local, "virTypedParamsAddULLong": .local,
    "virTypedParamsFree": .local, "virTypedParamsGetBoolean": .local, "virTypedParamsGetInt": .local,
    "virTypedParamsGetString": .local, "virTypedParamsGetUInt": .local, "virTypedParamsGetULLong": .local,
    // Networks.
    "virNetworkLookupByName": .read, "virNetworkFree": .local, "virNetworkGetName": .read,
    "virNetworkGetXMLDesc": .read, "virNetworkIsActive": .read,
    // Storage.
    "virStoragePoolLookupByName": .read, "virStoragePoolLookupByVolume": .read, "virStoragePoolFree": .local,
    "virStoragePoolGetName": .read, "virStoragePoolGetInfo": .read, "virStoragePoolGetXMLDesc": .read,
    "virStoragePoolIsActive": .read, "virStoragePoolListAllVolumes": .read,
    // A refresh re-reads the pool's directory into libvirt's view; no volume changes.
    "virStoragePoolRefresh": .read,
    "virStorageVolLookupByName": .read, "virStorageVolLookupByPath": .read, "virStorageVolFree": .local,
    "virStorageVolGetName": .read, "virStorageVolGetKey": .read, "virStorageVolGetPath": .read,
    "virStorageVolGetInfo": .read, "virStorageVolGetInfoFlags": .read, "virStorageVolGetXMLDesc": .read,
    "virStorageVolCreateXML": .mutating(), "virStorageVolCreateXMLFrom": .mutating(),
    "virStorageVolUpload": .mutating(), "virStorageVolDownload": .read,
    // Streams.
    "virStreamNew": .local, "virStreamFree": .local, "virStreamAbort": .local, "virStreamFinish": .streamData,
    "virStreamSend": .streamData, "virStreamSendHole": .streamData, "virStreamSparseRecvAll": .streamData,
]

@Suite struct MutatingCallCoverageTests {
    /// The package's root, from this file's path.
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// Every function the installed libvirt headers declare.
    static func headerFunctions() throws -> Set<String> {
        let directory = "/usr/include/libvirt"
        let files = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasSuffix(".h") }
        let declaration = try Regex(#"\b(vir[A-Z][A-Za-z0-9_]*)\s*\("#)
        var names = Set<String>()
        for file in files {
            let text = try String(contentsOfFile: directory + "/" + file, encoding: .utf8)
            for match in text.matches(of: declaration) {
                if let name = match.output[1].substring { names.insert(String(name)) }
            }
        }
        return names
    }

    /// One Swift source: its path relative to the root and its code with comments blanked out
    /// and string literals emptied (interpolations kept as code). Lengths are kept, so offsets
    /// into the code are offsets into the file.
    struct Source {
        var path: String
        var text: [Character]
        var code: [Character]
    }

    static func sources() throws -> [Source] {
        let base = root.appendingPathComponent("Sources")
        guard let walker = FileManager.default.enumerator(atPath: base.path) else { return [] }
        var result: [Source] = []
        for case let relative as String in walker where relative.hasSuffix(".swift") {
            let text = Array(try String(contentsOfFile: base.appendingPathComponent(relative).path, encoding: .utf8))
            result.append(Source(path: "Sources/" + relative, text: text, code: codeOnly(text)))
        }
        return result.sorted { $0.path < $1.path }
    }

    /// Blanks comments and the contents of string literals (keeping `\(…)` interpolations as
    /// code), character for character.
    static func codeOnly(_ text: [Character]) -> [Character] {
        var out = text
        var i = 0
        // A stack of contexts: code (with the paren depth of an interpolation), or a string
        // (single-line or multi-line, with its raw-string hash count).
        enum Context { case code(parens: Int), string(multiline: Bool, hashes: Int) }
        var stack: [Context] = [.code(parens: 0)]
        func at(_ s: String, _ j: Int) -> Bool {
            let cs = Array(s)
            guard j + cs.count <= text.count else { return false }
            return Array(text[j..<(j + cs.count)]) == cs
        }
        while i < text.count {
            switch stack[stack.count - 1] {
            case .code(let parens):
                if at("//", i) {
                    while i < text.count, text[i] != "\n" { out[i] = " "; i += 1 }
                    continue
                }
                if at("/*", i) {
                    var depth = 0
                    repeat {
                        if at("/*", i) { depth += 1; out[i] = " "; out[i + 1] = " "; i += 2; continue }
                        if at("*/", i) { depth -= 1; out[i] = " "; out[i + 1] = " "; i += 2; continue }
                        if text[i] != "\n" { out[i] = " " }
                        i += 1
                    } while i < text.count && depth > 0
                    continue
                }
                var hashes = 0
                while i + hashes < text.count, text[i + hashes] == "#" { hashes += 1 }
                if i + hashes < text.count, text[i + hashes] == "\"" {
                    let multiline = at("\"\"\"", i + hashes)
                    i += hashes + (multiline ? 3 : 1)
                    stack.append(.string(multiline: multiline, hashes: hashes))
                    continue
                }
                if text[i] == "(" { stack[stack.count - 1] = .code(parens: parens + 1) }
                if text[i] == ")" {
                    if parens == 0 && stack.count > 1 { stack.removeLast(); i += 1; continue }
                    stack[stack.count - 1] = .code(parens: parens - 1)
                }
                i += 1
            case .string(let multiline, let hashes):
                let close = (multiline ? "\"\"\"" : "\"") + String(repeating: "#", count: hashes)
                if at(close, i) { i += close.count; stack.removeLast(); continue }
                let interpolation = "\\" + String(repeating: "#", count: hashes) + "("
                if at(interpolation, i) {
                    for k in i..<(i + interpolation.count) { out[k] = " " }
                    i += interpolation.count
                    stack.append(.code(parens: 0))
                    continue
                }
                if hashes == 0, text[i] == "\\", i + 1 < text.count { out[i] = " "; out[i + 1] = " "; i += 2; continue }
                if text[i] != "\n" { out[i] = " " }
                i += 1
            }
        }
        return out
    }

    /// Each mention of a libvirt C function in code (not in comments or strings).
    struct Mention: CustomStringConvertible {
        var function: String
        var path: String
        var line: Int
        var offset: Int
        var description: String { "\(path):\(line): \(function)" }
    }

    static func mentions(in sources: [Source], functions: Set<String>) throws -> [Mention] {
        let identifier = try Regex(#"\bvir[A-Z][A-Za-z0-9_]*\b"#)
        var found: [Mention] = []
        for source in sources {
            let code = String(source.code)
            for match in code.matches(of: identifier) {
                let name = String(code[match.range])
                guard functions.contains(name) else { continue }
                let offset = code.distance(from: code.startIndex, to: match.range.lowerBound)
                let line = source.code[..<offset].filter { $0 == "\n" }.count + 1
                found.append(Mention(function: name, path: source.path, line: line, offset: offset))
            }
        }
        return found
    }

    /// The names counted by `MutatingCalls.record("…")` between the start of the Swift function
    /// enclosing `offset` and `offset`.
    static func recordsBefore(_ offset: Int, in source: Source) throws -> [String] {
        let code = String(source.code[..<offset])
        let declaration = try Regex(#"\b(func|init|deinit)\b"#)
        let start = code.matches(of: declaration).last.map { code.distance(from: code.startIndex, to: $0.range.lowerBound) } ?? 0
        // The record's argument is a string literal: read it from the text, at the place the
        // code says `MutatingCalls.record(`.
        let scope = String(source.code[start..<offset])
        let text = String(source.text[start..<offset])
        var names: [String] = []
        var searchFrom = scope.startIndex
        while let r = scope.range(of: "MutatingCalls.record(", range: searchFrom..<scope.endIndex) {
            let at = scope.distance(from: scope.startIndex, to: r.upperBound)
            let rest = text.dropFirst(at)
            if rest.first == "\"", let end = rest.dropFirst().firstIndex(of: "\"") {
                names.append(String(rest[rest.index(after: rest.startIndex)..<end]))
            }
            searchFrom = r.upperBound
        }
        return names
    }

    @Test func everyLibvirtFunctionTheSourcesNameIsClassifiedAndOnlyTheLibvirtModuleNamesThem() throws {
        let functions = try Self.headerFunctions()
        #expect(functions.count > 300, "read \(functions.count) functions from /usr/include/libvirt: are the headers installed?")
        let mentions = try Self.mentions(in: try Self.sources(), functions: functions)
        #expect(mentions.count > 100, "found only \(mentions.count) libvirt calls in Sources: the scan is broken")
        let unclassified = mentions.filter { libvirtCallTable[$0.function] == nil }
        #expect(unclassified.isEmpty, "classify these in libvirtCallTable (Tests/LibvirtTests/MutatingCallCoverageTests.swift), and count them if they change a host:\n\(unclassified.map(\.description).joined(separator: "\n"))")
        let outside = mentions.filter { !$0.path.hasPrefix("Sources/Libvirt/") }
        #expect(outside.isEmpty, "only the Libvirt module may call libvirt:\n\(outside.map(\.description).joined(separator: "\n"))")
        let unused = Set(libvirtCallTable.keys).subtracting(mentions.map(\.function))
        #expect(unused.isEmpty, "libvirtCallTable lists functions no source names any more: remove \(unused.sorted())")
        let notInHeaders = Set(libvirtCallTable.keys).subtracting(functions)
        #expect(notInHeaders.isEmpty, "not libvirt functions: \(notInHeaders.sorted())")
    }

    @Test func everyMutatingLibvirtCallIsCountedInTheSameFunctionBeforeItRuns() throws {
        let functions = try Self.headerFunctions()
        let sources = try Self.sources()
        let byPath = Dictionary(uniqueKeysWithValues: sources.map { ($0.path, $0) })
        var checked = 0
        for mention in try Self.mentions(in: sources, functions: functions) {
            guard case .mutating(let alias)? = libvirtCallTable[mention.function], let source = byPath[mention.path] else { continue }
            checked += 1
            let counted = alias ?? mention.function
            let records = try Self.recordsBefore(mention.offset, in: source)
            #expect(records.contains(counted),
                    "\(mention): changes a host but is not counted: put MutatingCalls.record(\"\(counted)\") before it in the same function (found \(records))")
        }
        #expect(checked >= 20, "only \(checked) mutating calls found: the scan is broken")
    }

    @Test func theCounterIsOnlyFedByTheLibvirtModuleAndOnlyWithMutatingFunctions() throws {
        var records = 0
        for source in try Self.sources() {
            let code = String(source.code)
            var from = code.startIndex
            while let r = code.range(of: "MutatingCalls.record(", range: from..<code.endIndex) {
                records += 1
                let offset = code.distance(from: code.startIndex, to: r.upperBound)
                let line = source.code[..<offset].filter { $0 == "\n" }.count + 1
                let rest = source.text[offset...]
                var name = ""
                if rest.first == "\"" { name = String(rest.dropFirst().prefix { $0 != "\"" }) }
                #expect(source.path.hasPrefix("Sources/Libvirt/"), "\(source.path):\(line): the counter is fed outside the Libvirt module")
                if case .mutating(nil)? = libvirtCallTable[name] {} else {
                    #expect(Bool(false), "\(source.path):\(line): counts \"\(name)\", which the table does not call a mutating libvirt function")
                }
                from = r.upperBound
            }
        }
        #expect(records >= 20, "only \(records) MutatingCalls.record calls found: the scan is broken")
    }

    @Test func theScannerSeesThroughCommentsStringsAndInterpolations() {
        let sample = Array(#"""
        // virDomainDestroy(a) in a comment
        let s = "virDomainDestroy(\(virDomainGetName(d)))" /* virDomainShutdown */
        let t = #"virDomainSuspend"#; virDomainResume(d)
        """#)
        let code = String(MutatingCallCoverageTests.codeOnly(sample))
        #expect(!code.contains("virDomainDestroy"))
        #expect(!code.contains("virDomainShutdown"))
        #expect(!code.contains("virDomainSuspend"))
        #expect(code.contains("virDomainGetName(d)"), "an interpolation is code: \(code)")
        #expect(code.contains("virDomainResume(d)"))
        #expect(code.count == sample.count)
    }
}
