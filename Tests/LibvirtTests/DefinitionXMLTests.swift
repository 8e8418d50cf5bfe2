import Foundation
@testable import Libvirt
import Placement
import Testing

@Suite("Definition XML and volume checksums")
struct DefinitionXMLTests {
    @Test func volumeDiskAndInterfaceDocuments() {
        #expect(DefinitionXML.volume(name: "a.img", capacityBytes: 4096, format: "raw")
            == "<volume><name>a.img</name><capacity unit='bytes'>4096</capacity><allocation unit='bytes'>0</allocation><target><format type='raw'/></target></volume>")
        #expect(DefinitionXML.volumeDisk(pool: "shared", volume: "d&1", format: "qcow2", target: "vdb", bus: nil, readOnly: true)
            == "<disk type='volume' device='disk'><driver name='qemu' type='qcow2'/><source pool='shared' volume='d&amp;1'/><target dev='vdb' bus='virtio'/><readonly/></disk>")
        #expect(DefinitionXML.interface(network: "lan", bridge: nil, mac: "52:54:00:AA:BB:CC", model: "virtio")
            == "<interface type='network'><source network='lan'/><mac address='52:54:00:aa:bb:cc'/><model type='virtio'/></interface>")
        #expect(DefinitionXML.interface(network: nil, bridge: "br0", mac: nil, model: nil)
            == "<interface type='bridge'><source bridge='br0'/></interface>")
    }

    @Test func freeTargetsAndBuses() {
        #expect(DiskTarget.free(prefix: "vd", taken: ["vda", "vdb"]) == "vdc")
        #expect(DiskTarget.free(prefix: "sd", taken: []) == "sda")
        let all = Set("abcdefghijklmnopqrstuvwxyz".map { "vd\($0)" })
        #expect(DiskTarget.free(prefix: "vd", taken: all) == "vdaa")
        #expect(DefinitionXML.busFor(target: "sdb") == "scsi")
        #expect(DefinitionXML.busFor(target: "hda") == "ide")
        #expect(DefinitionXML.busFor(target: "vdc") == "virtio")
    }

    /// A recorded definition re-created from its boot volume: identity and the primary NIC
    /// kept, other devices dropped, the boot disk in; the test driver accepts it.
    @Test func aRecreatedDomainKeepsItsIdentityAndDefines() throws {
        let uuid = "55555555-0000-4000-8000-000000000001"
        let recorded = testDomainXML(name: "manual-1", uuid: uuid, memoryMiB: 256, extra: """
            <metadata><virtplace:instance xmlns:virtplace="urn:virtplace:1" fleet="lab"><virtplace:tag key="tier">web</virtplace:tag></virtplace:instance></metadata>
            <devices>
              <disk type='file' device='disk'><source file='/var/lib/libvirt/images/old.img'/><target dev='vda' bus='virtio'/></disk>
              <interface type='network'><mac address='52:54:00:00:00:01'/><source network='default'/></interface>
              <hostdev mode='subsystem' type='pci'><source><address domain='0' bus='3' slot='0' function='0'/></source></hostdev>
            </devices>
            """)
        let boot = DefinitionXML.volumeDisk(pool: "local", volume: "boot.img", format: "raw", target: "vda", bus: nil, readOnly: false, bootOrder: 1)
        let xml = try DefinitionXML.recreatedDomain(from: recorded, bootDisk: boot)
        let domain = try ObservedDomain.parse(xml: xml, state: "shutoff")
        #expect(domain.name == "manual-1" && domain.uuid == uuid && domain.memoryMiB == 256)
        #expect(domain.disks.map(\.target) == ["vda"])
        #expect(domain.disks.first?.pool == "local" && domain.disks.first?.volume == "boot.img")
        #expect(domain.nics.map(\.mac) == ["52:54:00:00:00:01"] && domain.hostdevs.isEmpty)
        #expect(domain.fleet == "lab" && domain.tags == ["tier": "web"])
        #expect(xml.contains("<boot order=\"1\"") || xml.contains("<boot order='1'"))

        let connection = try Fixture.connection("host3")
        let defined = try connection.defineDomain(xml: xml)
        #expect(defined.uuid == uuid)
        try defined.undefine()
    }

    @Test func aBootOrderIsDroppedWhenTheOSNamesBootDevices() throws {
        let recorded = testDomainXML(name: "b", uuid: "55555555-0000-4000-8000-000000000002", os: "<type>hvm</type><boot dev='hd'/>")
        let boot = DefinitionXML.volumeDisk(pool: "local", volume: "b.img", format: nil, target: "vda", bus: nil, readOnly: false, bootOrder: 1)
        let xml = try DefinitionXML.recreatedDomain(from: recorded, bootDisk: boot)
        #expect(!xml.contains("order="))
        #expect(throws: DomainXMLError.self) { try DefinitionXML.recreatedDomain(from: "<pool/>", bootDisk: boot) }
    }
}
