/// Connection URIs as virtplace stores and prints them.
public enum LibvirtURI {
    /// The URI without its query (`?keyfile=…&pkipath=…` may name credentials) and without a
    /// password in its user part: safe to store in snapshots and to log.
    public static func redacted(_ uri: String) -> String {
        var base = Substring(uri)
        if let query = base.firstIndex(where: { $0 == "?" || $0 == "#" }) {
            base = base[..<query]
        }
        // scheme://user:password@host/path → scheme://user@host/path
        guard let schemeEnd = base.range(of: "://") else { return String(base) }
        let authorityStart = schemeEnd.upperBound
        let authorityEnd = base[authorityStart...].firstIndex(of: "/") ?? base.endIndex
        let authority = base[authorityStart..<authorityEnd]
        guard let at = authority.lastIndex(of: "@"),
              let colon = authority[..<at].firstIndex(of: ":") else { return String(base) }
        return String(base[..<colon]) + String(base[at...])
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
