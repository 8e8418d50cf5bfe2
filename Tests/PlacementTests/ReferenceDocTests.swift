import Foundation
import Testing

/// docs/reference.md names every field of schemas/placement.schema.json, and no field that the
/// schema does not have.
@Suite struct ReferenceDocTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// Every leaf and object path in the schema: `policy.live.maxDowntimeMs`,
    /// `hosts.NAME.uri`, `instances.NAME.devices.KEY.pool`.
    static func schemaPaths() throws -> Set<String> {
        let data = try Data(contentsOf: root.appendingPathComponent("schemas/placement.schema.json"))
        let schema = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        var paths = Set<String>()
        func walk(_ node: [String: Any], _ path: String) {
            if let props = node["properties"] as? [String: Any] {
                for (key, value) in props {
                    guard let child = value as? [String: Any] else { continue }
                    let p = path.isEmpty ? key : "\(path).\(key)"
                    paths.insert(p)
                    walk(child, p)
                }
            }
            if let variants = node["oneOf"] as? [[String: Any]] {
                for v in variants { walk(v, path) }
            }
            if let items = node["additionalProperties"] as? [String: Any] {
                let placeholder = path.hasSuffix("devices") ? "KEY" : "NAME"
                if items["properties"] != nil || items["oneOf"] != nil { walk(items, "\(path).\(placeholder)") }
            }
        }
        walk(schema, "")
        return paths
    }

    /// The fields the reference's table documents (first column, in backticks).
    static func documentedPaths() throws -> Set<String> {
        let text = try String(contentsOf: root.appendingPathComponent("docs/reference.md"), encoding: .utf8)
        var paths = Set<String>()
        for line in text.split(separator: "\n") where line.hasPrefix("| `") {
            let cell = line.dropFirst(3).prefix { $0 != "`" }
            paths.insert(String(cell))
        }
        return paths
    }

    @Test func everySchemaFieldIsDocumented() throws {
        let documented = try Self.documentedPaths()
        // Objects that only group fields need no row of their own.
        let groups: Set<String> = ["metadata", "policy", "policy.parallel", "policy.live", "storage", "hosts", "profiles",
                                   "instances", "hosts.NAME", "hosts.NAME.capacity", "profiles.NAME",
                                   "instances.NAME.config", "instances.NAME.devices", "instances.NAME.devices.KEY",
                                   "hosts.NAME.migration", "policy.live.transport", "policy.live.transport.compression",
                                   "instances.NAME.live.transport", "instances.NAME.live.transport.compression"]
        // A profile's config and devices are documented once, as the instance's.
        let aliases = { (p: String) -> String in
            p.hasPrefix("profiles.NAME.config.") ? p.replacingOccurrences(of: "profiles.NAME.", with: "instances.NAME.")
                : p.hasPrefix("profiles.NAME.devices.") ? p.replacingOccurrences(of: "profiles.NAME.", with: "instances.NAME.")
                : p.hasPrefix("instances.NAME.live.") ? p.replacingOccurrences(of: "instances.NAME.", with: "policy.")
                : p
        }
        let missing = try Self.schemaPaths().filter { !groups.contains($0) && !documented.contains(aliases($0)) }.sorted()
        #expect(missing.isEmpty, "fields missing from docs/reference.md: \(missing)")
    }

    @Test func noDocumentedFieldIsMissingFromTheSchema() throws {
        let schema = try Self.schemaPaths()
        let extra = try Self.documentedPaths().filter { !schema.contains($0) && $0 != "instances.NAME" }.sorted()
        #expect(extra.isEmpty, "docs/reference.md documents fields the schema lacks: \(extra)")
    }
}
