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
