import CLibvirt
import Placement

/// The CPU the hypervisor offers guests, from domain capabilities' `host-model` mode.
public struct OfferedCPU: Equatable, Sendable {
    public var model: String?
    public var vendor: String?
    /// An offered CPU (tests make them; `Connection.offeredCPU` reads one).
    public init(model: String?, vendor: String?) { self.model = model; self.vendor = vendor }

    /// Reads `<domainCapabilities><cpu><mode name='host-model' supported='yes'>`.
    /// - Throws: `DomainXMLError`.
    public init(domainCapabilitiesXML xml: String) throws {
        let root = try parseXMLTree(xml, expectingRoot: "domainCapabilities")
        let mode = root.element("cpu")?.elements("mode").first { $0.attribute("name") == "host-model" && $0.attribute("supported") != "no" }
        self.init(model: mode?.element("model")?.trimmedText, vendor: mode?.element("vendor")?.trimmedText)
    }
}

extension Connection {
    /// The domain capabilities XML for a guest platform (`virConnectGetDomainCapabilities`);
    /// nil arguments take the hypervisor's defaults.
    /// - Throws: `LibvirtError` (`.invalidArg` when the machine type or architecture is not
    ///   supported, `.systemError` when the emulator is missing).
    public func domainCapabilitiesXML(emulator: String? = nil, arch: String? = nil, machine: String? = nil,
                                      virtType: String? = nil) throws -> String {
        try takeString(virConnectGetDomainCapabilities(handle, emulator, arch, machine, virtType, 0))
    }

    /// What the hypervisor offers a guest of `virtType` on `arch` (its `host-model` CPU).
    /// - Throws: `LibvirtError`, `DomainXMLError`.
    public func offeredCPU(arch: String?, virtType: String?) throws -> OfferedCPU {
        try OfferedCPU(domainCapabilitiesXML: domainCapabilitiesXML(arch: arch, virtType: virtType))
    }

    /// Whether this host can run `domain`'s platform: its emulator, architecture, machine type
    /// and virtualization type (domain capabilities), then its `custom` CPU
    /// (`virConnectCompareHypervisorCPU` with `VIR_CONNECT_COMPARE_CPU_FAIL_INCOMPATIBLE`, whose
    /// error names the missing features). Decided by libvirt's error codes, never its text;
    /// the text is kept as the detail for people.
    /// - Returns: nil when the domain has no platform to check (`platformKey` is nil).
    /// - Throws: `LibvirtError` for anything but a refusal (a lost connection, no support).
    public func checkPlatform(of domain: ObservedDomain) throws -> ObservedPlatformCheck? {
        guard let key = domain.platformKey else { return nil }
        do {
            _ = try domainCapabilitiesXML(emulator: domain.emulator, arch: domain.arch, machine: domain.machine,
                                          virtType: domain.virtType)
        } catch let error as LibvirtError where Self.refusesPlatform(error) {
            return ObservedPlatformCheck(platform: key, reason: ReasonCode.machineUnsupported.rawValue, detail: error.message)
        }
        guard let cpu = domain.comparedCPUXML else { return ObservedPlatformCheck(platform: key) }
        let flags = UInt32(VIR_CONNECT_COMPARE_CPU_FAIL_INCOMPATIBLE.rawValue)
        let result = virConnectCompareHypervisorCPU(handle, domain.emulator, domain.arch, domain.machine, domain.virtType, cpu, flags)
        if result < 0 {
            let error = LibvirtError.last()
            if error.code == .cpuIncompatible {
                return ObservedPlatformCheck(platform: key, reason: ReasonCode.cpuIncompatible.rawValue, detail: error.message)
            }
            throw error
        }
        if result == VIR_CPU_COMPARE_INCOMPATIBLE.rawValue {
            return ObservedPlatformCheck(platform: key, reason: ReasonCode.cpuIncompatible.rawValue,
                                         detail: "libvirt compares the CPU as incompatible")
        }
        return ObservedPlatformCheck(platform: key)
    }

    /// A refusal of the platform itself: an unsupported machine or architecture
    /// (`invalidArg`, `configUnsupported`, `operationUnsupported`), or a missing emulator
    /// (the daemon's `systemError`, not one of the connection).
    static func refusesPlatform(_ error: LibvirtError) -> Bool {
        switch error.code {
        case .invalidArg, .configUnsupported, .operationUnsupported: return true
        case .systemError:
            return error.domain != Int32(bitPattern: VIR_FROM_RPC.rawValue) && error.domain != Int32(bitPattern: VIR_FROM_REMOTE.rawValue)
        default: return false
        }
    }
}
