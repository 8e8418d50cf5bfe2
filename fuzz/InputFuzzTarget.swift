// libFuzzer entry point for the saved-plan and snapshot readers (`readPlanFile`,
// `readSnapshotFile`): whatever the bytes, no crash, no trap, well-formed diagnostics, and
// what is accepted is sound: it reads back to the same value, and the checks it passed hold.
// Compiled into the Placement module itself by `fuzz/run plan|snapshot`; not part of the package.
import Foundation
import YAMLDecoding

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    #if FUZZ_SNAPSHOT
    fuzzSnapshot(bytes)
    #else
    fuzzPlan(bytes)
    #endif
    return 0
}

private func fuzzPlan(_ bytes: [UInt8]) {
    let result = readPlanFile(bytes, file: "fuzz.json", allowTestDriver: true)
    checkDiagnostics(result.diagnostics, file: "fuzz.json")
    let errors = result.diagnostics.contains { $0.severity == .error }
    require((result.plan == nil) == errors, "a plan together with errors, or neither")
    guard let plan = result.plan else { return }
    require(plan.computedContentDigest() == plan.contentDigest, "an accepted plan whose digest does not match")
    require(!plan.hosts.isEmpty && Set(plan.hosts.map(\.name)).count == plan.hosts.count, "hosts empty or listed twice")
    require(Set(plan.actions.map(\.instance)).count == plan.actions.count, "an instance with two actions")
    for action in plan.actions { require((0...InputBounds.maxDomains).contains(action.wave), "wave \(action.wave)") }
    // Written again, it reads back to the same plan.
    guard let again = try? encodePlan(plan) else { return require(false, "an accepted plan that cannot be encoded") }
    let reread = readPlanFile(Array(again), file: "again.json", allowTestDriver: true)
    require(reread.plan == plan, "the plan does not read back: \(reread.diagnostics.map(\.formatted))")
    // Without the test driver, nothing more is accepted.
    let strict = readPlanFile(bytes, file: "fuzz.json", allowTestDriver: false)
    require(strict.plan == nil || strict.plan == plan, "the stricter reading accepts something else")
}

private func fuzzSnapshot(_ bytes: [UInt8]) {
    let result = readSnapshotFile(bytes, file: "fuzz.json", allowTestDriver: true)
    checkDiagnostics(result.diagnostics, file: "fuzz.json")
    let errors = result.diagnostics.contains { $0.severity == .error }
    require((result.fleet == nil) == errors, "a fleet together with errors, or neither")
    guard let fleet = result.fleet else { return }
    require(Set(fleet.hosts.map(\.name)).count == fleet.hosts.count, "a host listed twice")
    var domains = 0
    for host in fleet.hosts {
        require(host.capacity.vcpus >= 0 && host.capacity.memoryMiB >= 0, "negative capacity")
        require(Set(host.domains.map(\.name)).count == host.domains.count, "a domain listed twice")
        domains += host.domains.count
        for d in host.domains {
            require(d.vcpus >= 0 && d.memoryMiB >= 0 && d.memoryMiB <= InputBounds.maxMemoryMiB, "domain size")
            require(ObservedDomain.states.contains(d.state), "state \(d.state)")
        }
    }
    require(domains <= InputBounds.maxDomains, "\(domains) domains")
    // Written again, it reads back to the same fleet.
    guard let again = try? fleet.jsonData() else { return require(false, "an accepted snapshot that cannot be encoded") }
    let reread = readSnapshotFile(Array(again), file: "again.json", allowTestDriver: true)
    require(reread.fleet == fleet, "the snapshot does not read back: \(reread.diagnostics.map(\.formatted))")
    // Planning against it does not trap either (against a placement of its own hosts).
    var spec = PlacementSpec(metadata: .init(name: "fuzz"))
    for host in fleet.hosts { spec.hosts[host.name] = HostSpec(uri: "qemu:///system") }
    for host in fleet.hosts { for d in host.domains.prefix(4) where isValidName(d.name) {
        spec.instances[d.name] = InstanceSpec(host: fleet.hosts.last?.name)
    } }
    _ = makePlan(desired: spec, observed: fleet)
}

private func require(_ condition: Bool, _ message: String) {
    if !condition { fatalError("fuzz invariant broken: \(message)") }
}

private func checkDiagnostics(_ diagnostics: [Diagnostic], file: String) {
    require(diagnostics == Diagnostic.sortedUnique(diagnostics), "diagnostics not sorted or repeated")
    for diagnostic in diagnostics {
        require(diagnostic.file == file, "file \(diagnostic.file)")
        require(diagnostic.line >= 0 && diagnostic.column >= 0, "position \(diagnostic.line):\(diagnostic.column)")
        require((diagnostic.line == 0) == (diagnostic.column == 0), "half a position \(diagnostic.line):\(diagnostic.column)")
        require(!diagnostic.message.isEmpty, "empty message")
    }
}
