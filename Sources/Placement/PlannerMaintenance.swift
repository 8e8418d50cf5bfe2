/// Maintenance events (`hosts.NAME.maintenance`): the rules by which instances leave a host
/// under maintenance. The host is evacuated like a drained one and takes nothing new; per
/// instance:
/// - a move without downtime (live, or cold for a shut-off instance) runs as soon as a run
///   allows (caps and `--until` windows as for any move);
/// - a move with downtime (reboot, stop-then-cold for `afterMove: stopped`, manual) waits for
///   the due date: its action is deferred with "reboot due DATE", unless the instance is moved
///   early (`instances.NAME.maintenance.proactive`, `apply --now NAME`); from the due date it
///   runs;
/// - before the due date a failed live migration does not fall back to a reboot (that would
///   choose the downtime for the owner); from the due date it does, as any live move.
/// Each instance on such a host gets a status note (`maintenance.*`). The planner stays pure:
/// the time comes in as `PlanningClock.now`.

extension Planner {
    /// Why an instance leaves its evacuated host: maintenance or drain.
    func evacuationCause(_ source: HostInfo) -> Reason {
        guard let m = source.maintenance else { return Reason(.placeDrained, "\(source.name) is drained") }
        return Reason(.placeMaintenance, "\(source.name) is under maintenance\(Self.describe(m))")
    }

    /// ` (due 2026-12-20T06:00:00Z: firmware update)`.
    static func describe(_ m: MaintenanceSpec) -> String {
        let due = m.dueSeconds.map(MaintenanceTime.format) ?? m.due
        return " (due \(due)\(m.reason.map { ": \($0)" } ?? ""))"
    }

    /// The instance as the planner must see it on host `h`: on a host under maintenance, a
    /// running instance that asks to be left stopped after its move (`afterMove: stopped`) is
    /// meant stopped, so that it is shut down and moved cold.
    func maintenanceDesired(_ d: DesiredInstance, on h: Int) -> DesiredInstance {
        guard fleet.hosts[h].maintenance != nil, d.maintenance.afterMove == .stopped else { return d }
        var adjusted = d
        adjusted.state = .stopped
        return adjusted
    }

    /// The due date (Unix seconds) a move of `s` of kind `kind` waits for, or nil when it may
    /// run now: only moves caused by the maintenance of the instance's host, with downtime
    /// (a running instance not moved live), before the due date, not asked for early.
    func maintenanceWait(_ s: Subject, live: Bool) -> Int64? {
        guard let m = fleet.hosts[s.source].maintenance, s.causes.contains(where: { $0.code == .placeMaintenance }),
              s.domain.isRunning, !live, let due = m.dueSeconds else { return nil }
        if s.desired.maintenance.proactive || clock.moveNow.contains(s.name) { return nil }
        if let now = clock.now, now >= due { return nil }
        return due
    }

    /// Whether a failed reboot move of `s` falls back to `manual` (where the file allows it):
    /// for a move caused by its host's maintenance, which must leave the host.
    func rebootFallsToManual(_ s: Subject) -> Bool {
        fleet.hosts[s.source].maintenance != nil && s.causes.contains { $0.code == .placeMaintenance }
    }

    /// The moves (by job id) that wait for their host's due date, with the reason shown on
    /// their deferred action.
    func maintenanceWaits(_ moves: [(subject: Subject, assignment: Assignment, job: Int)]) -> [Int: String] {
        var waits: [Int: String] = [:]
        for (s, a, job) in moves {
            guard let due = maintenanceWait(s, live: a.kind == .live) else { continue }
            waits[job] = "reboot due \(MaintenanceTime.format(due)) (\(fleet.hosts[s.source].name) maintenance); until then only an early move runs it: instances.\(s.name).maintenance.proactive, or apply --now \(s.name)"
        }
        return waits
    }

    /// The maintenance status of every instance on a host under maintenance (notes), and the
    /// live moves' fallbacks removed before the due date.
    func maintenanceStatus(subjects: some Sequence<Subject>, actions: inout [Action]) -> [Note] {
        var notes: [Note] = []
        for s in subjects {
            let host = fleet.hosts[s.source]
            guard let m = host.maintenance, let k = actions.firstIndex(where: { $0.instance == s.name }) else { continue }
            let event = "\(host.name) maintenance\(Self.describe(m))"
            let a = actions[k]
            let to = a.to.map { " to \($0)" } ?? ""
            if a.kind == .blocked {
                let why = a.refusals.first?.message ?? "no allowed move"
                notes.append(Note(instance: s.name, code: .maintenanceManualNeeded,
                                  message: "failed: manual migration needed (\(why)); \(event)"))
                continue
            }
            guard a.kind.isMove else { continue }
            let live = a.kind == .live
            if !live, let due = maintenanceWait(s, live: live) {
                notes.append(Note(instance: s.name, code: .maintenanceDue,
                                  message: "reboot due \(MaintenanceTime.format(due))\(to); \(event)"))
                continue
            }
            let deferred = a.deferred ? " (deferred: a later run moves it)" : ""
            if live {
                if maintenanceWait(s, live: false) != nil { actions[k].fallback = nil }
                notes.append(Note(instance: s.name, code: .maintenancePendingLive, message: "pending live\(to)\(deferred); \(event)"))
            } else if !s.domain.isRunning {
                notes.append(Note(instance: s.name, code: .maintenancePendingCold, message: "pending cold\(to)\(deferred); \(event)"))
            } else {
                let early = !s.causes.contains(where: { $0.code == .placeMaintenance }) ? "as the file declares it elsewhere"
                    : s.desired.maintenance.proactive ? "moved early (proactive)"
                    : clock.moveNow.contains(s.name) ? "moved early (--now)" : "the due date has come"
                notes.append(Note(instance: s.name, code: .maintenancePendingReboot,
                                  message: "pending \(a.kind.rawValue)\(to), \(early)\(deferred); \(event)"))
            }
        }
        return notes
    }
}
