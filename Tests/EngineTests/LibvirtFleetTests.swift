@testable import Engine
import Libvirt
import Testing

// LibvirtFleet maps libvirt's errors into the Engine's (`DriverError.failed` with a
// `HostFailure` kind): through that mapping, each code a live migration can fail with lands
// on the cause the executor decides by.


struct CauseCase: Sendable, CustomTestStringConvertible {
    let error: LibvirtError
    var timedOut = false
    var lost = false
    let expected: LiveFailureCause
    var testDescription: String { "code \(error.code.rawValue) domain \(error.domain) timedOut \(timedOut) lost \(lost) → \(expected)" }
}

let causeCases: [CauseCase] = [
    CauseCase(error: LibvirtError(code: .operationAborted, message: "canceled by client"), timedOut: true, expected: .timeout),
    CauseCase(error: LibvirtError(code: .operationAborted, message: "canceled by client"), expected: .cancelled),
    CauseCase(error: LibvirtError(code: .operationTimeout, message: "t"), expected: .liveOnly),
    CauseCase(error: LibvirtError(code: .migrateUnsafe, message: "Unsafe migration"), expected: .liveOnly),
    CauseCase(error: LibvirtError(code: .operationUnsupported, message: "x"), expected: .liveOnly),
    CauseCase(error: LibvirtError(code: .argumentUnsupported, message: "x"), expected: .liveOnly),
    CauseCase(error: LibvirtError(code: .cpuIncompatible, message: "x"), expected: .cpuIncompatible),
    CauseCase(error: LibvirtError(code: .noNetwork, message: "x"), expected: .networkMissing),
    CauseCase(error: LibvirtError(code: .noStorageVolume, message: "x"), expected: .storageMissing),
    CauseCase(error: LibvirtError(code: .noStoragePool, message: "x"), expected: .storageMissing),
    CauseCase(error: LibvirtError(code: .configUnsupported, message: "x"), expected: .targetUnsupported),
    CauseCase(error: LibvirtError(code: .rpc, domain: 7, message: "x"), expected: .targetUnreachable),
    CauseCase(error: LibvirtError(code: .systemError, domain: 7, message: "Connection reset"), expected: .targetUnreachable),
    CauseCase(error: LibvirtError(code: .systemError, domain: 18, message: "No space left on device"), expected: .unknown),
    CauseCase(error: LibvirtError(code: .operationFailed, domain: 10, message: "QEMU failed"), expected: .unknown),
    CauseCase(error: LibvirtError(code: .internalError, domain: 10, message: "x"), lost: true, expected: .targetUnreachable),
    // The text says "timed out", the code does not: the code decides.
    CauseCase(error: LibvirtError(code: .internalError, domain: 10, message: "migration timed out, Unsafe migration"), expected: .unknown),
]

@Test("a failed live migration is classified by libvirt's code, never by its text", arguments: causeCases)
func liveFailureIsClassifiedByCode(_ c: CauseCase) {
    let cause = LiveFailureCause.classify(DriverError(c.error), timedOut: c.timedOut, lostDestination: c.lost)
    #expect(cause == c.expected)
    #expect(DriverError(c.error).description == c.error.message, "libvirt's message reaches the report as it was")
    #expect(cause.rebootAvoids == [.timeout, .liveOnly].contains(c.expected))
}

@Test func aMigrationRequestBecomesTheFlagsAndParametersLibvirtWasAlwaysGiven() {
    let always: MigrationFlags = [.live, .persistDestination, .undefineSource, .abortOnError]
    #expect(MigrationRequest().flags == always)
    let all = MigrationRequest(copyDisks: ["vdb"], sharedStorageDeclared: true, autoConverge: true, allowPostCopy: true, bandwidthMiBps: 5)
    #expect(all.flags == always.union([.nonSharedDisk, .unsafe, .autoConverge, .postcopy]))
    #expect(MigrationRequest(copyDisks: ["vda"]).flags == always.union(.nonSharedDisk))
    #expect(DefinitionScope([.live, .config]).libvirt.rawValue == DomainModification([.live, .config]).rawValue)
    #expect(DefinitionScope.config.libvirt.rawValue == DomainModification.config.rawValue)
}

@Test func aJobOfNoKindIsNoJob() {
    #expect(MigrationJob(JobStats(type: .none)) == nil)
    var stats = JobStats(type: .completed)
    stats.downtimeMs = 42
    stats.timeElapsedMs = 900
    #expect(MigrationJob(stats) == MigrationJob(timeElapsedMs: 900, downtimeMs: 42))
}
