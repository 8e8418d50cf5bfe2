// The planner benchmark's fleet, shared with bench/picture: N instances over 1,000 hosts in 10
// fault domains; 5 % of the instances are out of place (pinned to a host they are not on), one
// host is drained, 2 % have config drift, spread groups of three, a few unmanaged domains.
import Placement

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
