#!/usr/bin/env python3
"""feed_bench.py -- GET /v1/transit/trip-updates at city scale (run by
bench_feed.sh, which starts Redis and a replay-mode cityd on the demo city).

Posts N buses (JSON FeedMessages of at most 2,000 entities, every bus on a
weekday trip of maps/yantai at one of its stops, all reporting at 08:00 on
Tuesday 2026-02-17), then prints for N:
  - the time of one request for the live feed, JSON and protobuf (first
    request after a new position, and the median of repeated ones);
  - the same for at= views (a new at= every request, so no cache helps);
  - /v1/health latency (median, max) while two clients request the feed
    in a loop.
Usage: feed_bench.py PORT N [N ...]"""
import csv
import json
import statistics
import sys
import threading
import time
import urllib.request

G = "maps/yantai/gtfs/"
DAY0 = 1771257600                     # 2026-02-17 00:00 Asia/Shanghai
T = DAY0 + 8 * 3600                   # 08:00


def load():
    stops = {r["stop_id"]: (float(r["stop_lon"]), float(r["stop_lat"]))
             for r in csv.DictReader(open(G + "stops.txt", encoding="utf-8-sig"))}
    trips = {r["trip_id"] for r in csv.DictReader(open(G + "trips.txt", encoding="utf-8-sig"))
             if r["service_id"] == "WD"}
    seq = {}
    for r in csv.DictReader(open(G + "stop_times.txt", encoding="utf-8-sig")):
        if r["trip_id"] in trips:
            seq.setdefault(r["trip_id"], []).append((int(r["stop_sequence"]), r["stop_id"]))
    return [(t, [stops[s] for _, s in sorted(v)]) for t, v in sorted(seq.items()) if len(v) > 3]


def req(port, path, body=None, accept=None, key=None):
    h = {}
    if accept:
        h["Accept"] = accept
    if key:
        h["Authorization"] = "Bearer " + key
    if body is not None:
        h["Content-Type"] = "application/json"
    r = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), data=body, headers=h)
    t0 = time.perf_counter()
    with urllib.request.urlopen(r, timeout=120) as resp:
        data = resp.read()
    return time.perf_counter() - t0, data


def post(port, trips, lo, hi, ts):
    for a in range(lo, hi, 2000):
        ents = []
        for i in range(a, min(hi, a + 2000)):
            tid, pts = trips[i % len(trips)]
            lon, lat = pts[(i // len(trips)) % (len(pts) - 2) + 1]
            ents.append({"id": "e%d" % i, "vehicle": {
                "trip": {"trip_id": tid}, "vehicle": {"id": "bus%d" % i},
                "position": {"latitude": lat, "longitude": lon}, "timestamp": ts}})
        body = json.dumps({"header": {"gtfs_realtime_version": "2.0"}, "entity": ents}).encode()
        req(port, "/v1/transit/vehicle-positions", body, key="bench-sensor")


PB = "application/x-protobuf"


def timings(port, path, accept, n=5):
    ts = [req(port, path, accept=accept)[0] for _ in range(n)]
    return statistics.median(ts), max(ts)


def main():
    port = int(sys.argv[1])
    trips = load()
    have = 0
    ts = T
    for n in map(int, sys.argv[2:]):
        post(port, trips, have, n, ts)
        have = n
        ts += 1                          # one more position: the cache must rebuild
        post(port, trips, 0, 1, ts)
        time.sleep(1.1)                  # the live view is rendered at most once a second
        t_json_first, data = req(port, "/v1/transit/trip-updates")
        ents = len(json.loads(data)["entity"])
        t_pb_first, pb = req(port, "/v1/transit/trip-updates", accept=PB)
        j_med, j_max = timings(port, "/v1/transit/trip-updates", None)
        p_med, p_max = timings(port, "/v1/transit/trip-updates", PB)
        at = [req(port, "/v1/transit/trip-updates?at=%d" % (ts - 10 - k), accept=a)[0]
              for k in range(4) for a in (None, PB)]
        stop = threading.Event()

        def hammer(accept, k):
            j = 0
            while not stop.is_set():
                j += 1
                req(port, "/v1/transit/trip-updates" +
                    ("?at=%d" % (ts - 100 - j * 2 - k) if k else ""), accept=accept)
        hs = []
        for k, acc in enumerate((None, PB)):
            th = threading.Thread(target=hammer, args=(acc, 0))
            th.start()
            hs.append(th)
        health = []
        for _ in range(30):
            health.append(req(port, "/v1/health")[0])
            time.sleep(0.05)
        stop.set()
        for th in hs:
            th.join()
        # the same with at= readers (a new view every request)
        stop.clear()
        hs = []
        for k, acc in enumerate((None, PB)):
            th = threading.Thread(target=hammer, args=(acc, k + 1))
            th.start()
            hs.append(th)
        health_at = []
        for _ in range(30):
            health_at.append(req(port, "/v1/health")[0])
            time.sleep(0.05)
        stop.set()
        for th in hs:
            th.join()
        ms = lambda s: "%.1f" % (s * 1000)
        print("-- %d buses posted, %d trip updates, JSON %d KiB, protobuf %d KiB"
              % (n, ents, len(data) // 1024, len(pb) // 1024))
        print("   live JSON     first %8s ms, then median %8s max %8s ms" % (ms(t_json_first), ms(j_med), ms(j_max)))
        print("   live protobuf first %8s ms, then median %8s max %8s ms" % (ms(t_pb_first), ms(p_med), ms(p_max)))
        print("   at= (new view each): JSON median %s ms, protobuf median %s ms"
              % (ms(statistics.median(at[0::2])), ms(statistics.median(at[1::2]))))
        print("   health while 2 clients loop on live feed: median %s ms, max %s ms"
              % (ms(statistics.median(health)), ms(max(health))))
        print("   health while 2 clients loop on at= views: median %s ms, max %s ms"
              % (ms(statistics.median(health_at)), ms(max(health_at))))
        sys.stdout.flush()


main()
