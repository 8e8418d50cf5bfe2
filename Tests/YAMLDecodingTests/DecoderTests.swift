import Testing
@testable import YAMLDecoding

@Suite struct DecoderTests {
    static let placement = """
        apiVersion: virtplace/v1
        kind: Placement
        metadata:
          name: lab
        policy:
          moves: [live, reboot, cold]
          parallel: {total: 4, perHost: 2}
          cpuOvercommit: 4.0
        hosts:
          host1:
            uri: qemu+tcp://127.0.0.11/system
            faultDomain: fd-1
            labels: {rack: r1}
            state: active
            capacity: {vcpus: 8, memoryMiB: 8192}
          host2:
            uri: qemu+tcp://127.0.0.12/system
        instances:
          web-1:
            host: host1
            profiles: [small, lan]
            config:
              memoryMiB: 256
              autostart: true
              tags: {tier: web}
            devices:
              root: {type: disk, pool: shared, volume: web-1.qcow2, boot: true}
              eth1: {type: nic, network: backend, mac: "52:54:00:12:34:56"}
            moves: [live, reboot, manual]
        """

    @Test func aValidFileDecodesWithoutDiagnostics() throws {
        let decoded = decode(Placement.self, Self.placement)
        #expect(decoded.diagnostics == [])
        let placement = try #require(decoded.value)
        #expect(placement.metadata.name == "lab")
        #expect(placement.policy?.moves == [.live, .reboot, .cold])
        #expect(placement.policy?.cpuOvercommit == 4.0)
        #expect(placement.hosts["host1"]?.capacity == Capacity(vcpus: 8, memoryMiB: 8192))
        #expect(placement.hosts["host1"]?.state == .active)
        let web = try #require(placement.instances?["web-1"])
        #expect(web.host?.value == "host1")
        #expect(web.devices?["eth1"]?.mac == "52:54:00:12:34:56")
        #expect(web.config?.tags == ["tier": "web"])
    }

    @Test func locatedRecordsWhereAValueWasWritten() throws {
        let placement = try #require(decode(Placement.self, Self.placement, file: "p.yaml").value)
        let host = try #require(placement.instances?["web-1"]?.host)
        #expect(host == Located("host1", file: "p.yaml", line: 20, column: 11, path: "instances.web-1.host",
                                keyLine: 20, keyColumn: 5))
        #expect(host.diagnostic("unknown host 'host1'").formatted
            == "p.yaml:20:11: error: instances.web-1.host: unknown host 'host1'")
        #expect(host.keyDiagnostic("x").column == 5)
    }

    @Test func everyProblemOfAFileIsReportedAtOnce() {
        let text = """
            apiVersion: virtplace/v1
            kind: Placement
            metadata:
              name: lab
              nmae: typo
            policy:
              moves: [live, lve, cold]
              forceOff: yes
              parallel: {total: four, perHost: 2}
            hosts:
              host1:
                uri: qemu:///system
                state: actve
                capacity: {vcpus: 8}
              host2:
                url: qemu:///system
                faultdomain: fd-2
            instances:
              web-1:
                hots: host1
                config: {memoryMiB: "256", autostart: on}
                devices:
                  root: {type: disk, pool: [shared]}
                  data: {pool: shared}
            """
        #expect(decodeErrors(Placement.self, text) == [
            "test.yaml:5:3: error: metadata.nmae: unknown key 'nmae'",
            "test.yaml:7:17: error: policy.moves[1]: expected one of live, reboot, cold, manual, found 'lve' (did you mean 'live'?)",
            "test.yaml:8:13: error: policy.forceOff: expected true or false, found 'yes'",
            "test.yaml:9:21: error: policy.parallel.total: expected an integer, found 'four'",
            "test.yaml:13:12: error: hosts.host1.state: expected one of active, cordoned, drained, found 'actve' (did you mean 'active'?)",
            "test.yaml:14:15: error: hosts.host1.capacity: missing required key 'memoryMiB'",
            "test.yaml:16:5: error: hosts.host2: missing required key 'uri'",
            "test.yaml:16:5: error: hosts.host2.url: unknown key 'url' (did you mean 'uri'?)",
            // Host stopped at `uri`, and its CodingKeys are not CaseIterable: no candidates.
            "test.yaml:17:5: error: hosts.host2.faultdomain: unknown key 'faultdomain'",
            "test.yaml:20:5: error: instances.web-1.hots: unknown key 'hots' (did you mean 'host'?)",
            "test.yaml:21:25: error: instances.web-1.config.memoryMiB: expected an integer, found quoted '256'",
            "test.yaml:21:43: error: instances.web-1.config.autostart: expected true or false, found 'on'",
            "test.yaml:23:32: error: instances.web-1.devices.root.pool: expected a string, found a sequence",
            "test.yaml:24:13: error: instances.web-1.devices.data: missing required key 'type'",
        ])
    }

    @Test func aFailingRequiredFieldStopsItsParentOnly() {
        // Decodable cannot go on without `metadata`, so `hosts` is never read; keys the type
        // can name are not called unknown, and the misspelt one is suggested.
        #expect(decodeErrors(Placement.self, "apiVersion: v\nmetadata: {nmae: lab}\nkind: k\nhosts: []\n") == [
            "test.yaml:2:11: error: metadata: missing required key 'name'",
            "test.yaml:2:12: error: metadata.nmae: unknown key 'nmae' (did you mean 'name'?)",
        ])
    }

    @Test func theValueSurvivesProblemsBelowTheRoot() throws {
        let decoded = decode(Placement.self, """
            apiVersion: v
            kind: k
            metadata: {name: n}
            hosts:
              good: {uri: a}
              bad: {uri: [b]}
            """)
        let placement = try #require(decoded.value)
        #expect(placement.hosts.keys.sorted() == ["good"])
        #expect(decoded.hasErrors)
    }

    @Test func theRootFailingGivesNoValue() {
        let decoded = decode(Placement.self, "- a\n")
        #expect(decoded.value == nil)
        #expect(decoded.diagnostics.map(\.formatted) == ["test.yaml:1:1: error: expected a mapping, found a sequence"])
    }

    @Test func missingRequiredKeyIsLocatedAtTheMapping() {
        #expect(decodeErrors(Placement.self, "apiVersion: v\nkind: k\nmetadata: {name: n}\n") == [
            "test.yaml:1:1: error: missing required key 'hosts'",
        ])
    }

    @Test(arguments: [
        ("metadata: []", "test.yaml:3:11: error: metadata: expected a mapping, found a sequence"),
        ("metadata: lab", "test.yaml:3:11: error: metadata: expected a mapping, found 'lab'"),
        ("metadata:", "test.yaml:3:10: error: metadata: expected a mapping, found null"),
        ("metadata: {name: {}}", "test.yaml:3:18: error: metadata.name: expected a string, found a mapping"),
        ("metadata: {name: ~}", "test.yaml:3:18: error: metadata.name: expected a string, found null"),
    ])
    func wrongContainerKinds(_ line: String, _ expected: String) {
        let text = "apiVersion: v\nkind: k\n\(line)\nhosts: {}\n"
        #expect(decodeErrors(Placement.self, text) == [expected])
    }

    @Test func wrongSequenceKind() {
        #expect(decodeErrors(Policy.self, "moves: live\n") == [
            "test.yaml:1:8: error: moves: expected a sequence, found 'live'",
        ])
    }

    @Test func aWrongOptionalFieldGivesNilAndTheRestDecodes() throws {
        let decoded = decode(Host.self, "uri: x\nfaultDomain: [a]\nstate: drained\n")
        let host = try #require(decoded.value)
        #expect(host.faultDomain == nil)
        #expect(host.state == .drained)
        #expect(decoded.diagnostics.map(\.formatted) == [
            "test.yaml:2:14: error: faultDomain: expected a string, found a sequence",
        ])
    }

    @Test func badDictionaryElementsAreSkippedAndAllReported() throws {
        let decoded = decode([String: Capacity].self, """
            a: {vcpus: 1, memoryMiB: 2}
            b: {vcpus: x, memoryMiB: 2}
            c: {vcpus: 1, memoryMiB: 2}
            d: 5
            """)
        #expect(decoded.value?.keys.sorted() == ["a", "c"])
        #expect(decoded.diagnostics.map(\.formatted) == [
            "test.yaml:2:12: error: b.vcpus: expected an integer, found 'x'",
            "test.yaml:4:4: error: d: expected a mapping, found '5'",
        ])
    }

    @Test func badArrayElementsAreSkippedAndAllReported() {
        let decoded = decode([Int].self, "[1, x, 3, [4], 5]")
        #expect(decoded.value == [1, 3, 5])
        #expect(decoded.diagnostics.map(\.formatted) == [
            "test.yaml:1:5: error: [1]: expected an integer, found 'x'",
            "test.yaml:1:11: error: [3]: expected an integer, found a sequence",
        ])
    }

    @Test func dictionaryKeysMustBeScalars() {
        let decoded = decode([String: Int].self, "? [a]\n: 1\nb: 2\n")
        #expect(decoded.value == ["b": 2])
        #expect(decoded.diagnostics.map(\.formatted) == [
            "test.yaml:1:3: error: mapping keys must be scalars, found a sequence",
        ])
    }

    @Test func dictionaryKeysAreTakenAsWritten() {
        #expect(decode([String: Int].self, "1: 1\ntrue: 2\n~: 3\n'x': 4\n").value
            == ["1": 1, "true": 2, "~": 3, "x": 4])
    }

    @Test func duplicateKeysAreReportedWithTheDecodingProblems() {
        #expect(decodeErrors(Capacity.self, "vcpus: 1\nvcpus: 2\nmemoryMiB: x\n") == [
            "test.yaml:2:1: error: vcpus: duplicate key 'vcpus' (first defined at 1:1)",
            "test.yaml:3:12: error: memoryMiB: expected an integer, found 'x'",
        ])
    }

    @Test func unknownKeysInMergedMappingsPointAtTheirDefinition() {
        let text = """
            base: &base {vcpus: 1, memoryMib: 2}
            a: {<<: *base, memoryMiB: 3}
            """
        #expect(decodeErrors([String: Capacity].self, text) == [
            "test.yaml:1:7: error: base: missing required key 'memoryMiB'",
            "test.yaml:1:24: error: a.memoryMib: unknown key 'memoryMib'",
            "test.yaml:1:24: error: base.memoryMib: unknown key 'memoryMib' (did you mean 'memoryMiB'?)",
        ])
    }

    @Test func decodingSeveralDocuments() {
        let decoded = YAMLNodeDecoder().decodeDocuments(
            Capacity.self, from: Array("vcpus: 1\nmemoryMiB: 2\n---\nvcpus: x\nmemoryMiB: 2\n---\nvcpus: 3\nmemoryMiB: 4\n".utf8),
            file: "m.yaml")
        #expect(decoded.value == [Capacity(vcpus: 1, memoryMiB: 2), Capacity(vcpus: 3, memoryMiB: 4)])
        #expect(decoded.diagnostics.map(\.formatted) == ["m.yaml:4:8: error: vcpus: expected an integer, found 'x'"])
    }

    @Test func aParseErrorGivesNoValue() {
        let decoded = YAMLNodeDecoder().decodeDocuments(Capacity.self, from: Array("a: [".utf8), file: "x.yaml")
        #expect(decoded.value == nil)
        #expect(decoded.diagnostics.count == 1)
    }
}

// MARK: - Unknown keys with hand-written init(from:)

/// A device whose fields depend on its type: keys the other type uses are unknown here.
struct TypedDevice: Decodable {
    enum CodingKeys: String, CodingKey {
        case type, pool, volume, network
    }

    var type: String
    var where_: String

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        type = try container.decode(String.self, forKey: .type)
        if type == "disk" {
            where_ = try container.decode(String.self, forKey: .pool)
            _ = try container.decodeIfPresent(String.self, forKey: .volume)
        } else {
            where_ = try container.decode(String.self, forKey: .network)
        }
    }
}

/// Fails on purpose after reading one key, and checks its own values.
struct Checked: Decodable {
    enum CodingKeys: String, CodingKey, CaseIterable {
        case size, name, label
    }

    var size: Int

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        size = try container.decode(Int.self, forKey: .size)
        guard size > 0 else {
            throw DecodingError.dataCorruptedError(forKey: .size, in: container, debugDescription: "size must be positive")
        }
        _ = try container.decode(String.self, forKey: .name)
    }
}

/// Tries one shape, then another, swallowing the first failure.
struct EitherShape: Decodable {
    var text: String

    init(from decoder: any Decoder) throws {
        if let capacity = try? Capacity(from: decoder) {
            text = "\(capacity.vcpus)"
        } else {
            text = try decoder.singleValueContainer().decode(String.self)
        }
    }
}

struct Nested: Decodable {
    enum CodingKeys: String, CodingKey { case outer }
    enum InnerKeys: String, CodingKey { case inner }
    var inner: Int

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let nested = try container.nestedContainer(keyedBy: InnerKeys.self, forKey: .outer)
        inner = try nested.decode(Int.self, forKey: .inner)
    }
}

@Suite struct HandWrittenDecodableTests {
    @Test func keysOfTheOtherVariantAreUnknown() {
        #expect(decodeErrors(TypedDevice.self, "type: nic\nnetwork: default\npool: shared\n") == [
            "test.yaml:3:1: error: pool: unknown key 'pool'",
        ])
        #expect(decodeErrors(TypedDevice.self, "type: disk\npool: shared\nvolum: x\n") == [
            "test.yaml:3:1: error: volum: unknown key 'volum' (did you mean 'volume'?)",
        ])
    }

    @Test func afterAFailureOnlyKeysTheTypeCannotNameAreUnknown() {
        // `label` is never reached, but the type can name it; `labl` it cannot. `label` is
        // suggested although never asked for, because the key type lists its cases.
        #expect(decodeErrors(Checked.self, "size: 0\nname: x\nlabel: y\nsise: 1\n") == [
            "test.yaml:1:7: error: size: size must be positive",
            "test.yaml:4:1: error: sise: unknown key 'sise'",
        ])
        #expect(decodeErrors(Checked.self, "size: 0\nname: x\nlabl: y\n") == [
            "test.yaml:1:7: error: size: size must be positive",
            "test.yaml:3:1: error: labl: unknown key 'labl' (did you mean 'label'?)",
        ])
    }

    @Test func diagnosticsOfASwallowedAttemptVanish() throws {
        let decoded = decode([EitherShape].self, "- {vcpus: 2, memoryMiB: 1}\n- plain\n")
        #expect(decoded.diagnostics == [])
        #expect(decoded.value?.map(\.text) == ["2", "plain"])
    }

    @Test func nestedContainersReportTheirUnknownKeys() {
        #expect(decode(Nested.self, "outer: {inner: 1}\n").diagnostics == [])
        #expect(decodeErrors(Nested.self, "outer: {inner: 1, iner: 2}\nextra: 1\n") == [
            "test.yaml:1:19: error: outer.iner: unknown key 'iner'",
            "test.yaml:2:1: error: extra: unknown key 'extra'",
        ])
    }

    @Test func nonStringEnumsAndPlainRawEnums() {
        enum Level: Int, Decodable { case low = 1, high = 2 }
        #expect(decode(Box<Level>.self, "v: 2\n").value?.v == .high)
        #expect(decodeErrors(Box<Level>.self, "v: 3\n") == [
            "test.yaml:1:4: error: v: Cannot initialize Level from invalid Int value 3",
        ])
    }

    @Test func userInfoReachesTheModel() {
        struct Probe: Decodable {
            var seen: String?
            init(from decoder: any Decoder) throws {
                seen = decoder.userInfo[CodingUserInfoKey(rawValue: "k")!] as? String
            }
        }
        let root = try? parse("{}").first
        let decoder = YAMLNodeDecoder(userInfo: [CodingUserInfoKey(rawValue: "k")!: "v"])
        #expect(root.map { decoder.decode(Probe.self, from: $0, file: "f").value?.seen } == "v")
    }

    @Test func deepNestingDecodesWithinTheLimit() throws {
        indirect enum Tree: Decodable {
            case leaf
            case node([Tree])
            init(from decoder: any Decoder) throws {
                if let container = try? decoder.singleValueContainer(), container.decodeNil() {
                    self = .leaf
                } else {
                    self = .node(try [Tree](from: decoder))
                }
            }
        }
        let text = String(repeating: "[", count: 63) + String(repeating: "]", count: 63)
        let decoded = decode(Tree.self, text)
        #expect(decoded.diagnostics == [])
        #expect(decoded.value != nil)
    }
}

@Suite struct LongMappingTests {
    struct Wide: Decodable {
        var k0: Int
        var k70: Int
    }

    /// Mappings past 64 entries track used keys beyond the bitmask, and are searched by index.
    @Test func unknownKeysInALongMapping() {
        var text = ""
        for index in 0..<100 { text += "k\(index): \(index)\n" }
        let decoded = decode(Wide.self, text)
        #expect(decoded.value?.k70 == 70)
        #expect(decoded.diagnostics.count == 98)
        #expect(decoded.diagnostics.first?.formatted == "test.yaml:2:1: error: k1: unknown key 'k1'")
        #expect(decoded.diagnostics.last?.formatted == "test.yaml:100:1: error: k99: unknown key 'k99'")
    }
}
