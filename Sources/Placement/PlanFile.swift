/// Reading a saved plan (`plan --out`, `apply PLANFILE`): a file anyone may have edited. Every
/// key, type and value is checked, with file:line:col and a path like
/// `actions[3].steps[1].timeoutSeconds`, and the content digest must match, before the caller
/// makes any connection. See docs/security.md for what the digest does and does not prove.
import Foundation
import YAMLDecoding

/// A saved plan as read: the plan when the file is a sound, unedited plan, and every problem.
public struct PlanFileResult: Sendable {
    /// The plan; nil when any error was found.
    public var plan: Plan?
    /// Every problem found, in reading order.
    public var diagnostics: [Diagnostic]
}

/// Reads a saved plan strictly: one JSON document; every key the writer writes, and no other;
/// names, URIs (under `HostURI`'s allow-list), numbers and collections within `InputBounds`;
/// no host, instance or basis entry twice; every host an action or step names among the plan's
/// hosts; and the content digest matching the content. Pure: no file system, no libvirt.
/// - Parameters:
///   - bytes: the file's bytes (the caller bounds the read by `InputBounds.maxFileBytes`).
///   - file: the name diagnostics carry.
///   - allowTestDriver: whether `test://` URIs are allowed (`HostURI.allowsTestDriver`).
public func readPlanFile(_ bytes: [UInt8], file: String, allowTestDriver: Bool) -> PlanFileResult {
    let read = readSavedDocument(Plan.self, bytes, file: file, what: "a saved plan (made by 'virtplace plan --out')") { plan, findings in
        var checker = PlanChecker(plan: plan, findings: findings, allowTestDriver: allowTestDriver)
        checker.check()
        findings = checker.findings
    }
    return PlanFileResult(plan: read.value, diagnostics: read.diagnostics)
}

/// Reads a plan from JSON bytes, throwing the first problem (for callers that have no use for
/// located diagnostics, such as tests of the renderers).
/// - Throws: the first `Diagnostic` of `readPlanFile`.
public func decodePlan(_ bytes: [UInt8], file: String = "<plan>", allowTestDriver: Bool = true) throws -> Plan {
    let result = readPlanFile(bytes, file: file, allowTestDriver: allowTestDriver)
    if let plan = result.plan { return plan }
    throw result.diagnostics.first ?? Diagnostic(.error, file: file, line: 0, column: 0, path: "", message: "not a plan")
}

/// `decodePlan(_:file:allowTestDriver:)` for `Data`.
/// - Throws: the first `Diagnostic` of `readPlanFile`.
public func decodePlan(_ data: Data, file: String = "<plan>", allowTestDriver: Bool = true) throws -> Plan {
    try decodePlan(Array(data), file: file, allowTestDriver: allowTestDriver)
}

/// The semantic checks of a decoded plan.
struct PlanChecker {
    let plan: Plan
    var findings: InputFindings
    let allowTestDriver: Bool
    /// The plan's host names.
    var hostNames = Set<String>()

    init(plan: Plan, findings: InputFindings, allowTestDriver: Bool) {
        self.plan = plan; self.findings = findings; self.allowTestDriver = allowTestDriver
    }

    mutating func check() {
        let root = InputPath()
        if plan.apiVersion != "virtplace/v1" { findings.error(root("apiVersion"), "unsupported apiVersion '\(shown(plan.apiVersion))' (expected virtplace/v1)") }
        if plan.kind != "Plan" { findings.error(root("kind"), "unsupported kind '\(shown(plan.kind))' (expected Plan)") }
        findings.placementName(plan.fleet, root("fleet"), "fleet")
        findings.digest(plan.desiredDigest, root("desiredDigest"))
        if plan.contentDigest.isEmpty {
            findings.error(root("contentDigest"), "the plan carries no content digest: make it again with 'virtplace plan --out'")
        } else if !isHexDigest(plan.contentDigest) {
            findings.digest(plan.contentDigest, root("contentDigest"))
        } else if plan.computedContentDigest() != plan.contentDigest {
            findings.error(root("contentDigest"), "the plan was edited after it was saved (its content does not match its digest); nothing was changed: make it again with 'virtplace plan --out'")
        }
        checkHosts(root("hosts"))
        findings.number(plan.parallel.total, 1...InputBounds.maxParallel, root("parallel")("total"))
        findings.number(plan.parallel.perHost, 1...InputBounds.maxParallel, root("parallel")("perHost"))
        if let v = plan.parallel.perHostIn { findings.number(v, 1...InputBounds.maxParallel, root("parallel")("perHostIn")) }
        if let v = plan.parallel.perHostOut { findings.number(v, 1...InputBounds.maxParallel, root("parallel")("perHostOut")) }
        checkBasis(root("basis"))
        checkActions(root("actions"))
        if let estimate = plan.estimate { checkEstimate(bytes: estimate.bytes, seconds: estimate.seconds, root("estimate")) }
        checkSummary(root("summary"))
        findings.count(plan.notes.count, InputBounds.maxNotes, root("notes"), "notes")
        for (i, note) in plan.notes.enumerated().prefix(InputBounds.maxNotes) {
            findings.placementName(note.instance, root("notes")[i]("instance"), "instance")
            findings.text(note.message, root("notes")[i]("message"), "the message")
        }
        findings.count(plan.unmanaged.count, InputBounds.maxDomains, root("unmanaged"), "unmanaged domains")
        for (i, d) in plan.unmanaged.enumerated().prefix(InputBounds.maxDomains) {
            findings.libvirtName(d.name, root("unmanaged")[i]("name"), "domain name")
            knownHost(d.host, root("unmanaged")[i]("host"))
        }
    }

    mutating func checkHosts(_ path: InputPath) {
        if plan.hosts.isEmpty {
            findings.error(path, "the plan names no hosts: make it again with 'virtplace plan --out'")
        }
        findings.count(plan.hosts.count, InputBounds.maxHosts, path, "hosts")
        var first: [String: Int] = [:]
        for (i, host) in plan.hosts.enumerated().prefix(InputBounds.maxHosts) {
            findings.placementName(host.name, path[i]("name"), "host")
            if let j = first[host.name] {
                findings.error(path[i]("name"), "host '\(shown(host.name))' is listed twice (also hosts[\(j)])")
            } else {
                first[host.name] = i
            }
            findings.uri(host.uri, path[i]("uri"), allowTestDriver: allowTestDriver)
            if let fd = host.faultDomain { findings.placementName(fd, path[i]("faultDomain"), "fault domain") }
        }
        hostNames = Set(first.keys)
    }

    mutating func knownHost(_ name: String?, _ path: InputPath) {
        guard let name else { return }
        if !hostNames.contains(name) { findings.error(path, "unknown host '\(shown(name))': not among the plan's hosts") }
    }

    mutating func checkBasis(_ path: InputPath) {
        let basis = plan.basis
        findings.digest(basis.digest, path("digest"))
        findings.count(basis.hosts.count, InputBounds.maxHosts, path("hosts"), "hosts")
        var seen = Set<String>()
        for (i, h) in basis.hosts.enumerated().prefix(InputBounds.maxHosts) {
            let p = path("hosts")[i]
            knownHost(h.name, p("name"))
            if !seen.insert(h.name).inserted { findings.error(p("name"), "host '\(shown(h.name))' is listed twice") }
            findings.number(h.domains, 0...InputBounds.maxDomains, p("domains"))
            findings.digest(h.digest, p("digest"))
        }
        findings.count(basis.domains.count, InputBounds.maxDomains, path("domains"), "domain entries")
        var places = Set<String>()
        for (i, d) in basis.domains.enumerated().prefix(InputBounds.maxDomains) {
            let p = path("domains")[i]
            findings.placementName(d.name, p("name"), "instance")
            knownHost(d.host, p("host"))
            if !places.insert("\(d.name)\u{0}\(d.host ?? "")").inserted {
                findings.error(p, "instance '\(shown(d.name))' is listed twice on \(d.host.map { "host '\(shown($0))'" } ?? "no host")")
            }
            // Only compared with what is observed at apply time, never acted on: bounded.
            findings.libvirtName(d.uuid, p("uuid"), "UUID")
            if let state = d.state, !ObservedDomain.states.contains(state) {
                findings.error(p("state"), "unknown state '\(shown(state))' (expected one of \(ObservedDomain.states.joined(separator: ", ")))")
            }
            if let digest = d.xmlDigest, !digest.isEmpty { findings.libvirtName(digest, p("xmlDigest"), "definition digest") }
        }
    }

    mutating func checkActions(_ path: InputPath) {
        findings.count(plan.actions.count, InputBounds.maxDomains, path, "actions")
        var first: [String: Int] = [:]
        for (i, action) in plan.actions.enumerated().prefix(InputBounds.maxDomains) {
            let p = path[i]
            findings.placementName(action.instance, p("instance"), "instance")
            if let j = first[action.instance] {
                findings.error(p("instance"), "instance '\(shown(action.instance))' has two actions (also actions[\(j)])")
            } else {
                first[action.instance] = i
            }
            knownHost(action.from, p("from"))
            knownHost(action.to, p("to"))
            findings.count(action.reasons.count, InputBounds.maxReasons, p("reasons"), "reasons")
            for (r, reason) in action.reasons.enumerated().prefix(InputBounds.maxReasons) {
                findings.text(reason.message, p("reasons")[r]("message"), "the message")
            }
            findings.number(action.wave, 0...InputBounds.maxDomains, p("wave"))
            if (action.kind == .blocked || action.deferred) && (action.wave != 0 || !action.steps.isEmpty) {
                findings.error(p, "a \(action.deferred ? "deferred" : "blocked") action has no wave and no steps")
            }
            if action.wave > plan.actions.count {
                findings.error(p("wave"), "wave \(action.wave) past the number of actions (\(plan.actions.count))")
            }
            if action.id != i + 1 {
                findings.error(p("id"), "id \(action.id): an action's id is its position in the list (expected \(i + 1))")
            }
            checkDependencies(action, p("dependsOn"))
            if let estimate = action.estimate {
                if !action.kind.isMove { findings.error(p("estimate"), "only a move carries an estimate") }
                checkEstimate(bytes: estimate.bytes, seconds: estimate.seconds, p("estimate"))
                findings.number(estimate.downtimeMs, 0...Self.maxEstimateMs, p("estimate")("downtimeMs"))
            }
            checkSteps(action.steps, p("steps"))
            if let fallback = action.fallback {
                if action.kind != .live || ![.reboot, .manual].contains(fallback.kind) {
                    findings.error(p("fallback")("kind"), "only a live move falls back, to reboot or manual")
                }
                checkSteps(fallback.steps, p("fallback")("steps"))
            }
        }
    }

    /// The longest estimate a plan may carry: a year, in milliseconds.
    static let maxEstimateMs = 365 * 86_400 * 1000

    /// An estimate's bytes (a plan's: up to a million moves of the largest volume) and seconds
    /// (finite, up to a year) are within bounds.
    mutating func checkEstimate(bytes: Int64?, seconds: Double?, _ path: InputPath) {
        findings.number(bytes, 0...Int64.max / 2, path("bytes"))
        if let seconds, !(seconds.isFinite && seconds >= 0 && seconds <= Double(Self.maxEstimateMs) / 1000) {
            findings.error(path("seconds"), "\(seconds) is out of range (0...\(Self.maxEstimateMs / 1000))")
        }
    }

    /// Every id an action depends on is another action of the plan, scheduled in an earlier
    /// wave (so dependencies never form a cycle), listed once; blocked and deferred actions
    /// depend on nothing.
    mutating func checkDependencies(_ action: Action, _ path: InputPath) {
        findings.count(action.dependsOn.count, InputBounds.maxDomains, path, "dependencies")
        if !action.isScheduled && !action.dependsOn.isEmpty {
            findings.error(path, "a \(action.kind == .blocked ? "blocked" : "deferred") action waits on nothing")
        }
        var seen = Set<Int>()
        for (d, id) in action.dependsOn.enumerated().prefix(InputBounds.maxDomains) {
            guard (1...max(plan.actions.count, 1)).contains(id), id <= plan.actions.count else {
                findings.error(path[d], "unknown action id \(id) (the plan's actions are 1…\(plan.actions.count))")
                continue
            }
            if !seen.insert(id).inserted { findings.error(path[d], "action \(id) is listed twice") }
            let other = plan.actions[id - 1]
            if !other.isScheduled {
                findings.error(path[d], "action \(id) (\(shown(other.instance))) is not run by this plan: nothing can wait on it")
            } else if action.isScheduled && other.wave >= action.wave {
                findings.error(path[d], "action \(id) (\(shown(other.instance))) is in wave \(other.wave), not before this action's wave \(action.wave): dependencies point to earlier waves, so they never form a cycle")
            }
        }
    }

    mutating func checkSteps(_ steps: [Step], _ path: InputPath) {
        findings.count(steps.count, InputBounds.maxSteps, path, "steps")
        for (i, step) in steps.enumerated().prefix(InputBounds.maxSteps) { checkStep(step, path[i]) }
    }

    mutating func checkStep(_ step: Step, _ p: InputPath) {
        let timeouts = 0...InputBounds.maxTimeoutSeconds
        switch step {
        case .record(let h), .undefineSource(let h), .start(let h):
            knownHost(h, p("host"))
        case .backupVolume(let h, let pool, let volume, let backup):
            knownHost(h, p("host"))
            findings.libvirtName(pool, p("pool"), "pool name")
            findings.libvirtName(volume, p("volume"), "volume name")
            findings.libvirtName(backup, p("backup"), "backup name")
        case .shutdown(let h, let timeout, _):
            knownHost(h, p("host"))
            findings.number(timeout, timeouts, p("timeoutSeconds"))
        case .migrateLive(let m):
            knownHost(m.from, p("from"))
            knownHost(m.to, p("to"))
            if m.from == m.to { findings.error(p("to"), "a live migration from a host to itself") }
            findings.number(m.maxDowntimeMs, 0...InputBounds.maxDowntimeMs, p("maxDowntimeMs"))
            findings.number(m.bandwidthMiBps, 0...InputBounds.maxBandwidthMiBps, p("bandwidthMiBps"))
            findings.number(m.timeoutSeconds, 1...InputBounds.maxTimeoutSeconds, p("timeoutSeconds"))
            findings.number(m.stallSeconds, 1...InputBounds.maxStallSeconds, p("stallSeconds"))
            findings.number(m.downtimeSteps, 1...InputBounds.maxDowntimeSteps, p("downtimeSteps"))
            findings.count(m.copyDisks.count, InputBounds.maxDevices, p("copyDisks"), "disks")
            for (i, d) in m.copyDisks.enumerated().prefix(InputBounds.maxDevices) { findings.libvirtName(d, p("copyDisks")[i], "disk target") }
            findings.count(m.sharedPools.count, InputBounds.maxPools, p("sharedPools"), "pools")
            for (i, d) in m.sharedPools.enumerated().prefix(InputBounds.maxPools) { findings.libvirtName(d, p("sharedPools")[i], "pool name") }
            for (key, address) in [("migrationAddress", m.migrationAddress), ("tlsDestination", m.tlsDestination)] {
                if let address, let problem = MigrationAddress.problem(address) {
                    findings.error(p(key), "invalid address '\(shown(address))': \(problem)")
                }
            }
            findings.number(m.transport.parallelConnections, SpecBounds.parallelConnections, p("parallelConnections"))
            if let problem = m.transport.combinationProblem { findings.error(p("compression"), problem) }
        case .transferVolume(let pool, let volume, let from, let to):
            findings.libvirtName(pool, p("pool"), "pool name")
            findings.libvirtName(volume, p("volume"), "volume name")
            knownHost(from, p("from"))
            knownHost(to, p("to"))
            if from == to { findings.error(p("to"), "a volume copy from a host to itself") }
        case .defineOnTarget(let h, let from):
            knownHost(h, p("host"))
            knownHost(from, p("from"))
        case .recreate(let h, let from, let pool, let volume):
            knownHost(h, p("host"))
            knownHost(from, p("from"))
            findings.libvirtName(pool, p("bootPool"), "pool name")
            findings.libvirtName(volume, p("bootVolume"), "volume name")
        case .setVcpus(let h, let count, _):
            knownHost(h, p("host"))
            findings.number(count, 1...InputBounds.maxVcpus, p("count"))
        case .setMemory(let h, let mib, _):
            knownHost(h, p("host"))
            findings.number(mib, 1...InputBounds.maxMemoryMiB, p("memoryMiB"))
        case .setAutostart(let h, _):
            knownHost(h, p("host"))
        case .setMetadata(let h, let fleet, let tags):
            knownHost(h, p("host"))
            if fleet != plan.fleet { findings.error(p("fleet"), "fleet '\(shown(fleet))' is not the plan's fleet '\(shown(plan.fleet))'") }
            findings.tags(tags, p("tags"))
        case .attachDisk(let h, let disk, _):
            knownHost(h, p("host"))
            findings.libvirtName(disk.key, p("key"), "device key")
            findings.libvirtName(disk.target, p("target"), "disk target")
            findings.libvirtName(disk.pool, p("pool"), "pool name")
            findings.libvirtName(disk.volume, p("volume"), "volume name")
            findings.libvirtName(disk.bus, p("bus"), "bus")
        case .attachNIC(let h, let nic, _):
            knownHost(h, p("host"))
            findings.libvirtName(nic.key, p("key"), "device key")
            findings.libvirtName(nic.network, p("network"), "network name")
            findings.libvirtName(nic.bridge, p("bridge"), "bridge name")
            if let mac = nic.mac, macProblem(mac) != nil {
                findings.error(p("mac"), "invalid MAC address '\(shown(mac))' (expected a unicast address, six hex pairs like 52:54:00:12:34:56)")
            }
            findings.libvirtName(nic.model, p("model"), "model")
        }
    }

    mutating func checkSummary(_ path: InputPath) {
        let s = plan.summary
        let limit = 0...(2 * InputBounds.maxDomains)
        for (name, value) in [("live", s.live), ("reboot", s.reboot), ("cold", s.cold), ("manual", s.manual),
                              ("update", s.update), ("start", s.start), ("stop", s.stop), ("blocked", s.blocked),
                              ("deferred", s.deferred), ("unchanged", s.unchanged), ("instances", s.instances),
                              ("waves", s.waves)] {
            findings.number(value, limit, path(name))
        }
    }
}
