import Placement

/// Connection URIs as virtplace stores and prints them.
public enum LibvirtURI {
    /// The URI without its query (`?keyfile=…&pkipath=…` may name credentials) and without a
    /// password in its user part: safe to store in snapshots and to log.
    public static func redacted(_ uri: String) -> String {
        HostURI.redacted(uri)
    }

    /// Whether a URI reaches a daemon over the network (a host part or a `+transport`), so
    /// that keepalive applies. `test:///…` and `qemu:///system` are local.
    public static func isRemote(_ uri: String) -> Bool {
        guard let schemeEnd = uri.range(of: "://") else { return false }
        let scheme = uri[..<schemeEnd.lowerBound]
        if scheme.contains("+") { return true }
        let rest = uri[schemeEnd.upperBound...]
        return !(rest.first == "/" || rest.isEmpty)
    }
}
