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
    "virConnectGetHostname": .read, "virConnectGetLibVersion": .read, "virConnectGetVersion": .read, "virConnectGetCapabilities": .read, "virConnectCompareHypervisorCPU": .read,
    "virConnectGetDomainCapabilities": .read,
    "virGetLastError": .local, "virResetLastError": .local, "virSetErrorFunc": .local,
    "virEventRegisterDefaultImpl": .local, "virEventRunDefaultImpl": .local,
    // Listing and observing.
    "virConnectListAllDomains": .read, "virConnectListAllNetworks": .read, "virConnectListAllStoragePools": .read,
    "virConnectGetAllDomainStats": .read,
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
    // Only ever on a copy virtplace created and that is provably incomplete (RecoveryTests pins
    // the one caller).
    "virStorageVolDelete": .mutating(),
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

    /// One Swift source, as UTF-8 bytes: its path relative to the root, its text, and its code
    /// with comments blanked out and string literals emptied (interpolations kept as code),
    /// byte for byte, so offsets into the code are offsets into the text. Scanned once.
    struct Source {
        var path: String
        var text: [UInt8]
        var code: [UInt8]
        /// Offsets of the identifiers `func`, `init` and `deinit` in the code, ascending.
        var declarations: [Int] = []
        /// `MutatingCalls.record("NAME")` in the code: where, and NAME (read from the text).
        var records: [(offset: Int, name: String)] = []
        /// Every identifier in the code, with its offset.
        var identifiers: [(offset: Int, name: String)] = []
        /// Offsets where each line starts.
        var lineStarts: [Int] = [0]

        init(path: String, text: [UInt8]) {
            self.path = path
            self.text = text
            code = MutatingCallCoverageTests.codeOnly(text)
            for (i, byte) in text.enumerated() where byte == UInt8(ascii: "\n") { lineStarts.append(i + 1) }
            var i = 0
            while i < code.count {
                guard isIdentifierStart(code[i]), i == 0 || !isIdentifierByte(code[i - 1]) else { i += 1; continue }
                var j = i
                while j < code.count, isIdentifierByte(code[j]) { j += 1 }
                let name = String(decoding: code[i..<j], as: UTF8.self)
                identifiers.append((i, name))
                if name == "func" || name == "init" || name == "deinit" { declarations.append(i) }
                if name == "MutatingCalls", code[j...].starts(with: Array(".record(".utf8)) {
                    let open = j + ".record(".utf8.count
                    var name = ""
                    if open < text.count, text[open] == UInt8(ascii: "\"") {
                        let rest = text[(open + 1)...]
                        name = String(decoding: rest.prefix { $0 != UInt8(ascii: "\"") }, as: UTF8.self)
                    }
                    records.append((open, name))
                }
                i = j
            }
        }

        func line(_ offset: Int) -> Int {
            var low = 0, high = lineStarts.count - 1
            while low < high {
                let mid = (low + high + 1) / 2
                if lineStarts[mid] <= offset { low = mid } else { high = mid - 1 }
            }
            return low + 1
        }

        /// The names counted by `MutatingCalls.record` between the start of the Swift function
        /// enclosing `offset` and `offset`.
        func recordsBefore(_ offset: Int) -> [String] {
            let start = declarations.last { $0 < offset } ?? 0
            return records.filter { $0.offset > start && $0.offset < offset }.map(\.name)
        }
    }

    static func isIdentifierStart(_ b: UInt8) -> Bool {
        (b >= UInt8(ascii: "a") && b <= UInt8(ascii: "z")) || (b >= UInt8(ascii: "A") && b <= UInt8(ascii: "Z")) || b == UInt8(ascii: "_")
    }
    static func isIdentifierByte(_ b: UInt8) -> Bool { isIdentifierStart(b) || (b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9")) }

    /// Every source under Sources/, scanned once for all the tests here.
    static let scanned: [Source] = {
        let base = root.appendingPathComponent("Sources")
        guard let walker = FileManager.default.enumerator(atPath: base.path) else { return [] }
        var result: [Source] = []
        for case let relative as String in walker where relative.hasSuffix(".swift") {
            guard let data = FileManager.default.contents(atPath: base.appendingPathComponent(relative).path) else { continue }
            result.append(Source(path: "Sources/" + relative, text: Array(data)))
        }
        return result.sorted { $0.path < $1.path }
    }()

    static func sources() throws -> [Source] {
        guard !scanned.isEmpty else { throw CocoaError(.fileReadNoSuchFile) }
        return scanned
    }

    /// Blanks comments and the contents of string literals (keeping `\(…)` interpolations as
    /// code), byte for byte.
    static func codeOnly(_ text: [UInt8]) -> [UInt8] {
        var out = text
        var i = 0
        let space = UInt8(ascii: " "), newline = UInt8(ascii: "\n"), quote = UInt8(ascii: "\""), hash = UInt8(ascii: "#")
        let slash = UInt8(ascii: "/"), star = UInt8(ascii: "*"), backslash = UInt8(ascii: "\\")
        let open = UInt8(ascii: "("), close = UInt8(ascii: ")")
        // A stack of contexts: code (with the paren depth of an interpolation), or a string
        // (single-line or multi-line, with its raw-string hash count).
        enum Context { case code(parens: Int), string(multiline: Bool, hashes: Int) }
        var stack: [Context] = [.code(parens: 0)]
        func at(_ bytes: [UInt8], _ j: Int) -> Bool {
            guard j + bytes.count <= text.count else { return false }
            for k in 0..<bytes.count where text[j + k] != bytes[k] { return false }
            return true
        }
        func blank(_ k: Int) { if text[k] != newline { out[k] = space } }
        while i < text.count {
            switch stack[stack.count - 1] {
            case .code(let parens):
                if text[i] == slash, i + 1 < text.count, text[i + 1] == slash {
                    while i < text.count, text[i] != newline { out[i] = space; i += 1 }
                    continue
                }
                if text[i] == slash, i + 1 < text.count, text[i + 1] == star {
                    var depth = 0
                    repeat {
                        if at([slash, star], i) { depth += 1; blank(i); blank(i + 1); i += 2; continue }
                        if at([star, slash], i) { depth -= 1; blank(i); blank(i + 1); i += 2; continue }
                        blank(i)
                        i += 1
                    } while i < text.count && depth > 0
                    continue
                }
                var hashes = 0
                while i + hashes < text.count, text[i + hashes] == hash { hashes += 1 }
                if i + hashes < text.count, text[i + hashes] == quote {
                    let multiline = at([quote, quote, quote], i + hashes)
                    i += hashes + (multiline ? 3 : 1)
                    stack.append(.string(multiline: multiline, hashes: hashes))
                    continue
                }
                if text[i] == open { stack[stack.count - 1] = .code(parens: parens + 1) }
                if text[i] == close {
                    if parens == 0 && stack.count > 1 { stack.removeLast(); i += 1; continue }
                    stack[stack.count - 1] = .code(parens: parens - 1)
                }
                i += 1
            case .string(let multiline, let hashes):
                let closing = (multiline ? [quote, quote, quote] : [quote]) + [UInt8](repeating: hash, count: hashes)
                if at(closing, i) { i += closing.count; stack.removeLast(); continue }
                let interpolation = [backslash] + [UInt8](repeating: hash, count: hashes) + [open]
                if at(interpolation, i) {
                    for k in i..<(i + interpolation.count) { out[k] = space }
                    i += interpolation.count
                    stack.append(.code(parens: 0))
                    continue
                }
                if hashes == 0, text[i] == backslash, i + 1 < text.count { blank(i); blank(i + 1); i += 2; continue }
                blank(i)
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
        var found: [Mention] = []
        for source in sources {
            for (offset, name) in source.identifiers where name.hasPrefix("vir") && functions.contains(name) {
                found.append(Mention(function: name, path: source.path, line: source.line(offset), offset: offset))
            }
        }
        return found
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
            let records = source.recordsBefore(mention.offset)
            #expect(records.contains(counted),
                    "\(mention): changes a host but is not counted: put MutatingCalls.record(\"\(counted)\") before it in the same function (found \(records))")
        }
        #expect(checked >= 20, "only \(checked) mutating calls found: the scan is broken")
    }

    @Test func theCounterIsOnlyFedByTheLibvirtModuleAndOnlyWithMutatingFunctions() throws {
        var records = 0
        for source in try Self.sources() {
            for record in source.records {
                records += 1
                let line = source.line(record.offset)
                #expect(source.path.hasPrefix("Sources/Libvirt/"), "\(source.path):\(line): the counter is fed outside the Libvirt module")
                if case .mutating(nil)? = libvirtCallTable[record.name] {} else {
                    #expect(Bool(false), "\(source.path):\(line): counts \"\(record.name)\", which the table does not call a mutating libvirt function")
                }
            }
        }
        #expect(records >= 20, "only \(records) MutatingCalls.record calls found: the scan is broken")
    }

    @Test func theScannerSeesThroughCommentsStringsAndInterpolations() {
        let sample = #"""
        // virDomainDestroy(a) in a comment
        let s = "virDomainDestroy(\(virDomainGetName(d)))" /* virDomainShutdown */
        let t = #"virDomainSuspend"#; virDomainResume(d)
        """#
        let bytes = Array(sample.utf8)
        let code = String(decoding: MutatingCallCoverageTests.codeOnly(bytes), as: UTF8.self)
        #expect(!code.contains("virDomainDestroy"))
        #expect(!code.contains("virDomainShutdown"))
        #expect(!code.contains("virDomainSuspend"))
        #expect(code.contains("virDomainGetName(d)"), "an interpolation is code: \(code)")
        #expect(code.contains("virDomainResume(d)"))
        #expect(code.utf8.count == bytes.count)
    }
}
