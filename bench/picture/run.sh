#!/bin/sh
# Picture benchmark: builds the Placement module in release mode with SwiftPM, compiles
# bench/picture/main.swift with the planner benchmark's fleet (bench/plan/workload.swift) against
# it with -O, and runs it. Usage: bench/picture/run.sh [RUNS]
# Prints the time and size of `plan -o svg` and `plan -o html` for 10,000 instances on 1,000
# hosts beside the plan's JSON (its baseline), as ratios; exits 1 when either takes more than
# 1 s or 2 MiB.
set -eu
cd "$(dirname "$0")/../.."
. bench/lib/placement-bench.sh
placement_bench PictureBench picture-bench bench/plan/workload.swift bench/picture/main.swift
exec bench/out/picture-bench "$@"
