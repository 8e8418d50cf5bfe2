import CLibvirt

/// The libvirt library version this process runs with, e.g. `9.0.0`.
public func libvirtLibraryVersion() -> String {
    var v: UInt = 0
    guard virGetVersion(&v, nil, nil) == 0 else { return "unknown" }
    return "\(v / 1_000_000).\((v / 1_000) % 1_000).\(v % 1_000)"
}
