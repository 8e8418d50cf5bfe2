/// Reason codes: stable identifiers for why an action exists or what refused it. The codes are
/// part of the plan's JSON and of docs/reasons.md; never rename one, only add.

/// Every reason code the planner emits.
public enum ReasonCode: String, Codable, Sendable, CaseIterable, Comparable {
    // The instance as a whole.
    /// Not defined on any (reachable) host.
    case instanceNotFound = "instance.not-found"
    /// Defined on several hosts.
    case instanceConflict = "instance.conflict"
    /// On two hosts because a migration virtplace did not start is running (the target's
    /// copy paused for the incoming migration): waited for, not a conflict.
    case instanceMigrating = "instance.migrating"

    // The observed domain.
    /// Paused, crashed, shutting down, suspended: not a state virtplace acts on.
    case domainState = "domain.state"
    /// A transient domain has no persistent definition to update.
    case domainTransient = "domain.transient"
    /// The domain's virtplace metadata names another fleet.
    case domainOtherFleet = "domain.other-fleet"

    // Why an instance moves, or stays.
    /// Declared on another host.
    case placeHost = "place.host"
    /// Declared in another fault domain.
    case placeFaultDomain = "place.fault-domain"
    /// Shares a fault domain with another member of its spread group.
    case placeSpread = "place.spread"
    /// Its host is drained.
    case placeDrained = "place.drained"
    /// Its host is under maintenance (`hosts.NAME.maintenance`).
    case placeMaintenance = "place.maintenance"
    /// Stays off its declared host because that host takes nothing new (a note).
    case placeHeld = "place.held"
    /// Shares a fault domain with another member of its spread group because the group has
    /// more members than there are fault domains, or no other fault domain can take it (a note).
    case placeSpreadShared = "place.spread-shared"
    /// No host can take it; the `target.*` reasons that follow say why.
    case placeNoHost = "place.no-host"

    // Why a host cannot take an instance.
    /// The declared host is not a host of the file, or was not observed.
    case targetUnknown = "target.unknown"
    case targetUnreachable = "target.unreachable"
    case targetCordoned = "target.cordoned"
    case targetDrained = "target.drained"
    /// The host is under maintenance: it takes nothing new.
    case targetMaintenance = "target.maintenance"
    case targetMemory = "target.memory"
    case targetVcpus = "target.vcpus"
    /// The target lacks (an active) storage pool a disk needs.
    case targetPool = "target.pool"
    /// A volume that would be copied already exists on the target.
    case targetVolumeExists = "target.volume-exists"
    /// A declared disk's volume is not in the target's pool.
    case targetVolumeMissing = "target.volume-missing"
    /// The target pool has too little free space for the volumes copied into it.
    case targetSpace = "target.space"
    /// A volume of a pool listed as shared that the source has and the target does not: the
    /// pool is not the same storage everywhere.
    case targetSharedVolumeMissing = "target.shared-volume-missing"
    /// A volume virtplace created on the target for an earlier, failed copy, used by no
    /// domain: the copy reuses it (a note).
    case targetVolumeLeftover = "target.volume-leftover"
    /// Starting the domain where it is defined would exceed that host's capacity.
    case startCapacity = "start.capacity"
    case targetNetwork = "target.network"
    case targetBridge = "target.bridge"
    /// No host in the declared fault domain.
    case targetFaultDomain = "target.fault-domain"
    /// Every other fault domain already holds a member of the spread group.
    case targetSpread = "target.spread"
    /// The target's hypervisor cannot offer the guest's CPU model or features (libvirt's
    /// hypervisor CPU comparison).
    case cpuIncompatible = "cpu.incompatible"
    /// The target cannot run the guest's machine type, architecture or emulator (libvirt's
    /// domain capabilities).
    case machineUnsupported = "machine.unsupported"

    // The ladder: why a move kind was refused.
    case liveNotAllowed = "live.not-allowed"
    case liveHostdev = "live.hostdev"
    case liveHostdevNIC = "live.hostdev-nic"
    case liveTransientDisk = "live.transient-disk"
    case liveTPM = "live.tpm"
    case liveCPUPassthrough = "live.cpu-passthrough"
    case liveStorage = "live.storage"
    /// `live.transport.tls`, and the source or the target does not declare migration TLS.
    case liveTransportTLS = "live.transport-tls"
    /// `live.transport.parallelConnections`, and a host's libvirt or QEMU is too old for it.
    case liveTransportParallel = "live.transport-parallel"
    /// `live.transport.compression`, and a host's libvirt or QEMU lacks the method.
    case liveTransportCompression = "live.transport-compression"
    case rebootNotAllowed = "reboot.not-allowed"
    case coldNotAllowed = "cold.not-allowed"
    /// Snapshot metadata: libvirt refuses every migration, offline too.
    case migrateSnapshots = "migrate.snapshots"
    /// A transient domain cannot be shut down and defined elsewhere.
    case migrateTransient = "migrate.transient"
    /// A disk outside every storage pool: nothing can bring it to another host.
    case moveDiskUnknown = "move.disk-unknown"
    case manualNotAllowed = "manual.not-allowed"
    case manualNoBootVolume = "manual.no-boot-volume"
    /// Which disk a manual move re-creates the instance from, and by which rule (a note).
    case manualBootDisk = "manual.boot-disk"
    /// A volume to copy is a qcow2 overlay whose backing file is not on storage every host
    /// shares: the copy would refer to a file the target lacks.
    case moveBackingChain = "move.backing-chain"
    /// An interface a manual move cannot re-create (not on a network or bridge).
    case manualNIC = "manual.nic"
    /// The domain's NVRAM (UEFI variables) is a file on the source host that a move other than
    /// live does not carry: the target would boot on a fresh copy of the template.
    case moveNVRAM = "move.nvram"
    /// The domain's emulated TPM keeps its state on the source host, which a move other than
    /// live does not carry: the target would start with a new, empty TPM.
    case moveTPMState = "move.tpm-state"

    // Drift corrected in place (or on the target of a move).
    case driftVcpus = "drift.vcpus"
    case driftMemory = "drift.memory"
    case driftAutostart = "drift.autostart"
    case driftTags = "drift.tags"
    case driftFleet = "drift.fleet"
    case driftDisk = "drift.disk"
    case driftNIC = "drift.nic"
    case driftState = "drift.state"

    // Why drift cannot be corrected in place.
    case updatePoolMissing = "update.pool-missing"
    case updateVolumeMissing = "update.volume-missing"
    case updateNetworkMissing = "update.network-missing"
    case updateCapacity = "update.capacity"

    // Ordering.
    case orderDeferred = "order.deferred"
    case orderUnorderable = "order.unorderable"
    /// One hop of a move through a relay host (a note on the action).
    case orderRelay = "order.relay"
    /// A move left out of this run by `--until`: its estimate does not fit before the window
    /// ends (or it waits on a move that does not).
    case orderWindow = "order.window"
    /// A move left out by `--until` because its time cannot be estimated.
    case orderWindowUnknown = "order.window-unknown"

    // Maintenance status of an instance on a host under maintenance (notes; see
    // PlannerMaintenance.swift).
    /// A live move off the host is planned.
    case maintenancePendingLive = "maintenance.pending-live"
    /// A cold move of a shut-off instance off the host is planned.
    case maintenancePendingCold = "maintenance.pending-cold"
    /// A move with downtime (reboot, stop and cold, manual) runs in this plan: the due date
    /// has come, or the move was asked for early.
    case maintenancePendingReboot = "maintenance.pending-reboot"
    /// A move with downtime waits for the due date (its action is deferred).
    case maintenanceDue = "maintenance.due"
    /// Nothing the file allows can move it off the host: it must be migrated by hand.
    case maintenanceManualNeeded = "maintenance.manual-needed"

    // Notes.
    /// A device observed on the domain that the file does not mention: kept, never removed.
    case noteExtraDevice = "note.extra-device"

    /// How a reason relates to its action.
    public enum Category: String, Sendable {
        /// Why the action exists: a placement cause or drift.
        case cause
        /// A refused rung or a blocker.
        case refusal
        /// Context that neither causes nor refuses anything.
        case info
    }

    /// The category, which the renderers use to lay reasons out.
    public var category: Category {
        switch self {
        case .placeHost, .placeFaultDomain, .placeSpread, .placeDrained, .placeMaintenance,
             .driftVcpus, .driftMemory, .driftAutostart, .driftTags, .driftFleet,
             .driftDisk, .driftNIC, .driftState:
            .cause
        case .placeHeld, .orderRelay, .noteExtraDevice, .orderDeferred, .orderWindow, .orderWindowUnknown, .targetVolumeLeftover, .placeSpreadShared,
             .manualBootDisk, .instanceMigrating,
             .maintenancePendingLive, .maintenancePendingCold, .maintenancePendingReboot, .maintenanceDue,
             .maintenanceManualNeeded:
            .info
        default:
            .refusal
        }
    }

    /// Orders codes by their raw value.
    public static func < (a: ReasonCode, b: ReasonCode) -> Bool { a.rawValue < b.rawValue }
}

/// Message builders: one place for the wording of every reason.
extension Reason {
    static func notFound(unreachable: [String]) -> Reason {
        if unreachable.isEmpty {
            return Reason(.instanceNotFound, "not defined on any host (virtplace does not create instances)")
        }
        return Reason(.instanceNotFound, "not found on any reachable host; unreachable: \(unreachable.joined(separator: ", "))")
    }

    static func conflict(_ places: [(host: String, uuid: String)]) -> Reason {
        let list = places.map { "\($0.host) (\($0.uuid))" }.joined(separator: ", ")
        return Reason(.instanceConflict, "conflict: defined on \(list); no migration is running between them. Find the copy that holds the guest's current data (virsh domstate and domjobinfo on each host) before changing anything, then undefine the stale definitions only (keep their volumes; never destroy a running copy)")
    }

    static func domainState(_ state: String, host: String) -> Reason {
        Reason(.domainState, "domain is \(state) on \(host): virtplace acts only on running or shut-off domains")
    }

    static func otherFleet(_ fleet: String, mine: String) -> Reason {
        Reason(.domainOtherFleet, "managed by fleet '\(fleet)', not '\(mine)'")
    }

    static func targetCapacityMemory(host: String, free: Int, need: Int) -> Reason {
        Reason(.targetMemory, "\(host) has \(max(free, 0)) MiB free, needs \(need) MiB")
    }

    static func targetCapacityVcpus(host: String, free: Int, need: Int, cpus: Int, overcommit: Double) -> Reason {
        Reason(.targetVcpus, "\(host) has \(max(free, 0)) vCPUs free (\(cpus) CPUs × \(formatRatio(overcommit))), needs \(need)")
    }
}

/// `4.0` → `4`, `1.5` → `1.5`: overcommit ratios without noise.
func formatRatio(_ value: Double) -> String {
    guard value.isFinite else { return "0" }
    if value == value.rounded() && abs(value) < 1e9 { return String(Int(value)) }
    return String(value)
}
