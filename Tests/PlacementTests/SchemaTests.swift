import Foundation
import Testing
@testable import Placement

/// schemas/placement.schema.json must name exactly the keys the model reads.
@Suite struct SchemaTests {
    static let schemaURL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("schemas/placement.schema.json")

    func schema() throws -> [String: Any] {
        let data = try Data(contentsOf: Self.schemaURL)
        return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    /// The object at a JSON pointer-like path of property names (`*` = additionalProperties).
    func properties(_ root: [String: Any], _ path: [String]) throws -> Set<String> {
        var node = root
        for step in path {
            if step == "*" {
                node = try #require(node["additionalProperties"] as? [String: Any], "no additionalProperties at \(path)")
            } else {
                let props = try #require(node["properties"] as? [String: Any], "no properties at \(path)")
                node = try #require(props[step] as? [String: Any], "no property \(step) at \(path)")
            }
        }
        #expect(node["additionalProperties"] as? Bool == false, "unknown keys must be refused at \(path)")
        return Set(try #require(node["properties"] as? [String: Any]).keys)
    }

    static let sections: [(path: [String], keys: [String])] = [
        ([], PlacementDocument.CodingKeys.allCases.map(\.rawValue)),
        (["metadata"], MetadataSpec.CodingKeys.allCases.map(\.rawValue)),
        (["policy"], PolicySpec.CodingKeys.allCases.map(\.rawValue)),
        (["policy", "parallel"], ParallelSpec.CodingKeys.allCases.map(\.rawValue)),
        (["policy", "live"], LiveOverrideSpec.CodingKeys.allCases.map(\.rawValue)),
        (["storage"], StorageSpec.CodingKeys.allCases.map(\.rawValue)),
        (["hosts", "*"], HostSpec.CodingKeys.allCases.map(\.rawValue)),
        (["hosts", "*", "capacity"], CapacitySpec.CodingKeys.allCases.map(\.rawValue)),
        (["profiles", "*"], ProfileSpec.CodingKeys.allCases.map(\.rawValue)),
        (["profiles", "*", "config"], ConfigSpec.CodingKeys.allCases.map(\.rawValue)),
        (["instances", "*"], InstanceSpec.CodingKeys.allCases.map(\.rawValue)),
        (["instances", "*", "config"], ConfigSpec.CodingKeys.allCases.map(\.rawValue)),
        (["instances", "*", "live"], LiveOverrideSpec.CodingKeys.allCases.map(\.rawValue)),
    ]

    @Test(arguments: 0..<sections.count)
    func sectionKeysMatchModel(_ index: Int) throws {
        let (path, keys) = Self.sections[index]
        #expect(try properties(schema(), path) == Set(keys), "schema and model differ at \(path)")
    }

    @Test func deviceVariantsMatchModel() throws {
        let instances = try #require((try schema()["properties"] as? [String: Any])?["instances"] as? [String: Any])
        let instance = try #require(instances["additionalProperties"] as? [String: Any])
        let devices = try #require((instance["properties"] as? [String: Any])?["devices"] as? [String: Any])
        let device = try #require(devices["additionalProperties"] as? [String: Any])
        let variants = try #require(device["oneOf"] as? [[String: Any]])
        var union = Set<String>()
        var types: [String] = []
        for v in variants {
            let props = try #require(v["properties"] as? [String: Any])
            union.formUnion(props.keys)
            types.append(try #require((props["type"] as? [String: Any])?["const"] as? String))
        }
        #expect(union == Set(DeviceSpec.CodingKeys.allCases.map(\.rawValue)))
        #expect(Set(types) == Set(DeviceType.allCases.map(\.rawValue)))
    }
}
