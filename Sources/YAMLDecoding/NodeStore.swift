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
struct NodeTable: Sendable {
    /// One node.
    struct Record {
        /// 1-based line and column (in Unicode scalars) where the node starts.
        var line: Int
        var column: Int
        /// A scalar's text is `text[start ..< start + count]`; a collection's children are
        /// `children[start ..< start + count]`, a mapping's alternating key, value.
        var start: Int
        var count: Int
        /// Index in `properties` (tag and anchor), or -1.
        var properties: Int32
        /// Index in `counts`, or -1 for a scalar, which stands for one node of height 1.
        var counts: Int32
        var kind: YAMLNode.Kind
        var style: YAMLNode.ScalarStyle
        /// Whether a scalar's text is ASCII, which makes comparing texts comparing bytes.
        var isASCII: Bool
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
    var children: [Int] = []
    var text: [UInt8] = []
    var properties: [Properties] = []
    var counts: [Counts] = []

    // MARK: Reading nodes

    /// The record of node `n`, or for a missing value's handle, of the node it is located at.
    @inline(__always)
    private func record(_ n: Int) -> Record {
        records[n >= 0 ? n : -n - 1]
    }

    /// The handle of a null standing for a missing value, located where node `n` is.
    static func missing(at n: Int) -> Int {
        n >= 0 ? -n - 1 : n
    }

    func kind(_ n: Int) -> YAMLNode.Kind { n >= 0 ? records[n].kind : .scalar }
    func style(_ n: Int) -> YAMLNode.ScalarStyle { n >= 0 ? records[n].style : .plain }
    func line(_ n: Int) -> Int { record(n).line }
    func column(_ n: Int) -> Int { record(n).column }

    func tag(_ n: Int) -> String? {
        guard n >= 0 else { return nil }
        let index = records[n].properties
        return index >= 0 ? properties[Int(index)].tag : nil
    }

    func anchor(_ n: Int) -> String? {
        guard n >= 0 else { return nil }
        let index = records[n].properties
        return index >= 0 ? properties[Int(index)].anchor : nil
    }

    func expandedCount(_ n: Int) -> Int { countsOf(n).expanded }
    func writtenCount(_ n: Int) -> Int { countsOf(n).written }
    func height(_ n: Int) -> Int { countsOf(n).height }

    private func countsOf(_ n: Int) -> Counts {
        guard n >= 0 else { return Counts(expanded: 1, written: 1, height: 1) }
        let index = records[n].counts
        return index >= 0 ? counts[Int(index)] : Counts(expanded: 1, written: 1, height: 1)
    }

    /// The text of a scalar (empty for anything else).
    func string(_ n: Int) -> String {
        guard n >= 0, records[n].kind == .scalar else { return "" }
        let r = records[n]
        return text.withUnsafeBufferPointer { String(decoding: UnsafeBufferPointer(rebasing: $0[r.start ..< r.start + r.count]), as: UTF8.self) }
    }

    /// `body` of a scalar's UTF-8 text (empty for anything else).
    func withText<R>(_ n: Int, _ body: (UnsafeBufferPointer<UInt8>) -> R) -> R {
        guard n >= 0, records[n].kind == .scalar else { return body(UnsafeBufferPointer(start: nil, count: 0)) }
        let r = records[n]
        return text.withUnsafeBufferPointer { body(UnsafeBufferPointer(rebasing: $0[r.start ..< r.start + r.count])) }
    }

    /// The text of a scalar; nil for a collection.
    func scalarValue(_ n: Int) -> String? {
        kind(n) == .scalar ? string(n) : nil
    }

    /// Whether node `n` is a scalar whose text equals `name` (as `String` compares them).
    func scalar(_ n: Int, equals name: String) -> Bool {
        var name = name
        return name.withUTF8 { scalar(n, equalsUTF8: $0, isASCII: Self.isASCII($0)) }
    }

    /// Whether node `n` is a scalar whose text equals the string of these UTF-8 bytes (as
    /// `String` compares them). Equal bytes are equal strings; different ones can still be
    /// (`String` compares canonical equivalents equal) only when one of them is not ASCII.
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

    static func isASCII(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        for byte in bytes where byte >= 0x80 { return false }
        return true
    }

    /// Whether node `n` is a null: a plain `~`, `null`, `Null`, `NULL` or nothing at all, or
    /// a scalar tagged `!!null`.
    func isNull(_ n: Int) -> Bool {
        guard n >= 0 else { return true }
        let r = records[n]
        guard r.kind == .scalar else { return false }
        if r.properties >= 0, let tag = properties[Int(r.properties)].tag { return tag == YAMLTag.null }
        guard r.style == .plain, r.count <= 4 else { return false }
        return text.withUnsafeBufferPointer { all in
            Self.isNullText(UnsafeBufferPointer(rebasing: all[r.start ..< r.start + r.count]))
        }
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

    /// The number of items of a sequence or entries of a mapping (0 for a scalar).
    func childCount(_ n: Int) -> Int {
        guard n >= 0, records[n].kind != .scalar else { return 0 }
        return records[n].kind == .mapping ? records[n].count / 2 : records[n].count
    }

    /// Item `i` of a sequence.
    func item(_ n: Int, _ i: Int) -> Int { children[records[n].start + i] }
    /// The key of entry `i` of a mapping.
    func key(_ n: Int, _ i: Int) -> Int { children[records[n].start + 2 * i] }
    /// The value of entry `i` of a mapping.
    func value(_ n: Int, _ i: Int) -> Int { children[records[n].start + 2 * i + 1] }

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

/// A parsed stream: its nodes, and the `YAMLNode` views made of them so far.
final class NodeStore: Sendable {
    let nodes: NodeTable
    /// The views made so far, so that a node has one view at a time (an alias and its anchor
    /// are the same object). Weak: a view lives as long as someone holds it.
    private let views = Mutex<[Int: WeakView]>([:])

    init(_ nodes: NodeTable) {
        self.nodes = nodes
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
