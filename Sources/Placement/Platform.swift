/// The guest platform a target host must offer for a domain to run there: its CPU definition,
/// machine type, architecture, emulator and virtualization type. Observation asks every host
/// about every platform seen in the fleet (libvirt's domain capabilities and hypervisor CPU
/// comparison) and records the answers in the snapshot; the planner only looks them up, so an
/// offline plan decides the same as a live one.

extension ObservedDomain {
    /// A short digest of the platform (16 hex digits) that names it in
    /// `ObservedHost.platformChecks`; nil when the definition names no architecture (nothing
    /// to ask a host about).
    public var platformKey: String? {
        guard let arch else { return nil }
        var text = "platform/1\t\(virtType ?? "-")\t\(arch)\t\(machine ?? "-")\t\(emulator ?? "-")"
        if let cpu = comparedCPUXML { text += "\t" + cpu }
        return String(SHA256.hex(text).prefix(16))
    }

    /// The `<cpu>` a target's hypervisor is asked about: a `custom` CPU's model and features,
    /// as the definition states them. nil for `host-model` (libvirt fills it from the source
    /// host at start; the target checks it when the migration begins), `host-passthrough`
    /// (not comparable: `live.cpuPassthrough` covers it) and a domain with no CPU model.
    public var comparedCPUXML: String? {
        guard cpuMode == "custom", let model = cpuModel else { return nil }
        var xml = "<cpu mode='custom' match='exact'><model fallback='forbid'>\(Escape.xmlText(model))</model>"
        for (name, policy) in cpuFeatures.sorted(by: { $0.key < $1.key }) {
            xml += "<feature policy='\(Escape.xmlAttribute(policy))' name='\(Escape.xmlAttribute(name))'/>"
        }
        return xml + "</cpu>"
    }

    /// What the platform is, for messages: `CPU Westmere (+aes), machine pc-i440fx-7.2`.
    public var platformText: String {
        var parts: [String] = []
        if let model = cpuModel, cpuMode == "custom" {
            let required = cpuFeatures.filter { $0.value == "require" || $0.value == "force" }.keys.sorted()
            parts.append("CPU \(model)" + (required.isEmpty ? "" : " (+\(required.joined(separator: ", +")))"))
        }
        if let machine { parts.append("machine \(machine)") }
        return parts.isEmpty ? (arch ?? "unknown platform") : parts.joined(separator: ", ")
    }
}

extension ObservedHost {
    /// The check of `platform` on this host, when observation made one.
    public func platformCheck(_ platform: String) -> ObservedPlatformCheck? {
        platformChecks.first { $0.platform == platform }
    }
}
