import Foundation
import Testing
import YAMLDecoding
@testable import Placement

@Suite struct LoaderTests {
    func source(_ name: String, _ text: String) -> PlacementSource {
        PlacementSource(name: name, bytes: Array(text.utf8))
    }

    let hosts = """
    hosts:
      host1: {uri: "qemu+tcp://127.0.0.11/system", faultDomain: fd-1}
      host2: {uri: "qemu+tcp://127.0.0.12/system", faultDomain: fd-2}
    """

    @Test func documentsAndFilesMerge() throws {
        let main = """
        apiVersion: virtplace/v1
        kind: Placement
        metadata: {name: lab}
        storage: {sharedPools: [shared]}
        profiles:
          small: {config: {vcpus: 1, memoryMiB: 128}}
        ---
        instances:
          web-1: {host: host2, profiles: [small], config: {memoryMiB: 256}}
        """
        let result = loadPlacement([source("main.yaml", main), source("hosts.yaml", hosts)])
        #expect(result.diagnostics.isEmpty)
        let spec = try #require(result.spec)
        #expect(spec.hosts.keys.sorted() == ["host1", "host2"])
        let web = try #require(spec.desired("web-1"))
        #expect(web.config.vcpus == 1 && web.config.memoryMiB == 256)
        #expect(web.moves == [.live, .reboot, .cold])
    }

    @Test func aNameDefinedTwiceNamesBothPlaces() {
        let a = "metadata: {name: lab}\n" + hosts
        let b = "hosts:\n  host2: {uri: \"qemu+tcp://127.0.0.13/system\"}\n"
        let result = loadPlacement([source("a.yaml", a), source("b.yaml", b)])
        #expect(result.spec == nil)
        #expect(result.diagnostics.map(\.formatted) == [
            "b.yaml:2:3: error: hosts.host2: host 'host2' is defined twice (first at a.yaml:4:3)",
        ])
    }

    @Test func sectionsDefinedTwiceAcrossDocuments() {
        let text = "metadata: {name: lab}\npolicy: {forceOff: true}\n---\npolicy: {forceOff: false}\n"
        let result = loadPlacement([source("p.yaml", text)])
        #expect(result.diagnostics.map(\.formatted) == [
            "p.yaml:4:1: error: policy: 'policy' is defined twice (first at p.yaml:2:1)",
        ])
    }

    @Test func apiVersionIsCheckedInEveryDocument() {
        let text = "apiVersion: virtplace/v1\nmetadata: {name: lab}\n---\napiVersion: v9\n"
        let result = loadPlacement([source("v.yaml", text)])
        #expect(result.diagnostics.map(\.formatted) == [
            "v.yaml:4:13: error: apiVersion: unsupported apiVersion 'v9' (expected virtplace/v1)",
        ])
    }

    @Test func referencesToEntriesThatFailedToDecodeAreNotUnknown() {
        let text = """
        metadata: {name: lab}
        hosts:
          host1: {uri: "qemu+tcp://127.0.0.11/system", state: gone}
        instances:
          web-1: {host: host1}
        """
        let result = loadPlacement([source("r.yaml", text)])
        #expect(result.diagnostics.count == 1)
        #expect(result.diagnostics.first?.path == "hosts.host1.state")
    }

    @Test func profileMergingAndNoneRemovesADevice() throws {
        var spec = PlacementSpec(metadata: .init(name: "x"))
        spec.profiles["lan"] = ProfileSpec(config: .init(vcpus: 2, tags: ["a": "1", "b": "1"]),
                                           devices: ["eth0": .nic(.init(network: "lan")), "eth1": .nic(.init(network: "b"))])
        spec.profiles["big"] = ProfileSpec(config: .init(vcpus: 8, memoryMiB: 1024, tags: ["b": "2"]))
        spec.instances["i"] = InstanceSpec(profiles: ["lan", "big"], config: .init(memoryMiB: 512, tags: ["c": "3"]),
                                           devices: ["eth1": DeviceSpec.none])
        let d = try #require(spec.desired("i"))
        #expect(d.config == ConfigSpec(vcpus: 8, memoryMiB: 512, tags: ["a": "1", "b": "2", "c": "3"]))
        #expect(d.deviceKeys == ["eth0"])
    }

    @Test func examplesAreValid() throws {
        // The committed examples load without errors (warnings are allowed).
        let root = #filePath.split(separator: "/").dropLast(3).joined(separator: "/")
        for set in [["examples/lab/placement.yaml", "examples/lab/hosts.yaml"], ["examples/fleet/placement.yaml"]] {
            let sources = try set.map { path in
                PlacementSource(name: path, bytes: Array(try String(contentsOfFile: "/" + root + "/" + path, encoding: .utf8).utf8))
            }
            let result = loadPlacement(sources)
            #expect(!result.hasErrors, "\(result.diagnostics.map(\.formatted))")
        }
    }
}

/// The loader reads valid documents directly (`PlacementDocument.fastDecoded`) and leaves
/// the rest to the YAML decoder: the direct reading must give the decoder's value, and only
/// for documents the decoder reads without a diagnostic.
@Suite struct FastReadingTests {
    /// Both readings of every document of `text`; the direct one nil when it gave up.
    func readings(_ text: String, file: String = "f.yaml") throws -> [(fast: PlacementDocument?, decoded: YAMLDecoded<PlacementDocument>)] {
        try YAMLParser.parseDocuments(Array(text.utf8), file: file).map { root in
            (PlacementDocument.fastDecoded(from: root), YAMLNodeDecoder().decode(PlacementDocument.self, from: root, file: file))
        }
    }

    /// Every field, every device kind, nulls, quoted and block styles, JSON.
    static let everyField = [
        """
        apiVersion: virtplace/v1
        kind: "Placement"
        metadata: {name: full}
        policy:
          moves: [live, 'cold', manual]
          parallel: {total: 3, perHost: ~}
          maxMovesPerRun: +7
          shutdownTimeoutSeconds: 007
          forceOff: True
          cpuOvercommit: 2.5e0
          backups: FALSE
          live: {maxDowntimeMs: 10, bandwidthMiBps: 0, timeoutSeconds: 60, onTimeout: postcopy, autoConverge: true, copyStorage: never}
        storage: {sharedPools: [shared, "nfs"], localPools: []}
        hosts:
          h1:
            uri: qemu+ssh://root@h1:22/system?keyfile=/k
            faultDomain: rack-1
            labels: {zone: a, "quoted key": "v", '': empty}
            state: cordoned
            capacity: {vcpus: 16, memoryMiB: null}
          h2: {uri: "test:///default", faultDomain: ~, labels: ~, state: ~, capacity: ~}
        profiles:
          small: {config: {vcpus: 1, memoryMiB: 512, autostart: false, tags: {tier: web}}}
          lan:
            devices:
              eth0: {type: nic, network: lan, model: e1000}
              old: {type: none}
          empty: {}
          nulls: {config: ~, devices: ~}
        instances:
          web-1:
            host: h1
            spread: web
            profiles: [small, lan]
            config:
              memoryMiB: 1024
              tags:
                app: |
                  two
                  lines
                note: >-
                  folded
                  text
            devices:
              root: {type: disk, pool: shared, volume: web-1.qcow2, boot: true, bus: sata, readOnly: false}
              data: {type: "disk", pool: nfs, volume: 'data.img', boot: ~, bus: ~, readOnly: ~}
              eth1: {type: nic, bridge: br0, mac: "52:54:00:AB:cd:01", model: ~}
              eth2: {type: nic, network: ~, bridge: br1}
              gone: {type: none}
            state: running
            moves: [live]
            live: {timeoutSeconds: 30, onTimeout: abort}
          web-2: {faultDomain: rack-1, profiles: ~, config: ~, devices: ~, state: stopped, moves: ~, live: ~, host: ~, spread: ~}
          "web 3": {}
        """,
        "{\"metadata\": {\"name\": \"j\"}, \"instances\": {\"i\": {\"profiles\": [\"a\"], \"devices\": {\"n\": {\"type\": \"nic\", \"network\": \"n\", \"mac\": \"52:54:00:00:00:01\"}}}}}",
        "metadata: {name: a}\n---\nhosts: {h: {uri: \"qemu:///system\"}}\n...\n",
        "apiVersion: ~\nkind: ~\nmetadata: ~\npolicy: ~\nstorage: ~\nhosts: ~\nprofiles: ~\ninstances: ~\n",
        "metadata: {name: x}\npolicy: {cpuOvercommit: 4, moves: []}\nstorage: {sharedPools: ~, localPools: ~}\n",
    ]

    @Test(arguments: everyField)
    func validDocumentsAreReadDirectlyToTheDecodersValue(_ text: String) throws {
        for (fast, decoded) in try readings(text) {
            #expect(decoded.diagnostics.isEmpty, "\(decoded.diagnostics.map(\.formatted))")
            if decoded.value != nil { #expect(fast != nil) }
            #expect(fast == decoded.value)
        }
    }

    /// What the direct reading leaves to the decoder although it may be valid: tags, anchors,
    /// aliases, merges.
    @Test(arguments: [
        "metadata: {name: !!str x}\n",
        "metadata: &m {name: x}\n",
        "base: &b {vcpus: 1}\nmetadata: {name: x}\ninstances: {i: {config: *b}}\n",
        "metadata: {name: x}\nprofiles: {p: {config: {<<: {vcpus: 1}}}}\n",
    ])
    func unusualDocumentsGoToTheDecoder(_ text: String) throws {
        for (fast, _) in try readings(text) { #expect(fast == nil) }
    }

    /// No document the decoder has something to say about is read directly.
    @Test func theBadInputCorpusGoesToTheDecoder() throws {
        let directory = BadInputCorpusTests.directory
        for name in BadInputCorpusTests.cases {
            let bytes = Array(try Data(contentsOf: directory.appendingPathComponent(name)))
            guard let roots = try? YAMLParser.parseDocuments(bytes, file: name) else { continue }
            for root in roots {
                let decoded = YAMLNodeDecoder().decode(PlacementDocument.self, from: root, file: name)
                guard let fast = PlacementDocument.fastDecoded(from: root) else { continue }
                #expect(decoded.diagnostics.isEmpty, "\(name): read directly, yet the decoder says \(decoded.diagnostics.map(\.formatted))")
                // NaN (hostile-numbers-nan.yaml) is not equal to itself: compare the texts then.
                #expect(fast == decoded.value || decoded.value.map { "\($0)" } == "\(fast)", "\(name)")
            }
        }
    }

    @Test func theExamplesAreReadDirectly() throws {
        let root = #filePath.split(separator: "/").dropLast(3).joined(separator: "/")
        for path in ["examples/lab/placement.yaml", "examples/lab/hosts.yaml", "examples/fleet/placement.yaml"] {
            let text = try String(contentsOfFile: "/" + root + "/" + path, encoding: .utf8)
            for (fast, decoded) in try readings(text, file: path) {
                #expect(fast != nil, "\(path)")
                #expect(fast == decoded.value, "\(path)")
            }
        }
    }
}

/// Mutants of valid documents: a scalar, key or line replaced, removed or repeated. Whatever
/// the direct reading accepts, the decoder must accept without a diagnostic, to the same
/// value; and the direct reading must not give up on everything (or this proves nothing).
@Suite struct FastReadingMutationTests {
    /// What a mutation puts in a scalar's place: other types, nulls, tags, anchors, flow
    /// collections, near-miss keys and the values of other fields.
    static let replacements = [
        "~", "null", "", "true", "yes", "NO", "on", "0", "-1", "1.5", "0x10", "1e3", "\"7\"", "'x'",
        "[]", "{}", "[a, b]", "{a: 1}", "!!str 1", "!!int 1", "&a x", "disk", "nic", "none", "live",
        "cold", "manual", "abort", "running", "draining", "cordoned", "type", "pool", "volume",
        "uri", "host", "hosts", "instances", "profiles", "config", "devices", "memoryMiB", "vcpus",
        "tags", "mac", "network", "52:54:00:00:00:01", "\"a: b\"", "|\n  text", "é",
    ]

    /// One mutant of `text`.
    static func mutate(_ text: String, _ random: inout SplitMix64) -> String {
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let line = Int.random(in: 0..<lines.count, using: &random)
        switch Int.random(in: 0..<4, using: &random) {
        case 0: lines.remove(at: line)
        case 1: lines.insert(lines[line], at: line)
        case 2: lines[line] = String(repeating: " ", count: Int.random(in: 0..<8, using: &random))
            + replacements.randomElement(using: &random)! + ": " + replacements.randomElement(using: &random)!
        default:
            // Replace one word (a run of letters, digits, '-' and '.') of the line.
            let characters = Array(lines[line])
            let starts = characters.indices.filter { i in
                isWord(characters[i]) && (i == 0 || !isWord(characters[i - 1]))
            }
            guard let start = starts.randomElement(using: &random) else { break }
            var end = start
            while end < characters.count, isWord(characters[end]) { end += 1 }
            lines[line] = String(characters[..<start]) + replacements.randomElement(using: &random)! + String(characters[end...])
        }
        return lines.joined(separator: "\n")
    }

    static func isWord(_ c: Character) -> Bool { c.isLetter || c.isNumber || c == "-" || c == "." }

    @Test(arguments: FastReadingTests.everyField.indices)
    func whatIsReadDirectlyTheDecoderReadsToTheSameValue(_ index: Int) throws {
        // Replay one with VIRTPLACE_TEST_SEED=N (the seed is in every failure message).
        let seed = ProcessInfo.processInfo.environment["VIRTPLACE_TEST_SEED"].flatMap { UInt64($0) } ?? 0x5EED_0000 + UInt64(index)
        var random = SplitMix64(seed: seed)
        var (read, givenUp) = (0, 0)
        for _ in 0..<1_000 {
            var text = FastReadingTests.everyField[index]
            for _ in 0..<Int.random(in: 1...3, using: &random) { text = Self.mutate(text, &random) }
            guard let roots = try? YAMLParser.parseDocuments(Array(text.utf8), file: "m.yaml") else { continue }
            for root in roots {
                let decoded = YAMLNodeDecoder().decode(PlacementDocument.self, from: root, file: "m.yaml")
                guard let fast = PlacementDocument.fastDecoded(from: root) else { givenUp += 1; continue }
                read += 1
                #expect(decoded.diagnostics.isEmpty, "seed \(seed): read directly, yet the decoder says \(decoded.diagnostics.map(\.formatted)):\n\(text)")
                #expect(fast == decoded.value, "seed \(seed): \(text)")
            }
        }
        // Both outcomes occur: the mutants exercise acceptance and giving up alike.
        #expect(read > 50 && givenUp > 50, "seed \(seed): read \(read), given up \(givenUp)")
    }
}
