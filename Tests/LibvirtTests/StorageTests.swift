import Foundation
import Libvirt
import Placement
import Testing

@Suite("Storage (test driver)")
struct StorageTests {
    static func volumeXML(_ name: String, mebibytes: Int, format: String = "qcow2") -> String {
        "<volume><name>\(name)</name><capacity unit='MiB'>\(mebibytes)</capacity>"
            + "<target><format type='\(format)'/></target></volume>"
    }

    @Test("pools: list, active, description, info, refresh")
    func pools() throws {
        let connection = try Fixture.connection("host1")
        let pools = try connection.listAllStoragePools().sorted { $0.name < $1.name }
        #expect(pools.map(\.name) == ["local", "shared"])
        #expect(try connection.listAllStoragePools(.active).count == 2)

        let local = try connection.lookupStoragePool(name: "local")
        #expect(try local.isActive())
        let description = try local.poolDescription()
        #expect(description.name == "local" && description.type == "dir" && description.path == "/var/lib/libvirt/images")
        let info = try local.info()
        #expect(info.state == 2)
        #expect(info.capacityBytes > 0 && info.availableBytes <= info.capacityBytes)
        #expect(description.capacityBytes == info.capacityBytes)
        try local.refresh()

        #expect {
            try connection.lookupStoragePool(name: "nope")
        } throws: { error in
            (error as? LibvirtError)?.code == .noStoragePool
        }
    }

    @Test("volumes: list, look up by name and path, the pool of a volume, XML values")
    func volumes() throws {
        let connection = try Fixture.connection("host1")
        let shared = try connection.lookupStoragePool(name: "shared")
        #expect(try shared.listVolumes().map(\.name).sorted() == ["db-1-data.raw", "db-1.qcow2"])

        let volume = try shared.lookupVolume(name: "db-1.qcow2")
        #expect(try volume.path() == "/srv/shared/db-1.qcow2")
        #expect(volume.key == "/srv/shared/db-1.qcow2")
        #expect(try volume.info().capacityBytes == 20 << 30)
        #expect(try volume.observed() == ObservedVolume(
            name: "db-1.qcow2", path: "/srv/shared/db-1.qcow2", capacityBytes: 20 << 30, allocationBytes: 3 << 30, format: "qcow2"
        ))

        let byPath = try connection.lookupStorageVolume(path: "/var/lib/libvirt/images/web-1.qcow2")
        #expect(byPath.name == "web-1.qcow2")
        #expect(try byPath.pool().name == "local")

        #expect {
            try shared.lookupVolume(name: "missing.qcow2")
        } throws: { error in
            (error as? LibvirtError)?.code == .noStorageVolume
        }
        #expect {
            try connection.lookupStorageVolume(path: "/nowhere/x.qcow2")
        } throws: { error in
            (error as? LibvirtError)?.code == .noStorageVolume
        }
    }

    @Test("create, clone on the same host (VolCreateXMLFrom), delete only when asked")
    func createCloneDelete() throws {
        let connection = try Fixture.connection("host3")
        let pool = try connection.lookupStoragePool(name: "local")
        let created = try pool.createVolume(xml: Self.volumeXML("base.qcow2", mebibytes: 64))
        #expect(created.name == "base.qcow2")
        #expect(try created.info().capacityBytes == 64 << 20)
        #expect(throws: LibvirtError.self) { try pool.createVolume(xml: Self.volumeXML("base.qcow2", mebibytes: 64)) }

        let clone = try pool.createVolume(xml: Self.volumeXML("base-backup.qcow2", mebibytes: 64), cloning: created)
        #expect(clone.name == "base-backup.qcow2")
        #expect(try clone.info().capacityBytes == 64 << 20)
        #expect(try pool.listVolumes().map(\.name).sorted() == ["base-backup.qcow2", "base.qcow2"])

        try clone.deletePermanently()
        #expect(try pool.listVolumes().map(\.name) == ["base.qcow2"])
    }

    @Test("volume transfer needs streams the test driver lacks: a typed error, the target left as it was")
    func transferUnsupported() throws {
        let source = try Fixture.connection("host1")
        let destination = try Fixture.connection("host3")
        let volume = try source.lookupStoragePool(name: "local").lookupVolume(name: "scratch.qcow2")
        let target = try destination.lookupStoragePool(name: "local").createVolume(xml: Self.volumeXML("scratch.qcow2", mebibytes: 1024))
        var reports = 0
        #expect(throws: LibvirtError.self) {
            try VolumeTransfer.copy(from: volume, to: target) { _ in reports += 1 }
        }
        #expect(reports == 0)
        #expect(try target.info().capacityBytes == 1 << 30)
    }

    @Test("a destination smaller than the source is refused before any byte moves")
    func transferTooSmall() throws {
        let source = try Fixture.connection("host1")
        let destination = try Fixture.connection("host3")
        let volume = try source.lookupStoragePool(name: "local").lookupVolume(name: "web-1.qcow2")
        let target = try destination.lookupStoragePool(name: "local").createVolume(xml: Self.volumeXML("web-1.qcow2", mebibytes: 16))
        #expect(throws: VolumeTransferError.destinationTooSmall(volume: "web-1.qcow2", capacityBytes: 16 << 20, neededBytes: 10 << 30)) {
            try VolumeTransfer.copy(from: volume, to: target)
        }
    }
}
