/// "Did you mean …?" for a misspelt name.
public enum Suggestion {
    /// The candidate closest to `name`, when it is close enough to be a likely typo: the same
    /// but for case, or within an edit distance (insert, delete, substitute, swap two
    /// neighbours) of a third of the name's length, at least 1 and at most 3.
    public static func closest(to name: String, among candidates: [String]) -> String? {
        let lowered = name.lowercased()
        var best: (candidate: String, distance: Int)? = nil
        for candidate in candidates where candidate != name {
            let distance = candidate.lowercased() == lowered ? 0 : editDistance(name, candidate)
            if distance < best?.distance ?? Int.max || (distance == best?.distance && candidate < best?.candidate ?? "") {
                best = (candidate, distance)
            }
        }
        guard let best else { return nil }
        let allowed = min(3, max(1, name.count / 3))
        return best.distance <= allowed ? best.candidate : nil
    }

    /// `" (did you mean 'x'?)"`, or nothing.
    public static func hint(for name: String, among candidates: [String]) -> String {
        closest(to: name, among: candidates).map { " (did you mean '\($0)'?)" } ?? ""
    }

    /// Optimal string alignment distance over Unicode scalars.
    static func editDistance(_ a: String, _ b: String) -> Int {
        let x = Array(a.unicodeScalars)
        let y = Array(b.unicodeScalars)
        if x.isEmpty { return y.count }
        if y.isEmpty { return x.count }
        // Long strings are never typos of each other; do not spend time on them.
        if abs(x.count - y.count) > 3 { return abs(x.count - y.count) }
        if x.count > 256 || y.count > 256 { return max(x.count, y.count) }
        var previous2 = [Int](repeating: 0, count: y.count + 1)
        var previous = Array(0...y.count)
        var current = [Int](repeating: 0, count: y.count + 1)
        for i in 1...x.count {
            current[0] = i
            for j in 1...y.count {
                let cost = x[i - 1] == y[j - 1] ? 0 : 1
                var value = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
                if i > 1, j > 1, x[i - 1] == y[j - 2], x[i - 2] == y[j - 1] {
                    value = min(value, previous2[j - 2] + 1)
                }
                current[j] = value
            }
            swap(&previous2, &previous)
            swap(&previous, &current)
        }
        return previous[y.count]
    }
}
