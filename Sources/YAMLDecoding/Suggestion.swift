/// "Did you mean …?" for a misspelt name: the one suggestion engine of virtplace (unknown keys,
/// unknown hosts, profiles, pools, commands and options all use it).
///
/// Its work is bounded whatever the input: names longer than `maximumNameLength` get no
/// suggestion, at most `maximumCandidates` candidates are looked at, a candidate whose length
/// differs by more than the allowed distance is skipped without comparing it, and the edit
/// distance is computed only inside a band of that width around the diagonal, stopping as
/// soon as every cell of a row is past it. So one suggestion costs at most
/// `maximumCandidates × maximumNameLength × 7` steps, and usually far less.
public enum Suggestion {
    /// Names (and candidates) longer than this, in Unicode scalars, are never suggested for or
    /// suggested: every name the placement file allows is at most 64 characters.
    public static let maximumNameLength = 64
    /// Candidates looked at for one suggestion, in the order given.
    public static let maximumCandidates = 10_000

    /// The candidate closest to `name`, when it is close enough to be a likely typo: the same
    /// but for case, or within an edit distance (insert, delete, substitute, swap two
    /// neighbours; case ignored) of a third of the name's length, at least 1 and at most 3.
    /// Among equally close candidates, the first in string order. For many names against the
    /// same candidates, build a `SuggestionIndex` once.
    public static func closest<Candidates: Sequence<String>>(to name: String, among candidates: Candidates) -> String? {
        SuggestionIndex(candidates).closest(to: name)
    }

    /// `" (did you mean 'x'?)"`, or nothing.
    public static func hint<Candidates: Sequence<String>>(for name: String, among candidates: Candidates) -> String {
        closest(to: name, among: candidates).map { " (did you mean '\($0)'?)" } ?? ""
    }

    /// The edit distance a name of `length` scalars may be from its suggestion.
    static func allowedDistance(forLength length: Int) -> Int {
        min(3, max(1, length / 3))
    }

    /// Optimal string alignment distance over Unicode scalars (case-sensitive), exact up to
    /// 3; beyond that, a value past 3 (long strings are never typos of each other).
    static func editDistance(_ a: String, _ b: String) -> Int {
        let x = Array(a.unicodeScalars), y = Array(b.unicodeScalars)
        if x.isEmpty || y.isEmpty { return max(x.count, y.count) }
        let limit = 3
        if abs(x.count - y.count) > limit { return abs(x.count - y.count) }
        return boundedDistance(x, y, limit: limit)
    }

    /// The optimal string alignment distance of `x` and `y` when it is at most `limit`, else
    /// `limit + 1`; only cells within `limit` of the diagonal are computed, and the search
    /// stops at the first row whose every cell is past `limit`.
    static func boundedDistance(_ x: [Unicode.Scalar], _ y: [Unicode.Scalar], limit: Int) -> Int {
        let past = limit + 1
        if abs(x.count - y.count) > limit { return past }
        // A common prefix or suffix never changes the distance: compare what is left.
        var prefix = 0
        while prefix < x.count, prefix < y.count, x[prefix] == y[prefix] { prefix += 1 }
        var suffix = 0
        while suffix < x.count - prefix, suffix < y.count - prefix, x[x.count - 1 - suffix] == y[y.count - 1 - suffix] { suffix += 1 }
        if prefix > 0 || suffix > 0 {
            return bandedDistance(Array(x[prefix..<(x.count - suffix)]), Array(y[prefix..<(y.count - suffix)]), limit: limit)
        }
        return bandedDistance(x, y, limit: limit)
    }

    private static func bandedDistance(_ x: [Unicode.Scalar], _ y: [Unicode.Scalar], limit: Int) -> Int {
        let past = limit + 1
        if x.isEmpty || y.isEmpty { return min(max(x.count, y.count), past) }
        let width = y.count + 1
        var previous2 = [Int](repeating: past, count: width)
        var previous = [Int](repeating: past, count: width)
        var current = [Int](repeating: past, count: width)
        for j in 0...min(limit, y.count) { previous[j] = j }
        for i in 1...x.count {
            let low = max(1, i - limit), high = min(y.count, i + limit)
            // Cells just outside the band read as "past".
            current[low - 1] = i <= limit ? i : past
            if high < y.count { current[high + 1] = past }
            var rowMinimum = current[low - 1]
            if low <= high {
                for j in low...high {
                    let cost = x[i - 1] == y[j - 1] ? 0 : 1
                    var value = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
                    if i > 1, j > 1, x[i - 1] == y[j - 2], x[i - 2] == y[j - 1] {
                        value = min(value, previous2[j - 2] + 1)
                    }
                    value = min(value, past)
                    current[j] = value
                    rowMinimum = min(rowMinimum, value)
                }
            }
            if rowMinimum > limit { return past }
            swap(&previous2, &previous)
            swap(&previous, &current)
        }
        return min(previous[y.count], past)
    }
}

/// Candidates prepared once for many "did you mean" searches: each lower-cased into scalars,
/// with its length and a 64-bit signature of the characters it holds, so that most candidates
/// are dismissed by two integer comparisons before any edit distance is computed.
public struct SuggestionIndex: Sendable {
    private let names: [String]
    private let scalars: [[Unicode.Scalar]]
    private let signatures: [UInt64]

    /// The first `Suggestion.maximumCandidates` of `candidates`; those longer than
    /// `Suggestion.maximumNameLength` are never suggested.
    public init<Candidates: Sequence<String>>(_ candidates: Candidates) {
        var names: [String] = []
        var scalars: [[Unicode.Scalar]] = []
        var signatures: [UInt64] = []
        for candidate in candidates.prefix(Suggestion.maximumCandidates) {
            guard candidate.utf8.count <= 4 * Suggestion.maximumNameLength else { continue }
            let lowered = Array(candidate.lowercased().unicodeScalars)
            guard !lowered.isEmpty, lowered.count <= Suggestion.maximumNameLength else { continue }
            names.append(candidate)
            scalars.append(lowered)
            signatures.append(Self.signature(lowered))
        }
        self.names = names
        self.scalars = scalars
        self.signatures = signatures
    }

    /// See `Suggestion.closest(to:among:)`.
    public func closest(to name: String) -> String? {
        let word = Array(name.lowercased().unicodeScalars)
        guard !word.isEmpty, word.count <= Suggestion.maximumNameLength else { return nil }
        let allowed = Suggestion.allowedDistance(forLength: word.count)
        let signature = Self.signature(word)
        var best: (candidate: String, distance: Int)? = nil
        for index in names.indices {
            let other = scalars[index]
            // Each edit adds or removes at most one character kind (two for a substitution),
            // so the signatures of names within `allowed` differ in at most 2 × allowed bits.
            guard abs(other.count - word.count) <= allowed,
                  (signature ^ signatures[index]).nonzeroBitCount <= 2 * allowed,
                  names[index] != name else { continue }
            let limit = best?.distance ?? allowed
            let distance = Suggestion.boundedDistance(word, other, limit: limit)
            guard distance <= limit else { continue }
            if let current = best, (current.distance, current.candidate) <= (distance, names[index]) { continue }
            best = (names[index], distance)
        }
        return best?.candidate
    }

    /// `" (did you mean 'x'?)"`, or nothing.
    public func hint(for name: String) -> String {
        closest(to: name).map { " (did you mean '\($0)'?)" } ?? ""
    }

    private static func signature(_ scalars: [Unicode.Scalar]) -> UInt64 {
        var bits: UInt64 = 0
        for scalar in scalars { bits |= 1 << UInt64(scalar.value % 64) }
        return bits
    }
}
