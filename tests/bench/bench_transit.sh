#!/usr/bin/env bash
# bench_transit.sh -- transit figures for `make bench` (run by run.sh, which
# exports BENCH_REDIS_PORT, BENCH_HELLO_RPS, BIN, DUR, CONNS):
#
#   positions ingested/s over HTTP (POST /v1/transit/vehicle-positions,
#     JSON FeedMessages of $BENCH_FEED_SIZE vehicles, every position new,
#     matched and durable in Redis before the reply), beside the rate at
#     which Redis alone takes the same writes pipelined (one HSET and one
#     XADD per position, redis-benchmark -P 64);
#   arrivals queries/s (GET /v1/transit/stops/{id}/arrivals over every
#     stop of the demo city with live buses on it), beside the evhttp
#     hello-world rate.
#
# Its own cityd (clock.mode = replay, the demo city's GTFS) on the shared
# bench Redis, so that the timestamps can run ahead of the wall clock.
set -euo pipefail
cd "$(dirname "$0")/../.."
: "${BENCH_REDIS_PORT:?run through tests/bench/run.sh}"
BIN=${BIN:-bin}
DUR=${DUR:-5}
CONNS=${CONNS:-64}
FEED=${BENCH_FEED_SIZE:-50}
tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done; rm -rf "$tmp"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
ratio() { python3 -c "import sys; print(f'{float(sys.argv[1])/float(sys.argv[2]):.2f}')" "$1" "$2"; }
row() { printf '%-44s %14s %14s %8s\n' "$@"; }
metric() { curl -s "http://127.0.0.1:$port/metrics" | awk -v k="cityd_transit_positions_total{result=\"$1\"}" '$1 == k {print $2}'; }

# Buses on the demo feed's weekday trips around 08:00 on Tuesday
# 2026-02-17 (Asia/Shanghai), each moving one stop along its trip per
# report, 30 s apart; a bus that reached the end of its trip is replaced
# by a new one at its start.
python3 - "$FEED" >"$tmp/ingest.lua" <<'EOF'
import csv, sys
feed = int(sys.argv[1])
g = "maps/yantai/gtfs/"
stops = {r["stop_id"]: (float(r["stop_lon"]), float(r["stop_lat"])) for r in csv.DictReader(open(g + "stops.txt", encoding="utf-8-sig"))}
trips = {r["trip_id"]: r for r in csv.DictReader(open(g + "trips.txt", encoding="utf-8-sig")) if r["service_id"] == "WD"}
seq = {}
for r in csv.DictReader(open(g + "stop_times.txt", encoding="utf-8-sig")):
    if r["trip_id"] in trips:
        seq.setdefault(r["trip_id"], []).append((int(r["stop_sequence"]), r["stop_id"], r["departure_time"]))
live = [t for t, s in seq.items() if "07:00:00" <= min(s)[2] <= "08:00:00"]
print("local trips = {")
for t in sorted(live):
    pts = ",".join("{%.6f,%.6f}" % stops[sid] for _, sid, _ in sorted(seq[t]))
    print('  {id="%s", pts={%s}},' % (t, pts))
print("}")
print("local FEED = %d" % feed)
print(r'''
local T0 = 1771286400 - 1800
local NV = 4000
local n = 0
local tid = 0
local counter = 1
function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
end
function init(args)
  tid = wrk.thread:get("tid")
end
request = function()
  local parts = {}
  for i = 1, FEED do
    local k = n * FEED + i
    local v = k % NV
    local round = math.floor(k / NV)
    local trip = trips[v % #trips + 1]
    -- one stop further each round; at the end of the trip a new bus
    -- (another vehicle id) starts it again, so buses never run backwards
    -- and the arrival queries meet live predictions
    local p = trip.pts[round % #trip.pts + 1]
    local lap = math.floor(round / #trip.pts)
    parts[i] = string.format('{"id":"e%d","vehicle":{"trip":{"trip_id":"%s"},"vehicle":{"id":"b%d-%d-%d"},' ..
      '"position":{"latitude":%.6f,"longitude":%.6f},"timestamp":%d}}',
      v, trip.id, tid, v, lap, p[2], p[1], T0 + round * 30)
  end
  n = n + 1
  local body = '{"header":{"gtfs_realtime_version":"2.0"},"entity":[' .. table.concat(parts, ",") .. ']}'
  return wrk.format("POST", "/v1/transit/vehicle-positions",
    {["Content-Type"] = "application/json", ["Authorization"] = "Bearer bench-sensor"}, body)
end''')
EOF
python3 - >"$tmp/arrivals.lua" <<'EOF'
import csv
ids = [r["stop_id"] for r in csv.DictReader(open("maps/yantai/gtfs/stops.txt", encoding="utf-8-sig"))]
print("local ids = {" + ",".join('"%s"' % i for i in ids) + "}")
print(r'''local n = 0
request = function()
  n = n + 1
  return wrk.format("GET", "/v1/transit/stops/" .. ids[n % #ids + 1] .. "/arrivals?minutes_after=30")
end''')
EOF

echo "bench-sensor sensor bench" >"$tmp/keys.conf"
port=$(free_port)
"$BIN/cityd" -o server.listen=127.0.0.1:$port -o redis.url=redis://127.0.0.1:$BENCH_REDIS_PORT \
    -o auth.keys_file="$tmp/keys.conf" -o clock.mode=replay -o log.level=warn \
    2>"$tmp/cityd.log" & pids+=($!)
for _ in $(seq 1 300); do
    code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/v1/transit/trip-updates" || true)
    [ "$code" = 200 ] && break
    sleep 0.05
done
[ "$code" = 200 ] || { echo "bench_transit: cityd did not come up" >&2; cat "$tmp/cityd.log" >&2; exit 1; }

# Redis alone: the same two writes per position, pipelined.
rb() { redis-benchmark -p "$BENCH_REDIS_PORT" --dbnum 15 -P 64 -n 200000 -r 100000 -q "$@" |
       tr '\r' '\n' | awk '/requests per second/ {v=$(NF-5)} END {print v}'; }
hset=$(rb HSET bench:veh:__rand_int__ ts 1771286400 lon 121.4 lat 37.5 trip_id 1-WD-0-0700)
xadd=$(rb XADD bench:trk:__rand_int__ MAXLEN '~' 100 '*' ts 1771286400 lon 121.4 lat 37.5)
redis-cli -p "$BENCH_REDIS_PORT" -n 15 flushdb >/dev/null
redis_pos=$(python3 -c "import sys; h,x=map(float,sys.argv[1:]); print(f'{1/(1/h+1/x):.0f}')" "$hset" "$xadd")

echo "== transit (wrk -t2 -c$CONNS -d${DUR}s, FeedMessages of $FEED vehicles)"
row "figure" "cityd" "baseline" "ratio"
a0=$(metric accepted); o0=$(metric outdated); r0=$(metric rejected)
start=$(date +%s.%N)
wrk -t2 -c"$CONNS" -d"${DUR}s" -s "$tmp/ingest.lua" "http://127.0.0.1:$port" >"$tmp/wrk_ingest.txt"
end=$(date +%s.%N)
a1=$(metric accepted); o1=$(metric outdated); r1=$(metric rejected)
secs=$(python3 -c "import sys; print(float(sys.argv[2])-float(sys.argv[1]))" "$start" "$end")
pos_rps=$(python3 -c "import sys; a0,a1,o0,o1,r0,r1,s=map(float,sys.argv[1:]); print(f'{((a1-a0)+(o1-o0)+(r1-r0))/s:.0f}')" \
          "${a0:-0}" "$a1" "${o0:-0}" "$o1" "${r0:-0}" "$r1" "$secs")
acc=$(python3 -c "import sys; a0,a1,o0,o1,r0,r1=map(float,sys.argv[1:]); t=(a1-a0)+(o1-o0)+(r1-r0); print(f'{(a1-a0)/t:.3f}' if t else '0')" \
      "${a0:-0}" "$a1" "${o0:-0}" "$o1" "${r0:-0}" "$r1")
row "positions ingested/s vs Redis HSET+XADD" "$pos_rps" "$redis_pos" "$(ratio "$pos_rps" "$redis_pos")"
echo "   (share accepted $acc; the rest outdated/rejected; latency $(awk '/Latency/ {print $2" avg, "$4" max"}' "$tmp/wrk_ingest.txt"))"
curl -s "http://127.0.0.1:$port/v1/transit/trip-updates" >"$tmp/tu.json"
live=$(python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(len(d[\"entity\"]))" "$tmp/tu.json")
echo "   ($live buses with predictions when the queries start)"
arr_rps=$(wrk -t2 -c"$CONNS" -d"${DUR}s" -s "$tmp/arrivals.lua" "http://127.0.0.1:$port" | awk '/Requests\/sec/ {print $2}')
row "arrivals queries/s vs evhttp hello-world" "$arr_rps" "${BENCH_HELLO_RPS:-?}" "$(ratio "$arr_rps" "${BENCH_HELLO_RPS:-1}")"

# Capacity: a city's fleet, 2,500 buses each reporting every 10 s (250
# positions/s, one FeedMessage a second), every report refreshing the
# predictions of every stop ahead, while wrk asks stop-sign arrivals. CPU
# of cityd and of Redis over the measured window (after a warm-up round).
CAP_BUSES=${BENCH_TRANSIT_BUSES:-2500}
CAP_SECS=${BENCH_TRANSIT_SECONDS:-20}
rpid=$(redis-cli -p "$BENCH_REDIS_PORT" info server | tr -d '\r' | awk -F: '$1 == "process_id" {print $2}')
for mode in trip-ids no-trip-ids; do
    flag=(--prefix "cap-$mode-"); [ "$mode" = no-trip-ids ] && flag+=(--no-trip-ids)
    python3 tests/bench/transit_capacity.py --port "$port" --key bench-sensor \
        --cityd-pid "${pids[0]}" --redis-pid "$rpid" --buses "$CAP_BUSES" --period 10 \
        --warmup 10 --duration "$CAP_SECS" "${flag[@]}" >"$tmp/cap.json" & cap=$!
    sleep 10
    wrk -t1 -c16 -d"${CAP_SECS}s" -s "$tmp/arrivals.lua" "http://127.0.0.1:$port" >"$tmp/wrk_cap.txt"
    wait "$cap"
    cap_rps=$(awk '/Requests\/sec/ {print $2}' "$tmp/wrk_cap.txt")
    live=$(curl -s "http://127.0.0.1:$port/v1/transit/trip-updates" |
           python3 -c "import json,sys; d=json.load(sys.stdin); print(len({e['trip_update']['vehicle']['id'] for e in d['entity'] if e['trip_update']['vehicle']['id'].startswith(sys.argv[1])}))" "cap-$mode-")
    python3 - "$tmp/cap.json" "$cap_rps" "$live" "$mode" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
print(f"== transit capacity ({sys.argv[4]}): {c['buses']} buses every {c['period_s']} s, "
      f"{c['seconds']} s measured, wrk -t1 -c16 on arrivals meanwhile")
print(f"   positions/s {c['positions_per_s']} (accepted {c['accepted']}, rejected {c['rejected']}); "
      f"{sys.argv[3]} of them with predictions at the end")
print(f"   CPU: cityd {c['cityd_cpu_pct']} %, Redis {c['redis_cpu_pct']} % (of one core); "
      f"POST of {c['buses'] // c['period_s']} positions: {c['post_ms_median']} ms median, "
      f"{c['post_ms_max']} ms max")
print(f"   arrivals queries/s meanwhile: {sys.argv[2]}")
PY
done
