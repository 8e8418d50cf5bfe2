import Foundation
import Libvirt
import Placement
import Testing

@Suite("Observing a host (test driver)")
struct ObservationTests {
    @Test("host facts, pools with volumes, networks, domains sorted by name")
    func host() throws {
        let connection = try Fixture.connection("host1")
        let host = try connection.observeHost(name: "host1", faultDomain: "fd-1").host
        #expect(host.name == "host1")
        #expect(host.uri == Fixture.uri("host1"))
        #expect(host.reachable && host.error == nil)
        #expect(host.faultDomain == "fd-1")
        #expect(host.capacity == ObservedCapacity(vcpus: 8, memoryMiB: 16384))
        #expect(host.pools.map(\.name) == ["local", "shared"])
        #expect(host.pools[0].volumes.map(\.name) == ["scratch.qcow2", "web-1.qcow2"])
        #expect(host.pools[0].volumes[1] == ObservedVolume(
            name: "web-1.qcow2", path: "/var/lib/libvirt/images/web-1.qcow2",
            capacityBytes: 10 << 30, allocationBytes: 700 << 20, format: "qcow2"
        ))
        #expect(host.pools.allSatisfy { $0.active && $0.type == "dir" && $0.capacityBytes != nil })
        #expect(host.networks == [
            ObservedNetwork(name: "backend", active: true, bridge: "virbr1"),
            ObservedNetwork(name: "lan", active: true, bridge: "vp1lan"),
        ])
        #expect(host.domains.map(\.name) == ["db-1", "efi-1", "tmp-1", "web-1"])
    }

    @Test("every domain field, from the fixture through libvirt")
    func domains() throws {
        let connection = try Fixture.connection("host1")
        let domains = try connection.observeHost(name: "host1").host.domains
        let byName = Dictionary(uniqueKeysWithValues: domains.map { ($0.name, $0) })

        let web = try #require(byName["web-1"])
        #expect(web.state == "running" && web.persistent && !web.autostart)
        #expect(web.vcpus == 2 && web.maxVcpus == 4 && web.memoryMiB == 512 && web.maxMemoryMiB == 1024)
        #expect(web.cpuMode == "host-model")
        #expect(web.fleet == "lab" && web.tags == ["tier": "web", "owner": "team & co"])
        #expect(web.disks.map(\.target) == ["vda", "sda"])
        #expect(web.disks[0].pool == "local" && web.disks[0].volume == "web-1.qcow2" && web.disks[0].cache == "none")
        #expect(web.disks[0].bootOrder == 1)
        #expect(web.disks[1].device == "cdrom" && web.disks[1].readOnly && web.disks[1].pool == nil)
        #expect(web.nics.map(\.mac) == ["52:54:00:ab:cd:01"])
        #expect(web.nics[0].network == "lan" && web.nics[0].model == "virtio")
        #expect(web.xmlDigest == SHA256.hex(try connection.lookupDomain(name: "web-1").xml(flags: .inactive)))

        let db = try #require(byName["db-1"])
        #expect(db.state == "shutoff" && db.persistent)
        #expect(db.cpuMode == "custom" && db.cpuModel == "Skylake-Client")
        #expect(db.firmware == "efi" && db.nvram == "/var/lib/libvirt/qemu/nvram/db-1_VARS.fd")
        #expect(db.hasTPM)
        #expect(db.snapshotCount == 2)
        #expect(db.hostdevs == [ObservedHostdev(type: "pci", address: "0000:03:00.1")])
        #expect(db.disks.map(\.sourceType) == ["volume", "file", "file"])
        #expect(db.disks[0].pool == "shared" && db.disks[0].volume == "db-1.qcow2" && db.disks[0].path == "/srv/shared/db-1.qcow2")
        #expect(db.disks[1].shareable && db.disks[1].volume == "db-1-data.raw")
        #expect(db.disks[2].transient && db.disks[2].pool == "local")
        #expect(db.nics == [ObservedNIC(type: "bridge", mac: "52:54:00:ab:cd:02", bridge: "br0", model: "e1000", target: "db1-eth0")])
        #expect(db.fleet == nil && db.tags.isEmpty)

        let tmp = try #require(byName["tmp-1"])
        #expect(tmp.state == "paused" && !tmp.persistent)
        #expect(tmp.cpuMode == "host-passthrough")
        #expect(tmp.hostdevs == [
            ObservedHostdev(type: "usb", address: "1:4"),
            ObservedHostdev(type: "mdev", address: "c2177883-f1bb-47f0-914d-32a22e3a8804"),
        ])

        let efi = try #require(byName["efi-1"])
        #expect(efi.firmware == "efi" && efi.nvram == nil)
        #expect(efi.hostdevs == [ObservedHostdev(type: "scsi", address: "scsi_host0:0:0:2")])
    }

    @Test("state reasons, autostart and new snapshots show in the next observation")
    func changes() throws {
        let connection = try Fixture.connection("host2")
        let web = try connection.lookupDomain(name: "web-2")
        try web.destroy()
        try web.setAutostart(true)
        try web.createSnapshot(xml: "<domainsnapshot><name>s</name></domainsnapshot>")
        let observed = try #require(try connection.observeHost(name: "host2").host.domains.first { $0.name == "web-2" })
        #expect(observed.state == "shutoff" && observed.stateReason == "destroyed")
        #expect(observed.autostart)
        #expect(observed.snapshotCount == 1)
    }

    @Test("a running domain shows what it uses now; the definition's figures when they differ")
    func liveAndConfig() throws {
        let connection = try Fixture.connection("host1")
        let web = try connection.lookupDomain(name: "web-1")
        try web.setVcpus(3, flags: .config)
        try web.setMemory(mebibytes: 768, flags: .config)
        let observed = try #require(try connection.observeHost(name: "host1").host.domains.first { $0.name == "web-1" })
        #expect(observed.vcpus == 2 && observed.configVcpus == 3 && observed.maxVcpus == 4)
        #expect(observed.memoryMiB == 512 && observed.configMemoryMiB == 768 && observed.maxMemoryMiB == 1024)

        let db = try #require(try connection.observeHost(name: "host1").host.domains.first { $0.name == "db-1" })
        #expect(db.configVcpus == nil && db.configMemoryMiB == nil)
    }

    @Test("the file's capacity overrides what the node reports")
    func capacityOverride() throws {
        let connection = try Fixture.connection("host2")
        let host = try connection.observeHost(name: "h", capacity: ObservedCapacity(vcpus: 2, memoryMiB: 1024)).host
        #expect(host.capacity == ObservedCapacity(vcpus: 2, memoryMiB: 1024))
        let reported = try connection.observeHost(name: "h").host
        #expect(reported.capacity == ObservedCapacity(vcpus: 4, memoryMiB: 8192))
    }

    @Test("calls: a fixed number per host, one per domain (plus one for a domain with snapshots)")
    func callsPerDomain() throws {
        let fixture = try Fixture.connection("host1")
        let calls = try fixture.observeHost(name: "host1").calls
        #expect(calls.domains == 4)
        // 4 XMLs + 1 snapshot count (db-1) + 2 virDomainGetInfo for the active web-1 and tmp-1:
        // the test driver's bulk stats carry no live vCPU/balloon figures (QEMU's do).
        #expect(calls.perDomain == 7)

        let connection = try Fixture.connection("host3")
        let empty = try connection.observeHost(name: "host3").calls
        for index in 0..<50 {
            let uuid = String(format: "55555555-0000-4000-8000-%012d", index)
            try connection.defineDomain(xml: testDomainXML(name: "d\(index)", uuid: uuid))
        }
        let busy = try connection.observeHost(name: "host3")
        #expect(busy.host.domains.count == 50)
        #expect(busy.host.domains.map(\.name) == (0..<50).map { "d\($0)" }.sorted())
        #expect(busy.calls.perHost == empty.perHost)
        #expect(busy.calls.perDomain == 50)
        #expect(busy.calls.perDomainAverage == 1)
    }

    @Test("JSON snapshots round-trip exactly, byte for byte")
    func jsonRoundTrip() throws {
        let host1 = try Fixture.connection("host1").observeHost(name: "host1", faultDomain: "fd-1").host
        let host2 = try Fixture.connection("host2").observeHost(name: "host2", faultDomain: "fd-2").host
        let down = ObservedHost(name: "host9", uri: "qemu+tcp://127.0.0.99/system", reachable: false,
                                error: "Connection refused", faultDomain: "fd-3")
        let fleet = ObservedFleet(hosts: [host1, host2, down])
        let data = fleet.jsonData()
        let loaded = try ObservedFleet(jsonData: data)
        #expect(loaded == fleet)
        #expect(loaded.jsonData() == data)

        let text = String(decoding: data, as: UTF8.self)
        #expect(text.contains("\"apiVersion\" : \"virtplace/v1\""))
        #expect(text.contains("\"kind\" : \"Observed\""))
        #expect(text.contains("\"/var/lib/libvirt/images/web-1.qcow2\""))
        // Keys are sorted: "apiVersion" < "hosts" < "kind".
        let apiVersion = try #require(text.range(of: "\"apiVersion\""))
        let hosts = try #require(text.range(of: "\"hosts\""))
        let kind = try #require(text.range(of: "\"kind\" : \"Observed\""))
        #expect(apiVersion.lowerBound < hosts.lowerBound && hosts.lowerBound < kind.lowerBound)
    }

    @Test("a hand-written snapshot with only SPEC.md's fields loads, with defaults")
    func minimalSnapshot() throws {
        let json = """
        {"apiVersion":"virtplace/v1","kind":"Observed","hosts":[
          {"name":"host1","uri":"qemu+tcp://127.0.0.11/system","reachable":true,"faultDomain":"fd-1",
           "capacity":{"vcpus":8,"memoryMiB":8192},
           "domains":[{"name":"web-1","uuid":"11111111-aaaa-4bbb-8ccc-000000000001","state":"running",
                       "vcpus":1,"memoryMiB":256,
                       "disks":[{"target":"vda","pool":"shared","volume":"web-1.qcow2"}],
                       "nics":[{"type":"network","mac":"52:54:00:12:34:56","network":"lan"}],
                       "tags":{"tier":"web"}}]},
          {"name":"host2","reachable":false,"error":"Connection refused"}
        ]}
        """
        let fleet = try ObservedFleet(jsonData: Data(json.utf8))
        let web = try #require(fleet.hosts.first?.domains.first)
        #expect(web.persistent && !web.autostart && web.maxVcpus == 1 && web.maxMemoryMiB == 256)
        #expect(web.disks == [ObservedDisk(target: "vda", pool: "shared", volume: "web-1.qcow2")])
        #expect(web.tags == ["tier": "web"])
        #expect(fleet.hosts[1].reachable == false && fleet.hosts[1].domains.isEmpty)
    }

    @Test("a snapshot missing what it must have names the path")
    func invalidSnapshot() {
        let json = #"{"hosts":[{"name":"h","domains":[{"name":"x","state":"running"}]}]}"#
        #expect(throws: DecodingError.self) { try ObservedFleet(jsonData: Data(json.utf8)) }
    }
}

/// `balloon.rss` (the QEMU process's resident set, KiB): carried in MiB for a running domain
/// only, clamped so that no driver figure can overflow what the estimate does with it.
@Test func theResidentSetIsMiBOfARunningDomainOnlyAndBounded() {
    let running = DomainStatus(state: .running, reason: 1), off = DomainStatus(state: .shutoff, reason: 1)
    #expect(DomainRuntime(status: running, residentKiB: 221_264).residentMiB == 216)
    #expect(DomainRuntime(status: running).residentMiB == nil, "not reported")
    #expect(DomainRuntime(status: off, residentKiB: 221_264).residentMiB == nil, "a shut-off domain has no process")
    #expect(DomainRuntime(status: running, residentKiB: .max).residentMiB == Int(Int32.max))
}
