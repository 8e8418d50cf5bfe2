import Testing
@testable import YAMLDecoding

/// Parses `text`; a test that expects success fails with the diagnostics otherwise.
func parse(_ text: String, file: String = "test.yaml", limits: YAMLLimits = .default) throws -> [YAMLNode] {
    try YAMLParser.parseDocuments(Array(text.utf8), file: file, limits: limits)
}

/// The diagnostics parsing `bytes` fails with, formatted; empty when it parses.
func parseErrors(_ bytes: [UInt8], file: String = "test.yaml", limits: YAMLLimits = .default) -> [String] {
    do {
        _ = try YAMLParser.parseDocuments(bytes, file: file, limits: limits)
        return []
    } catch {
        return error.diagnostics.map(\.formatted)
    }
}

func parseErrors(_ text: String, file: String = "test.yaml", limits: YAMLLimits = .default) -> [String] {
    parseErrors(Array(text.utf8), file: file, limits: limits)
}

/// Parses and decodes the first document of `text` as `T`.
func decode<T: Decodable>(_ type: T.Type, _ text: String, file: String = "test.yaml") -> YAMLDecoded<T> {
    let decoded = YAMLNodeDecoder().decodeDocuments(T.self, from: Array(text.utf8), file: file)
    return YAMLDecoded(value: decoded.value?.first, diagnostics: decoded.diagnostics)
}

/// The formatted diagnostics of decoding `text` as `T`.
func decodeErrors<T: Decodable>(_ type: T.Type, _ text: String, file: String = "test.yaml") -> [String] {
    decode(T.self, text, file: file).diagnostics.map(\.formatted)
}

// A placement-like model, the way the Placement layer would write it.

struct Metadata: Decodable, Equatable {
    var name: String
}

enum HostState: String, Decodable, CaseIterable {
    case active, cordoned, drained
}

struct Capacity: Decodable, Equatable {
    var vcpus: Int
    var memoryMiB: Int
}

struct Host: Decodable {
    var uri: String
    var faultDomain: String?
    var labels: [String: String]?
    var state: HostState?
    var capacity: Capacity?
}

enum Move: String, Decodable, CaseIterable {
    case live, reboot, cold, manual
}

struct Parallel: Decodable {
    var total: Int
    var perHost: Int
}

struct Live: Decodable {
    var maxDowntimeMs: Int?
    var bandwidthMiBps: Int?
    var autoConverge: Bool?
}

struct Policy: Decodable {
    var moves: [Move]?
    var parallel: Parallel?
    var maxMovesPerRun: Int?
    var forceOff: Bool?
    var cpuOvercommit: Double?
    var live: Live?
}

struct Device: Decodable {
    var type: String
    var pool: String?
    var volume: String?
    var boot: Bool?
    var network: String?
    var mac: String?
    var model: String?
}

struct Config: Decodable {
    var vcpus: Int?
    var memoryMiB: Int?
    var autostart: Bool?
    var tags: [String: String]?
}

struct Instance: Decodable {
    var host: Located<String>?
    var faultDomain: String?
    var profiles: [String]?
    var config: Config?
    var devices: [String: Device]?
    var state: String?
    var moves: [Move]?
}

struct Placement: Decodable {
    var apiVersion: String
    var kind: String
    var metadata: Metadata
    var policy: Policy?
    var hosts: [String: Host]
    var instances: [String: Instance]?
}

import Foundation

func writeFile(_ path: String, _ bytes: [UInt8]) -> Bool {
    (try? Data(bytes).write(to: URL(fileURLWithPath: path))) != nil
}

func removeFile(_ path: String) {
    try? FileManager.default.removeItem(atPath: path)
}

/// Any YAML value, decoded through the ordinary `Decoder` API.
indirect enum AnyValue: Decodable, Equatable {
    case null
    case string(String)
    case list([AnyValue])
    case map([String: AnyValue])

    struct AnyKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { return nil }
    }

    init(from decoder: any Decoder) throws {
        let single = try decoder.singleValueContainer()
        if single.decodeNil() {
            self = .null
        } else if let container = try? decoder.container(keyedBy: AnyKey.self) {
            var map: [String: AnyValue] = [:]
            for key in container.allKeys { map[key.stringValue] = try container.decode(AnyValue.self, forKey: key) }
            self = .map(map)
        } else if var container = try? decoder.unkeyedContainer() {
            var list: [AnyValue] = []
            while !container.isAtEnd { list.append(try container.decode(AnyValue.self)) }
            self = .list(list)
        } else {
            self = .string(try single.decode(String.self))
        }
    }
}
