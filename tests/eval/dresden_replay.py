#!/usr/bin/env python3
"""Dresden replay: real free-space counts through cityd, nearest answers
checked against a brute-force computation over the same state.

    tests/eval/dresden_replay.py [--data ../shared/data] [--bin bin/cityd]
                                 [--queries-per-hour 40] [--seed 1]

Starts a private redis-server and bin/cityd (replay clock, an empty map),
PUTs the 36 Dresden lots (coordinates and capacities from
dresden_lots.csv), then replays the week of counts in timestamp order
through POST /v1/parking/observations, one batch per recorded instant.
Every replayed hour it asks GET /v1/parking/nearest for random points and
random parameters (radius, limit, min_available, include_stale, at) and
compares the answer with a brute-force scan of its own model of the state:
the last count of each lot clamped to its capacity, stale after 900 s,
great-circle (haversine) distances, sorted by distance then id. Distances
closer than 1 mm to each other or to the radius are ties the two sides may
break differently; such queries are counted separately, not as agreement.

Skips (exit 0) when the data folder is absent: it is evaluation data, never
needed by `make test`. Exit 1 when any answer disagrees."""
import argparse
import csv
import datetime
import json
import math
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

R = 6371008.8
STALE_AFTER = 900
KEY = "eval-admin-key"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def haversine(lon1, lat1, lon2, lat2):
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * R * math.asin(min(1.0, math.sqrt(a)))


def http(method, url, body=None, timeout=10):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Authorization", "Bearer " + KEY)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def wait_until(fn, what, seconds=20):
    end = time.time() + seconds
    while time.time() < end:
        try:
            if fn():
                return
        except (OSError, urllib.error.URLError, ValueError):
            pass
        time.sleep(0.05)
    raise SystemExit("eval: %s did not come up" % what)


class Servers:
    """redis-server and cityd in a temp dir, stopped on exit."""

    def __init__(self, cityd_bin):
        self.dir = tempfile.mkdtemp(prefix="cityd-eval-")
        self.procs = []
        rport, cport = free_port(), free_port()
        self.procs.append(subprocess.Popen(
            ["redis-server", "--port", str(rport), "--bind", "127.0.0.1", "--dir", self.dir,
             "--save", "", "--appendonly", "yes", "--logfile", os.path.join(self.dir, "redis.log")]))
        wait_until(lambda: socket.create_connection(("127.0.0.1", rport), 0.2).close() is None,
                   "redis-server")
        mapdir = os.path.join(self.dir, "map")
        os.mkdir(mapdir)
        with open(os.path.join(mapdir, "parking.geojson"), "w") as f:
            json.dump({"type": "FeatureCollection", "features": []}, f)
        keys = os.path.join(self.dir, "keys.conf")
        with open(keys, "w") as f:
            f.write("%s admin eval\n" % KEY)
        self.base = "http://127.0.0.1:%d" % cport
        self.log = open(os.path.join(self.dir, "cityd.log"), "w")
        self.procs.append(subprocess.Popen(
            [cityd_bin, "-o", "server.listen=127.0.0.1:%d" % cport,
             "-o", "redis.url=redis://127.0.0.1:%d" % rport, "-o", "map.dir=" + mapdir,
             "-o", "auth.keys_file=" + keys, "-o", "clock.mode=replay",
             "-o", "log.level=warn"], stderr=self.log))
        wait_until(lambda: http("GET", self.base + "/v1/parking/lots")[0] == 200, "cityd")

    def stop(self):
        for p in reversed(self.procs):
            p.terminate()
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def load_lots(path):
    """Lots by id. A lot without a listed capacity gets its largest observed
    free count (the file's max_free_observed) and is named in `guessed`."""
    lots, guessed = {}, []
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            total = row["capacity"] or row["max_free_observed"]
            if not row["capacity"]:
                guessed.append(row["place_id"])
            lots[row["place_id"]] = {
                "name": row["name"], "lon": float(row["longitude"]), "lat": float(row["latitude"]),
                "total": int(total), "available": None, "ts": None}
    return lots, guessed


def brute(lots, lon, lat, radius, limit, min_av, include_stale, now):
    hits = []
    for lid, l in lots.items():
        if l["ts"] is None:               # never observed: count unknown, stale
            if min_av > 0 or not include_stale:
                continue
        elif min_av > 0 and l["available"] < min_av:
            continue
        elif not include_stale and now - l["ts"] > STALE_AFTER:
            continue
        d = haversine(lon, lat, l["lon"], l["lat"])
        if d <= radius:
            hits.append((d, lid))
    hits.sort()
    return hits[:limit], hits


def ambiguous(hits_all, limit, radius):
    """Near-ties that either side may break differently."""
    ds = [d for d, _ in hits_all]
    if any(abs(d - radius) < 1e-3 for d in ds):
        return True
    cut = ds[:limit + 1]
    return any(abs(a - b) < 1e-3 for a, b in zip(cut, cut[1:]))


def check(srv, lots, rnd, now, stats, bbox):
    # rounded as sent, so both sides measure from the same point
    lon = round(rnd.uniform(bbox[0] - 0.05, bbox[2] + 0.05), 7)
    lat = round(rnd.uniform(bbox[1] - 0.05, bbox[3] + 0.05), 7)
    radius = rnd.choice([300, 1000, 2000, 5000, 20000, 50000])
    limit = rnd.randint(1, 10)
    min_av = rnd.choice([0, 1, 1, 1, 5, 20, 100])
    stale = rnd.random() < 0.25
    at = now - rnd.choice([0, 0, 0, 300, 1200])
    url = ("%s/v1/parking/nearest?lon=%.7f&lat=%.7f&radius_m=%d&limit=%d&min_available=%d"
           "&include_stale=%s&at=%d" % (srv.base, lon, lat, radius, limit, min_av,
                                        "true" if stale else "false", at))
    status, body = http("GET", url)
    want, allhits = brute(lots, lon, lat, radius, limit, min_av, stale, at)
    stats["queries"] += 1
    if ambiguous(allhits, limit, radius):
        stats["ambiguous"] += 1
        return
    got = [(l["distance_m"], l["id"]) for l in body["lots"]] if status == 200 else None
    same = got is not None and [i for _, i in got] == [i for _, i in want] and all(
        abs(a - b) <= 0.0051 for (a, _), (b, _) in zip(got, want))   # cityd rounds to cm
    if same:
        stats["agree"] += 1
    else:
        stats["disagree"] += 1
        if stats["disagree"] <= 5:
            print("DISAGREE %s\n  cityd %s\n  brute %s" % (url, got, want), file=sys.stderr)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    ap.add_argument("--data", default=os.path.join(root, "..", "shared", "data"))
    ap.add_argument("--bin", default=os.path.join(root, "bin", "cityd"))
    ap.add_argument("--queries-per-hour", type=int, default=40)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    ddir = os.path.join(args.data, "parking", "dresden")
    lots_csv = os.path.join(ddir, "dresden_lots.csv")
    counts_csv = os.path.join(ddir, "dresden_free_spaces_2023-05-08_to_2023-05-14.csv")
    if not os.path.exists(lots_csv) or not os.path.exists(counts_csv):
        print("SKIP dresden replay: %s not found" % ddir)
        return 0
    lots, guessed = load_lots(lots_csv)
    for lid in guessed:
        print("note: %s lists no capacity; using its largest observed free count, %d"
              % (lid, lots[lid]["total"]))
    bbox = (min(l["lon"] for l in lots.values()), min(l["lat"] for l in lots.values()),
            max(l["lon"] for l in lots.values()), max(l["lat"] for l in lots.values()))
    srv = Servers(args.bin)
    rnd = random.Random(args.seed)
    stats = {"queries": 0, "agree": 0, "disagree": 0, "ambiguous": 0}
    ingest = {"accepted": 0, "duplicates": 0, "outdated": 0, "rejected": 0, "clamped": 0,
              "batches": 0}
    try:
        for lid, l in lots.items():
            st, body = http("PUT", "%s/v1/parking/lots/%s" % (srv.base, lid), {
                "name": l["name"], "totalSpotNumber": l["total"],
                "location": {"type": "Point", "coordinates": [l["lon"], l["lat"]]}})
            if st not in (200, 201):
                raise SystemExit("eval: PUT %s -> %d %s" % (lid, st, body))
        t0 = time.time()
        next_check = None
        with open(counts_csv, newline="") as f:
            rows = csv.reader(f)
            header = next(rows)
            for row in rows:
                ts = int(datetime.datetime.fromisoformat(row[0]).timestamp())
                obs = []
                for lid, v in zip(header[1:], row[1:]):
                    if v == "" or lid not in lots:
                        continue
                    n = int(float(v))
                    obs.append({"id": "%s@%d" % (lid, ts), "lot": lid,
                                "availableSpotNumber": n, "ts": ts})
                    ingest["clamped"] += n > lots[lid]["total"]
                if not obs:
                    continue
                st, body = http("POST", srv.base + "/v1/parking/observations",
                                {"observations": obs})
                if st != 200:
                    raise SystemExit("eval: POST observations -> %d %s" % (st, body))
                ingest["batches"] += 1
                for k in ("accepted", "duplicates", "outdated"):
                    ingest[k] += body[k]
                ingest["rejected"] += len(body["rejected"])
                for o in obs:
                    l = lots[o["lot"]]
                    l["available"], l["ts"] = min(o["availableSpotNumber"], l["total"]), ts
                if next_check is None:
                    next_check = ts
                if ts >= next_check:
                    for _ in range(args.queries_per_hour):
                        check(srv, lots, rnd, ts, stats, bbox)
                    next_check = ts + 3600
        elapsed = time.time() - t0
    finally:
        srv.stop()
    print("dresden replay: %d lots, %d batches, %d observations accepted, %d duplicates, "
          "%d outdated, %d rejected, %d clamped (%.1f s)" % (
              len(lots), ingest["batches"], ingest["accepted"], ingest["duplicates"],
              ingest["outdated"], ingest["rejected"], ingest["clamped"], elapsed))
    print("nearest vs brute force: %d queries, %d agree, %d disagree, %d near-ties skipped"
          % (stats["queries"], stats["agree"], stats["disagree"], stats["ambiguous"]))
    return 1 if stats["disagree"] or ingest["rejected"] else 0


if __name__ == "__main__":
    sys.exit(main())
