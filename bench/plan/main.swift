// Planner benchmark: planning time for a large fleet, and how it scales.
// Workload: N instances over 1,000 hosts in 10 fault domains; 5 % of the instances are out of
// place (pinned to a host they are not on), one host is drained, 2 % have config drift, spread
// groups of three, a few unmanaged domains. Only `makePlan` is timed, after the inputs are built.
// Built and run by bench/plan/run.sh (release, whole-module).
import Placement
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

struct Workload {
    let desired: PlacementSpec
    let observed: ObservedFleet
}

func pad(_ n: Int, _ width: Int) -> String {
    let s = String(n)
    return String(repeating: "0", count: max(0, width - s.count)) + s
}

func workload(instances: Int, hosts hostCount: Int, faultDomains: Int) -> Workload {
    let perHost = instances / hostCount
    var hosts: [ObservedHost] = []
    var hostSpecs: [String: HostSpec] = [:]
    var specs: [String: InstanceSpec] = [:]
    let hostName = { (h: Int) in "host-\(pad(h, 4))" }
    var domainsByHost = [[ObservedDomain]](repeating: [], count: hostCount)
    for i in 0..<instances {
        let name = "vm-\(pad(i, 5))"
        let home = i / perHost
        let slot = i % perHost
        var located = home
        var inst = InstanceSpec()
        switch i % 10 {
        case 0...3:
            inst.host = hostName(home)
            if i % 20 == 1 { located = (home + 37) % hostCount }   // 5 %: out of place
        case 4...6:
            inst.faultDomain = "fd-\(home % faultDomains)"
        case 7:
            inst.spread = "sg-\(home / 3)-\(slot)"
        default:
            break
        }
        if i % 50 == 3 { inst.config.vcpus = 4 }
        if i % 25 == 0 { inst.config.tags = ["tier": "web"] }
        specs[name] = inst
        let mac = "52:54:00:\(pad(i / 10000, 2)):\(pad((i / 100) % 100, 2)):\(pad(i % 100, 2))"
        domainsByHost[located].append(ObservedDomain(
            name: name, uuid: "00000000-0000-4000-8000-\(pad(i, 12))", state: i % 7 == 0 ? "shutoff" : "running",
            autostart: true, vcpus: 2, maxVcpus: 8, memoryMiB: 4096,
            disks: [ObservedDisk(target: "vda", sourceType: "volume", pool: "shared", volume: "\(name).qcow2", bootOrder: 1)],
            nics: [ObservedNIC(type: "network", mac: mac, network: "default")],
            fleet: "bench", tags: i % 25 == 0 ? ["tier": "web"] : [:], xmlDigest: "digest-\(i)"))
    }
    for h in 0..<hostCount {
        let name = hostName(h)
        var domains = domainsByHost[h]
        if h % 10 == 0 {
            domains.append(ObservedDomain(name: "stray-\(pad(h, 4))", uuid: "stray-\(h)", state: "running", vcpus: 1, memoryMiB: 1024))
        }
        hosts.append(ObservedHost(
            name: name, uri: "qemu+tcp://\(name)/system", reachable: true, faultDomain: "fd-\(h % faultDomains)",
            capacity: ObservedCapacity(vcpus: 64, memoryMiB: 262_144), cpuModel: "Skylake-Server",
            pools: [ObservedPool(name: "shared", type: "netfs", path: "/var/lib/shared", active: true),
                    ObservedPool(name: "local", type: "dir", path: "/var/lib/local", active: true)],
            networks: [ObservedNetwork(name: "default", active: true, bridge: "virbr0")],
            domains: domains))
        hostSpecs[name] = HostSpec(uri: "qemu+tcp://\(name)/system", faultDomain: "fd-\(h % faultDomains)",
                                   state: h == 0 ? .drained : .active)
    }
    var policy = PolicySpec()
    policy.parallel = ParallelSpec(total: 8, perHost: 2)
    let desired = PlacementSpec(metadata: MetadataSpec(name: "bench"), policy: policy, hosts: hostSpecs, instances: specs)
    return Workload(desired: desired, observed: ObservedFleet(hosts: hosts))
}

/// Best and median of `runs` timed plans, seconds; the plan of the last run.
func measure(_ w: Workload, runs: Int) -> (best: Double, median: Double, plan: Plan) {
    var times: [Double] = []
    var plan = makePlan(desired: w.desired, observed: w.observed)   // warm-up
    let clock = ContinuousClock()
    for _ in 0..<runs {
        let start = clock.now
        plan = makePlan(desired: w.desired, observed: w.observed)
        let d = clock.now - start
        times.append(Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18)
    }
    times.sort()
    return (times[0], times[times.count / 2], plan)
}

func fmt(_ seconds: Double) -> String {
    let ms = (seconds * 10_000).rounded() / 10
    return "\(ms) ms"
}

let runs = Int(CommandLine.arguments.dropFirst().first ?? "") ?? 7
var results: [(Int, Double)] = []
for n in [10_000, 20_000] {
    let w = workload(instances: n, hosts: 1_000, faultDomains: 10)
    let (best, median, plan) = measure(w, runs: runs)
    results.append((n, best))
    print("\(n) instances, 1000 hosts: best \(fmt(best)), median \(fmt(median)) over \(runs) runs")
    print("  \(summaryLine(plan)) \(plan.summary.waves) waves")
}
let ratio = results[1].1 / results[0].1
print("ratio 20k/10k: \((ratio * 100).rounded() / 100)")
let ok = results[0].1 <= 0.2 && ratio <= 2.3
print(ok ? "OK: 10k ≤ 200 ms and ratio ≤ 2.3" : "OVER BUDGET: want 10k ≤ 200 ms and ratio ≤ 2.3")
if !ok { exit(1) }
