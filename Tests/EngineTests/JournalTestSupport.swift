import Foundation
import Placement
import TestSupport
@testable import Engine

/// A step of the kind `op` names, between h1 and h2: what a test's journal record needs.
func step(named op: String) -> Step {
    switch op {
    case "record": .record(host: "h1")
    case "backupVolume": .backupVolume(host: "h1", pool: "local", volume: "a.img", backup: "a.img.virtplace-backup")
    case "shutdown": .shutdown(host: "h1", timeoutSeconds: 5, forceOff: false)
    case "migrateLive": liveStep("h1", "h2")
    case "transferVolume": .transferVolume(pool: "local", volume: "a.img", from: "h1", to: "h2")
    case "defineOnTarget": .defineOnTarget(host: "h2", from: "h1")
    case "recreate": .recreate(host: "h2", from: "h1", bootPool: "local", bootVolume: "a.img")
    case "undefineSource": .undefineSource(host: "h1")
    case "start": .start(host: "h2")
    case "setAutostart": .setAutostart(host: "h2", enabled: true)
    default: .setMetadata(host: "h2", fleet: "lab", tags: ["op": op])
    }
}

/// A record as tests write them: a step's (index ≥ 0: `op`, `phase` one of a step's) or an
/// action's last (`finished`, `abandoned`).
func testRecord(_ instance: String, _ index: Int, _ op: String, _ phase: JournalRecord.Phase, run: String = "r1",
                kind: ActionKind = .live, uuid: String? = "u", action: Action? = nil, origin: String? = nil,
                error: String? = nil) -> JournalRecord {
    let entry: JournalEntry = switch phase {
    case .finished: .finished(FinishedEntry())
    case .abandoned: .abandoned(AbandonedEntry())
    default: .step(StepEntry(index: index, step: step(named: op), phase: StepEntry.Phase(rawValue: phase.rawValue) ?? .intent,
                             origin: origin, action: action))
    }
    return JournalRecord(time: "t", run: run, instance: instance, uuid: uuid, kind: kind, entry: entry, error: error)
}

/// A `createVolume` record of `host/pool/volume`.
func createVolumeRecord(_ instance: String, host: String = "h2", pool: String = "local", volume: String,
                        _ phase: VolumeEntry.Phase, run: String = "r0", kind: ActionKind = .cold) -> JournalRecord {
    JournalRecord(time: "t", run: run, instance: instance, uuid: "uuid-\(instance)", kind: kind,
                  entry: .createVolume(VolumeEntry(phase: phase, host: host, pool: pool, volume: volume, purpose: "transferVolume")))
}
