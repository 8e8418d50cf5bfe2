import Engine
import Testing
@testable import VirtPlaceCLI

// The one place outcomes and errors become exit codes (SPEC.md's table): each case against
// the number the table gives it.

@Test func passOutcomesMapToTheSpecsExitCodes() {
    #expect(ExitCode(PassOutcome.success).rawValue == 0)
    #expect(ExitCode(PassOutcome.incomplete).rawValue == 3)
    var pass = ReconcilePassResult()
    pass.outcome = .success
    #expect(ExitCode(pass) == .success)
    pass.outcome = .incomplete
    #expect(ExitCode(pass) == .partial)
    pass.outcome = nil
    pass.error = EngineError.locked(pid: 42, since: "now", host: "here")
    #expect(ExitCode(pass) == .failure, "the lock held: nothing changed")
}

@Test func errorsMapToAMessageWithoutPrefixAndTheirExitCode() {
    let cases: [(any Error, ExitCode, String)] = [
        (CLIError(message: "no host answered"), .failure, "no host answered"),
        (ReportedFailure(summary: "2 errors; nothing was changed"), .failure, "2 errors; nothing was changed"),
        (EngineError.locked(pid: 42, since: "now", host: "here"), .failure, "locked by PID 42"),
        (PassError.declined("apply cancelled: nothing was changed"), .failure, "apply cancelled"),
        (PassError.stalePlan(changes: ["web: gone"], afterRecovery: false), .failure, "the plan is stale"),
        // Recovery had changed hosts before the plan was found stale: not "nothing changed".
        (PassError.stalePlan(changes: ["web: gone"], afterRecovery: true), .partial, "the plan is stale"),
    ]
    for (error, code, start) in cases {
        let info = MessageInfo(error)
        #expect(info.exitCode == code, "\(error)")
        #expect(info.message.hasPrefix(start) && !info.message.hasPrefix("error:"), "\(info.message)")
    }
}
