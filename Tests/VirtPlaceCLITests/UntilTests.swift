import Foundation
import Testing
@testable import VirtPlaceCLI

// `--until TIME|DURATION` (apply, reconcile): what it accepts, and the clear error (exit 1)
// for what it does not. The clock and the time zone are given, so the answers are exact.

private let now = Date(timeIntervalSince1970: 1_800_000_000) // 2027-01-15T08:00:00Z
private let utc = TimeZone(identifier: "UTC")!

private let windowCases: [(String, Double)] = [
        ("45m", 2700.0), ("1h30m", 5400), ("90s", 90), ("2h", 7200),
        ("2027-01-15T09:00:00Z", 3600), ("2027-01-15T10:00:00+01:00", 3600), ("2027-01-15T08:00:30.5Z", 30.5),
    ("08:30", 1800), ("08:00:10", 10), ("07:00", 23 * 3600),  // a time of day passed today: tomorrow's
]

@Suite struct UntilTests {
    @Test(arguments: windowCases)
    func windows(_ text: String, _ seconds: Double) {
        let date = parseUntil(text, now: now, timeZone: utc)
        #expect(date.map { $0.timeIntervalSince(now) } == seconds, "\(text)")
    }

    @Test(arguments: ["", "soon", "90", "-5m", "0s", "25:00", "12:60", "8:30", "08:30:61", "2027-13-01T00:00:00Z",
                      "2027-01-15T09:00:00", "1h\u{1B}[2J", "1e9999s", String(repeating: "1", count: 65) + "s"])
    func notAWindow(_ text: String) {
        #expect(parseUntil(text, now: now, timeZone: utc) == nil, "\(text)")
    }

    @Test func optionErrorsSayWhatIsAccepted() throws {
        func parsed(_ value: String) -> ParsedArguments {
            var p = ParsedArguments()
            p.values["until"] = [value]
            return p
        }
        #expect(try parseUntilOption(ParsedArguments(), command: "apply", now: now, timeZone: utc) == nil)
        #expect(try parseUntilOption(parsed("45m"), command: "apply", now: now, timeZone: utc) == now.addingTimeInterval(2700))
        for (value, words) in [("tomorrow", "invalid --until 'tomorrow': a time"),
                               ("2027-01-15T07:00:00Z", "is already past"),
                               ("2029-01-01T00:00:00Z", "more than a year ahead"),
                               ("9000h", "more than a year ahead")] {
            do {
                _ = try parseUntilOption(parsed(value), command: "apply", now: now, timeZone: utc)
                Issue.record("\(value) was accepted")
            } catch {
                #expect(error.message.contains(words), "\(value): \(error.message)")
            }
        }
    }

    @Test func aBadWindowIsAUsageErrorAndChangesNothing() async throws {
        let dir = NSTemporaryDirectory() + "vp-until-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for command in ["apply", "reconcile"] {
            let code = await virtplace([command, "-f", dir + "/none.yaml", "--until", "yesterday-ish", "--auto-approve",
                                        "--state-dir", dir + "/state"])
            #expect(code == .failure, "\(command)")
        }
        #expect(!FileManager.default.fileExists(atPath: dir + "/state"), "no state directory was made")
    }
}
