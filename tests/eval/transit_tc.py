#!/usr/bin/env python3
"""transit_tc.py -- cityd's arrival predictions on the raw WMATA traces of
TransitClock's test data (../shared/data/transit/wmata_transitclock),
against their truth files, and on S2 against TransitClock's own
predictions on the same (report time, stop) pairs.

Driven by tests/eval/transit_tc.sh, which starts redis-server and one cityd
per trace (clock.mode = replay, transit.gtfs_dir = that trace's GTFS). For
one trace this script:

1. replays the AVL reports (vehicleId, time, heading, latitude, longitude;
   `time` is local time of the agency) one FeedMessage each, as
   GTFS-realtime JSON: with the truth trip's id (--strip none), with only
   the route (--strip trip), or with nothing but the vehicle id (--strip
   all);
2. after each report asks GET /v1/transit/stops/{id}/arrivals?at=<report
   time> for every stop of the truth trip whose observed arrival is still
   ahead, within 15 minutes, and keeps cityd's predicted_arrival for the
   truth trip's row;
3. for S2, also at each report time of TransitClock's predictions
   (avlTime) for the truth trip, TransitClock's predictionTime (its arrival
   prediction where it made one, else its departure prediction);
4. scores error = observed arrival - prediction by horizon (observed
   arrival - report time) in TransitClock's buckets (0-2, 2-5, 5-10, 10-15
   min) and the ETA benchmark's (0-3, 3-6, 6-10, 10-15 min, windows
   -30/+90 ... -90/+270 s).

Nothing here was used to tune cityd: these traces are held out (other
days, 2016 GTFS, routes S2, 3T, 5A; cityd was tuned on the WMATA day).
"""
import argparse
import csv
import datetime
import json
import os
import sys
import urllib.parse
import zoneinfo

sys.path.insert(0, os.path.dirname(__file__))
from transit_wmata import Client, read_csv  # noqa: E402

TC_BUCKETS = [(0, 120), (120, 300), (300, 600), (600, 900)]
ETA_BUCKETS = [(0, 180), (180, 360), (360, 600), (600, 900)]
WINDOWS = [(-30, 90), (-60, 150), (-60, 210), (-90, 270)]


def parse_local(s, tz):
    return datetime.datetime.strptime(s[:19], "%Y-%m-%d %H:%M:%S").replace(tzinfo=tz).timestamp()


def stats(errs, buckets):
    out = []
    for lo, hi in buckets:
        e = [err for h, err in errs if lo <= h < hi]
        n = len(e)
        mae = sum(abs(v) for v in e) / n if n else float("nan")
        bias = sum(e) / n if n else float("nan")
        out.append((n, mae, bias, e))
    return out


def eta_score(errs):
    shares = []
    for (n, _, _, e), (lo, hi) in zip(stats(errs, ETA_BUCKETS), WINDOWS):
        shares.append(sum(lo <= v <= hi for v in e) / n if n else 0.0)
    return shares, sum(shares) / 4


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--base", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--trace", required=True, help="e.g. S2_2113")
    ap.add_argument("--strip", choices=["none", "trip", "all"], default="none")
    a = ap.parse_args()
    route = a.trace.split("_")[0]
    gtfs = os.path.join(a.data, "gtfs_" + route)
    tz = zoneinfo.ZoneInfo(next(read_csv(os.path.join(gtfs, "agency.txt")))["agency_timezone"])
    truth_file = next(f for f in sorted(os.listdir(a.data))
                      if f.startswith("truth_" + a.trace + "_"))
    trip_id = truth_file.rsplit("_", 1)[1].split(".")[0]
    truth = {}
    for r in read_csv(os.path.join(a.data, truth_file)):
        if r["observed_arrival"]:
            truth[r["stop_id"]] = (int(r["stop_sequence"]), parse_local(r["observed_arrival"], tz))
    avl_file = next(f for f in sorted(os.listdir(os.path.join(a.data, "avl")))
                    if f.startswith(a.trace))
    avl = sorted(({"veh": r["vehicleId"], "ts": parse_local(r["time"], tz),
                   "heading": r.get("heading"), "lat": float(r["latitude"]),
                   "lon": float(r["longitude"])}
                  for r in read_csv(os.path.join(a.data, "avl", avl_file))),
                 key=lambda x: x["ts"])
    # TransitClock's predictions for the truth trip, one per (avlTime, stop).
    tc = {}
    pred_file = os.path.join(a.data, "pred", a.trace + "_transitclock_predictions.csv")
    if os.path.exists(pred_file):
        for r in read_csv(pred_file):
            if r["tripId"] != trip_id or r["stopId"] not in truth:
                continue
            key = (parse_local(r["avlTime"], tz), r["stopId"])
            is_arr = r["isArrival"].startswith("1")
            if key not in tc or is_arr:
                tc[key] = parse_local(r["predictionTime"], tz)
    ask_times = sorted(set(x["ts"] for x in avl) | set(k[0] for k in tc))

    cli = Client(a.base, a.key)
    cityd, last_ts = {}, None                # (time, stop) -> predicted_arrival
    i = 0
    for m in ask_times:
        while i < len(avl) and avl[i]["ts"] <= m:
            x = avl[i]
            i += 1
            if last_ts is not None and x["ts"] <= last_ts:
                continue                      # repeated timestamps: outdated
            last_ts = x["ts"]
            v = {"vehicle": {"id": x["veh"]}, "timestamp": int(x["ts"]),
                 "position": {"latitude": x["lat"], "longitude": x["lon"]}}
            if a.strip == "none":
                v["trip"] = {"trip_id": trip_id, "route_id": route}
            elif a.strip == "trip":
                v["trip"] = {"route_id": route}
            if x["heading"] not in (None, "", "-1") and a.strip != "all":
                v["position"]["bearing"] = float(x["heading"]) % 360
            msg = {"header": {"gtfs_realtime_version": "2.0", "timestamp": int(x["ts"])},
                   "entity": [{"id": x["veh"], "vehicle": v}]}
            st, body = cli.call("POST", "/v1/transit/vehicle-positions", json.dumps(msg))
            if st != 200 or body["rejected"]:
                sys.exit(f"ingest: HTTP {st}: {body}")
        if i == 0:
            continue                          # nothing seen yet
        for sid, (seq, obs) in truth.items():
            if not (0 <= obs - m < 900):
                continue
            st, body = cli.call("GET", f"/v1/transit/stops/{urllib.parse.quote(sid)}/arrivals"
                                       f"?at={int(m)}&minutes_after=30")
            if st != 200:
                sys.exit(f"arrivals {sid}: HTTP {st}: {body}")
            for row in body["arrivals"]:
                if row["trip_id"] == trip_id and row["stop_sequence"] == seq and row["predicted"]:
                    cityd[(m, sid)] = row["predicted_arrival"]

    def errs_of(pred, keys):
        return [(truth[s][1] - t, truth[s][1] - pred[(t, s)]) for t, s in keys if (t, s) in pred]

    avl_times = set(x["ts"] for x in avl)
    asked = [(t, s) for t in sorted(avl_times) for s in truth if 0 <= truth[s][1] - t < 900]
    mode = {"none": "trip ids", "trip": "route only", "all": "vehicle id only"}[a.strip]
    print(f"{a.trace} (trip {trip_id}, {mode}): {len(avl)} reports, "
          f"{sum(1 for k in asked if k in cityd)}/{len(asked)} (report, stop) pairs predicted")
    head = " ".join(f"{f'{lo // 60}-{hi // 60} min':>20}" for lo, hi in TC_BUCKETS)
    print(f"  {'':<18}{head}   ETA score")
    print(f"  {'':<18}" + " ".join(f"{'n  MAE s  bias s':>20}" for _ in TC_BUCKETS))
    rows = [("cityd", errs_of(cityd, asked))]
    if tc:
        # Pairs both made, at the TransitClock report times cityd saw too.
        both = [k for k in tc if k in cityd and 0 <= truth[k[1]][1] - k[0] < 900 and
                k[0] >= avl[0]["ts"]]
        rows = [("cityd", errs_of(cityd, asked)),
                ("cityd, TC pairs", errs_of(cityd, both)),
                ("TransitClock", errs_of(tc, both))]
    for name, errs in rows:
        cells = " ".join(f"{f'{n} {mae:.1f} {bias:+.1f}':>20}" for n, mae, bias, _ in
                         stats(errs, TC_BUCKETS))
        print(f"  {name:<18}{cells}   {eta_score(errs)[1]:.3f}")


if __name__ == "__main__":
    main()
