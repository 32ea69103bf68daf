#!/usr/bin/env bash
# run.sh -- `make bench`: every figure beside a baseline measured in the
# same run on the same machine. Needs wrk (installed by tools/deps.sh).
#
# Each section prints rows "name | figure | baseline | ratio". Sections of
# later subsystems append their own scripts as tests/bench/bench_*.sh.
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${BIN:-bin}
DUR=${BENCH_SECONDS:-5}
CONNS=${BENCH_CONNS:-64}
tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done; rm -rf "$tmp"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() { for _ in $(seq 1 300); do curl -s -o /dev/null "$1" && return 0; sleep 0.05; done; echo "bench: $1 not answering" >&2; return 1; }
# wrk's "Requests/sec:" figure
wrk_rps() { wrk -t2 -c"$CONNS" -d"${DUR}s" "$@" | awk '/Requests\/sec/ {print $2}'; }
ratio() { python3 -c "import sys; print(f'{float(sys.argv[1])/float(sys.argv[2]):.2f}')" "$1" "$2"; }
row() { printf '%-44s %14s %14s %8s\n' "$@"; }

mkdir -p build/bench
cc -O2 -o build/bench/hello tests/bench/hello.c $(pkg-config --cflags --libs libevent)

rport=$(free_port)
redis-server --port "$rport" --bind 127.0.0.1 --dir "$tmp" --save "" --appendonly yes \
    --appendfsync everysec --daemonize no --logfile "$tmp/redis.log" & pids+=($!)
hport=$(free_port)
build/bench/hello "$hport" & pids+=($!)
cport=$(free_port)
"$BIN/cityd" -o server.listen=127.0.0.1:$cport -o redis.url=redis://127.0.0.1:$rport \
    -o log.level=warn 2>"$tmp/cityd.log" & pids+=($!)
wait_http "http://127.0.0.1:$hport/"
wait_http "http://127.0.0.1:$cport/v1/health"

echo "== HTTP (wrk -t2 -c$CONNS -d${DUR}s, $(nproc) cores)"
row "figure" "cityd" "baseline" "ratio"
base_rps=$(wrk_rps "http://127.0.0.1:$hport/")
health_rps=$(wrk_rps "http://127.0.0.1:$cport/v1/health")
row "GET /v1/health req/s vs evhttp hello-world" "$health_rps" "$base_rps" "$(ratio "$health_rps" "$base_rps")"

export BENCH_REDIS_PORT=$rport BENCH_CITYD_PORT=$cport BENCH_HELLO_PORT=$hport BENCH_HELLO_RPS=$base_rps BIN DUR CONNS
for s in tests/bench/bench_*.sh; do
    [ -e "$s" ] || continue
    bash "$s"
done
