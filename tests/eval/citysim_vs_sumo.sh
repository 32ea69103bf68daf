#!/bin/sh
# citysim against SUMO on three corridors built here (docs/citysim.md,
# "Calibration against SUMO"). SUMO is an evaluation tool, not a test
# dependency: without it the script says so and exits 0.
#   SEEDS=3 DEFAULT_SEEDS=2 tests/eval/citysim_vs_sumo.sh
set -e
cd "$(dirname "$0")/../.."
[ -x bin/citysim ] || make bin/citysim >/dev/null
export SUMO_HOME="${SUMO_HOME:-/usr/share/sumo}"
exec python3 tests/eval/citysim_vs_sumo.py "$@"
