/// Maintenance events: what the placement file says about them, and the times they carry.
/// The rules that move instances off a host under maintenance are in PlannerMaintenance.swift;
/// docs/operations.md walks through the workflow.

import YAMLDecoding

/// `hosts.NAME.maintenance`: the host needs maintenance by `due`. Live-eligible instances move
/// at once; the others are reboot-migrated from `due` on (or earlier, when asked); the host
/// takes nothing new until the entry is removed. Changing `due` extends the event.
public struct MaintenanceSpec: Equatable, Sendable {
    /// As written (`2026-12-20T06:00:00Z`, `2026-12-20T08:00:00+02:00`, `2026-12-20`);
    /// `dueSeconds` is its meaning, nil when it is not a time validation accepts.
    public var due: String
    /// Shown with the status and in the events: why the host needs maintenance.
    public var reason: String?

    public init(due: String, reason: String? = nil) { self.due = due; self.reason = reason }

    /// `due` as Unix seconds, or nil when it is not a valid time in the accepted range.
    public var dueSeconds: Int64? { MaintenanceTime.parse(due) }
}

/// What happens to a running instance's lifecycle after its maintenance move.
public enum AfterMove: String, Codable, Sendable, CaseIterable {
    /// The state it had before the move (a running instance runs again).
    case previous
    /// Left stopped on the target: it is shut down and moved cold.
    case stopped
}

/// `instances.NAME.maintenance`: how a maintenance event of the instance's host moves it.
public struct InstanceMaintenanceSpec: Equatable, Sendable {
    /// Left out: `previous`.
    public var afterMove: AfterMove?
    /// Move it now rather than at the due date, even when the move is not live (the owner
    /// chooses when the downtime happens).
    public var proactive: Bool

    public init(afterMove: AfterMove? = nil, proactive: Bool = false) {
        self.afterMove = afterMove; self.proactive = proactive
    }
}

extension AfterMove {
    public init(from decoder: any Decoder) throws { self = try decodeChoice(decoder, what: "afterMove state") }
}

extension MaintenanceSpec: Decodable {
    enum CodingKeys: String, CodingKey, CaseIterable { case due, reason }
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(due: try c.decode(String.self, forKey: .due),
                  reason: try c.decodeIfPresent(String.self, forKey: .reason))
    }
}

extension InstanceMaintenanceSpec: Decodable {
    enum CodingKeys: String, CodingKey, CaseIterable { case afterMove, proactive }
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(afterMove: try c.decodeIfPresent(AfterMove.self, forKey: .afterMove),
                  proactive: try c.decodeIfPresent(Bool.self, forKey: .proactive) ?? false)
    }
}

/// The times of maintenance events: a strict subset of RFC 3339, bounded so that every
/// accepted time is a date any tool agrees on.
public enum MaintenanceTime {
    /// The earliest and latest dates accepted (UTC): 2000-01-01 and 2999-12-31.
    public static let years: ClosedRange<Int> = 2000...2999

    /// The rule, for messages.
    public static let rule = "a time like 2026-12-20T06:00:00Z, 2026-12-20T08:00:00+02:00 or a date 2026-12-20 (UTC midnight), years \(years.lowerBound) to \(years.upperBound)"

    /// Unix seconds of `text`, or nil unless it is `YYYY-MM-DD`, or `YYYY-MM-DDTHH:MM[:SS]`
    /// followed by `Z` or `±HH:MM`, with every field in range (no leap second).
    public static func parse(_ text: String) -> Int64? {
        let b = Array(text.utf8)
        guard b.count <= 32 else { return nil }
        func number(_ from: Int, _ count: Int) -> Int? {
            guard from + count <= b.count else { return nil }
            var n = 0
            for i in from..<(from + count) {
                guard b[i] >= UInt8(ascii: "0"), b[i] <= UInt8(ascii: "9") else { return nil }
                n = n * 10 + Int(b[i] - UInt8(ascii: "0"))
            }
            return n
        }
        func at(_ i: Int, _ c: Character) -> Bool { i < b.count && b[i] == c.asciiValue }
        guard let year = number(0, 4), at(4, "-"), let month = number(5, 2), at(7, "-"), let day = number(8, 2),
              years.contains(year), (1...12).contains(month), day >= 1, day <= daysIn(month, year) else { return nil }
        var seconds = Int64(daysFromCivil(year, month, day)) * 86_400
        if b.count == 10 { return seconds }
        guard at(10, "T") || at(10, "t"), let hour = number(11, 2), at(13, ":"), let minute = number(14, 2),
              hour < 24, minute < 60 else { return nil }
        var i = 16
        var second = 0
        if at(i, ":") {
            guard let s = number(i + 1, 2), s < 60 else { return nil }
            second = s
            i += 3
        }
        seconds += Int64(hour * 3600 + minute * 60 + second)
        if (at(i, "Z") || at(i, "z")) && i + 1 == b.count { return seconds }
        guard at(i, "+") || at(i, "-"), i + 6 == b.count, let oh = number(i + 1, 2), at(i + 3, ":"),
              let om = number(i + 4, 2), oh < 24, om < 60 else { return nil }
        let offset = Int64(oh * 3600 + om * 60)
        return at(i, "+") ? seconds - offset : seconds + offset
    }

    /// `2026-12-20T06:00:00Z`: how statuses and events show a time (UTC).
    public static func format(_ seconds: Int64) -> String {
        let days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
        let rest = Int(seconds - days * 86_400)
        let (y, m, d) = civil(fromDays: Int(days))
        func two(_ n: Int) -> String { n < 10 ? "0\(n)" : "\(n)" }
        return "\(y)-\(two(m))-\(two(d))T\(two(rest / 3600)):\(two(rest / 60 % 60)):\(two(rest % 60))Z"
    }

    private static func daysIn(_ month: Int, _ year: Int) -> Int {
        switch month {
        case 2: (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
    private static func daysFromCivil(_ year: Int, _ month: Int, _ day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    private static func civil(fromDays z0: Int) -> (Int, Int, Int) {
        let z = z0 + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp + (mp < 10 ? 3 : -9)
        return (yoe + era * 400 + (m <= 2 ? 1 : 0), m, d)
    }
}

/// What a plan is computed for, besides the desired and observed states: the time, which
/// decides whether a maintenance event's reboot migrations are due, and the instances an
/// operator asked to move now (`apply --now NAME`).
public struct PlanningClock: Equatable, Sendable {
    /// Unix seconds. nil: no due date counts as reached (a reboot waits for the due date).
    public var now: Int64?
    /// Instances whose maintenance move runs now even if it is not live.
    public var moveNow: Set<String>

    public init(now: Int64? = nil, moveNow: Set<String> = []) { self.now = now; self.moveNow = moveNow }
}
