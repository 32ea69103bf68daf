#!/usr/bin/env bash
# bench_feed.sh -- the public TripUpdates feed at city scale for `make bench`
# (run by run.sh, which exports BENCH_REDIS_PORT and BIN): per-request time
# of GET /v1/transit/trip-updates (JSON and protobuf, live and at= views)
# and /v1/health latency while clients loop on the feed, with 2,500 (the
# demo city's fleet) and 16,000 buses. See feed_bench.py.
# Standalone: BENCH_REDIS_PORT=<port of a scratch Redis> tests/bench/bench_feed.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
: "${BENCH_REDIS_PORT:?run through tests/bench/run.sh}"
BIN=${BIN:-bin}
SIZES=${BENCH_FEED_BUSES:-2500 16000}
tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done; rm -rf "$tmp"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

redis-cli -p "$BENCH_REDIS_PORT" -n 14 flushdb >/dev/null
echo "bench-sensor sensor bench" >"$tmp/keys.conf"
port=$(free_port)
"$BIN/cityd" -o server.listen=127.0.0.1:$port -o redis.url=redis://127.0.0.1:$BENCH_REDIS_PORT/14 \
    -o auth.keys_file="$tmp/keys.conf" -o clock.mode=replay -o log.level=warn \
    2>"$tmp/cityd.log" & pids+=($!)
for _ in $(seq 1 300); do
    code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/v1/transit/trip-updates" || true)
    [ "$code" = 200 ] && break
    sleep 0.05
done
[ "$code" = 200 ] || { echo "bench_feed: cityd did not come up" >&2; cat "$tmp/cityd.log" >&2; exit 1; }
echo "== transit trip-updates feed ($(nproc) cores)"
python3 tests/bench/feed_bench.py "$port" $SIZES
echo "   (cityd peak RSS $(awk '/VmHWM/ {print $2/1024 " MiB"}' /proc/${pids[0]}/status))"
redis-cli -p "$BENCH_REDIS_PORT" -n 14 flushdb >/dev/null
