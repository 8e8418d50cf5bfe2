import Foundation
@testable import Libvirt
import Placement
import Testing

@Suite("Domains (test driver)")
struct DomainTests {
    static let uuid = "44444444-0000-4000-8000-000000000001"

    @Test("define, look up, start, shut down, start, destroy, undefine")
    func lifecycle() throws {
        let connection = try Fixture.connection("host3")
        let defined = try connection.defineDomain(xml: testDomainXML(name: "life", uuid: Self.uuid))
        #expect(defined.name == "life")
        #expect(defined.uuid == Self.uuid)

        let domain = try connection.lookupDomain(uuid: Self.uuid.uppercased())
        #expect(domain.name == "life")
        #expect(try domain.status().state == .shutoff)
        #expect(try domain.isPersistent())
        #expect(try !domain.isActive())

        try domain.start()
        let running = try domain.status()
        #expect(running.state == .running)
        #expect(running.reasonName == "booted")
        #expect(try domain.info().state == .running)
        #expect(throws: LibvirtError.self) { try domain.start() }

        try domain.suspend()
        #expect(try domain.status().state == .paused)
        try domain.resume()

        try domain.shutdown()
        let stopped = try domain.status()
        #expect(stopped.state == .shutoff)
        #expect(stopped.reasonName == "shutdown")

        try domain.start()
        try domain.destroy()
        #expect(try domain.status().reasonName == "destroyed")

        try domain.undefine()
        #expect {
            try connection.lookupDomain(name: "life")
        } throws: { error in
            (error as? LibvirtError)?.code == .noDomain
        }
    }

    @Test("starting a running domain fails with a typed error")
    func startRunning() throws {
        let connection = try Fixture.connection("host1")
        // QEMU says .operationInvalid; the test driver says .internalError.
        #expect {
            try connection.lookupDomain(name: "web-1").start()
        } throws: { error in
            [.operationInvalid, .internalError].contains((error as? LibvirtError)?.code)
        }
    }

    @Test("a transient domain vanishes when destroyed")
    func transient() throws {
        let connection = try Fixture.connection("host1")
        let domain = try connection.lookupDomain(name: "tmp-1")
        #expect(try !domain.isPersistent())
        #expect(try domain.isActive())
        try domain.destroy()
        #expect {
            try connection.lookupDomain(name: "tmp-1")
        } throws: { error in
            (error as? LibvirtError)?.code == .noDomain
        }
    }

    @Test("UEFI domains: keep-NVRAM undefine falls back where the driver rejects the flag")
    func undefineUEFI() throws {
        let connection = try Fixture.connection("host1")
        for name in ["db-1", "efi-1"] {
            let domain = try connection.lookupDomain(name: name)
            // db-1 has snapshots: snapshot metadata must be dropped explicitly.
            if name == "db-1" {
                #expect(throws: LibvirtError.self) { try domain.undefine() }
                try domain.undefine(flags: .snapshotsMetadata)
            } else {
                try domain.undefine()
            }
            #expect(throws: LibvirtError.self) { try connection.lookupDomain(name: name) }
        }
    }

    @Test("definition facts choose undefine flags")
    func definitionFacts() throws {
        let efi = try DomainDefinitionFacts(xml: testDomainXML(name: "a", uuid: Self.uuid, os: "<type>hvm</type><nvram>/x</nvram>"))
        #expect(efi.hasNVRAM && !efi.hasEmulatedTPM)
        let tpm = try DomainDefinitionFacts(xml: testDomainXML(
            name: "a", uuid: Self.uuid, extra: "<devices><tpm model='tpm-crb'><backend type='emulator' version='2.0'/></tpm></devices>"
        ))
        #expect(!tpm.hasNVRAM && tpm.hasEmulatedTPM)
    }

    @Test("autostart, vCPUs and memory in the persistent definition")
    func settings() throws {
        let connection = try Fixture.connection("host1")
        let domain = try connection.lookupDomain(name: "web-1")
        #expect(try !domain.autostart())
        try domain.setAutostart(true)
        #expect(try domain.autostart())

        try domain.setVcpus(3, flags: .config)
        try domain.setMemory(mebibytes: 768, flags: .config)
        let observed = try ObservedDomain.parse(xml: domain.xml(flags: .inactive), state: "running")
        #expect(observed.vcpus == 3 && observed.maxVcpus == 4)
        #expect(observed.memoryMiB == 768 && observed.maxMemoryMiB == 1024)

        try domain.setMemory(mebibytes: 2048, flags: .config, maximum: true)
        #expect(try ObservedDomain.parse(xml: domain.xml(flags: .inactive), state: "running").maxMemoryMiB == 2048)
    }

    @Test("virtplace metadata: set, get, observe, replace, remove")
    func metadata() throws {
        let connection = try Fixture.connection("host2")
        let domain = try connection.lookupDomain(name: "app-1")
        #expect(try domain.virtplaceMetadata(flags: .config) == nil)

        let metadata = VirtplaceMetadata(fleet: "lab", tags: ["tier": "app", "owner": "ops & dev"])
        try domain.setVirtplaceMetadata(metadata, flags: .config)
        #expect(try domain.virtplaceMetadata(flags: .config) == metadata)
        let raw = try #require(try domain.metadata(uri: VirtplaceMetadata.namespace, flags: .config))
        #expect(raw.contains("fleet=\"lab\""))

        let observed = try ObservedDomain.parse(xml: domain.xml(flags: .inactive), state: "shutoff")
        #expect(observed.fleet == "lab")
        #expect(observed.tags == metadata.tags)

        let replaced = VirtplaceMetadata(fleet: "prod")
        try domain.setVirtplaceMetadata(replaced, flags: .config)
        #expect(try domain.virtplaceMetadata(flags: .config) == replaced)

        try domain.setMetadata(nil, prefix: VirtplaceMetadata.prefix, uri: VirtplaceMetadata.namespace, flags: .config)
        #expect(try domain.virtplaceMetadata(flags: .config) == nil)
        #expect(try ObservedDomain.parse(xml: domain.xml(flags: .inactive), state: "shutoff").fleet == nil)
    }

    @Test("live and config metadata are separate")
    func metadataLiveAndConfig() throws {
        let connection = try Fixture.connection("host2")
        let domain = try connection.lookupDomain(name: "web-2")
        #expect(try domain.virtplaceMetadata(flags: .live)?.fleet == "lab")
        try domain.setVirtplaceMetadata(VirtplaceMetadata(fleet: "other"), flags: .live)
        #expect(try domain.virtplaceMetadata(flags: .live)?.fleet == "other")
        #expect(try domain.virtplaceMetadata(flags: .config)?.fleet == "lab")
    }

    @Test("snapshots: from the fixture and created through the API")
    func snapshots() throws {
        let connection = try Fixture.connection("host1")
        #expect(try connection.lookupDomain(name: "db-1").snapshotCount() == 2)
        let web = try connection.lookupDomain(name: "web-1")
        #expect(try web.snapshotCount() == 0)
        let name = try web.createSnapshot(xml: "<domainsnapshot><name>s1</name></domainsnapshot>")
        #expect(name == "s1")
        #expect(try web.snapshotCount() == 1)
        #expect(try connection.listAllDomains(.hasSnapshot).map(\.name).sorted() == ["db-1", "web-1"])
    }

    @Test("what the test driver lacks fails with a typed error, never a crash")
    func unsupported() throws {
        let connection = try Fixture.connection("host1")
        let domain = try connection.lookupDomain(name: "web-1")
        let other = try Fixture.connection("host2")
        #expect(throws: LibvirtError.self) { try domain.jobStats() }
        #expect(throws: LibvirtError.self) { try domain.jobStats(completed: true) }
        #expect(throws: LibvirtError.self) {
            try domain.migrate(toURI: "qemu+tcp://127.0.0.99/system", parameters: MigrationParameters(disks: ["vda"]),
                               flags: [.live, .peerToPeer, .persistDestination, .undefineSource])
        }
        #expect(throws: LibvirtError.self) { _ = try domain.migrate(to: other, flags: [.live]) }
        #expect(throws: LibvirtError.self) { try domain.startPostCopy() }
    }

    @Test("migration parameters: multi-valued disks, all the named ones")
    func migrationParameters() throws {
        let parameters = MigrationParameters(
            migrateURI: "tcp://127.0.0.12", bandwidthMiBps: 100, disks: ["vda", "vdb"],
            persistentXML: "<domain/>", destinationName: "renamed", parallelConnections: 2
        )
        let list = try parameters.typedParameters()
        #expect(list.count == 7)
        #expect(list.strings("migrate_disks") == ["vda", "vdb"])
        #expect(list.strings("migrate_uri") == ["tcp://127.0.0.12"])
        let reader = TypedParameterReader(pointer: list.pointer, count: list.count)
        #expect(reader.ulonglong("bandwidth") == 100)
        #expect(reader.int("parallel.connections") == 2)
        #expect(reader.string("destination_name") == "renamed")
        #expect(try MigrationParameters().typedParameters().count == 0)
    }

    @Test("migration flags have libvirt's values")
    func migrationFlags() {
        let flags: MigrationFlags = [.live, .peerToPeer, .persistDestination, .undefineSource, .unsafe]
        #expect(flags.rawValue == 0x1 | 0x2 | 0x8 | 0x10 | 0x200)
        #expect(MigrationFlags.nonSharedDisk.rawValue == 0x40)
        #expect(MigrationFlags.offline.rawValue == 0x400)
        #expect(MigrationFlags.abortOnError.rawValue == 0x1000)
        #expect(MigrationFlags.autoConverge.rawValue == 0x2000)
        #expect(MigrationFlags.postcopy.rawValue == 0x8000)
    }

    @Test("state names and reasons", arguments: [
        (DomainStatus(state: .running, reason: 2), "running", "migrated"),
        (DomainStatus(state: .paused, reason: 2), "paused", "migration"),
        (DomainStatus(state: .shutoff, reason: 4), "shutoff", "migrated"),
        (DomainStatus(state: .crashed, reason: 1), "crashed", "panicked"),
        (DomainStatus(state: .pmSuspended, reason: 0), "pmsuspended", nil),
        (DomainStatus(state: .running, reason: 0), "running", nil),
        (DomainStatus(state: .running, reason: 999), "running", nil),
    ] as [(DomainStatus, String, String?)])
    func stateNames(status: DomainStatus, name: String, reason: String?) {
        #expect(status.state.name == name)
        #expect(status.reasonName == reason)
    }

    @Test("attach and detach: typed errors on the test driver, never a crash")
    func devices() throws {
        let connection = try Fixture.connection("host2")
        let domain = try connection.lookupDomain(name: "app-1")
        let nic = "<interface type='network'><mac address='52:54:00:00:00:99'/><source network='lan'/></interface>"
        do {
            try domain.attachDevice(xml: nic, flags: .config)
            try domain.detachDevice(xml: nic, flags: .config)
        } catch let error as LibvirtError {
            #expect(error.code == .noSupport)
        }
    }
}
