/// A read-only cursor over a parsed document, for the package's own fast paths: no object a
/// node (unlike `YAMLNode`'s children), and scalars typed by the decoder's own rules.
///
/// A fast path built on it must only ever accept what `YAMLNodeDecoder` decodes without a
/// diagnostic, to the same value; everything else goes to the decoder. Nodes with a tag or an
/// anchor read as nothing (`hasProperties`), so that a fast path need not know tags.
package struct YAMLNodeReader {
    let store: NodeStore
    let node: Int

    /// The reader of `node`'s subtree.
    package init(_ node: YAMLNode) {
        self.store = node.store
        self.node = node.index
    }

    init(store: NodeStore, node: Int) {
        self.store = store
        self.node = node
    }

    /// Whether the subtree holds no alias and no merge: every node is read once, so the
    /// decoder's expansion budget, which a fast path does not count, cannot run out.
    @inline(__always) package var expandsNothing: Bool { store.expandedCount(node) == store.writtenCount(node) }

    /// Whether this is a scalar, a sequence or a mapping.
    @inline(__always) package var kind: YAMLNode.Kind { store.kind(node) }

    /// Whether the node has a tag or an anchor.
    @inline(__always) package var hasProperties: Bool { store.hasProperties(node) }

    /// Whether this is an untagged null (`~`, `null`, nothing at all…): what `decodeIfPresent`
    /// takes for absent.
    @inline(__always) package var isPlainNull: Bool { !hasProperties && store.isNull(node) }

    /// The number of entries of a mapping (0 for anything else).
    @inline(__always) package var entryCount: Int { store.kind(node) == .mapping ? store.childCount(node) : 0 }

    /// The key of entry `index` of a mapping.
    @inline(__always) package func key(_ index: Int) -> YAMLNodeReader { YAMLNodeReader(store: store, node: store.key(node, index)) }

    /// The value of entry `index` of a mapping.
    @inline(__always) package func value(_ index: Int) -> YAMLNodeReader { YAMLNodeReader(store: store, node: store.value(node, index)) }

    /// The number of items of a sequence (0 for anything else).
    @inline(__always) package var itemCount: Int { store.kind(node) == .sequence ? store.childCount(node) : 0 }

    /// Item `index` of a sequence.
    @inline(__always) package func item(_ index: Int) -> YAMLNodeReader { YAMLNodeReader(store: store, node: store.item(node, index)) }

    /// Which of `names` (UTF-8, as `KeyNames` has them) the key of entry `index` of a mapping
    /// is, compared as `String` compares; nil for none, and for a key that is not a plain
    /// scalar (a collection, or with a tag or an anchor).
    @inline(__always) package func key(_ index: Int, in names: KeyNames) -> Int? {
        let key = store.key(node, index)
        guard store.kind(key) == .scalar, !store.hasProperties(key) else { return nil }
        for (position, name) in names.utf8.enumerated() {
            let equal = name.withUnsafeBufferPointer { store.scalar(key, equalsUTF8: $0, isASCII: names.isASCII[position]) }
            if equal { return position }
        }
        return nil
    }

    /// A scalar's text as written (escapes resolved), whatever it is; nil for a collection or
    /// a node with a tag or an anchor. What the decoder takes as a dictionary key.
    @inline(__always) package var text: String? {
        hasProperties ? nil : store.scalarValue(node)
    }

    /// The node as the decoder reads a `String`; nil when it would not (null, a collection),
    /// or when the node has a tag or an anchor.
    @inline(__always) package var string: String? {
        hasProperties ? nil : try? Scalars.string(store, node)
    }

    /// The node as the decoder reads an `Int`; nil when it would not, or when the node has
    /// a tag or an anchor.
    @inline(__always) package var int: Int? {
        hasProperties ? nil : try? Scalars.integer(store, node, as: Int.self)
    }

    /// The node as the decoder reads a `Bool`; nil when it would not, or when the node has
    /// a tag or an anchor.
    @inline(__always) package var bool: Bool? {
        hasProperties ? nil : try? Scalars.bool(store, node)
    }

    /// The node as the decoder reads a `Double`; nil when it would not, or when the node has
    /// a tag or an anchor.
    @inline(__always) package var double: Double? {
        hasProperties ? nil : try? Scalars.floating(store, node, as: Double.self)
    }
}

/// Key names prepared for `YAMLNodeReader.key(_:in:)`: their UTF-8 bytes, worked out once.
package struct KeyNames: Sendable {
    let utf8: [[UInt8]]
    let isASCII: [Bool]

    /// The names, in the order `key(_:in:)` gives positions in.
    package init(_ names: [String]) {
        utf8 = names.map { Array($0.utf8) }
        isASCII = utf8.map { bytes in bytes.allSatisfy { $0 < 0x80 } }
    }
}
