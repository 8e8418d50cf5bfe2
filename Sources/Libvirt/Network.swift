import CLibvirt
import Foundation
import Placement
#if canImport(FoundationXML)
import FoundationXML
#endif

/// A virtual network handle (freed with `virNetworkFree`); the name is cached (no RPC).
///
/// `@unchecked Sendable`: an immutable handle to a thread-safe, reference-counted libvirt object.
public final class Network: @unchecked Sendable {
    let handle: OpaquePointer
    public let connection: Connection

    init(handle: OpaquePointer, connection: Connection) {
        self.handle = handle
        self.connection = connection
    }

    deinit {
        virNetworkFree(handle)
    }

    /// The network's name (cached, no RPC).
    public var name: String {
        virNetworkGetName(handle).map { String(cString: $0) } ?? ""
    }

    /// Whether the network is started.
    /// - Throws: `LibvirtError`.
    public func isActive() throws -> Bool {
        try check(virNetworkIsActive(handle)) == 1
    }

    /// The network XML.
    /// - Throws: `LibvirtError`.
    public func xml() throws -> String {
        try takeString(virNetworkGetXMLDesc(handle, 0))
    }

    /// The bridge named in the network XML (`<bridge name=…>`), nil for networks without one
    /// (macvtap, hostdev pools).
    /// - Throws: `LibvirtError`, `DomainXMLError`.
    public func bridge() throws -> String? {
        try Self.bridge(inXML: xml())
    }

    static func bridge(inXML xml: String) throws(DomainXMLError) -> String? {
        try parseXMLTree(xml, expectingRoot: "network").element("bridge")?.attribute("name")
    }
}

/// Filters for `Connection.listAllNetworks`; empty lists all.
public struct NetworkListFilter: OptionSet, Sendable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    public static let inactive = Self(rawValue: 1 << 0)
    public static let active = Self(rawValue: 1 << 1)
    public static let persistent = Self(rawValue: 1 << 2)
    public static let transient = Self(rawValue: 1 << 3)
}

extension Connection {
    /// The host's virtual networks (`virConnectListAllNetworks`).
    /// - Throws: `LibvirtError`.
    public func listAllNetworks(_ filter: NetworkListFilter = []) throws -> [Network] {
        var list: UnsafeMutablePointer<virNetworkPtr?>?
        let count = try check(virConnectListAllNetworks(handle, &list, filter.rawValue))
        defer { free(list) }
        guard let list else { return [] }
        return (0..<Int(count)).compactMap { index in
            list[index].map { Network(handle: $0, connection: self) }
        }
    }

    /// The network called `name`.
    /// - Throws: `LibvirtError` (`.noNetwork`).
    public func lookupNetwork(name: String) throws -> Network {
        Network(handle: try check(virNetworkLookupByName(handle, name)), connection: self)
    }
}
