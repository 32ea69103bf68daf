#!/usr/bin/env python3
"""transit_capacity.py -- drive a running cityd with a city's fleet of
buses for `make bench` (tests/bench/bench_transit.sh): N buses each
reporting every PERIOD seconds (one FeedMessage a second holding the
buses due that second, as an AVL gateway forwards them), for DURATION
seconds of wall time, and measure meanwhile the CPU time of cityd and of
Redis (from /proc) and the POST latency. The arrivals load runs beside it
(wrk, started by the shell script).

Buses run the demo city's weekday trips (maps/yantai/gtfs), bus i on trip
i mod #trips, each at its own phase along it and moving at its trip's
scheduled pace, so every report moves it on and refreshes its predictions
for every stop ahead. The demo city has far fewer trips running at once
than 2,500, so buses keep their own clocks rather than the timetable's:
the work per report (matching, the prediction of every stop ahead,
Redis) is what a real fleet costs. Timestamps follow the wall clock from
T0 (clock.mode = replay). With --no-trip-ids the reports carry only the
route, and cityd infers each bus's trip.
"""
import argparse
import csv
import http.client
import json
import os
import statistics
import sys
import time

T0 = 1771286400 + 4 * 3600      # Tuesday 2026-02-17 12:00 Asia/Shanghai


def hms(s):
    h, m, x = s.split(":")
    return int(h) * 3600 + int(m) * 60 + int(x)


def load_trips(g):
    rd = lambda f: csv.DictReader(open(os.path.join(g, f), encoding="utf-8-sig"))  # noqa: E731
    stops = {r["stop_id"]: (float(r["stop_lon"]), float(r["stop_lat"])) for r in rd("stops.txt")}
    trips = {r["trip_id"]: r["route_id"] for r in rd("trips.txt") if r["service_id"] == "WD"}
    st = {}
    for r in rd("stop_times.txt"):
        if r["trip_id"] in trips:
            st.setdefault(r["trip_id"], []).append(
                (int(r["stop_sequence"]), hms(r["arrival_time"]), stops[r["stop_id"]]))
    out = []
    for t in sorted(st):
        s = sorted(st[t])
        times = [x[1] - s[0][1] for x in s]
        if times[-1] > 0:
            out.append((t, trips[t], times, [x[2] for x in s]))
    return out


def position(trip, x):
    """Where a bus is x seconds into its trip (on the straight line between
    the stops it is between: within cityd's gate on these short urban
    segments)."""
    _, _, times, pts = trip
    for k in range(len(times) - 1):
        if x < times[k + 1]:
            f = (x - times[k]) / (times[k + 1] - times[k]) if times[k + 1] > times[k] else 0
            (a, b), (c, d) = pts[k], pts[k + 1]
            return a + f * (c - a), b + f * (d - b)
    return pts[-1]


def cpu_s(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--cityd-pid", type=int, required=True)
    ap.add_argument("--redis-pid", type=int, required=True)
    ap.add_argument("--buses", type=int, default=2500)
    ap.add_argument("--period", type=int, default=10)
    ap.add_argument("--duration", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=10, help="seconds driven before measuring")
    ap.add_argument("--no-trip-ids", action="store_true")
    ap.add_argument("--gtfs", default="maps/yantai/gtfs")
    ap.add_argument("--prefix", default="cap", help="vehicle ids start with this")
    a = ap.parse_args()
    trips = load_trips(a.gtfs)
    conn = http.client.HTTPConnection("127.0.0.1", a.port, timeout=60)
    hd = {"Authorization": "Bearer " + a.key, "Content-Type": "application/json"}
    lat_ms, counts = [], {"accepted": 0, "outdated": 0, "rejected": 0}
    start = time.monotonic()
    c0 = r0 = None
    sec = 0
    while True:
        now = time.monotonic() - start
        if now >= a.warmup and c0 is None:
            c0, r0, w0 = cpu_s(a.cityd_pid), cpu_s(a.redis_pid), time.monotonic()
            lat_ms.clear()
            counts = dict.fromkeys(counts, 0)
        if now >= a.warmup + a.duration:
            break
        ts = T0 + sec
        ents = []
        for i in range(sec % a.period, a.buses, a.period):
            trip = trips[i % len(trips)]
            dur = trip[2][-1]
            x = (i * 37 % 97) / 97 * dur + sec        # its own phase, moving on
            lap = int(x // dur)
            lon, lat = position(trip, x - lap * dur)
            v = {"vehicle": {"id": f"{a.prefix}{i}-{lap}"}, "timestamp": ts,
                 "position": {"latitude": round(lat, 6), "longitude": round(lon, 6)},
                 "trip": {"route_id": trip[1]} if a.no_trip_ids else
                         {"trip_id": trip[0], "start_date": "20260217"}}
            ents.append({"id": f"cap{i}", "vehicle": v})
        body = json.dumps({"header": {"gtfs_realtime_version": "2.0", "timestamp": ts},
                           "entity": ents})
        t1 = time.monotonic()
        conn.request("POST", "/v1/transit/vehicle-positions", body, hd)
        r = conn.getresponse()
        data = r.read()
        lat_ms.append((time.monotonic() - t1) * 1000)
        if r.status != 200:
            sys.exit(f"capacity: HTTP {r.status}: {data[:200]!r}")
        for k, v in json.loads(data).items():
            if k in counts:
                counts[k] += v
        sec += 1
        # One message a second of wall time (catch up if behind).
        delay = start + sec - time.monotonic()
        if delay > 0:
            time.sleep(delay)
    wall = time.monotonic() - w0
    c1, r1 = cpu_s(a.cityd_pid), cpu_s(a.redis_pid)
    posted = sum(counts.values())
    lat_ms.sort()
    print(json.dumps({
        "buses": a.buses, "period_s": a.period, "seconds": round(wall, 1),
        "positions_per_s": round(posted / wall, 1), "accepted": counts["accepted"],
        "outdated": counts["outdated"], "rejected": counts["rejected"],
        "cityd_cpu_pct": round(100 * (c1 - c0) / wall, 1),
        "redis_cpu_pct": round(100 * (r1 - r0) / wall, 1),
        "post_ms_median": round(statistics.median(lat_ms), 1),
        "post_ms_max": round(lat_ms[-1], 1)}))


if __name__ == "__main__":
    main()
