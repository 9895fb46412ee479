#!/usr/bin/env bash
# Benchmark of the schedule engine: next and previous fire times for 100,000
# mixed schedules (pure C, no server).  Usage: bash bench/schedule.sh [N]
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cc -std=c11 -O2 -I"$top/src" -o "$top/bench/schedule_bench" "$top/bench/schedule_bench.c" \
	"$top/src/schedule_parse.c" "$top/src/schedule_time.c" "$top/src/schedule_describe.c"
"$top/bench/schedule_bench" "${1:-100000}"
