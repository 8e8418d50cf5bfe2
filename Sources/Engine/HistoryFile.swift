import Foundation
import Placement
import YAMLDecoding

/// The state directory's transfer history (`history.json`): what earlier moves between two
/// hosts achieved, for the next plans' estimates (`Placement.TransferHistory`). Input like any
/// other: read without following a link, a regular file only, at most `readLimit` bytes, decoded
/// strictly and bounded (`readTransferHistory`); a history that cannot be read is set aside
/// (estimates fall back on the declared and assumed rates) and said so, never fatal. Written
/// whole or not at all through `SafeFile`, mode 0600.
public enum HistoryFile {
    /// The largest history read: far above what `TransferHistory`'s bounds let virtplace write.
    public static let readLimit = 1 << 20

    /// `STATE/history.json`.
    public static func path(_ state: StateDirectory) -> String { state.path + "/history.json" }

    /// The history, and why it was set aside when it was (nil when it was read, or absent).
    public static func read(_ state: StateDirectory) -> (history: TransferHistory, problem: String?) {
        let path = path(state)
        var info = stat()
        if lstat(path, &info) != 0 && errno == ENOENT { return (TransferHistory(), nil) }
        let bytes: [UInt8]
        do {
            bytes = try FileInput.read(atPath: path, limit: readLimit, noFollow: true)
        } catch {
            return (TransferHistory(), "the transfer history \(path) cannot be read (\(error.reason)): estimates use the declared and assumed rates")
        }
        let read = readTransferHistory(bytes, file: path)
        guard let history = read.history else {
            let first = read.diagnostics.first.map { "\($0)" } ?? "not a transfer history"
            return (TransferHistory(), "the transfer history is unsound and is not used (\(first)); the next move writes a new one")
        }
        return (history, nil)
    }

    /// Adds the figures of every move of `execution` that ended done to the history and writes
    /// it (a history that could not be read is replaced). `observed` is the fleet the plan was
    /// made from: a live move's memory basis comes from it, as the estimate's did.
    /// - Throws: `SafeFile.Failure` when the file cannot be written.
    public static func record(_ execution: ExecutionReport, plan: Plan, observed: ObservedFleet, state: StateDirectory) throws(SafeFile.Failure) {
        let samples = Self.samples(execution, plan: plan, observed: observed)
        guard !samples.isEmpty else { return }
        var history = read(state).history
        for s in samples { history = history.adding(s.sample, from: s.from, to: s.to, transfer: s.transfer) }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        guard var data = try? encoder.encode(history) else { return }
        data.append(0x0A)
        try SafeFile.write(data, to: path(state), permissions: SafeFile.privateMode)
    }

    /// One history sample per finished move: a live move's migration (its job's bytes and
    /// time, and its memory against the basis the estimate started from), a move's volume
    /// copies (bytes and the seconds they took).
    static func samples(_ execution: ExecutionReport, plan: Plan, observed: ObservedFleet)
        -> [(sample: TransferSample, from: String, to: String, transfer: TransferClass)] {
        var result: [(sample: TransferSample, from: String, to: String, transfer: TransferClass)] = []
        for report in execution.actions where report.status == .done && report.kind.isMove {
            guard let actual = report.actual, let from = report.from, let to = report.to else { continue }
            if report.kind == .live, let bytes = actual.bytes, let seconds = actual.migrationSeconds, seconds > 0 {
                let domain = observed.hosts.first { $0.name == from }?.domains.first { $0.name == report.instance }
                result.append((TransferSample(bytes: bytes, seconds: seconds,
                                              memoryBasisBytes: domain.map { $0.memoryBasisBytes },
                                              memoryBytes: actual.memoryBytes, downtimeMs: actual.downtimeMs),
                               from, to, .live))
            }
            if let bytes = actual.copiedBytes, let seconds = actual.copySeconds, seconds > 0 {
                result.append((TransferSample(bytes: bytes, seconds: seconds), from, to, .copy))
            }
        }
        return result
    }
}
