import Foundation

/// Times as records, logs and run ids write them, in UTC with whole seconds, computed with the
/// C library's `gmtime_r` instead of Foundation's formatters.
///
/// On Linux `ISO8601DateFormatter` and `DateFormatter` are ICU underneath: each one made opens
/// an ICU date format (some 2,000 small allocations), and the journal made one per record. In a
/// reconcile loop that churn was a good part of what fragmented malloc's arenas, so that RSS
/// crept up pass by pass (`bench/soak`). The text is the same as `ISO8601DateFormatter`'s
/// default (`2026-12-07T22:27:54Z`; fractions of a second dropped, as it drops them).
public enum UTCTimestamp {
    /// `2026-12-07T22:27:54Z`: RFC 3339 in UTC, whole seconds.
    public static func iso8601(_ date: Date) -> String {
        let t = fields(date)
        return "\(digits(t.year, 4))-\(digits(t.month, 2))-\(digits(t.day, 2))T\(digits(t.hour, 2)):\(digits(t.minute, 2)):\(digits(t.second, 2))Z"
    }

    /// `20261207T222754Z`: the compact form of run ids.
    public static func compact(_ date: Date) -> String {
        let t = fields(date)
        return "\(digits(t.year, 4))\(digits(t.month, 2))\(digits(t.day, 2))T\(digits(t.hour, 2))\(digits(t.minute, 2))\(digits(t.second, 2))Z"
    }

    /// The earliest and latest instants written, `0001-01-01T00:00:00Z` and
    /// `9999-12-31T23:59:59Z`: a date outside (a clock gone wild, a hostile value) is written as
    /// the nearer bound, never trapping on the conversion to an integer.
    static let secondsRange: ClosedRange<Int64> = -62_135_596_800...253_402_300_799

    private struct Fields { var year, month, day, hour, minute, second: Int }

    private static func fields(_ date: Date) -> Fields {
        let interval = date.timeIntervalSince1970
        let seconds: Int64
        if interval.isNaN {
            seconds = 0
        } else if interval <= Double(secondsRange.lowerBound) {
            seconds = secondsRange.lowerBound
        } else if interval >= Double(secondsRange.upperBound) {
            seconds = secondsRange.upperBound
        } else {
            seconds = Int64(interval.rounded(.down))
        }
        var time = time_t(seconds)
        var broken = tm()
        guard gmtime_r(&time, &broken) != nil else { return Fields(year: 1970, month: 1, day: 1, hour: 0, minute: 0, second: 0) }
        return Fields(year: Int(broken.tm_year) + 1900, month: Int(broken.tm_mon) + 1, day: Int(broken.tm_mday),
                      hour: Int(broken.tm_hour), minute: Int(broken.tm_min), second: Int(broken.tm_sec))
    }

    /// `value` in decimal, zero-padded to `width` digits.
    private static func digits(_ value: Int, _ width: Int) -> String {
        let text = String(value)
        return text.count >= width ? text : String(repeating: "0", count: width - text.count) + text
    }
}
