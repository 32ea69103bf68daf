#!/bin/bash
# run_demo.sh -- what `make run` does: serve the demo city with cityd (embedded Redis) and,
# unless DEMO=0, bring it to life with `citysim city` at 1x from the current time of day
# (drivers at every lot, buses on the timetable, detector counts at every signal), then
# print a few things to try. Ctrl-C stops both.
#
#   DEMO=0         a bare server (nothing posts data)
#   BIN=dir        where cityd and citysim are (default bin)
#   CONF=file      the config (default config/cityd.conf)
#   CITYSIM_KEY=k  the key citysim posts with (default demo-admin-key, config/keys.conf)
#   SEED=n         citysim's seed (default 1)
#   TRIPLESS=x     share of buses reporting no trip id (cityd assigns their trips; default
#                  0.05, as real fleets have some; 0: every bus names its trip)
set -u
BIN=${BIN:-bin}
CONF=${CONF:-config/cityd.conf}
if [ "${DEMO:-1}" = 0 ]; then
    exec "$BIN/cityd" -c "$CONF"
fi

# The value of key $2 in section [$1] of the INI config.
conf() {
    awk -v sec="[$1]" -v key="$2" '
        /^[ \t]*\[/ { in_sec = ($1 == sec) }
        in_sec && $1 == key && $2 == "=" { print $3; exit }' "$CONF"
}
LISTEN=$(conf server listen); LISTEN=${LISTEN:-127.0.0.1:8080}
MAP=$(conf map dir); MAP=${MAP:-maps/yantai}
HOST=${LISTEN%:*}; PORT=${LISTEN##*:}
[ "$HOST" = 0.0.0.0 ] && HOST=127.0.0.1
URL=http://$HOST:$PORT
mkdir -p var

"$BIN/cityd" -c "$CONF" &
CITYD=$!
SIM=
stop() {
    trap - INT TERM EXIT
    [ -n "$SIM" ] && kill "$SIM" 2>/dev/null
    kill "$CITYD" 2>/dev/null
    wait 2>/dev/null
}
trap stop INT TERM EXIT

# 200 from /v1/health (bash's /dev/tcp: no curl needed)
healthy() {
    exec 3<>"/dev/tcp/$HOST/$PORT" 2>/dev/null || return 1
    printf 'GET /v1/health HTTP/1.0\r\nHost: %s\r\n\r\n' "$HOST" >&3
    local status
    read -r _ status _ <&3
    exec 3<&-
    [ "$status" = 200 ]
}
for _ in $(seq 600); do
    healthy && break
    kill -0 "$CITYD" 2>/dev/null || { echo "run_demo: cityd did not start" >&2; exit 1; }
    sleep 0.1
done
healthy || { echo "run_demo: cityd is not healthy after 60 s" >&2; exit 1; }

"$BIN/citysim" city --server "$URL" --key "${CITYSIM_KEY:-demo-admin-key}" --map "$MAP" \
    --speed 1 --duration 604800 --seed "${SEED:-1}" --tripless "${TRIPLESS:-0.05}" 2> >(tee var/citysim.log >&2) &
SIM=$!
for _ in $(seq 100); do
    grep -q "findable" var/citysim.log 2>/dev/null && break
    sleep 0.1
done
FIND=$(grep -m1 "findable" var/citysim.log 2>/dev/null)
PLATE=$(echo "$FIND" | sed -n 's/.*plate \([^ ]*\) is parked.*/\1/p')
KIOSK=$(echo "$FIND" | sed -n 's/.*(kiosk \([^)]*\)).*/\1/p')
ENC=$(printf '%s' "$PLATE" | od -An -tx1 | tr -d ' \n' | sed 's/\(..\)/%\1/g')

cat <<TRY

  cityd serves the Yantai demo city on $URL, and citysim brings it to life (1x, from now).
  Within a minute every lot reports, buses run with predictions, signals time on counts.
  Try these:

  nearest free spaces on 南大街:   curl '$URL/v1/parking/nearest?lon=121.3886&lat=37.5392&radius_m=1000&limit=3'
  a stop sign (南大街 海港路口):   curl '$URL/v1/transit/stops/1020E/arrivals?minutes_after=30'
  find a car from its kiosk:       curl -H 'Authorization: Bearer demo-kiosk-zf5-key' '$URL/v1/parking/find-car?plate=$ENC&from=$KIOSK'
                                   (plate $PLATE, parked in 振华商厦's garage now)
  the green wave on 南大街:        curl -X POST -H 'Authorization: Bearer demo-engineer-key' '$URL/v1/signals/corridors/nandajie/greenwave'
                                   then open $URL/v1/signals/corridors/nandajie/time-space.svg
  what a signal does now:          curl '$URL/v1/signals/intersections/nd-05/timing'
  the city at a glance:            open $URL/ in a browser  ($URL/metrics for the gauges)

  citysim prints a line a minute below; Ctrl-C stops both (DEMO=0 make run: a bare server).

TRY
wait "$SIM"
