#!/usr/bin/env bash
# transit_wmata.sh -- score cityd's arrival predictions on the real WMATA
# recording (see transit_wmata.py for the method), beside the timetable and
# schedule-deviation propagation computed on the same replay.
#
#   tests/eval/transit_wmata.sh [--noise-m 15] [--dump rows.csv]
#
# Needs ../shared/data (not part of the repository); skips without it.
set -euo pipefail
cd "$(dirname "$0")/../.."
DATA=${WMATA_DATA:-../shared/data/transit/wmata_2026_D40_C53_D96}
if [ ! -d "$DATA/gtfs" ]; then
    echo "transit_wmata: skipped: $DATA not present (evaluation data lives outside the repository)"
    exit 0
fi
BIN=${BIN:-bin}
[ -x "$BIN/cityd" ] || make --no-print-directory all >/dev/null
tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done; rm -rf "$tmp"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

rport=$(free_port)
redis-server --port "$rport" --bind 127.0.0.1 --dir "$tmp" --save "" --appendonly no \
    --daemonize no --logfile "$tmp/redis.log" & pids+=($!)
echo "eval-sensor sensor eval" > "$tmp/keys.conf"
cport=$(free_port)
"$BIN/cityd" -o server.listen=127.0.0.1:$cport -o redis.url=redis://127.0.0.1:$rport \
    -o auth.keys_file="$tmp/keys.conf" -o transit.gtfs_dir="$DATA/gtfs" \
    -o clock.mode=replay -o log.level=warn 2>"$tmp/cityd.log" & pids+=($!)
for _ in $(seq 1 300); do
    code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$cport/v1/transit/trip-updates" || true)
    [ "$code" = 200 ] && break
    sleep 0.05
done
[ "$code" = 200 ] || { echo "transit_wmata: cityd did not come up" >&2; cat "$tmp/cityd.log" >&2; exit 1; }
python3 tests/eval/transit_wmata.py --base "http://127.0.0.1:$cport" --key eval-sensor \
    --data "$DATA" "$@"
