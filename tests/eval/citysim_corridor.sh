#!/usr/bin/env bash
# citysim_corridor.sh -- evaluation: nandajie under the real Bentonville
# peak-hour counts, simulated by citysim with five timings:
#   all offsets zero                  citysim's default (corridor rules, offsets 0)
#   cityd green-wave plan             POST corridors/nandajie/greenwave with a
#                                     speed range, then citysim --plan
#   cityd fixed closed loop           signals.mode=fixed, no plan (design flows)
#   cityd fixed closed loop + plan    the same with that green-wave plan activated
#   cityd adaptive                    signals.mode=adaptive, four detector feeds:
#                                     stop-line counts every 15 min (--no-queues) or
#                                     every minute (--count-interval 60), each without
#                                     and with the residual queues (docs/signals.md)
# Every cityd runs on the replay clock (-o clock.mode=replay: the simulated
# instants are its now), and each closed-loop run gets a fresh cityd and
# Redis (started and stopped by citysim_corridor.py, which also maps and
# scales the counts). Skips when ../shared/data is absent.
#
#   tests/eval/citysim_corridor.sh            (SEEDS=5 by default)
# A subset while developing: LEVELS=light,near,peak (prefixes) and
# TIMINGS=substrings of the timing names, e.g.
#   CORRIDORS=beimalu LEVELS=light TIMINGS="1-min counts + queues" tests/eval/citysim_corridor.sh
# Another map's corridor (cityd and citysim both load MAP), e.g. the held-out
# synthetic corridor of docs/citysim.md:
#   bin/citysim gen-city --out build/c000 --lots 20 --bays 600 --signals 6 --buses 20 --seed 1
#   MAP=build/c000 CORRIDORS=c000 tests/eval/citysim_corridor.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${BIN:-bin}
DATA=${DATA:-../shared/data/signals/bentonville_ar_tmc_15min_2025-11-16_22.csv}
SEEDS=${SEEDS:-5}
if [ ! -f "$DATA" ]; then
    echo "citysim_corridor: skipped ($DATA absent)"
    exit 0
fi
[ -x "$BIN/cityd" ] && [ -x "$BIN/citysim" ] || make --no-print-directory all >/dev/null
# CORRIDORS: nandajie (the corridor the adaptive rules were developed on)
# and beimalu (a check they were not tuned to it: other phasing, spacing
# and count mapping).
for cor in ${CORRIDORS:-nandajie beimalu}; do
    echo "== citysim: $cor, Bentonville peak hour (mean of $SEEDS seeds)"
    python3 tests/eval/citysim_corridor.py --citysim "$BIN/citysim" --cityd "$BIN/cityd" \
        --data "$DATA" --map "${MAP:-maps/yantai}" --seeds "$SEEDS" --corridor "$cor" \
        --levels "${LEVELS:-}" --timings "${TIMINGS:-}"
done
