/// The one rule for libvirt connection URIs that come from outside (placement files, saved
/// plans, snapshots): an allow-list of drivers, transports, paths and query parameters, so that
/// no URI can make libvirt run a program, open a local file or an embedded driver, or carry a
/// secret. Every diagnostic shows the URI through `redacted`, never as written.
///
/// libvirt's remote driver runs programs for `ext` (`command=`), for `ssh` (`command=`,
/// `netcat=`), and passes `name=`, `socket=` on to the far side; the `test` driver reads any
/// local file named in its path; `qemu:///embed?root=` starts a driver inside this process.
/// None of that is reachable from here.
public struct HostURI: Equatable, Sendable {
    /// `qemu` (or `test`, only when the test driver is allowed).
    public let driver: String
    /// `tcp`, `tls`, `ssh`, `libssh`, `libssh2`, `unix`, or nil for the local default.
    public let transport: String?
    public let user: String?
    /// Host name, IPv4 address or bracketed IPv6 address; nil for a local URI.
    public let host: String?
    public let port: Int?
    public let path: String
    /// Query parameters in order, names and values percent-decoded.
    public let parameters: [Parameter]

    public struct Parameter: Equatable, Sendable {
        public let name: String
        public let value: String
    }

    /// Longest URI accepted.
    public static let maximumLength = 1024

    public static let drivers: [String] = ["qemu"]
    public static let transports: [String] = ["tcp", "tls", "ssh", "libssh", "libssh2", "unix"]
    /// Paths of the QEMU driver's daemons (`/embed` would start a driver in this process).
    public static let qemuPaths: [String] = ["/system", "/session"]
    /// Query parameters that select behaviour without naming a program, a socket or another URI.
    /// Files they name (`keyfile`, `pkipath`, `known_hosts`) are read by libvirt's SSH and TLS
    /// code as credentials, on the management host, by the operator's choice: see docs/security.md.
    public static let parameterNames: [String] = [
        "keyfile", "pkipath", "known_hosts", "known_hosts_verify", "sshauth", "no_tty", "mode",
        "proxy", "tls_priority", "no_verify",
    ]
    /// Parameters libvirt reads only for its built-in SSH clients (`libssh`, `libssh2`): with
    /// `ssh` (OpenSSH's program) it ignores them, and host keys come from ssh_config, so a URI
    /// that names them there would promise a check that does not happen.
    public static let libsshOnlyParameters: [String] = ["known_hosts", "known_hosts_verify", "sshauth"]
    /// Parameters with a fixed set of values (the others take a path or a free string).
    static let parameterValues: [String: [String]] = [
        "known_hosts_verify": ["normal", "auto"],
        "sshauth": ["agent", "privkey", "password", "keyboard-interactive"],
        "no_tty": ["0", "1"],
        "mode": ["auto", "legacy", "direct"],
        "proxy": ["auto", "native"],
        // 1 would turn off the check of the host's TLS certificate or SSH host key.
        "no_verify": ["0"],
    ]

    /// Whether the environment allows the in-process test driver (`test://`), which reads any
    /// local file named in its path: only the test suites set this.
    public static func allowsTestDriver(_ environment: [String: String]) -> Bool {
        environment["VIRTPLACE_ALLOW_TEST_DRIVER"] == "1"
    }

    /// Parses `text` under the allow-list.
    /// - Throws: `HostURIError` saying what is wrong; its text never holds a secret.
    public init(_ text: String, allowTestDriver: Bool) throws(HostURIError) {
        let shown = HostURI.redacted(text)
        func fail(_ why: String) -> HostURIError { HostURIError(uri: shown, reason: why) }

        guard text.utf8.count <= HostURI.maximumLength else {
            throw fail("longer than \(HostURI.maximumLength) bytes")
        }
        guard text.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
            throw fail("contains white space, a control character or a non-ASCII character")
        }
        guard let schemeEnd = text.range(of: "://") else {
            throw fail("expected driver[+transport]://[user@]host[:port]/path, like qemu+tcp://10.0.0.1/system")
        }
        if text.contains("#") { throw fail("a fragment ('#') is not allowed") }

        // Scheme: driver[+transport].
        let scheme = text[..<schemeEnd.lowerBound]
        let schemeParts = scheme.split(separator: "+", omittingEmptySubsequences: false).map(String.init)
        guard schemeParts.count <= 2, let driver = schemeParts.first else {
            throw fail("unknown driver '\(scheme)' (expected qemu, qemu+ssh, qemu+tcp or qemu+tls)")
        }
        if driver == "test" {
            guard allowTestDriver else {
                throw fail("the test driver reads local files and is for virtplace's own tests (set VIRTPLACE_ALLOW_TEST_DRIVER=1 only there)")
            }
        } else if !HostURI.drivers.contains(driver) {
            throw fail("unknown driver '\(driver)' (expected qemu, qemu+ssh, qemu+tcp or qemu+tls)")
        }
        var transport: String?
        if schemeParts.count == 2 {
            let name = schemeParts[1]
            if name == "ext" {
                throw fail("transport 'ext' runs a program and is not allowed (use tcp, tls, ssh, libssh, libssh2 or unix)")
            }
            guard HostURI.transports.contains(name) else {
                throw fail("unknown transport '\(name)' (expected one of: \(HostURI.transports.joined(separator: ", ")))")
            }
            transport = name
        }

        // Authority, path, query.
        var rest = text[schemeEnd.upperBound...]
        var query: Substring = ""
        if let mark = rest.firstIndex(of: "?") {
            query = rest[rest.index(after: mark)...]
            rest = rest[..<mark]
        }
        guard let slash = rest.firstIndex(of: "/") else {
            throw fail("no path (add /system or /session)")
        }
        let authority = rest[..<slash]
        let path = String(rest[slash...])

        var user: String?
        var hostPort = authority
        if let at = authority.lastIndex(of: "@") {
            let userPart = authority[..<at]
            if userPart.contains(":") || userPart.contains("@") {
                throw fail("a password in a URI is not allowed: it would be stored and shown in plain text (use SSH keys or TLS certificates)")
            }
            guard !userPart.isEmpty, userPart.utf8.allSatisfy(HostURI.isNameByte) else {
                throw fail("bad user name (letters, digits, '.', '-', '_')")
            }
            user = String(userPart)
            hostPort = authority[authority.index(after: at)...]
        }
        var host: Substring = hostPort
        var port: Int?
        if hostPort.hasPrefix("[") {
            guard let close = hostPort.firstIndex(of: "]") else { throw fail("unclosed '[' in the host") }
            host = hostPort[...close]
            let inner = hostPort[hostPort.index(after: hostPort.startIndex)..<close]
            guard !inner.isEmpty, inner.utf8.allSatisfy({ HostURI.isHexByte($0) || $0 == UInt8(ascii: ":") || $0 == UInt8(ascii: ".") }) else {
                throw fail("bad IPv6 address '\(host)'")
            }
            let after = hostPort[hostPort.index(after: close)...]
            if !after.isEmpty {
                guard after.first == ":" else { throw fail("unexpected '\(after)' after the host") }
                port = try HostURI.port(after.dropFirst(), fail)
            }
        } else {
            if let colon = hostPort.firstIndex(of: ":") {
                host = hostPort[..<colon]
                port = try HostURI.port(hostPort[hostPort.index(after: colon)...], fail)
            }
            guard host.utf8.allSatisfy(HostURI.isNameByte), !host.hasPrefix("-") else {
                throw fail("bad host name '\(host)' (letters, digits, '.', '-', '_')")
            }
        }
        if host.isEmpty, user != nil || port != nil {
            throw fail("a user or port needs a host")
        }
        if let transport, transport != "unix", host.isEmpty {
            throw fail("a remote transport needs a host")
        }
        if transport == "unix", !host.isEmpty {
            throw fail("the unix transport is local: no host")
        }

        if driver == "qemu" {
            guard HostURI.qemuPaths.contains(path) else {
                throw fail("path '\(path)' (expected /system or /session)")
            }
        } else {
            // test:///default or test:///ABS/PATH.xml, local only.
            guard host.isEmpty, transport == nil, path == "/default" || (path.hasSuffix(".xml") && !path.contains("/../")) else {
                throw fail("expected test:///default or test:///ABSOLUTE/PATH.xml")
            }
        }

        var parameters: [Parameter] = []
        if !query.isEmpty {
            if driver == "test" { throw fail("the test driver takes no query parameters") }
            for pair in query.split(omittingEmptySubsequences: true, whereSeparator: { $0 == "&" || $0 == ";" }) {
                let halves = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                guard let name = HostURI.percentDecoded(halves[0]),
                      let value = HostURI.percentDecoded(halves.count == 2 ? halves[1] : "") else {
                    throw fail("bad percent-encoding in the query")
                }
                guard HostURI.parameterNames.contains(name) else {
                    throw fail("query parameter '\(HostURI.printable(name))' is not allowed (allowed: \(HostURI.parameterNames.joined(separator: ", ")))")
                }
                if parameters.contains(where: { $0.name == name }) {
                    throw fail("query parameter '\(name)' given twice")
                }
                if name == "no_verify", value != "0" {
                    throw fail("no_verify=\(HostURI.printable(value)) would turn off the check of the host's TLS certificate or SSH host key: refused (install the host's CA certificate or host key instead)")
                }
                if transport == "ssh", HostURI.libsshOnlyParameters.contains(name) {
                    throw fail("query parameter '\(name)' is ignored by libvirt for qemu+ssh (OpenSSH takes host keys and methods from ~/.ssh/known_hosts and ssh_config): use qemu+libssh2:// or qemu+libssh:// for it, or leave it out")
                }
                if let allowed = HostURI.parameterValues[name] {
                    guard allowed.contains(value) else {
                        throw fail("query parameter '\(name)' must be one of: \(allowed.joined(separator: ", "))")
                    }
                } else if ["keyfile", "pkipath", "known_hosts"].contains(name) {
                    guard value.hasPrefix("/"), !value.split(separator: "/").contains(".."),
                          value.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
                        throw fail("query parameter '\(name)' must be an absolute path without '..'")
                    }
                } else if !value.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) {
                    throw fail("query parameter '\(name)' has a control or non-ASCII character")
                }
                parameters.append(Parameter(name: name, value: value))
            }
        }

        self.driver = driver
        self.transport = transport
        self.user = user
        self.host = host.isEmpty ? nil : String(host)
        self.port = port
        self.path = path
        self.parameters = parameters
    }

    /// Whether a URI is acceptable; the problem (already redacted) when not.
    public static func problem(_ text: String, allowTestDriver: Bool) -> String? {
        do {
            _ = try HostURI(text, allowTestDriver: allowTestDriver)
            return nil
        } catch {
            return error.description
        }
    }

    /// The daemon this URI reaches, for telling two hosts apart: driver, transport, host, port
    /// and path, lower-cased, without user and query.
    public var daemonKey: String {
        "\(driver)+\(transport ?? "")://\(host?.lowercased() ?? ""):\(port.map(String.init) ?? "")\(path)"
    }

    /// `uri` safe to store, print and log: no query (it may name key files), no password, no
    /// fragment, control and non-ASCII characters shown as `?`, and at most `maximumLength`
    /// characters. Works on any string, valid URI or not.
    public static func redacted(_ uri: String) -> String {
        var base = Substring(uri)
        if let cut = base.firstIndex(where: { $0 == "?" || $0 == "#" }) {
            base = base[..<cut]
        }
        var result = String(base)
        // scheme://user:password@host/path → scheme://user@host/path; with no scheme, drop
        // anything that looks like credentials before an '@'.
        let authorityStart = base.range(of: "://")?.upperBound ?? base.startIndex
        let authorityEnd = base[authorityStart...].firstIndex(of: "/") ?? base.endIndex
        let authority = base[authorityStart..<authorityEnd]
        if let at = authority.lastIndex(of: "@"), let colon = authority[..<at].firstIndex(of: ":") {
            result = String(base[..<colon]) + String(base[at...])
        }
        var printable = ""
        for scalar in result.unicodeScalars.prefix(maximumLength) {
            printable.unicodeScalars.append(scalar.value > 0x20 && scalar.value < 0x7F ? scalar : "?")
        }
        return printable
    }

    // MARK: - Pieces

    private static func port(_ text: Substring, _ fail: (String) -> HostURIError) throws(HostURIError) -> Int {
        guard !text.isEmpty, text.count <= 5, text.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }),
              let value = Int(text), (1...65535).contains(value) else {
            throw fail("bad port '\(text.prefix(8))'")
        }
        return value
    }

    private static func isNameByte(_ byte: UInt8) -> Bool {
        (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z")) || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z"))
            || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")) || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "-")
            || byte == UInt8(ascii: "_")
    }

    private static func isHexByte(_ byte: UInt8) -> Bool {
        (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")) || (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "f"))
            || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "F"))
    }

    /// Percent-decoding as libvirt's query parser does it (`+` is a space); nil when an escape is
    /// malformed or decodes to a control, non-ASCII or NUL byte.
    private static func percentDecoded(_ text: Substring) -> String? {
        var bytes: [UInt8] = []
        var iterator = text.utf8.makeIterator()
        while let byte = iterator.next() {
            switch byte {
            case UInt8(ascii: "%"):
                guard let high = iterator.next(), let low = iterator.next(),
                      let h = hexValue(high), let l = hexValue(low) else { return nil }
                bytes.append(h << 4 | l)
            case UInt8(ascii: "+"):
                bytes.append(UInt8(ascii: " "))
            default:
                bytes.append(byte)
            }
        }
        guard bytes.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }) else { return nil }
        return String(decoding: bytes, as: UTF8.self)
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    private static func printable(_ text: String) -> String {
        String(String.UnicodeScalarView(text.unicodeScalars.prefix(64).map { $0.value > 0x20 && $0.value < 0x7F ? $0 : "?" }))
    }
}

/// A URI refused by `HostURI`'s allow-list; `uri` is already redacted.
public struct HostURIError: Error, Equatable, Sendable, CustomStringConvertible {
    public let uri: String
    public let reason: String
    public var description: String { "URI '\(uri)' refused: \(reason)" }
}
