// Picture benchmark: the plan of bench/plan's fleet (10,000 instances, 1,000 hosts, 10 fault
// domains) drawn as SVG and as the HTML page, beside the same plan as JSON (`plan -o json`, the
// baseline). Times are of the renderer alone, after the plan is made; best and median of RUNS.
// Built and run by bench/picture/run.sh (release, whole-module).
import Foundation
import Placement

func seconds(_ d: Duration) -> Double { Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18 }

/// Best and median of `runs` renders, seconds, and the bytes of the last one.
func measure(runs: Int, _ body: () -> Int) -> (best: Double, median: Double, bytes: Int) {
    var bytes = body()   // warm-up
    var times: [Double] = []
    let clock = ContinuousClock()
    for _ in 0..<runs {
        let start = clock.now
        bytes = body()
        times.append(seconds(clock.now - start))
    }
    times.sort()
    return (times[0], times[times.count / 2], bytes)
}

func ms(_ s: Double) -> String { "\((s * 10_000).rounded() / 10) ms" }
func mib(_ n: Int) -> String { "\((Double(n) / 1_048_576 * 100).rounded() / 100) MiB" }
func ratio(_ a: Double, _ b: Double) -> String { "\((a / b * 100).rounded() / 100)" }

let runs = Int(CommandLine.arguments.dropFirst().first ?? "") ?? 5
let w = workload(instances: 10_000, hosts: 1_000, faultDomains: 10)
let plan = makePlan(desired: w.desired, observed: w.observed).sealed(desired: w.desired)
let fleet = PictureFleet(desired: w.desired, observed: w.observed)
print("10000 instances, 1000 hosts, 10 fault domains: \(summaryLine(plan))")

let json = measure(runs: runs) { render(plan, format: .json, color: false, verbose: false).utf8.count }
let svg = measure(runs: runs) { renderPicture(plan, fleet: fleet, format: .svg).utf8.count }
let html = measure(runs: runs) { renderPicture(plan, fleet: fleet, format: .html).utf8.count }
let page = renderPicture(plan, fleet: fleet, format: .html)
let folded = page.components(separatedBy: "<details id=\"fold-").count - 1
print("picture: \(page.components(separatedBy: "<g class=\"h").count - 1) host boxes drawn (\(folded) fault domains with folded hosts), \(page.components(separatedBy: "<g class=\"mv k-").count - 1) arrows")
print("format  best        median      size        time/json  size/json")
for (name, r) in [("json", json), ("svg", svg), ("html", html)] {
    print("\(name.padding(toLength: 8, withPad: " ", startingAt: 0))\(ms(r.best).padding(toLength: 12, withPad: " ", startingAt: 0))\(ms(r.median).padding(toLength: 12, withPad: " ", startingAt: 0))\(mib(r.bytes).padding(toLength: 12, withPad: " ", startingAt: 0))\(ratio(r.median, json.median).padding(toLength: 11, withPad: " ", startingAt: 0))\(ratio(Double(r.bytes), Double(json.bytes)))")
}
let ok = html.median < 1.0 && html.bytes < 2 * 1_048_576 && svg.median < 1.0 && svg.bytes < 2 * 1_048_576
print(ok ? "OK: svg and html each under 1 s and 2 MiB" : "OVER BUDGET: want svg and html each under 1 s (median) and 2 MiB")
if !ok { exit(1) }
