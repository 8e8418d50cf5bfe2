// Phase benchmark of `loadPlacement` on one file: CPU seconds of each phase, best of N rounds.
//
//   parse     YAMLParser.parseDocuments: libyaml's events into a NodeStore
//   read      PlacementDocument.fastDecoded: what the loader does with a valid document
//   decode    YAMLNodeDecoder: what it does with any other (every diagnostic comes from here);
//             timed for comparison, not part of a valid file's load
//   merge     Merger.merge
//   declared  Merger.declaredNames
//   validate  validate(_:declared:)
//   load      the whole loadPlacement (the phases but decode, plus sorting and freeing)
//
// Run it with `bench/load --phases [ROUNDS]`, which generates bench/out/fleet-10k.yaml and
// builds this file with the sources of YAMLDecoding and Placement in release settings (so it
// sees their internals). By hand, from the repository:
//
//   export PATH=/opt/swift/usr/bin:$PATH; out=$(mktemp -d)
//   swiftc -O -wmo -parse-as-library -package-name virtplace -module-name YAMLDecoding \
//       -emit-module -emit-library -static -I Sources/CYAML Sources/YAMLDecoding/*.swift \
//       -o $out/libYAMLDecoding.a -emit-module-path $out/YAMLDecoding.swiftmodule
//   swiftc -O -wmo -parse-as-library -package-name virtplace -module-name LoadPhases \
//       -I Sources/CYAML -I $out bench/load-phases.swift Sources/Placement/*.swift \
//       -L$out -lYAMLDecoding -lyaml -o $out/load-phases
//   $out/load-phases bench/out/fleet-10k.yaml 5
//
// `load-phases FILE ROUNDS PHASE` repeats one phase (parse, read, decode, merge, validate or
// load) on inputs prepared once, for a profiler: `perf record -g $out/load-phases … 20 read`.
// The machine is shared: compare CPU seconds, best of several rounds, never wall time.

import Foundation
import YAMLDecoding

@main
enum LoadPhases {
    /// CPU seconds this process has used.
    static func cpu() -> Double {
        var t = timespec()
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t)
        return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
    }

    static func main() {
        let arguments = CommandLine.arguments
        guard arguments.count >= 2, let data = FileManager.default.contents(atPath: arguments[1]) else {
            print("usage: load-phases FILE [ROUNDS [PHASE]]")
            exit(2)
        }
        let rounds = arguments.count >= 3 ? Int(arguments[2]) ?? 5 : 5
        let bytes = Array(data)
        let file = arguments[1]
        if arguments.count >= 4 {
            repeatPhase(arguments[3], bytes: bytes, file: file, rounds: rounds)
            return
        }
        let phases = ["parse", "read", "decode", "merge", "declared", "validate", "load"]
        var best = [Double](repeating: .infinity, count: phases.count)
        var counts = (unread: 0, decoded: 0, findings: 0, loaded: 0)
        for _ in 0..<rounds {
            var times: [Double] = []
            var t0 = cpu()
            func lap() {
                let t1 = cpu()
                times.append(t1 - t0)
                t0 = t1
            }
            let roots: [YAMLNode]
            do { roots = try YAMLParser.parseDocuments(bytes, file: file) } catch {
                print(error)
                exit(1)
            }
            lap()
            let read = roots.map { PlacementDocument.fastDecoded(from: $0) }
            lap()
            let decoded = roots.map { YAMLNodeDecoder().decode(PlacementDocument.self, from: $0, file: file) }
            lap()
            var documents: [LoadedDocument] = []
            for (root, result) in zip(roots, decoded) {
                if let value = result.value { documents.append(LoadedDocument(file: file, root: root, value: value)) }
            }
            var merger = Merger(documents: documents)
            merger.merge()
            lap()
            let names = merger.declaredNames()
            lap()
            let findings = validate(merger.spec, declared: names)
            lap()
            let loaded = loadPlacement([PlacementSource(name: file, bytes: bytes)])
            lap()
            counts = (read.filter { $0 == nil }.count, decoded.reduce(0) { $0 + $1.diagnostics.count },
                      findings.count, loaded.diagnostics.count)
            for (i, t) in times.enumerated() { best[i] = min(best[i], t) }
        }
        print("file: \(file) (\(bytes.count) bytes); CPU seconds, best of \(rounds)")
        for (name, t) in zip(phases, best) {
            print(name.padding(toLength: 10, withPad: " ", startingAt: 0), String(format: "%.3f", t))
        }
        print("documents left to the decoder \(counts.unread); diagnostics: decode \(counts.decoded), "
              + "validate \(counts.findings), load \(counts.loaded)")
    }

    /// Runs one phase `rounds` times on inputs prepared once; prints the best CPU time.
    static func repeatPhase(_ phase: String, bytes: [UInt8], file: String, rounds: Int) {
        guard let roots = try? YAMLParser.parseDocuments(bytes, file: file) else {
            print("the file does not parse")
            exit(1)
        }
        let documents = roots.compactMap { root in
            YAMLNodeDecoder().decode(PlacementDocument.self, from: root, file: file).value.map {
                LoadedDocument(file: file, root: root, value: $0)
            }
        }
        var merger = Merger(documents: documents)
        merger.merge()
        let names = merger.declaredNames()
        var best = Double.infinity
        var sink = 0
        for _ in 0..<rounds {
            let t0 = cpu()
            switch phase {
            case "parse": sink += (try? YAMLParser.parseDocuments(bytes, file: file))?.count ?? 0
            case "read": sink += roots.map { PlacementDocument.fastDecoded(from: $0)?.instances?.count ?? 0 }.reduce(0, +)
            case "decode":
                sink += roots.map { YAMLNodeDecoder().decode(PlacementDocument.self, from: $0, file: file).diagnostics.count }.reduce(0, +)
            case "merge":
                var again = Merger(documents: documents)
                again.merge()
                sink += again.spec.instances.count
            case "validate": sink += validate(merger.spec, declared: names).count
            case "load": sink += loadPlacement([PlacementSource(name: file, bytes: bytes)]).diagnostics.count
            default:
                print("unknown phase '\(phase)' (parse, read, decode, merge, validate, load)")
                exit(2)
            }
            best = min(best, cpu() - t0)
        }
        print(phase, String(format: "%.3f", best), "best of \(rounds)", sink)
    }
}
