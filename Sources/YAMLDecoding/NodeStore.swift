import Synchronization

/// The nodes of a parsed stream, stored flat: a record a node, the children of every
/// collection as indices in one array, the text of every scalar in one buffer.
///
/// A large file has hundreds of thousands of nodes; as objects they cost an allocation each
/// to build and a release each to free, which took longer than libyaml took to parse. Stored
/// flat they cost a few arrays. The decoder reads the store directly; `YAMLNode`s are views
/// of it, made when the public API asks for them.
///
/// A node is named by its index. The decoder also uses negative handles: `-(i + 1)` is a
/// null standing for a missing value, located where node `i` is (see `missing(at:)`).
struct NodeTable: NodeReading, Sendable {
    /// One node, in 24 bytes: every position and offset fits 32 bits, since inputs are at
    /// most `YAMLLimits.largestFileSize` (2 GiB) long.
    struct Record {
        private var line32: UInt32
        private var column32: UInt32
        private var start32: UInt32
        private var count32: UInt32
        private var counts32: UInt32
        let kind: YAMLNode.Kind
        let style: YAMLNode.ScalarStyle
        /// `isASCII`, `hasProperties`.
        private var flags: UInt8

        init(
            line: Int, column: Int, start: Int, count: Int, counts: Int, kind: YAMLNode.Kind,
            style: YAMLNode.ScalarStyle, isASCII: Bool, hasProperties: Bool
        ) {
            line32 = UInt32(truncatingIfNeeded: line)
            column32 = UInt32(truncatingIfNeeded: column)
            start32 = UInt32(truncatingIfNeeded: start)
            count32 = UInt32(truncatingIfNeeded: count)
            counts32 = UInt32(truncatingIfNeeded: counts)
            self.kind = kind
            self.style = style
            flags = (isASCII ? 1 : 0) | (hasProperties ? 2 : 0)
        }

        /// 1-based line and column (in Unicode scalars) where the node starts.
        @inline(__always) var line: Int { Int(line32) }
        @inline(__always) var column: Int { Int(column32) }
        /// A scalar's text is `text[start ..< start + count]`; a collection's children are
        /// `children[start ..< start + count]`, a mapping's alternating key, value.
        @inline(__always) var start: Int { Int(start32) }
        @inline(__always) var count: Int { Int(count32) }
        /// A collection's index in `counts` (a scalar stands for one node of height 1).
        @inline(__always) var counts: Int { Int(counts32) }

        /// Whether a scalar's text is ASCII, which makes comparing texts comparing bytes.
        @inline(__always) var isASCII: Bool { flags & 1 != 0 }
        /// Whether the node has a tag or an anchor (in `properties`).
        @inline(__always) var hasProperties: Bool { flags & 2 != 0 }
    }

    /// A node's tag and anchor, when it has one of them.
    struct Properties: Sendable {
        var tag: String?
        var anchor: String?
    }

    /// What a collection stands for once aliases are expanded: see `YAMLNode`.
    struct Counts: Sendable {
        var expanded: Int
        var written: Int
        var height: Int
    }

    var records: [Record] = []
    var children: [UInt32] = []
    var text: [UInt8] = []
    /// The tags and anchors, by node; few nodes have one.
    var properties: [Int: Properties] = [:]
    var counts: [Counts] = []


    /// The handle of a null standing for a missing value, located where node `n` is.
    static func missing(at n: Int) -> Int {
        n >= 0 ? -n - 1 : n
    }

    static func isASCII(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        for byte in bytes where byte >= 0x80 { return false }
        return true
    }

    /// `""`, `~`, `null`, `Null`, `NULL`.
    static func isNullText(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        switch bytes.count {
        case 0: return true
        case 1: return bytes[0] == UInt8(ascii: "~")
        case 4:
            let (a, b, c, d) = (bytes[0], bytes[1], bytes[2], bytes[3])
            if a == UInt8(ascii: "n") { return b == UInt8(ascii: "u") && c == UInt8(ascii: "l") && d == UInt8(ascii: "l") }
            guard a == UInt8(ascii: "N") else { return false }
            return (b == UInt8(ascii: "u") && c == UInt8(ascii: "l") && d == UInt8(ascii: "l"))
                || (b == UInt8(ascii: "U") && c == UInt8(ascii: "L") && d == UInt8(ascii: "L"))
        default: return false
        }
    }
}

/// Read access to the nodes, for the builder's `NodeTable` and the finished `NodeStore`
/// alike (the compiler specializes the readers for each).
protocol NodeReading {
    var records: [NodeTable.Record] { get }
    var children: [UInt32] { get }
    var text: [UInt8] { get }
    var properties: [Int: NodeTable.Properties] { get }
    var counts: [NodeTable.Counts] { get }
}

extension NodeReading {

    /// The record of node `n`, or for a missing value's handle, of the node it is located at.
    @inline(__always)
    private func record(_ n: Int) -> NodeTable.Record {
        records[n >= 0 ? n : -n - 1]
    }

    @inline(__always)
    func kind(_ n: Int) -> YAMLNode.Kind { n >= 0 ? records[n].kind : .scalar }
    @inline(__always)
    func style(_ n: Int) -> YAMLNode.ScalarStyle { n >= 0 ? records[n].style : .plain }
    @inline(__always)
    func line(_ n: Int) -> Int { record(n).line }
    @inline(__always)
    func column(_ n: Int) -> Int { record(n).column }

    /// Whether node `n` has a tag or an anchor.
    @inline(__always)
    func hasProperties(_ n: Int) -> Bool { n >= 0 && records[n].hasProperties }

    @inline(__always)
    func tag(_ n: Int) -> String? {
        guard n >= 0, records[n].hasProperties else { return nil }
        return properties[n]?.tag
    }

    @inline(__always)
    func anchor(_ n: Int) -> String? {
        guard n >= 0, records[n].hasProperties else { return nil }
        return properties[n]?.anchor
    }

    @inline(__always)
    func expandedCount(_ n: Int) -> Int { countsOf(n).expanded }
    @inline(__always)
    func writtenCount(_ n: Int) -> Int { countsOf(n).written }
    @inline(__always)
    func height(_ n: Int) -> Int { countsOf(n).height }

    @inline(__always)
    private func countsOf(_ n: Int) -> NodeTable.Counts {
        guard n >= 0, records[n].kind != .scalar else { return NodeTable.Counts(expanded: 1, written: 1, height: 1) }
        return counts[records[n].counts]
    }

    /// The text of a scalar (empty for anything else).
    @inline(__always)
    func string(_ n: Int) -> String {
        guard n >= 0, records[n].kind == .scalar else { return "" }
        let r = records[n]
        return text.withUnsafeBufferPointer { String(decoding: UnsafeBufferPointer(rebasing: $0[r.start ..< r.start + r.count]), as: UTF8.self) }
    }

    /// `body` of a scalar's UTF-8 text (empty for anything else).
    @inline(__always)
    func withText<R>(_ n: Int, _ body: (UnsafeBufferPointer<UInt8>) -> R) -> R {
        guard n >= 0, records[n].kind == .scalar else { return body(UnsafeBufferPointer(start: nil, count: 0)) }
        let r = records[n]
        return text.withUnsafeBufferPointer { body(UnsafeBufferPointer(rebasing: $0[r.start ..< r.start + r.count])) }
    }

    /// The text of a scalar; nil for a collection.
    @inline(__always)
    func scalarValue(_ n: Int) -> String? {
        kind(n) == .scalar ? string(n) : nil
    }

    /// Whether node `n` is a scalar whose text equals `name` (as `String` compares them).
    @inline(__always)
    func scalar(_ n: Int, equals name: String) -> Bool {
        var name = name
        return name.withUTF8 { scalar(n, equalsUTF8: $0, isASCII: NodeTable.isASCII($0)) }
    }

    /// Whether node `n` is a scalar whose text equals the string of these UTF-8 bytes (as
    /// `String` compares them). Equal bytes are equal strings; different ones can still be
    /// (`String` compares canonical equivalents equal) only when one of them is not ASCII.
    @inline(__always)
    func scalar(_ n: Int, equalsUTF8 bytes: UnsafeBufferPointer<UInt8>, isASCII: Bool) -> Bool {
        guard n >= 0 else { return bytes.isEmpty }
        let r = records[n]
        guard r.kind == .scalar else { return false }
        if r.count != bytes.count && r.isASCII && isASCII { return false }
        return text.withUnsafeBufferPointer { all in
            let own = UnsafeBufferPointer(rebasing: all[r.start ..< r.start + r.count])
            if own.elementsEqual(bytes) { return true }
            if r.isASCII && isASCII { return false }
            return String(decoding: own, as: UTF8.self) == String(decoding: bytes, as: UTF8.self)
        }
    }

    /// Whether two scalars have equal texts (as `String` compares them).
    func scalarsEqual(_ a: Int, _ b: Int) -> Bool {
        if a < 0 || b < 0 { return string(a) == string(b) }
        let (x, y) = (records[a], records[b])
        return text.withUnsafeBufferPointer { all in
            let first = UnsafeBufferPointer(rebasing: all[x.start ..< x.start + x.count])
            let second = UnsafeBufferPointer(rebasing: all[y.start ..< y.start + y.count])
            if first.elementsEqual(second) { return true }
            if x.isASCII && y.isASCII { return false }
            return String(decoding: first, as: UTF8.self) == String(decoding: second, as: UTF8.self)
        }
    }

    /// Whether node `n` is a null: a plain `~`, `null`, `Null`, `NULL` or nothing at all, or
    /// a scalar tagged `!!null`.
    @inline(__always)
    func isNull(_ n: Int) -> Bool {
        guard n >= 0 else { return true }
        let r = records[n]
        guard r.kind == .scalar else { return false }
        if r.hasProperties, let tag = properties[n]?.tag { return tag == YAMLTag.null }
        guard r.style == .plain, r.count <= 4 else { return false }
        return text.withUnsafeBufferPointer { all in
            NodeTable.isNullText(UnsafeBufferPointer(rebasing: all[r.start ..< r.start + r.count]))
        }
    }

    /// The number of items of a sequence or entries of a mapping (0 for a scalar).
    @inline(__always)
    func childCount(_ n: Int) -> Int {
        guard n >= 0, records[n].kind != .scalar else { return 0 }
        return records[n].kind == .mapping ? records[n].count / 2 : records[n].count
    }

    /// Item `i` of a sequence.
    @inline(__always)
    func item(_ n: Int, _ i: Int) -> Int { Int(children[records[n].start + i]) }
    /// The key of entry `i` of a mapping.
    @inline(__always)
    func key(_ n: Int, _ i: Int) -> Int { Int(children[records[n].start + 2 * i]) }
    /// The value of entry `i` of a mapping.
    @inline(__always)
    func value(_ n: Int, _ i: Int) -> Int { Int(children[records[n].start + 2 * i + 1]) }

    /// The entry of a mapping whose key is a scalar with this text: its position, or nil.
    func entry(_ n: Int, named name: String) -> Int? {
        guard n >= 0, records[n].kind == .mapping else { return nil }
        for i in 0 ..< records[n].count / 2 where scalar(key(n, i), equals: name) { return i }
        return nil
    }

    /// The node at a coding path below node `n` (mapping keys by name, sequence items by
    /// index), or the deepest node on the way when the path leaves the tree.
    func deepestNode(_ n: Int, at codingPath: [any CodingKey]) -> Int {
        var node = n
        for key in codingPath {
            if let index = key.intValue, key is IndexKey || kind(node) == .sequence {
                guard kind(node) == .sequence, index >= 0, index < childCount(node) else { break }
                node = item(node, index)
            } else if let entry = entry(node, named: key.stringValue) {
                node = value(node, entry)
            } else {
                break
            }
        }
        return node
    }
}

/// A parsed stream: its nodes, and the `YAMLNode` views made of them so far. A class, so that
/// the decoder passes one reference around rather than five arrays.
final class NodeStore: NodeReading, Sendable {
    let records: [NodeTable.Record]
    let children: [UInt32]
    let text: [UInt8]
    let properties: [Int: NodeTable.Properties]
    let counts: [NodeTable.Counts]
    /// The views made so far, so that a node has one view at a time (an alias and its anchor
    /// are the same object). Weak: a view lives as long as someone holds it.
    private let views = Mutex<[Int: WeakView]>([:])

    init(_ nodes: NodeTable) {
        records = nodes.records
        children = nodes.children
        text = nodes.text
        properties = nodes.properties
        counts = nodes.counts
    }

    /// The view of node `n` (`n >= 0`): the one already made when someone holds it.
    func view(_ n: Int) -> YAMLNode {
        views.withLock { views in
            if let existing = views[n]?.node { return existing }
            let made = YAMLNode(store: self, index: n)
            views[n] = WeakView(node: made)
            return made
        }
    }

    private struct WeakView {
        weak var node: YAMLNode?
    }
}
