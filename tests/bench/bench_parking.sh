#!/usr/bin/env bash
# bench_parking.sh -- parking figures for `make bench` (run by run.sh):
# nearest-free queries/s and p99 beside the HTTP ceiling and raw GEOSEARCH,
# observation ingest beside pipelined HSET, resident memory. Each size runs
# on its own redis-server and cityd; see parking_bench.py.
set -euo pipefail
cd "$(dirname "$0")/../.."
exec python3 tests/bench/parking_bench.py --seconds "${DUR:-5}" --conns "${CONNS:-64}"
