// `virConnectAuthPtrDefault` is a C global variable, which Swift 6 flags as shared mutable
// state. libvirt initialises it statically and never writes it, so reading it is safe; the
// `@preconcurrency` import that says so is confined to this file.
@preconcurrency import CLibvirt

/// Whether a connection may ask its user for credentials (a SASL user name or password, an SSH
/// key's passphrase or password, whether to accept an unknown SSH host key).
public enum CredentialPrompts: Sendable, Equatable {
    /// Every prompt is refused at once and the connection fails with `.authFailed`: unattended
    /// runs (reconcile, observe, plan, and apply when standard input is not a terminal) never
    /// wait for an answer. OpenSSH's `ssh` (`qemu+ssh`) is run in batch mode (`no_tty=1`), so
    /// it never asks on the terminal either.
    case refuse
    /// libvirt's default callbacks answer on the terminal, and `ssh` may ask there: only `apply`
    /// run on a terminal.
    case terminal
}

/// libvirt's default authentication callbacks (console prompts, polkit, SASL, ssh agent).
func defaultAuth() -> virConnectAuthPtr? {
    virConnectAuthPtrDefault
}

/// Every credential type libvirt may ask for (`virConnectCredentialType`, 1 … 9).
private let allCredentialTypes: [Int32] = (1...9).map(Int32.init)

/// Opens `uri` with an authentication callback that answers no prompt; `prompted` tells
/// whether libvirt asked for one (the open then fails). The callback only records the
/// credential types asked for, never a prompt's text or an answer.
func openRefusingPrompts(_ uri: String) -> (handle: OpaquePointer?, prompted: [Int32]) {
    let asked = UnsafeMutablePointer<UInt32>.allocate(capacity: 1)
    asked.initialize(to: 0)
    defer { asked.deallocate() }
    var types = allCredentialTypes
    let handle = types.withUnsafeMutableBufferPointer { buffer -> OpaquePointer? in
        var auth = virConnectAuth(
            credtype: buffer.baseAddress, ncredtype: UInt32(buffer.count),
            cb: { credentials, count, data in
                guard let credentials, let data else { return -1 }
                let mask = data.assumingMemoryBound(to: UInt32.self)
                for index in 0..<Int(min(count, 64)) {
                    let type = credentials[index].type
                    if type >= 1 && type <= 31 { mask.pointee |= 1 << UInt32(type) }
                }
                return -1
            },
            cbdata: UnsafeMutableRawPointer(asked))
        return virConnectOpenAuth(uri, &auth, 0)
    }
    let mask = asked.pointee
    return (handle, (1...31).filter { mask & (1 << UInt32($0)) != 0 }.map(Int32.init))
}

/// What a refused prompt was about, for the error message (never its text).
func promptKinds(_ types: [Int32]) -> String {
    var kinds: [String] = []
    for type in types {
        let kind: String
        switch type {
        case 1, 2: kind = "a user name"
        case 5, 7: kind = "a password or passphrase"
        case 6: kind = "a yes/no answer (e.g. whether to accept an unknown SSH host key)"
        case 8: kind = "a realm"
        default: kind = "credentials"
        }
        if !kinds.contains(kind) { kinds.append(kind) }
    }
    return kinds.isEmpty ? "credentials" : kinds.joined(separator: " and ")
}
