/// The steps of a move. A move through a relay host is two hops, each a complete move; the
/// file's overrides (config, devices, lifecycle) are applied on the final hop only.

/// One hop of a move.
struct Hop: Sendable {
    let kind: MoveKind
    let from: String
    let to: String
    let first: Bool
    let final: Bool
}

/// Whether the domain runs after a hop, given whether it ran before.
func runningAfter(_ kind: MoveKind, runningBefore: Bool, final: Bool, desired: LifecycleState?) -> Bool {
    switch kind {
    case .live, .reboot:
        return true
    case .cold:
        return final && desired == .running
    case .manual:
        switch desired {
        case .stopped?: return false
        case .running?: return final || runningBefore
        case nil: return runningBefore
        }
    }
}

/// The steps of one hop.
func moveSteps(_ hop: Hop, subject s: Subject, profile p: MoveProfile, runningBefore: Bool,
               policy: PolicySpec, fleetName: String, target: HostInfo) -> [Step] {
    let domain = s.domain
    let desired = s.desired
    let running = runningAfter(hop.kind, runningBefore: runningBefore, final: hop.final, desired: desired.state)
    // Autostart is a host-side setting that no move carries over: set it again on the target.
    let autostart = hop.final ? (desired.config.autostart ?? domain.autostart) : domain.autostart
    let corrections = hop.final ? s.drift.items.filter { if case .autostart = $0 { false } else { true } } : []
    let (from, to) = (hop.from, hop.to)
    let transfers = p.localVolumes.map { Step.transferVolume(pool: $0.pool, volume: $0.volume, from: from, to: to) }
    func config(running: Bool, skipMetadata: Bool = false) -> [Step] {
        corrections.compactMap { item in
            if skipMetadata, case .metadata = item { return nil }
            return item.step(host: to, running: running, fleet: fleetName, tags: s.drift.tags)
        }
    }
    let shutdown = Step.shutdown(host: from, timeoutSeconds: policy.shutdownTimeoutSeconds, forceOff: policy.forceOff)

    var steps: [Step] = [.record(host: from)]
    switch hop.kind {
    case .live:
        let live = desired.live
        var migration = LiveMigration(
            from: from, to: to, maxDowntimeMs: live.maxDowntimeMs, bandwidthMiBps: live.bandwidthMiBps,
            timeoutSeconds: live.timeoutSeconds, onTimeout: live.onTimeout, autoConverge: live.autoConverge,
            copyDisks: p.localVolumes.map(\.target).sorted(), sharedPools: p.sharedPools,
            stallSeconds: live.stallSeconds, downtimeSteps: live.downtimeSteps)
        migration.migrationAddress = target.migration.address
        migration.transport = live.transport
        // QEMU checks the target's certificate against the host the stream goes to unless told
        // otherwise: name the certificate's host when the file does, or when the stream goes to
        // a migration address other than the host's URI name.
        if live.transport.tls {
            if let name = target.migration.tlsName {
                migration.tlsDestination = name
            } else if let address = target.migration.address, let cert = target.migrationCertificateName, cert != address {
                migration.tlsDestination = cert
            }
        }
        steps.append(.migrateLive(migration))
        steps += config(running: true)
        if autostart { steps.append(.setAutostart(host: to, enabled: true)) }
    case .reboot, .cold:
        if runningBefore { steps.append(shutdown) }
        steps += transfers
        steps.append(.defineOnTarget(host: to, from: from))
        steps.append(.undefineSource(host: from))
        steps += config(running: false)
        if autostart { steps.append(.setAutostart(host: to, enabled: true)) }
        if running { steps.append(.start(host: to)) }
    case .manual:
        let boot = p.boot
        if policy.backups && hop.first {
            for d in domain.storageDisks {
                if let pool = d.pool, let volume = d.volume {
                    // The executor appends the run's id: `VOL.virtplace-backup-<run>`.
                    steps.append(.backupVolume(host: from, pool: pool, volume: volume, backup: "\(volume).virtplace-backup"))
                }
            }
        }
        if runningBefore { steps.append(shutdown) }
        steps += transfers
        if let boot, let pool = boot.pool, let volume = boot.volume {
            steps.append(.recreate(host: to, from: from, bootPool: pool, bootVolume: volume))
        }
        for d in domain.storageDisks where d.target != boot?.target {
            if let pool = d.pool, let volume = d.volume {
                steps.append(.attachDisk(host: to, disk: DiskAttachment(key: nil, target: d.target, pool: pool, volume: volume,
                                                                        bus: d.bus, readOnly: d.readOnly), applies: .restart))
            }
        }
        // The first interface goes into the re-created definition (the new instance's primary
        // NIC); the others are re-created by steps of their own, with the same MACs.
        for n in domain.nics.filter({ $0.type == "network" || $0.type == "bridge" }).dropFirst() {
            steps.append(.attachNIC(host: to, nic: NICAttachment(key: nil, network: n.network, bridge: n.bridge,
                                                                 mac: n.mac, model: n.model), applies: .restart))
        }
        steps += config(running: false, skipMetadata: true)
        steps.append(.setMetadata(host: to, fleet: fleetName, tags: hop.final ? s.drift.tags : domain.tags))
        if autostart { steps.append(.setAutostart(host: to, enabled: true)) }
        steps.append(.undefineSource(host: from))
        if running { steps.append(.start(host: to)) }
    }
    // The source copy of a transferred volume is kept, never deleted: it is reported after
    // the move, and an operator removes it when they choose to.
    return steps
}

/// The steps of an in-place correction, and the action kind it is.
func inPlaceSteps(_ s: Subject, host: String, policy: PolicySpec, fleetName: String) -> (kind: ActionKind, steps: [Step], reasons: [Reason]) {
    let drift = s.drift
    switch drift.lifecycle {
    case .start?:
        let steps = drift.configSteps(host: host, running: false, fleet: fleetName) + [.start(host: host)]
        return (.start, steps, drift.reasons(running: false, host: host))
    case .stop?:
        let steps = [Step.shutdown(host: host, timeoutSeconds: policy.shutdownTimeoutSeconds, forceOff: policy.forceOff)]
            + drift.configSteps(host: host, running: false, fleet: fleetName)
        return (.stop, steps, drift.reasons(running: false, host: host))
    case nil:
        let running = s.domain.isRunning
        return (.update, drift.configSteps(host: host, running: running, fleet: fleetName), drift.reasons(running: running, host: host))
    }
}
