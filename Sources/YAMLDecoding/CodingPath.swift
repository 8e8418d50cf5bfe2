/// The coding key of a sequence item: shown as `[3]` in a path.
struct IndexKey: CodingKey {
    let index: Int
    init(_ index: Int) { self.index = index }
    init?(intValue: Int) { self.index = intValue }
    init?(stringValue: String) { return nil }
    var intValue: Int? { index }
    var stringValue: String { "[\(index)]" }
}

/// The coding key of a mapping key decoded as a dictionary key.
struct NameKey: CodingKey {
    let stringValue: String
    init(_ name: String) { self.stringValue = name }
    init?(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { self.stringValue = String(intValue) }
    var intValue: Int? { nil }
}

/// Renders a coding path the way diagnostics show it: keys joined by `.`, sequence indices
/// appended as `[3]`, so `instances.web-1.devices.data.pool` or `policy.moves[2]`.
///
/// Keys are shown as written, even when they contain a dot.
public func yamlPathString(_ codingPath: [any CodingKey]) -> String {
    var result = ""
    for key in codingPath {
        if key is IndexKey, let index = key.intValue {
            result += "[\(index)]"
        } else {
            if !result.isEmpty { result += "." }
            result += key.stringValue
        }
    }
    return result
}

/// Appends a key to a rendered path.
func appendingPath(_ path: String, key: String) -> String {
    path.isEmpty ? key : path + "." + key
}

/// A coding path kept as a chain of links, so that going one level down costs one small
/// allocation instead of copying the whole array; the array is built only when asked for.
struct CodingPath {
    final class Link {
        let parent: Link?
        let key: any CodingKey
        /// The key node, when this step goes to the value of a mapping entry.
        let keyNode: Int?
        let count: Int

        init(parent: Link?, key: any CodingKey, keyNode: Int? = nil) {
            self.parent = parent
            self.key = key
            self.keyNode = keyNode
            self.count = (parent?.count ?? 0) + 1
        }
    }

    let last: Link?

    static var root: CodingPath { CodingPath(last: nil) }

    init(last: Link?) {
        self.last = last
    }

    init(keys: [any CodingKey]) {
        var link: Link? = nil
        for key in keys { link = Link(parent: link, key: key) }
        self.last = link
    }

    var count: Int { last?.count ?? 0 }

    func appending(_ key: any CodingKey, keyNode: Int? = nil) -> CodingPath {
        CodingPath(last: Link(parent: last, key: key, keyNode: keyNode))
    }

    /// The key node of the mapping entry whose value this path leads to.
    var keyNode: Int? { last?.keyNode }

    var keys: [any CodingKey] {
        var keys: [any CodingKey] = []
        keys.reserveCapacity(count)
        var link = last
        while let current = link {
            keys.append(current.key)
            link = current.parent
        }
        return keys.reversed()
    }

    /// The path as diagnostics show it (as `yamlPathString(keys)`, without the array).
    var string: String {
        var parts: [(text: String, isIndex: Bool)] = []
        parts.reserveCapacity(count)
        var link = last
        while let current = link {
            if current.key is IndexKey, let index = current.key.intValue {
                parts.append(("[\(index)]", true))
            } else {
                parts.append((current.key.stringValue, false))
            }
            link = current.parent
        }
        var result = ""
        for part in parts.reversed() {
            if !result.isEmpty && !part.isIndex { result += "." }
            result += part.text
        }
        return result
    }

    func isSame(as other: CodingPath) -> Bool {
        if last === other.last { return true }
        return count == other.count && string == other.string
    }
}
