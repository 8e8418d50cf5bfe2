import Foundation
import Testing
@testable import Placement

// Issue 21: the checks a plan makes before a copy or a start, spread groups that converge,
// leftovers of failed copies; issue 12: no trapping or wrapping capacity arithmetic.

private let MiB: Int64 = 1 << 20

/// A host whose pools report sizes: `space` = free bytes per pool, `volumes` = name → allocation.
func sizedHost(_ name: String, fd: String? = nil, mem: Int = 16384, space: [String: Int64] = [:],
                       volumes: [String: [String: Int64]] = [:], domains: [ObservedDomain] = []) -> ObservedHost {
    var h = host(name, fd: fd, mem: mem, domains: domains)
    h.pools = h.pools.map { pool in
        var p = pool
        p.availableBytes = space[pool.name]
        p.volumes = (volumes[pool.name] ?? [:]).sorted { $0.key < $1.key }.map {
            ObservedVolume(name: $0.key, path: "/pool/\(pool.name)/\($0.key)", capacityBytes: $0.value, allocationBytes: $0.value)
        }
        return p
    }
    return h
}

// MARK: Free space before a copy

@Test func aCopyIntoAPoolWithoutRoomIsBlockedWithTargetSpace() throws {
    let observed = ObservedFleet(hosts: [
        sizedHost("h1", space: ["local": 10_000 * MiB], volumes: ["local": ["vm.qcow2": 100 * MiB]],
                  domains: [dom("vm", state: "shutoff", disks: [localDisk("vm")])]),
        sizedHost("h2", space: ["local": 120 * MiB]),
    ])
    let plan = makePlan(desired: spec(observed, instances: ["vm": InstanceSpec(host: "h2")]), observed: observed)
    let a = try #require(plan.action("vm"))
    #expect(a.kind == .blocked)
    let reason = try #require(a.reasons.first { $0.code == .targetSpace })
    // 100 MiB + 5 % + 64 MiB = 169 MiB > 120 MiB.
    #expect(reason.message.contains("h2 has 120 MiB free in pool local"))
    #expect(reason.message.contains("needs 169 MiB"))
}

@Test func aCopyWithRoomAndMarginGoesAhead() throws {
    let observed = ObservedFleet(hosts: [
        sizedHost("h1", space: ["local": 10_000 * MiB], volumes: ["local": ["vm.qcow2": 100 * MiB]],
                  domains: [dom("vm", state: "shutoff", disks: [localDisk("vm")])]),
        sizedHost("h2", space: ["local": 170 * MiB]),
    ])
    let plan = makePlan(desired: spec(observed, instances: ["vm": InstanceSpec(host: "h2")]), observed: observed)
    #expect(plan.action("vm")?.kind == .cold)
}

@Test func aLiveCopyStorageMoveIsCheckedForSpaceToo() throws {
    let observed = ObservedFleet(hosts: [
        sizedHost("h1", space: ["local": 10_000 * MiB], volumes: ["local": ["vm.qcow2": 1024 * MiB]],
                  domains: [dom("vm", disks: [localDisk("vm")])]),
        sizedHost("h2", space: ["local": 500 * MiB]),
    ])
    let plan = makePlan(desired: spec(observed, instances: ["vm": InstanceSpec(host: "h2")]), observed: observed)
    #expect(plan.action("vm")?.kind == .blocked)
    #expect(plan.codes.contains(.targetSpace))
}

@Test func twoCopiesIntoOnePoolAreCheckedTogether() throws {
    // Each fits alone (100 + 5 + 64 = 169 MiB ≤ 250), both do not (the second needs 105 more).
    let observed = ObservedFleet(hosts: [
        sizedHost("h1", space: ["local": 10_000 * MiB], volumes: ["local": ["a.qcow2": 100 * MiB, "b.qcow2": 100 * MiB]],
                  domains: [dom("a", state: "shutoff", disks: [localDisk("a")]), dom("b", state: "shutoff", disks: [localDisk("b")])]),
        sizedHost("h2", space: ["local": 250 * MiB]),
    ])
    let plan = makePlan(desired: spec(observed, instances: ["a": InstanceSpec(host: "h2"), "b": InstanceSpec(host: "h2")]),
                        observed: observed)
    #expect(plan.action("a")?.kind == .cold)
    let b = try #require(plan.action("b"))
    #expect(b.kind == .blocked)
    #expect(b.reasons.contains { $0.code == .targetSpace && $0.message.contains("other moves of this plan copy") })
}

@Test func aSnapshotWithoutSizesIsNotCheckedForSpace() throws {
    // Old snapshots carry neither free space nor volume lists: nothing to check, no blocker.
    let observed = fourHosts(["h1": [dom("vm", state: "shutoff", disks: [localDisk("vm")])]])
    let plan = makePlan(desired: spec(observed, instances: ["vm": InstanceSpec(host: "h2")]), observed: observed)
    #expect(plan.action("vm")?.kind == .cold)
}

@Test func snapshotsCarryTheSpaceChecksThrough() throws {
    let observed = ObservedFleet(hosts: [
        sizedHost("h1", space: ["local": 10_000 * MiB], volumes: ["local": ["vm.qcow2": 100 * MiB]],
                  domains: [dom("vm", state: "shutoff", disks: [localDisk("vm")])]),
        sizedHost("h2", space: ["local": 120 * MiB]),
    ])
    let reread = try ObservedFleet(jsonData: observed.jsonData())
    let desired = spec(observed, instances: ["vm": InstanceSpec(host: "h2")])
    #expect(makePlan(desired: desired, observed: reread) == makePlan(desired: desired, observed: observed))
    #expect(makePlan(desired: desired, observed: reread).codes.contains(.targetSpace))
}

// MARK: Shared pools that are not shared

@Test func aSharedVolumeMissingOnTheTargetBlocksTheMove() throws {
    let observed = ObservedFleet(hosts: [
        sizedHost("h1", volumes: ["shared": ["vm.qcow2": 10 * MiB]], domains: [dom("vm")]),
        sizedHost("h2", volumes: ["shared": ["other.qcow2": 10 * MiB]]),
    ])
    let plan = makePlan(desired: spec(observed, instances: ["vm": InstanceSpec(host: "h2")]), observed: observed)
    let a = try #require(plan.action("vm"))
    #expect(a.kind == .blocked)
    #expect(a.fallback == nil)
    let reason = try #require(a.reasons.first { $0.code == .targetSharedVolumeMissing })
    #expect(reason.message == "pool shared is listed as shared, but h2 does not have vm.qcow2 that h1 has (disk vda): not the same storage on every host")
}

@Test func aSharedVolumePresentEverywhereMovesLive() throws {
    let observed = ObservedFleet(hosts: [
        sizedHost("h1", volumes: ["shared": ["vm.qcow2": 10 * MiB]], domains: [dom("vm")]),
        sizedHost("h2", volumes: ["shared": ["vm.qcow2": 10 * MiB]]),
    ])
    let plan = makePlan(desired: spec(observed, instances: ["vm": InstanceSpec(host: "h2")]), observed: observed)
    #expect(plan.action("vm")?.kind == .live)
}

@Test func anUnconstrainedMoverAvoidsAHostWithoutTheSharedVolume() throws {
    let observed = ObservedFleet(hosts: [
        sizedHost("h1", volumes: ["shared": ["vm.qcow2": 10 * MiB]], domains: [dom("vm")]),
        sizedHost("h2", mem: 65536, volumes: ["shared": [:]]),
        sizedHost("h3", volumes: ["shared": ["vm.qcow2": 10 * MiB]]),
    ])
    let plan = makePlan(desired: spec(observed, states: ["h1": .drained], instances: ["vm": InstanceSpec()]), observed: observed)
    #expect(plan.action("vm")?.to == "h3")
}

// MARK: Capacity before a start

@Test func aStartThatExceedsTheDeclaredCapacityIsBlocked() throws {
    let observed = ObservedFleet(hosts: [host("h1", domains: [dom("big", state: "shutoff", mem: 512)]), host("h2")])
    let desired = spec(observed, capacity: ["h1": CapacitySpec(memoryMiB: 300)],
                       instances: ["big": InstanceSpec(host: "h1", state: .running)])
    let plan = makePlan(desired: desired, observed: observed)
    let a = try #require(plan.action("big"))
    #expect(a.kind == .blocked)
    #expect(a.steps.isEmpty)
    let reason = try #require(a.reasons.first { $0.code == .startCapacity })
    #expect(reason.message.contains("h1 can hold 300 MiB"))
}

@Test func aStartWithinCapacityIsPlanned() throws {
    let observed = ObservedFleet(hosts: [host("h1", domains: [dom("small", state: "shutoff", mem: 256)]), host("h2")])
    let desired = spec(observed, capacity: ["h1": CapacitySpec(memoryMiB: 300)],
                       instances: ["small": InstanceSpec(host: "h1", state: .running)])
    let plan = makePlan(desired: desired, observed: observed)
    #expect(plan.action("small")?.kind == .start)
}

@Test func aColdMoveThatStartsOnTheTargetIsCheckedAgainstTheTarget() throws {
    let observed = ObservedFleet(hosts: [host("h1", domains: [dom("big", state: "shutoff", mem: 512)]), host("h2")])
    let desired = spec(observed, capacity: ["h2": CapacitySpec(memoryMiB: 300)],
                       instances: ["big": InstanceSpec(host: "h2", state: .running)])
    let plan = makePlan(desired: desired, observed: observed)
    #expect(plan.action("big")?.kind == .blocked)
    #expect(plan.codes.contains(.targetMemory))
}

// MARK: Spread groups converge

/// Plans, applies the plan on paper, plans again: the second plan must be empty.
private func converges(_ desired: PlacementSpec, _ observed: ObservedFleet) -> (first: Plan, second: Plan, after: ObservedFleet) {
    let first = makePlan(desired: desired, observed: observed)
    let after = simulate(first, on: observed)
    return (first, makePlan(desired: desired, observed: after), after)
}

private func membersPerFaultDomain(_ group: [String], _ fleet: ObservedFleet) -> [String: Int] {
    var count: [String: Int] = [:]
    for h in fleet.hosts {
        for d in h.domains where group.contains(d.name) { count[h.faultDomain ?? h.name, default: 0] += 1 }
    }
    return count
}

@Test func aSpreadGroupLargerThanTheFaultDomainsConvergesWithoutBlocking() throws {
    // Three members, two fault domains, all on fd-1 today.
    let observed = ObservedFleet(hosts: [
        host("h1", fd: "fd-1", domains: [dom("g-1"), dom("g-2"), dom("g-3")]),
        host("h2", fd: "fd-2"),
    ])
    let members = ["g-1", "g-2", "g-3"]
    let desired = spec(observed, instances: Dictionary(uniqueKeysWithValues: members.map { ($0, InstanceSpec(spread: "g")) }))
    let (first, second, after) = converges(desired, observed)
    #expect(first.summary.blocked == 0, "\(first.actions.map { ($0.instance, $0.kind, $0.reasons.map(\.code)) })")
    #expect(first.actions.filter { $0.kind == .live }.count == 1)
    #expect(second.actions.isEmpty, "\(second.actions.map { ($0.instance, $0.kind, $0.reasons.map(\.code)) })")
    #expect(membersPerFaultDomain(members, after).values.sorted() == [1, 2])
}

@Test func aSpreadGroupIsSpreadAsEvenlyAsPossible() throws {
    // Four members on three fault domains, two each on fd-1 and fd-2: (2, 2, 0) becomes (2, 1, 1).
    let observed = ObservedFleet(hosts: [
        host("h1", fd: "fd-1", domains: [dom("g-1"), dom("g-2")]),
        host("h2", fd: "fd-2", domains: [dom("g-3"), dom("g-4")]),
        host("h3", fd: "fd-3"),
    ])
    let members = ["g-1", "g-2", "g-3", "g-4"]
    let desired = spec(observed, instances: Dictionary(uniqueKeysWithValues: members.map { ($0, InstanceSpec(spread: "g")) }))
    let (first, second, after) = converges(desired, observed)
    #expect(first.summary.blocked == 0)
    #expect(first.actions.count == 1)
    #expect(second.actions.isEmpty)
    #expect(membersPerFaultDomain(members, after).values.sorted() == [1, 1, 2])
}

@Test func aSpreadMemberThatNoOtherFaultDomainCanTakeStaysWithANote() throws {
    // fd-2 is full: the extra member stays and shares, noted; nothing blocks, nothing churns.
    let observed = ObservedFleet(hosts: [
        host("h1", fd: "fd-1", domains: [dom("g-1"), dom("g-2")]),
        host("h2", fd: "fd-2", mem: 1024, domains: [dom("filler", mem: 1024)]),
    ])
    let desired = spec(observed, instances: ["g-1": InstanceSpec(spread: "g"), "g-2": InstanceSpec(spread: "g")])
    let plan = makePlan(desired: desired, observed: observed)
    #expect(plan.actions.isEmpty, "\(plan.actions.map { ($0.instance, $0.kind, $0.reasons.map(\.code)) })")
    #expect(plan.notes.contains { $0.code == .placeSpreadShared && $0.instance == "g-2" })
}

@Test func spreadStillSeparatesWhenThereAreEnoughFaultDomains() throws {
    let observed = fourHosts(["h1": [dom("a-1")], "h2": [dom("a-2")]])
    let desired = spec(observed, instances: ["a-1": InstanceSpec(spread: "a"), "a-2": InstanceSpec(spread: "a")])
    let (first, second, _) = converges(desired, observed)
    #expect(first.actions.map(\.instance) == ["a-2"])
    #expect(second.actions.isEmpty)
}

// MARK: Leftovers of failed copies

@Test func aLeftoverVirtplaceCreatedIsReusedNotABlocker() throws {
    let observed = ObservedFleet(hosts: [
        sizedHost("h1", volumes: ["local": ["vm.qcow2": 10 * MiB]], domains: [dom("vm", state: "shutoff", disks: [localDisk("vm")])]),
        sizedHost("h2", volumes: ["local": ["vm.qcow2": 3 * MiB]]),
    ])
    let desired = spec(observed, instances: ["vm": InstanceSpec(host: "h2")])
    // Without the journal's word, the volume is someone else's: blocked, never overwritten.
    let strange = makePlan(desired: desired, observed: observed)
    #expect(strange.action("vm")?.kind == .blocked)
    #expect(strange.codes.contains(.targetVolumeExists))
    // virtplace created it for an earlier copy, and no domain uses it: reused, and reported.
    let plan = makePlan(desired: desired, observed: observed, ownVolumes: ["h2/local/vm.qcow2"])
    let a = try #require(plan.action("vm"))
    #expect(a.kind == .cold)
    #expect(a.reasons.contains { $0.code == .targetVolumeLeftover })
    #expect(a.steps.contains(.transferVolume(pool: "local", volume: "vm.qcow2", from: "h1", to: "h2")))
}

@Test func aVolumeVirtplaceCreatedThatADomainUsesStillBlocks() throws {
    let observed = ObservedFleet(hosts: [
        sizedHost("h1", volumes: ["local": ["vm.qcow2": 10 * MiB]], domains: [dom("vm", state: "shutoff", disks: [localDisk("vm")])]),
        sizedHost("h2", volumes: ["local": ["vm.qcow2": 10 * MiB]],
                  domains: [dom("other", state: "shutoff", disks: [localDisk("vm")])]),
    ])
    let plan = makePlan(desired: spec(observed, instances: ["vm": InstanceSpec(host: "h2")]), observed: observed,
                        ownVolumes: ["h2/local/vm.qcow2"])
    #expect(plan.action("vm")?.kind == .blocked)
    #expect(plan.codes.contains(.targetVolumeExists))
}

// MARK: Arithmetic on outside values (issue 12)

@Test(arguments: [Int.max, Int.max / 2 + 1, 1 << 62])
func hugeFootprintsNeitherTrapNorWrapToFits(_ huge: Int) throws {
    // Two domains whose memory sums past Int.max on h2: a wrapping sum would come out
    // negative and "fit" anything there.
    let observed = ObservedFleet(hosts: [
        host("h1", domains: [dom("vm", mem: 1024)]),
        host("h2", mem: Int.max, domains: [dom("x", mem: huge), dom("y", mem: huge)]),
    ])
    let desired = spec(observed, instances: ["vm": InstanceSpec(host: "h2")])
    let plan = makePlan(desired: desired, observed: observed)
    #expect(plan.action("vm")?.kind == .blocked)
    #expect(plan.codes.contains(.targetMemory))
}

@Test func hugeCapacityAndOvercommitDoNotTrap() throws {
    let observed = ObservedFleet(hosts: [
        host("h1", cpus: Int.max, mem: Int.max, domains: [dom("vm", vcpus: Int.max, mem: Int.max)]),
        host("h2", cpus: Int.max, mem: Int.max),
    ])
    let desired = spec(observed, instances: ["vm": InstanceSpec(host: "h2", config: ConfigSpec(vcpus: Int.max, memoryMiB: Int.max))],
                       policy: policy { $0.cpuOvercommit = 1e300 })
    let plan = makePlan(desired: desired, observed: observed)
    #expect(plan.actions.count == 1)
}

@Test func hugeVolumeSizesDoNotTrapTheSpaceCheck() throws {
    let observed = ObservedFleet(hosts: [
        sizedHost("h1", space: ["local": Int64.max],
                  volumes: ["local": ["vm.qcow2": Int64.max, "a.qcow2": Int64.max, "b.qcow2": Int64.max]],
                  domains: [dom("vm", state: "shutoff", disks: [localDisk("vm"), localDisk("a", target: "vdb"), localDisk("b", target: "vdc")])]),
        sizedHost("h2", space: ["local": Int64.max]),
    ])
    let plan = makePlan(desired: spec(observed, instances: ["vm": InstanceSpec(host: "h2")]), observed: observed)
    #expect(plan.action("vm")?.kind == .blocked)
}

@Test func saturatingHelpersHoldAtTheBounds() {
    #expect(saturatingAdd(Int.max, 1) == Int.max)
    #expect(saturatingAdd(Int.min, -1) == Int.min)
    #expect(saturatingSubtract(Int.min, 1) == Int.min)
    #expect(saturatingSubtract(Int.max, -1) == Int.max)
    #expect(saturatingAdd(Int64.max, 5) == Int64.max)
    #expect(copySpaceNeeded([Int64.max, Int64.max]) == Int64.max)
    #expect(copySpaceNeeded([-5]) == copySpaceReserve)
}
