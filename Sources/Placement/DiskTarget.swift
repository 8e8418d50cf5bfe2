/// Disk target names (`vda`, `sdb`, …) as a definition uses them.
public enum DiskTarget {
    /// The first free target with `prefix` (`vda`, `vdb`, … `vdz`, `vdaa`, …) among `taken`.
    public static func free(prefix: String, taken: Set<String>) -> String {
        let letters = Array("abcdefghijklmnopqrstuvwxyz")
        for index in 0..<(26 * 27) {
            let suffix = index < 26 ? String(letters[index]) : String(letters[index / 26 - 1]) + String(letters[index % 26])
            let name = prefix + suffix
            if !taken.contains(name) { return name }
        }
        return prefix + "zz"
    }
}
