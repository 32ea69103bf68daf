#!/usr/bin/env python3
"""An adaptive day on the demo corridor: a 24-hour load profile posted to
nandajie (8 signals) in replay mode, and the cycles and splits cityd runs.

    tests/eval/adaptive_day.py [--bin bin/cityd] [--map maps/yantai]
                               [--seed 1] [--interval 900] [--every 3600]

Starts a private redis-server and bin/cityd (clock.mode=replay, signals.mode
=adaptive), then for each 15-minute interval of one weekday posts UTDF
counts for every intersection of nandajie (POST /v1/signals/intersections/
{id}/counts): the map's design flow of each phase times the hour's share of
the peak (a typical urban weekday profile, morning peak inbound-heavy,
evening peak outbound-heavy), split over the phase's movements, with
Poisson noise from a fixed seed. At 08:15 the eastbound through detector of
nd-03 drops out (reports 0) for one interval, which the controller holds.

After each hour (--every) it reads GET .../timing of every signal at that
instant and prints one row of a Markdown table: the load, the corridor's
common and target cycle, the signal that sets it, each listed signal's
greens (phase order of the map) and the offsets of the last ones. Output
is deterministic for a given seed.

Exit 1 if any request fails or a timing breaks its bounds (cycle steps of
more than 6 s, a green below its minimum, members off the common cycle)."""
import argparse
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

KEY = "eval-adaptive-key"
T0 = 1764547200          # Mon 1 Dec 2025 00:00 Asia/Shanghai = 2025-11-30T16:00Z
CORRIDOR = "nandajie"
SHOW = ["nd-02", "nd-03", "nd-05"]

# Share of the peak hour's flow in each hour of a weekday (urban arterial,
# two peaks). Morning traffic heads into town (inbound, westbound on
# nandajie), evening traffic out.
PROFILE = [0.10, 0.06, 0.05, 0.05, 0.08, 0.18, 0.45, 0.90, 1.00, 0.80, 0.70, 0.72,
           0.75, 0.72, 0.70, 0.75, 0.85, 1.00, 0.95, 0.70, 0.55, 0.45, 0.32, 0.20]


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_for(fn, what, timeout=15):
    end = time.time() + timeout
    while time.time() < end:
        try:
            if fn():
                return
        except OSError:
            pass
        time.sleep(0.05)
    sys.exit("adaptive_day: %s did not come up" % what)


def request(base, method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base + path, data=data, method=method)
    req.add_header("Authorization", "Bearer " + KEY)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def start(args, tmp):
    rport, hport = free_port(), free_port()
    redis = subprocess.Popen(["redis-server", "--port", str(rport), "--dir", tmp, "--save", "",
                              "--appendonly", "no"], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    def ping():
        s = socket.create_connection(("127.0.0.1", rport), timeout=0.5)
        s.sendall(b"PING\r\n")
        ok = s.recv(16).startswith(b"+PONG")
        s.close()
        return ok
    wait_for(ping, "redis-server")
    keys = os.path.join(tmp, "keys.conf")
    with open(keys, "w") as f:
        f.write("%s admin eval\n" % KEY)
    log = open(os.path.join(tmp, "cityd.log"), "w")
    cityd = subprocess.Popen([args.bin, "-o", "server.listen=127.0.0.1:%d" % hport,
                              "-o", "redis.url=redis://127.0.0.1:%d" % rport,
                              "-o", "auth.keys_file=" + keys, "-o", "map.dir=" + args.map,
                              "-o", "clock.mode=replay", "-o", "signals.mode=adaptive",
                              "-o", "log.level=warn"], stdout=log, stderr=log)
    base = "http://127.0.0.1:%d" % hport
    wait_for(lambda: request(base, "GET", "/v1/signals/intersections/nd-01/timing")[0] == 200,
             "cityd")
    return redis, cityd, base


def load_map(path):
    with open(os.path.join(path, "corridors.geojson")) as f:
        feats = json.load(f)["features"]
    isecs = {p["id"]: p for p in (ft["properties"] for ft in feats)
             if p.get("kind") == "intersection"}
    cor = next(ft["properties"] for ft in feats
               if ft["properties"].get("kind") == "corridor" and ft["properties"]["id"] == CORRIDOR)
    return [isecs[i] for i in cor["intersections"]]


def poisson(rng, lam):
    """Knuth for small means, normal approximation above (deterministic)."""
    if lam <= 0:
        return 0
    if lam > 60:
        return max(0, int(round(rng.gauss(lam, math.sqrt(lam)))))
    limit, k, p = math.exp(-lam), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def counts_for(isec, share, hour, minutes, rng):
    """Counts of one interval: each phase's design flow x share, the heavier
    approach getting the critical flow, T/L/R split within an approach."""
    out = {}
    # Directional split of the corridor's through traffic by time of day.
    wb_heavy = 6 <= hour < 12
    for ph in isec["phases"]:
        flow = ph.get("flow", 0) * share
        by_app = {}
        for mv in ph["movements"]:
            by_app.setdefault(mv[:2], []).append(mv)
        for n, (app, mvs) in enumerate(sorted(by_app.items())):
            lead = (app == "WB") if wb_heavy else (app == "EB")
            if app in ("EB", "WB"):
                f = flow if lead else 0.8 * flow
            else:
                f = flow if n == 0 else 0.85 * flow
            turns = {m[2] for m in mvs}
            shares = {"T": 0.8, "L": 0.1, "R": 0.1} if "T" in turns else \
                     {m[2]: 1.0 / len(mvs) for m in mvs}
            if "T" in turns and len(turns) < 3:
                rest = [t for t in ("L", "R") if t in turns]
                shares = {"T": 1.0 - 0.1 * len(rest)}
                shares.update({t: 0.1 for t in rest})
            for m in mvs:
                out[m] = poisson(rng, f * shares[m[2]] * minutes / 60.0)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", default="bin/cityd")
    ap.add_argument("--map", default="maps/yantai")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--interval", type=int, default=900)
    ap.add_argument("--every", type=int, default=3600)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    isecs = load_map(args.map)
    tmp = tempfile.mkdtemp(prefix="adaptive_day_")
    redis = cityd = None
    bad = 0
    try:
        redis, cityd, base = start(args, tmp)
        names = " | ".join("%s greens (s)" % s for s in SHOW)
        print("| time | load | cycle (s) | target (s) | set by | %s | offsets nd-02..nd-08 (s) |"
              % names)
        print("|---|---|---|---|---|%s|---|" % "|".join("---" for _ in SHOW))
        prev_cycle = None
        for t in range(T0, T0 + 86400, args.interval):
            sec = t - T0
            hour = sec // 3600
            share = PROFILE[hour]
            for x in isecs:
                c = counts_for(x, share, hour, args.interval / 60.0, rng)
                if x["id"] == "nd-03" and sec == 8 * 3600 + 900:
                    c["EBT"] = 0            # detector dropout
                st, r = request(base, "POST", "/v1/signals/intersections/%s/counts" % x["id"],
                                {"id": "day-%s-%d" % (x["id"], t), "ts": t,
                                 "interval_s": args.interval, "counts": c})
                if st != 201:
                    print("POST %s: %d %s" % (x["id"], st, r), file=sys.stderr)
                    bad += 1
                elif r.get("held"):
                    print("note: %s %02d:%02d held %s" % (x["id"], hour, sec % 3600 // 60,
                                                          ",".join(r["held"])), file=sys.stderr)
            end = t + args.interval
            if (end - T0) % args.every:
                continue
            rows = {}
            for x in isecs:
                st, r = request(base, "GET", "/v1/signals/intersections/%s/timing?at=%d"
                                % (x["id"], end))
                if st != 200:
                    bad += 1
                    continue
                rows[x["id"]] = r
                if r["mode"] == "adaptive" and r["method"] == "webster":
                    for p in r["phases"]:
                        if p["green_s"] < p["min_green_s"] - 1e-6:
                            print("%s: green below minimum" % x["id"], file=sys.stderr)
                            bad += 1
            cycles = {round(r["common_cycle_s"], 6) for r in rows.values()}
            if len(cycles) != 1:
                print("members off the common cycle: %s" % cycles, file=sys.stderr)
                bad += 1
            ref = rows[SHOW[0]]
            cyc = ref["common_cycle_s"]
            if prev_cycle is not None and abs(cyc - prev_cycle) > 6 * (args.every / 60.0):
                bad += 1
            prev_cycle = cyc
            crit = ref["cycle_set_by"] or "-"
            greens = " | ".join("/".join("%.0f" % p["green_s"] for p in rows[s]["phases"])
                                for s in SHOW)
            offs = "/".join("%.0f" % (rows[x["id"]]["corridor_offset_s"] or 0) for x in isecs[1:])
            hh = (end - T0) // 3600
            print("| %02d:00 | %3.0f %% | %.0f | %.0f | %s | %s | %s |" % (
                hh % 24 if hh < 24 else 24, 100 * PROFILE[(hh - 1) % 24], cyc,
                ref["target_cycle_s"], crit, greens, offs))
            sys.stdout.flush()
    finally:
        for p in (cityd, redis):
            if p is not None:
                p.terminate()
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    p.kill()
        shutil.rmtree(tmp, ignore_errors=True)
    if bad:
        print("adaptive_day: %d problem(s)" % bad, file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
