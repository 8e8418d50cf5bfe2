#!/bin/sh
# Planner benchmark: builds the Placement module in release mode with SwiftPM, compiles
# bench/plan/main.swift against it with -O, and runs it. Usage: bench/plan/run.sh [RUNS]
# Prints the best and median planning time for 10,000 and 20,000 instances and their ratio;
# exits 1 when 10k takes more than 200 ms or the ratio exceeds 2.3.
set -eu
cd "$(dirname "$0")/../.."
swift build -c release --target Placement >/dev/null
BIN=$(swift build -c release --show-bin-path)
OUT=bench/out
mkdir -p "$OUT"
# Placement's objects, and YAMLDecoding's (Placement depends on it; libyaml for its C part).
swiftc -O -wmo -module-name PlanBench \
    -I "$BIN/Modules" -I "$BIN" -I Sources/CYAML \
    bench/plan/workload.swift bench/plan/main.swift \
    "$BIN"/Placement.build/*.o "$BIN"/YAMLDecoding.build/*.o \
    -lyaml -o "$OUT/plan-bench"
exec "$OUT/plan-bench" "$@"
