#!/usr/bin/env bash
# bench_cluster.sh -- Redis Cluster figures for `make bench` (run by run.sh):
# nearest with 1-3 cityd on a 3+3 cluster beside the embedded Redis, durable
# observations with wait_replicas 0 and 1, failover time; see cluster_bench.py.
set -euo pipefail
cd "$(dirname "$0")/../.."
# A failure here (no free ports, a cluster that does not form) must not stop
# the other benchmarks of run.sh: say so and go on.
python3 tests/bench/cluster_bench.py --seconds "${DUR:-5}" --conns "${CONNS:-64}" ||
    echo "bench_cluster: failed (see above); the other benchmarks go on" >&2
