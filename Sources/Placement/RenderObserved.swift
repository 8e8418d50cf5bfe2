/// `observe` as text: one block per host (address, fault domain, capacity, reachability, CPU,
/// libvirt and QEMU versions), then a table of its domains. Pure. Every value (names seen on the
/// hosts included, which no file vouches for) is escaped for the terminal (`Escape.terminal`).
public func renderObserved(_ fleet: ObservedFleet, managedNames: Set<String> = [], style: (String, TextStyle) -> String = { s, _ in s }) -> String {
    let t = Escape.terminal
    var out: [String] = []
    for host in fleet.hosts {
        let fd = host.faultDomain.map { "  fault domain \(t($0))" } ?? ""
        if !host.reachable {
            out.append(style(t(host.name), .bold) + "  \(t(host.uri))\(fd)  " + style("unreachable", .red) + ": \(t(host.error ?? "no answer"))")
            out.append("")
            continue
        }
        let used = host.domains.filter { $0.state == "running" || $0.state == "paused" }
        let usedMiB = used.reduce(0) { $0 + $1.memoryMiB }
        let usedVcpus = used.reduce(0) { $0 + $1.vcpus }
        out.append(style(t(host.name), .bold) + "  \(t(host.uri))\(fd)  \(host.capacity.vcpus) CPUs, \(host.capacity.memoryMiB) MiB;"
                   + " running: \(usedVcpus) vCPUs, \(usedMiB) MiB; \(host.domains.count) domain\(host.domains.count == 1 ? "" : "s")")
        if let cpu = cpuText(host) { out.append("  CPU " + t(cpu)) }
        if let software = softwareText(host) { out.append("  " + t(software)) }
        if host.domains.isEmpty {
            out.append("  (no domains)")
        } else {
            var rows = [["NAME", "STATE", "VCPUS", "MEMORY", "DISKS", "NICS", "TAGS"]]
            for d in host.domains {
                let disks = d.disks.filter { $0.device == "disk" }.map { disk in
                    if let pool = disk.pool, let vol = disk.volume { return "\(disk.target)=\(pool)/\(vol)" }
                    return "\(disk.target)=\(disk.path ?? "?")"
                }.joined(separator: " ")
                let nics = d.nics.map { n in "\(n.mac ?? "?")@\(n.network ?? n.bridge ?? n.type)" }.joined(separator: " ")
                let tags = d.tags.keys.sorted().map { "\($0)=\(d.tags[$0] ?? "")" }.joined(separator: ",")
                let name = managedNames.isEmpty || managedNames.contains(d.name) ? d.name : d.name + " (unmanaged)"
                rows.append([t(name), t(d.state), "\(d.vcpus)", "\(d.memoryMiB) MiB", disks.isEmpty ? "-" : t(disks),
                             nics.isEmpty ? "-" : t(nics), tags.isEmpty ? "-" : t(tags)])
            }
            out.append(contentsOf: table(rows).map { "  " + $0 })
        }
        out.append("")
    }
    let reachable = fleet.hosts.filter(\.reachable).count
    let domains = fleet.hosts.reduce(0) { $0 + $1.domains.count }
    out.append("\(reachable) of \(fleet.hosts.count) hosts answered; \(domains) domains.")
    return out.joined(separator: "\n") + "\n"
}

/// `EPYC (AMD), guests get Opteron_G3; 2 guest platforms refused: cpu.incompatible …`: the
/// host's CPU model and vendor, the CPU its hypervisor offers guests when it differs, and the
/// platforms seen in the fleet that it cannot run. nil when nothing is known.
func cpuText(_ host: ObservedHost) -> String? {
    var parts: [String] = []
    if let model = host.cpuModel ?? host.offeredCPUModel {
        parts.append(model + (host.cpuVendor.map { " (\($0))" } ?? ""))
    } else if let vendor = host.cpuVendor {
        parts.append(vendor)
    }
    if let offered = host.offeredCPUModel, offered != host.cpuModel { parts.append("guests get \(offered)") }
    let refused = host.platformChecks.filter { $0.reason != nil }
    if !refused.isEmpty {
        parts.append("refuses \(refused.count) of the \(host.platformChecks.count) guest platforms seen (\(Set(refused.compactMap(\.reason)).sorted().joined(separator: ", ")))")
    }
    return parts.isEmpty ? nil : parts.joined(separator: "; ")
}

/// `libvirt 9.0.0, QEMU 7.2.0`: the versions that decide which `live.transport` options a host
/// takes (moves.md); the hypervisor is named QEMU for a `qemu` URI. nil when neither is known.
func softwareText(_ host: ObservedHost) -> String? {
    var parts: [String] = []
    if let v = host.libvirtVersion { parts.append("libvirt \(v)") }
    if let v = host.hypervisorVersion { parts.append((host.uri.hasPrefix("qemu") ? "QEMU " : "hypervisor ") + v) }
    return parts.isEmpty ? nil : parts.joined(separator: ", ")
}

/// Styles a renderer may ask for; the caller decides whether they become colour.
public enum TextStyle: Sendable {
    case bold, dim, red, green, yellow, blue, magenta, cyan
}

/// Rows padded into aligned columns (the last column is not padded).
func table(_ rows: [[String]]) -> [String] {
    guard let width = rows.map(\.count).max() else { return [] }
    var widths = [Int](repeating: 0, count: width)
    for row in rows { for (i, cell) in row.enumerated() { widths[i] = max(widths[i], cell.count) } }
    return rows.map { row in
        row.enumerated().map { i, cell in
            i == row.count - 1 ? cell : cell + String(repeating: " ", count: widths[i] - cell.count)
        }.joined(separator: "  ")
    }
}
