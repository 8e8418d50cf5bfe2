import CLibvirt
import Foundation

/// A libvirt domain (`LibvirtObject`: freed with `virDomainFree`). The name and UUID are cached
/// in the handle: reading them makes no RPC. Every other method is one blocking call (see
/// `Connection` for running them off the cooperative pool).
public final class Domain: LibvirtObject, @unchecked Sendable {
    /// Takes ownership of a `virDomainPtr`.
    init(handle: OpaquePointer, connection: Connection) {
        super.init(handle: handle, connection: connection, kind: Kind(free: virDomainFree, name: virDomainGetName))
    }

    /// The domain's UUID in its canonical lower-case form (cached, no RPC).
    public var uuid: String {
        uuidString(of: handle)
    }

    // MARK: State

    /// The state and its reason (`virDomainGetState`).
    /// - Throws: `LibvirtError` (`.noDomain` when it vanished).
    public func status() throws -> DomainStatus {
        var state: Int32 = 0
        var reason: Int32 = 0
        try check(virDomainGetState(handle, &state, &reason, 0))
        return DomainStatus(rawState: state, reason: reason)
    }

    /// State, memory, vCPUs and CPU time (`virDomainGetInfo`).
    /// - Throws: `LibvirtError`.
    public func info() throws -> DomainInfo {
        var info = virDomainInfo()
        try check(virDomainGetInfo(handle, &info))
        return DomainInfo(
            state: DomainState(rawValue: Int32(info.state)) ?? .noState,
            maxMemoryKiB: UInt64(info.maxMem), memoryKiB: UInt64(info.memory),
            vcpus: Int(info.nrVirtCpu), cpuTimeNanoseconds: info.cpuTime
        )
    }

    /// Whether the domain is running (or paused): it has a live instance.
    /// - Throws: `LibvirtError`.
    public func isActive() throws -> Bool {
        try check(virDomainIsActive(handle)) == 1
    }

    /// Whether the domain has a persistent definition (false: transient).
    /// - Throws: `LibvirtError`.
    public func isPersistent() throws -> Bool {
        try check(virDomainIsPersistent(handle)) == 1
    }

    /// Whether a managed-save image exists (the domain will resume from it on start).
    /// - Throws: `LibvirtError`.
    public func hasManagedSave() throws -> Bool {
        try check(virDomainHasManagedSaveImage(handle, 0)) == 1
    }

    /// Whether the domain starts when its host's daemon starts.
    /// - Throws: `LibvirtError`.
    public func autostart() throws -> Bool {
        var value: Int32 = 0
        try check(virDomainGetAutostart(handle, &value))
        return value != 0
    }

    /// Sets autostart (persistent domains only).
    /// - Throws: `LibvirtError` (`.operationInvalid` for a transient domain).
    public func setAutostart(_ enabled: Bool) throws {
        MutatingCalls.record("virDomainSetAutostart")
        try check(virDomainSetAutostart(handle, enabled ? 1 : 0))
    }

    // MARK: Definition

    /// The domain XML (`virDomainGetXMLDesc`).
    /// - Throws: `LibvirtError`.
    public func xml(flags: DomainXMLFlags = []) throws -> String {
        try takeString(virDomainGetXMLDesc(handle, flags.rawValue))
    }

    /// Removes the persistent definition with exactly these flags (a running domain becomes
    /// transient and keeps running).
    /// - Throws: `LibvirtError`.
    public func undefine(flags: UndefineFlags) throws {
        MutatingCalls.record("virDomainUndefineFlags")
        try check(virDomainUndefineFlags(handle, flags.rawValue))
    }

    /// Removes the persistent definition, keeping every piece of data the domain has: NVRAM
    /// and emulated TPM state are kept (`KEEP_NVRAM`, `KEEP_TPM`, chosen by what its XML
    /// has). A managed-save image or snapshot metadata makes libvirt refuse, unless
    /// `droppingSnapshotMetadata` (the caller saved it first: snapshot and checkpoint metadata
    /// go, never any disk data). A driver that rejects `KEEP_NVRAM` (the test driver) gets the
    /// call without it: without either NVRAM flag QEMU refuses to undefine a domain with NVRAM
    /// rather than delete it. `KEEP_TPM` is never dropped: without it libvirt deletes the state
    /// of an emulated TPM, so a driver that rejects it gets no undefine at all.
    /// - Throws: `LibvirtError`.
    public func undefine(droppingSnapshotMetadata: Bool = false) throws {
        let flags = try Self.undefineFlags(inactiveXML: xml(flags: .inactive), droppingSnapshotMetadata: droppingSnapshotMetadata)
        do {
            try undefine(flags: flags)
        } catch let error as LibvirtError where error.code == .invalidArg && flags.contains(.keepNVRAM) && !flags.contains(.keepTPM) {
            try undefine(flags: flags.subtracting(.keepNVRAM))
        }
    }

    /// The flags of every undefine virtplace makes: `KEEP_NVRAM` and `KEEP_TPM` by what the
    /// inactive definition has, snapshot and checkpoint metadata when asked; never a flag that
    /// deletes data (`NVRAM`, `TPM`, `MANAGED_SAVE`).
    /// - Throws: `DomainXMLError` when the XML is not a domain.
    static func undefineFlags(inactiveXML: String, droppingSnapshotMetadata: Bool) throws(DomainXMLError) -> UndefineFlags {
        let definition = try DomainDefinitionFacts(xml: inactiveXML)
        var flags: UndefineFlags = droppingSnapshotMetadata ? [.snapshotsMetadata, .checkpointsMetadata] : []
        if definition.hasNVRAM { flags.insert(.keepNVRAM) }
        if definition.hasEmulatedTPM { flags.insert(.keepTPM) }
        return flags
    }

    // MARK: Lifecycle

    /// Starts the defined domain (`virDomainCreateWithFlags`), paused if asked.
    /// - Throws: `LibvirtError` (`.operationInvalid` when already running).
    public func start(paused: Bool = false) throws {
        MutatingCalls.record("virDomainCreateWithFlags")
        try check(virDomainCreateWithFlags(handle, paused ? VIR_DOMAIN_START_PAUSED.rawValue : 0))
    }

    /// Asks the guest to shut down. Under QEMU this is a request: wait for `shutoff`.
    /// - Throws: `LibvirtError` (`.operationInvalid` when not running).
    public func shutdown() throws {
        MutatingCalls.record("virDomainShutdown")
        try check(virDomainShutdown(handle))
    }

    /// Stops the domain at once (power off); a transient domain disappears.
    /// - Throws: `LibvirtError` (`.operationInvalid` when not running).
    public func destroy() throws {
        MutatingCalls.record("virDomainDestroy")
        try check(virDomainDestroy(handle))
    }

    /// Pauses the guest's vCPUs.
    /// - Throws: `LibvirtError`.
    public func suspend() throws {
        MutatingCalls.record("virDomainSuspend")
        try check(virDomainSuspend(handle))
    }

    /// Resumes a paused guest.
    /// - Throws: `LibvirtError`.
    public func resume() throws {
        MutatingCalls.record("virDomainResume")
        try check(virDomainResume(handle))
    }

    // MARK: Devices and resources

    /// Attaches a device (`virDomainAttachDeviceFlags`).
    /// - Throws: `LibvirtError`.
    public func attachDevice(xml: String, flags: DomainModification) throws {
        MutatingCalls.record("virDomainAttachDeviceFlags")
        try check(virDomainAttachDeviceFlags(handle, xml, flags.rawValue))
    }

    /// Requests a device's removal. Live removal may finish asynchronously: confirm by
    /// re-reading the XML (or the `DEVICE_REMOVED` event).
    /// - Throws: `LibvirtError`.
    public func detachDevice(xml: String, flags: DomainModification) throws {
        MutatingCalls.record("virDomainDetachDeviceFlags")
        try check(virDomainDetachDeviceFlags(handle, xml, flags.rawValue))
    }

    /// Changes a device in place (e.g. a NIC's link state, a CD-ROM's media).
    /// - Throws: `LibvirtError`.
    public func updateDevice(xml: String, flags: DomainModification) throws {
        MutatingCalls.record("virDomainUpdateDeviceFlags")
        try check(virDomainUpdateDeviceFlags(handle, xml, flags.rawValue))
    }

    /// Sets the vCPU count, or the maximum with `maximum: true` (config only).
    /// - Throws: `LibvirtError`.
    public func setVcpus(_ count: Int, flags: DomainModification, maximum: Bool = false) throws {
        MutatingCalls.record("virDomainSetVcpusFlags")
        let extra: UInt32 = maximum ? VIR_DOMAIN_VCPU_MAXIMUM.rawValue : 0
        try check(virDomainSetVcpusFlags(handle, UInt32(clamping: count), flags.rawValue | extra))
    }

    /// Sets the memory, or the maximum with `maximum: true`, in MiB.
    /// - Throws: `LibvirtError`.
    public func setMemory(mebibytes: Int, flags: DomainModification, maximum: Bool = false) throws {
        MutatingCalls.record("virDomainSetMemoryFlags")
        let extra: UInt32 = maximum ? VIR_DOMAIN_MEM_MAXIMUM.rawValue : 0
        let kibibytes = UInt(clamping: mebibytes) * 1024
        try check(virDomainSetMemoryFlags(handle, kibibytes, flags.rawValue | extra))
    }

    // MARK: Metadata

    /// The metadata element of namespace `uri`, as libvirt formats it, or nil when there is
    /// none.
    /// - Throws: `LibvirtError` other than `.noDomainMetadata`.
    public func metadata(uri: String, flags: DomainModification = []) throws -> String? {
        let pointer = virDomainGetMetadata(handle, Int32(VIR_DOMAIN_METADATA_ELEMENT.rawValue), uri, flags.rawValue)
        guard let pointer else {
            let error = LibvirtError.last()
            if error.code == .noDomainMetadata { return nil }
            throw error
        }
        defer { free(pointer) }
        return String(cString: pointer)
    }

    /// Replaces (or, with nil, removes) the metadata element of namespace `uri`. `element` is
    /// written without a prefix; libvirt puts it in `uri` under `prefix`. LIVE and CONFIG are
    /// stored separately: pass both to change both.
    /// - Throws: `LibvirtError`.
    public func setMetadata(_ element: String?, prefix: String, uri: String, flags: DomainModification) throws {
        MutatingCalls.record("virDomainSetMetadata")
        try check(virDomainSetMetadata(
            handle, Int32(VIR_DOMAIN_METADATA_ELEMENT.rawValue), element, element == nil ? nil : prefix, uri, flags.rawValue
        ))
    }

    /// The virtplace metadata (`urn:virtplace:1`), or nil when the domain is not managed.
    /// - Throws: `LibvirtError`, or `DomainXMLError` when the element is malformed.
    public func virtplaceMetadata(flags: DomainModification = []) throws -> VirtplaceMetadata? {
        guard let element = try metadata(uri: VirtplaceMetadata.namespace, flags: flags) else { return nil }
        return try VirtplaceMetadata(elementXML: element)
    }

    /// Writes the virtplace metadata (replacing any earlier one) to the definitions in `flags`.
    /// - Throws: `LibvirtError`.
    public func setVirtplaceMetadata(_ metadata: VirtplaceMetadata, flags: DomainModification) throws {
        try setMetadata(metadata.elementXML, prefix: VirtplaceMetadata.prefix, uri: VirtplaceMetadata.namespace, flags: flags)
    }

    // MARK: Snapshots

    /// How many snapshots libvirt has metadata for (any blocks migration).
    /// - Throws: `LibvirtError`.
    public func snapshotCount() throws -> Int {
        Int(try check(virDomainSnapshotNum(handle, 0)))
    }

    /// Every snapshot's name and `<domainsnapshot>` XML (with secure data), parents before
    /// children (`TOPOLOGICAL`), so that they can be redefined in this order with
    /// `virsh snapshot-create --redefine`.
    /// - Throws: `LibvirtError`.
    public func snapshotDefinitions() throws -> [(name: String, xml: String)] {
        var list: UnsafeMutablePointer<virDomainSnapshotPtr?>?
        let count = try check(virDomainListAllSnapshots(handle, &list, UInt32(VIR_DOMAIN_SNAPSHOT_LIST_TOPOLOGICAL.rawValue)))
        defer {
            if let list {
                for i in 0..<Int(count) { if let s = list[i] { virDomainSnapshotFree(s) } }
                free(list)
            }
        }
        guard let list else { return [] }
        var result: [(name: String, xml: String)] = []
        for i in 0..<Int(count) {
            guard let snapshot = list[i] else { continue }
            let name = virDomainSnapshotGetName(snapshot).map { String(cString: $0) } ?? ""
            guard let text = virDomainSnapshotGetXMLDesc(snapshot, UInt32(VIR_DOMAIN_SNAPSHOT_XML_SECURE.rawValue)) else {
                throw LibvirtError.last()
            }
            defer { free(text) }
            result.append((name, String(cString: text)))
        }
        return result
    }

    /// Creates a snapshot from `<domainsnapshot>` XML and returns its name.
    /// - Throws: `LibvirtError`.
    @discardableResult
    public func createSnapshot(xml: String, flags: UInt32 = 0) throws -> String {
        MutatingCalls.record("virDomainSnapshotCreateXML")
        let snapshot = try check(virDomainSnapshotCreateXML(handle, xml, flags))
        defer { virDomainSnapshotFree(snapshot) }
        return virDomainSnapshotGetName(snapshot).map { String(cString: $0) } ?? ""
    }
}

/// The canonical UUID string of a domain handle (cached in the handle: no RPC).
func uuidString(of domain: OpaquePointer) -> String {
    withUnsafeTemporaryAllocation(of: CChar.self, capacity: Int(VIR_UUID_STRING_BUFLEN)) { buffer in
        guard let base = buffer.baseAddress, virDomainGetUUIDString(domain, base) == 0 else { return "" }
        return String(cString: base)
    }
}

extension Connection {
    /// Every domain on the host, or those matching `filter` (`virConnectListAllDomains`).
    /// - Throws: `LibvirtError`.
    public func listAllDomains(_ filter: DomainListFilter = []) throws -> [Domain] {
        try takeList({ virConnectListAllDomains(handle, $0, filter.rawValue) }) { Domain(handle: $0, connection: self) }
    }

    /// The domain called `name`.
    /// - Throws: `LibvirtError` (`.noDomain` when there is none).
    public func lookupDomain(name: String) throws -> Domain {
        Domain(handle: try check(virDomainLookupByName(handle, name)), connection: self)
    }

    /// The domain with this UUID (any case, with dashes).
    /// - Throws: `LibvirtError` (`.noDomain` when there is none).
    public func lookupDomain(uuid: String) throws -> Domain {
        Domain(handle: try check(virDomainLookupByUUIDString(handle, uuid)), connection: self)
    }

    /// Defines (or redefines, same name and UUID) a persistent domain.
    /// - Throws: `LibvirtError` (`.xmlError`, `.domainExists` for a name/UUID clash, …).
    @discardableResult
    public func defineDomain(xml: String, validate: Bool = false) throws -> Domain {
        MutatingCalls.record("virDomainDefineXMLFlags")
        let flags: UInt32 = validate ? VIR_DOMAIN_DEFINE_VALIDATE.rawValue : 0
        return Domain(handle: try check(virDomainDefineXMLFlags(handle, xml, flags)), connection: self)
    }

    /// Starts a transient domain from XML.
    /// - Throws: `LibvirtError`.
    @discardableResult
    public func createTransientDomain(xml: String, paused: Bool = false) throws -> Domain {
        MutatingCalls.record("virDomainCreateXML")
        let flags: UInt32 = paused ? VIR_DOMAIN_START_PAUSED.rawValue : 0
        return Domain(handle: try check(virDomainCreateXML(handle, xml, flags)), connection: self)
    }

    /// Every domain with its state and reason, and for active ones the vCPUs and memory in
    /// use, in one call (`virConnectGetAllDomainStats` with `STATE|BALLOON|VCPU` and `NOWAIT`,
    /// so a domain busy with a job does not hold it up). The runtime is nil for a domain whose
    /// record holds no state; drivers that report no balloon or vCPU figures (the test driver)
    /// leave those nil.
    ///
    /// The records' domain handles become the domains returned: a list of the domains beside
    /// the call (`virConnectListAllDomains`) would make a second handle of each, and libvirt's
    /// client formats the domain's UUID for its debug log when it frees one, twice (about
    /// 16,000 instructions a handle, as much as its XML call). So the records are freed here,
    /// as `virDomainStatsRecordListFree` would free them less the handles: each record's
    /// parameters with `virTypedParamsFree`, the record and the array with `free` (libvirt
    /// allocates them with GLib, whose `g_free` is `free` since GLib 2.46).
    /// - Throws: `LibvirtError` (`.noSupport` where the driver lacks bulk stats).
    public func allDomainsWithRuntimes() throws -> [(domain: Domain, runtime: DomainRuntime?)] {
        var records: UnsafeMutablePointer<virDomainStatsRecordPtr?>?
        let stats = VIR_DOMAIN_STATS_STATE.rawValue | VIR_DOMAIN_STATS_BALLOON.rawValue | VIR_DOMAIN_STATS_VCPU.rawValue
        let flags = VIR_CONNECT_GET_ALL_DOMAINS_STATS_NOWAIT.rawValue
        let count = try check(virConnectGetAllDomainStats(handle, stats, &records, flags))
        guard let records else { return [] }
        defer { free(records) }
        var domains: [(domain: Domain, runtime: DomainRuntime?)] = []
        domains.reserveCapacity(Int(count))
        // The array ends with a null record; `count` says as much.
        var index = 0
        while let record = records[index] {
            index += 1
            defer {
                virTypedParamsFree(record.pointee.params, record.pointee.nparams)
                free(record)
            }
            // The handle's reference passes to the `Domain`, which frees it.
            guard let handle = record.pointee.dom else { continue }
            let parameters = TypedParameterReader(pointer: record.pointee.params, count: record.pointee.nparams)
            let runtime = parameters.int("state.state").map { state in
                DomainRuntime(
                    status: DomainStatus(rawState: state, reason: parameters.int("state.reason") ?? 0),
                    vcpus: parameters.uint("vcpu.current").map { Int($0) },
                    memoryKiB: parameters.ulonglong("balloon.current"),
                    unusedKiB: parameters.ulonglong("balloon.unused"),
                    residentKiB: parameters.ulonglong("balloon.rss")
                )
            }
            domains.append((Domain(handle: handle, connection: self), runtime))
        }
        return domains
    }
}

/// What a domain is doing and using now.
public struct DomainRuntime: Equatable, Sendable {
    public var status: DomainStatus
    /// vCPUs in use, when reported.
    public var vcpus: Int?
    /// Memory in use (balloon size), KiB, when reported.
    public var memoryKiB: UInt64?
    /// Memory the guest reports unused (its balloon driver's `balloon.unused`), KiB, when it
    /// reports it.
    public var unusedKiB: UInt64?
    /// The resident set of the hypervisor process, KiB (`balloon.rss`: QEMU reports it with or
    /// without a balloon device): the guest pages it ever touched plus QEMU's own memory.
    public var residentKiB: UInt64?

    /// Runtime facts as libvirt reported them.
    public init(status: DomainStatus, vcpus: Int? = nil, memoryKiB: UInt64? = nil, unusedKiB: UInt64? = nil, residentKiB: UInt64? = nil) {
        self.status = status; self.vcpus = vcpus; self.memoryKiB = memoryKiB; self.unusedKiB = unusedKiB
        self.residentKiB = residentKiB
    }

    /// Memory in use, MiB: the balloon size less what the guest reports unused; nil when
    /// either is not reported.
    public var memoryInUseMiB: Int? {
        guard isActive, let current = memoryKiB, let unused = unusedKiB, unused <= current else { return nil }
        return Int((current - unused) >> 10)
    }

    /// The hypervisor process's resident set, MiB (at most `Int32.max`); nil when the domain is
    /// not running or the driver does not report it.
    public var residentMiB: Int? {
        guard isActive, let resident = residentKiB else { return nil }
        return Int(min(resident >> 10, UInt64(Int32.max)))
    }

    /// Whether the domain has a live instance whose figures can differ from its definition.
    public var isActive: Bool {
        status.state != .shutoff
    }
}
