import CLibvirt
import Foundation
import Placement
#if canImport(FoundationXML)
import FoundationXML
#endif

/// A storage pool handle (freed with `virStoragePoolFree`); the name is cached (no RPC).
///
/// `@unchecked Sendable`: an immutable handle to a thread-safe, reference-counted libvirt object.
public final class StoragePool: @unchecked Sendable {
    let handle: OpaquePointer
    public let connection: Connection

    init(handle: OpaquePointer, connection: Connection) {
        self.handle = handle
        self.connection = connection
    }

    deinit {
        virStoragePoolFree(handle)
    }

    /// The pool's name (cached, no RPC).
    public var name: String {
        virStoragePoolGetName(handle).map { String(cString: $0) } ?? ""
    }

    /// Whether the pool is started.
    /// - Throws: `LibvirtError`.
    public func isActive() throws -> Bool {
        try check(virStoragePoolIsActive(handle)) == 1
    }

    /// State and sizes (`virStoragePoolGetInfo`).
    /// - Throws: `LibvirtError`.
    public func info() throws -> StoragePoolInfo {
        var info = virStoragePoolInfo()
        try check(virStoragePoolGetInfo(handle, &info))
        return StoragePoolInfo(
            state: Int32(bitPattern: UInt32(info.state)), capacityBytes: info.capacity,
            allocationBytes: info.allocation, availableBytes: info.available
        )
    }

    /// The pool XML.
    /// - Throws: `LibvirtError`.
    public func xml(inactive: Bool = false) throws -> String {
        try takeString(virStoragePoolGetXMLDesc(handle, inactive ? VIR_STORAGE_XML_INACTIVE.rawValue : 0))
    }

    /// Type, target path and sizes, read from the pool XML (one call).
    /// - Throws: `LibvirtError`, `DomainXMLError`.
    public func poolDescription() throws -> StoragePoolDescription {
        try StoragePoolDescription(xml: xml())
    }

    /// Re-scans the pool's storage so that volumes created behind libvirt's back appear.
    /// - Throws: `LibvirtError` (`.operationInvalid` when inactive).
    public func refresh() throws {
        try check(virStoragePoolRefresh(handle, 0))
    }

    /// The pool's volumes (`virStoragePoolListAllVolumes`).
    /// - Throws: `LibvirtError`.
    public func listVolumes() throws -> [StorageVolume] {
        var list: UnsafeMutablePointer<virStorageVolPtr?>?
        let count = try check(virStoragePoolListAllVolumes(handle, &list, 0))
        defer { free(list) }
        guard let list else { return [] }
        return (0..<Int(count)).compactMap { index in
            list[index].map { StorageVolume(handle: $0, connection: connection) }
        }
    }

    /// The volume called `name` in this pool.
    /// - Throws: `LibvirtError` (`.noStorageVolume`).
    public func lookupVolume(name: String) throws -> StorageVolume {
        StorageVolume(handle: try check(virStorageVolLookupByName(handle, name)), connection: connection)
    }

    /// Creates a volume from `<volume>` XML.
    /// - Throws: `LibvirtError` (`.storageVolumeExists`, …).
    @discardableResult
    public func createVolume(xml: String) throws -> StorageVolume {
        MutatingCalls.record("virStorageVolCreateXML")
        return StorageVolume(handle: try check(virStorageVolCreateXML(handle, xml, 0)), connection: connection)
    }

    /// Creates a volume from `<volume>` XML, filled with a copy of `source`'s data
    /// (`virStorageVolCreateXMLFrom`: same connection only; a backup or a clone on one host).
    /// - Throws: `LibvirtError`.
    @discardableResult
    public func createVolume(xml: String, cloning source: StorageVolume) throws -> StorageVolume {
        MutatingCalls.record("virStorageVolCreateXMLFrom")
        return StorageVolume(handle: try check(virStorageVolCreateXMLFrom(handle, xml, source.handle, 0)), connection: connection)
    }
}

/// A snapshot of `virStoragePoolGetInfo`.
public struct StoragePoolInfo: Equatable, Sendable {
    /// `virStoragePoolState`: 0 inactive, 1 building, 2 running, 3 degraded, 4 inaccessible.
    public var state: Int32
    public var capacityBytes: UInt64
    public var allocationBytes: UInt64
    public var availableBytes: UInt64
}

/// What the pool XML says about a pool.
public struct StoragePoolDescription: Equatable, Sendable {
    public var name: String
    /// `dir`, `fs`, `netfs`, `logical`, `rbd`, …
    public var type: String
    /// The target path, for path-based pools.
    public var path: String?
    public var capacityBytes: UInt64?
    public var allocationBytes: UInt64?
    public var availableBytes: UInt64?

    /// Reads a `<pool>` document.
    /// - Throws: `DomainXMLError`.
    public init(xml: String) throws {
        let root = try parseXMLTree(xml, expectingRoot: "pool")
        name = root.element("name")?.trimmedText ?? ""
        type = root.attribute("type") ?? ""
        path = root.element(path: "target/path")?.trimmedText
        capacityBytes = bytes(root.element("capacity"), defaultUnit: "bytes")
        allocationBytes = bytes(root.element("allocation"), defaultUnit: "bytes")
        availableBytes = bytes(root.element("available"), defaultUnit: "bytes")
    }
}

/// A storage volume handle (freed with `virStorageVolFree`); name and key are cached (no RPC).
///
/// `@unchecked Sendable`: an immutable handle to a thread-safe, reference-counted libvirt object.
public final class StorageVolume: @unchecked Sendable {
    let handle: OpaquePointer
    public let connection: Connection

    init(handle: OpaquePointer, connection: Connection) {
        self.handle = handle
        self.connection = connection
    }

    deinit {
        virStorageVolFree(handle)
    }

    /// The volume's name (cached, no RPC).
    public var name: String {
        virStorageVolGetName(handle).map { String(cString: $0) } ?? ""
    }

    /// The volume's key, unique on the host (the path for file-based pools; cached, no RPC).
    public var key: String {
        virStorageVolGetKey(handle).map { String(cString: $0) } ?? ""
    }

    /// The volume's path on its host.
    /// - Throws: `LibvirtError`.
    public func path() throws -> String {
        try takeString(virStorageVolGetPath(handle))
    }

    /// Type and sizes (`virStorageVolGetInfo`).
    /// - Throws: `LibvirtError`.
    public func info() throws -> StorageVolumeInfo {
        var info = virStorageVolInfo()
        try check(virStorageVolGetInfo(handle, &info))
        return StorageVolumeInfo(type: info.type, capacityBytes: info.capacity, allocationBytes: info.allocation)
    }

    /// The volume's size as stored on its host (file length; below the capacity for qcow2),
    /// bytes (`virStorageVolGetInfoFlags` with `GET_PHYSICAL`).
    /// - Throws: `LibvirtError`.
    public func physicalBytes() throws -> UInt64 {
        var info = virStorageVolInfo()
        try check(virStorageVolGetInfoFlags(handle, &info, VIR_STORAGE_VOL_GET_PHYSICAL.rawValue))
        return info.allocation
    }

    /// The volume XML.
    /// - Throws: `LibvirtError`.
    public func xml() throws -> String {
        try takeString(virStorageVolGetXMLDesc(handle, 0))
    }

    /// Name, path, sizes and format in one call (from the volume XML).
    /// - Throws: `LibvirtError`, `DomainXMLError`.
    public func observed() throws -> ObservedVolume {
        try ObservedVolume(volumeXML: xml())
    }

    /// Deletes the volume and its data (`virStorageVolDelete`). virtplace calls it only on a
    /// copy it created itself and that is provably incomplete (a failed copy).
    /// - Throws: `LibvirtError`.
    public func delete() throws {
        MutatingCalls.record("virStorageVolDelete")
        _ = try check(virStorageVolDelete(handle, 0))
    }

    /// The pool holding this volume (`virStoragePoolLookupByVolume`).
    /// - Throws: `LibvirtError`.
    public func pool() throws -> StoragePool {
        StoragePool(handle: try check(virStoragePoolLookupByVolume(handle)), connection: connection)
    }
}

/// A snapshot of `virStorageVolGetInfo`.
public struct StorageVolumeInfo: Equatable, Sendable {
    /// `virStorageVolType`: 0 file, 1 block, 2 dir, 3 network, 4 netdir, 5 ploop.
    public var type: Int32
    public var capacityBytes: UInt64
    public var allocationBytes: UInt64
}

extension ObservedVolume {
    /// Reads a `<volume>` document (name, target path, capacity, allocation, format, backing file).
    /// - Throws: `DomainXMLError`.
    public init(volumeXML xml: String) throws {
        let root = try parseXMLTree(xml, expectingRoot: "volume")
        guard let name = root.element("name")?.trimmedText else { throw DomainXMLError("<volume> without <name>") }
        self.init(
            name: name,
            path: root.element(path: "target/path")?.trimmedText,
            capacityBytes: Int64(clamping: bytes(root.element("capacity"), defaultUnit: "bytes") ?? 0),
            allocationBytes: Int64(clamping: bytes(root.element("allocation"), defaultUnit: "bytes") ?? 0),
            format: root.element(path: "target/format")?.attribute("type"),
            backingPath: root.element(path: "backingStore/path")?.trimmedText
        )
    }
}

/// Filters for `Connection.listAllStoragePools`; empty lists all.
public struct StoragePoolListFilter: OptionSet, Sendable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    public static let inactive = Self(rawValue: 1 << 0)
    public static let active = Self(rawValue: 1 << 1)
    public static let persistent = Self(rawValue: 1 << 2)
    public static let transient = Self(rawValue: 1 << 3)
    public static let autostart = Self(rawValue: 1 << 4)
    public static let noAutostart = Self(rawValue: 1 << 5)
}

extension Connection {
    /// The host's storage pools (`virConnectListAllStoragePools`).
    /// - Throws: `LibvirtError`.
    public func listAllStoragePools(_ filter: StoragePoolListFilter = []) throws -> [StoragePool] {
        var list: UnsafeMutablePointer<virStoragePoolPtr?>?
        let count = try check(virConnectListAllStoragePools(handle, &list, filter.rawValue))
        defer { free(list) }
        guard let list else { return [] }
        return (0..<Int(count)).compactMap { index in
            list[index].map { StoragePool(handle: $0, connection: self) }
        }
    }

    /// The pool called `name`.
    /// - Throws: `LibvirtError` (`.noStoragePool`).
    public func lookupStoragePool(name: String) throws -> StoragePool {
        StoragePool(handle: try check(virStoragePoolLookupByName(handle, name)), connection: self)
    }

    /// The volume at `path` (only found inside an active, refreshed pool).
    /// - Throws: `LibvirtError` (`.noStorageVolume`).
    public func lookupStorageVolume(path: String) throws -> StorageVolume {
        StorageVolume(handle: try check(virStorageVolLookupByPath(handle, path)), connection: self)
    }
}
