#!/usr/bin/env bash
# bench_signals.sh -- green-wave optimisation time (POST /v1/signals/greenwave's
# engine) for 5/10/20/40 signals, fixed and with cycle and speed ranges;
# baseline: the same MAXBAND program solved by GLPK branch and bound.
# Target: 20 signals with ranges under 100 ms.
set -euo pipefail
cd "$(dirname "$0")/../.."
mkdir -p build/bench
cc -O2 -std=c11 -D_GNU_SOURCE -Iinclude -o build/bench/maxband_bench tests/bench/maxband_bench.c \
    build/obj/libcityd.a -lglpk -lm
echo "== Green-wave optimisation (equal bands; random arterials, 12 each)"
printf '%-44s %14s %14s %8s\n' "figure" "cityd (DP)" "GLPK MILP" "ratio"
build/bench/maxband_bench
