#!/usr/bin/env bash
# transit_tc.sh -- score cityd on TransitClock's raw WMATA traces (S2, 3T
# with a detour, two 5A starting in a layover) against their truth files,
# and on S2 against TransitClock's own predictions (see transit_tc.py).
#
#   tests/eval/transit_tc.sh [--strip none|trip|all] [TRACE ...]
#
# Needs ../shared/data (not part of the repository); skips without it.
set -euo pipefail
cd "$(dirname "$0")/../.."
DATA=${TC_DATA:-../shared/data/transit/wmata_transitclock}
if [ ! -d "$DATA/avl" ]; then
    echo "transit_tc: skipped: $DATA not present (evaluation data lives outside the repository)"
    exit 0
fi
strip=none
if [ "${1:-}" = --strip ]; then strip=$2; shift 2; fi
traces=("$@")
[ ${#traces[@]} -gt 0 ] || traces=(S2_2113 3T_3757 5A_8062 5A_8087)
BIN=${BIN:-bin}
[ -x "$BIN/cityd" ] || make --no-print-directory all >/dev/null
tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done; rm -rf "$tmp"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
echo "eval-sensor sensor eval" > "$tmp/keys.conf"
for tr in "${traces[@]}"; do
    route=${tr%%_*}
    rport=$(free_port)
    redis-server --port "$rport" --bind 127.0.0.1 --dir "$tmp" --save "" --appendonly no \
        --daemonize no --logfile "$tmp/redis.log" & rpid=$!
    cport=$(free_port)
    "$BIN/cityd" -o server.listen=127.0.0.1:$cport -o redis.url=redis://127.0.0.1:$rport \
        -o auth.keys_file="$tmp/keys.conf" -o transit.gtfs_dir="$DATA/gtfs_$route" \
        -o clock.mode=replay -o log.level=warn 2>"$tmp/cityd.log" & cpid=$!
    pids=("$cpid" "$rpid")
    for _ in $(seq 1 300); do
        code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$cport/v1/transit/trip-updates" || true)
        [ "$code" = 200 ] && break
        sleep 0.05
    done
    [ "$code" = 200 ] || { echo "transit_tc: cityd did not come up" >&2; cat "$tmp/cityd.log" >&2; exit 1; }
    python3 tests/eval/transit_tc.py --base "http://127.0.0.1:$cport" --key eval-sensor \
        --data "$DATA" --trace "$tr" --strip "$strip"
    kill "$cpid" "$rpid"; wait "$cpid" "$rpid" 2>/dev/null || true
    pids=()
done
