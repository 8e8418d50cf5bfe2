import Placement

/// What a connection URI says about how it connects (checking and redacting it: `HostURI`).
public enum LibvirtURI {
    /// Whether a URI reaches a daemon over the network (a host part or a `+transport`), so
    /// that keepalive applies. `test:///…` and `qemu:///system` are local.
    public static func isRemote(_ uri: String) -> Bool {
        guard let schemeEnd = uri.range(of: "://") else { return false }
        let scheme = uri[..<schemeEnd.lowerBound]
        if scheme.contains("+") { return true }
        let rest = uri[schemeEnd.upperBound...]
        return !(rest.first == "/" || rest.isEmpty)
    }

    /// `uri` as an unattended run opens it: a `qemu+ssh` URI (OpenSSH's `ssh`, which would ask
    /// for a passphrase, a password or an unknown host key on the terminal) gets `no_tty=1`,
    /// which libvirt passes on as `ssh -o BatchMode=yes`, replacing any `no_tty` it had. Other
    /// URIs are unchanged (their prompts go through libvirt's callback, which refuses them).
    public static func unattended(_ uri: String) -> String {
        guard let schemeEnd = uri.range(of: "://"), uri[..<schemeEnd.lowerBound].hasSuffix("+ssh") else { return uri }
        guard let mark = uri.firstIndex(of: "?") else { return uri + "?no_tty=1" }
        let pairs = uri[uri.index(after: mark)...]
            .split(whereSeparator: { $0 == "&" || $0 == ";" })
            .filter { !$0.hasPrefix("no_tty=") && $0 != "no_tty" }
        return String(uri[..<mark]) + "?" + (pairs.map(String.init) + ["no_tty=1"]).joined(separator: "&")
    }
}

extension LibvirtError {
    /// This error with anything of `uri` that may be secret taken out of its message: libvirt
    /// formats some messages with the URI it was given, or with a query parameter's value (a
    /// key file's path). The URI is shown as `HostURI.redacted` gives it; the query, the values
    /// of path and free-string parameters (and any value holding `/` or `%`) and a password are
    /// replaced by `<redacted>`.
    func redacting(uri: String) -> LibvirtError {
        var secrets: [String] = []
        if let mark = uri.firstIndex(of: "?") {
            let query = uri[uri.index(after: mark)...]
            secrets.append(String(query))
            for pair in query.split(whereSeparator: { $0 == "&" || $0 == ";" }) {
                // Paths (key files, certificate directories) and free strings; not the short
                // keywords (`mode=direct`) whose words libvirt's messages use for themselves.
                if let equals = pair.firstIndex(of: "=") {
                    let name = pair[..<equals], value = pair[pair.index(after: equals)...]
                    let free = ["keyfile", "pkipath", "known_hosts", "tls_priority"].contains(String(name))
                    if value.count >= 2, free || value.contains("/") || value.contains("%") { secrets.append(String(value)) }
                }
            }
        }
        if let start = uri.firstRange(of: "://")?.upperBound {
            let authority = uri[start...].prefix { $0 != "/" && $0 != "?" }
            if let at = authority.lastIndex(of: "@"), let colon = authority[..<at].firstIndex(of: ":") {
                let password = authority[authority.index(after: colon)..<at]
                if !password.isEmpty { secrets.append(String(password)) }
            }
        }
        var message = message.replacingAll(uri, with: HostURI.redacted(uri))
        for secret in secrets.sorted(by: { $0.count > $1.count }) {
            message = message.replacingAll(secret, with: "<redacted>")
        }
        var copy = self
        copy.message = message
        return copy
    }
}

extension String {
    /// Every occurrence of `target` replaced (no Foundation in this file's callers' hot paths).
    fileprivate func replacingAll(_ target: String, with replacement: String) -> String {
        guard !target.isEmpty, contains(target) else { return self }
        var result = ""
        var rest = self[...]
        while let range = rest.firstRange(of: target) {
            result += rest[..<range.lowerBound]
            result += replacement
            rest = rest[range.upperBound...]
        }
        return result + rest
    }
}
