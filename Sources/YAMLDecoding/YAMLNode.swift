import Synchronization

/// One node of a parsed YAML (or JSON) document: a scalar, a sequence or a mapping, with the
/// 1-based line and column where it starts.
///
/// Nodes are immutable and shared: an alias (`*name`) is the very node its anchor (`&name`)
/// marks, not a copy, so its location is the anchor's. Merge keys (`<<: *base`) are already
/// applied in the mappings a parse returns.
///
/// A node is a view of the parsed stream, which is stored flat (`NodeStore`): the views of a
/// collection's children are made the first time its `content` (or `items`, `pairs`, a
/// subscript) is read, and a node has one view at a time, so `===` tells whether two nodes
/// are the same.
public final class YAMLNode: Sendable {
    /// What a node is.
    public enum Kind: Sendable, Equatable {
        case scalar, sequence, mapping
    }

    /// How a scalar was written; only a plain scalar can be null, a boolean or a number.
    public enum ScalarStyle: Sendable, Equatable {
        case plain, singleQuoted, doubleQuoted, literal, folded
    }

    /// One entry of a mapping: the key node and the value node.
    public struct Pair: Sendable {
        /// The key node (usually a scalar), with its own location.
        public let key: YAMLNode
        /// The value node.
        public let value: YAMLNode

        /// An entry from its two nodes.
        public init(key: YAMLNode, value: YAMLNode) {
            self.key = key
            self.value = value
        }
    }

    /// The content of a node.
    public enum Content: Sendable {
        /// A scalar's text (escapes resolved, folding applied) and how it was written.
        case scalar(String, ScalarStyle)
        case sequence([YAMLNode])
        /// The entries in the order written (merged entries where the `<<` key was).
        case mapping([Pair])
    }

    let store: NodeStore
    /// The node's index in `store`.
    let index: Int
    private var nodes: NodeStore { store }
    /// A collection's content once made: held here so that the views of its children stay
    /// the same objects as long as this node lives.
    private let madeContent = Mutex<Content?>(nil)

    init(store: NodeStore, index: Int) {
        self.store = store
        self.index = index
    }

    /// What the node holds.
    public var content: Content {
        switch nodes.kind(index) {
        case .scalar:
            return .scalar(nodes.string(index), nodes.style(index))
        case .sequence, .mapping:
            return madeContent.withLock { made in
                if let made { return made }
                let content = makeContent()
                made = content
                return content
            }
        }
    }

    private func makeContent() -> Content {
        let count = nodes.childCount(index)
        if nodes.kind(index) == .sequence {
            return .sequence((0 ..< count).map { store.view(nodes.item(index, $0)) })
        }
        return .mapping((0 ..< count).map {
            Pair(key: store.view(nodes.key(index, $0)), value: store.view(nodes.value(index, $0)))
        })
    }

    /// The 1-based line where the node starts.
    public var line: Int { nodes.line(index) }
    /// The 1-based column (in Unicode scalars) where the node starts.
    public var column: Int { nodes.column(index) }
    /// How many nodes this subtree holds once every alias in it is expanded (saturating).
    public var expandedCount: Int { nodes.expandedCount(index) }
    /// How many nodes were written inside this subtree (aliases count as none).
    public var writtenCount: Int { nodes.writtenCount(index) }
    /// The nesting height of this subtree once aliases are expanded (a scalar is 1).
    public var height: Int { nodes.height(index) }

    /// The tag written on the node, resolved by libyaml (`!!str` is
    /// `tag:yaml.org,2002:str`); nil when there is none.
    public var tag: String? { nodes.tag(index) }

    /// The anchor written on the node (`&name` gives `name`); nil when there is none.
    public var anchor: String? { nodes.anchor(index) }

    /// Whether this is a scalar, a sequence or a mapping.
    public var kind: Kind { nodes.kind(index) }

    /// The text of a scalar; nil for a sequence or a mapping.
    public var scalarValue: String? { nodes.scalarValue(index) }

    /// How a scalar was written; nil for a sequence or a mapping.
    public var scalarStyle: ScalarStyle? {
        nodes.kind(index) == .scalar ? nodes.style(index) : nil
    }

    /// The items of a sequence; nil for a scalar or a mapping.
    public var items: [YAMLNode]? {
        if case .sequence(let items) = content { return items }
        return nil
    }

    /// The entries of a mapping; nil for a scalar or a sequence.
    public var pairs: [Pair]? {
        if case .mapping(let pairs) = content { return pairs }
        return nil
    }

    /// Whether this is a null: a plain `~`, `null`, `Null`, `NULL` or nothing at all, or a
    /// scalar tagged `!!null`.
    public var isNull: Bool { nodes.isNull(index) }

    /// The value of the first entry whose key is a scalar with this text, in a mapping.
    public subscript(key: String) -> YAMLNode? {
        guard let entry = nodes.entry(index, named: key), case .mapping(let pairs) = content else { return nil }
        return pairs[entry].value
    }

    /// The item at `index` of a sequence; nil when out of range or not a sequence.
    public subscript(index: Int) -> YAMLNode? {
        guard case .sequence(let items) = content, items.indices.contains(index) else { return nil }
        return items[index]
    }

    /// The node at a coding path below this one (mapping keys by name, sequence items by
    /// index), or the deepest node on the way when the path leaves the tree.
    ///
    /// The validation layer uses it to locate a `DecodingError`'s coding path.
    public func deepestNode(at codingPath: [any CodingKey]) -> YAMLNode {
        store.view(nodes.deepestNode(index, at: codingPath))
    }
}

/// The standard tags the decoder understands.
enum YAMLTag {
    static let prefix = "tag:yaml.org,2002:"
    static let str = "tag:yaml.org,2002:str"
    static let null = "tag:yaml.org,2002:null"
    static let bool = "tag:yaml.org,2002:bool"
    static let int = "tag:yaml.org,2002:int"
    static let float = "tag:yaml.org,2002:float"
    static let map = "tag:yaml.org,2002:map"
    static let seq = "tag:yaml.org,2002:seq"
    static let merge = "tag:yaml.org,2002:merge"
    /// `!` alone: "not a plain scalar", which for us means a string.
    static let nonSpecific = "!"
}
