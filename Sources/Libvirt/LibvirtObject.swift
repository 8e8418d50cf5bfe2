import CLibvirt
import Foundation

/// A libvirt object that Swift owns (a domain, network, storage pool or storage volume): its
/// handle, freed by its kind's free function when the last reference goes; its name, read from
/// the handle (libvirt caches it: no RPC); and its connection, kept open as long as the object
/// is used. The one wrapper behind `Domain`, `Network`, `StoragePool` and `StorageVolume`,
/// which add only their calls.
///
/// `@unchecked Sendable`: the handle is immutable and libvirt's objects are reference-counted
/// and safe to use from several threads.
public class LibvirtObject: @unchecked Sendable {
    /// How objects of one kind are freed and named.
    struct Kind {
        let free: @convention(c) (OpaquePointer?) -> Int32
        let name: @convention(c) (OpaquePointer?) -> UnsafePointer<CChar>?
    }

    let handle: OpaquePointer
    /// The connection the object was looked up on, kept open as long as the object is used.
    public let connection: Connection
    private let kind: Kind

    /// Takes ownership of `handle`.
    init(handle: OpaquePointer, connection: Connection, kind: Kind) {
        self.handle = handle
        self.connection = connection
        self.kind = kind
    }

    deinit {
        _ = kind.free(handle)
    }

    /// The object's name (cached in the handle, no RPC).
    public var name: String {
        kind.name(handle).map { String(cString: $0) } ?? ""
    }
}

/// Filters for `Connection.listAllNetworks` and `listAllStoragePools`, which take the same
/// flags (`VIR_CONNECT_LIST_NETWORKS_*`, `VIR_CONNECT_LIST_STORAGE_POOLS_*`); empty lists all.
public struct ListFilter: OptionSet, Sendable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    public static let inactive = Self(rawValue: 1 << 0)
    public static let active = Self(rawValue: 1 << 1)
    public static let persistent = Self(rawValue: 1 << 2)
    public static let transient = Self(rawValue: 1 << 3)
    public static let autostart = Self(rawValue: 1 << 4)
    public static let noAutostart = Self(rawValue: 1 << 5)
}

/// The objects of a list that a `virConnectListAll…` call fills (`fill` gets where to put it):
/// each handle wrapped by `wrap`, the list itself freed.
/// - Throws: `LibvirtError` when the call fails.
func takeList<Object>(
    _ fill: (UnsafeMutablePointer<UnsafeMutablePointer<OpaquePointer?>?>) -> Int32, wrap: (OpaquePointer) -> Object
) throws(LibvirtError) -> [Object] {
    var list: UnsafeMutablePointer<OpaquePointer?>?
    let count = try check(fill(&list))
    defer { free(list) }
    guard let list else { return [] }
    return (0..<Int(count)).compactMap { index in list[index].map(wrap) }
}
