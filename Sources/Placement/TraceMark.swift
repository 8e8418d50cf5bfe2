import Foundation
// TEMPORARY instrumentation (obs13b): VPX_TIMES=1 prints "T label ms" to stderr.
public enum TraceMark {
    public static let on = getenv("VPX_TIMES") != nil
    public static let slices: Int? = getenv("VPX_SLICES").flatMap { Int(String(cString: $0)) }
    public static func mark(_ label: @autoclosure () -> String) {
        guard on else { return }
        var t = timespec(); clock_gettime(CLOCK_REALTIME, &t)
        let ms = Double(t.tv_sec % 1000) * 1000 + Double(t.tv_nsec) / 1e6
        let line = "T \(label()) \(String(format: "%.2f", ms))\n"; _ = line.withCString { write(2, $0, strlen($0)) }
    }
}
