import Engine
import Foundation
import Placement
import YAMLDecoding

/// What maintenance events add to apply and reconcile: the clock the planner decides due
/// dates by, `--now NAME` (move early), and `--events FILE`.

/// `--events FILE`: maintenance move records, JSON lines, appended.
let eventsOption = OptionSpec.value(
    "events", "FILE",
    help: "append a JSON line per maintenance move started and finished (with its final state) to FILE; only a regular file")

/// The planner's clock: the current time, and the instances to move early.
func planningClock(moveNow: [String] = []) -> PlanningClock {
    PlanningClock(now: Int64(Date().timeIntervalSince1970), moveNow: Set(moveNow))
}

/// Refuses `--now` names the placement does not declare (nothing has changed yet).
/// - Throws: `CLIError` (exit 1).
func checkMoveNow(_ names: [String], in spec: PlacementSpec) throws {
    for name in names where spec.instances[name] == nil {
        let hint = Suggestion.closest(to: name, among: spec.instances.keys.sorted()).map { " (did you mean '\(Escape.terminal($0))'?)" } ?? ""
        throw CLIError(message: "--now names '\(Escape.terminal(name))', which the placement does not declare\(hint); nothing was changed")
    }
}

/// Checks that the events file can be appended to before anything runs.
/// - Throws: `CLIError` (exit 1) when it cannot.
func checkEventsFile(_ path: String?) throws {
    guard let path else { return }
    do {
        try MaintenanceEvents.append("", to: path)
    } catch {
        throw CLIError(message: Escape.terminal("--events: \(error)") + "; nothing was changed")
    }
}
