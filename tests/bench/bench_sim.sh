#!/usr/bin/env bash
# bench_sim.sh -- citysim's speed: the traffic model on a 10-intersection
# corridor at 1,000 veh/h per direction for one simulated hour (target:
# under 50 ms), beside the same model on one intersection measured in the
# same run; then `citysim run` end to end on the demo corridor (process
# start, map and loads included) beside `citysim --version` (process start
# alone).
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${BIN:-bin}
mkdir -p build/bench
cc -O2 -std=c11 -D_GNU_SOURCE -Iinclude -o build/bench/sim_bench tests/bench/sim_bench.c \
    build/obj/libcityd.a -lm
echo "== citysim traffic model (median of 7 runs)"
build/bench/sim_bench

# End to end: best of 5 wall times in ms.
best_ms() {
    python3 - "$@" <<'PY'
import subprocess, sys, time
best = None
for _ in range(5):
    t = time.perf_counter()
    subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    d = (time.perf_counter() - t) * 1e3
    best = d if best is None or d < best else best
print(f"{best:.1f}")
PY
}
run_ms=$(best_ms "$BIN/citysim" run --map maps/yantai --corridor nandajie \
    --loads tests/fixtures/loads/nandajie_pm.csv --duration 3600 --seed 1)
start_ms=$(best_ms "$BIN/citysim" --version)
printf '%-44s %14s %14s %8s\n' "figure" "citysim run" "process start" "ratio"
printf '%-44s %14s %14s %8s\n' "nandajie 8 signals 1 h end to end, ms" "$run_ms" "$start_ms" \
    "$(python3 -c "print(f'{$run_ms/$start_ms:.2f}')")"
