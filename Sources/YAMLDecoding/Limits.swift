/// Bounds that keep a hostile or broken input from using unbounded time or memory.
///
/// The defaults suit desired-state files: a few megabytes, a handful of nesting levels, and
/// aliases used for shared defaults rather than for multiplying data.
public struct YAMLLimits: Sendable, Equatable {
    /// The largest input accepted, in bytes (10 MiB by default; never more than
    /// `largestFileSize`, 2 GiB, whatever is set here).
    public var maxFileSize: Int
    /// The deepest nesting accepted, counting the levels an alias brings in (64 by default).
    public var maxDepth: Int
    /// The size a document may always grow to by expanding aliases, in nodes (100,000 by default).
    public var minExpandedNodes: Int
    /// How many times its written size a document may grow to by expanding aliases (10 by default).
    ///
    /// A document may expand to `max(minExpandedNodes, expansionFactor × nodes written)` nodes;
    /// an alias that takes it past that fails the parse ("billion laughs" defence), and the
    /// decoder stops after visiting that many nodes.
    public var expansionFactor: Int

    /// Limits with every value given.
    public init(maxFileSize: Int, maxDepth: Int, minExpandedNodes: Int, expansionFactor: Int) {
        self.maxFileSize = maxFileSize
        self.maxDepth = maxDepth
        self.minExpandedNodes = minExpandedNodes
        self.expansionFactor = expansionFactor
    }

    /// 10 MiB, 64 levels, aliases expanding to at most `max(100_000, 10 × written)` nodes.
    public static let `default` = YAMLLimits(
        maxFileSize: 10 * 1024 * 1024, maxDepth: 64, minExpandedNodes: 100_000, expansionFactor: 10)

    /// The largest input the parser takes, whatever `maxFileSize` says: 2 GiB, so that every
    /// position and offset in a parsed document fits 32 bits.
    public static let largestFileSize = 2048 * 1024 * 1024

    /// `maxFileSize`, at most `largestFileSize`.
    var fileSizeLimit: Int { min(maxFileSize, Self.largestFileSize) }

    /// The number of nodes a document of `writtenNodes` nodes may expand to.
    public func expansionBudget(writtenNodes: Int) -> Int {
        let (scaled, overflow) = expansionFactor.multipliedReportingOverflow(by: writtenNodes)
        return max(minExpandedNodes, overflow ? Int.max : scaled)
    }
}
