import CLibvirt
import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif

extension Connection {
    /// CPUs, memory and topology (`virNodeGetInfo`).
    /// - Throws: `LibvirtError`.
    public func nodeInfo() throws -> NodeInfo {
        var info = virNodeInfo()
        try check(virNodeGetInfo(handle, &info))
        let model = withUnsafeBytes(of: info.model) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
        return NodeInfo(
            model: model, memoryKiB: UInt64(info.memory), cpus: Int(info.cpus), mhz: Int(info.mhz),
            numaNodes: Int(info.nodes), sockets: Int(info.sockets), cores: Int(info.cores), threads: Int(info.threads)
        )
    }

    /// Free memory on the node, bytes (`virNodeGetFreeMemory`).
    /// - Throws: `LibvirtError` (libvirt signals failure with 0).
    public func freeMemoryBytes() throws -> UInt64 {
        let free = virNodeGetFreeMemory(handle)
        if free == 0 { throw LibvirtError.last() }
        return free
    }

    /// The capabilities XML (`virConnectGetCapabilities`).
    /// - Throws: `LibvirtError`.
    public func capabilitiesXML() throws -> String {
        try takeString(virConnectGetCapabilities(handle))
    }

    /// Host UUID, CPU model and architecture from the capabilities XML.
    /// - Throws: `LibvirtError`, `DomainXMLError`.
    public func hostCapabilities() throws -> HostCapabilities {
        try HostCapabilities(xml: capabilitiesXML())
    }

    /// Whether this host's hypervisor can run a guest CPU (`virConnectCompareHypervisorCPU`),
    /// e.g. the `<cpu>` of a `host-model` domain's live XML before migrating it here.
    /// - Throws: `LibvirtError` (`.noSupport` on the test driver).
    public func compareHypervisorCPU(
        cpuXML: String, emulator: String? = nil, arch: String? = nil, machine: String? = nil, virtType: String? = nil
    ) throws -> CPUComparison {
        let result = virConnectCompareHypervisorCPU(handle, emulator, arch, machine, virtType, cpuXML, 0)
        guard result >= 0 else { throw LibvirtError.last() }
        return CPUComparison(rawValue: result) ?? .incompatible
    }
}

extension HostCapabilities {
    /// Reads `<capabilities><host><uuid>`, `<cpu><model>`, `<cpu><vendor>`, `<cpu><arch>`, and
    /// whether a `<guest>` of that architecture offers the `kvm` domain type.
    /// - Throws: `DomainXMLError`.
    public init(xml: String) throws {
        let root = try parseXMLTree(xml, expectingRoot: "capabilities")
        let host = root.element("host")
        let arch = host?.element(path: "cpu/arch")?.trimmedText
        let guestArch = root.elements("guest").compactMap { $0.element("arch") }.first { $0.attribute("name") == arch }
        self.init(
            uuid: host?.element("uuid")?.trimmedText,
            cpuModel: host?.element(path: "cpu/model")?.trimmedText,
            arch: arch,
            cpuVendor: host?.element(path: "cpu/vendor")?.trimmedText,
            hasKVM: guestArch?.elements("domain").contains { $0.attribute("type") == "kvm" } ?? false
        )
    }
}
