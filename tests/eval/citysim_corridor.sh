#!/usr/bin/env bash
# citysim_corridor.sh -- evaluation: nandajie under the real Bentonville
# peak-hour counts with three timings (all offsets zero, cityd's green-wave
# plan, cityd's adaptive closed loop). Skips when ../shared/data is absent.
# Starts its own redis-server and cityd on free loopback ports and stops
# them at the end. Mapping and scaling: tests/eval/citysim_corridor.py.
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${BIN:-bin}
DATA=../shared/data/signals/bentonville_ar_tmc_15min_2025-11-16_22.csv
SEEDS=${SEEDS:-5}
if [ ! -f "$DATA" ]; then
    echo "citysim_corridor: skipped ($DATA absent)"
    exit 0
fi
tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done; rm -rf "$tmp"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

rport=$(free_port)
redis-server --port "$rport" --bind 127.0.0.1 --dir "$tmp" --save "" --appendonly yes \
    --daemonize no --logfile "$tmp/redis.log" & pids+=($!)
for _ in $(seq 1 100); do redis-cli -p "$rport" ping >/dev/null 2>&1 && break; sleep 0.05; done
echo "eval-engineer engineer eval" > "$tmp/keys.conf"
echo "eval-sensor sensor eval" >> "$tmp/keys.conf"
echo "eval-admin admin eval" >> "$tmp/keys.conf"
cport=$(free_port)
"$BIN/cityd" -o server.listen=127.0.0.1:$cport -o redis.url=redis://127.0.0.1:$rport \
    -o auth.keys_file="$tmp/keys.conf" -o signals.mode=adaptive -o log.level=warn \
    2>"$tmp/cityd.log" & pids+=($!)
for _ in $(seq 1 200); do curl -sf -o /dev/null "http://127.0.0.1:$cport/v1/health" && break; sleep 0.05; done

echo "== citysim: nandajie, Bentonville peak hour, 3 timings (mean of $SEEDS seeds)"
python3 tests/eval/citysim_corridor.py "$BIN/citysim" "$DATA" maps/yantai \
    "http://127.0.0.1:$cport" eval-admin "$SEEDS"
