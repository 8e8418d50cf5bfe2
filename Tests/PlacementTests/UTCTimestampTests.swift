import Foundation
import Testing
@testable import Placement

/// `UTCTimestamp` writes what `ISO8601DateFormatter` wrote (journal records, lock files, logs)
/// and run ids as the `DateFormatter` of before did, without ICU.
@Suite struct UTCTimestampTests {
    @Test(arguments: [0.0, 0.999, 1_765_000_000.5, 1_796_681_076, 951_782_400 /* 2000-02-29 */, 4_102_444_799 /* 2099-12-31T23:59:59 */, -1.5])
    func sameTextAsFoundationsFormatter(seconds: Double) {
        let date = Date(timeIntervalSince1970: seconds)
        #expect(UTCTimestamp.iso8601(date) == ISO8601DateFormatter().string(from: date))
        let runID = DateFormatter()
        runID.locale = Locale(identifier: "en_US_POSIX")
        runID.timeZone = TimeZone(identifier: "UTC")
        runID.dateFormat = "yyyyMMdd'T'HHmmss'Z'"
        #expect(UTCTimestamp.compact(date) == runID.string(from: date))
    }

    @Test func knownValues() {
        #expect(UTCTimestamp.iso8601(Date(timeIntervalSince1970: 1_796_681_076.9)) == "2026-12-07T22:04:36Z")
        #expect(UTCTimestamp.compact(Date(timeIntervalSince1970: 0)) == "19700101T000000Z")
    }

    /// A clock gone wild or a hostile value: the nearer bound, never a trap.
    @Test(arguments: [Double.infinity, -Double.infinity, Double.nan, 1e300, -1e300, Double.greatestFiniteMagnitude])
    func outOfRangeDatesAreBounded(seconds: Double) {
        let text = UTCTimestamp.iso8601(Date(timeIntervalSince1970: seconds))
        #expect(["9999-12-31T23:59:59Z", "0001-01-01T00:00:00Z", "1970-01-01T00:00:00Z"].contains(text))
        #expect(UTCTimestamp.compact(Date(timeIntervalSince1970: seconds)).count == 16)
    }
}
