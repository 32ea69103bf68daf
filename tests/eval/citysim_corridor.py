"""citysim_corridor.py -- a corridor of maps/yantai (--corridor: nandajie, 8
signals, by default; beimalu, 5) under the real Bentonville (AR) peak-hour
turning counts: a plan with all offsets zero (citysim's default), cityd's
green-wave plan (--plan), and cityd in closed loop: fixed (design flows) and
adaptive with four detector feeds (stop-line counts every 15 minutes or every
minute, each without and with residual queues). Prints the rows. Run by
tests/eval/citysim_corridor.sh (which skips when ../shared/data is absent).

Every cityd runs on the replay clock (clock.mode=replay) with its own
redis-server, both on free loopback ports in a temporary directory; each
closed-loop run (timing x seed) gets a fresh pair, so no run sees another's
counts or state. They are stopped by PID when the run ends.

Mapping the 5 Bentonville intersections (INTID 1..5) onto the corridor's
(nandajie: nd-01 .. nd-08) -- all decided from the data and the map, nothing per file:
  * the k-th signal takes Bentonville intersection ((k-1) mod 5) + 1: 1 2 3 4 5 1 2 3.
  * Orientation: nandajie runs east-west. A Bentonville intersection whose
    north-south through volume exceeds its east-west one is rotated a
    quarter turn (NB->EB, EB->SB, SB->WB, WB->NB; turns kept), so its main
    street becomes nandajie.
  * Movements the nandajie intersection has no phase for (its T junctions
    nd-04..nd-06) are dropped; the dropped share is printed.
  * '*' (not detected) stays '*': citysim simulates no demand there and
    says so.
  * Scaling: one factor for all counts, the largest <= 1 such that no
    intersection's critical flow ratio Y (per phase, the busiest approach's
    volume over the phase's saturation flow, summed) exceeds the Y of the
    map's own design flows -- the corridor carries the real pattern at a
    load its geometry was designed for. With these data it is 1 unless
    printed otherwise.
  * Window: the busiest hour (four consecutive 15-min intervals, all five
    intersections summed) of the file.
Each timing is run with seeds 1..N (--seeds); rows give the mean over seeds. Columns:
delay and stops per vehicle (all vehicles), end-to-end through traffic per
direction, throughput (vehicles leaving the network per hour) and when the
last vehicle left (a run continues after the hour until the network is empty,
so queues left by an oversaturated plan count).
"""
import argparse
import csv
import datetime
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

MOVS = "NBL NBT NBR SBL SBT SBR EBL EBT EBR WBL WBT WBR".split()
ROT = {"NB": "EB", "EB": "SB", "SB": "WB", "WB": "NB"}


def read_bentonville(path):
    rows = {}
    with open(path, newline="") as f:
        lines = list(csv.reader(f))
    h = next(i for i, r in enumerate(lines) if "INTID" in r)
    cols = {name: i for i, name in enumerate(lines[h])}
    for r in lines[h + 1:]:
        if len(r) < 15:
            continue
        t = r[cols["TIME"]].strip('="')
        key = (r[cols["DATE"]], t)
        rows.setdefault(key, {})[r[cols["INTID"]]] = {m: r[cols[m]] for m in MOVS}
    return rows


def num(v):
    return 0 if v in ("*", "") else int(v)


def busiest_hour(rows):
    keys = sorted(rows, key=lambda k: (k[0][6:], k[0][:2], k[0][3:5], k[1]))
    best, at = -1, 0
    for i in range(len(keys) - 3):
        w = keys[i:i + 4]
        tot = sum(num(v) for k in w for x in rows[k].values() for v in x.values())
        if tot > best:
            best, at = tot, i
    return keys[at:at + 4], best


def rotate_if_ns(counts_by_interval):
    ns = sum(num(c["NBT"]) + num(c["SBT"]) for c in counts_by_interval)
    ew = sum(num(c["EBT"]) + num(c["WBT"]) for c in counts_by_interval)
    if ns <= ew:
        return counts_by_interval, False
    out = []
    for c in counts_by_interval:
        out.append({ROT[m[:2]] + m[2]: v for m, v in c.items()})
    return out, True


def load_map(path, corridor):
    with open(path) as f:
        d = json.load(f)
    isecs = {}
    cor = None
    for ft in d["features"]:
        p = ft["properties"]
        if p.get("kind") == "intersection":
            isecs[p["id"]] = p
        elif p.get("kind") == "corridor" and p["id"] == corridor:
            cor = p
    return [isecs[i] for i in cor["intersections"]]


def critical_y(isec, hourly):
    """Sum over phases of the busiest approach's volume / saturation."""
    y = 0.0
    for ph in isec["phases"]:
        by_app = {}
        for m in ph["movements"]:
            by_app[m[:2]] = by_app.get(m[:2], 0) + hourly.get(m, 0)
        y += max(by_app.values()) / ph["saturation_flow"]
    return y


def design_y(isec):
    return sum(ph["flow"] / ph["saturation_flow"] for ph in isec["phases"])


# Demand levels (issue 13): factors on the scaled busiest hour, one per
# 15-minute interval; the first interval is the warm-up (not measured).
LEVELS = [
    ("light", [0.5] * 5),
    ("near capacity", [1.0] * 5),
    ("peak that comes and goes", [0.5, 0.5, 0.7, 0.9, 1.1, 1.1, 0.9, 0.7, 0.5]),
]
WARMUP_S = 900


def build_loads(data, mapfile, out, factors=(1.0, 1.0, 1.0, 1.0), corridor="nandajie"):
    """The busiest hour mapped and scaled, then interval k gets the
    counts of the hour's interval (k - 1) mod 4 times factors[k], starting
    one interval before the hour (the warm-up)."""
    rows = read_bentonville(data)
    window, total = busiest_hour(rows)
    nd = load_map(mapfile, corridor)
    per = {}
    rotated = []
    for k, isec in enumerate(nd):
        src = str(k % 5 + 1)
        seq, rot = rotate_if_ns([rows[w][src] for w in window])
        if rot:
            rotated.append(f"{isec['id']}<-{src}")
        per[isec["id"]] = (src, seq)
    # Scale factor from critical flow ratios (served movements only).
    scale = 1.0
    dropped = kept = 0
    for isec in nd:
        served = {m for ph in isec["phases"] for m in ph["movements"]}
        hourly = {m: sum(num(c[m]) for c in per[isec["id"]][1]) for m in MOVS if m in served}
        for c in per[isec["id"]][1]:
            for m in MOVS:
                if m in served:
                    kept += num(c[m])
                else:
                    dropped += num(c[m])
        scale = min(scale, design_y(isec) / critical_y(isec, hourly))
    t0 = datetime.datetime.strptime(f"{window[0][0]} {window[0][1]}", "%m/%d/%Y %H%M") - \
        datetime.timedelta(minutes=15 if len(factors) > 4 else 0)
    with open(out, "w") as f:
        f.write(f"Bentonville AR counts mapped onto {corridor} (citysim_corridor.py),\n")
        f.write("DATE,TIME,INTID," + ",".join(MOVS) + "\n")
        for isec in nd:
            served = {m for ph in isec["phases"] for m in ph["movements"]}
            for k, fac in enumerate(factors):
                c = per[isec["id"]][1][(k - (1 if len(factors) > 4 else 0)) % 4]
                t = t0 + datetime.timedelta(minutes=15 * k)
                vals = []
                for m in MOVS:
                    v = c[m]
                    if m not in served:
                        vals.append("0")
                    elif v in ("*", ""):
                        vals.append("*")
                    else:
                        vals.append(str(round(int(v) * scale * fac)))
                f.write(f'{t:%m/%d/%Y},="{t:%H%M}",{isec["id"]},' + ",".join(vals) + ",\n")
    return {
        "start": f"{t0:%m/%d/%Y %H:%M}",
        "window": f"{window[0][0]} {window[0][1][:2]}:{window[0][1][2:]}",
        "total_veh_h": total,
        "scale": scale,
        "dropped_share": dropped / max(1, dropped + kept),
        "rotated": rotated,
        "mapping": {i: s for i, (s, _) in per.items()},
    }


def free_port():
    with socket.socket() as so:
        so.bind(("127.0.0.1", 0))
        return so.getsockname()[1]


class Stack:
    """A redis-server and a cityd (replay clock, `mode`) for one run."""
    KEY = "eval-admin"

    # The map cityd loads (set by main from --map: the corridor's map).
    MAP = None
    # More `-o key=value` settings for cityd (e.g. signals.local_control).
    CITYD_OPTS = []

    def __init__(self, cityd, mode, corridor="nandajie"):
        self.corridor = corridor
        self.dir = tempfile.mkdtemp(prefix="citysim-eval-stack-")
        with open(os.path.join(self.dir, "keys.conf"), "w") as f:
            f.write(f"{self.KEY} admin eval\n")
        rport, cport = free_port(), free_port()
        self.procs, self.log = [], None
        self.procs.append(subprocess.Popen(
            ["redis-server", "--port", str(rport), "--bind", "127.0.0.1", "--dir", self.dir,
             "--save", "", "--appendonly", "no", "--daemonize", "no",
             "--logfile", os.path.join(self.dir, "redis.log")]))
        self.wait(lambda: subprocess.run(["redis-cli", "-p", str(rport), "ping"],
                                         capture_output=True).returncode == 0, "redis-server")
        self.log = open(os.path.join(self.dir, "cityd.log"), "w")
        self.procs.append(subprocess.Popen(
            [cityd, "-o", f"server.listen=127.0.0.1:{cport}",
             "-o", f"redis.url=redis://127.0.0.1:{rport}",
             "-o", f"auth.keys_file={self.dir}/keys.conf", "-o", f"signals.mode={mode}",
             "-o", "clock.mode=replay", "-o", "log.level=warn"]
            + (["-o", f"map.dir={self.MAP}"] if self.MAP else [])
            + [x for o in self.CITYD_OPTS for x in ("-o", o)], stderr=self.log))
        self.base = f"http://127.0.0.1:{cport}"
        # Ready when the controllers are restored (503 before).
        first = load_map(os.path.join(self.MAP or "maps/yantai", "corridors.geojson"),
                         corridor)[0]["id"]
        self.wait(lambda: self.status(f"/v1/signals/intersections/{first}/timing") == 200,
                  "cityd")

    def wait(self, ready, what):
        for _ in range(300):
            try:
                if ready():
                    return
            except OSError:
                pass
            time.sleep(0.05)
        self.close()
        sys.exit(f"citysim_corridor: {what} did not come up")

    def status(self, path):
        try:
            return urllib.request.urlopen(self.base + path).status
        except urllib.error.HTTPError as e:
            return e.code

    def call(self, method, path, body=None):
        req = urllib.request.Request(self.base + path, method=method,
                                     data=json.dumps(body).encode() if body is not None else None,
                                     headers={"Authorization": f"Bearer {self.KEY}"})
        try:
            return json.load(urllib.request.urlopen(req))
        except urllib.error.HTTPError as e:
            sys.exit(f"cityd: {method} {path}: {e.code} {e.read().decode()}")

    def greenwave_plan(self):
        """A green-wave plan for the corridor (speed range), activated; the
        plan as GET .../plan returns it."""
        base = f"/v1/signals/corridors/{self.corridor}"
        plan = self.call("POST", base + "/greenwave", {"speed_range_mps": [11.1, 13.9]})
        self.call("PUT", base + "/plan", {"plan": plan["id"]})
        return self.call("GET", base + "/plan")

    def close(self):
        for p in reversed(self.procs):
            p.terminate()
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self.procs = []
        if self.log is not None:
            self.log.close()
            self.log = None
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def run(citysim, args):
    p = subprocess.run([citysim, "run"] + args, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"citysim failed ({p.returncode}): {p.stderr}")
    return json.loads(p.stdout)


def mean_rows(results):
    n = len(results)
    keys = ["mean_delay_s", "mean_stops", "throughput_vph", "mean_travel_s", "in_network"]
    row = {k: sum(r[k] for r in results) / n for k in keys}
    # A run whose network did not empty in the extra time (citysim: as long
    # again, at least an hour) has no clearing time: its horizon, marked.
    horizon = [r["duration_s"] + max(r["duration_s"], 3600) for r in results]
    row["cleared_s"] = sum(h if r["cleared_s"] is None else r["cleared_s"]
                           for r, h in zip(results, horizon)) / n
    row["uncleared"] = sum(r["cleared_s"] is None for r in results)
    for d in ("outbound", "inbound", "cross"):
        row[d + "_delay_s"] = sum(r["directions"][d]["mean_delay_s"] for r in results) / n
        row[d + "_stops"] = sum(r["directions"][d]["mean_stops"] for r in results) / n
        row[d + "_veh"] = sum(r["directions"][d]["vehicles"] for r in results) / n
    row["vehicles"] = sum(r["vehicles"] for r in results) / n
    return row


def closed_loop(a, base, mode, seeds, with_plan, extra=()):
    out = []
    for s in seeds:
        with Stack(a.cityd, mode, a.corridor) as st:
            if with_plan:
                st.greenwave_plan()
            out.append(run(a.citysim, base + ["--seed", s, "--server", st.base,
                                              "--key", Stack.KEY] + list(extra)))
    return mean_rows(out)


def level_rows(a, seeds, name, factors, plan_path):
    tmp = tempfile.mkdtemp(prefix="citysim-eval-")
    loads = os.path.join(tmp, "loads.csv")
    info = build_loads(a.data, os.path.join(a.map, "corridors.geojson"), loads, factors,
                       a.corridor)
    dur = 900 * len(factors)
    base = ["--map", a.map, "--corridor", a.corridor, "--loads", loads, "--duration", str(dur),
            "--start", info["start"], "--warmup", str(WARMUP_S), "--lanes", "2"]
    rows = [("fixed Webster, offsets zero", lambda: mean_rows([
                run(a.citysim, base + ["--seed", s]) for s in seeds])),
            ("fixed Webster + green wave", lambda: mean_rows([run(a.citysim, base + [
                "--seed", s, "--plan", plan_path]) for s in seeds])),
            ("cityd fixed closed loop", lambda: closed_loop(a, base, "fixed", seeds, False)),
            ("cityd adaptive, 15-min counts", lambda: closed_loop(
                a, base, "adaptive", seeds, False, ["--no-queues"])),
            ("cityd adaptive, 15-min counts + queues", lambda: closed_loop(
                a, base, "adaptive", seeds, False)),
            ("cityd adaptive, 1-min counts", lambda: closed_loop(
                a, base, "adaptive", seeds, False, ["--no-queues", "--count-interval", "60"])),
            ("cityd adaptive, 1-min counts + queues", lambda: closed_loop(
                a, base, "adaptive", seeds, False, ["--count-interval", "60"])),
            ("cityd adaptive + green-wave plan, 1-min counts + queues", lambda: closed_loop(
                a, base, "adaptive", seeds, True, ["--count-interval", "60"]))]
    # Only the timings asked for (--timings: substrings of their names).
    rows = [(n, r() if callable(r) else r) for n, r in rows
            if not a.timings or any(w in n for w in a.timings.split(","))]
    shutil.rmtree(tmp, ignore_errors=True)
    return info, dur, rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--citysim", required=True)
    ap.add_argument("--cityd", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--map", required=True)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--corridor", default="nandajie")
    ap.add_argument("--levels", default="", help="comma-separated prefixes of demand levels "
                    "(light, near, peak); all by default")
    ap.add_argument("--timings", default="", help="comma-separated substrings of timing names; "
                    "all by default")
    a = ap.parse_args()
    Stack.MAP = os.path.abspath(a.map)
    seeds = [str(s) for s in range(1, a.seeds + 1)]
    tmp = tempfile.mkdtemp(prefix="citysim-eval-")
    plan_path = os.path.join(tmp, "plan.json")
    with Stack(a.cityd, "fixed", a.corridor) as st:
        plan = st.greenwave_plan()
    with open(plan_path, "w") as f:
        json.dump(plan, f)
    print(f"green-wave plan: {plan['cycle_s']:.0f} s, bands {plan['outbound_band_s']:.1f} / "
          f"{plan['inbound_band_s']:.1f} s at {plan['speed_mps']:.1f} m/s, offsets "
          + "/".join(f"{x['offset_s']:.0f}" for x in plan["intersections"]))
    print("| demand | timing | delay s/veh | stops/veh | outbound delay / stops | inbound "
          "delay / stops | cross delay / stops | veh/h | cleared s |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, factors in LEVELS:
        if a.levels and not any(name.startswith(w) for w in a.levels.split(",")):
            continue
        info, dur, rows = level_rows(a, seeds, name, factors, plan_path)
        print(f"<!-- {name}: loads from {info['start']}, {dur} s (warm-up {WARMUP_S} s), "
              f"factors {factors} on the busiest hour {info['window']} x {info['scale']:.3f}, "
              f"mapping {info['mapping']}, rotated {info['rotated'] or 'none'}, dropped at T "
              f"junctions {100 * info['dropped_share']:.1f} % -->")
        for tname, r in rows:
            print(f"| {name} | {tname} | {r['mean_delay_s']:.1f} | {r['mean_stops']:.2f} | "
                  f"{r['outbound_delay_s']:.1f} / {r['outbound_stops']:.2f} | "
                  f"{r['inbound_delay_s']:.1f} / {r['inbound_stops']:.2f} | "
                  f"{r['cross_delay_s']:.1f} / {r['cross_stops']:.2f} | "
                  f"{r['throughput_vph']:.0f} | {r['cleared_s']:.0f}"
                  + (f" ({r['uncleared']} of {len(seeds)} not cleared)" if r["uncleared"] else "")
                  + " |")
        sys.stdout.flush()
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
