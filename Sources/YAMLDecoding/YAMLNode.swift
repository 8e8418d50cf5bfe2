/// One node of a parsed YAML (or JSON) document: a scalar, a sequence or a mapping, with the
/// 1-based line and column where it starts.
///
/// Nodes are immutable and shared: an alias (`*name`) is the very node its anchor (`&name`)
/// marks, not a copy, so its location is the anchor's. Merge keys (`<<: *base`) are already
/// applied in the mappings a parse returns.
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

    /// What the node holds.
    public let content: Content
    /// The 1-based line where the node starts.
    public let line: Int
    /// The 1-based column (in Unicode scalars) where the node starts.
    public let column: Int
    /// The tag and anchor, kept apart because few nodes have either: a node without them is
    /// smaller by two strings.
    private let properties: Properties?
    /// How many nodes this subtree holds once every alias in it is expanded (saturating).
    public let expandedCount: Int
    /// How many nodes were written inside this subtree (aliases count as none).
    public let writtenCount: Int
    /// The nesting height of this subtree once aliases are expanded (a scalar is 1).
    public let height: Int

    init(
        content: Content, line: Int, column: Int, tag: String?, anchor: String?,
        expandedCount: Int, writtenCount: Int, height: Int
    ) {
        self.content = content
        self.line = line
        self.column = column
        self.properties = tag == nil && anchor == nil ? nil : Properties(tag: tag, anchor: anchor)
        self.expandedCount = expandedCount
        self.writtenCount = writtenCount
        self.height = height
    }

    /// The tag written on the node, resolved by libyaml (`!!str` is
    /// `tag:yaml.org,2002:str`); nil when there is none.
    public var tag: String? { properties?.tag }

    /// The anchor written on the node (`&name` gives `name`); nil when there is none.
    public var anchor: String? { properties?.anchor }

    /// A node's tag and anchor, when it has one of them.
    private final class Properties: Sendable {
        let tag: String?
        let anchor: String?

        init(tag: String?, anchor: String?) {
            self.tag = tag
            self.anchor = anchor
        }
    }

    /// Whether this is a scalar, a sequence or a mapping.
    public var kind: Kind {
        switch content {
        case .scalar: .scalar
        case .sequence: .sequence
        case .mapping: .mapping
        }
    }

    /// The text of a scalar; nil for a sequence or a mapping.
    public var scalarValue: String? {
        if case .scalar(let text, _) = content { return text }
        return nil
    }

    /// How a scalar was written; nil for a sequence or a mapping.
    public var scalarStyle: ScalarStyle? {
        if case .scalar(_, let style) = content { return style }
        return nil
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
    public var isNull: Bool {
        guard case .scalar(let text, let style) = content else { return false }
        if let tag { return tag == YAMLTag.null }
        return style == .plain && YAMLNode.isNullText(text)
    }

    /// The value of the first entry whose key is a scalar with this text, in a mapping.
    public subscript(key: String) -> YAMLNode? {
        guard case .mapping(let pairs) = content else { return nil }
        return pairs.first { $0.key.scalarValue == key }?.value
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
        var node = self
        for key in codingPath {
            if let index = key.intValue, key is IndexKey || node.kind == .sequence {
                guard let item = node[index] else { break }
                node = item
            } else if let value = node[key.stringValue] {
                node = value
            } else {
                break
            }
        }
        return node
    }

    static func isNullText(_ text: String) -> Bool {
        // Most scalars are longer than any null: skip the comparisons for them.
        if text.utf8.count > 4 { return false }
        switch text {
        case "", "~", "null", "Null", "NULL": return true
        default: return false
        }
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
