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
        (["hosts", "*", "maintenance"], MaintenanceSpec.CodingKeys.allCases.map(\.rawValue)),
        (["hosts", "*", "migration"], HostMigrationSpec.CodingKeys.allCases.map(\.rawValue)),
        (["policy", "live", "transport"], TransportOverrideSpec.CodingKeys.allCases.map(\.rawValue)),
        (["policy", "live", "transport", "compression"], CompressionOverrideSpec.CodingKeys.allCases.map(\.rawValue)),
        (["instances", "*", "live", "transport"], TransportOverrideSpec.CodingKeys.allCases.map(\.rawValue)),
        (["profiles", "*"], ProfileSpec.CodingKeys.allCases.map(\.rawValue)),
        (["profiles", "*", "config"], ConfigSpec.CodingKeys.allCases.map(\.rawValue)),
        (["instances", "*"], InstanceSpec.CodingKeys.allCases.map(\.rawValue)),
        (["instances", "*", "config"], ConfigSpec.CodingKeys.allCases.map(\.rawValue)),
        (["instances", "*", "live"], LiveOverrideSpec.CodingKeys.allCases.map(\.rawValue)),
        (["instances", "*", "maintenance"], InstanceMaintenanceSpec.CodingKeys.allCases.map(\.rawValue)),
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

/// The bounds of every number are the same in the code (`SpecBounds`), the schema's `minimum`
/// (or `exclusiveMinimum`) and `maximum`, and docs/reference.md's "Bounds and name rules" table.
@Suite struct BoundsConsistencyTests {
    /// Schema path (`*` = any name), reference row, and the code's range.
    static let integers: [(schema: [String], reference: String, range: ClosedRange<Int>)] = [
        (["policy", "parallel", "total"], "policy.parallel.total", SpecBounds.parallelTotal),
        (["policy", "parallel", "perHost"], "policy.parallel.perHost", SpecBounds.parallelPerHost),
        (["policy", "maxMovesPerRun"], "policy.maxMovesPerRun", SpecBounds.maxMovesPerRun),
        (["policy", "shutdownTimeoutSeconds"], "policy.shutdownTimeoutSeconds", SpecBounds.shutdownTimeoutSeconds),
        (["policy", "live", "maxDowntimeMs"], "policy.live.maxDowntimeMs", SpecBounds.maxDowntimeMs),
        (["policy", "live", "bandwidthMiBps"], "policy.live.bandwidthMiBps", SpecBounds.bandwidthMiBps),
        (["policy", "live", "timeoutSeconds"], "policy.live.timeoutSeconds", SpecBounds.timeoutSeconds),
        (["instances", "*", "live", "maxDowntimeMs"], "policy.live.maxDowntimeMs", SpecBounds.maxDowntimeMs),
        (["instances", "*", "live", "bandwidthMiBps"], "policy.live.bandwidthMiBps", SpecBounds.bandwidthMiBps),
        (["instances", "*", "live", "timeoutSeconds"], "policy.live.timeoutSeconds", SpecBounds.timeoutSeconds),
        (["policy", "live", "transport", "parallelConnections"], "policy.live.transport.parallelConnections", SpecBounds.parallelConnections),
        (["instances", "*", "live", "transport", "parallelConnections"], "policy.live.transport.parallelConnections", SpecBounds.parallelConnections),
        (["hosts", "*", "capacity", "vcpus"], "hosts.NAME.capacity.vcpus", SpecBounds.hostVCPUs),
        (["hosts", "*", "capacity", "memoryMiB"], "hosts.NAME.capacity.memoryMiB", SpecBounds.hostMemoryMiB),
        (["instances", "*", "config", "vcpus"], "instances.NAME.config.vcpus", SpecBounds.vcpus),
        (["instances", "*", "config", "memoryMiB"], "instances.NAME.config.memoryMiB", SpecBounds.memoryMiB),
        (["profiles", "*", "config", "vcpus"], "instances.NAME.config.vcpus", SpecBounds.vcpus),
        (["profiles", "*", "config", "memoryMiB"], "instances.NAME.config.memoryMiB", SpecBounds.memoryMiB),
    ]

    func schemaNode(_ path: [String]) throws -> [String: Any] {
        let data = try Data(contentsOf: SchemaTests.schemaURL)
        var node = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        for step in path {
            if step == "*" {
                node = try #require(node["additionalProperties"] as? [String: Any])
            } else {
                node = try #require((node["properties"] as? [String: Any])?[step] as? [String: Any], "no \(step) in \(path)")
            }
        }
        return node
    }

    /// The reference table's rows: field → (minimum, maximum) as written.
    func referenceRows() throws -> [String: (String, String)] {
        let url = ReferenceDocTests.root.appendingPathComponent("docs/reference.md")
        let text = try String(contentsOf: url, encoding: .utf8)
        let section = try #require(text.range(of: "## Bounds and name rules"))
        var rows: [String: (String, String)] = [:]
        for line in text[section.upperBound...].split(separator: "\n") where line.hasPrefix("| `") {
            let cells = line.split(separator: "|", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            guard cells.count >= 4 else { continue }
            rows[cells[1].trimmingCharacters(in: CharacterSet(charactersIn: "`"))] = (cells[2], cells[3])
        }
        return rows
    }

    @Test(arguments: 0..<integers.count)
    func integerBoundsAgree(_ index: Int) throws {
        let (path, row, range) = Self.integers[index]
        let node = try schemaNode(path)
        #expect(node["minimum"] as? Int == range.lowerBound, "schema minimum of \(path)")
        #expect(node["maximum"] as? Int == range.upperBound, "schema maximum of \(path)")
        let rows = try referenceRows()
        let written = try #require(rows[row], "no row for \(row) in docs/reference.md")
        #expect(written.0 == "\(range.lowerBound)" && written.1 == "\(range.upperBound)", "docs/reference.md's \(row)")
    }

    @Test func overcommitBoundsAgree() throws {
        let node = try schemaNode(["policy", "cpuOvercommit"])
        #expect(node["exclusiveMinimum"] as? Int == 0)
        #expect(node["maximum"] as? Double == SpecBounds.cpuOvercommitMaximum)
        let written = try #require(try referenceRows()["policy.cpuOvercommit"])
        #expect(written.0 == "> 0" && written.1 == "\(Int(SpecBounds.cpuOvercommitMaximum))")
    }
}
