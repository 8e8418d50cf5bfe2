import CLibvirt
import Foundation

/// Typed parameters of a migration (`virDomainMigrateToURI3`, `virDomainMigrate3`).
public struct MigrationParameters: Equatable, Sendable {
    /// Where QEMU sends the migration stream (`migrate_uri`, e.g. `tcp://127.0.0.12`);
    /// nil lets the destination choose (its `migration_address`).
    public var migrateURI: String?
    /// Where disk copies go with `nonSharedDisk` (`disks_uri`).
    public var disksURI: String?
    /// Bandwidth limit, MiB/s (`bandwidth`); nil for unlimited.
    public var bandwidthMiBps: UInt64?
    /// Bandwidth after switching to post-copy, MiB/s (`bandwidth.postcopy`).
    public var postcopyBandwidthMiBps: UInt64?
    /// The disks (target names, `vda`) to copy with `nonSharedDisk` (`migrate_disks`, one value
    /// per disk); empty: all writable non-shared disks.
    public var disks: [String]
    /// The definition to store on the destination with `persistDestination` (`persistent_xml`).
    public var persistentXML: String?
    /// A changed live XML for the destination; must keep the guest ABI (`destination_xml`).
    public var destinationXML: String?
    /// Rename on the destination (`destination_name`).
    public var destinationName: String?
    /// Parallel migration connections with `.parallel` (`parallel.connections`).
    public var parallelConnections: Int32?
    /// The address the destination's QEMU listens on for the stream (`listen_address`).
    public var listenAddress: String?
    /// The host name the destination's TLS certificate must carry (`tls.destination`).
    public var tlsDestination: String?
    /// Compression methods with `.compressed` (`compression`, one value per method: `xbzrle`,
    /// `mt`; libvirt 9.4 adds `zlib`, `zstd` for parallel connections).
    public var compression: [String] = []
    /// The level of the one compression method that takes one (`compression.mt.level`,
    /// `compression.zlib.level`, `compression.zstd.level`).
    public var compressionLevel: Int32?

    /// Parameters; everything left nil or empty is not passed to libvirt.
    public init(
        migrateURI: String? = nil, disksURI: String? = nil, bandwidthMiBps: UInt64? = nil,
        postcopyBandwidthMiBps: UInt64? = nil, disks: [String] = [], persistentXML: String? = nil,
        destinationXML: String? = nil, destinationName: String? = nil, parallelConnections: Int32? = nil
    ) {
        self.migrateURI = migrateURI; self.disksURI = disksURI; self.bandwidthMiBps = bandwidthMiBps
        self.postcopyBandwidthMiBps = postcopyBandwidthMiBps; self.disks = disks
        self.persistentXML = persistentXML; self.destinationXML = destinationXML
        self.destinationName = destinationName; self.parallelConnections = parallelConnections
    }

    /// The libvirt typed-parameter list (freed when released).
    func typedParameters() throws(LibvirtError) -> TypedParameters {
        let list = TypedParameters()
        if let migrateURI { try list.add("migrate_uri", string: migrateURI) }
        if let disksURI { try list.add("disks_uri", string: disksURI) }
        if let bandwidthMiBps { try list.add("bandwidth", ulonglong: bandwidthMiBps) }
        if let postcopyBandwidthMiBps { try list.add("bandwidth.postcopy", ulonglong: postcopyBandwidthMiBps) }
        // Multi-valued: one `migrate_disks` entry per disk.
        for disk in disks { try list.add("migrate_disks", string: disk) }
        if let persistentXML { try list.add("persistent_xml", string: persistentXML) }
        if let destinationXML { try list.add("destination_xml", string: destinationXML) }
        if let destinationName { try list.add("destination_name", string: destinationName) }
        if let parallelConnections { try list.add("parallel.connections", int: parallelConnections) }
        if let listenAddress { try list.add("listen_address", string: listenAddress) }
        if let tlsDestination { try list.add("tls.destination", string: tlsDestination) }
        for method in compression { try list.add("compression", string: method) }
        if let compressionLevel, let method = compression.first(where: { ["mt", "zlib", "zstd"].contains($0) }) {
            try list.add("compression.\(method).level", int: compressionLevel)
        }
        return list
    }
}

/// A job's kind (`virDomainJobType`).
public enum JobType: Int32, Sendable {
    case none = 0, bounded, unbounded, completed, failed, cancelled
}

/// Progress or outcome of a domain job (`virDomainGetJobStats`). Every figure is optional:
/// libvirt reports only what applies. Times in milliseconds, sizes in bytes, rates in bytes/s.
public struct JobStats: Equatable, Sendable {
    public var type: JobType
    /// `virDomainJobOperation` (1 start, … 4 migration in, 5 migration out, …).
    public var operation: Int32?
    public var timeElapsedMs: UInt64?
    public var timeRemainingMs: UInt64?
    /// How long the guest was paused during a finished migration.
    public var downtimeMs: UInt64?
    public var setupTimeMs: UInt64?
    public var dataTotal: UInt64?
    public var dataProcessed: UInt64?
    public var dataRemaining: UInt64?
    public var memoryTotal: UInt64?
    public var memoryProcessed: UInt64?
    public var memoryRemaining: UInt64?
    public var memoryBps: UInt64?
    /// Pages dirtied per second (`memory_dirty_rate`), of `memoryPageSize` bytes.
    public var memoryDirtyRate: UInt64?
    public var memoryPageSize: UInt64?
    public var memoryIteration: UInt64?
    public var diskTotal: UInt64?
    public var diskProcessed: UInt64?
    public var diskRemaining: UInt64?
    public var diskBps: UInt64?
    public var autoConvergeThrottle: Int32?
    /// The job's error, for a failed job (text for people).
    public var errorMessage: String?

    /// Stats of a job of this type with no figures.
    public init(type: JobType) { self.type = type }

    init(type: Int32, parameters p: TypedParameterReader) {
        self.type = JobType(rawValue: type) ?? .none
        operation = p.int("operation")
        timeElapsedMs = p.ulonglong("time_elapsed")
        timeRemainingMs = p.ulonglong("time_remaining")
        downtimeMs = p.ulonglong("downtime")
        setupTimeMs = p.ulonglong("setup_time")
        dataTotal = p.ulonglong("data_total")
        dataProcessed = p.ulonglong("data_processed")
        dataRemaining = p.ulonglong("data_remaining")
        memoryTotal = p.ulonglong("memory_total")
        memoryProcessed = p.ulonglong("memory_processed")
        memoryRemaining = p.ulonglong("memory_remaining")
        memoryBps = p.ulonglong("memory_bps")
        memoryDirtyRate = p.ulonglong("memory_dirty_rate")
        memoryPageSize = p.ulonglong("memory_page_size")
        memoryIteration = p.ulonglong("memory_iteration")
        diskTotal = p.ulonglong("disk_total")
        diskProcessed = p.ulonglong("disk_processed")
        diskRemaining = p.ulonglong("disk_remaining")
        diskBps = p.ulonglong("disk_bps")
        autoConvergeThrottle = p.int("auto_converge_throttle")
        errorMessage = p.string("errmsg")
    }
}

extension Domain {
    /// Migrates to `destinationURI`. With `.peerToPeer` the source daemon connects to the
    /// destination itself, with its own credentials and network view. Blocks for the whole
    /// migration: call it through `Connection.runDedicated`.
    /// - Throws: `LibvirtError` (`.migrateUnsafe`, `.cpuIncompatible`, `.operationAborted`,
    ///   `.operationInvalid`, …). After any failure, look the domain up by UUID on both hosts
    ///   before acting: a lost reply can hide a guest already running on the destination.
    public func migrate(toURI destinationURI: String, parameters: MigrationParameters = .init(), flags: MigrationFlags) throws {
        MutatingCalls.record("virDomainMigrateToURI3")
        let list = try parameters.typedParameters()
        try check(virDomainMigrateToURI3(handle, destinationURI, list.pointer, UInt32(list.count), flags.rawValue))
    }

    /// Migrates to the host of `destination`, this process holding both connections (managed
    /// direct migration, `virDomainMigrate3`). Blocks for the whole migration.
    /// - Returns: the domain on the destination.
    /// - Throws: `LibvirtError` (see `migrate(toURI:…)`).
    public func migrate(to destination: Connection, parameters: MigrationParameters = .init(), flags: MigrationFlags) throws -> Domain {
        MutatingCalls.record("virDomainMigrate3")
        let list = try parameters.typedParameters()
        let migrated = try check(virDomainMigrate3(handle, destination.handle, list.pointer, UInt32(list.count), flags.rawValue))
        return Domain(handle: migrated, connection: destination)
    }

    /// Progress of the running job, or with `completed: true` the stats of the last finished
    /// one (kept for later reads with `KEEP_COMPLETED`).
    /// - Throws: `LibvirtError` (`.noSupport` on the test driver).
    public func jobStats(completed: Bool = false) throws -> JobStats {
        var type: Int32 = 0
        var parameters: virTypedParameterPtr?
        var count: Int32 = 0
        let flags: UInt32 = completed
            ? VIR_DOMAIN_JOB_STATS_COMPLETED.rawValue | VIR_DOMAIN_JOB_STATS_KEEP_COMPLETED.rawValue : 0
        try check(virDomainGetJobStats(handle, &type, &parameters, &count, flags))
        defer { virTypedParamsFree(parameters, count) }
        return JobStats(type: type, parameters: TypedParameterReader(pointer: parameters, count: count))
    }

    /// Cancels the running job (a migration rolls back); `postcopy: true` for a migration in
    /// post-copy (pauses it; no rollback is possible).
    /// - Throws: `LibvirtError` (`.operationInvalid` when no job runs).
    public func abortJob(postcopy: Bool = false) throws {
        MutatingCalls.record("virDomainAbortJob")
        if postcopy {
            try check(virDomainAbortJobFlags(handle, VIR_DOMAIN_ABORT_JOB_POSTCOPY.rawValue))
        } else {
            try check(virDomainAbortJob(handle))
        }
    }

    /// The longest pause allowed at the end of a live migration, milliseconds (QEMU default
    /// 300); before or during the job.
    /// - Throws: `LibvirtError`.
    public func setMaxDowntime(milliseconds: UInt64) throws {
        MutatingCalls.record("virDomainMigrateSetMaxDowntime")
        try check(virDomainMigrateSetMaxDowntime(handle, milliseconds, 0))
    }

    /// Limits migration bandwidth, MiB/s, before or during the job.
    /// - Throws: `LibvirtError`.
    public func setMigrationMaxSpeed(mebibytesPerSecond: UInt) throws {
        MutatingCalls.record("virDomainMigrateSetMaxSpeed")
        try check(virDomainMigrateSetMaxSpeed(handle, mebibytesPerSecond, 0))
    }

    /// Switches a running migration (started with `.postcopy`) to post-copy.
    /// - Throws: `LibvirtError`.
    public func startPostCopy() throws {
        MutatingCalls.record("virDomainMigrateStartPostCopy")
        try check(virDomainMigrateStartPostCopy(handle, 0))
    }
}
