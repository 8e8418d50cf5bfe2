import CLibvirt
import Foundation
import Placement

/// A virtual network (`LibvirtObject`: freed with `virNetworkFree`; the name is cached, no RPC).
public final class Network: LibvirtObject, @unchecked Sendable {
    /// Takes ownership of a `virNetworkPtr`.
    init(handle: OpaquePointer, connection: Connection) {
        super.init(handle: handle, connection: connection, kind: Kind(free: virNetworkFree, name: virNetworkGetName))
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

extension Connection {
    /// The host's virtual networks (`virConnectListAllNetworks`).
    /// - Throws: `LibvirtError`.
    public func listAllNetworks(_ filter: ListFilter = []) throws -> [Network] {
        try takeList({ virConnectListAllNetworks(handle, $0, filter.rawValue) }) { Network(handle: $0, connection: self) }
    }

    /// The network called `name`.
    /// - Throws: `LibvirtError` (`.noNetwork`).
    public func lookupNetwork(name: String) throws -> Network {
        Network(handle: try check(virNetworkLookupByName(handle, name)), connection: self)
    }
}
