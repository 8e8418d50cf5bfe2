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
