// Planner benchmark: planning time for a large fleet, and how it scales.
// Workload: bench/plan/workload.swift. Only `makePlan` is timed, after the inputs are built.
// Built and run by bench/plan/run.sh (release, whole-module).
import Placement
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

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
