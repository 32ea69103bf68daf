#!/usr/bin/env python3
"""transit_wmata.py -- arrival predictions of a running cityd scored on the
real WMATA recording (2026-02-16, routes C53, D40, D96).

Driven by tests/eval/transit_wmata.sh, which starts redis-server and cityd
(clock.mode = replay, transit.gtfs_dir = the WMATA feed). This script:

1. replays the recorded VehiclePositions in time order through
   POST /v1/transit/vehicle-positions (JSON mapping), one FeedMessage per
   30 s of recording, as an agency's feed would be polled;
2. every simulated minute asks GET /v1/transit/stops/{id}/arrivals?at=
   at each stop ahead of a live bus (within 20 scheduled minutes);
3. derives the actual arrival times independently of cityd: its own
   projection of stops and positions onto the trip shapes (equirectangular
   metres, forward-only), the arrival at a stop being the interpolated
   moment the bus comes within ARRIVE_M of it along the shape, between two
   on-route reports at most MAX_GAP_S apart;
4. scores every (minute, trip, stop) prediction by horizon bucket (actual
   arrival minus the minute): mean absolute error and the share inside the
   TransitApp ETA benchmark windows (actual - predicted in [-30, 90],
   [-60, 150], [-60, 210], [-90, 270] s); score = mean of the four shares;
5. computes two baselines on exactly the same rows: the timetable, and
   schedule-deviation propagation (OneBusAway: the scheduled time shifted
   by the bus's current deviation from the timetable at its place, a bus
   waiting at its first stop not leaving early); and the deviation baseline
   with the rider margin cityd put into its estimate before issue 15 (10 s
   + 10 % of the horizon; now only a display option for announced_arrival,
   transit.early_margin_s / _pct, default 0), to show what such a bias is
   worth on this benchmark's asymmetric windows;
6. coverage: the share of on-route reports (within ON_ROUTE_M of the
   trip's shape, before its last stop) whose bus has, at the end of that
   minute, a prediction for its next stop;
7. with --strip trip (no trip id, route kept) or --strip all (nothing but
   vehicle id, position and time), after every message the trip cityd
   inferred for each bus (GET /v1/transit/vehicles/{id}) against the one
   the recording names.

Only the standard library is used.
"""
import argparse
import bisect
import collections
import csv
import datetime
import http.client
import json
import math
import os
import random
import sys
import time
import urllib.parse
import zoneinfo

ARRIVE_M = float(os.environ.get("ARRIVE_M", "15"))  # a stop is reached this far before it along the shape
MAX_GAP_S = 120.0        # arrivals interpolated only between reports this close
ON_ROUTE_M = 60.0        # a report this close to the shape is on route
LIVE_S = 90.0            # transit.stale_after_s
AHEAD_S = 20 * 60        # stops asked about: scheduled within this of the bus
BATCH_S = 30             # one FeedMessage per 30 s of recording
MARGIN = (10.0, 0.1)     # the rider margin cityd's estimate carried before issue 15
BUCKETS = [(0, 180), (180, 360), (360, 600), (600, 900)]
SPLIT_S = 13 * 3600 + 30 * 60  # 13:30 local: the two halves of the recording
WINDOWS = [(-30, 90), (-60, 150), (-60, 210), (-90, 270)]
R = 6371008.8


def read_csv(path):
    with open(path, newline="", encoding="utf-8-sig") as f:
        yield from csv.DictReader(f)


def hms(s):
    if not s:
        return None
    h, m, x = s.split(":")
    return int(h) * 3600 + int(m) * 60 + int(x)


class Proj:
    """Equirectangular metres around a centre (fine across a city)."""

    def __init__(self, lon0, lat0):
        self.lon0, self.lat0 = lon0, lat0
        self.kx = math.cos(math.radians(lat0)) * R * math.pi / 180
        self.ky = R * math.pi / 180

    def xy(self, lon, lat):
        return ((lon - self.lon0) * self.kx, (lat - self.lat0) * self.ky)


class Line:
    def __init__(self, pts):
        self.p = pts
        self.cum = [0.0]
        for i in range(1, len(pts)):
            self.cum.append(self.cum[-1] + math.dist(pts[i - 1], pts[i]))
        self.length = self.cum[-1]

    def locate(self, q, lo=-1e18, hi=1e18):
        """(distance along, offset) of the nearest point within [lo, hi]."""
        best = (1e18, 0.0)
        i0 = max(0, bisect.bisect_right(self.cum, lo) - 1)
        for i in range(i0, len(self.p) - 1):
            if self.cum[i] > hi:
                break
            (ax, ay), (bx, by) = self.p[i], self.p[i + 1]
            dx, dy = bx - ax, by - ay
            L2 = dx * dx + dy * dy
            t = 0.0 if L2 == 0 else max(0.0, min(1.0, ((q[0] - ax) * dx + (q[1] - ay) * dy) / L2))
            d = self.cum[i] + t * math.sqrt(L2)
            if d < lo or d > hi:
                d = min(max(d, lo), hi)
                t = 0.0 if L2 == 0 else (d - self.cum[i]) / math.sqrt(L2)
                t = min(max(t, 0.0), 1.0)
            px, py = ax + t * dx, ay + t * dy
            off = math.hypot(q[0] - px, q[1] - py)
            if off < best[0]:
                best = (off, d)
        return best[1], best[0]


class Feed:
    def __init__(self, gtfs_dir, day):
        agency = next(read_csv(os.path.join(gtfs_dir, "agency.txt")))
        tz = zoneinfo.ZoneInfo(agency["agency_timezone"])
        noon = datetime.datetime(day.year, day.month, day.day, 12, tzinfo=tz)
        self.origin = noon.timestamp() - 12 * 3600
        self.stops = {r["stop_id"]: (float(r["stop_lon"]), float(r["stop_lat"]))
                      for r in read_csv(os.path.join(gtfs_dir, "stops.txt"))}
        lons = [p[0] for p in self.stops.values()]
        lats = [p[1] for p in self.stops.values()]
        self.proj = Proj(sum(lons) / len(lons), sum(lats) / len(lats))
        shp = collections.defaultdict(list)
        for r in read_csv(os.path.join(gtfs_dir, "shapes.txt")):
            shp[r["shape_id"]].append((int(r["shape_pt_sequence"]), float(r["shape_pt_lon"]),
                                       float(r["shape_pt_lat"])))
        self.shapes = {k: Line([self.proj.xy(lo, la) for _, lo, la in sorted(v)])
                       for k, v in shp.items()}
        self.trips = {r["trip_id"]: r for r in read_csv(os.path.join(gtfs_dir, "trips.txt"))}
        self.st = collections.defaultdict(list)
        for r in read_csv(os.path.join(gtfs_dir, "stop_times.txt")):
            self.st[r["trip_id"]].append(r)
        self.cache = {}

    def trip(self, trip_id):
        """Stops of a trip in order: ids, sequences, arrival and departure
        (epoch s), distances along the shape (m)."""
        if trip_id in self.cache:
            return self.cache[trip_id]
        t = None
        if trip_id in self.trips and trip_id in self.st:
            rows = sorted(self.st[trip_id], key=lambda r: int(r["stop_sequence"]))
            line = self.shapes.get(self.trips[trip_id]["shape_id"])
            ids = [r["stop_id"] for r in rows]
            d, prev = [], 0.0
            for sid in ids:
                x, _ = line.locate(self.proj.xy(*self.stops[sid]), prev - 1, 1e18)
                d.append(x)
                prev = x
            arr = [hms(r["arrival_time"]) for r in rows]
            dep = [hms(r["departure_time"]) or a for r, a in zip(rows, arr)]
            t = {"id": trip_id, "line": line, "stops": ids, "d": d,
                 "seq": [int(r["stop_sequence"]) for r in rows],
                 "arr": [self.origin + a for a in arr], "dep": [self.origin + a for a in dep],
                 "route": self.trips[trip_id]["route_id"]}
            t["pos"] = {s: i for i, s in enumerate(t["seq"])}
        self.cache[trip_id] = t
        return t


def sched_time_at(t, d):
    """When the timetable has trip t at distance d (epoch s)."""
    if d <= t["d"][0]:
        return t["dep"][0]
    for k in range(len(t["d"]) - 1):
        if d < t["d"][k + 1]:
            L = t["d"][k + 1] - t["d"][k]
            f = (d - t["d"][k]) / L if L > 0 else 0
            return t["dep"][k] + f * (t["arr"][k + 1] - t["dep"][k])
    return t["arr"][-1]


class Run:
    """One bus on one trip: its reports matched onto the trip's shape."""

    def __init__(self, trip):
        self.t = trip
        self.ts, self.d, self.off = [], [], []

    def add(self, ts, xy):
        line = self.t["line"]
        if self.d:
            dt = ts - self.ts[-1]
            d, off = line.locate(xy, self.d[-1] - 50, self.d[-1] + 30 * dt + 300)
            d = max(d, self.d[-1])
        else:
            d, off = line.locate(xy)
        self.ts.append(ts)
        self.d.append(d)
        self.off.append(off)

    def arrivals(self):
        """Actual arrival per stop position (None when not observed)."""
        out = [None] * len(self.t["d"])
        for k in range(1, len(out)):
            reach = self.t["d"][k] - ARRIVE_M
            for i in range(1, len(self.d)):
                if self.d[i - 1] < reach <= self.d[i]:
                    ok = (self.ts[i] - self.ts[i - 1] <= MAX_GAP_S and
                          self.off[i] <= ON_ROUTE_M and self.off[i - 1] <= ON_ROUTE_M)
                    if ok:
                        f = (reach - self.d[i - 1]) / (self.d[i] - self.d[i - 1])
                        out[k] = self.ts[i - 1] + f * (self.ts[i] - self.ts[i - 1])
                    break
        return out

    def state_at(self, m):
        """Index of the last report at or before m, or -1."""
        return bisect.bisect_right(self.ts, m) - 1


class Client:
    def __init__(self, base, key):
        u = urllib.parse.urlparse(base)
        self.host, self.port, self.key = u.hostname, u.port, key
        self.conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
        self.requests = 0

    def call(self, method, path, body=None):
        hd = {"Authorization": "Bearer " + self.key}
        if body is not None:
            hd["Content-Type"] = "application/json"
        for attempt in range(3):
            try:
                self.conn.request(method, path, body, hd)
                r = self.conn.getresponse()
                data = r.read()
                self.requests += 1
                return r.status, json.loads(data) if data else None
            except (http.client.HTTPException, ConnectionError):
                self.conn.close()
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
        raise RuntimeError(f"{method} {path}: no answer")


def entity(r, noise=None, strip=None):
    """The JSON entity of a recorded report; noise: (rng, sigma_m) to add
    GPS noise to the position sent (the truth keeps the recorded one);
    strip: "trip" sends no trip id (route kept), "all" nothing but the
    vehicle id, position and time."""
    lat, lon = float(r["vehicle.position.latitude"]), float(r["vehicle.position.longitude"])
    if noise:
        rng, sigma = noise
        lat += rng.gauss(0, sigma) / (R * math.pi / 180)
        lon += rng.gauss(0, sigma) / (R * math.pi / 180 * math.cos(math.radians(lat)))
    v = {"trip": {"trip_id": r["vehicle.trip.trip_id"], "route_id": r["vehicle.trip.route_id"]},
         "vehicle": {"id": r["vehicle.vehicle.id"]},
         "position": {"latitude": lat, "longitude": lon},
         "timestamp": int(r["vehicle.timestamp"])}
    if r.get("vehicle.trip.start_date"):
        v["trip"]["start_date"] = r["vehicle.trip.start_date"]
    if r.get("vehicle.trip.start_time"):
        v["trip"]["start_time"] = r["vehicle.trip.start_time"]
    for src, dst in (("vehicle.position.bearing", "bearing"), ("vehicle.position.speed", "speed")):
        if r.get(src) and strip != "all":
            v["position"][dst] = float(r[src])
    if strip == "trip":
        v["trip"] = {"route_id": r["vehicle.trip.route_id"]}
    elif strip == "all":
        del v["trip"]
    return {"id": r["id"] or r["vehicle.vehicle.id"], "vehicle": v}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--base", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--dump", help="write every scored row here (CSV)")
    ap.add_argument("--strip", choices=["trip", "all"],
                    help="send no trip id (route kept), or nothing but vehicle id, position, time")
    ap.add_argument("--noise-m", type=float, default=0,
                    help="add Gaussian GPS noise of this sigma (m) to the positions sent")
    a = ap.parse_args()
    t_start = time.time()
    noise = (random.Random(1), a.noise_m) if a.noise_m > 0 else None
    rows = list(read_csv(os.path.join(a.data, "wmata_gtfsrt_vehicle_positions_20260216.csv")))
    rows.sort(key=lambda r: int(r["vehicle.timestamp"]))
    feed = Feed(os.path.join(a.data, "gtfs"), datetime.date(2026, 2, 16))

    # Our own matching of every report, for the truth and the deviation baseline.
    runs, run_of = {}, []
    for r in rows:
        t = feed.trip(r["vehicle.trip.trip_id"])
        key = (r["vehicle.vehicle.id"], r["vehicle.trip.trip_id"])
        if t is None:
            run_of.append(None)
            continue
        run = runs.setdefault(key, Run(t))
        run.add(int(r["vehicle.timestamp"]),
                feed.proj.xy(float(r["vehicle.position.longitude"]),
                             float(r["vehicle.position.latitude"])))
        run_of.append((run, len(run.ts) - 1))
    actual = {key: run.arrivals() for key, run in runs.items()}
    by_vehicle = collections.defaultdict(list)      # vehicle -> runs in time order
    for (veh, _), run in runs.items():
        by_vehicle[veh].append(run)

    cli = Client(a.base, a.key)
    first_run = {veh: vruns[0] for veh, vruns in by_vehicle.items()}
    assign = collections.Counter()
    first = int(rows[0]["vehicle.timestamp"])
    last = int(rows[-1]["vehicle.timestamp"])
    m = first - first % 60 + 60
    i = 0
    preds = {}            # (minute, trip, pos) -> (vehicle, predicted, scheduled)
    cov_n = cov_ok = 0
    counts = collections.Counter()
    while m <= last + 60:
        # Post every report up to the minute, one message per 30 s.
        while i < len(rows) and int(rows[i]["vehicle.timestamp"]) <= m:
            j = i
            end = int(rows[i]["vehicle.timestamp"]) // BATCH_S * BATCH_S + BATCH_S
            while j < len(rows) and int(rows[j]["vehicle.timestamp"]) < min(end, m + 1):
                j += 1
            msg = {"header": {"gtfs_realtime_version": "2.0", "incrementality": "FULL_DATASET",
                              "timestamp": int(rows[j - 1]["vehicle.timestamp"])},
                   "entity": [entity(r, noise, a.strip) for r in rows[i:j]]}
            st, body = cli.call("POST", "/v1/transit/vehicle-positions", json.dumps(msg))
            if st != 200:
                sys.exit(f"ingest: HTTP {st}: {body}")
            for k in ("accepted", "outdated", "rejected"):
                counts[k] += body[k]
            if a.strip:
                for q in range(i, j):
                    assess(cli, rows[q], run_of[q], first_run, assign, feed.origin + SPLIT_S)
            i = j
        # Live buses at m, on route by our matching, and the stops ahead.
        live, ask = [], set()
        for veh, vruns in by_vehicle.items():
            cur = None
            for run in vruns:
                k = run.state_at(m)
                if k >= 0 and (cur is None or run.ts[k] > cur[0].ts[cur[1]]):
                    cur = (run, k)
            if cur is None or m - cur[0].ts[cur[1]] > LIVE_S:
                continue
            run, k = cur
            t, d = run.t, run.d[k]
            nxt = next((p for p in range(len(t["d"])) if t["d"][p] - ARRIVE_M > d), None)
            if p_is_done(t, d) or nxt is None:
                continue
            # Reports of this minute that were on route count for coverage.
            fresh = sum(1 for q in range(k + 1) if m - 60 < run.ts[q] <= m and
                        run.off[q] <= ON_ROUTE_M)
            if fresh:
                live.append((veh, run, fresh, nxt))
            now_s = max(sched_time_at(t, d), m)
            for p in range(nxt, len(t["d"])):
                if t["arr"][p] - now_s > AHEAD_S:
                    break
                ask.add(t["stops"][p])
        got = {}
        for sid in sorted(ask):
            st, body = cli.call("GET", f"/v1/transit/stops/{urllib.parse.quote(sid)}/arrivals"
                                       f"?at={m}&minutes_after=20")
            if st != 200:
                sys.exit(f"arrivals {sid}: HTTP {st}: {body}")
            for row in body["arrivals"]:
                if not row["predicted"] or not row["vehicle_id"]:
                    continue
                t = feed.trip(row["trip_id"])
                if t is None or row["stop_sequence"] not in t["pos"]:
                    continue
                pos = t["pos"][row["stop_sequence"]]
                preds[(m, row["trip_id"], pos)] = (row["vehicle_id"], row["predicted_arrival"],
                                                   row["scheduled_arrival"])
                got[(row["vehicle_id"], row["trip_id"], pos)] = True
        for veh, run, fresh, nxt in live:
            cov_n += fresh
            cov_ok += fresh * ((veh, run.t["id"], nxt) in got)
        m += 60

    # Score cityd and the baselines on the same rows.
    methods = ["cityd", "timetable", "deviation", "dev+margin"]
    stats = {x: [[] for _ in BUCKETS] for x in methods}
    # The day in two halves: tune on the first (before SPLIT), report the
    # second as held out.
    split = feed.origin + SPLIT_S
    halves = {h: [[] for _ in BUCKETS] for h in ("first", "second")}
    dump = open(a.dump, "w", newline="") if a.dump else None
    if dump:
        dw = csv.writer(dump)
        dw.writerow(["minute", "vehicle", "trip", "pos", "stop", "actual", "cityd", "timetable",
                     "deviation", "layover", "dist_m", "stops_between", "age_s"])
    for (mm, trip, pos), (veh, pred, sched) in preds.items():
        act = actual.get((veh, trip))
        if act is None or pos == 0 or act[pos] is None:
            continue
        h = act[pos] - mm
        b = next((n for n, (lo, hi) in enumerate(BUCKETS) if lo <= h < hi), None)
        if b is None:
            continue
        run = runs[(veh, trip)]
        k = run.state_at(mm)
        if k < 0:
            continue
        t = run.t
        dev = run.ts[k] - sched_time_at(t, run.d[k])
        layover = run.d[k] <= t["d"][0] + 50 and run.ts[k] < t["dep"][0] + 30
        if layover:
            dev = max(0.0, mm - t["dep"][0])
        est = {"cityd": pred, "timetable": sched, "deviation": max(mm, t["arr"][pos] + dev)}
        h = est["deviation"] - mm
        est["dev+margin"] = max(mm, est["deviation"] - MARGIN[0] - MARGIN[1] * h)
        for x in methods:
            stats[x][b].append(act[pos] - est[x])
        halves["first" if mm < split else "second"][b].append(act[pos] - pred)
        if dump:
            dw.writerow([mm, veh, trip, pos, t["stops"][pos], round(act[pos]), pred, sched,
                         round(est["deviation"]), int(layover), round(t["d"][pos] - run.d[k]),
                         sum(1 for q in range(pos) if t["d"][q] - ARRIVE_M > run.d[k]),
                         mm - run.ts[k]])
    if dump:
        dump.close()

    print(f"replay: {len(rows)} reports of {len(by_vehicle)} buses"
          f"{f' with {a.noise_m:g} m GPS noise' if noise else ''}, "
          f"{counts['accepted']} accepted, {counts['outdated']} outdated, "
          f"{counts['rejected']} rejected; {cli.requests} HTTP requests in "
          f"{time.time() - t_start:.0f} s")
    head = f"{'method':<10} " + " ".join(f"{f'{lo // 60}-{hi // 60} min':>22}" for lo, hi in BUCKETS)
    print(head + f" {'ETA score':>10}")
    print(f"{'':<10} " + " ".join(f"{'n   MAE s  in window':>22}" for _ in BUCKETS))
    for x in methods:
        cells, shares = [], []
        for n, (lo, hi) in enumerate(WINDOWS):
            e = stats[x][n]
            share = sum(lo <= v <= hi for v in e) / len(e) if e else 0.0
            mae = sum(abs(v) for v in e) / len(e) if e else float("nan")
            shares.append(share)
            cells.append(f"{len(e):>6} {mae:>7.1f} {share:>7.3f}")
        print(f"{x:<10} " + " ".join(f"{c:>22}" for c in cells) + f" {sum(shares) / 4:>10.3f}")
    for h, st in halves.items():
        shares = [sum(lo <= v <= hi for v in e) / len(e) if e else 0.0
                  for e, (lo, hi) in zip(st, WINDOWS)]
        e0 = st[0]
        print(f"cityd, {h} half ({'before' if h == 'first' else 'from'} 13:30): ETA score "
              f"{sum(shares) / 4:.3f}, 0-3 min MAE {sum(map(abs, e0)) / max(1, len(e0)):.1f} s, "
              f"bias {sum(e0) / max(1, len(e0)):+.1f} s (n {sum(map(len, st))})")
    print(f"coverage: {cov_ok}/{cov_n} on-route reports with a prediction for the next stop"
          f" = {cov_ok / cov_n if cov_n else 0:.3f}")
    if a.strip:
        def share(k):
            return f"{assign[k + '_ok']}/{assign[k]} = {assign[k + '_ok'] / max(1, assign[k]):.3f}"
        print(f"assignment (trip ids {'and routes ' if a.strip == 'all' else ''}withheld): "
              f"right trip for {share('past2')} on-route positions past a bus's first 2 min "
              f"on its trip; {share('followed')} once followed onto a later trip of its block; "
              f"{share('all')} of all on-route positions; route of another trip: "
              f"{assign['wrong_route']}")
        print(f"assignment once followed, first half (before 13:30): {share('followed_1st')}; "
              f"second half: {share('followed_2nd')}")


def assess(cli, r, ro, first_run, assign, split):
    """Is the trip cityd inferred for this report the one the recording
    names? Counted over on-route reports (by our matching) before the
    trip's last stop."""
    if ro is None:
        return
    run, k = ro
    if run.off[k] > ON_ROUTE_M or p_is_done(run.t, run.d[k]):
        return
    st, body = cli.call("GET", "/v1/transit/vehicles/" + urllib.parse.quote(r["vehicle.vehicle.id"]))
    got = body.get("trip_id") if st == 200 else None
    ok = got == r["vehicle.trip.trip_id"]
    if os.environ.get("ASSIGN_DUMP"):
        with open(os.environ["ASSIGN_DUMP"], "a") as f:
            f.write(f'{r["vehicle.vehicle.id"]},{r["vehicle.timestamp"]},{r["vehicle.trip.trip_id"]},'
                    f'{got},{body.get("status")},{round(run.d[k])},{body.get("distance_along_m")}\n')
    if got is not None and body.get("route_id") != r["vehicle.trip.route_id"]:
        assign["wrong_route"] += 1
    assign["all"] += 1
    assign["all_ok"] += ok
    if run.ts[k] - run.ts[0] >= 120:
        assign["past2"] += 1
        assign["past2_ok"] += ok
    if first_run[r["vehicle.vehicle.id"]] is not run:
        assign["followed"] += 1
        assign["followed_ok"] += ok
        h = "followed_1st" if int(r["vehicle.timestamp"]) < split else "followed_2nd"
        assign[h] += 1
        assign[h + "_ok"] += ok


def p_is_done(t, d):
    return d >= t["d"][-1] - ARRIVE_M


if __name__ == "__main__":
    main()
