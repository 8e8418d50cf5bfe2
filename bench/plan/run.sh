#!/bin/sh
# Planner benchmark: builds the Placement module in release mode with SwiftPM, compiles
# bench/plan/main.swift against it with -O, and runs it. Usage: bench/plan/run.sh [RUNS]
# Prints the best and median planning time for 10,000 and 20,000 instances and their ratio;
# exits 1 when 10k takes more than 200 ms or the ratio exceeds 2.3.
set -eu
cd "$(dirname "$0")/../.."
. bench/lib/placement-bench.sh
placement_bench PlanBench plan-bench bench/plan/workload.swift bench/plan/main.swift
exec bench/out/plan-bench "$@"
