// Times parsing and decoding a generated placement file of N instances (10,000 by default,
// about 1.8 MiB).
// Compiled into the YAMLDecoding module by `bench/yaml-bench`; not part of the package.
#if canImport(Glibc)
import Glibc
#endif

private struct BenchDevice: Decodable {
    var type: String
    var pool: String?
    var volume: String?
    var boot: Bool?
    var network: String?
    var mac: String?
}

private struct BenchConfig: Decodable {
    var vcpus: Int?
    var memoryMiB: Int?
    var autostart: Bool?
    var tags: [String: String]?
}

private struct BenchInstance: Decodable {
    var host: Located<String>?
    var spread: String?
    var profiles: [String]?
    var config: BenchConfig?
    var devices: [String: BenchDevice]?
    var state: String?
    var moves: [String]?
}

private struct BenchHost: Decodable {
    var uri: String
    var faultDomain: String?
    var labels: [String: String]?
}

private struct BenchPlacement: Decodable {
    var apiVersion: String
    var kind: String
    var hosts: [String: BenchHost]
    var instances: [String: BenchInstance]
}

private func generate(instances: Int) -> [UInt8] {
    var text = "apiVersion: virtplace/v1\nkind: Placement\nhosts:\n"
    for host in 0..<20 {
        text += "  host\(host):\n    uri: qemu+tcp://10.0.0.\(host)/system\n    faultDomain: fd-\(host % 4)\n    labels: {rack: r\(host % 5)}\n"
    }
    text += "instances:\n"
    for index in 0..<instances {
        text += """
              web-\(index):
                host: host\(index % 20)
                profiles: [small, lan]
                config: {memoryMiB: 256, autostart: true}
                devices:
                  root: {type: disk, pool: shared, volume: web-\(index).qcow2}
                moves: [live, reboot]

            """
    }
    return Array(text.utf8)
}

/// CPU time of this thread: what the work costs, whatever else the machine is doing.
private func now() -> Double {
    var spec = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &spec)
    return Double(spec.tv_sec) + Double(spec.tv_nsec) / 1e9
}

@main
struct YAMLBench {
    static func main() {
        let count = CommandLine.arguments.dropFirst().first.flatMap { Int($0) } ?? 10_000
        let bytes = generate(instances: count)
        var best = (parse: Double.infinity, total: Double.infinity)
        for _ in 0..<5 {
            let start = now()
            guard let documents = try? YAMLParser.parseDocuments(bytes, file: "bench.yaml"), let root = documents.first else {
                print("parse failed")
                return
            }
            let parsed = now()
            let decoded = YAMLNodeDecoder().decode(BenchPlacement.self, from: root, file: "bench.yaml")
            let end = now()
            guard decoded.diagnostics.isEmpty, decoded.value?.instances.count == count else {
                print("decode failed: \(decoded.diagnostics.prefix(3).map(\.formatted))")
                return
            }
            best = (min(best.parse, parsed - start), min(best.total, end - start))
        }
        let megabytes = Double(bytes.count) / 1_048_576
        print("instances: \(count), size: \(format2(megabytes)) MiB")
        print("parse: \(ms(best.parse)) ms, parse+decode: \(ms(best.total)) ms (CPU time, best of 5)")
    }

    static func ms(_ seconds: Double) -> String { format2(seconds * 1000) }
    static func format2(_ value: Double) -> String { String(Double(Int(value * 100)) / 100) }
}
